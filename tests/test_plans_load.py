"""The plan workbook: the template round-trips, the demo sample loads, and a bad workbook —
an unknown incident type, a trigger with no number, a duplicate plan id, a level out of order —
reports every problem at once (sheet, row, field, value, fix) and loads nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import table_checksums

from emgis.layers.load.plans import COLUMNS, read_plans, write_template
from emgis.layers.problems import InputError

PLAN_TABLES = ["plans", "plan_levels", "plan_tasks", "loads", "audit_log"]


def _good() -> dict[str, list[list[object]]]:
    return {
        "预案": [["T-1", "测试总体预案", "总体", "应急局", None, None, "全部", "2025-01-01",
                 "2027-01-01", None, None, None],
                ["T-2", "测试防汛预案", "专项", "防指办", None, None, "洪涝、地质灾害", None, None,
                 None, None, None]],
        "响应分级": [["T-1", "Ⅱ", "死亡人数", "≥", 3, "县指挥部"],
                   ["T-1", "Ⅲ", "死亡人数", "≥", 1, None],
                   ["T-2", "Ⅳ", "转移安置人数", ">", 10, None]],
        "任务": [["T-1", "Ⅱ", "应急局", "启动指挥部", "局长", "指挥部运转"],
               ["T-2", "Ⅳ", "乡镇", "转移群众", None, None]],
    }


def _bad(kind: str) -> dict[str, list[list[object]]]:
    rows = _good()
    if kind in ("unknown-incident-type", "all"):
        rows["预案"][1][6] = "洪涝、外星人入侵"
    if kind in ("trigger-without-number", "all"):
        rows["响应分级"][2][4] = "很多"
    if kind in ("duplicate-plan-id", "all"):
        rows["预案"].append(["T-1", "重复", "部门", None, None, None, "火灾", None, None, None,
                            None, None])
    if kind in ("level-out-of-order", "all"):
        rows["响应分级"][1][4] = 5  # III deaths ≥ 5 is more than II deaths ≥ 3
    return rows


#: what each bad workbook must report: (sheet, row, field, value)
EXPECTED = {
    "unknown-incident-type": ("预案", 3, "适用事件类型", "外星人入侵"),
    "trigger-without-number": ("响应分级", 4, "数值", "很多"),
    "duplicate-plan-id": ("预案", 4, "预案编号", "T-1"),
    "level-out-of-order": ("响应分级", 2, "数值", "T-1 II: deaths ≥ 3"),
}


def test_template_has_the_three_sheets_and_reads_back(tmp_path):
    empty = write_template(tmp_path / "t.xlsx")
    from openpyxl import load_workbook

    wb = load_workbook(empty)
    assert wb.sheetnames == ["预案", "响应分级", "任务", "填表说明"]
    assert [c.value for c in wb["预案"][1]] == [c[1] for c in COLUMNS["预案"]]
    assert read_plans(empty) == []
    plans = read_plans(write_template(tmp_path / "g.xlsx", _good()))
    t1 = next(p for p in plans if p.ext_id == "T-1")
    assert t1.kind == "general" and t1.incident_types == [] and set(t1.levels) == {"II", "III"}
    t2 = next(p for p in plans if p.ext_id == "T-2")
    assert t2.incident_types == ["flood", "landslide"]
    assert t2.levels["IV"][0].op == ">" and t2.tasks[0][2] == "转移群众"


@pytest.mark.bad_input
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_bad_workbook_is_refused_with_where_and_how(tmp_path, kind):
    path = write_template(tmp_path / f"{kind}.xlsx", _bad(kind))
    with pytest.raises(InputError) as exc:
        read_plans(path)
    sheet, row, field, value = EXPECTED[kind]
    hits = [p for p in exc.value.problems if p.file == f"{path.name} [{sheet}]" and p.row == row
            and p.field == field and str(p.value) == value]
    assert len(hits) == 1, [str(p) for p in exc.value.problems]
    assert hits[0].fix


@pytest.mark.bad_input
@pytest.mark.postgis
def test_a_workbook_with_all_four_problems_reports_all_and_loads_nothing(db, tmp_path):
    from emgis.layers.load.plans import load_plans

    path = write_template(tmp_path / "all.xlsx", _bad("all"))
    before = table_checksums(db.engine, PLAN_TABLES)
    with pytest.raises(InputError) as exc:
        load_plans(db.engine, path, actor="test")
    found = {(p.file.split("[")[1].rstrip("]"), p.row, p.field, str(p.value))
             for p in exc.value.problems}
    assert set(EXPECTED.values()) <= found, found
    assert table_checksums(db.engine, PLAN_TABLES) == before


@pytest.mark.bad_input
@pytest.mark.postgis
def test_cli_load_plans_prints_every_problem_and_exits_2(db, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    path = write_template(tmp_path / "all.xlsx", _bad("all"))
    before = table_checksums(db.engine, PLAN_TABLES)
    r = CliRunner().invoke(app, ["load", "plans", str(path)], env={"COLUMNS": "300"})
    assert r.exit_code == 2, r.output
    for _sheet, _row, field, value in EXPECTED.values():
        assert field in r.output and value in r.output
    assert table_checksums(db.engine, PLAN_TABLES) == before


@pytest.mark.postgis
def test_cli_template_then_load_then_reload_updates_in_place(db, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    r = CliRunner().invoke(app, ["plans", "template", str(tmp_path / "blank.xlsx")])
    assert r.exit_code == 0 and (tmp_path / "blank.xlsx").exists(), r.output
    path = write_template(tmp_path / "good.xlsx", _good())
    r = CliRunner().invoke(app, ["load", "plans", str(path)])
    assert r.exit_code == 0 and "2 plans (2 new, 0 updated)" in r.output, r.output
    with db.engine.connect() as c:
        ids = c.execute(sa.text("SELECT ext_id, id FROM plans ORDER BY ext_id")).all()
    r = CliRunner().invoke(app, ["load", "plans", str(path)])
    assert "2 plans (0 new, 2 updated)" in r.output, r.output
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT ext_id, id FROM plans ORDER BY ext_id")).all() == ids
        assert c.execute(sa.text("SELECT count(*) FROM plan_tasks")).scalar() == 2


MOBILISE_BAD = {
    "unknown-team-type": (["T-2", "Ⅳ", "防指办", "调派队伍", None, None, "外星救援队", None, 2],
                          "调动队伍类型", "外星救援队"),
    "unknown-item": (["T-2", "Ⅳ", "民政局", "调拨物资", None, None, None, "帐蓬", 100],
                     "调拨物资", "帐蓬"),
    "negative-quantity": (["T-2", "Ⅳ", "民政局", "调拨物资", None, None, None, "帐篷", -5],
                          "数量", "-5"),
    "team-and-item": (["T-2", "Ⅳ", "防指办", "调派", None, None, "水域救援", "帐篷", 1],
                      "调拨物资", "帐篷"),
    "no-quantity": (["T-2", "Ⅳ", "防指办", "调派", None, None, "水域救援", None, None],
                    "数量", "None"),
}


def test_a_task_may_mobilise_teams_or_supplies(tmp_path):
    rows = _good()
    rows["任务"] += [["T-2", "Ⅳ", "防指办", "调派水域救援队伍", None, None, "水域救援", None, 2],
                   ["T-2", "Ⅳ", "民政局", "调拨帐篷", None, None, None, "帐篷", 200]]
    plans = read_plans(write_template(tmp_path / "m.xlsx", rows), known_items={"帐篷"})
    t2 = next(p for p in plans if p.ext_id == "T-2")
    assert [t[5:] for t in t2.tasks] == [(None, None, None), ("water_rescue", None, 2.0),
                                         (None, "帐篷", 200.0)]


@pytest.mark.bad_input
@pytest.mark.parametrize("kind", list(MOBILISE_BAD))
def test_a_bad_mobilisation_is_refused(tmp_path, kind):
    row, field, value = MOBILISE_BAD[kind]
    rows = _good()
    rows["任务"].append(row)
    path = write_template(tmp_path / f"{kind}.xlsx", rows)
    with pytest.raises(InputError) as exc:
        read_plans(path, known_items={"帐篷", "棉被"})
    hits = [p for p in exc.value.problems if p.row == 4 and p.field == field
            and str(p.value) == value]
    assert len(hits) == 1, [str(p) for p in exc.value.problems]
