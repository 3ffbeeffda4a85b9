"""Find the header of a census table: title rows, one- or two-row (merged) headers, column names.

Statistics offices head their tables in Chinese or English, with a title line or two above
the header and often a second header row under merged cells (常住人口 over 合计 / 0-14岁 /
15-64岁 / 65岁及以上). :func:`find_header` looks at the first :data:`HEADER_SCAN` rows and
maps each column to a field of the census frame, saying in the notes which label became
which field and which columns were not used.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from emgis.layers.load import codes as C
from emgis.layers.problems import Problems

_ALIASES = {
    "code": ("区划代码", "统计用区划代码", "代码", "code", "行政区划代码", "统计代码", "区划编码",
             "编码", "村代码", "村级代码", "村(社区)代码", "adcode", "division_code", "admin_code",
             "unit_code"),
    "name": ("名称", "name", "村名", "村名称", "村(社区)名称", "单位名称", "区划名称", "地区",
             "地区名称", "行政区划名称", "村(居)委会", "村(社区)", "村居名称", "村(居)名称"),
    "population": ("常住人口", "人口", "总人口", "population", "常住人口数", "人口数", "总人口数",
                   "人口总数", "常住人口总数", "pop", "population_total", "total_population",
                   "人数"),
    "households": ("户数", "households", "总户数", "家庭户数", "户", "household", "常住户数"),
    "urban_rural_class": ("城乡分类代码", "城乡分类", "城乡属性代码", "urban_rural",
                          "urban_rural_class", "urban_rural_code", "城乡代码"),
}
_AGE_PATTERNS = {
    "age_0_14": re.compile(r"(age_?)?0-14(岁)?(人口|人数)?"),
    "age_15_64": re.compile(r"(age_?)?15-64(岁)?(人口|人数)?"),
    "age_65_plus": re.compile(r"(age_?)?65(岁)?(及以上|以上|\+|_?plus|及以上)(人口|人数)?"),
}
_SUB_TOTAL_LABELS = {"合计", "小计", "总计", "计", "总数", "total", "总"}
HEADER_SCAN = 30


def _norm(label: object) -> str:
    t = unicodedata.normalize("NFKC", str(label)).lower()
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"[~—–至－]", "-", t)
    t = re.sub(r"\((人|户|个|人数|户数|岁|人口)\)$", "", t)
    return t


_ALIAS_INDEX = {_norm(a): f for f, aliases in _ALIASES.items() for a in aliases}


def _field_of(label: str) -> str | None:
    t = _norm(label)
    if not t:
        return None
    if t in _ALIAS_INDEX:
        return _ALIAS_INDEX[t]
    for f, pat in _AGE_PATTERNS.items():
        if pat.fullmatch(t):
            return f
    if re.fullmatch(r"(常住|总)?人口(数)?\(万人?\)", t):
        return "population_10k"
    return None


def find_header(head: list[list[str]], lines: list[int], p: Problems, notes: list[str]):
    """Find the header row(s); return (last header index, {field: column}, labels, titles)."""
    start = None
    for r, rec in enumerate(head):
        mapped = {_field_of(c) for c in rec}
        named = {"population", "name", "population_10k"} & mapped
        if "code" in mapped and (named or len(mapped - {None}) > 1):
            start = r
            break
        if "code" in mapped and start is None:
            start = r
    if start is None:
        shown = " | ".join(c for c in (head[0] if head else []) if c.strip())[:120]
        p.error(1, None, shown,
                f"no header row with a code column was found in the first {HEADER_SCAN} rows",
                "put a header row naming the columns, e.g. 区划代码,名称,常住人口,户数 "
                "(or code,name,population)")
        return None
    top, sub = head[start], None
    nxt = head[start + 1] if start + 1 < len(head) else None
    code_idx = next(i for i, c in enumerate(top) if _field_of(c) == "code")
    if nxt is not None and _is_sub_header(nxt, code_idx):
        sub, last = nxt, start + 1
    elif (start > 0 and any(_norm(c) in _SUB_TOTAL_LABELS for c in top)
          and any(c.strip() for c in head[start - 1])):
        top, sub, last = head[start - 1], top, start
        start -= 1
    else:
        last = start
    labels_by_col = _combine_header(top, sub)
    fields: dict[str, int] = {}
    labels: dict[str, str] = {}
    ignored = []
    header_line = lines[start]
    for i, (label, f) in enumerate(labels_by_col):
        if f is None:
            if label:
                ignored.append(label)
            continue
        if f == "population_10k":
            p.error(header_line, label, label, "gives population in 万人 (tens of thousands)",
                    "give whole persons (e.g. 673776, not 67.3776) under a header such as 常住人口")
            continue
        if f in fields:
            p.error(header_line, label, label,
                    f"looks like the {f} column too (also '{labels[f]}' in column "
                    f"{_col_letter(fields[f])})",
                    f"keep one {f} column: rename or delete column {_col_letter(i)}")
            continue
        fields[f] = i
        labels[f] = label
    if "population" not in fields:
        if not any(e.message.startswith("gives population") for e in p.errors):
            p.error(header_line, None, " | ".join(lb for lb, _ in labels_by_col if lb),
                    "has no population column",
                    "name the population column 常住人口 (or 人口, 总人口, population)")
        return None
    titles = [(lines[r], " ".join(c.strip() for c in head[r] if c.strip()))
              for r in range(start) if any(c.strip() for c in head[r])]
    where = f"row {header_line}" if last == start else f"rows {header_line}–{lines[last]}"
    notes.append(f"header on {where}: " + ", ".join(f"{labels[f]} → {f}" for f in fields))
    if ignored:
        notes.append("columns not used: " + ", ".join(ignored))
    for line, text in titles:
        notes.append(f"row {line} is a title ('{text}'), not data; skipped")
    return last, fields, labels, titles


def _is_sub_header(rec: list[str], code_idx: int) -> bool:
    """A second header row: labels such as 合计 / 0-14岁 and no code in the code column."""
    cell = rec[code_idx].strip() if code_idx < len(rec) else ""
    if cell and C.parse_codes(np.array([cell], dtype=object)).ok[0]:
        return False
    norm = [_norm(c) for c in rec]
    if any(re.fullmatch(r"[+-]?[\d,]+(\.\d+)?", t) for t in norm if t):
        return False  # figures: a data or total row (合计 at the top of the table), not labels
    return any(t in _SUB_TOTAL_LABELS or _field_of(t) is not None for t in norm if t)


def _combine_header(top: list[str], sub: list[str] | None) -> list[tuple[str, str | None]]:
    """Label and field of each column; a blank top cell under a merged label inherits it."""
    if sub is None:
        return [(c.strip(), _field_of(c)) for c in top]
    width = max(len(top), len(sub))
    top = top + [""] * (width - len(top))
    sub = sub + [""] * (width - len(sub))
    out, carried = [], ""
    for t, s in zip(top, sub, strict=True):
        t, s = t.strip(), s.strip()
        if t:
            carried = t
        parent = t or (carried if s else "")
        fs = _field_of(s) if s else None
        if fs is not None:
            out.append((f"{parent}/{s}" if parent and parent != s else s, fs))
        elif not s or _norm(s) in _SUB_TOTAL_LABELS:
            label = f"{parent}/{s}" if s else parent
            out.append((label, _field_of(parent) if parent else None))
        else:
            out.append((f"{parent}/{s}" if parent else s, None))
    return out


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s
