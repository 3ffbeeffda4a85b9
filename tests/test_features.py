"""The feature API through the app: paging by key, unknown parameters, one geometry type per
collection, the joined collections, queryables / filters / CQL2 / sortby, CRS, Part 4 edits."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import _token

from emgis.api.http.features import COLLECTIONS, DEFAULT_LIMIT, MAX_LIMIT

GEOJSON = "application/geo+json"


def _links(doc: dict) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in doc["links"]}


def _ids(client, url: str, **params) -> list:
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text[:300]
    return [f["id"] for f in r.json()["features"]]


def test_limit_maximum_and_default_are_in_the_api_description(client):
    spec = client.get("/openapi.json").json()
    params = spec["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    limit = next(p for p in params if p["name"] == "limit")
    assert limit["schema"]["maximum"] == MAX_LIMIT
    assert limit["schema"]["default"] == DEFAULT_LIMIT


def test_next_link_carries_the_last_key_and_offset_pages_agree(client):
    first = client.get("/collections/road_edges/items?limit=500").json()
    nxt = _links(first)["next"]
    last = first["features"][-1]["id"]
    assert f"after={last}" in nxt and "offset" not in nxt
    second = client.get(nxt).json()
    assert [f["id"] for f in second["features"]] == _ids(
        client, "/collections/road_edges/items", limit=500, offset=500)
    assert second["numberMatched"] == first["numberMatched"]
    # the last page by offset: the page query reads keys first (plan uses the key index)
    n = first["numberMatched"]
    tail = client.get(f"/collections/road_edges/items?limit=10&offset={n - 3}").json()
    assert tail["numberReturned"] == 3 and "next" not in _links(tail)


@pytest.mark.bad_input
@pytest.mark.parametrize("query", [
    pytest.param("statuss=open", id="misspelt-property"),
    pytest.param("foo=1", id="unknown-parameter"),
    pytest.param("limit=5&page=2", id="page-is-not-a-parameter"),
])
def test_unknown_query_parameters_are_a_400(client, query):
    r = client.get(f"/collections/shelters/items?{query}")
    assert r.status_code == 400, r.text
    assert "unknown query parameter" in r.json()["detail"]
    # a cache-buster (the live map's Leaflet-Realtime adds _=<time>) is not a filter
    assert client.get("/collections/shelters/items?_=1733290000000").status_code == 200


@pytest.mark.bad_input
@pytest.mark.parametrize("query", [
    pytest.param("filter=status ===", id="cql2-syntax"),
    pytest.param("filter=phone = '1'", id="not-a-queryable"),
    pytest.param("filter=capacity > 'x'", id="number-vs-text"),
    pytest.param("filter-lang=ecql&filter=capacity > 1", id="unknown-filter-lang"),
    pytest.param("sortby=nothing", id="sort-by-unknown"),
    pytest.param("capacity=lots", id="property-filter-not-a-number"),
    pytest.param("crs=EPSG:3857", id="crs-not-served"),
    pytest.param("after=x", id="after-not-an-id"),
    pytest.param("after=3&sortby=name", id="after-with-sortby"),
])
def test_bad_filters_are_a_400_naming_the_fix(client, query):
    r = client.get(f"/collections/shelters/items?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["detail"]


def test_one_geometry_type_per_collection(client, demo_db):
    for cid, coll in COLLECTIONS.items():
        if coll.geom_type == "Geometry":
            assert cid == "incidents"  # kept mixed for the live map; split below
            continue
        fc = client.get(f"/collections/{cid}/items?limit={MAX_LIMIT}").json()
        types = {f["geometry"]["type"] for f in fc["features"] if f["geometry"]}
        assert types <= {coll.geom_type}, (cid, types)
        assert client.get(f"/collections/{cid}").json()["geometryType"] == coll.geom_type
    with demo_db.engine.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM incidents")).scalar_one()
    pts = client.get("/collections/incident_points/items").json()["numberMatched"]
    areas = client.get("/collections/incident_areas/items").json()["numberMatched"]
    assert pts + areas == n and pts > 0


def test_depot_stock_and_population_are_served_at_their_places(client, demo_db):
    with demo_db.engine.connect() as c:
        stock = c.execute(sa.text("SELECT count(*) FROM depot_stock")).scalar_one()
        pop = c.execute(sa.text("SELECT count(*) FROM population")).scalar_one()
    fc = client.get(f"/collections/depot_stock/items?limit={MAX_LIMIT}").json()
    assert fc["numberMatched"] == stock > 0
    f = fc["features"][0]
    assert f["geometry"]["type"] == "Point" and f["properties"]["depot_name"]
    from urllib.parse import quote

    one = client.get(f"/collections/depot_stock/items/{quote(f['id'])}")
    assert one.status_code == 200 and one.json()["properties"]["item"] == f["properties"]["item"]
    fc = client.get("/collections/population/items?limit=5").json()
    assert fc["numberMatched"] == pop > 0
    assert {"code", "year", "population", "name"} <= set(fc["features"][0]["properties"])


def test_hidden_columns_are_never_served_nor_filterable(client, monkeypatch):
    import dataclasses

    from emgis.api.http import features

    hidden = dataclasses.replace(COLLECTIONS["team_bases"],
                                 hidden=("personnel",),
                                 props={k: v for k, v in COLLECTIONS["team_bases"].props.items()
                                        if k != "personnel"})
    monkeypatch.setitem(features.COLLECTIONS, "team_bases", hidden)
    f = client.get("/collections/team_bases/items?limit=1").json()["features"][0]
    assert "personnel" not in f["properties"]
    assert "personnel" not in client.get("/collections/team_bases/queryables").json()["properties"]
    assert client.get("/collections/team_bases/items?personnel=1").status_code == 400
    assert client.get("/collections/team_bases/items?filter=personnel>1").status_code == 400
    assert "personnel" not in client.get(f"/collections/team_bases/items/{f['id']}").text


def test_queryables_property_filters_and_sortby(client, demo_db):
    q = client.get("/collections/shelters/queryables")
    assert q.status_code == 200 and q.headers["content-type"].startswith("application/schema+json")
    props = q.json()["properties"]
    assert props["capacity"]["type"] == "integer" and props["status"]["type"] == "string"
    assert props["geometry"]["format"] == "geometry-point"
    with demo_db.engine.connect() as c:
        status = c.execute(sa.text("SELECT status FROM shelters LIMIT 1")).scalar_one()
        want = c.execute(sa.text("SELECT id FROM shelters WHERE status = :s ORDER BY id"),
                         {"s": status}).scalars().all()
        by_cap = c.execute(sa.text("SELECT id FROM shelters ORDER BY capacity DESC NULLS LAST, "
                                   "id")).scalars().all()
    assert _ids(client, "/collections/shelters/items", status=status, limit=1000) == want
    assert _ids(client, "/collections/shelters/items", sortby="-capacity", limit=1000) == by_cap


def test_cql2_and_bbox_give_the_features_sql_gives(client, demo_db):
    with demo_db.engine.connect() as c:
        x0, y0, x1, y1 = c.execute(sa.text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom)::geometry e FROM shelters) s")).one()
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        want = c.execute(sa.text(
            "SELECT id FROM shelters WHERE (capacity > 100 OR capacity IS NULL) "
            "AND NOT status IN ('closed') AND name LIKE '%' "
            "AND ST_Intersects(geom, ST_MakeEnvelope(:a, :b, :c, :d, 4326)) "
            "AND ST_Within(geom, ST_MakeEnvelope(:a, :b, :e, :f, 4326)) ORDER BY id"),
            {"a": x0, "b": y0, "c": xm, "d": y1, "e": x1, "f": ym}).scalars().all()
        between = c.execute(sa.text("SELECT id FROM shelters WHERE capacity BETWEEN 100 AND 2000 "
                                    "ORDER BY id")).scalars().all()
    cql = (f"(capacity > 100 OR capacity IS NULL) AND NOT status IN ('closed') "
           f"AND name LIKE '%' AND S_WITHIN(geom, POLYGON(({x0} {y0}, {x1} {y0}, {x1} {ym}, "
           f"{x0} {ym}, {x0} {y0})))")
    got = _ids(client, "/collections/shelters/items", filter=cql,
               bbox=f"{x0},{y0},{xm},{y1}", limit=1000)
    assert got == want and len(want) > 0
    assert _ids(client, "/collections/shelters/items", limit=1000,
                filter="capacity BETWEEN 100 AND 2000") == between
    # an injection attempt is a literal, never SQL
    r = client.get("/collections/shelters/items",
                   params={"filter": "name = 'x''; DROP TABLE shelters; --'"})
    assert r.status_code == 200 and r.json()["numberMatched"] == 0


def test_crs_axis_order_and_content_crs(client, demo_db):
    with demo_db.engine.connect() as c:
        sid, lon, lat = c.execute(sa.text("SELECT id, ST_X(geom), ST_Y(geom) FROM shelters "
                                          "ORDER BY id LIMIT 1")).one()
    r = client.get(f"/collections/shelters/items/{sid}")
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    r = client.get(f"/collections/shelters/items/{sid}?crs=http://www.opengis.net/def/crs/EPSG/0/4490")
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    y, x = r.json()["geometry"]["coordinates"]  # latitude first
    assert abs(y - lat) < 1e-6 and abs(x - lon) < 1e-6
    doc = client.get("/collections/shelters").json()
    gk = [c for c in doc["crs"] if c.rsplit("/", 1)[-1] not in ("CRS84", "4490", "4326")]
    assert len(gk) == 1 and 4534 <= int(gk[0].rsplit("/", 1)[-1]) <= 4554
    assert doc["storageCrs"].endswith("CRS84")
    north, east = client.get(f"/collections/shelters/items/{sid}",
                             params={"crs": gk[0]}).json()["geometry"]["coordinates"]
    assert 2_000_000 < north < 6_000_000 and 300_000 < east < 700_000  # northing first
    # bbox-crs: a box in the zone (northing first) finds the shelter
    box = f"{north - 10},{east - 10},{north + 10},{east + 10}"
    assert sid in _ids(client, "/collections/shelters/items", bbox=box, **{"bbox-crs": gk[0]})
    box = f"{lat - 1e-4},{lon - 1e-4},{lat + 1e-4},{lon + 1e-4}"
    assert sid in _ids(client, "/collections/shelters/items", bbox=box,
                       **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4490"})


def _audit(engine, table: str, actor: str) -> int:
    with engine.connect() as c:
        return c.execute(sa.text("SELECT count(*) FROM audit_log WHERE table_name = :t "
                                 "AND actor = :a"), {"t": table, "a": actor}).scalar_one()


def test_part4_edits_land_audited_and_need_the_role(client, demo_db):
    eng = demo_db.engine
    cname, commander = _token(eng, "commander")
    pname, planner = _token(eng, "planner")
    _, viewer = _token(eng, "viewer")
    feat = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [119.85, 31.0]},
            "properties": {"title": "OGC edit", "incident_type": "fire"}}
    with eng.connect() as c:
        lon, lat = c.execute(sa.text("SELECT ST_X(geom), ST_Y(geom) FROM shelters "
                                     "LIMIT 1")).one()
    feat["geometry"]["coordinates"] = [lon, lat]
    assert client.post("/collections/incidents/items", json=feat).status_code == 401
    assert client.post("/collections/incidents/items", json=feat, headers=viewer).status_code == 403
    assert client.post("/collections/incidents/items", json=feat,
                       headers=planner).status_code == 403
    r = client.post("/collections/incident_points/items", json=feat, headers=commander)
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert r.headers["location"].endswith(f"/collections/incident_points/items/{fid}")
    r = client.patch(f"/collections/incidents/items/{fid}",
                     json={"properties": {"status": "responding"}}, headers=commander)
    assert r.status_code == 200 and r.json()["properties"]["status"] == "responding"
    assert _audit(eng, "incidents", cname) == 2
    # shelters' state: a planner may; the capacity guard holds
    with eng.connect() as c:
        sid, cap = c.execute(sa.text("SELECT id, capacity FROM shelters WHERE capacity > 0 "
                                     "ORDER BY id LIMIT 1")).one()
    body = {"type": "Feature", "properties": {"occupancy": 1}}
    assert client.put(f"/collections/shelters/items/{sid}", json=body,
                      headers=viewer).status_code == 403
    r = client.put(f"/collections/shelters/items/{sid}", json=body, headers=planner)
    assert r.status_code == 200 and r.json()["properties"]["occupancy"] == 1
    r = client.patch(f"/collections/shelters/items/{sid}",
                     json={"properties": {"occupancy": cap + 1}}, headers=planner)
    assert r.status_code == 409
    assert _audit(eng, "shelters", pname) == 1
    # stock and teams
    fid_stock = client.get("/collections/depot_stock/items?limit=1").json()["features"][0]["id"]
    from urllib.parse import quote

    r = client.patch(f"/collections/depot_stock/items/{quote(fid_stock)}",
                     json={"properties": {"quantity": 7}}, headers=planner)
    assert r.status_code == 200 and r.json()["properties"]["quantity"] == 7, r.text
    assert _audit(eng, "depot_stock", pname) == 1
    r = client.patch("/collections/team_bases/items/1",
                     json={"properties": {"status": "deployed"}}, headers=planner)
    assert r.status_code == 200 and r.json()["properties"]["status"] == "deployed"
    # read-only collections and methods
    assert client.patch("/collections/road_edges/items/1", json={"properties": {"name": "x"}},
                        headers=commander).status_code == 405
    assert client.delete(f"/collections/shelters/items/{sid}",
                         headers=commander).status_code == 405
    assert client.delete(f"/collections/incidents/items/{fid}", headers=planner).status_code == 403
    assert client.delete(f"/collections/incidents/items/{fid}",
                         headers=commander).status_code == 204
    assert client.get(f"/collections/incidents/items/{fid}").status_code == 404
    assert _audit(eng, "incidents", cname) == 3


@pytest.mark.bad_input
@pytest.mark.parametrize("body", [
    pytest.param({"type": "Feature", "properties": {"status": "exploded"}}, id="status-unknown"),
    pytest.param({"type": "Feature", "properties": {"name": "x"}}, id="read-only-property"),
    pytest.param({"type": "Feature", "properties": {}}, id="nothing-to-change"),
    pytest.param({"properties": {"status": "open"}, "type": "Point"}, id="not-a-feature"),
])
def test_part4_bad_edits_change_nothing(client, demo_db, body):
    from conftest import table_checksums

    _, commander = _token(demo_db.engine, "commander")
    before = table_checksums(demo_db.engine, ["incidents"])
    r = client.patch("/collections/incidents/items/1", json=body, headers=commander)
    assert r.status_code == 422, r.text
    assert table_checksums(demo_db.engine, ["incidents"]) == before
