"""Loading layers: formats, encodings, coordinate systems, and bad input that teaches.

Every bad-input case asserts two things: the error names the row/field and how to fix it,
and no table changed (a failed load is one rolled-back transaction).

Bad inputs covered (each its own test case below):
  1 empty file (0 bytes)              2 header but no rows           3 unsupported file type
  4 binary file named .csv            5 required column missing      6 no lon/lat columns
  7 non-numeric coordinate            8 latitude/longitude swapped   9 point outside China
 10 point far outside the study area 11 duplicate ids               12 unknown class value
 13 negative count                   14 fractional head count       15 missing/empty geometry
 16 projected GK coordinates in a file declared WGS84               17 unknown --crs text
 18 code mangled into scientific notation by Excel                  19 id already in the database
 20 stock row naming an unknown depot 21 Shapefile without its .dbf 22 closed hazard without
 responsible person                  23 not a date                  24 OSM extract given as a layer
 25 many problems in one file: all reported at once
 26 a two-layer GeoPackage without --layer (through the CLI; --layer then picks one)
Reading problems (line endings, encodings, duplicate headers, mislabelled files) are in
tests/test_readers.py; the fuzz test in tests/test_load_fuzz.py.
Handled as a person expects (not errors): invalid polygon repaired (said), polygon given for a
point layer (a point inside it, said), GBK without .cpg detected, thousands separators, absent
optional columns filled and said.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from conftest import table_checksums

from emgis.layers.load.loaders import prepare_layer
from emgis.layers.load.study_area import read_boundary, save_study_area
from emgis.layers.load.write import LoadOptions, load_layer
from emgis.layers.problems import InputError

SHELTER_HEADER = ("编号,名称,行政级别,设计类别,时长类别,灾种,空间类型,有效面积(平方米),容纳人数,"
                  "状态,在避人数,地址,所属区划代码,经度,纬度")
GOOD_ROWS = [
    "S1,城关镇中心小学操场,乡镇级,紧急,紧急,地震;洪涝,室外,\"3,200\",,开放,0,城关镇,"
    "339901100000,119.8512,31.0023",
    "S2,县体育中心,县级,固定,短期,地震,室内,12000,5000,开放,120,县城,339901001000,119.8701,31.0105",
]


def _csv(tmp_path, name, lines, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes("\n".join(lines).encode(encoding))
    return p


def _snapshot(engine):
    return table_checksums(engine)


def _expect_rejected(db, layer, path, *fragments, **kw):
    before = _snapshot(db.engine)
    with pytest.raises(InputError) as info:
        load_layer(db.engine, layer, path, LoadOptions(**kw))
    text = str(info.value)
    for frag in fragments:
        assert frag in text, f"{frag!r} not in:\n{text}"
    assert "Fix:" in text
    assert _snapshot(db.engine) == before, "a failed load changed the database"
    return info.value


# --- good input -----------------------------------------------------------------------------------

def test_gbk_csv_with_chinese_headers_loads(db, tmp_path):
    path = _csv(tmp_path, "shelters.csv", [SHELTER_HEADER, *GOOD_ROWS], "gbk")
    res = load_layer(db.engine, "shelters", path)
    assert res.rows == 2 and res.source_crs == "EPSG:4326"
    with db.engine.connect() as c:
        rows = c.execute(sa.text("SELECT ext_id, name, duration_class, hazard_types, capacity, "
                                 "capacity_source, "
                                 "ST_X(geom), unit_code FROM shelters ORDER BY ext_id")).all()
        load = c.execute(sa.text("SELECT layer, rows, source_crs FROM loads")).one()
        audit = c.execute(sa.text("SELECT action, table_name FROM audit_log")).all()
    # 3,200 m² at the emergency class's 1.0 m²/person default
    assert rows[0][:6] == ("S1", "城关镇中心小学操场", "emergency", ["earthquake", "flood"], 3200,
                           "area")
    assert rows[1][4:6] == (5000, "given")
    assert rows[0][6] == pytest.approx(119.8512)
    assert rows[1][7] == "339901001000"
    assert load == ("shelters", 2, "EPSG:4326")
    assert audit == [("load", "shelters")], "bulk loads write one audit entry, not one per row"
    assert any("GBK" in n for n in res.notes)


def test_real_gcj02_shelters_match_an_independent_conversion(db, shared_data):
    """The file is tagged WGS84 but its points are Amap (GCJ-02) coordinates."""
    import prcoords

    path = shared_data("shelters/china4cities_shelters_gcj02.geojson")
    res = load_layer(db.engine, "shelters", path, LoadOptions(crs="gcj02"))
    src = gpd.read_file(path)
    assert res.rows == len(src) == 1800
    assert res.source_crs == "GCJ-02"
    with db.engine.connect() as c:
        got = dict((r[0], (r[1], r[2]))
                   for r in c.execute(sa.text("SELECT ext_id, ST_X(geom), ST_Y(geom) "
                                              "FROM shelters")))
    geod = __import__("pyproj").Geod(ellps="WGS84")
    lons, lats, elons, elats = [], [], [], []
    for sid, g in zip(src["sid"], src.geometry, strict=True):
        # prcoords' iterative ("bored") inverse: an implementation independent of ours
        wlat, wlon = prcoords.gcj_wgs_bored((g.y, g.x))
        lons.append(got[sid][0])
        lats.append(got[sid][1])
        elons.append(wlon)
        elats.append(wlat)
    _, _, dist = geod.inv(lons, lats, elons, elats)
    assert np.max(dist) < 1.0, f"max deviation {np.max(dist):.3f} m"
    # and the shift itself is the GCJ-02 offset, hundreds of metres
    _, _, shift = geod.inv(src.geometry.x, src.geometry.y, lons, lats)
    assert 100 < np.median(shift) < 800


def test_gk_geopackage_and_gbk_shapefile_without_cpg(db, tmp_path):
    pts = gpd.GeoDataFrame({"id": ["T1", "T2"], "name": ["城关消防站", "水上救援队"],
                            "team_type": ["消防站", "水域救援"],
                            "personnel": [25, 12], "status": ["待命", "出动"],
                            "fire_class": ["二级", None]},
                           geometry=[shapely.Point(119.85, 31.0), shapely.Point(119.9, 31.05)],
                           crs=4326)
    gpkg = tmp_path / "teams.gpkg"
    pts.to_crs(4549).to_file(gpkg, layer="teams")  # CGCS2000 3° GK, CM 120°E, no zone prefix
    res = load_layer(db.engine, "team_bases", gpkg)
    assert res.source_crs == "EPSG:4549"
    shp = tmp_path / "depots.shp"
    dep = gpd.GeoDataFrame({"id": ["D1"], "name": ["县救灾物资储备库"], "level": ["县级"],
                            "status": ["启用"]},
                           geometry=[shapely.Point(119.86, 31.01)], crs=4490)
    dep.to_file(shp, encoding="GBK")
    shp.with_suffix(".cpg").unlink(missing_ok=True)  # many bureau files have no .cpg
    res = load_layer(db.engine, "depots", shp)
    with db.engine.connect() as c:
        t = c.execute(sa.text("SELECT name, team_type, fire_class, ST_X(geom), ST_Y(geom) "
                              "FROM team_bases ORDER BY ext_id")).all()
        d = c.execute(sa.text("SELECT name, level FROM depots")).one()
    assert t[0][:3] == ("城关消防站", "fire_station", "class2")
    assert t[0][3] == pytest.approx(119.85, abs=1e-7) and t[0][4] == pytest.approx(31.0, abs=1e-7)
    assert d == ("县救灾物资储备库", "county")
    assert any("GBK" in n for n in res.notes)


def test_repairs_and_coercions_are_said(db, tmp_path):
    bowtie = shapely.Polygon([(119.8, 31.0), (119.9, 31.1), (119.9, 31.0), (119.8, 31.1)])
    zones = gpd.GeoDataFrame({"hazard_type": ["洪涝"], "level": ["高"]}, geometry=[bowtie],
                             crs=4326)
    zpath = tmp_path / "zones.geojson"
    zones.to_file(zpath)
    res = load_layer(db.engine, "hazard_zones", zpath)
    assert any("repaired" in n for n in res.notes)
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT bool_and(ST_IsValid(geom)) FROM hazard_zones")).scalar()
    site = shapely.box(119.85, 31.0, 119.851, 31.001)
    sh = gpd.GeoDataFrame({"id": ["P1"], "name": ["公园"], "duration_class": ["紧急"],
                           "status": ["开放"], "capacity": [300]}, geometry=[site], crs=4326)
    spath = tmp_path / "parks.geojson"
    sh.to_file(spath)
    res = load_layer(db.engine, "shelters", spath)
    assert any("point inside" in n for n in res.notes)


def test_modes_upsert_and_replace(db, tmp_path):
    path = _csv(tmp_path, "s.csv", [SHELTER_HEADER, *GOOD_ROWS])
    load_layer(db.engine, "shelters", path)
    changed = _csv(tmp_path, "s2.csv", [SHELTER_HEADER, GOOD_ROWS[1].replace(",120,", ",300,")])
    load_layer(db.engine, "shelters", changed, LoadOptions(mode="upsert"))
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*), max(occupancy) FROM shelters")).one() == (2, 300)
    load_layer(db.engine, "shelters", changed, LoadOptions(mode="replace"))
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM shelters")).scalar() == 1


def test_depot_stock_resolves_depot_ids(db, tmp_path):
    dep = _csv(tmp_path, "d.csv",
               ["id,name,level,status,lon,lat", "D1,县库,县级,启用,119.86,31.01"])
    load_layer(db.engine, "depots", dep)
    stock = _csv(tmp_path, "stock.csv",
                 ["depot_id,item,quantity,unit", "D1,帐篷,200,顶", "D1,棉被,\"1,500\",床"])
    load_layer(db.engine, "depot_stock", stock)
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT item, quantity FROM depot_stock ORDER BY item")).all() == [
            ("帐篷", 200.0), ("棉被", 1500.0)]


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.bad_input
def test_bad_01_empty_file(db, tmp_path):
    (tmp_path / "s.csv").write_bytes(b"")
    _expect_rejected(db, "shelters", tmp_path / "s.csv", "empty")


@pytest.mark.bad_input
def test_bad_02_header_only(db, tmp_path):
    _expect_rejected(db, "shelters", _csv(tmp_path, "s.csv", [SHELTER_HEADER]), "no rows")


@pytest.mark.bad_input
def test_bad_03_unsupported_type(db, tmp_path):
    (tmp_path / "s.docx").write_bytes(b"hello")
    _expect_rejected(db, "shelters", tmp_path / "s.docx", "not a file type", "GeoJSON")


@pytest.mark.bad_input
def test_bad_04_binary_named_csv(db, tmp_path):
    (tmp_path / "s.csv").write_bytes(b"PK\x03\x04" + bytes(100))
    _expect_rejected(db, "shelters", tmp_path / "s.csv", "binary")


@pytest.mark.bad_input
def test_bad_05_required_column_missing(db, tmp_path):
    path = _csv(tmp_path, "t.csv", ["id,name,status,lon,lat", "T1,队,待命,119.85,31.0"])
    _expect_rejected(db, "team_bases", path, "team_type", "column is missing", "personnel")


@pytest.mark.bad_input
def test_bad_06_no_coordinates(db, tmp_path):
    path = _csv(tmp_path, "s.csv", ["编号,名称,时长类别,状态,容纳人数", "S1,学校,紧急,开放,100"])
    _expect_rejected(db, "shelters", path, "longitude", "经度")


@pytest.mark.bad_input
def test_bad_07_non_numeric_coordinate(db, tmp_path):
    path = _csv(tmp_path, "s.csv", [SHELTER_HEADER, GOOD_ROWS[0].replace("119.8512", "119°51'")])
    _expect_rejected(db, "shelters", path, "row 2", "not a coordinate number")


@pytest.mark.bad_input
def test_bad_08_swapped_lat_lon(db, tmp_path):
    path = _csv(tmp_path, "s.csv",
                [SHELTER_HEADER, GOOD_ROWS[0].replace("119.8512,31.0023", "31.0023,119.8512")])
    _expect_rejected(db, "shelters", path, "row 2", "swapped")


@pytest.mark.bad_input
def test_bad_09_outside_china(db, tmp_path):
    path = _csv(tmp_path, "s.csv",
                [SHELTER_HEADER, GOOD_ROWS[0].replace("119.8512,31.0023", "2.35,48.85")])
    _expect_rejected(db, "shelters", path, "row 2", "outside China")


@pytest.mark.bad_input
def test_bad_10_far_outside_study_area(db, tmp_path):
    boundary = gpd.GeoDataFrame({"code": ["339901"], "name": ["示范县"]},
                                geometry=[shapely.box(119.7, 30.9, 120.0, 31.1)], crs=4326)
    bpath = tmp_path / "county.geojson"
    boundary.to_file(bpath)
    save_study_area(db.engine, read_boundary(bpath, county_code="339901"), boundary_file=str(bpath))
    path = _csv(tmp_path, "s.csv", [SHELTER_HEADER, GOOD_ROWS[0],
                                    GOOD_ROWS[1].replace("119.8701,31.0105", "116.40,39.90")])
    _expect_rejected(db, "shelters", path, "row 3", "outside the study area", "--crs")


@pytest.mark.bad_input
def test_bad_11_duplicate_ids(db, tmp_path):
    path = _csv(tmp_path, "s.csv",
                [SHELTER_HEADER, GOOD_ROWS[0], GOOD_ROWS[1].replace("S2,", "S1,", 1)])
    _expect_rejected(db, "shelters", path, "S1", "more than one row (rows 2, 3)")


@pytest.mark.bad_input
def test_bad_12_unknown_class(db, tmp_path):
    path = _csv(tmp_path, "s.csv",
                [SHELTER_HEADER, GOOD_ROWS[0].replace(",紧急,紧急,", ",紧急,永久,")])
    _expect_rejected(db, "shelters", path, "duration_class", "永久", "short (短期)")


@pytest.mark.bad_input
def test_bad_13_negative_count(db, tmp_path):
    path = _csv(tmp_path, "s.csv", [SHELTER_HEADER, GOOD_ROWS[1].replace(",5000,", ",-5000,")])
    _expect_rejected(db, "shelters", path, "capacity", "negative")


@pytest.mark.bad_input
def test_bad_14_fractional_personnel(db, tmp_path):
    path = _csv(tmp_path, "t.csv",
                ["id,name,team_type,personnel,status,lon,lat", "T1,队,综合,12.5,待命,119.85,31.0"])
    _expect_rejected(db, "team_bases", path, "personnel", "fractional")


@pytest.mark.bad_input
def test_bad_15_missing_geometry(db, tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"hazard_type": "洪涝"}, "geometry": None}]}
    path = tmp_path / "z.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False))
    _expect_rejected(db, "hazard_zones", path, "feature 1", "missing or empty")


@pytest.mark.bad_input
def test_bad_16_projected_coordinates_declared_wgs84(db, tmp_path):
    # CGCS2000 3° GK zone 40 WITH zone prefix, as survey offices deliver them
    path = _csv(tmp_path, "s.csv",
                [SHELTER_HEADER, GOOD_ROWS[1].replace("119.8701,31.0105", "40487500.0,3431500.0")])
    _expect_rejected(db, "shelters", path, "projected", "EPSG:4528")


@pytest.mark.bad_input
def test_bad_17_unknown_crs(db, tmp_path):
    path = _csv(tmp_path, "s.csv", [SHELTER_HEADER, *GOOD_ROWS])
    _expect_rejected(db, "shelters", path, "--crs", "mars2000", crs="mars2000")


@pytest.mark.bad_input
def test_bad_18_excel_scientific_notation_code(db, tmp_path):
    path = _csv(tmp_path, "s.csv",
                [SHELTER_HEADER, GOOD_ROWS[0].replace("339901100000", "3.39901E+11")])
    _expect_rejected(db, "shelters", path, "scientific notation", "Text")


@pytest.mark.bad_input
def test_bad_19_id_already_loaded(db, tmp_path):
    load_layer(db.engine, "shelters", _csv(tmp_path, "a.csv", [SHELTER_HEADER, GOOD_ROWS[0]]))
    _expect_rejected(db, "shelters", _csv(tmp_path, "b.csv", [SHELTER_HEADER, *GOOD_ROWS]),
                     "already in shelters", "--mode upsert")


@pytest.mark.bad_input
def test_bad_20_stock_for_unknown_depot(db, tmp_path):
    stock = _csv(tmp_path, "stock.csv", ["depot_id,item,quantity,unit", "NOPE,帐篷,200,顶"])
    _expect_rejected(db, "depot_stock", stock, "NOPE", "load depots first")


@pytest.mark.bad_input
def test_bad_21_shapefile_without_dbf(db, tmp_path):
    dep = gpd.GeoDataFrame({"id": ["D1"], "name": ["库"], "level": ["县级"], "status": ["启用"]},
                           geometry=[shapely.Point(119.86, 31.01)], crs=4326)
    dep.to_file(tmp_path / "d.shp")
    (tmp_path / "d.dbf").unlink()
    _expect_rejected(db, "depots", tmp_path / "d.shp", "d.dbf", "missing")


@pytest.mark.bad_input
def test_bad_22_closed_hazard_without_responsible(db, tmp_path):
    path = _csv(tmp_path, "h.csv", ["id,title,state,responsible,measures,lon,lat",
                                    "H1,护栏缺失,销号,,加装护栏,119.85,31.0"])
    _expect_rejected(db, "hazards", path, "responsible", "closed out only with")


@pytest.mark.bad_input
def test_bad_23_not_a_date(db, tmp_path):
    path = _csv(tmp_path, "h.csv", ["id,title,state,responsible,deadline,lon,lat",
                                    "H1,护栏缺失,整改,张三,下个月,119.85,31.0"])
    _expect_rejected(db, "hazards", path, "deadline", "YYYY-MM-DD")


@pytest.mark.bad_input
def test_bad_24_osm_extract_as_layer(db, tmp_path):
    path = tmp_path / "county.osm.pbf"
    path.write_bytes(b"\x00\x00\x00\x0dOSMHeader")
    _expect_rejected(db, "shelters", path, "OpenStreetMap", "emgis load roads")


@pytest.mark.bad_input
def test_bad_25_every_problem_reported_at_once(db, tmp_path):
    rows = [
        GOOD_ROWS[0].replace(",紧急,紧急,", ",紧急,永久,"),           # unknown class
        GOOD_ROWS[1].replace(",5000,", ",-1,"),                      # negative
        GOOD_ROWS[1].replace("S2,", "S3,", 1).replace(",开放,", ",拆除,"),  # unknown status
        GOOD_ROWS[1].replace("S2,", "S4,", 1).replace("119.8701", "abc"),  # bad coordinate
    ]
    err = _expect_rejected(db, "shelters", _csv(tmp_path, "s.csv", [SHELTER_HEADER, *rows]))
    assert {p.row for p in err.problems if p.severity == "error"} == {2, 3, 4, 5}


def test_prepare_never_touches_the_database(tmp_path):
    prep = prepare_layer("shelters", _csv(tmp_path, "s.csv", [SHELTER_HEADER, *GOOD_ROWS]))
    assert not prep.problems.errors and len(prep.frame) == 2


@pytest.mark.bad_input
def test_cli_load_layer_option_for_a_two_layer_geopackage(db, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from emgis.api.cli import app

    path = tmp_path / "depots.gpkg"
    for layer, name in (("old", "旧库"), ("new", "新库")):
        gpd.GeoDataFrame({"id": ["D1"], "name": [name], "level": ["县级"], "status": ["启用"]},
                         geometry=[shapely.Point(119.86, 31.01)], crs=4326).to_file(
            path, layer=layer)
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    before = _snapshot(db.engine)
    res = CliRunner().invoke(app, ["load", "depots", str(path)])
    assert res.exit_code == 2 and "old, new" in res.output and "--layer" in res.output, res.output
    assert _snapshot(db.engine) == before
    res = CliRunner().invoke(app, ["load", "depots", str(path), "--layer", "new"])
    assert res.exit_code == 0, res.output
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT name FROM depots")).scalar_one() == "新库"
