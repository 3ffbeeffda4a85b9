"""`emgis --version` says which emgis is installed (#18, CLI polish)."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from emgis.api.cli import app


def test_version():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.output.strip() == f"emgis {version('emgis')}"
