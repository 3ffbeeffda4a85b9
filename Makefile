# The two commands of the README. Each sets itself up (system packages, .venv, project) first.
.PHONY: demo test bench lint setup lock

setup:
	@bash scripts/bootstrap.sh

demo:
	@bash scripts/bootstrap.sh
	.venv/bin/emgis demo

test:
	@bash scripts/bootstrap.sh --browser
	@bash scripts/lint.sh
	.venv/bin/python -m pytest

bench:
	@bash scripts/bootstrap.sh --bench
	.venv/bin/python -m bench.run_all

lint:
	@bash scripts/bootstrap.sh
	@bash scripts/lint.sh

# Resolve the newest allowed versions, run the whole suite with them, and only then rewrite
# requirements.lock (what bootstrap installs).
lock:
	@bash scripts/lock.sh
