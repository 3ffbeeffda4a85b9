#!/usr/bin/env bash
# Refresh requirements.lock: resolve the newest versions pyproject.toml allows into a scratch
# venv, run the whole test suite (CI=true, nothing skipped) with them, and only if it passes
# write their exact versions to requirements.lock. Commit the lock with the test summary.
#   bash scripts/lock.sh            (about 10 minutes: the full suite)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --browser --bench   # system packages and vendored plugins
venv=.venv-lock
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[test,bench]"
echo "emgis lock: running the test suite with the newly resolved versions"
CI=true "$venv/bin/python" -m pytest -q
"$venv/bin/python" -m pip freeze --all --exclude-editable | grep -v '^emgis' > requirements.lock.new
{
  echo "# Exact versions the whole test suite passed with ($(date -u +%F), Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'))."
  echo "# scripts/bootstrap.sh installs these and nothing else; refresh with: bash scripts/lock.sh"
  cat requirements.lock.new
} > requirements.lock
rm -f requirements.lock.new
rm -rf "$venv"
echo "emgis lock: requirements.lock written; reinstall with: bash scripts/bootstrap.sh"
