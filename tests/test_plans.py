"""Emergency plans: triggers at their thresholds (hand-made plans), and on the demo county the
proposal for an incident, a response started and its checklist ticked to done through the API
and the CLI, plan edits (roles, audit, order of levels) and the plan-system report.

Expected levels are worked out by hand from the demo workbook (layers/demo/plans.py), not read
from the code under test.
"""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from conftest import _token

from emgis.risk.plans import Trigger, evaluate, order_problems

# --- hand-made plans: exactly at a threshold, just below ----------------------------------------

HAND = {"II": [Trigger("deaths", "≥", 3), Trigger("affected", ">", 1000)],
        "III": [Trigger("deaths", "≥", 1), Trigger("injured", ">", 10)],
        "IV": [Trigger("injured", "≥", 1), Trigger("area_km2", "≥", 0.5)]}


@pytest.mark.parametrize("figures, level, reason", [
    ({"deaths": 3}, "II", "deaths 3 ≥ 3 → II"),
    ({"deaths": 2}, "III", "deaths 2 ≥ 1 → III"),
    ({"deaths": 0, "affected": 1000}, None, None),          # > 1000: exactly 1000 is not over
    ({"deaths": 0, "affected": 1001}, "II", "affected 1001 > 1000 → II"),
    ({"deaths": 0, "injured": 11}, "III", "injured 11 > 10 → III"),
    ({"deaths": 0, "injured": 10}, "IV", "injured 10 ≥ 1 → IV"),
    ({"deaths": 0, "injured": 0, "area_km2": 0.5}, "IV", "area_km2 0.5 ≥ 0.5 → IV"),
    ({"deaths": 0, "injured": 0, "area_km2": 0.49}, None, None),
], ids=["deaths-at-II", "deaths-below-II", "affected-at-strict", "affected-over-strict",
        "injured-over-III", "injured-at-III-strict", "area-at-IV", "area-below-IV"])
def test_trigger_at_and_just_below_threshold(figures, level, reason):
    ans = evaluate(HAND, figures)
    assert ans.level == level
    if reason:
        assert reason in ans.reasons


def test_an_unknown_figure_cannot_fire_and_is_said_to_be_unknown():
    ans = evaluate(HAND, {"injured": 2})  # deaths, affected, area unknown
    assert ans.level == "IV"
    assert ans.reasons == ["injured 2 ≥ 1 → IV"]
    assert any(u.startswith("deaths unknown: deaths ≥ 3 → II") for u in ans.unknown)
    nothing = evaluate(HAND, {})
    assert nothing.level is None and nothing.reasons == []
    assert len(nothing.unknown) == 6  # every trigger, none read as 0


def test_levels_out_of_order_are_found():
    bad = {"II": [Trigger("deaths", "≥", 3)], "III": [Trigger("deaths", "≥", 10)]}
    probs = order_problems(bad)
    assert len(probs) == 1 and probs[0][0] == "II" and "not more severe than level III" in \
        probs[0][2]
    same = {"II": [Trigger("deaths", "≥", 3)], "III": [Trigger("deaths", "≥", 3)]}
    assert order_problems(same)
    strict = {"II": [Trigger("deaths", ">", 3)], "III": [Trigger("deaths", "≥", 3)]}
    assert order_problems(strict) == []
    assert order_problems(HAND) == []


# --- the demo county: proposal, response, checklist ----------------------------------------------

def _seed_fire(engine) -> int:
    with engine.connect() as c:
        return c.execute(sa.text("SELECT id FROM incidents WHERE title = 'seed fire'")).scalar()


@pytest.mark.postgis
def test_demo_incident_gets_the_matching_plans_and_levels(client, demo_db):
    fire = _seed_fire(demo_db.engine)
    r = client.get(f"/incidents/{fire}/plans")
    assert r.status_code == 200, r.text
    ans = r.json()
    got = [p["ext_id"] for p in ans["plans"]]
    # the seed fire is in the first village (its village plan, its township's plan), plus the
    # county's general plan and the fire plan; not the flood plans
    assert got == ["DEMO-CUN-01", "DEMO-XZ-01", "DEMO-ZX-HZ", "DEMO-ZT-01"]
    assert all(p["level"] is None for p in ans["plans"])  # every figure unknown
    assert any("unknown figures" in n and "deaths" in n for n in ans["notes"])
    cun = ans["plans"][0]
    assert "injured unknown: injured ≥ 1 → IV cannot be checked" in cun["unknown"]

    _, cmd = _token(demo_db.engine, "commander")
    r = client.patch(f"/incidents/{fire}/figures", json={"deaths": 1, "injured": 2},
                     headers=cmd)
    assert r.status_code == 200, r.text
    assert r.json()["deaths"] == 1 and r.json()["affected"] is None
    by = {p["ext_id"]: p for p in client.get(f"/incidents/{fire}/plans").json()["plans"]}
    assert by["DEMO-ZT-01"]["level"] == "III"
    assert "deaths 1 ≥ 1 → III" in by["DEMO-ZT-01"]["reasons"]
    assert by["DEMO-ZX-HZ"]["level"] == "III"      # deaths ≥ 1 → III (≥ 3 would be II)
    assert by["DEMO-CUN-01"]["level"] == "IV"      # injured 2 ≥ 1
    assert by["DEMO-XZ-01"]["level"] == "III"


@pytest.mark.postgis
def test_a_response_turns_tasks_into_a_checklist_ticked_to_done(client, demo_db):
    fire = _seed_fire(demo_db.engine)
    _, viewer = _token(demo_db.engine, "viewer")
    name, cmd = _token(demo_db.engine, "commander")
    assert client.post(f"/incidents/{fire}/response", json={"plan": "DEMO-ZX-HZ"},
                       headers=viewer).status_code == 403
    client.patch(f"/incidents/{fire}/figures", json={"deaths": 1, "injured": 2}, headers=cmd)
    r = client.post(f"/incidents/{fire}/response", json={"plan": "DEMO-ZX-HZ"}, headers=cmd)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["level"] == "III" and out["added"] == 1
    items = out["checklist"]
    assert [(x["unit"], x["state"]) for x in items] == [("县消防救援大队", "open")]
    # starting it again adds nothing; starting level IV as well adds IV's two tasks
    again = client.post(f"/incidents/{fire}/response", json={"plan": "DEMO-ZX-HZ"}, headers=cmd)
    assert again.json()["added"] == 0
    iv = client.post(f"/incidents/{fire}/response", json={"plan": "DEMO-ZX-HZ", "level": "IV"},
                     headers=cmd).json()
    assert iv["added"] == 2 and len(iv["checklist"]) == 3
    inc = client.get(f"/collections/incidents/items/{fire}").json()["properties"]
    assert inc["level"] == "IV" and inc["status"] == "responding"

    for x in iv["checklist"]:
        assert client.patch(f"/incidents/{fire}/checklist/{x['id']}", json={"state": "done"},
                            headers=viewer).status_code == 403
        r = client.patch(f"/incidents/{fire}/checklist/{x['id']}", json={"state": "done"},
                         headers=cmd)
        assert r.status_code == 200, r.text
        assert r.json()["done_by"] == name and r.json()["done_at"]
    final = client.get(f"/incidents/{fire}/checklist").json()
    assert {x["state"] for x in final} == {"done"}
    with demo_db.engine.connect() as c:
        ticks = c.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE table_name = 'incident_checklists' AND "
            "actor = :a AND action = 'update'"), {"a": name}).scalar()
    assert ticks == 3
    assert client.patch(f"/incidents/{fire}/checklist/999999", json={"state": "done"},
                        headers=cmd).status_code == 404


@pytest.mark.bad_input
@pytest.mark.postgis
def test_no_level_from_triggers_means_the_level_must_be_given(client, demo_db):
    _, cmd = _token(demo_db.engine, "commander")
    with demo_db.engine.begin() as c:  # a point: no area, every figure unknown
        flood = c.execute(sa.text(
            "INSERT INTO incidents (title, incident_type, status, geom) SELECT 'point flood', "
            "'flood', 'reported', ST_PointOnSurface(geom) FROM admin_units WHERE level = "
            "'village' AND geom IS NOT NULL ORDER BY code LIMIT 1 RETURNING id")).scalar()
    r = client.post(f"/incidents/{flood}/response", json={"plan": "DEMO-ZX-FX"}, headers=cmd)
    assert r.status_code == 422, r.text
    assert r.json()["problems"][0]["field"] == "level"
    assert client.post(f"/incidents/{flood}/response", json={"plan": "NO-SUCH"},
                       headers=cmd).status_code == 404


@pytest.mark.postgis
def test_plan_edits_need_planner_are_audited_and_keep_levels_in_order(client, demo_db):
    _, viewer = _token(demo_db.engine, "viewer")
    name, planner = _token(demo_db.engine, "planner")
    assert client.get("/plans").status_code == 200
    assert {p["ext_id"] for p in client.get("/plans").json()} >= {"DEMO-ZT-01", "DEMO-CUN-01"}
    body = {"next_review_on": "2030-01-01"}
    assert client.patch("/plans/DEMO-ZT-01", json=body, headers=viewer).status_code == 403
    r = client.patch("/plans/DEMO-ZT-01", json=body, headers=planner)
    assert r.status_code == 200, r.text
    assert r.json()["next_review_on"] == "2030-01-01"
    # II below the stored III (deaths ≥ 1): out of order, refused, nothing changed
    bad = client.patch("/plans/DEMO-ZT-01", headers=planner,
                       json={"levels": {"II": [{"field": "deaths", "op": "≥", "value": 1}]}})
    assert bad.status_code == 422, bad.text
    assert "not more severe than level III" in bad.json()["problems"][0]["message"]
    levels = {lv["level"]: lv for lv in client.get("/plans/DEMO-ZT-01").json()["levels"]}
    assert {"field": "deaths", "op": "≥", "value": 3} in levels["II"]["triggers"]
    with demo_db.engine.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM audit_log WHERE table_name = 'plans' "
                              "AND actor = :a"), {"a": name}).scalar()
    assert n == 1
    assert client.get("/plans/NO-SUCH").status_code == 404


@pytest.mark.postgis
def test_plan_system_report_json_and_xlsx(client, demo_db):
    r = client.get("/plans/report")
    assert r.status_code == 200, r.text
    units = {(u["unit_kind"], u["plans"]): u for u in r.json()["units"] if u["plans"]}
    assert units[("township", "DEMO-XZ-02")]["status"] == "overdue"
    assert units[("township", "DEMO-XZ-01")]["status"] == "no_drill"  # drilled 400 days ago
    assert units[("village", "DEMO-CUN-01")]["status"] == "no_drill"
    assert units[("county", "DEMO-ZX-FX")]["status"] == "ok"
    summ = r.json()["summary"]
    with demo_db.engine.connect() as c:
        villages = c.execute(sa.text("SELECT count(*) FROM admin_units "
                                     "WHERE level = 'village'")).scalar()
    assert summ["village"]["total"] == villages and summ["village"]["with_plan"] == 1
    assert summ["village"]["no_plan"] == villages - 1
    x = client.get("/plans/report?format=xlsx")
    assert x.status_code == 200 and x.headers["content-type"].startswith(
        "application/vnd.openxmlformats")
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames == ["汇总 summary", "预案体系 plan system"]


# --- the command line ----------------------------------------------------------------------------

@pytest.mark.postgis
def test_cli_propose_start_and_done(demo_db, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    run = CliRunner().invoke
    with demo_db.engine.begin() as c:
        inc = c.execute(sa.text(
            "INSERT INTO incidents (title, incident_type, status, geom) SELECT 'cli flood', "
            "'山洪', 'reported', ST_PointOnSurface(geom) FROM admin_units WHERE level = "
            "'village' AND geom IS NOT NULL ORDER BY code LIMIT 1 RETURNING id")).scalar()
    r = run(app, ["plans", "figures", str(inc), "--relocated", "25"])
    assert r.exit_code == 0, r.output
    r = run(app, ["plans", "propose", str(inc)], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert "relocated 25 ≥ 20 → IV" in r.output and "DEMO-ZX-FX" in r.output
    r = run(app, ["plans", "start", str(inc), "--plan", "DEMO-ZX-FX"], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert "level IV (2 tasks added)" in r.output
    with demo_db.engine.connect() as c:
        items = c.execute(sa.text("SELECT id FROM incident_checklists WHERE incident_id = :i "
                                  "ORDER BY id"), {"i": inc}).scalars().all()
    for item in items:
        r = run(app, ["plans", "done", str(item)])
        assert r.exit_code == 0 and ": done by cli" in r.output, r.output
    r = run(app, ["plans", "done", "999999"])
    assert r.exit_code == 2
    for cmd in (["plans", "list"], ["plans", "show", "DEMO-ZT-01"],
                ["plans", "report", "--out", str(tmp_path / "r.xlsx")]):
        r = run(app, cmd, env={"COLUMNS": "250"})
        assert r.exit_code == 0, r.output
    assert (tmp_path / "r.xlsx").stat().st_size > 0


@pytest.mark.postgis
def test_an_enterprise_plan_applies_near_its_site_only(client, demo_db):
    with demo_db.engine.begin() as c:
        site = c.execute(sa.text("SELECT geom FROM plans WHERE ext_id = 'DEMO-QY-01'")).scalar()
        assert site is not None  # the demo's hazchem risk point, found by the enterprise's name
        near, far = (c.execute(sa.text(
            "INSERT INTO incidents (title, incident_type, status, geom) SELECT :t, '危化品泄漏', "
            "'reported', ST_Project(geom::geography, :d, 0)::geometry FROM plans "
            "WHERE ext_id = 'DEMO-QY-01' RETURNING id"), {"t": t, "d": d}).scalar()
            for t, d in (("leak near", 900.0), ("leak far", 1100.0)))
    got = {i: [p["ext_id"] for p in client.get(f"/incidents/{i}/plans").json()["plans"]]
           for i in (near, far)}
    assert "DEMO-QY-01" in got[near]       # within plan.enterprise_radius_m (1000 m)
    assert "DEMO-QY-01" not in got[far]
    assert "DEMO-ZT-01" in got[far]        # the county's general plan covers every type


@pytest.mark.postgis
def test_a_started_response_lists_the_teams_and_supplies_to_mobilise(client, demo_db):
    """The flood plan's level III calls out 2 water-rescue teams and 200 tents: starting the
    response puts them on the incident's checklist, in words the panel shows."""
    _, cmd = _token(demo_db.engine, "commander")
    with demo_db.engine.begin() as c:
        flood = c.execute(sa.text(
            "INSERT INTO incidents (title, incident_type, status, geom) SELECT 'flood III', "
            "'flood', 'reported', ST_PointOnSurface(geom) FROM admin_units WHERE level = "
            "'village' AND geom IS NOT NULL ORDER BY code LIMIT 1 RETURNING id")).scalar()
    r = client.post(f"/incidents/{flood}/response", json={"plan": "DEMO-ZX-FX", "level": "III"},
                    headers=cmd)
    assert r.status_code in (200, 201), r.text
    items = client.get(f"/incidents/{flood}/checklist").json()
    items = items["items"] if isinstance(items, dict) else items
    mob = {x["mobilise"] for x in items if x.get("mobilise")}
    assert mob == {"水域救援队伍 × 2", "帐篷 200"}, items
    plan = client.get("/plans/DEMO-ZX-FX").json()
    iii = next(lv for lv in plan["levels"] if lv["level"] == "III")
    assert {(t["team_type"], t["item"], t["quantity"]) for t in iii["tasks"]} >= {
        ("water_rescue", None, 2.0), (None, "帐篷", 200.0)}
