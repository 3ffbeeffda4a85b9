"""The warning area ("last mile") over HTTP, on the demo county in a real PostGIS.

Figures are checked independently: the population against a SQL sum over the same villages,
each village's shelter against travel times computed here for every open shelter outside the
area, shelters inside the area never used as destinations.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import shapely
import sqlalchemy as sa

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def area(demo_db):
    """A polygon around the centre of three neighbouring villages and a shelter."""
    with demo_db.engine.connect() as c:
        lon, lat = c.execute(sa.text(
            "SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM shelters "
            "WHERE status = 'open' "
            "ORDER BY id LIMIT 1")).one()
    return shapely.Point(lon, lat).buffer(0.02)


def _sql_population(engine, area) -> tuple[float, int]:
    with engine.connect() as c:
        return tuple(c.execute(sa.text(
            "SELECT COALESCE(sum(p.population), 0), count(*) FROM admin_units u "
            "JOIN population p ON p.code = u.code "
            "AND p.year = (SELECT max(year) FROM population) WHERE u.level = 'village' AND "
            "ST_Intersects(u.geom, ST_GeomFromText(:w, 4326))"), {"w": area.wkt}).one())


def test_post_area_counts_people_and_sends_every_village_to_the_nearest_open_shelter_outside(
        client, demo_db, area):
    from emgis.geo.routing import nearest_facility_times, snap
    from emgis.geo.store import facilities, load_network

    r = client.post("/analyses/warning-area", json={"type": "Feature", "properties": {},
                                                    "geometry": shapely.geometry.mapping(area)})
    assert r.status_code == 200, r.text
    ans = r.json()
    pop, n = _sql_population(demo_db.engine, area)
    assert ans["villages_total"] == n > 0
    assert ans["population_total"] == pytest.approx(float(pop))
    inside = {s["id"] for s in ans["shelters_inside"]}
    assert inside, "the area was drawn around a shelter"
    used = {v["shelter_id"] for v in ans["villages"]}
    assert not used & inside  # never sent into the area
    # independent: the time to every open shelter outside, for each village
    graph = load_network(demo_db.engine, "default", home=demo_db.home)
    fac = facilities(demo_db.engine, "shelters")
    out = ~np.isin(fac.ids, list(inside))
    with demo_db.engine.connect() as c:
        pts = {r[0]: (r[1], r[2]) for r in c.execute(sa.text(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM admin_units "
            "WHERE level = 'village'"))}
    for v in ans["villages"][:8]:
        lon, lat = pts[v["code"]]
        s = snap(graph, lon, lat)
        best = np.inf
        for j in np.flatnonzero(out):
            t, _ = nearest_facility_times(graph, ([fac.lon[j]], [fac.lat[j]]))
            best = min(best, s.time_s + t[s.node])
        assert v["time_min"] == pytest.approx(best / 60, abs=0.06), v
    # people sent to each shelter add up to the warned population with a route
    sent = sum(s["assigned_population"] for s in ans["shelters_used"])
    routed = sum(v["population"] for v in ans["villages"] if v["shelter_id"] is not None)
    assert sent == pytest.approx(routed)


def test_xlsx_has_the_same_rows(client, demo_db, area):
    import openpyxl

    body = shapely.geometry.mapping(area)
    js = client.post("/analyses/warning-area", json=body).json()
    r = client.post("/analyses/warning-area?format=xlsx", json=body)
    assert r.status_code == 200
    assert ("attachment" in r.headers["content-disposition"]
            and ".xlsx" in r.headers["content-disposition"])
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["汇总 summary", "村庄 villages", "避难场所 shelters",
                             "定位 placement", "未定位 not placed"]
    placed = list(wb["定位 placement"].values)
    assert sum(row[-1] for row in placed[1:]) == pytest.approx(js["placement"]["total"])
    rows = list(wb["村庄 villages"].values)
    assert rows[0][0] == "区划代码 code" and len(rows) - 1 == js["villages_total"]
    assert sum(row[2] for row in rows[1:]) == pytest.approx(js["population_total"])
    shelters = list(wb["避难场所 shelters"].values)
    assert len(shelters) - 1 == len(js["shelters_inside"]) + len(js["shelters_used"])


def test_incident_area_and_point_with_radius(client, demo_db):
    with demo_db.engine.connect() as c:
        flood = c.execute(sa.text("SELECT id FROM incidents "
                                  "WHERE GeometryType(geom) LIKE '%POLYGON'")).scalar()
        fire = c.execute(sa.text("SELECT id FROM incidents "
                                 "WHERE GeometryType(geom) = 'POINT'")).scalar()
    r = client.get(f"/analyses/warning-area?incident={flood}")
    assert r.status_code == 200, r.text
    assert r.json()["villages_total"] >= 1
    r = client.get(f"/analyses/warning-area?incident={fire}")
    assert r.status_code == 400 and "radius_m" in r.json()["detail"]
    small = client.get(f"/analyses/warning-area?incident={fire}&radius_m=500").json()
    big = client.get(f"/analyses/warning-area?incident={fire}&radius_m=3000").json()
    assert 1 <= small["villages_total"] <= big["villages_total"]
    assert big["population_total"] >= small["population_total"] > 0
    closed = client.get(f"/analyses/warning-area?incident={fire}&radius_m=3000"
                        "&close_roads=true").json()
    assert closed["close_roads"] and closed["villages_total"] == big["villages_total"]
    assert client.get("/analyses/warning-area?incident=999999").status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"type": "Point", "coordinates": [119.8, 31.0]}, "geometry"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
     "geometry"),  # bow-tie
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}, "geometry"),
    ({"nothing": 1}, "geometry"),
])
def test_bad_areas_are_refused_with_the_field_named(client, body, field):
    r = client.post("/analyses/warning-area", json=body)
    assert r.status_code == 422, r.text
    assert field in r.text


# --- coverage and gaps ----------------------------------------------------------------------------

def test_coverage_summary_matches_the_census_and_the_gap_list(client, demo_db):
    with demo_db.engine.connect() as c:
        total = float(c.execute(sa.text(
            "SELECT sum(population) FROM population "
            "WHERE year = (SELECT max(year) FROM population)")).scalar())
    r = client.get("/analyses/coverage?layer=shelters")
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["population"] == pytest.approx(total)
    assert s["covered"] + s["uncovered"] == pytest.approx(total)
    assert 0 < s["covered_share"] <= 1
    assert sum(t["population"] for t in s["townships"]) == pytest.approx(total)
    assert sum(t["uncovered"] for t in s["townships"]) == pytest.approx(s["uncovered"])
    # places under capacity, as `emgis coverage` counts them (the same service)
    cap = s["capacity"]
    assert cap["sheltered"] + cap["unserved"] + cap["capacity_unknown"] == pytest.approx(total,
                                                                                        abs=1)
    assert all("capacity_unknown" in t and "underserved" in t for t in s["townships"])
    gaps = client.get("/analyses/gaps?layer=shelters").json()
    assert sum(f["properties"]["population"]
               for f in gaps["features"]) == pytest.approx(s["uncovered"])
    ranks = [f["properties"]["rank"] for f in gaps["features"]]
    assert ranks == list(range(1, len(ranks) + 1))
    # each listed village is out of reach: slower than its standard, or unreachable
    for f in gaps["features"]:
        p = f["properties"]
        assert p["time_min"] is None or p["time_min"] > p["standard_min"] - 0.01
    blobs = client.get("/analyses/gaps?layer=shelters&clusters=true").json()
    assert blobs["type"] == "FeatureCollection"
    if gaps["features"]:
        assert blobs["features"] and all(b["geometry"]["type"] in ("Polygon", "MultiPolygon")
                                         for b in blobs["features"])
    # cached: the second answer is the same object's figures
    assert client.get("/analyses/coverage?layer=shelters").json() == s
    fire = client.get("/analyses/coverage?layer=fire").json()
    assert fire["standard_min"] == [5.0] and fire["covered"] <= fire["population"]
    assert client.get("/analyses/coverage?layer=bogus").status_code == 422
    assert (client.get("/analyses/coverage?layer=team_bases").json()
            == client.get("/analyses/coverage?layer=teams").json())


def test_the_command_line_gives_the_http_answer(client, demo_db, area, tmp_path, monkeypatch):
    """`emgis warning-area` calls the same service as the route: same villages, people, shelters."""
    import json

    from typer.testing import CliRunner

    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    f = tmp_path / "area.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(area)}]}))
    res = CliRunner().invoke(app,
                             ["warning-area", "--area", str(f), "--out", str(tmp_path / "a.json")])
    assert res.exit_code == 0, res.output
    assert "villages warned" in res.output
    cli = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    http = client.post("/analyses/warning-area", json=shapely.geometry.mapping(area)).json()
    assert (cli["villages"] == http["villages"]
            and cli["population_total"] == http["population_total"])
    assert cli["shelters_used"] == http["shelters_used"]
    res = CliRunner().invoke(app, ["warning-area", "--incident", "99999999", "--radius-m", "500"])
    assert res.exit_code == 2 and "no incident 99999999" in res.output
    res = CliRunner().invoke(app, ["warning-area"])
    assert res.exit_code == 2 and "--incident ID" in res.output


@pytest.mark.bad_input
def test_shelters_of_unknown_capacity_are_named_and_never_taken_as_zero(client, demo_db, area):
    with demo_db.engine.begin() as c:
        ids = [r[0] for r in c.execute(sa.text(
            "SELECT id FROM shelters WHERE ST_Intersects(geom, ST_GeomFromText(:w, 4326))"),
            {"w": area.wkt})]
        assert ids
        saved = c.execute(sa.text("SELECT id, capacity, capacity_source FROM shelters "
                                  "WHERE id = :i"), {"i": ids[0]}).one()
        c.execute(sa.text("UPDATE shelters SET capacity = NULL, capacity_source = 'unknown' "
                          "WHERE id = :i"), {"i": ids[0]})
    try:
        r = client.post("/analyses/warning-area", json=shapely.geometry.mapping(area))
        assert r.status_code == 200, r.text
        ans = r.json()
        unknown = {s["id"] for s in ans["shelters_capacity_unknown"]}
        assert ids[0] in unknown
        row = next(s for s in ans["shelters_inside"] if s["id"] == ids[0])
        assert row["capacity"] is None
        assert "no known capacity" in ans["note"]
        assert ans["placement"]["total"] == pytest.approx(ans["population_total"])
    finally:
        with demo_db.engine.begin() as c:
            c.execute(sa.text("UPDATE shelters SET capacity = :c, capacity_source = :s "
                              "WHERE id = :i"), {"c": saved[1], "s": saved[2], "i": saved[0]})
