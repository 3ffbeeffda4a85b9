# The two commands of the README. Each sets itself up (system packages, .venv, project) first.
.PHONY: demo test bench lint setup

setup:
	@bash scripts/bootstrap.sh

demo:
	@bash scripts/bootstrap.sh
	.venv/bin/emgis demo

test:
	@bash scripts/bootstrap.sh --browser
	.venv/bin/python -m pytest

bench:
	@bash scripts/bootstrap.sh --bench
	.venv/bin/python -m bench.run_all

lint:
	@bash scripts/bootstrap.sh
	.venv/bin/ruff check .
