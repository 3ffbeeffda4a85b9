"""`emgis population zonal | dasymetric | demand` on the demo county, through the CLI."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from rich.console import Console
from typer.testing import CliRunner

from emgis.api.cli import app
from emgis.api.cli.demo import load_demo
from emgis.layers.demo.county import write_demo_county
from emgis.layers.load.rasters import read_population_raster
from emgis.shelters.population import zonal_sums

pytestmark = pytest.mark.postgis


@pytest.fixture
def demo_db(db, tmp_path, monkeypatch):
    files = write_demo_county(tmp_path / "demo")
    load_demo(db, files, console=Console(quiet=True), home=tmp_path / "home")
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    return db, files


def _raster(path, bounds, cell=0.004, seed=0):
    w, s, e, n = bounds
    cols, rows = int(np.ceil((e - w) / cell)) + 4, int(np.ceil((n - s) / cell)) + 4
    data = np.random.default_rng(seed).gamma(2.0, 20.0, (rows, cols)).astype("float32")
    data[:3, :3] = -1  # nodata corner
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32",
                       crs="EPSG:4326",
                       transform=Affine(cell, 0, w - 2 * cell, 0, -cell, n + 2 * cell),
                       nodata=-1) as dst:
        dst.write(data, 1)
    return path


def test_zonal_dasymetric_and_demand(demo_db, tmp_path):
    _db, files = demo_db
    villages = gpd.read_file(files.admin_units)
    villages = villages[villages["level"].isin(["village", "村级", "社区"])
                        | (villages["code"].str[-3:] != "000")]
    tif = _raster(tmp_path / "pop.tif", villages.total_bounds)
    run = CliRunner()

    res = run.invoke(app, ["population", "zonal", str(tif), "--out", str(tmp_path / "z.csv")])
    assert res.exit_code == 0, res.output
    z = pd.read_csv(tmp_path / "z.csv", dtype={"code": str})
    ours = zonal_sums(read_population_raster(tif), villages)
    assert len(z) == 220 and z["census"].notna().all()
    got = z.set_index("code")["raster_population"]
    assert np.allclose(got.to_numpy(), ours.reindex(got.index).fillna(0).to_numpy(), atol=0.1)

    res = run.invoke(app, ["population", "dasymetric", str(tif), str(tmp_path / "d.tif")])
    assert res.exit_code == 0, res.output
    scaled = zonal_sums(read_population_raster(tmp_path / "d.tif"), villages)
    census = z.set_index("code")["census"]
    assert np.allclose(scaled.reindex(census.index).to_numpy(), census.to_numpy(), rtol=1e-6)

    res = run.invoke(app, ["population", "demand", str(tmp_path / "demand.geojson"), "--snap"])
    assert res.exit_code == 0, res.output
    d = gpd.read_file(tmp_path / "demand.geojson")
    assert len(d) == 220 and d["population"].sum() == pytest.approx(census.sum())
    # every village reaches the network; a road is within a few km of every village point
    assert (d["node"] >= 0).all() and d["snap_m"].max() < 5000 and (d["offroad_s"] >= 0).all()


def test_missing_raster_is_a_clear_error(demo_db, tmp_path):
    res = CliRunner().invoke(app, ["population", "zonal", str(tmp_path / "nope.tif")])
    assert res.exit_code == 2
    assert "nope.tif" in res.output
