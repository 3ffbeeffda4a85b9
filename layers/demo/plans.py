"""The demo county's emergency plans and drills (synthetic, clearly marked 示例/合成).

``sample_rows`` fills the bureau's workbook (the template of layers/load/plans.py) for the demo
county from its stored units: a county 总体预案, two 专项预案 (flood and geological hazards; fire),
two township plans, one village plan and, when the county has a hazchem risk point, that
enterprise's plan. `emgis demo` (api/cli/plans.py ``load_demo_plans``) writes it beside the demo
files and loads it through the ordinary loader (the ingest tiers do not import each other), then
``add_demo_drills`` records two drills with findings (one finding overdue).

Dates are relative to ``today`` so the plan-system report always shows each status: township 2's
plan is overdue for revision, township 1's last drill is more than 12 months old.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.risk._db import set_actor
from emgis.risk.drills import DrillIn, add_drill, add_finding, move_finding

SAMPLE = "plans_sample.xlsx"
_TAG = "（示例，合成数据）"


def _units(engine: Engine) -> dict[str, object]:
    with engine.connect() as c:
        village = c.execute(sa.text(
            "SELECT v.code, v.name, v.parent_code FROM admin_units v WHERE v.level = 'village' "
            "AND v.geom IS NOT NULL ORDER BY v.code LIMIT 1")).one()
        towns = c.execute(sa.text(
            "SELECT code, name FROM admin_units WHERE level = 'township' ORDER BY "
            "code = :t DESC, code LIMIT 2"), {"t": village.parent_code}).all()
        ent = c.execute(sa.text(
            "SELECT name FROM risk_points WHERE category = 'hazchem' ORDER BY ext_id "
            "LIMIT 1")).scalar()
    return {"village": village, "towns": towns, "enterprise": ent}


def _levels(pid: str, rows: list[tuple[str, str, float, str | None]]) -> list[list[object]]:
    out: list[list[object]] = []
    for lv, field, value, command in rows:
        out.append([pid, lv, field, "≥", value, command])
    return out


def sample_rows(engine: Engine, today: dt.date) -> dict[str, list[list[object]]]:
    """The rows of the demo's workbook, by sheet."""
    u = _units(engine)
    v, towns, ent = u["village"], u["towns"], u["enterprise"]
    d = today.isoformat
    past, soon = (today - dt.timedelta(days=200)).isoformat(), \
        (today + dt.timedelta(days=165)).isoformat()
    plans = [
        ["DEMO-ZT-01", f"示范县突发事件总体应急预案{_TAG}", "总体", "示范县应急管理局", None, None,
         "全部", past, soon, d(), None, None],
        ["DEMO-ZX-FX", f"示范县防汛防台与地质灾害专项应急预案{_TAG}", "专项", "示范县防指办", None,
         None, "洪涝、地质灾害", past, soon, d(), None, None],
        ["DEMO-ZX-HZ", f"示范县火灾事故专项应急预案{_TAG}", "专项", "示范县消防救援大队", None,
         None, "火灾、森林火灾", past, soon, d(), None, None],
        ["DEMO-XZ-01", f"{towns[0].name}突发事件应急预案{_TAG}", "乡镇", f"{towns[0].name}人民政府",
         towns[0].code, None, "全部", past, soon, d(), None, None],
        ["DEMO-XZ-02", f"{towns[1].name}防汛应急预案{_TAG}", "乡镇", f"{towns[1].name}人民政府",
         towns[1].code, None, "洪涝", (today - dt.timedelta(days=800)).isoformat(),
         (today - dt.timedelta(days=30)).isoformat(), d(), None, None],
        ["DEMO-CUN-01", f"{v.name}村级应急预案{_TAG}", "村", f"{v.name}村民委员会", v.code, None,
         "火灾、洪涝、地质灾害", past, soon, d(), None, None],
    ]
    levels = (
        _levels("DEMO-ZT-01", [("Ⅰ", "死亡人数", 10, "县突发事件应急指挥部（县长任总指挥）"),
                               ("Ⅰ", "受灾人数", 10000, None),
                               ("Ⅱ", "死亡人数", 3, "县应急指挥部（分管副县长）"),
                               ("Ⅱ", "受灾人数", 3000, None),
                               ("Ⅲ", "死亡人数", 1, "县应急管理局牵头"),
                               ("Ⅲ", "受伤人数", 10, None),
                               ("Ⅳ", "受伤人数", 1, "事发乡镇牵头，县应急管理局指导"),
                               ("Ⅳ", "受灾人数", 30, None)])
        + _levels("DEMO-ZX-FX", [("Ⅰ", "转移安置人数", 5000, "县防指（县长）"),
                                 ("Ⅱ", "转移安置人数", 1000, "县防指（分管副县长）"),
                                 ("Ⅲ", "转移安置人数", 200, "县防指办"),
                                 ("Ⅲ", "影响面积(km²)", 2, None),
                                 ("Ⅳ", "转移安置人数", 20, "县防指办（值班）"),
                                 ("Ⅳ", "影响面积(km²)", 0.2, None)])
        + _levels("DEMO-ZX-HZ", [("Ⅱ", "死亡人数", 3, "县消防救援大队、县应急管理局"),
                                 ("Ⅲ", "死亡人数", 1, "县消防救援大队"),
                                 ("Ⅲ", "持续时间(h)", 6, None),
                                 ("Ⅳ", "受伤人数", 1, "属地消防救援站"),
                                 ("Ⅳ", "持续时间(h)", 1, None)])
        + _levels("DEMO-XZ-01", [("Ⅲ", "死亡人数", 1, "乡镇应急指挥部"),
                                 ("Ⅳ", "受灾人数", 10, "乡镇应急办")])
        + _levels("DEMO-XZ-02", [("Ⅳ", "转移安置人数", 10, "乡镇防汛办")])
        + _levels("DEMO-CUN-01", [("Ⅳ", "受伤人数", 1, "村应急小分队"),
                                  ("Ⅳ", "受灾人数", 5, None)])
    )
    tasks = [
        ["DEMO-ZT-01", "Ⅰ", "县应急管理局", "报告市政府和市应急管理局，请求支援", "局长",
         "30分钟内书面报告"],
        ["DEMO-ZT-01", "Ⅱ", "县应急管理局", "启动县应急指挥部，成立现场指挥部", "分管副局长",
         "现场指挥部运转"],
        ["DEMO-ZT-01", "Ⅲ", "县应急管理局", "派工作组赴现场，调度救援队伍", "值班领导",
         "工作组到达现场"],
        ["DEMO-ZT-01", "Ⅳ", "事发乡镇", "组织先期处置，核实伤亡并上报", "乡镇值班领导",
         "1小时内报县应急管理局"],
        ["DEMO-ZT-01", "Ⅳ", "县应急管理局", "跟踪指导，准备启动更高级别响应", "值班员",
         "续报完成"],
        ["DEMO-ZX-FX", "Ⅲ", "县防指办", "组织危险区域人员转移", "防指办主任",
         "转移人数清零核对"],
        ["DEMO-ZX-FX", "Ⅲ", "县民政局", "开放避难场所，发放救灾物资", "救灾科", "安置点运行"],
        # tasks that mobilise: a team type and how many, an item and how much (migration 0012)
        ["DEMO-ZX-FX", "Ⅲ", "县防指办", "调派水域救援队伍", "防指办主任", "队伍到达现场",
         "水域救援队伍", None, 2],
        ["DEMO-ZX-FX", "Ⅲ", "县应急管理局", "调拨帐篷至安置点", "救灾物资科", "帐篷到达安置点",
         None, "帐篷", 200],
        ["DEMO-ZX-FX", "Ⅳ", "县防指办", "发布预警，巡查易涝点和地灾隐患点", "值班员",
         "巡查记录上报"],
        ["DEMO-ZX-FX", "Ⅳ", "事发乡镇", "转移受威胁群众", "乡镇防汛责任人", "转移名单核对"],
        ["DEMO-ZX-HZ", "Ⅲ", "县消防救援大队", "调集增援力量，划定警戒区", "大队长",
         "警戒区设立"],
        ["DEMO-ZX-HZ", "Ⅳ", "属地消防救援站", "出动灭火救援", "站长", "明火扑灭"],
        ["DEMO-ZX-HZ", "Ⅳ", "县卫健局", "派出急救力量救治伤员", "医政科", "伤员送医"],
        ["DEMO-XZ-01", "Ⅲ", "乡镇应急办", "启动乡镇应急指挥部", "分管副乡镇长", "指挥部到位"],
        ["DEMO-XZ-01", "Ⅳ", "乡镇应急办", "组织村级先期处置并上报", "应急办主任",
         "30分钟内报县"],
        ["DEMO-XZ-02", "Ⅳ", "乡镇防汛办", "组织低洼地群众转移", "防汛办主任", "转移完成"],
        ["DEMO-CUN-01", "Ⅳ", "村应急小分队", "疏散群众至村避难点", "村支书", "人员清点完毕"],
        ["DEMO-CUN-01", "Ⅳ", "村网格员", "报告乡镇应急办", "网格员", "已电话报告"],
    ]
    if ent:
        plans.append(["DEMO-QY-01", f"{ent}生产安全事故应急预案{_TAG}", "企业", ent, None, ent,
                      "危化品泄漏、火灾", past, soon, d(), None, None])
        levels += _levels("DEMO-QY-01", [("Ⅳ", "受伤人数", 1, "企业应急指挥部")])
        tasks.append(["DEMO-QY-01", "Ⅳ", ent, "启动企业预案，切断泄漏源", "企业安全负责人",
                      "泄漏源切断"])
    return {"预案": plans, "响应分级": levels, "任务": tasks}


def clear_plans(engine: Engine, *, actor: str = "demo") -> None:
    """Empty the plan and drill tables (the demo owns its database)."""
    with engine.begin() as c:
        set_actor(c, actor)
        c.execute(sa.text("TRUNCATE drill_finding_events, drill_findings, drills, "
                          "incident_checklists, plan_tasks, plan_levels, plans RESTART IDENTITY"))


def add_demo_drills(engine: Engine, *, actor: str = "demo",
                    today: dt.date | None = None) -> dict[str, int]:
    """Two drills with three findings: one overdue (rectifying, deadline 10 days ago), one
    open and not yet due, one closed."""
    today = today or dt.date.today()
    days = dt.timedelta
    add_drill(engine, DrillIn("DEMO-YL-01", "DEMO-ZX-FX", today - days(100),
                              "汛期山洪转移桌面推演（合成数据）", "桌面推演", 40,
                              ("县防指办", "县民政局", "各乡镇")), actor=actor)
    add_drill(engine, DrillIn("DEMO-YL-02", "DEMO-XZ-01", today - days(400),
                              "村庄火灾疏散实战演练（合成数据）", "实战", 120,
                              ("乡镇应急办", "村应急小分队", "消防救援站")), actor=actor)
    f1 = add_finding(engine, "DEMO-YL-01", finding="转移名单与实际住户不一致（合成）",
                     responsible="县防指办", deadline=today - days(10), actor=actor)
    move_finding(engine, f1["id"], "rectifying", actor=actor, note="核对名单中")
    add_finding(engine, "DEMO-YL-01", finding="避难场所物资清单未更新（合成）",
                responsible="县民政局", deadline=today + days(30), actor=actor)
    f3 = add_finding(engine, "DEMO-YL-02", finding="村广播覆盖不全（合成）",
                     responsible="乡镇应急办", deadline=today - days(300), actor=actor)
    move_finding(engine, f3["id"], "rectifying", actor=actor)
    move_finding(engine, f3["id"], "closed", actor=actor, measures="增设2处应急广播",
                 today=today - days(320))
    return {"drills": 2, "drill findings": 3}
