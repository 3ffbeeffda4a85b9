#!/usr/bin/env bash
# The gates that keep the code's shape (run by `make test`, so by CI):
#   ruff (style, line length 100), import-linter (the tiers in .importlinter, no cycles),
#   mypy (geo/ and the siting package, typed).
# The packages install as emgis.geo, emgis.layers ... (pyproject's package-dir); mypy cannot
# follow setuptools' editable import hook, so it reads them through a link tree in .typecheck/.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin
"$py/ruff" check .
"$py/lint-imports" --no-cache
rm -rf .typecheck && mkdir -p .typecheck/emgis
for d in api geo layers risk shelters maps; do ln -s "../../$d" ".typecheck/emgis/$d"; done
MYPYPATH=.typecheck "$py/mypy" -p emgis.geo -p emgis.shelters.siting
