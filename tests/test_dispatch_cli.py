"""Dispatch records on the command line: `emgis dispatch assign / move / list / note` and
`emgis timeline`, the same service as the API, with EMGIS_ACTOR as the actor."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from emgis.api.cli import app

pytestmark = pytest.mark.postgis


@pytest.fixture
def env(demo_db, monkeypatch):
    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    monkeypatch.setenv("EMGIS_ACTOR", "值班员张三")
    return demo_db


def _run(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "240"})


def _one(engine, sql: str):
    with engine.connect() as c:
        return c.execute(sa.text(sql)).first()


def test_assign_move_list_and_timeline(env):
    iid = _one(env.engine, "SELECT id FROM incidents WHERE title = 'seed flood'")[0]
    tid, text = _one(env.engine, "SELECT id, ext_id FROM team_bases WHERE status = 'available' "
                                 "ORDER BY id DESC LIMIT 1")
    res = _run("dispatch", "assign", str(iid), "--team", text, "--note", "沿县道进入")
    assert res.exit_code == 0, res.output
    assert "assignment" in res.output and "ETA" in res.output and "dispatched" in res.output
    aid = _one(env.engine, f"SELECT id FROM incident_assignments WHERE team_id = {tid}")[0]
    assert _one(env.engine, f"SELECT status FROM team_bases WHERE id = {tid}")[0] == "deployed"
    dep, item = _one(env.engine, "SELECT d.ext_id, s.item FROM depot_stock s JOIN depots d ON "
                                 "d.id = s.depot_id WHERE s.quantity >= 5 ORDER BY d.id LIMIT 1")
    res = _run("dispatch", "assign", str(iid), "--depot", dep, "--item", item, "--quantity", "5")
    assert res.exit_code == 0, res.output
    sid = _one(env.engine, "SELECT ext_id FROM shelters WHERE status = 'open' AND "
                           "capacity > 50 ORDER BY id LIMIT 1")[0]
    res = _run("dispatch", "assign", str(iid), "--shelter", sid, "--places", "12")
    assert res.exit_code == 0, res.output
    assert _run("dispatch", "move", str(aid), "en_route").exit_code == 0
    res = _run("dispatch", "move", str(aid), "dispatched")
    assert res.exit_code == 2 and "Allowed moves: on_scene, returned" in " ".join(
        res.output.split())
    assert _run("dispatch", "note", str(iid), "道路塌方, 绕行").exit_code == 0
    res = _run("dispatch", "list", str(iid))
    assert res.exit_code == 0, res.output
    assert "en_route" in res.output and item in res.output and "12 places" in res.output
    res = _run("timeline", str(iid))
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "值班员张三" in out and "dispatched → en_route" in out and "道路塌方" in out


@pytest.mark.bad_input
@pytest.mark.parametrize("args", [
    ["dispatch", "assign", "99999999", "--team", "1"],
    ["dispatch", "assign", "1", "--team", "NO-SUCH-TEAM"],
    ["dispatch", "assign", "1", "--depot", "1", "--item", "帐篷", "--quantity", "-3"],
    ["dispatch", "assign", "1", "--team", "1", "--shelter", "1"],
    ["dispatch", "move", "99999999", "en_route"],
    ["timeline", "99999999"],
], ids=["unknown-incident", "unknown-team", "negative-quantity", "two-resources",
        "unknown-assignment", "timeline-of-nothing"])
def test_bad_input_exits_2_and_changes_nothing(env, args):
    from conftest import table_checksums

    tables = ["incident_assignments", "incident_events", "team_bases", "depot_stock"]
    before = table_checksums(env.engine, tables)
    res = _run(*args)
    assert res.exit_code == 2, res.output
    assert table_checksums(env.engine, tables) == before
