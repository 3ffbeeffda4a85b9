"""Emergency plans from the bureau's workbook: the template, the reader, the one-transaction load.

The workbook has three sheets with Chinese headers (English ones are read too):

* **预案** — one row per plan: 预案编号 (the plan's id), 预案名称, 预案类别 (总体/专项/部门/乡镇/
  村/企业), 编制单位, 适用区域代码 (a township or village code; blank = the whole county),
  企业名称 (enterprise plans), 适用事件类型 (火灾、洪涝…, or 全部), 修订日期, 下次评审日期,
  录入日期, 经度/纬度 (an enterprise's site, optional);
* **响应分级** — one row per trigger: 预案编号, 响应级别 (Ⅰ–Ⅳ), 指标 (死亡人数, 受灾人数 …),
  条件 (≥ or >), 数值, 指挥机构 (optional); any trigger met gives that level;
* **任务** — one row per task: 预案编号, 响应级别, 责任单位, 任务, 负责人, 完成标志.

Every problem of the whole workbook is collected (sheet, row as the spreadsheet numbers it,
field, value, fix) and raised together; with any error nothing is written. A clean workbook is
written in one transaction: plans matched by 预案编号 are updated in place (their levels and
tasks replaced; checklists already started keep their copy of the tasks), new ones inserted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.layers import vocab
from emgis.layers.problems import Problems
from emgis.risk import plans as pl
from emgis.risk._db import set_actor

SHEET_PLANS, SHEET_LEVELS, SHEET_TASKS = "预案", "响应分级", "任务"
#: sheet → [(field, Chinese header, English header, required)]
COLUMNS: dict[str, list[tuple[str, str, str, bool]]] = {
    SHEET_PLANS: [
        ("ext_id", "预案编号", "plan_id", True), ("name", "预案名称", "name", True),
        ("kind", "预案类别", "kind", True), ("owner_unit", "编制单位", "owner_unit", False),
        ("area_code", "适用区域代码", "area_code", False),
        ("enterprise", "企业名称", "enterprise", False),
        ("incident_types", "适用事件类型", "incident_types", True),
        ("revised_on", "修订日期", "revised_on", False),
        ("next_review_on", "下次评审日期", "next_review_on", False),
        ("entered_on", "录入日期", "entered_on", False),
        ("lon", "经度", "lon", False), ("lat", "纬度", "lat", False),
    ],
    SHEET_LEVELS: [
        ("ext_id", "预案编号", "plan_id", True), ("level", "响应级别", "level", True),
        ("field", "指标", "field", True), ("op", "条件", "op", True),
        ("value", "数值", "value", True), ("command", "指挥机构", "command", False),
    ],
    SHEET_TASKS: [
        ("ext_id", "预案编号", "plan_id", True), ("level", "响应级别", "level", True),
        ("unit", "责任单位", "unit", False), ("task", "任务", "task", True),
        ("who", "负责人", "who", False), ("done_when", "完成标志", "done_when", False),
        ("team_type", "调动队伍类型", "team_type", False), ("item", "调拨物资", "item", False),
        ("quantity", "数量", "quantity", False),
    ],
}
ALL_TYPES = ("全部", "所有", "all", "*")
_SPLIT = re.compile(r"[、,，;；/\s]+")


@dataclass
class PlanRow:
    row: int
    ext_id: str
    name: str
    kind: str
    owner_unit: str | None
    area_code: str | None
    enterprise: str | None
    incident_types: list[str]
    revised_on: dt.date | None
    next_review_on: dt.date | None
    entered_on: dt.date | None
    point: tuple[float, float] | None
    levels: dict[str, list[pl.Trigger]] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)
    # (level, unit, task, who, done_when, team_type, item, quantity)
    tasks: list[tuple] = field(default_factory=list)


@dataclass(frozen=True)
class PlansLoaded:
    plans: int
    levels: int
    tasks: int
    inserted: int
    updated: int
    load_id: int


# --- the template -------------------------------------------------------------------------------

def write_template(path: str | Path, sample: dict[str, list[list[Any]]] | None = None) -> Path:
    """Write the workbook a bureau fills (headers, a notes sheet; ``sample`` rows by sheet)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for sheet, cols in COLUMNS.items():
        ws = wb.create_sheet(sheet)
        ws.append([c[1] for c in cols])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for i, c in enumerate(cols):
            ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = max(12, 3 * len(c[1]))
        for r in (sample or {}).get(sheet, []):
            ws.append(list(r))
    notes = wb.create_sheet("填表说明")
    for line in _notes():
        notes.append([line])
    notes.column_dimensions["A"].width = 110
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _notes() -> list[str]:
    return [
        "填表说明 How to fill in this workbook (emgis load plans FILE.xlsx)",
        "预案: one row per plan. 预案编号 must be unique. 预案类别: "
        + "、".join(t.zh for t in vocab.PLAN_KIND.values()) + ".",
        "适用区域代码: the 12-digit code of the township or village the plan covers; blank = the "
        "whole county. 企业名称 (+ 经度/纬度 of the site) for an enterprise plan.",
        "适用事件类型: " + "、".join(t.zh for t in vocab.INCIDENT_TYPE.values())
        + " (separated by 、), or 全部 for every type.",
        "Dates as 2025-06-30. 下次评审日期 past = overdue for revision in the plan-system report.",
        "响应分级: one row per trigger; any trigger met gives the level; Ⅰ is the most severe. "
        "指标: " + "、".join(t.zh for t in vocab.TRIGGER_FIELD.values()) + ". 条件: ≥ or >. "
        "数值: a number. A more severe level needs a higher threshold on the same 指标.",
        "任务: a task may mobilise — 调动队伍类型 (a team type, e.g. 水域救援队伍) or 调拨物资 (a "
        "stock item, e.g. 帐篷) with 数量 (how many teams, or how much in the item's unit); "
        "starting the response puts it on the incident's checklist.",
        "任务: one row per task of a level: 责任单位, 任务, 负责人, 完成标志 (how one knows it "
        "is done). Starting a response copies the level's tasks onto the incident as a checklist.",
    ]


# --- reading ------------------------------------------------------------------------------------

def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _date(p: Problems, row: int, name: str, v: Any) -> dt.date | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v).strip().replace("/", "-").replace(".", "-"))
    except ValueError:
        p.error(row, name, v, "is not a date", "write the date as 2025-06-30")
        return None


def _sheet_rows(wb, sheet: str, p: Problems) -> list[tuple[int, dict[str, Any]]]:
    """The sheet's rows as {field: value} with their spreadsheet row numbers."""
    if sheet not in wb.sheetnames:
        p.error(None, None, sheet, f"the workbook has no sheet {sheet}",
                "use the template (`emgis plans template OUT.xlsx`)")
        return []
    ws = wb[sheet]
    rows = list(ws.iter_rows(values_only=True))
    if not rows:
        return []
    header = [_text(h) for h in rows[0]]
    where: dict[str, int] = {}
    for name, zh, en, required in COLUMNS[sheet]:
        for i, h in enumerate(header):
            if h in (zh, en):
                where[name] = i
        if name not in where and required:
            p.error(1, zh, None, f"sheet {sheet} has no column {zh}",
                    f"add the column {zh} (see the template)")
    out = []
    for n, r in enumerate(rows[1:], start=2):
        if all(_text(v) is None for v in r):
            continue
        out.append((n, {k: (r[i] if i < len(r) else None) for k, i in where.items()}))
    return out


def _required(p: Problems, row: int, sheet: str, d: dict[str, Any]) -> bool:
    ok = True
    for name, zh, _en, required in COLUMNS[sheet]:
        if required and name in d and _text(d[name]) is None:
            p.error(row, zh, None, "is blank", f"fill in {zh}")
            ok = False
    return ok


def read_plans(path: str | Path, *, known_codes: set[str] | None = None,
               known_items: set[str] | None = None) -> list[PlanRow]:
    """Read and check the workbook; raise `InputError` with every problem (sheet in ``file``)."""
    from openpyxl import load_workbook

    path = Path(path)
    probs = {s: Problems(f"{path.name} [{s}]") for s in COLUMNS}
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds
        top = Problems(path.name)
        top.error(None, None, path.name, f"cannot be read as an .xlsx workbook ({exc})",
                  "save it as .xlsx from the template (`emgis plans template OUT.xlsx`)")
        top.raise_if_errors()
    plans = _read_plan_sheet(_sheet_rows(wb, SHEET_PLANS, probs[SHEET_PLANS]),
                             probs[SHEET_PLANS], known_codes)
    _read_level_sheet(_sheet_rows(wb, SHEET_LEVELS, probs[SHEET_LEVELS]), probs[SHEET_LEVELS],
                      plans)
    _read_task_sheet(_sheet_rows(wb, SHEET_TASKS, probs[SHEET_TASKS]), probs[SHEET_TASKS], plans,
                     known_items)
    wb.close()
    every = Problems(path.name)
    for s in COLUMNS:
        every.extend(probs[s].items)
    every.raise_if_errors()
    return list(plans.values())


def _read_plan_sheet(rows, p: Problems, known_codes: set[str] | None) -> dict[str, PlanRow]:
    plans: dict[str, PlanRow] = {}
    first: dict[str, int] = {}
    for n, d in rows:
        _required(p, n, SHEET_PLANS, d)
        ext = _text(d.get("ext_id"))
        if ext is not None and ext in first:
            p.error(n, "预案编号", ext, f"is a duplicate plan id (row {first[ext]} has it too)",
                    "give each plan its own 预案编号")
            continue
        kind = vocab.lookup(vocab.PLAN_KIND, d.get("kind"))
        if kind is None and _text(d.get("kind")) is not None:
            p.error(n, "预案类别", d.get("kind"), "is not a plan kind",
                    f"use one of {vocab.describe(vocab.PLAN_KIND)}")
        types = _types(p, n, _text(d.get("incident_types")) or "")
        code = _text(d.get("area_code"))
        if code is not None and known_codes is not None and code not in known_codes:
            p.error(n, "适用区域代码", code, "is not a stored division code",
                    "use the 12-digit code of a township or village (`emgis layers`), or leave "
                    "it blank for the whole county")
        point = _point(p, n, d.get("lon"), d.get("lat"))
        dates = {k: _date(p, n, zh, d.get(k)) for k, zh in (
            ("revised_on", "修订日期"), ("next_review_on", "下次评审日期"),
            ("entered_on", "录入日期"))}
        if ext is None or kind is None:
            continue
        first[ext] = n
        plans[ext] = PlanRow(n, ext, _text(d.get("name")) or ext, kind,
                             _text(d.get("owner_unit")), code, _text(d.get("enterprise")),
                             types, point=point, **dates)
    return plans


def _types(p: Problems, n: int, text: str) -> list[str]:
    if text.strip() in ALL_TYPES:
        return []
    out = []
    for part in filter(None, _SPLIT.split(text)):
        key = vocab.lookup(vocab.INCIDENT_TYPE, part)
        if key is None:
            p.error(n, "适用事件类型", part, "is not an incident type",
                    f"use {'、'.join(t.zh for t in vocab.INCIDENT_TYPE.values())}, or 全部")
        elif key not in out:
            out.append(key)
    return out


def _point(p: Problems, n: int, lon: Any, lat: Any) -> tuple[float, float] | None:
    if _text(lon) is None and _text(lat) is None:
        return None
    try:
        x, y = float(str(lon)), float(str(lat))
    except ValueError:
        p.error(n, "经度", f"{lon}, {lat}", "is not a longitude and latitude",
                "give both in degrees (WGS 84), e.g. 119.85 and 31.0")
        return None
    if not (73 <= x <= 136 and 3 <= y <= 54):
        p.error(n, "经度", f"{x}, {y}", "is outside China", "check the site's 经度/纬度 (degrees)")
        return None
    return x, y


def _plan_of(p: Problems, n: int, plans: dict[str, PlanRow], d: dict[str, Any]):
    ext = _text(d.get("ext_id"))
    if ext is not None and ext not in plans:
        p.error(n, "预案编号", ext, "is not a plan of sheet 预案",
                "add the plan to sheet 预案 or correct the id")
        return None
    return plans.get(ext) if ext else None


def _level(p: Problems, n: int, v: Any) -> str | None:
    lv = vocab.lookup(vocab.RESPONSE_LEVEL, _text(v))
    if lv is None and _text(v) is not None:
        p.error(n, "响应级别", v, "is not a response level", "use Ⅰ, Ⅱ, Ⅲ or Ⅳ (or I–IV)")
    return lv


def _read_level_sheet(rows, p: Problems, plans: dict[str, PlanRow]) -> None:
    at: dict[tuple[str, str, str], int] = {}
    for n, d in rows:
        _required(p, n, SHEET_LEVELS, d)
        plan = _plan_of(p, n, plans, d)
        lv = _level(p, n, d.get("level"))
        t, tprobs = pl.parse_trigger({"field": d.get("field"), "op": d.get("op") or "≥",
                                      "value": _text(d.get("value"))})
        for f, v, msg, fix in tprobs:
            zh = {"field": "指标", "op": "条件", "value": "数值"}[f]
            if not (f == "value" and _text(d.get("value")) is None):  # blank: said above
                p.error(n, zh, v, msg, fix)
        if plan is None or lv is None or t is None:
            continue
        plan.levels.setdefault(lv, []).append(t)
        at[(plan.ext_id, lv, t.text())] = n
        cmd = _text(d.get("command"))
        if cmd:
            plan.commands[lv] = cmd
    for plan in plans.values():
        for lv, text, msg, fix in pl.order_problems(plan.levels):
            p.error(at.get((plan.ext_id, lv, text)), "数值", f"{plan.ext_id} {lv}: {text}",
                    f"level out of order: {msg}", fix)


def _read_task_sheet(rows, p: Problems, plans: dict[str, PlanRow],
                     items: set[str] | None = None) -> None:
    for n, d in rows:
        _required(p, n, SHEET_TASKS, d)
        plan = _plan_of(p, n, plans, d)
        lv = _level(p, n, d.get("level"))
        task = _text(d.get("task"))
        if plan is None or lv is None or task is None:
            continue
        if lv not in plan.levels:
            p.error(n, "响应级别", lv, f"plan {plan.ext_id} has no triggers at level {lv}",
                    f"add the level's triggers to sheet {SHEET_LEVELS}, or correct the level")
            continue
        mob = _mobilised(p, n, d, items)
        if mob is None:
            continue
        plan.tasks.append((lv, _text(d.get("unit")), task, _text(d.get("who")),
                           _text(d.get("done_when")), *mob))


def _mobilised(p: Problems, n: int, d: dict, items: set[str] | None
               ) -> tuple[str | None, str | None, float | None] | None:
    """A task's team type or item and its quantity (None, None, None: it mobilises nothing);
    None when the row has a problem (reported in ``p``)."""
    raw_type, item, raw_q = d.get("team_type"), _text(d.get("item")), d.get("quantity")
    team_type = vocab.lookup(vocab.TEAM_TYPE, raw_type) if _text(raw_type) else None
    ok = True
    if _text(raw_type) and team_type is None:
        p.error(n, "调动队伍类型", raw_type, "is not a team type",
                "use one of " + "、".join(t.zh for t in vocab.TEAM_TYPE.values()))
        ok = False
    if team_type and item:
        p.error(n, "调拨物资", item, "a task mobilises a team type or an item, not both",
                "put the item on a row of its own")
        ok = False
    if item and items is not None and item not in items:
        p.error(n, "调拨物资", item, "is not a stock item",
                "use a name of `emgis stock-items list` (帐篷, 棉被, 折叠床 …), or add it first")
        ok = False
    q = None
    if _text(raw_q) is not None:
        try:
            q = float(str(raw_q))
        except ValueError:
            q = None
        if q is None or not q > 0 or q != q or q == float("inf"):
            p.error(n, "数量", raw_q, "is not a positive number",
                    "give how many teams, or how much of the item in its unit")
            ok = False
    elif team_type or item:
        p.error(n, "数量", None, "is blank for a task that mobilises",
                "give how many teams, or how much of the item in its unit")
        ok = False
    if q is not None and not (team_type or item):
        p.error(n, "数量", raw_q, "is given but the task mobilises nothing",
                "fill in 调动队伍类型 or 调拨物资, or clear 数量")
        ok = False
    return (team_type, item, q) if ok else None


# --- writing ------------------------------------------------------------------------------------

def load_plans(engine: Engine, path: str | Path, *, actor: str) -> PlansLoaded:
    """Check the workbook against the stored division codes and load it in one transaction."""
    path = Path(path)
    with engine.connect() as c:
        codes = {r[0] for r in c.execute(sa.text("SELECT code FROM admin_units"))}
        items = {r[0] for r in c.execute(sa.text("SELECT name FROM stock_items"))}
    plans = read_plans(path, known_codes=codes if codes else None, known_items=items)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    ins = upd = n_levels = n_tasks = 0
    with engine.begin() as c:
        set_actor(c, actor)
        load_id = c.execute(sa.text(
            "INSERT INTO loads (layer, file, sha256, rows, mode, actor) VALUES "
            "('plans', :f, :h, :n, 'upsert', :a) RETURNING id"),
            {"f": str(path), "h": digest, "n": len(plans), "a": actor}).scalar_one()
        for r in plans:
            geom = None if r.point is None else f"POINT({r.point[0]} {r.point[1]})"
            pid, inserted = c.execute(sa.text(
                "INSERT INTO plans (ext_id, name, kind, owner_unit, area_code, enterprise, "
                "incident_types, revised_on, next_review_on, entered_on, load_id, geom) VALUES "
                "(:ext_id, :name, :kind, :owner_unit, :area_code, :enterprise, :incident_types, "
                ":revised_on, :next_review_on, coalesce(:entered_on, current_date), :load, "
                "ST_GeomFromText(:g, 4326)) ON CONFLICT (ext_id) DO UPDATE SET name = "
                "EXCLUDED.name, kind = EXCLUDED.kind, owner_unit = EXCLUDED.owner_unit, "
                "area_code = EXCLUDED.area_code, enterprise = EXCLUDED.enterprise, "
                "incident_types = EXCLUDED.incident_types, revised_on = EXCLUDED.revised_on, "
                "next_review_on = EXCLUDED.next_review_on, entered_on = EXCLUDED.entered_on, "
                "load_id = EXCLUDED.load_id, geom = coalesce(EXCLUDED.geom, plans.geom) "
                "RETURNING id, (xmax = 0)"),
                {"ext_id": r.ext_id, "name": r.name, "kind": r.kind, "owner_unit": r.owner_unit,
                 "area_code": r.area_code, "enterprise": r.enterprise,
                 "incident_types": r.incident_types, "revised_on": r.revised_on,
                 "next_review_on": r.next_review_on, "entered_on": r.entered_on,
                 "load": load_id, "g": geom}).one()
            ins += bool(inserted)
            upd += not inserted
            c.execute(sa.text("DELETE FROM plan_tasks WHERE plan_id = :p"), {"p": pid})
            c.execute(sa.text("DELETE FROM plan_levels WHERE plan_id = :p"), {"p": pid})
            for lv, ts in r.levels.items():
                c.execute(sa.text("INSERT INTO plan_levels (plan_id, level, triggers, command) "
                                  "VALUES (:p, :l, CAST(:t AS jsonb), :c)"),
                          {"p": pid, "l": lv, "t": json.dumps([t.as_dict() for t in ts]),
                           "c": r.commands.get(lv)})
                n_levels += 1
            for seq, (lv, unit, task, who, done_when, tt, item, q) in enumerate(r.tasks, 1):
                c.execute(sa.text("INSERT INTO plan_tasks (plan_id, level, seq, unit, task, who, "
                                  "done_when, team_type, item, quantity) VALUES (:p, :l, :s, :u, "
                                  ":t, :w, :d, :tt, :it, :q)"),
                          {"p": pid, "l": lv, "s": seq, "u": unit, "t": task, "w": who,
                           "d": done_when, "tt": tt, "it": item, "q": q})
                n_tasks += 1
        # an enterprise plan without a site given: the enterprise's stored risk point
        c.execute(sa.text(
            "UPDATE plans p SET geom = (SELECT r.geom FROM risk_points r WHERE r.name = "
            "p.enterprise ORDER BY r.id LIMIT 1) WHERE p.load_id = :l AND p.geom IS NULL "
            "AND p.enterprise IS NOT NULL"), {"l": load_id})
    return PlansLoaded(len(plans), n_levels, n_tasks, ins, upd, load_id)
