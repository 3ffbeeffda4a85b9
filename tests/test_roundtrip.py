"""Files that round-trip (#18, Build 4): a layer emgis exports loads back unchanged, in every
format — GeoJSON, GeoPackage, Shapefile (10-character field names), CSV and XLSX.

Each layer of the demo county is exported, loaded into a fresh database (the same study area),
exported again, and the two exports compared value by value.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from emgis.api.cli import app

pytestmark = pytest.mark.postgis

#: in load order (hazards name their risk points; stock names its depots)
LAYERS = ["admin_units", "shelters", "depots", "team_bases", "risk_points", "hazards",
          "hazard_zones", "incidents"]
TABLE_ONLY = ["depot_stock"]
FORMATS = [".geojson", ".gpkg", ".shp", ".csv", ".xlsx"]


def _cli(*args: str):
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, f"emgis {' '.join(args)}:\n{res.output}"
    return res


def _read(path) -> pd.DataFrame:
    import geopandas as gpd

    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if path.suffix == ".xlsx":
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    import shapely

    g = gpd.read_file(path)
    df = pd.DataFrame(g.drop(columns="geometry"))
    # a one-part MultiPolygon is the Polygon it holds (the loader stores areas as multi)
    geoms = [x.geoms[0] if x is not None and x.geom_type.startswith("Multi") and len(x.geoms) == 1
             else x for x in g.geometry]
    df["wkt"] = [None if x is None else shapely.to_wkt(x, rounding_precision=6) for x in geoms]
    return df


def _same(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert list(a.columns) == list(b.columns), what
    assert len(a) == len(b), what
    for col in a.columns:
        for i, (x, y) in enumerate(zip(a[col], b[col], strict=True)):
            if pd.isna(x) is True and pd.isna(y) is True:
                continue
            if col in ("lon", "lat"):  # a representative point, derived, 7 decimals
                assert abs(float(x) - float(y)) <= 2e-7, f"{what}: row {i} {col}: {x} vs {y}"
                continue
            if isinstance(x, str) and x.startswith(("POLYGON", "MULTIPOLYGON")):
                import shapely

                x, y = shapely.from_wkt(x), shapely.from_wkt(y)
                if x.geom_type.startswith("Multi") and len(x.geoms) == 1:
                    x = x.geoms[0]
                if y.geom_type.startswith("Multi") and len(y.geoms) == 1:
                    y = y.geoms[0]
                assert x.equals_exact(y, 1e-6), f"{what}: row {i} {col} differs after a reload"
                continue
            assert x == y, f"{what}: row {i} {col}: {x!r} exported, {y!r} after a reload"


@pytest.fixture(scope="module")
def demo_files(demo_db, tmp_path_factory):
    from emgis.layers.demo.county import write_demo_county

    return write_demo_county(tmp_path_factory.mktemp("rt") / "files")


@pytest.mark.parametrize("fmt", FORMATS, ids=[f[1:] for f in FORMATS])
def test_every_layer_round_trips(fmt, demo_db, db, demo_files, tmp_path, monkeypatch):
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    first, second = tmp_path / "first", tmp_path / "second"
    layers = [x for x in LAYERS if not (fmt == ".shp" and x == "incidents")] + (
        TABLE_ONLY if fmt in (".csv", ".xlsx") else [])
    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    for layer in layers:
        _cli("export", layer, str(first / f"{layer}{fmt}"))
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    _cli("init", "--boundary", str(demo_files.county))
    for layer in layers:
        _cli("load", layer, str(first / f"{layer}{fmt}"), "--accept-warnings")
    for layer in layers:
        _cli("export", layer, str(second / f"{layer}{fmt}"))
        _same(_read(first / f"{layer}{fmt}"), _read(second / f"{layer}{fmt}"),
              f"{layer}{fmt}")


def test_gbk_shapefile_with_chinese_field_names_and_no_cpg(db, demo_files, tmp_path, monkeypatch):
    """A bureau's GBK Shapefile: Chinese field names and values, no .cpg beside it."""
    import geopandas as gpd

    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    _cli("init", "--boundary", str(demo_files.county))
    import shapely

    c = gpd.read_file(demo_files.county).to_crs(4326).geometry.union_all().representative_point()
    points = [shapely.Point(c.x + 0.01 * i, c.y) for i in range(5)]
    out = gpd.GeoDataFrame({
        "编号": [f"BN{i}" for i in range(5)],
        "名称": [f"测试避难场所{i}号" for i in range(5)], "容纳人数": [100, 200, 300, 400, 500],
        "状态": ["开放"] * 5, "时长类别": ["紧急"] * 5}, geometry=points, crs=4326)
    path = tmp_path / "避难场所.shp"
    out.to_file(path, encoding="GBK", engine="pyogrio")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    res = _cli("load", "shelters", str(path))
    assert "5" in res.output
    with db.engine.connect() as c:
        import sqlalchemy as sa

        got = c.execute(sa.text("SELECT name, capacity, status FROM shelters ORDER BY name")).all()
    assert [r[0] for r in got] == [f"测试避难场所{i}号" for i in range(5)]
    assert [r[1] for r in got] == [100, 200, 300, 400, 500] and {r[2] for r in got} == {"open"}


@pytest.mark.bad_input
def test_a_shapefile_of_points_and_areas_is_refused_before_writing(demo_db, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    res = CliRunner().invoke(app, ["export", "incidents", str(tmp_path / "x.shp")])
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    assert "nothing was written" in out and "Shapefile" in out and ".gpkg" in out
    assert list(tmp_path.iterdir()) == []


def test_geopackage_is_version_1_2(demo_db, tmp_path, monkeypatch):
    """GDAL 3.6 / QGIS 3.22 warn on a newer GeoPackage version; emgis writes 1.2."""
    import sqlite3

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    _cli("export", "shelters", str(tmp_path / "s.gpkg"))
    with sqlite3.connect(tmp_path / "s.gpkg") as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10200
