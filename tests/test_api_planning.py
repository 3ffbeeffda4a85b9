"""Planning reads over HTTP on the demo county in a real PostGIS: the four-colour risk areas
(api/planning.py), and checks of the coverage and warning-area answers (api/gaps.py,
api/warning.py) that tests/test_api_warning.py does not make: a cached coverage answer follows a
change of the data, and with the area's roads closed each village still goes to the nearest
open shelter outside it.

Figures are checked against SQL over the stored tables and against travel times computed here
shelter by shelter with geo.routing, not against the code under test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from conftest import _token

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.postgis

GEOJSON = "application/geo+json"


# --- /analyses/risk-areas ------------------------------------------------------------------------

def test_risk_areas_are_the_stored_run_with_the_norms_colours(client, demo_db):
    from emgis.layers.norms import default_norms
    from emgis.risk.levels import risk_levels

    r = client.get("/analyses/risk-areas?kind=admin")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(GEOJSON)
    fc = r.json()
    with demo_db.engine.connect() as c:
        n, area_deg2 = c.execute(sa.text(
            "SELECT count(*), sum(ST_Area(geom)) FROM risk_areas WHERE unit_kind = 'admin'")).one()
        by_level = dict(c.execute(sa.text(
            "SELECT COALESCE(level, 'unrated'), count(*) FROM risk_areas WHERE unit_kind = 'admin' "
            "GROUP BY 1")).all())
        names = dict(c.execute(sa.text("SELECT code, name FROM admin_units "
                                       "WHERE level = 'village'")).all())
    assert fc["type"] == "FeatureCollection" and fc["kind"] == "admin" and fc["note"] is None
    assert len(fc["features"]) == fc["returned"] == n > 0
    assert {k: v for k, v in fc["counts"].items() if v} == by_level
    assert sum(shapely.geometry.shape(f["geometry"]).area
               for f in fc["features"]) == pytest.approx(area_deg2, rel=1e-9)
    colours = {lv.key: lv.colour for lv in risk_levels(default_norms())}
    assert colours["blue"].lower() != "#00ff00"  # the lowest level is blue, never green
    for f in fc["features"]:
        p = f["properties"]
        assert p["colour"] == (colours[p["level"]] if p["level"] else "#9e9e9e")
        assert p["name"] == names[p["unit_code"]] and p["label"].startswith(p["name"])
        assert p["n_points"] == sum(p[f"n_{k}"] for k in colours)
    red = [f for f in fc["features"] if f["properties"]["level"] == "red"]
    assert all("重大风险" in f["properties"]["label"] for f in red)
    assert [lv["key"] for lv in fc["levels"]] == ["red", "orange", "yellow", "blue", None]
    assert client.get("/analyses/risk-areas").json() == fc  # default: the newest run's kind


def test_risk_areas_level_filter_and_bad_parameters(client, demo_db):
    with demo_db.engine.connect() as c:
        want = c.execute(sa.text("SELECT count(*) FROM risk_areas WHERE unit_kind = 'admin' "
                                 "AND level IN ('red', 'orange')")).scalar()
    fc = client.get("/analyses/risk-areas", params={"kind": "admin", "level": "red,橙"}).json()
    assert len(fc["features"]) == want
    assert {f["properties"]["level"] for f in fc["features"]} <= {"red", "orange"}
    r = client.get("/analyses/risk-areas?level=purple")
    assert (r.status_code == 400 and "level='purple'" in r.json()["detail"]
            and "red" in r.json()["detail"])
    assert client.get("/analyses/risk-areas?level=,").status_code == 400
    r = client.get("/analyses/risk-areas?kind=village")
    assert r.status_code == 422 and "kind" in r.text


def test_risk_areas_not_computed_is_an_empty_collection_with_a_note(client, db, tmp_path):
    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    r = client.get("/analyses/risk-areas?kind=grid")  # the demo coloured villages only
    assert r.status_code == 200
    fc = r.json()
    assert fc["features"] == [] and "emgis risk areas" in fc["note"] and "kind=admin" in fc["note"]
    app = create_app(ApiSettings(), engine=db.engine, db_settings=DatabaseSettings(home=tmp_path))
    with TestClient(app) as empty:
        r = empty.get("/analyses/risk-areas")
        assert r.status_code == 200, r.text
        fc = r.json()
        assert fc["features"] == [] and fc["kind"] is None and "emgis risk areas" in fc["note"]


def test_risk_area_colours_follow_the_norm_overrides(client, demo_db):
    def override(value: str | None) -> None:
        with demo_db.engine.begin() as c:
            c.execute(sa.text("DELETE FROM norm_overrides WHERE key = 'risk.colour.red'"))
            if value is not None:
                c.execute(sa.text("INSERT INTO norm_overrides (key, value, set_by) "
                                  "VALUES ('risk.colour.red', :v, 'test')"),
                          {"v": value})

    try:
        override("#AA0011")
        fc = client.get("/analyses/risk-areas?level=red").json()
        assert fc["levels"][0]["colour"] == "#aa0011"
        assert all(f["properties"]["colour"] == "#aa0011" for f in fc["features"])
        override("crimson")
        r = client.get("/analyses/risk-areas")
        assert r.status_code == 409 and "risk.colour.red" in r.json()["detail"]
    finally:
        override(None)
    assert client.get("/analyses/risk-areas").status_code == 200


# --- coverage: the cache follows the data --------------------------------------------------------

def test_coverage_answer_follows_a_shelter_closing(client, demo_db):
    with demo_db.engine.connect() as c:
        total, = c.execute(sa.text(
            "SELECT sum(population) FROM population "
            "WHERE year = (SELECT max(year) FROM population)")).one()
        sid, = c.execute(sa.text("SELECT id FROM shelters WHERE status = 'open' "
                                 "ORDER BY capacity DESC NULLS LAST "
                                 "LIMIT 1")).one()
    before = client.get("/analyses/coverage?layer=shelters").json()
    assert before["population"] == pytest.approx(float(total))
    # why `emgis site` may count differently (each shelter to its own class's standard)
    assert "own duration_class" in before["standards_note"]
    hits = client.app.state.results.hits
    assert client.get("/analyses/coverage?layer=shelters").json() == before
    assert client.app.state.results.hits > hits  # served from app.state.results
    _, auth = _token(demo_db.engine, "planner")
    try:
        assert client.patch(f"/shelters/{sid}", json={"status": "closed"},
                            headers=auth).status_code == 200
        after = client.get("/analyses/coverage?layer=shelters").json()
        assert after["facilities"] == before["facilities"] - 1  # not the stale answer
        assert after["covered"] <= before["covered"]
        assert after["population"] == pytest.approx(float(total))
    finally:
        assert client.patch(f"/shelters/{sid}", json={"status": "open"},
                            headers=auth).status_code == 200
    assert (client.get("/analyses/coverage?layer=shelters").json()["facilities"]
            == before["facilities"])


# --- warning area with the roads closed ----------------------------------------------------------

def test_closed_roads_each_village_goes_to_the_nearest_open_shelter_outside(client, demo_db):
    from emgis.geo.routing import closures_from_polygons, nearest_facility_times, snap
    from emgis.geo.store import facilities, load_network

    with demo_db.engine.connect() as c:
        lon, lat = c.execute(sa.text(
            "SELECT ST_X(geom), ST_Y(geom) FROM shelters WHERE status = 'open' ORDER BY id DESC "
            "LIMIT 1")).one()
        pts = {r[0]: (r[1], r[2]) for r in c.execute(sa.text(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM admin_units "
            "WHERE level = 'village'"))}
    area = shapely.Point(lon, lat).buffer(0.015)
    r = client.post("/analyses/warning-area?close_roads=true", json=shapely.geometry.mapping(area))
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["close_roads"] and ans["villages_total"] >= 1
    inside = {s["id"] for s in ans["shelters_inside"]}
    assert inside
    graph = load_network(demo_db.engine, "default", home=demo_db.home)
    closed = closures_from_polygons(graph, area)
    assert closed.any()
    fac = facilities(demo_db.engine, "shelters")
    candidates = [j for j in range(len(fac.ids)) if fac.ids[j] not in inside]
    for v in ans["villages"][:6]:
        s = snap(graph, *pts[v["code"]], closures=closed)
        times = {}
        for j in candidates:  # one shelter at a time, not the multi-source search under test
            t, _ = nearest_facility_times(graph, ([fac.lon[j]], [fac.lat[j]]), closures=closed,
                                          direction="to_facility")
            times[int(fac.ids[j])] = s.time_s + t[s.node]
        best = min(times.values())
        if not np.isfinite(best):
            assert v["shelter_id"] is None
            continue
        assert v["shelter_id"] not in inside
        assert v["time_min"] == pytest.approx(best / 60, abs=0.06), v
        # no other open shelter outside is nearer
        assert v["time_min"] <= min(times.values()) / 60 + 0.06
        assert times[v["shelter_id"]] / 60 == pytest.approx(v["time_min"], abs=0.06)


def test_warning_area_unknown_incident_names_the_parameter(client):
    r = client.get("/analyses/warning-area?incident=987654")
    assert r.status_code == 404 and "incident=987654" in r.json()["detail"]
    r = client.get("/analyses/warning-area?incident=abc")
    assert r.status_code == 422 and "incident" in r.text
