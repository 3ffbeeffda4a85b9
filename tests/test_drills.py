"""Drills (演练) and the closed loop of their findings: open → rectifying → closed with events,
illegal moves refused (409, nothing written), overdue listed — through the API and the CLI on
the demo county (two drills, three findings: one overdue, one due later, one closed)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from conftest import _token, table_checksums

from emgis.risk.drills import ALLOWED, IllegalMove, overdue, transition

pytestmark = pytest.mark.postgis


def test_the_loop_allows_only_its_moves():
    assert transition("open", "整改中") == "rectifying"
    assert transition("rectifying", "closed") == "closed"
    assert transition("rectifying", "open") == "open"
    for state, to in (("open", "closed"), ("closed", "open"), ("closed", "rectifying"),
                      ("open", "open"), ("open", "dismissed")):
        with pytest.raises(IllegalMove):
            transition(state, to)
    assert ALLOWED["closed"] == ()
    day = dt.date(2026, 6, 1)
    assert overdue(day, "open", day + dt.timedelta(days=1))
    assert not overdue(day, "open", day)  # due today is not overdue yet
    assert not overdue(day, "closed", day + dt.timedelta(days=9))
    assert not overdue(None, "open", day)


def test_demo_drills_and_the_overdue_list(client):
    drills = client.get("/drills").json()
    assert [d["ext_id"] for d in drills] == ["DEMO-YL-01", "DEMO-YL-02"]
    assert drills[0]["findings"] == 2 and drills[0]["open_findings"] == 2
    late = client.get("/drill-findings/overdue").json()
    assert [f["finding"] for f in late] == ["转移名单与实际住户不一致（合成）"]
    assert late[0]["state"] == "rectifying" and late[0]["overdue"] is True
    assert len(client.get("/drills/DEMO-YL-02/findings").json()) == 1


def test_a_finding_moves_through_its_loop_with_events(client, demo_db):
    _, viewer = _token(demo_db.engine, "viewer")
    name, planner = _token(demo_db.engine, "planner")
    body = {"ext_id": "T-YL-1", "plan": "DEMO-ZT-01", "held_on": "2026-10-01",
            "scenario": "桌面推演（测试）", "kind": "双盲", "participants": 12,
            "units": ["应急局"]}
    assert client.post("/drills", json=body, headers=viewer).status_code == 403
    r = client.post("/drills", json=body, headers=planner)
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "double_blind" and r.json()["plan"] == "DEMO-ZT-01"
    dup = client.post("/drills", json=body, headers=planner)
    assert dup.status_code == 422 and dup.json()["problems"][0]["field"] == "ext_id"
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    f = client.post("/drills/T-YL-1/findings", headers=planner,
                    json={"finding": "通信不畅", "deadline": past}).json()
    assert f["state"] == "open" and f["overdue"] is True
    fid = f["id"]
    assert fid in [x["id"] for x in client.get("/drill-findings/overdue").json()]

    before = table_checksums(demo_db.engine, ["drill_findings", "drill_finding_events"])
    skip = client.patch(f"/drill-findings/{fid}", json={"to_state": "closed"}, headers=planner)
    assert skip.status_code == 409 and "allowed next: rectifying" in skip.json()["detail"]
    assert table_checksums(demo_db.engine, ["drill_findings", "drill_finding_events"]) == before
    r = client.patch(f"/drill-findings/{fid}", json={"to_state": "rectifying"}, headers=planner)
    assert r.status_code == 200 and r.json()["state"] == "rectifying"
    no_measures = client.patch(f"/drill-findings/{fid}", json={"to_state": "closed"},
                               headers=planner)
    assert no_measures.status_code == 409 and "measures" in no_measures.json()["detail"]
    r = client.patch(f"/drill-findings/{fid}", headers=planner,
                     json={"to_state": "closed", "responsible": "通信科",
                           "measures": "配发卫星电话"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "closed" and done["overdue"] is False and done["closed_on"]
    assert [(e["from_state"], e["to_state"]) for e in done["events"]] == [
        (None, "open"), ("open", "rectifying"), ("rectifying", "closed")]
    assert fid not in [x["id"] for x in client.get("/drill-findings/overdue").json()]
    with demo_db.engine.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM audit_log WHERE table_name = "
                              "'drill_findings' AND actor = :a"), {"a": name}).scalar()
    assert n == 3  # recorded, rectifying, closed
    assert client.patch("/drill-findings/999999", json={"to_state": "closed"},
                        headers=planner).status_code == 404


def test_cli_drills_add_finding_move_and_overdue(demo_db, monkeypatch):
    from typer.testing import CliRunner

    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    run = CliRunner().invoke
    env = {"COLUMNS": "250"}
    r = run(app, ["drills", "add", "CLI-YL", "--date", "2026-09-09", "--scenario", "实战（测试）",
                  "--kind", "实战", "--plan", "DEMO-CUN-01", "--unit", "村应急小分队"], env=env)
    assert r.exit_code == 0, r.output
    r = run(app, ["drills", "add", "CLI-YL2", "--date", "2026-09-09", "--scenario", "x",
                  "--kind", "演习", "--plan", "NO-SUCH"], env=env)
    assert r.exit_code == 2 and "kind" in r.output and "NO-SUCH" in r.output, r.output
    r = run(app, ["drills", "finding", "CLI-YL", "--add", "集合超时", "--deadline", "2020-01-01",
                  "--responsible", "村委"], env=env)
    assert r.exit_code == 0, r.output
    with demo_db.engine.connect() as c:
        fid = c.execute(sa.text("SELECT max(id) FROM drill_findings")).scalar()
    r = run(app, ["drills", "finding", "--overdue"], env=env)
    assert "集合超时" in r.output and "overdue" in r.output
    r = run(app, ["drills", "finding", "--move", str(fid), "--to", "closed"], env=env)
    assert r.exit_code == 2 and "allowed next" in r.output, r.output
    r = run(app, ["drills", "finding", "--move", str(fid), "--to", "rectifying"], env=env)
    assert r.exit_code == 0 and "rectifying" in r.output, r.output
    r = run(app, ["drills", "list"], env=env)
    assert r.exit_code == 0 and "CLI-YL" in r.output
