"""The HTTP API: health, OGC API – Features, tokens and roles, live writes, analyses.

Runs the real app (``create_app``) on a real PostGIS through Starlette's TestClient. The
demo county (roads included) is loaded once into a database shared by this module's
read-mostly tests; tests that need an empty or broken database use their own.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import _serve, _token

with warnings.catch_warnings():  # starlette asks for httpx2; httpx still works (test extra)
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from emgis.api.http.app import create_app
from emgis.api.http.auth import revoke_token
from emgis.api.http.features import COLLECTIONS, MAX_LIMIT
from emgis.layers.db import make_engine
from emgis.layers.settings import ApiSettings, DatabaseSettings

pytestmark = pytest.mark.postgis

GEOJSON = "application/geo+json"


# --- fixtures ------------------------------------------------------------------------------------

def _links(doc: dict) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in doc["links"]}


# --- service -------------------------------------------------------------------------------------

def test_health_openapi_and_static_assets(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["db"] == "ok"
    kept = r.json()["kept"]  # what the nearest answers keep in memory
    assert kept["route_trees_bytes"] >= 0
    assert {"stores", "bytes", "budget_bytes", "k", "building"} <= set(kept["nearest_stores"])
    spec = client.get("/openapi.json").json()
    for path in ("/collections/{collectionId}/items", "/incidents", "/analyses/nearest",
                 "/shelters/{shelter_id}", "/depot_stock/{depot}/{item}"):
        assert path in spec["paths"]
    assert client.get("/static/leaflet/leaflet.css").status_code == 200
    # CORS is off by default
    r = client.get("/collections", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_health_503_when_database_is_down(db):
    app = create_app(engine=db.engine, db_settings=DatabaseSettings(home=Path("/nonexistent")))
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        # the database "goes away": the engine now points at a port nobody listens on
        app.state.engine.dispose()
        app.state.engine = make_engine("postgresql+psycopg2://nobody:x@127.0.0.1:1/nothing")
        r = c.get("/health")
        assert r.status_code == 503 and r.json()["db"] == "unreachable"
        r = c.get("/collections/shelters/items")
        assert r.status_code == 503
        assert r.headers["retry-after"].isdigit()
        app.state.engine.dispose()
        app.state.engine = db.engine  # back: the same app recovers without a restart
        assert c.get("/health").status_code == 200


# --- OGC API – Features --------------------------------------------------------------------------

def test_landing_conformance_collections(client):
    land = client.get("/").json()
    rels = _links(land)
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"].endswith("/openapi.json")
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf
    colls = client.get("/collections").json()["collections"]
    assert [c["id"] for c in colls] == list(COLLECTIONS)
    assert {"admin_units", "shelters", "depots", "team_bases", "risk_points", "hazards",
            "risk_areas", "hazard_zones", "incidents", "road_edges", "experts"} <= set(COLLECTIONS)
    shelters = client.get("/collections/shelters").json()
    assert _links(shelters)["items"].endswith("/collections/shelters/items")
    minx, miny, maxx, maxy = shelters["extent"]["spatial"]["bbox"][0]
    assert minx < maxx and miny < maxy and 70 < minx < 140


def test_items_page_through_every_collection(client, demo_db):
    with demo_db.engine.connect() as c:
        counts = {cid: c.execute(sa.text(f"SELECT count(*) FROM {coll.source} t")).scalar_one()
                  for cid, coll in COLLECTIONS.items()}
    # the demo county has no area incident and no field report yet; every other layer has rows
    assert {cid for cid, n in counts.items() if n == 0} <= {"incident_areas", "field_reports"}, \
        counts
    for cid, coll in COLLECTIONS.items():
        limit = 5000 if cid == "road_edges" else 17
        url = f"/collections/{cid}/items?limit={limit}"
        seen, pages = [], 0
        while url:
            r = client.get(url)
            assert r.status_code == 200, (cid, r.text[:300])
            assert r.headers["content-type"].startswith(GEOJSON)
            fc = r.json()
            assert fc["type"] == "FeatureCollection"
            assert fc["numberMatched"] == counts[cid]
            assert fc["numberReturned"] == len(fc["features"]) <= limit
            for f in fc["features"]:
                assert f["type"] == "Feature" and "geom" not in f["properties"]
                assert f["properties"][coll.key] == f["id"]
                if cid not in ("admin_units", "population"):  # units known by a point only
                    assert f["geometry"]["type"] in ("Point", "Polygon", "MultiPolygon",
                                                     "LineString")
            seen += [f["id"] for f in fc["features"]]
            pages += 1
            links = _links(fc)
            url = links.get("next")
        assert len(seen) == len(set(seen)) == counts[cid], cid
        assert pages == max(1, -(-counts[cid] // limit))  # an empty layer: one empty page
    # one feature by id, and the same feature in the list
    one = client.get("/collections/shelters/items?limit=1").json()["features"][0]
    r = client.get(f"/collections/shelters/items/{one['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith(GEOJSON)
    assert r.json()["properties"]["name"] == one["properties"]["name"]
    village = client.get("/collections/admin_units/items?limit=1").json()["features"][0]
    assert (client.get(f"/collections/admin_units/items/{village['id']}").json()["id"]
            == village["id"])


def test_bbox_filter_and_limits(client, demo_db):
    with demo_db.engine.connect() as c:
        x0, y0, x1, y1 = c.execute(sa.text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom)::geometry e FROM shelters) s")).one()
        box = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
        inside = c.execute(sa.text("SELECT count(*) FROM shelters "
                                   "WHERE geom && ST_MakeEnvelope(:a, :b, :c, :d, 4326)"),
                           dict(zip("abcd", box, strict=True))).scalar_one()
        total = c.execute(sa.text("SELECT count(*) FROM shelters")).scalar_one()
    assert 0 < inside < total
    fc = client.get("/collections/shelters/items",
                    params={"bbox": ",".join(map(str, box)), "limit": 1000}).json()
    assert fc["numberMatched"] == fc["numberReturned"] == inside
    for f in fc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        eps = 1e-8  # ST_AsGeoJSON writes 9 decimals
        assert box[0] - eps <= lon <= box[2] + eps and box[1] - eps <= lat <= box[3] + eps
    # a bbox away from the county matches nothing
    assert client.get("/collections/shelters/items?bbox=0,0,1,1").json()["numberMatched"] == 0
    for bad in ("1,2,3", "a,b,c,d", "10,10,5,5", "0,0,200,1"):
        r = client.get(f"/collections/shelters/items?bbox={bad}")
        assert r.status_code == 400 and "bbox" in r.json()["detail"], bad
    assert client.get("/collections/shelters/items?limit=0").status_code == 422
    assert client.get("/collections/shelters/items?offset=-1").status_code == 422
    r = client.get(f"/collections/road_edges/items?limit={MAX_LIMIT * 5}")
    assert r.json()["numberReturned"] == MAX_LIMIT
    assert f"limit={MAX_LIMIT}" in _links(r.json())["next"]


def test_not_found(client):
    assert client.get("/collections/nope").status_code == 404
    assert client.get("/collections/nope/items").status_code == 404
    assert client.get("/collections/shelters/items/999999").status_code == 404
    assert client.get("/collections/shelters/items/abc").status_code == 404
    assert client.get("/collections/admin_units/items/000000000000").status_code == 404
    r = client.get("/collections/pg_user/items")  # only whitelisted tables
    assert r.status_code == 404 and "shelters" in r.json()["detail"]


# --- tokens and roles ----------------------------------------------------------------------------

def test_writes_refused_without_the_right_token(client, demo_db):
    body = {"name": "test", "type": "fire",
            "geometry": {"type": "Point", "coordinates": [119.85, 31.0]}}
    r = client.post("/incidents", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "token" in r.json()["detail"]
    assert client.post("/incidents", json=body,
                       headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.post("/incidents", json=body,
                       headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401
    _, viewer = _token(demo_db.engine, "viewer")
    assert client.post("/incidents", json=body, headers=viewer).status_code == 403
    _, planner = _token(demo_db.engine, "planner")
    r = client.post("/incidents", json=body, headers=planner)
    assert r.status_code == 403 and "commander" in r.json()["detail"]
    assert client.patch("/shelters/1", json={"occupancy_delta": 1},
                        headers=viewer).status_code == 403
    assert client.patch("/shelters/1", json={"occupancy_delta": 1}).status_code == 401
    name, old = _token(demo_db.engine, "admin")
    revoke_token(demo_db.engine, name)
    assert client.patch("/shelters/1", json={"occupancy_delta": 1}, headers=old).status_code == 401
    # reads need no token
    assert client.get("/collections/incidents/items").status_code == 200


def test_token_cli(db, monkeypatch):
    from typer.testing import CliRunner

    import emgis.api.cli.serve  # noqa: F401  (registers `serve` and `token`)
    from emgis.api.cli import app
    from emgis.api.http.auth import authenticate

    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    runner = CliRunner()
    res = runner.invoke(app, ["token", "create", "duty-officer", "--role", "commander"])
    assert res.exit_code == 0, res.output
    token = res.stdout.strip().splitlines()[-1]
    who = authenticate(db.engine, token)
    assert who is not None and who.name == "duty-officer" and who.role == "commander"
    with db.engine.connect() as c:
        stored = c.execute(sa.text("SELECT token_hash FROM api_tokens")).scalar_one()
    assert stored != token and len(stored) == 64
    assert runner.invoke(app, ["token", "create", "x", "--role", "god"]).exit_code != 0
    assert runner.invoke(app, ["token", "create", "duty-officer"]).exit_code != 0  # name taken
    res = runner.invoke(app, ["token", "list"])
    assert "duty-officer" in res.output and token not in res.output
    assert runner.invoke(app, ["token", "revoke", "duty-officer"]).exit_code == 0
    assert authenticate(db.engine, token) is None
    assert runner.invoke(app, ["token", "revoke", "nobody"]).exit_code == 1
    assert "serve" in runner.invoke(app, ["--help"]).output


# --- incidents and live state --------------------------------------------------------------------

def test_incident_create_update_audited(client, demo_db):
    name, auth = _token(demo_db.engine, "commander")
    body = {"name": "河道漫堤", "type": "flood", "level": "IV",
            "geometry": {"type": "Point", "coordinates": [119.85, 31.05]}}
    r = client.post("/incidents", json=body, headers=auth)
    assert r.status_code == 201, r.text
    feat = r.json()
    iid = feat["id"]
    assert feat["properties"]["status"] == "reported" and feat["geometry"]["type"] == "Point"
    ring = [[119.84, 31.04], [119.86, 31.04], [119.86, 31.06], [119.84, 31.06], [119.84, 31.04]]
    r = client.patch(f"/incidents/{iid}",
                     json={"status": "处置中",
                           "geometry": {"type": "Polygon", "coordinates": [ring]}},
                     headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["properties"]["status"] == "responding"
            and r.json()["geometry"]["type"] == "Polygon")
    got = client.get(f"/collections/incidents/items/{iid}").json()
    assert got["properties"]["title"] == "河道漫堤" and got["geometry"]["type"] == "Polygon"
    with demo_db.engine.connect() as c:
        rows = c.execute(sa.text("SELECT action, actor FROM audit_log "
                                 "WHERE table_name = 'incidents' "
                                 "AND row_key = :k ORDER BY id"), {"k": str(iid)}).all()
    assert [tuple(r) for r in rows] == [("insert", name), ("update", name)]
    # invalid input: every problem listed, nothing written
    bad = {"name": "x", "type": "fire", "status": "exploded",
           "geometry": {"type": "Point", "coordinates": [500, 30]}}
    r = client.post("/incidents", json=bad, headers=auth)
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["problems"]} == {"status", "geometry"}
    assert client.post("/incidents", json={**body, "geometry": {"type": "LineString",
                                                                "coordinates": [[0, 0], [1, 1]]}},
                       headers=auth).status_code == 422
    bowtie = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]
    assert client.post("/incidents",
                       json={**body, "geometry": {"type": "Polygon", "coordinates": [bowtie]}},
                       headers=auth).status_code == 422
    assert client.post("/incidents", json={"name": "x"}, headers=auth).status_code == 422
    assert client.patch("/incidents/99999999", json={"status": "closed"},
                        headers=auth).status_code == 404


def test_concurrent_occupancy_updates_are_all_counted(client, demo_db):
    name, auth = _token(demo_db.engine, "planner")
    with demo_db.engine.begin() as c:
        sid, start = c.execute(sa.text(
            "UPDATE shelters SET capacity = occupancy + 100 "
            "WHERE id = (SELECT min(id) FROM shelters) "
            "RETURNING id, occupancy")).one()
    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(lambda _: client.patch(f"/shelters/{sid}",
                                                     json={"occupancy_delta": 1},
                                                     headers=auth).status_code, range(50)))
    assert codes == [200] * 50
    with demo_db.engine.connect() as c:
        assert c.execute(sa.text("SELECT occupancy FROM shelters WHERE id = :i"),
                         {"i": sid}).scalar_one() == start + 50
        n = c.execute(sa.text("SELECT count(*) FROM audit_log "
                              "WHERE table_name = 'shelters' AND actor = :a"),
                      {"a": name}).scalar_one()
    assert n == 50
    # bounds: never above capacity, never below 0, and nothing changes when refused
    r = client.patch(f"/shelters/{sid}", json={"occupancy_delta": 51}, headers=auth)
    assert r.status_code == 409 and r.json()["capacity"] == start + 100
    r = client.patch(f"/shelters/{sid}", json={"occupancy": 0}, headers=auth)
    assert r.status_code == 200 and r.json()["properties"]["occupancy"] == 0
    assert client.patch(f"/shelters/{sid}", json={"occupancy_delta": -1},
                        headers=auth).status_code == 409
    r = client.patch(f"/shelters/{sid}", json={"status": "closed"}, headers=auth)
    assert r.status_code == 200 and r.json()["properties"]["status"] == "closed"
    assert client.patch(f"/shelters/{sid}", json={"status": "open"},
                        headers=auth).status_code == 200
    assert client.patch(f"/shelters/{sid}", json={"status": "burning"},
                        headers=auth).status_code == 422
    assert client.patch(f"/shelters/{sid}", json={"occupancy": 1, "occupancy_delta": 1},
                        headers=auth).status_code == 422
    assert client.patch(f"/shelters/{sid}", json={}, headers=auth).status_code == 422
    assert client.patch("/shelters/99999999", json={"occupancy_delta": 1},
                        headers=auth).status_code == 404


def test_team_and_depot_stock_updates(client, demo_db):
    name, auth = _token(demo_db.engine, "planner")
    with demo_db.engine.connect() as c:
        tid = c.execute(sa.text("SELECT min(id) FROM team_bases")).scalar_one()
        dep, item, qty = c.execute(sa.text("SELECT d.ext_id, s.item, s.quantity FROM depot_stock s "
                                           "JOIN depots d ON d.id = s.depot_id "
                                           "ORDER BY d.id, s.item LIMIT 1")).one()
    r = client.patch(f"/team_bases/{tid}", json={"status": "deployed",
                                                 "position": {"type": "Point",
                                                              "coordinates": [119.81, 31.02]}},
                     headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["status"] == "deployed"
    assert r.json()["geometry"]["coordinates"] == [119.81, 31.02]
    assert client.patch(f"/team_bases/{tid}", json={"status": "available"},
                        headers=auth).status_code == 200
    assert client.patch(f"/team_bases/{tid}",
                        json={"position": {"type": "Polygon", "coordinates": []}},
                        headers=auth).status_code == 422
    r = client.patch(f"/depot_stock/{dep}/{item}", json={"quantity_delta": -qty}, headers=auth)
    assert r.status_code == 200 and r.json()["quantity"] == 0
    r = client.patch(f"/depot_stock/{dep}/{item}", json={"quantity_delta": -1}, headers=auth)
    assert r.status_code == 409
    # a new item exists only once added on purpose (tests/test_stock_items.py)
    assert client.patch(f"/depot_stock/{dep}/新物资", json={"quantity_delta": 5, "unit": "箱"},
                        headers=auth).status_code == 422
    assert client.post("/stock-items", json={"name": "新物资", "unit": "箱"},
                       headers=auth).status_code == 201
    r = client.patch(f"/depot_stock/{dep}/新物资", json={"quantity_delta": 5, "unit": "箱"},
                     headers=auth)
    assert r.status_code == 200 and r.json()["quantity"] == 5
    assert client.patch(f"/depot_stock/{dep}/无此物资", json={"quantity_delta": -5},
                        headers=auth).status_code == 422  # not a stock item at all
    assert client.patch(f"/depot_stock/{dep}/急救包", json={"quantity_delta": -5},
                        headers=auth).status_code == 404  # an item this depot does not hold
    assert client.patch("/depot_stock/nope/x", json={"quantity_delta": 1},
                        headers=auth).status_code == 404
    with demo_db.engine.connect() as c:
        actions = c.execute(sa.text("SELECT table_name, action FROM audit_log WHERE actor = :a "
                                    "ORDER BY id"),
                            {"a": name}).all()
    assert [tuple(a) for a in actions] == [("team_bases", "update"), ("team_bases", "update"),
                                           ("depot_stock", "update"), ("stock_items", "insert"),
                                           ("depot_stock", "insert")]


# --- analyses ------------------------------------------------------------------------------------

def test_nearest_resources_and_avoiding_an_area(client, demo_db):
    with demo_db.engine.connect() as c:
        lon, lat = c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_units "
            "WHERE level = 'village' AND geom IS NOT NULL "
            "ORDER BY code OFFSET 40 LIMIT 1) s")).one()
    r = client.get("/analyses/nearest",
                   params={"lon": lon, "lat": lat, "layer": "team_bases", "k": 3})
    assert r.status_code == 200, r.text
    fc = r.json()
    assert r.headers["content-type"].startswith(GEOJSON)
    assert len(fc["features"]) == 3
    times = [f["properties"]["time_s"] for f in fc["features"]]
    assert times == sorted(times) and times[0] > 0
    for f in fc["features"]:
        assert f["geometry"]["type"] == "LineString" and len(f["geometry"]["coordinates"]) >= 2
    # close the roads around the middle of the fastest route with an incident's area
    coords = fc["features"][0]["geometry"]["coordinates"]
    mx, my = coords[len(coords) // 2]
    ring = [[mx - 0.004, my - 0.004], [mx + 0.004, my - 0.004], [mx + 0.004, my + 0.004],
            [mx - 0.004, my + 0.004], [mx - 0.004, my - 0.004]]
    _, auth = _token(demo_db.engine, "commander")
    iid = client.post("/incidents", json={"name": "landslide blocks road", "type": "landslide",
                                          "geometry": {"type": "Polygon", "coordinates": [ring]}},
                      headers=auth).json()["id"]
    r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, "k": 3, "avoid": iid})
    assert r.status_code == 200, r.text
    fc2 = r.json()
    assert fc2["closed_edges"] > 0
    best = {f["id"]: f["properties"]["time_s"] for f in fc["features"]}
    for f in fc2["features"]:
        if f["id"] in best:
            assert f["properties"]["time_s"] >= best[f["id"]] - 1e-6
    # a point incident closes no roads; an absent one is 404
    point_iid = client.post("/incidents", json={"name": "p", "type": "fire",
                                                "geometry": {"type": "Point",
                                                             "coordinates": [lon, lat]}},
                            headers=auth).json()["id"]
    r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, "avoid": point_iid})
    assert r.status_code == 400 and "area" in r.json()["detail"]
    assert client.get("/analyses/nearest",
                      params={"lon": lon, "lat": lat, "avoid": 99999999}).status_code == 404
    # parameters are checked
    assert client.get("/analyses/nearest", params={"lon": 500, "lat": lat}).status_code == 422
    r = client.get("/analyses/nearest", params={"lon": 30, "lat": 0})  # far from the county's roads
    assert r.status_code == 400 and "outside the road network" in r.json()["detail"]
    assert client.get("/analyses/nearest", params={"lat": lat}).status_code == 422
    assert client.get("/analyses/nearest",
                      params={"lon": lon, "lat": lat, "layer": "pubs"}).status_code == 422
    assert client.get("/analyses/nearest",
                      params={"lon": lon, "lat": lat, "k": 0}).status_code == 422
    r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, "network": "other"})
    assert r.status_code == 409 and "emgis load roads" in r.json()["detail"]
    # shelters and depots too
    for layer in ("shelters", "depots"):
        r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, "layer": layer, "k": 2})
        assert r.status_code == 200 and len(r.json()["features"]) == 2


def test_service_areas(client):
    r = client.get("/analyses/service-areas", params={"layer": "shelters", "minutes": "5,10,15"})
    assert r.status_code == 200, r.text
    fc = r.json()
    assert [f["properties"]["minutes"] for f in fc["features"]] == [5, 10, 15]
    areas = [f["properties"]["area_km2"] for f in fc["features"]]
    assert 0 < areas[0] <= areas[1] <= areas[2]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in fc["features"])
    # asked again: the same answer, from the result cache (service areas take seconds)
    hits = client.app.state.results.hits
    again = client.get("/analyses/service-areas",
                       params={"layer": "shelters", "minutes": "15,10,5"})
    assert again.json() == fc and client.app.state.results.hits == hits + 1
    for bad in ("abc", "0", "-5", "5,1000", ",", "1,2,3,4,5,6,7,8,9"):
        r = client.get("/analyses/service-areas", params={"minutes": bad})
        assert r.status_code == 400 and "minutes" in r.json()["detail"], bad
    assert client.get("/analyses/service-areas", params={"layer": "x"}).status_code == 422


def test_graph_loaded_once_per_network_version(client, demo_db):
    cache = client.app.state.graphs
    g1 = cache.get(demo_db.engine, "default", demo_db.home)
    assert cache.get(demo_db.engine, "default", demo_db.home) is g1
    with demo_db.engine.begin() as c:  # a rebuilt network has a new built_at
        c.execute(sa.text("UPDATE road_networks SET built_at = now() + interval '1 second' "
                          "WHERE name = 'default'"))
    assert cache.get(demo_db.engine, "default", demo_db.home) is not g1


# --- what the API keeps in memory (api/changes.py) -----------------------------------------------

@contextlib.contextmanager
def _statements(engine):
    """Count the SQL statements sent through ``engine`` (the change feed's own connection is
    not)."""
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _village_point(engine, offset: int) -> tuple[float, float]:
    with engine.connect() as c:
        return tuple(c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_units "
            "WHERE level = 'village' AND geom IS NOT NULL ORDER BY code OFFSET :o LIMIT 1) s"),
            {"o": offset}).one())


def _wait_for(predicate, timeout_s: float = 5.0) -> float:
    import time

    t0 = time.perf_counter()
    while not predicate():
        assert time.perf_counter() - t0 < timeout_s, "not seen in time"
        time.sleep(0.01)
    return time.perf_counter() - t0


def test_nearest_answers_from_memory_the_same_as_from_the_database(client, demo_db):
    assert client.app.state.changes.listening
    lon, lat = _village_point(demo_db.engine, 7)
    plain = create_app(ApiSettings(cache=False, route_trees_mb=0), engine=demo_db.engine,
                       db_settings=DatabaseSettings(home=demo_db.home))
    for layer, direction in (("team_bases", "from_facility"), ("shelters", "to_facility"),
                             ("depots", "from_facility")):
        params = {"lon": lon, "lat": lat, "layer": layer, "k": 3, "direction": direction}
        client.get("/analyses/nearest", params=params)  # keeps what it read
        with _statements(demo_db.engine) as sql:
            kept = client.get("/analyses/nearest", params=params)
        assert kept.status_code == 200 and sql == [], sql  # nothing asked of the database
        with TestClient(plain) as p, _statements(demo_db.engine) as sql:
            fresh = p.get("/analyses/nearest", params=params)
        assert sql, "the uncached app reads the database"
        a, b = kept.json(), fresh.json()
        assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]], layer
        for fa, fb in zip(a["features"], b["features"], strict=True):
            assert fa["properties"]["time_s"] == pytest.approx(fb["properties"]["time_s"], abs=0.11)
            assert fa["geometry"]["coordinates"][0] == fb["geometry"]["coordinates"][0]
            assert fa["geometry"]["coordinates"][-1] == fb["geometry"]["coordinates"][-1]
    trees = client.app.state.graphs.get(demo_db.engine, "default",
                                        demo_db.home)._cache[("trees", "from_facility")]
    assert len(trees) > 0


def test_writes_are_seen_at_once_through_the_api_and_soon_from_outside(client, demo_db):
    lon, lat = _village_point(demo_db.engine, 21)
    params = {"lon": lon, "lat": lat, "layer": "team_bases", "k": 3}

    def nearest_ids():
        return [f["id"] for f in client.get("/analyses/nearest", params=params).json()["features"]]

    first = nearest_ids()
    _, auth = _token(demo_db.engine, "planner")
    with demo_db.engine.connect() as c:
        home = c.execute(sa.text("SELECT ST_AsGeoJSON(geom) FROM team_bases WHERE id = :i"),
                         {"i": first[2]}).scalar()
    try:
        # through the API: the very next request reads it (no waiting)
        r = client.patch(f"/team_bases/{first[0]}", json={"status": "deployed"}, headers=auth)
        assert r.status_code == 200, r.text
        assert first[0] not in nearest_ids()
        client.patch(f"/team_bases/{first[0]}", json={"status": "available"}, headers=auth)
        assert nearest_ids() == first
        # outside the API (psql, the CLI, another worker): seen once PostgreSQL's notification
        # arrives
        with demo_db.engine.begin() as c:
            c.execute(sa.text("UPDATE team_bases SET status = 'unavailable' WHERE id = :i"),
                      {"i": first[1]})
        waited = _wait_for(lambda: first[1] not in nearest_ids(), timeout_s=2.0)
        assert waited < 2.0
        # a team that moves next to the place becomes the nearest (its new tree is grown)
        with demo_db.engine.begin() as c:
            c.execute(sa.text("UPDATE team_bases SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326) "
                              "WHERE id = :i"),
                      {"x": lon + 0.0003, "y": lat, "i": first[2]})
        _wait_for(lambda: nearest_ids()[0] == first[2], timeout_s=2.0)
    finally:
        with demo_db.engine.begin() as c:
            c.execute(sa.text("UPDATE team_bases SET status = 'available' WHERE id = :i"),
                      {"i": first[1]})
        client.patch(f"/team_bases/{first[2]}", json={"position": json.loads(home)}, headers=auth)
    assert nearest_ids() == first


def test_off_road_speed_override_is_used_and_followed(client, demo_db):
    """The norm overrides in force (road.speed_kmh.offroad) set the time to walk to the road; a
    change
    of them (here in SQL, as `emgis norms set` writes) reaches the next answers."""
    from emgis.layers.norms import default_norms

    lon, lat = _village_point(demo_db.engine, 50)
    # a field ~500 m off
    params = {"lon": lon + 0.004, "lat": lat + 0.004, "layer": "shelters", "k": 1}

    def first():
        f = client.get("/analyses/nearest", params=params).json()["features"][0]
        return f["id"], f["properties"]["time_s"]

    fid, before = first()
    speed = default_norms().number("road.speed_kmh.offroad")
    try:
        with demo_db.engine.begin() as c:
            c.execute(sa.text("INSERT INTO norm_overrides (key, value, note, set_by) VALUES "
                              "('road.speed_kmh.offroad', :v, 'test: twice as fast', 'test')"),
                      {"v": str(2 * speed)})
        _wait_for(lambda: first()[1] < before - 1, timeout_s=2.0)
        assert first()[0] == fid or first()[1] < before
    finally:
        with demo_db.engine.begin() as c:
            c.execute(sa.text("DELETE FROM norm_overrides WHERE key = 'road.speed_kmh.offroad'"))
    _wait_for(lambda: first()[1] == before, timeout_s=2.0)


def test_caching_pauses_while_the_change_feed_is_lost_and_resumes(client, demo_db):
    feed = client.app.state.changes
    lon, lat = _village_point(demo_db.engine, 33)
    params = {"lon": lon, "lat": lat, "layer": "shelters", "k": 2}
    want = client.get("/analyses/nearest", params=params).json()["features"]
    with demo_db.engine.begin() as c:  # as a database restart or a dropped connection would
        n = c.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name = 'emgis-changes' "
                              "AND datname = current_database()")).scalar()
    assert n >= 1
    _wait_for(lambda: not feed.listening or feed.version(()) is None, timeout_s=5.0)
    with demo_db.engine.begin() as c:  # a change nobody is told about while not listening
        c.execute(sa.text("UPDATE shelters SET status = 'closed' WHERE id = :i"),
                  {"i": want[0]["id"]})
    try:
        # read from the database, not from memory
        got = client.get("/analyses/nearest", params=params)
        assert (got.status_code == 200
                and want[0]["id"] not in [f["id"] for f in got.json()["features"]])
        # listening again within its retry interval
        _wait_for(lambda: feed.listening, timeout_s=5.0)
        hits = client.app.state.memo.hits
        client.get("/analyses/nearest", params=params)
        client.get("/analyses/nearest", params=params)
        assert client.app.state.memo.hits > hits
    finally:
        with demo_db.engine.begin() as c:
            c.execute(sa.text("UPDATE shelters SET status = 'open' WHERE id = :i"),
                      {"i": want[0]["id"]})
    _wait_for(lambda: [f["id"] for f in
                       client.get("/analyses/nearest", params=params).json()["features"]]
              == [f["id"] for f in want], timeout_s=2.0)


def test_analyses_without_a_network(db, tmp_path):
    app = create_app(engine=db.engine, db_settings=DatabaseSettings(home=tmp_path))
    with TestClient(app) as c:
        r = c.get("/analyses/nearest", params={"lon": 120, "lat": 30})
        assert r.status_code == 409
        assert "emgis load roads" in r.json()["detail"]
        assert c.get("/analyses/service-areas").status_code == 409
        # empty layers page fine
        fc = c.get("/collections/road_edges/items").json()
        assert fc["numberMatched"] == 0 and fc["features"] == [] and "next" not in _links(fc)


def test_serve_command_runs_the_app_with_uvicorn(db, monkeypatch, tmp_path):
    import uvicorn
    from typer.testing import CliRunner

    import emgis.api.cli.serve  # noqa: F401
    from emgis.api.cli import app

    seen = {}

    def fake_run(application, host, port, **kw):
        seen.update(app=application, host=host, port=port)
        with TestClient(application) as c:
            seen["health"] = c.get("/health").status_code

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["serve", "--port", "8123"])
    assert res.exit_code == 0, res.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123 and seen["health"] == 200
    assert "http://127.0.0.1:8123/" in res.output


def test_serve_with_several_workers(db, tmp_path):
    """`emgis serve --workers 2`: worker processes answer on one port; Ctrl-C stops them all."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, EMGIS_DATABASE_URL=db.url, EMGIS_HOME=str(tmp_path),
               EMGIS_MAP_TILES="none")
    exe = Path(sys.executable).with_name("emgis")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "no answer within 60 s"
            time.sleep(0.2)
        workers = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "spawn_main"],
                                 capture_output=True, text=True).stdout.split()
        assert len(workers) == 2, workers
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert all(http.get("/collections").status_code == 200 for _ in range(20))
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "2 workers" in " ".join(out.split())
        assert not any(Path(f"/proc/{w}").exists() for w in workers)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_cors_only_when_configured(db, tmp_path):
    app = create_app(ApiSettings(cors_origins=["http://gis.county.local"]), engine=db.engine,
                     db_settings=DatabaseSettings(home=tmp_path))
    with TestClient(app) as c:
        r = c.get("/conformance", headers={"Origin": "http://gis.county.local"})
        assert r.headers["access-control-allow-origin"] == "http://gis.county.local"
        r = c.get("/conformance", headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in r.headers


def test_create_app_needs_an_engine_or_url(monkeypatch):
    monkeypatch.delenv("EMGIS_DATABASE_URL", raising=False)
    with pytest.raises(ValueError, match="emgis serve"):
        create_app()



# --- a real server (uvicorn on loopback) ---------------------------------------------------------

def test_owslib_lists_collections_and_pages_items(client, demo_db):
    """An OGC API – Features client (OWSLib) reads the layers over HTTP."""
    from owslib.ogcapi.features import Features

    with demo_db.engine.connect() as c:
        counts = {cid: c.execute(sa.text(f"SELECT count(*) FROM {coll.source} t")).scalar_one()
                  for cid, coll in COLLECTIONS.items()}
    with _serve(client.app) as base:
        w = Features(base)
        assert {c["id"] for c in w.collections()["collections"]} == set(COLLECTIONS)
        assert ("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
                in w.conformance()["conformsTo"])
        for cid in COLLECTIONS:
            if cid == "road_edges":
                continue  # paged above through the same endpoint; large
            assert w.collection(cid)["id"] == cid
            seen, offset = [], 0
            while True:
                page = w.collection_items(cid, limit=25, offset=offset)
                seen += [f["id"] for f in page["features"]]
                if not any(link["rel"] == "next" for link in page["links"]):
                    break
                offset += page["numberReturned"]
            assert len(seen) == len(set(seen)) == counts[cid], cid

def test_server_survives_a_database_restart(tmp_path):
    """uvicorn serving the app; PostgreSQL stops (503 + Retry-After) and restarts (200, no server
    restart)."""
    import httpx

    from emgis.layers.db import upgrade
    from emgis.layers.pgserver import ClusterError, LocalCluster

    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    tmp_path.chmod(0o755)
    cluster = LocalCluster(home, fast=True)
    try:
        cluster.init()
    except (ClusterError, OSError) as exc:
        from conftest import missing

        missing(f"cannot start a PostgreSQL cluster: {exc}")
    engine = None
    try:
        url = cluster.url()
        upgrade(url)
        engine = make_engine(url)
        app = create_app(engine=engine, db_settings=DatabaseSettings(home=home))
        feed = app.state.changes
        with _serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/health").json()["status"] == "ok"
            assert http.get("/collections/shelters/items").status_code == 200
            assert feed.listening
            cluster.stop()
            r = http.get("/health")
            assert r.status_code == 503 and r.headers["retry-after"].isdigit()
            r = http.get("/collections/shelters/items")
            assert r.status_code == 503 and r.headers["retry-after"].isdigit()
            _wait_for(lambda: feed.version(()) is None)  # nothing is answered from memory meanwhile
            cluster.start()
            assert cluster.url() == url, "the restarted server moved to another port"
            assert http.get("/health").status_code == 200
            assert http.get("/collections/shelters/items").status_code == 200
            # the change feed listens again by itself
            _wait_for(lambda: feed.listening, timeout_s=10)
    finally:
        if engine is not None:
            engine.dispose()
        cluster.destroy()


def test_api_and_cli_agree_on_the_default_direction(client, demo_db):
    """Found by a user: `emgis route --to shelters` measured people going to the shelter, the
    API the shelter coming to the people (its default was from_facility for every layer)."""
    lon, lat = _village_point(demo_db.engine, 3)
    for layer, want in (("shelters", "to_facility"), ("team_bases", "from_facility"),
                        ("depots", "from_facility")):
        r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, "layer": layer})
        assert r.status_code == 200, r.text
        assert r.json()["query"]["direction"] == want, layer
        r = client.get("/analyses/service-areas", params={"layer": layer, "minutes": "5"})
        assert r.status_code == 200, r.text
        assert r.json()["query"]["direction"] == want, layer


def test_incident_fields_are_named_as_in_the_layer(client, demo_db):
    """Found by a user: files and /collections/incidents say title / incident_type, POST and
    PATCH wanted name / type. Both names are accepted now; the layer's are documented."""
    _, auth = _token(demo_db.engine, "commander")
    geom = {"type": "Point", "coordinates": list(_village_point(demo_db.engine, 5))}
    r = client.post("/incidents", headers=auth, json={"title": "桥梁受损", "incident_type": "flood",
                                                      "geometry": geom})
    assert r.status_code == 201, r.text
    p = r.json()["properties"]
    assert (p["title"], p["incident_type"]) == ("桥梁受损", "flood")
    iid = r.json()["id"]
    r = client.patch(f"/incidents/{iid}", headers=auth, json={"incident_type": "landslide"})
    assert r.status_code == 200 and r.json()["properties"]["incident_type"] == "landslide"
    r = client.patch(f"/incidents/{iid}", headers=auth, json={"type": "fire", "name": "起火"})
    assert r.status_code == 200, r.text
    assert (r.json()["properties"]["incident_type"], r.json()["properties"]["title"]) == \
        ("fire", "起火")
    schema = client.get("/openapi.json").json()["components"]["schemas"]["IncidentIn"]
    assert {"title", "incident_type"} <= set(schema["properties"])
