"""Dispatch records and the incident timeline (#16, part 2) through the API's door: a commander
assigns teams, depot stock and shelter places to an incident; a team moves dispatched → en_route
→ on_scene → returned and its status follows; stock and places are guarded; every action is a
timeline row with its actor; of 20 concurrent requests for one team exactly one wins."""

from __future__ import annotations

import threading

import httpx
import pytest
import sqlalchemy as sa
from conftest import _serve, _token

pytestmark = pytest.mark.postgis


def _incident(client, auth, *, area: bool = False, offset: int = 3, engine=None) -> int:
    eng = engine or client.app.state.engine
    with eng.connect() as c:
        lon, lat = c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_units "
            "WHERE level = 'village' AND geom IS NOT NULL ORDER BY code OFFSET :o LIMIT 1) q"),
            {"o": offset}).one()
    d = 0.004
    geom = ({"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d],
                                                  [lon + d, lat + d], [lon - d, lat + d],
                                                  [lon - d, lat - d]]]}
            if area else {"type": "Point", "coordinates": [lon, lat]})
    r = client.post("/incidents", headers=auth, json={
        "title": "调度测试 dispatch test", "incident_type": "山洪" if area else "危化品泄漏",
        "level": "III", "geometry": geom})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _team(engine, *, team_type: str | None = None, skip: int = 0) -> tuple[int, str]:
    with engine.connect() as c:
        return tuple(c.execute(sa.text(
            "SELECT t.id, t.ext_id FROM team_bases t WHERE t.status = 'available' "
            "AND (CAST(:tt AS text) IS NULL OR t.team_type = :tt) AND NOT EXISTS (SELECT 1 FROM "
            "incident_assignments a WHERE a.team_id = t.id) ORDER BY t.id OFFSET :s LIMIT 1"),
            {"tt": team_type, "s": skip}).one())


def _status(engine, team_id: int) -> str:
    with engine.connect() as c:
        return c.execute(sa.text("SELECT status FROM team_bases WHERE id = :i"),
                         {"i": team_id}).scalar()


def test_a_team_moves_through_its_states_and_its_status_follows(client, demo_db):
    name, auth = _token(demo_db.engine, "commander")
    iid = _incident(client, auth)
    tid, ext = _team(demo_db.engine)
    r = client.post(f"/incidents/{iid}/assignments", headers=auth,
                    json={"kind": "team", "resource": ext, "note": "先期处置"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["state"] == "dispatched" and a["team_id"] == tid and a["assigned_by"] == name
    assert a["eta_s"] > 0 and a["route"]["type"] == "LineString"
    assert a["allowed_moves"] == ["en_route", "cancelled"]
    assert _status(demo_db.engine, tid) == "deployed"
    for state in ("en_route", "on_scene", "returned"):
        r = client.patch(f"/incidents/{iid}/assignments/{a['id']}", headers=auth,
                         json={"state": state})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == state and r.json()[f"{state}_at"] is not None
        assert _status(demo_db.engine, tid) == ("available" if state == "returned"
                                                else "deployed")
    # the team is free again: it can be assigned anew
    r = client.post(f"/incidents/{iid}/assignments", headers=auth,
                    json={"kind": "team", "resource": tid})
    assert r.status_code == 201, r.text
    listed = client.get(f"/incidents/{iid}/assignments").json()
    assert [x["state"] for x in listed["assignments"]] == ["returned", "dispatched"]
    assert listed["active"] == 1
    # the timeline: every action with its actor and time, newest last
    events = client.get(f"/incidents/{iid}/timeline").json()["events"]
    assert [e["kind"] for e in events] == ["assigned", "moved", "moved", "moved", "assigned"]
    assert all(e["actor"] == name and e["at"] for e in events)
    assert events == sorted(events, key=lambda e: (e["at"], e["id"]))
    assert "先期处置" in events[0]["text"] and "en_route → on_scene" in events[2]["text"]
    # and the audit log has it under the token's name
    with demo_db.engine.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM audit_log WHERE actor = :a AND "
                              "table_name = 'incident_assignments'"), {"a": name}).scalar()
    assert n >= 5


@pytest.mark.bad_input
@pytest.mark.parametrize(("path", "allowed"), [
    (["on_scene"], "en_route, cancelled"),                      # skipping en route
    (["en_route", "dispatched"], "on_scene, returned"),         # going back
    (["cancelled", "en_route"], "none (it is final)"),          # after the end
], ids=["skip-en-route", "back-to-dispatched", "after-cancel"])
def test_an_illegal_move_is_409_naming_the_state_and_the_allowed_moves(client, demo_db, path,
                                                                       allowed):
    _, auth = _token(demo_db.engine, "commander")
    iid = _incident(client, auth)
    tid, _ = _team(demo_db.engine)
    aid = client.post(f"/incidents/{iid}/assignments", headers=auth,
                      json={"kind": "team", "resource": tid}).json()["id"]
    for state in path[:-1]:
        assert client.patch(f"/incidents/{iid}/assignments/{aid}", headers=auth,
                            json={"state": state}).status_code == 200
    before = client.get(f"/incidents/{iid}/timeline").json()["events"]
    r = client.patch(f"/incidents/{iid}/assignments/{aid}", headers=auth,
                     json={"state": path[-1]})
    assert r.status_code == 409, r.text
    assert f"Allowed moves: {allowed}" in r.json()["detail"]
    assert r.json()["state"] == (path[-2] if len(path) > 1 else "dispatched")
    assert client.get(f"/incidents/{iid}/timeline").json()["events"] == before


def test_twenty_concurrent_assignments_of_one_team_give_one_success(demo_db):
    """20 clients at once, through uvicorn and PostgreSQL: the partial unique index lets one
    commit; 19 get 409 naming the assignment that won; the team is deployed once."""
    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    app = create_app(ApiSettings(), engine=demo_db.engine,
                     db_settings=DatabaseSettings(home=demo_db.home))
    _, auth = _token(demo_db.engine, "commander")
    tid, _ = _team(demo_db.engine, skip=5)
    with _serve(app) as base:
        with httpx.Client(base_url=base, timeout=60) as warm:
            iid = _incident(warm, auth, offset=9, engine=demo_db.engine)
            # the graph is loaded once before the race (the race is about the database)
            warm.get(f"/incidents/{iid}/proposal").raise_for_status()
        start = threading.Barrier(20)
        answers: list[httpx.Response] = []
        lock = threading.Lock()

        def go() -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                start.wait()
                r = http.post(f"/incidents/{iid}/assignments", headers=auth,
                              json={"kind": "team", "resource": tid})
            with lock:
                answers.append(r)

        threads = [threading.Thread(target=go) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 19, [(r.status_code, r.text[:200]) for r in answers]
    won = next(r.json() for r in answers if r.status_code == 201)
    for r in answers:
        if r.status_code == 409:
            assert r.json()["assignment"] == won["id"], r.text
            assert "already assigned" in r.json()["detail"]
    with demo_db.engine.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM incident_assignments WHERE team_id = :t"),
                      {"t": tid}).scalar()
        events = c.execute(sa.text("SELECT count(*) FROM incident_events WHERE "
                                   "incident_id = :i"), {"i": iid}).scalar()
    assert n == 1 and events == 1
    assert _status(demo_db.engine, tid) == "deployed"


def test_depot_stock_is_taken_by_a_guarded_update(client, demo_db):
    _, auth = _token(demo_db.engine, "commander")
    iid = _incident(client, auth)
    with demo_db.engine.connect() as c:
        dep, ext, item, have = c.execute(sa.text(
            "SELECT d.id, d.ext_id, s.item, s.quantity FROM depot_stock s JOIN depots d ON "
            "d.id = s.depot_id WHERE d.status = 'active' AND s.quantity >= 10 "
            "ORDER BY d.id, s.item LIMIT 1")).one()

    def held() -> float:
        with demo_db.engine.connect() as c:
            return c.execute(sa.text("SELECT quantity FROM depot_stock WHERE depot_id = :d "
                                     "AND item = :i"), {"d": dep, "i": item}).scalar()

    r = client.post(f"/incidents/{iid}/assignments", headers=auth, json={
        "kind": "depot_stock", "resource": ext, "item": item, "quantity": 4})
    assert r.status_code == 201, r.text
    assert r.json()["eta_s"] > 0 and r.json()["item"] == item
    assert held() == have - 4
    # more than is left: 409 naming what the depot holds, nothing changed
    r = client.post(f"/incidents/{iid}/assignments", headers=auth, json={
        "kind": "depot_stock", "resource": dep, "item": item, "quantity": have})
    assert r.status_code == 409, r.text
    assert r.json()["quantity"] == have - 4 and held() == have - 4
    # cancelled before it leaves: the stock goes back
    aid = client.get(f"/incidents/{iid}/assignments").json()["assignments"][0]["id"]
    r = client.patch(f"/incidents/{iid}/assignments/{aid}", headers=auth,
                     json={"state": "cancelled"})
    assert r.status_code == 200, r.text
    assert held() == have


def test_shelter_places_are_guarded_by_capacity(client, demo_db):
    _, auth = _token(demo_db.engine, "commander")
    iid = _incident(client, auth, area=True)
    with demo_db.engine.connect() as c:
        sid, cap, occ = c.execute(sa.text(
            "SELECT id, capacity, occupancy FROM shelters WHERE status = 'open' AND "
            "capacity > 100 ORDER BY id DESC LIMIT 1")).one()
    r = client.post(f"/incidents/{iid}/assignments", headers=auth,
                    json={"kind": "shelter", "resource": sid, "places": 30})
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["eta_s"] is not None and a["route"]["type"] == "LineString"
    r = client.post(f"/incidents/{iid}/assignments", headers=auth,
                    json={"kind": "shelter", "resource": sid, "places": cap})
    assert r.status_code == 409, r.text
    assert r.json()["occupancy"] == occ + 30 and r.json()["capacity"] == cap
    for state in ("on_scene", "returned"):
        assert client.patch(f"/incidents/{iid}/assignments/{a['id']}", headers=auth,
                            json={"state": state}).status_code == 200
    with demo_db.engine.connect() as c:
        assert c.execute(sa.text("SELECT occupancy FROM shelters WHERE id = :i"),
                         {"i": sid}).scalar() == occ


def test_notes_go_into_the_timeline(client, demo_db):
    name, auth = _token(demo_db.engine, "commander")
    iid = _incident(client, auth)
    r = client.post(f"/incidents/{iid}/events", headers=auth,
                    json={"text": "现场指挥部设在村委会", "data": {"phone": "0572-1234567"}})
    assert r.status_code == 201, r.text
    events = client.get(f"/incidents/{iid}/timeline").json()["events"]
    assert events[-1]["text"] == "现场指挥部设在村委会" and events[-1]["actor"] == name
    assert events[-1]["data"] == {"phone": "0572-1234567"}


@pytest.mark.bad_input
@pytest.mark.parametrize(("role", "status"), [(None, 401), ("viewer", 403), ("planner", 403)],
                         ids=["no-token", "viewer", "planner"])
def test_writes_need_a_commander(client, demo_db, role, status):
    _, auth = _token(demo_db.engine, "commander")
    iid = _incident(client, auth)
    tid, _ = _team(demo_db.engine)
    hdr = _token(demo_db.engine, role)[1] if role else {}
    for method, path, body in (
            ("post", f"/incidents/{iid}/assignments", {"kind": "team", "resource": tid}),
            ("patch", f"/incidents/{iid}/assignments/1", {"state": "en_route"}),
            ("post", f"/incidents/{iid}/events", {"text": "x"})):
        r = getattr(client, method)(path, headers=hdr, json=body)
        assert r.status_code == status, (path, r.text)
    assert client.get(f"/incidents/{iid}/assignments").json()["assignments"] == []
    assert client.get(f"/incidents/{iid}/timeline").status_code == 200  # reads are open


BAD = [
    ("unknown-incident", 99999999, {"kind": "team", "resource": "@team"}, 404),
    ("unknown-team", None, {"kind": "team", "resource": "NO-SUCH-TEAM"}, 404),
    ("negative-quantity", None, {"kind": "depot_stock", "resource": "@depot", "item": "帐篷",
                                 "quantity": -5}, 422),
    ("zero-places", None, {"kind": "shelter", "resource": "@shelter", "places": 0}, 422),
    ("quantity-as-text", None, {"kind": "depot_stock", "resource": "@depot", "item": "帐篷",
                                "quantity": "5"}, 422),
    ("stock-without-item", None, {"kind": "depot_stock", "resource": "@depot",
                                  "quantity": 5}, 422),
    ("places-for-a-team", None, {"kind": "team", "resource": "@team", "places": 3}, 422),
    ("unknown-item", None, {"kind": "depot_stock", "resource": "@depot", "item": "帐蓬",
                            "quantity": 1}, 422),
    ("unknown-kind", None, {"kind": "helicopter", "resource": 1}, 422),
    ("unavailable-team", None, {"kind": "team", "resource": "@unavailable"}, 409),
    ("inactive-depot", None, {"kind": "depot_stock", "resource": "@inactive-depot",
                              "item": "帐篷", "quantity": 1}, 409),
    ("full-shelter", None, {"kind": "shelter", "resource": "@shelter", "places": 10**7}, 409),
]


@pytest.mark.bad_input
@pytest.mark.parametrize(("incident", "body", "status"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_assignments_are_refused_and_change_nothing(client, demo_db, incident, body,
                                                         status):
    from conftest import table_checksums

    _, auth = _token(demo_db.engine, "commander")
    iid = incident or _incident(client, auth)
    with demo_db.engine.connect() as c:
        refs = {"@team": _team(demo_db.engine)[1],
                "@depot": c.execute(sa.text("SELECT ext_id FROM depots ORDER BY id LIMIT 1"))
                .scalar(),
                "@shelter": c.execute(sa.text("SELECT ext_id FROM shelters ORDER BY id "
                                              "LIMIT 1")).scalar(),
                "@unavailable": c.execute(sa.text("SELECT ext_id FROM team_bases WHERE "
                                                  "status = 'unavailable' LIMIT 1")).scalar(),
                "@inactive-depot": c.execute(sa.text(
                    "SELECT ext_id FROM depots WHERE status <> 'active' LIMIT 1")).scalar()}
    body = {k: refs.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    tables = ["incident_assignments", "incident_events", "team_bases", "depot_stock",
              "shelters"]
    before = table_checksums(demo_db.engine, tables)
    r = client.post(f"/incidents/{iid}/assignments", headers=auth, json=body)
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert table_checksums(demo_db.engine, tables) == before


@pytest.mark.bad_input
def test_a_team_already_assigned_is_409_and_unknown_things_are_404(client, demo_db):
    _, auth = _token(demo_db.engine, "commander")
    one, two = _incident(client, auth), _incident(client, auth, offset=5)
    tid, _ = _team(demo_db.engine)
    aid = client.post(f"/incidents/{one}/assignments", headers=auth,
                      json={"kind": "team", "resource": tid}).json()["id"]
    r = client.post(f"/incidents/{two}/assignments", headers=auth,
                    json={"kind": "team", "resource": tid})
    assert r.status_code == 409 and r.json()["assignment"] == aid, r.text
    assert f"incident {one}" in r.json()["detail"]
    assert client.patch(f"/incidents/{two}/assignments/{aid}", headers=auth,
                        json={"state": "en_route"}).status_code == 404
    assert client.patch(f"/incidents/{one}/assignments/{aid}", headers=auth,
                        json={"state": "gone"}).status_code == 422
    assert client.get("/incidents/99999999/assignments").status_code == 404
    assert client.get("/incidents/99999999/timeline").status_code == 404
    assert client.post("/incidents/99999999/events", headers=auth,
                       json={"text": "x"}).status_code == 404
    assert client.post(f"/incidents/{one}/events", headers=auth,
                       json={"text": ""}).status_code == 422


def test_the_database_itself_refuses_a_second_active_assignment_of_a_team(demo_db):
    """The rule lives in PostgreSQL (a partial unique index), not only in the service: a writer
    that skips the service cannot give one team two active assignments."""
    with demo_db.engine.connect() as c:
        iid = c.execute(sa.text("SELECT id FROM incidents ORDER BY id LIMIT 1")).scalar()
    tid, _ = _team(demo_db.engine, skip=7)
    insert = sa.text("INSERT INTO incident_assignments (incident_id, kind, team_id, state, "
                     "assigned_by) VALUES (:i, 'team', :t, :s, 'psql')")
    with demo_db.engine.begin() as c:
        c.execute(insert, {"i": iid, "t": tid, "s": "returned"})
        c.execute(insert, {"i": iid, "t": tid, "s": "en_route"})
    with (pytest.raises(sa.exc.IntegrityError, match="uq_incident_assignments_active_team"),
          demo_db.engine.begin() as c):
        c.execute(insert, {"i": iid, "t": tid, "s": "dispatched"})


def test_migration_0007_downgrades_and_upgrades_and_audits(db):
    from alembic import command

    from emgis.layers.db import alembic_config

    cfg = alembic_config(db.url)
    command.downgrade(cfg, "0006")
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT to_regclass('incident_assignments')")).scalar() is None
        assert c.execute(sa.text("SELECT to_regclass('incident_events')")).scalar() is None
    command.upgrade(cfg, "head")
    with db.engine.connect() as c:
        triggers = set(c.execute(sa.text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid IN "
            "('incident_assignments'::regclass, 'incident_events'::regclass)")).scalars())
        idx = c.execute(sa.text("SELECT indexdef FROM pg_indexes WHERE "
                                "tablename = 'incident_assignments'")).scalars().all()
    assert {"incident_assignments_audit", "incident_events_audit"} <= triggers
    assert any("UNIQUE" in i and "team_id" in i and "dispatched" in i for i in idx), idx
