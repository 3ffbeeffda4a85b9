"""`emgis export`: every layer `emgis load` takes can be written back, and the help says which
format each takes (census, codes and roads were listed, then refused with 'nothing was loaded';
.xlsx was refused for every layer)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from emgis.api.cli import app

pytestmark = pytest.mark.postgis


@pytest.fixture
def demo_env(demo_db, tmp_path):
    """The shared demo database (exports only read it) and a folder for the files."""
    demo_db.home.mkdir(parents=True, exist_ok=True)
    return demo_db, tmp_path


def _count(db, sql: str) -> int:
    with db.engine.connect() as c:
        return int(c.execute(sa.text(sql)).scalar())


@pytest.mark.parametrize(("layer", "suffix", "table"), [
    ("shelters", ".xlsx", "shelters"), ("depots", ".csv", "depots"),
    ("census", ".xlsx", "population"), ("census", ".csv", "population"),
    ("codes", ".csv", "code_list"), ("roads", ".gpkg", "road_edges"),
    ("depot_stock", ".xlsx", "depot_stock"), ("hazards", ".gpkg", "hazards"),
])
def test_every_loadable_layer_exports(layer, suffix, table, demo_env, monkeypatch):
    db, tmp = demo_env
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(db.home))
    out = tmp / f"{layer}{suffix}"
    res = CliRunner().invoke(app, ["export", layer, str(out)])
    assert res.exit_code == 0, res.output
    n = _count(db, f"SELECT count(*) FROM {table}")
    if suffix == ".xlsx":
        got = pd.read_excel(out, dtype=str)
    elif suffix == ".csv":
        got = pd.read_csv(out, dtype=str)
    else:
        got = gpd.read_file(out)
    assert len(got) == n
    assert f"wrote {n} {layer}" in " ".join(res.output.split())
    if layer == "census":
        assert got["name"].notna().all() and got["code"].str.len().eq(12).all()


def test_export_refuses_only_what_it_cannot_write(demo_env, monkeypatch):
    db, tmp = demo_env
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    res = CliRunner().invoke(app, ["export", "census", str(tmp / "census.gpkg")])
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert "nothing was written" in out and "nothing was loaded" not in out
    assert "geometry" in out and ".xlsx" in out
    res = CliRunner().invoke(app, ["export", "nosuch", str(tmp / "x.csv")])
    assert res.exit_code == 2 and "census" in res.output and "roads" in res.output
