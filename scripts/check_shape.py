"""The shape rules ruff and import-linter do not check, run by scripts/lint.sh:

* no module over `MAX_LINES` lines of code (blank lines, comments and docstrings not counted),
  except those in `LARGE`, each with the reason it stays whole;
* no function with more than `MAX_PARAMS` parameters, except command-line commands (a typer
  command's signature is its list of options) and FastAPI routes (their parameters are the
  query string).

Exit status 1 with a list of offenders.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "geo", "layers", "risk", "shelters", "maps")
MAX_LINES = 600
MAX_PARAMS = 8
#: modules allowed over MAX_LINES, with the reason
LARGE: dict[str, str] = {}
#: decorators that make a function an edge whose parameters are its interface
EDGE_DECORATORS = ("command", "get", "post", "put", "patch", "delete", "callback")


def code_lines(path: Path) -> int:
    """Lines holding code: not blank, not only a comment, not inside a docstring."""
    text = path.read_text(encoding="utf-8")
    doc_lines: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            doc_lines.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                            tokenize.DEDENT, tokenize.ENDMARKER):
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - doc_lines)


def _is_edge(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for d in fn.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        if isinstance(target, ast.Attribute) and target.attr in EDGE_DECORATORS:
            return True
    return False


def wide_functions(path: Path) -> list[tuple[str, int, int]]:
    """(name, line, parameter count) of functions with more than MAX_PARAMS parameters."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _is_edge(node):
            a = node.args
            names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
            n = len([x for x in names if x not in ("self", "cls")])
            if n > MAX_PARAMS:
                out.append((node.name, node.lineno, n))
    return out


def main() -> int:
    problems = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/versions/" in rel:
                continue
            n = code_lines(path)
            if n > MAX_LINES and rel not in LARGE:
                problems.append(f"{rel}: {n} lines of code (> {MAX_LINES}); split it by idea")
            for name, line, k in wide_functions(path):
                problems.append(f"{rel}:{line}: {name}() takes {k} parameters (> {MAX_PARAMS}); "
                                "group them in a small dataclass")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
