"""emgis installs under one name: every package of the six folders is `emgis.<folder>...` in
pyproject.toml (a missing one would be left out of a wheel), and nothing imports the bare
folder names (ruff's TID251 refuses them too)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("api", "geo", "layers", "risk", "shelters", "maps")


def test_every_package_is_listed_under_emgis():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {"emgis." + ".".join(init.parent.relative_to(ROOT).parts)
             for d in FOLDERS for init in (ROOT / d).rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set()
    assert cfg["package-dir"] == {f"emgis.{d}": d for d in FOLDERS}


def test_the_package_imports_as_emgis():
    import emgis.geo.crs
    import emgis.layers.norms

    assert Path(emgis.geo.crs.__file__).resolve().parent == ROOT / "geo"
    assert emgis.layers.norms.default_norms().number("fire.response_min") > 0


def test_the_http_process_loads_no_command_line():
    """The server built by `create_app` (and every route module) imports no CLI module, typer or
    rich: `lint-imports` checks the code; this checks what a real process has loaded."""
    import subprocess
    import sys

    code = (
        "import sys, sqlalchemy as sa\n"
        "from emgis.api.http.app import create_app\n"
        "from emgis.layers.settings import ApiSettings\n"
        "app = create_app(ApiSettings(), "
        "engine=sa.create_engine('postgresql+psycopg2://x@127.0.0.1:1/x'))\nassert app.routes\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich')\n"
        "             or m.startswith('emgis.api.cli'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT.parent)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_every_base_module_of_layers_is_in_a_tier():
    """The tiers contract lists the base modules of layers/ one by one (layers/ also holds the
    load and demo tiers); a new module there must be placed, or import-linter would not see it."""
    text = (ROOT / ".importlinter").read_text(encoding="utf-8")
    base = {p.stem for p in (ROOT / "layers").glob("*.py") if p.stem != "__init__"}
    base |= {p.name for p in (ROOT / "layers").iterdir()
             if p.is_dir() and (p / "__init__.py").exists() and p.name not in ("load", "demo")}
    missing = {m for m in base if f"emgis.layers.{m}" not in text}
    assert not missing, f"add emgis.layers.{missing} to a tier in .importlinter"


def test_runtime_needs_no_osmnx_or_networkx():
    """osmnx and networkx are the reference the tests and benchmarks compare with, not runtime
    dependencies (pyproject's `test` extra): every emgis module imports, the CLI and the HTTP app
    start, with both made unimportable."""
    import subprocess
    import sys

    code = (
        "import sys, importlib, pkgutil\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('osmnx', 'networkx'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import emgis\n"
        "names = []\n"
        "for d in ('api', 'geo', 'layers', 'risk', 'shelters', 'maps'):\n"
        "    pkg = importlib.import_module('emgis.' + d)\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, 'emgis.' + d + '.'):\n"
        "        if '.migrations' in m.name:\n"
        "            continue\n"
        "        importlib.import_module(m.name); names.append(m.name)\n"
        "from emgis.api.cli import app\n"
        "from typer.testing import CliRunner\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "print(len(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    assert int(out.stdout.strip()) > 100
