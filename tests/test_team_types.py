"""Nearest teams and service areas by team type (#16, part 1, the command-line doors): a
hazardous-chemicals leak asks for 危化 teams, not the nearest of any type, and the fire
stations' 5-minute areas are drawn from the stations alone."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from conftest import _token
from typer.testing import CliRunner

from emgis.api.cli import app

pytestmark = pytest.mark.postgis


@pytest.fixture
def env(demo_db, monkeypatch, tmp_path):
    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    return demo_db, tmp_path


def _place(engine) -> str:
    with engine.connect() as c:
        lon, lat = c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_units "
            "WHERE level = 'village' AND geom IS NOT NULL ORDER BY code OFFSET 11 LIMIT 1) q")
        ).one()
    return f"{lon},{lat}"


@pytest.mark.parametrize("given", ["fire_station", "消防", "消防救援站"])
def test_nearest_teams_of_one_type_agree_with_brute_force(env, given):
    from emgis.geo.routing import nearest_k, snap_facilities
    from emgis.geo.store import facilities, load_network

    db, tmp = env
    place = _place(db.engine)
    out = tmp / "r.geojson"
    res = CliRunner().invoke(app, ["route", "--from", place, "--to", "team_bases", "--type",
                                   given, "-k", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = [f["properties"]["facility_id"] for f in json.loads(out.read_text())["features"]]
    # brute force: every fire station's time, sorted
    graph = load_network(db.engine, "default", home=db.home)
    fac = facilities(db.engine, "team_bases", team_type="fire_station")
    lon, lat = map(float, place.split(","))
    every = nearest_k(graph, (lon, lat), snap_facilities(graph, fac.lon, fac.lat), len(fac),
                      direction="from_facility")
    assert got == [fac.ext_ids[r.facility] for r in every][:3]
    with db.engine.connect() as c:
        types = set(c.execute(sa.text("SELECT team_type FROM team_bases WHERE ext_id = ANY(:e)"),
                              {"e": got}).scalars())
    assert types == {"fire_station"}


def test_fire_station_service_areas(env):
    db, tmp = env
    out = tmp / "fire.geojson"
    res = CliRunner().invoke(app, ["isochrones", "--layer", "fire", "--minutes", "5", "--out",
                                   str(out)])
    assert res.exit_code == 0, res.output
    with db.engine.connect() as c:
        stations = c.execute(sa.text("SELECT count(*) FROM team_bases WHERE team_type = "
                                     "'fire_station' AND status = 'available'")).scalar()
    assert stations > 0
    assert json.loads(out.read_text())["features"]  # was: 'fire' is not a facility layer


@pytest.mark.bad_input
@pytest.mark.parametrize(("args", "said"), [
    (["--to", "team_bases", "--type", "nosuch"], "is not a team type"),
    (["--to", "shelters", "--type", "消防"], "select teams"),
    (["--to", "fire", "--type", "hazchem"], "means team type fire_station"),
    (["--to", "nowhere"], "is not a facility layer"),
], ids=["unknown-type", "type-on-shelters", "type-against-layer", "unknown-layer"])
def test_wrong_team_filters_are_clear_errors(env, args, said):
    db, _ = env
    res = CliRunner().invoke(app, ["route", "--from", _place(db.engine), *args])
    assert res.exit_code == 2, res.output
    assert said in " ".join(res.output.split())


def test_api_nearest_and_service_areas_by_team_type(client, demo_db):
    """The same door over HTTP: ?team_type= (key or Chinese name) and ?speciality=."""
    from emgis.geo.routing import nearest_k, snap_facilities
    from emgis.geo.store import facilities, load_network

    lon, lat = map(float, _place(demo_db.engine).split(","))
    r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, "layer": "team_bases",
                                                "k": 3, "team_type": "消防"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"]["team_type"] == "fire_station"
    graph = load_network(demo_db.engine, "default", home=demo_db.home)
    fac = facilities(demo_db.engine, "team_bases", team_type="fire_station")
    every = nearest_k(graph, (lon, lat), snap_facilities(graph, fac.lon, fac.lat), len(fac),
                      direction="from_facility")
    want = [int(fac.ids[x.facility]) for x in every][:3]
    assert [f["id"] for f in body["features"]] == want
    # the unfiltered answer is kept apart from the filtered one
    anyone = client.get("/analyses/nearest", params={"lon": lon, "lat": lat,
                                                     "layer": "team_bases", "k": 3}).json()
    assert anyone["query"]["team_type"] is None
    with demo_db.engine.connect() as c:
        spec = c.execute(sa.text("SELECT s FROM team_bases, unnest(specialities) s "
                                 "WHERE status = 'available' LIMIT 1")).scalar()
    if spec is not None:
        r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat,
                                                    "layer": "team_bases", "speciality": spec})
        assert r.status_code == 200, r.text
        ids = [f["id"] for f in r.json()["features"]]
        with demo_db.engine.connect() as c:
            ok = c.execute(sa.text("SELECT bool_and(:s = ANY(specialities)) FROM team_bases "
                                   "WHERE id = ANY(:i)"), {"s": spec, "i": ids}).scalar()
        assert ids and ok
    r = client.get("/analyses/service-areas", params={"layer": "team_bases", "minutes": "5",
                                                      "team_type": "fire_station"})
    assert r.status_code == 200, r.text
    assert r.json()["facilities"] == len(fac) and r.json()["query"]["team_type"] == "fire_station"


@pytest.mark.bad_input
@pytest.mark.parametrize(("params", "said"), [
    ({"layer": "team_bases", "team_type": "nosuch"}, "is not a team type"),
    ({"layer": "shelters", "team_type": "消防"}, "select teams"),
], ids=["unknown-type", "type-on-shelters"])
def test_api_wrong_team_filters_are_400(client, demo_db, params, said):
    lon, lat = map(float, _place(demo_db.engine).split(","))
    r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, **params})
    assert r.status_code == 400 and said in r.text, r.text


# --- what an incident needs: the proposal --------------------------------------------------------

def test_an_incident_is_offered_the_teams_its_kind_needs(client, demo_db):
    """A hazardous-chemicals leak gets 危化 and fire teams, each nearest first with its route and
    ETA, from the norms' incident.team_types rows — not the nearest teams of any type."""
    from emgis.layers.norms import default_norms
    from emgis.shelters.needs import team_needs

    _, auth = _token(demo_db.engine, "commander")
    lon, lat = map(float, _place(demo_db.engine).split(","))
    r = client.post("/incidents", headers=auth, json={
        "title": "化工厂储罐泄漏", "incident_type": "危化品泄漏",
        "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    r = client.get(f"/incidents/{iid}/proposal", params={"k": 2})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["kind"] == "hazchem_leak" and p["kind_known"]
    assert [n["team_type"] for n in p["needs"]] == ["hazchem", "fire_station"]
    assert "local practice" in p["source"]
    for need in p["needs"]:
        direct = client.get("/analyses/nearest", params={
            "lon": lon, "lat": lat, "layer": "team_bases", "k": 2,
            "team_type": need["team_type"]}).json()
        assert [t["id"] for t in need["teams"]] == [f["id"] for f in direct["features"]]
        for t in need["teams"]:
            assert t["eta_min"] > 0 and t["route"]["type"] == "LineString"
    # an unknown kind falls back to the norms' "other" row, and says so
    assert team_needs("外星人入侵", default_norms()).known is False
    assert client.get("/incidents/99999999/proposal").status_code == 404


def test_propose_on_the_command_line(env, client, demo_db):
    _, auth = _token(demo_db.engine, "commander")
    lon, lat = map(float, _place(demo_db.engine).split(","))
    iid = client.post("/incidents", headers=auth, json={
        "title": "河道漫堤", "incident_type": "山洪",
        "geometry": {"type": "Point", "coordinates": [lon, lat]}}).json()["id"]
    res = CliRunner().invoke(app, ["propose", str(iid), "-k", "1"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "洪涝 (flood)" in out and "水域救援队伍" in out and "防汛抗旱队伍" in out
    assert CliRunner().invoke(app, ["propose", "99999999"]).exit_code == 2
