"""`emgis load-roads`, `emgis route` and `emgis isochrones` against PostGIS and a real OSM
extract."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from conftest import shared
from typer.testing import CliRunner

import emgis.api.cli.roads  # noqa: F401  (registers the commands on api.cli.app)
from emgis.api.cli import app
from emgis.api.cli import base as cli

pytestmark = [pytest.mark.postgis]

LIECHTENSTEIN = "osm/liechtenstein_osm2pgsql_2013.osm.pbf"
# Team bases in Liechtenstein's towns (one unavailable: it must never be routed to)
TEAMS = [
    ("T1", "Vaduz", 9.5209, 47.1410, "available"),
    ("T2", "Schaan", 9.5080, 47.1650, "available"),
    ("T3", "Triesen", 9.5280, 47.1070, "available"),
    ("T4", "Eschen", 9.5220, 47.2110, "available"),
    ("T5", "Balzers", 9.5020, 47.0660, "available"),
    ("T6", "Gamprin (off duty)", 9.5100, 47.2200, "unavailable"),
]
INCIDENT = "9.5150,47.1550"


@pytest.fixture
def env(db, tmp_path, monkeypatch):
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    # wide consoles so that messages are not folded inside table cells
    monkeypatch.setattr(cli.console, "_width", 300)
    monkeypatch.setattr(cli.err, "_width", 300)
    return db


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _flat(result) -> str:
    return " ".join(result.output.split())


def _save_area(engine, bounds, name="Liechtenstein"):
    from emgis.layers.load.study_area import StudyArea, save_study_area

    geom = shapely.MultiPolygon([shapely.box(*bounds)])
    save_study_area(engine, StudyArea(name, None, geom, 32632, "EPSG:4326", 0.0),
                    boundary_file="test")


def _load_teams(engine, tmp_path, rows=TEAMS):
    from emgis.layers.load.write import load_layer

    path = tmp_path / "teams.csv"
    lines = ["id,name,team_type,personnel,status,lon,lat"]
    lines += [f"{i},{n},fire_station,20,{s},{x},{y}" for i, n, x, y, s in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _save_area(engine, (9.45, 47.0, 9.65, 47.3))
    load_layer(engine, "team_bases", path)


@pytest.fixture
def loaded(env, tmp_path):
    res = run("load-roads", shared(LIECHTENSTEIN))
    assert res.exit_code == 0, res.output
    _load_teams(env.engine, tmp_path)
    return env


# --- load-roads --------------------------------------------------------------------------------

def test_load_roads_stores_edges_and_graph(env, tmp_path):
    from emgis.geo.network import graph_from_osm
    from emgis.geo.routing import nearest_k
    from emgis.geo.store import graph_file, load_network

    path = shared(LIECHTENSTEIN)
    res = run("load-roads", path)
    assert res.exit_code == 0, res.output
    expected = graph_from_osm(path)
    out = _flat(res)
    assert f"{expected.n_nodes:,} nodes" in out and f"{expected.n_edges:,} edges" in out
    assert "components" in out and "orphan" in out and "no study area" in out
    with env.engine.connect() as c:
        n_rows = c.execute(sa.text("SELECT count(*) FROM road_edges "
                                   "WHERE network = 'default'")).scalar()
        net = c.execute(sa.text("SELECT nodes, edges, components, sha256, graph_path, report "
                                "FROM road_networks WHERE name = 'default'")).mappings().one()
        total_len = c.execute(sa.text("SELECT sum(length_m), sum(ST_Length(geom::geography)) "
                                      "FROM road_edges")).one()
        bad_geom = c.execute(sa.text("SELECT count(*) FROM road_edges WHERE NOT ST_IsValid(geom) "
                                     "OR ST_SRID(geom) <> 4326")).scalar()
    assert n_rows == expected.n_edges
    assert (net["nodes"], net["edges"], net["components"]) == (expected.n_nodes, expected.n_edges,
                                                               expected.report.components)
    assert (len(net["sha256"]) == 64
            and net["report"]["orphan_components"] == expected.report.orphan_components)
    assert bad_geom == 0
    assert total_len[0] == pytest.approx(expected.edge_length_m.sum(), rel=1e-9)
    assert total_len[1] == pytest.approx(total_len[0], rel=5e-3)  # spheroid vs sphere
    assert net["graph_path"] == str(graph_file(tmp_path / "home", "default").resolve())

    g = load_network(env.engine)
    assert (g.n_nodes, g.n_edges) == (expected.n_nodes, expected.n_edges)
    np.testing.assert_array_equal(g.weights, expected.weights)
    r = nearest_k(g, (9.5150, 47.1550),
                  (np.array([9.5209, 9.5280]), np.array([47.1410, 47.1070])), k=2)
    assert len(r) == 2 and r[0].time_s <= r[1].time_s and len(r[0].coords) > 2

    # loading again replaces the network's rows instead of adding to them
    res = run("load-roads", path)
    assert res.exit_code == 0, res.output
    with env.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM road_edges")).scalar() == expected.n_edges


def test_graph_file_lost_is_rebuilt_from_road_edges(env, tmp_path):
    from emgis.geo.network import graph_from_osm
    from emgis.geo.routing import nearest_k
    from emgis.geo.store import graph_file, load_network

    assert run("load-roads", shared(LIECHTENSTEIN)).exit_code == 0
    f = graph_file(tmp_path / "home", "default")
    f.unlink()
    g = load_network(env.engine, home=tmp_path / "home")
    assert f.exists()
    expected = graph_from_osm(shared(LIECHTENSTEIN))
    assert (g.n_nodes, g.n_edges) == (expected.n_nodes, expected.n_edges)
    pts = (np.array([9.5209, 9.5280, 9.5080]), np.array([47.1410, 47.1070, 47.1650]))
    a = nearest_k(g, (9.5150, 47.1550), pts, k=3)
    b = nearest_k(expected, (9.5150, 47.1550), pts, k=3)
    assert [r.time_s for r in a] == pytest.approx([r.time_s for r in b], rel=1e-9)


def test_load_roads_clips_to_the_study_area(env):
    _save_area(env.engine, (9.50, 47.12, 9.54, 47.16), name="Vaduz")
    res = run("load-roads", shared(LIECHTENSTEIN))
    assert res.exit_code == 0, res.output
    assert "clipped to the study area Vaduz" in _flat(res)
    with env.engine.connect() as c:
        clipped = c.execute(sa.text("SELECT count(*) FROM road_edges")).scalar()
        far = c.execute(sa.text(
            "SELECT count(*) FROM road_edges WHERE NOT ST_DWithin(geom::geography, "
            "ST_MakeEnvelope(9.50, 47.12, 9.54, 47.16, 4326)::geography, 5100)")).scalar()
    assert far == 0
    res = run("load-roads", shared(LIECHTENSTEIN), "--no-clip", "--name", "whole")
    assert res.exit_code == 0, res.output
    with env.engine.connect() as c:
        whole = c.execute(sa.text("SELECT count(*) FROM road_edges "
                                  "WHERE network = 'whole'")).scalar()
        assert c.execute(sa.text("SELECT count(*) FROM road_edges "
                                 "WHERE network = 'default'")).scalar() == clipped
    assert 0 < clipped < whole


def _lines_geojson(path, props):
    feats = []
    for i, p in enumerate(props):
        x = 119.90 + 0.002 * i
        feats.append({"type": "Feature", "properties": p,
                      "geometry": {"type": "LineString",
                                   "coordinates": [[x, 30.0], [x + 0.002, 30.0]]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return path


def test_load_roads_from_a_line_layer(env, tmp_path):
    path = _lines_geojson(tmp_path / "roads.geojson",
                          [{"等级": "县道"}, {"等级": "乡道"}, {"等级": "primary"}])
    res = run("load-roads", path)
    assert res.exit_code == 0, res.output
    assert "'等级'" in _flat(res)
    with env.engine.connect() as c:
        rows = c.execute(sa.text("SELECT road_class, speed_kmh FROM road_edges "
                                 "ORDER BY edge_id")).all()
    assert len(rows) == 3 and {r[0] for r in rows} == {"县道", "乡道", "primary"}


def test_load_roads_bad_inputs_exit_2_with_the_fix(env, tmp_path):
    res = run("load-roads", tmp_path / "missing.osm.pbf")
    assert res.exit_code == 2 and "does not exist" in _flat(res)

    empty = tmp_path / "empty.osm.pbf"
    empty.write_bytes(b"")
    res = run("load-roads", empty)
    assert res.exit_code == 2 and "is empty" in _flat(res) and "download or export" in _flat(res)

    text = tmp_path / "notes.txt"
    text.write_text("not a map\n", encoding="utf-8")
    res = run("load-roads", text)
    assert (res.exit_code == 2 and "not an OSM file extension" in _flat(res)
            and ".osm.pbf" in _flat(res))

    fake = tmp_path / "fake.osm"
    fake.write_text("hello, this is not XML\n", encoding="utf-8")
    res = run("load-roads", fake)
    assert (res.exit_code == 2 and "cannot be read as OSM" in _flat(res)
            and "export or download" in _flat(res))

    lines = _lines_geojson(tmp_path / "plain.geojson", [{"foo": "a"}, {"foo": "b"}])
    res = run("load-roads", lines)
    out = _flat(res)
    assert res.exit_code == 2 and "--class-field" in out and "--speed-field" in out and "foo" in out

    res = run("load-roads", lines, "--speed-field", "foo")
    assert res.exit_code == 2 and "is not a positive speed" in _flat(res)

    res = run("load-roads", shared(LIECHTENSTEIN), "--name", "bad name!")
    assert res.exit_code == 2 and "is not a network name" in _flat(res)
    with env.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM road_networks")).scalar() == 0


# --- route ---------------------------------------------------------------------------------------

def _expected_routes(engine, k, closures=None):
    from emgis.geo.routing import nearest_k, snap_facilities
    from emgis.geo.store import facilities, load_network

    g = load_network(engine)
    fac = facilities(engine, "team_bases")
    lon, lat = (float(v) for v in INCIDENT.split(","))
    routes = nearest_k(g, (lon, lat), snap_facilities(g, fac.lon, fac.lat), k,
                       closures=None if closures is None else closures(g))
    return [(fac.ext_ids[r.facility], r.time_s) for r in routes]


def test_route_writes_k_routes_matching_nearest_k(loaded, tmp_path):
    out = tmp_path / "routes.geojson"
    res = run("route", "--from", INCIDENT, "--to", "team_bases", "-k", "3", "--out", out)
    assert res.exit_code == 0, res.output
    assert "Gamprin" not in res.output and "1 team_bases left out" in _flat(res)
    feats = json.loads(out.read_text(encoding="utf-8"))["features"]
    assert len(feats) == 3
    times = [f["properties"]["time_s"] for f in feats]
    assert times == sorted(times) and [f["properties"]["rank"] for f in feats] == [1, 2, 3]
    expected = _expected_routes(loaded.engine, 3)
    assert [(f["properties"]["facility_id"], f["properties"]["time_s"]) for f in feats] == \
        [(i, pytest.approx(t, rel=1e-12)) for i, t in expected]
    for f in feats:
        assert f["geometry"]["type"] == "LineString" and len(f["geometry"]["coordinates"]) >= 2
        assert f["properties"]["distance_km"] > 0 and f["properties"]["time_min"] > 0
    # the table shows the same ranking
    first = feats[0]["properties"]
    assert first["name"] in res.output and f"{first['time_min']:.1f}" in res.output

    # closing the roads around the middle of the first route makes it slower or another team
    line = shapely.LineString(feats[0]["geometry"]["coordinates"])
    flood = line.interpolate(0.5, normalized=True).buffer(0.0004)
    avoid = tmp_path / "flood.geojson"
    avoid.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": json.loads(shapely.to_geojson(flood))}]}))
    out2 = tmp_path / "routes2.geojson"
    res = run("route", "--from", INCIDENT, "--to", "team_bases", "-k", "3", "--avoid", avoid,
              "--out", out2)
    assert res.exit_code == 0, res.output
    feats2 = json.loads(out2.read_text(encoding="utf-8"))["features"]
    assert feats2 and feats2[0]["properties"]["closed_edges"] > 0
    new, old = feats2[0]["properties"], feats[0]["properties"]
    assert new["facility_id"] != old["facility_id"] or new["time_s"] > old["time_s"] + 1
    assert shapely.LineString(feats2[0]["geometry"]["coordinates"]) != line

    from emgis.geo.routing import closures_from_polygons

    expected = _expected_routes(loaded.engine, 3, lambda g: closures_from_polygons(g, [flood]))
    assert [(f["properties"]["facility_id"], f["properties"]["time_s"]) for f in feats2] == \
        [(i, pytest.approx(t, rel=1e-12)) for i, t in expected]


def test_route_input_errors(loaded, tmp_path):
    res = run("route", "--from", "47.1550,9.5150x")
    assert res.exit_code == 2 and "LON,LAT" in _flat(res)
    res = run("route", "--from", "147.1,99.5")
    assert res.exit_code == 2 and "not a lon/lat point" in _flat(res)
    res = run("route", "--from", INCIDENT, "--to", "hospitals")
    assert res.exit_code == 2 and "not a facility layer" in _flat(res)
    res = run("route", "--from", INCIDENT, "--to", "shelters")
    assert res.exit_code == 2 and "emgis load shelters" in _flat(res)
    res = run("route", "--from", INCIDENT, "--network", "nope")
    assert res.exit_code == 2 and "emgis load roads" in _flat(res) and "default" in _flat(res)
    pts = tmp_path / "points.geojson"
    pts.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Point", "coordinates": [9.5, 47.1]}}]}))
    res = run("route", "--from", INCIDENT, "--avoid", pts)
    assert res.exit_code == 2 and "holds no polygon" in _flat(res)


def test_route_without_roads_says_how_to_load_them(env, tmp_path):
    _load_teams(env.engine, tmp_path)
    res = run("route", "--from", INCIDENT, "--to", "team_bases")
    assert res.exit_code == 2
    assert ("no road network named 'default' is loaded" in _flat(res)
            and "emgis load roads FILE" in _flat(res))


def test_route_from_a_gcj02_point(loaded, tmp_path):
    from emgis.geo.crs import wgs84_to_gcj02

    # Liechtenstein is outside China: GCJ-02 leaves it unshifted, so the result is the same
    x, y = wgs84_to_gcj02(9.5150, 47.1550)
    out = tmp_path / "r.geojson"
    res = run("route", "--from", f"{x},{y}", "--crs", "gcj02", "-k", "1", "--out", out)
    assert res.exit_code == 0, res.output
    f = json.loads(out.read_text())["features"][0]["properties"]
    assert f["from_lon"] == pytest.approx(9.5150, abs=1e-6)
    assert f["facility_id"] == _expected_routes(loaded.engine, 1)[0][0]


# --- isochrones ----------------------------------------------------------------------------------

def test_isochrones_nest(loaded, tmp_path):
    out = tmp_path / "areas.geojson"
    res = run("isochrones", "--layer", "team_bases", "--minutes", "5,10,15", "--out", out)
    assert res.exit_code == 0, res.output
    feats = json.loads(out.read_text(encoding="utf-8"))["features"]
    assert [f["properties"]["minutes"] for f in feats] == [5, 10, 15]
    geoms = [shapely.from_geojson(json.dumps(f["geometry"])) for f in feats]
    assert all(g.geom_type in ("Polygon", "MultiPolygon") and g.is_valid and not g.is_empty
               for g in geoms)
    areas = [f["properties"]["area_km2"] for f in feats]
    assert areas[0] < areas[1] < areas[2]
    for small, big in itertools.pairwise(geoms):
        assert small.difference(big).area < 1e-3 * small.area
    # every usable team base lies inside the 5-minute area; the unavailable one is not a source
    inside = shapely.contains_xy(geoms[0].buffer(1e-6), [t[2] for t in TEAMS[:5]],
                                 [t[3] for t in TEAMS[:5]])
    assert inside.all()

    out2 = tmp_path / "each.geojson"
    res = run("isochrones", "--layer", "team_bases", "--minutes", "5", "--each", "--out", out2)
    assert res.exit_code == 0, res.output
    each = json.loads(out2.read_text(encoding="utf-8"))["features"]
    assert sorted(f["properties"]["facility_id"] for f in each) == ["T1", "T2", "T3", "T4", "T5"]
    union = shapely.union_all([shapely.from_geojson(json.dumps(f["geometry"])) for f in each])
    assert union.symmetric_difference(geoms[0]).area < 0.02 * geoms[0].area

    res = run("isochrones", "--layer", "team_bases", "--minutes", "5,x")
    assert res.exit_code == 2 and "positive minutes" in _flat(res)


def test_line_layer_crs_is_required_and_applied(env, tmp_path):
    import geopandas as gpd

    lines = [shapely.LineString([(119.90 + 0.002 * i, 30.0),
                                 (119.902 + 0.002 * i, 30.0)]) for i in range(3)]
    path = tmp_path / "roads.shp"
    gpd.GeoDataFrame({"fclass": ["primary", "residential", "track"]}, geometry=lines,
                     crs=4326).to_file(path)
    path.with_suffix(".prj").unlink()  # a Shapefile that does not say its CRS
    res = run("load-roads", path)
    assert res.exit_code == 2 and "--crs" in _flat(res) and "coordinate system" in _flat(res)
    res = run("load-roads", path, "--crs", "gcj02")
    assert res.exit_code == 0, res.output
    assert "'fclass'" in _flat(res) and "GCJ-02" in _flat(res)
    with env.engine.connect() as c:
        x0 = c.execute(sa.text("SELECT min(ST_XMin(geom)) FROM road_edges")).scalar()
    from emgis.geo.crs import gcj02_to_wgs84

    assert x0 == pytest.approx(float(gcj02_to_wgs84(119.90, 30.0)[0]), abs=1e-7)


def test_migration_0003_downgrades_and_upgrades(db):
    from alembic import command

    from emgis.layers.db import alembic_config, current_revision

    cfg = alembic_config(db.url)
    command.downgrade(cfg, "0002")
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT to_regclass('road_edges')")).scalar() is None
    command.upgrade(cfg, "head")
    assert current_revision(db.engine) >= "0003"
    with db.engine.connect() as c:
        idx = c.execute(sa.text("SELECT indexdef FROM pg_indexes "
                                "WHERE tablename = 'road_edges'")).scalars().all()
    assert any("gist (geom)" in i for i in idx)
