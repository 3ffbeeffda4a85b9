#!/usr/bin/env bash
# The gates that keep the code's shape; `make test` (so CI) runs them before the tests:
#   ruff          style, imports, line length 100 (pyproject.toml)
#   lint-imports  the tiers and the edges' rules (.importlinter), no import cycles
#   mypy          geo/ and the siting package, typed
#   check_shape   no module over 600 lines of code, no function over 8 parameters
# The packages install as emgis.geo, emgis.layers ... (pyproject's package-dir); mypy cannot
# follow setuptools' editable import hook, so it reads them through a link tree in .typecheck/.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin
echo "lint: ruff"
"$py/ruff" check .
echo "lint: import contracts"
"$py/lint-imports" --no-cache
rm -rf .typecheck && mkdir -p .typecheck/emgis
for d in api geo layers risk shelters maps; do ln -s "../../$d" ".typecheck/emgis/$d"; done
echo "lint: mypy"
MYPYPATH=.typecheck "$py/mypy" -p emgis.geo -p emgis.shelters.siting
echo "lint: module size and parameters"
"$py/python" scripts/check_shape.py
