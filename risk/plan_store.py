"""Plans in PostGIS: read, edit, propose for an incident, start a response, tick its checklist.

Why a module of its own: :mod:`risk.plans` decides what a trigger means (no database); this is
where plans meet incidents. Every write is one transaction naming its actor (``emgis.actor``, so
the audit trigger records who), and a failed one changes nothing.

* :func:`list_plans`, :func:`get_plan`, :func:`update_plan` — the plans (``GET/PATCH /plans``);
* :func:`propose` — the plans matching an incident (type covered; its area holds the incident,
  or it is a county-level plan) and the level each plan's triggers give, with the reasons;
* :func:`start_response` — a plan + level's tasks become the incident's checklist;
* :func:`checklist`, :func:`tick` — read it, mark an item done (or open again);
* :func:`set_figures` — the incident's figures the triggers read (NULL = unknown).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from emgis.layers import vocab
from emgis.layers.norms import Norms, default_norms
from emgis.layers.problems import NotFound, Problems
from emgis.risk import plans as pl
from emgis.risk._db import set_actor

#: How near (m) an enterprise plan's site must be to an incident to apply (a norm).
RADIUS_NORM = "plan.enterprise_radius_m"
INT_FIGURES = ("deaths", "injured", "missing", "affected", "relocated")
FIGURES = (*INT_FIGURES, "duration_h", "hazard_level")
#: plans listed most specific first
_SPECIFIC = {"village": 0, "enterprise": 0, "township": 1, "department": 2, "special": 2,
             "general": 3}

_PLAN_COLS = ("p.id, p.ext_id, p.name, p.kind, p.owner_unit, p.area_code, p.enterprise, "
              "p.incident_types, p.revised_on, p.next_review_on, p.entered_on, "
              "au.name AS area_name, au.level AS area_level")


def _plan_id(c: Connection, key: str | int) -> int:
    row = c.execute(sa.text("SELECT id FROM plans WHERE ext_id = :k"), {"k": str(key)}).first()
    if row is None and str(key).isdigit():
        row = c.execute(sa.text("SELECT id FROM plans WHERE id = :k"),
                        {"k": int(str(key))}).first()
    if row is None:
        raise NotFound(f"there is no plan {key!r}; list them with `emgis plans list` "
                       "(GET /plans)")
    return int(row[0])


def _plain(row) -> dict[str, Any]:
    d = dict(row._mapping)
    for k, v in d.items():
        if isinstance(v, dt.date | dt.datetime):
            d[k] = v.isoformat()
    return d


def list_plans(engine: Engine, kind: str | None = None) -> list[dict[str, Any]]:
    """Every plan (or those of ``kind``) with its levels, most specific area first."""
    with engine.connect() as c:
        rows = c.execute(sa.text(
            f"SELECT {_PLAN_COLS}, (SELECT coalesce(array_agg(level ORDER BY level), '{{}}') "
            "FROM plan_levels WHERE plan_id = p.id) AS levels, "
            "(SELECT count(*) FROM plan_tasks WHERE plan_id = p.id) AS tasks, "
            "(SELECT max(held_on) FROM drills WHERE plan_id = p.id) AS last_drill "
            "FROM plans p LEFT JOIN admin_units au ON au.code = p.area_code "
            "WHERE (CAST(:k AS text) IS NULL OR p.kind = :k) ORDER BY p.ext_id"),
            {"k": kind}).all()
    out = [_plain(r) for r in rows]
    for d in out:
        d["levels"] = [lv for lv in pl.LEVELS if lv in d["levels"]]
    return out


def get_plan(engine: Engine, key: str | int) -> dict[str, Any]:
    """One plan with its levels (triggers, command) and tasks by level."""
    with engine.connect() as c:
        pid = _plan_id(c, key)
        plan = _plain(c.execute(sa.text(
            f"SELECT {_PLAN_COLS} FROM plans p LEFT JOIN admin_units au ON au.code = p.area_code "
            "WHERE p.id = :i"), {"i": pid}).one())
        levels = c.execute(sa.text("SELECT level, triggers, command FROM plan_levels "
                                   "WHERE plan_id = :i"), {"i": pid}).all()
        tasks = c.execute(sa.text("SELECT id, level, seq, unit, task, who, done_when, "
                                  "team_type, item, quantity FROM plan_tasks "
                                  "WHERE plan_id = :i ORDER BY level, seq"),
                          {"i": pid}).all()
    by = {lv.level: lv for lv in levels}
    plan["levels"] = [{"level": lv, "level_zh": vocab.RESPONSE_LEVEL[lv].zh,
                       "triggers": by[lv].triggers, "command": by[lv].command,
                       "tasks": [_plain(t) for t in tasks if t.level == lv]}
                      for lv in pl.LEVELS if lv in by]
    return plan


def check_levels(p: Problems, levels: Mapping[str, list[Mapping[str, object]]],
                 row: int | None = None) -> dict[str, list[pl.Trigger]]:
    """Parse ``{level: [trigger dicts]}`` into ``p``'s problems and triggers (for PATCH)."""
    out: dict[str, list[pl.Trigger]] = {}
    for lv_text, trig in levels.items():
        lv = vocab.lookup(vocab.RESPONSE_LEVEL, lv_text)
        if lv is None:
            p.error(row, "level", lv_text, "is not a response level", "use I, II, III or IV")
            continue
        ts = []
        for d in trig:
            t, probs = pl.parse_trigger(d)
            for f, v, msg, fix in probs:
                p.error(row, f"levels.{lv}.{f}", v, msg, fix)
            if t is not None:
                ts.append(t)
        out[lv] = ts
    for lv, text, msg, fix in pl.order_problems(out):
        p.error(row, f"levels.{lv}", text, msg, fix)
    return out


PATCHABLE = ("name", "kind", "owner_unit", "incident_types", "revised_on", "next_review_on",
             "entered_on")


def update_plan(engine: Engine, key: str | int, changes: Mapping[str, Any], *,
                actor: str) -> dict[str, Any]:
    """Change a plan's fields (``PATCHABLE``) and/or replace the triggers of some of its levels
    (``levels``: {level: [{field, op, value}]}, checked in order with the levels kept)."""
    p = Problems("plan")
    sets: dict[str, Any] = {}
    for k, v in changes.items():
        if k == "levels" or v is None:
            continue
        if k == "kind":
            v = vocab.lookup(vocab.PLAN_KIND, v) or p.error(
                None, "kind", v, "is not a plan kind", f"use one of "
                f"{vocab.describe(vocab.PLAN_KIND)}")
        if k == "incident_types":
            keys = []
            for t in v:
                key_ = vocab.lookup(vocab.INCIDENT_TYPE, t)
                if key_ is None:
                    p.error(None, "incident_types", t, "is not an incident type",
                            f"use one of {vocab.describe(vocab.INCIDENT_TYPE)}")
                keys.append(key_)
            v = keys
        sets[k] = v
    with engine.begin() as c:
        pid = _plan_id(c, key)
        stored = pl.levels_from_json(c.execute(sa.text(
            "SELECT level, triggers FROM plan_levels WHERE plan_id = :i"), {"i": pid}).all())
        new = check_levels(p, changes.get("levels") or {})
        said = {q.message for q in p.errors}
        for lv, text, msg, fix in pl.order_problems({**stored, **new}) if new else ():
            if msg not in said:  # against a level kept as stored
                p.error(None, f"levels.{lv}", text, msg, fix)
        p.raise_if_errors()
        set_actor(c, actor)
        if sets:
            c.execute(sa.text(f"UPDATE plans SET {', '.join(f'{k} = :{k}' for k in sets)} "
                              "WHERE id = :id"), {**sets, "id": pid})
        for lv, ts in new.items():
            c.execute(sa.text(
                "INSERT INTO plan_levels (plan_id, level, triggers) VALUES (:p, :l, "
                "CAST(:t AS jsonb)) ON CONFLICT (plan_id, level) DO UPDATE SET triggers = "
                "EXCLUDED.triggers"),
                {"p": pid, "l": lv, "t": json.dumps([t.as_dict() for t in ts])})
    return get_plan(engine, pid)


# --- incidents ------------------------------------------------------------------------------------

def _incident(c: Connection, incident_id: int, *, lock: bool = False):
    row = c.execute(sa.text(
        "SELECT id, title, incident_type, level, status, "
        + ", ".join(FIGURES) + ", CASE WHEN ST_Dimension(geom) = 2 THEN "
        "ST_Area(geom::geography) / 1e6 END AS area_km2 FROM incidents WHERE id = :i"
        + (" FOR UPDATE" if lock else "")), {"i": incident_id}).first()
    if row is None:
        raise NotFound(f"there is no incident {incident_id}")
    return row


def figures_of(row) -> dict[str, float | None]:
    m = row._mapping
    return {f: (None if m[f] is None else float(m[f])) for f in (*FIGURES, "area_km2")}


def set_figures(engine: Engine, incident_id: int, figures: Mapping[str, float | None], *,
                actor: str, clear: tuple[str, ...] = ()) -> dict[str, float | None]:
    """Set the incident's figures (those given; ``clear`` names figures to make unknown)."""
    p = Problems("incident figures")
    sets: dict[str, Any] = {}
    for k, v in figures.items():
        if k not in FIGURES:
            p.error(None, k, v, "is not a figure of an incident", f"use {', '.join(FIGURES)}")
        elif v is not None:
            if v < 0 or (k in INT_FIGURES and float(v) != int(v)):
                p.error(None, k, v, "is not a count ≥ 0" if k in INT_FIGURES else "is below 0",
                        "give a whole number ≥ 0" if k in INT_FIGURES else "give a number ≥ 0")
            sets[k] = int(v) if k in INT_FIGURES else float(v)
    for k in clear:
        if k not in FIGURES:
            p.error(None, k, None, "is not a figure of an incident", f"use {', '.join(FIGURES)}")
        sets[k] = None
    p.raise_if_errors()
    with engine.begin() as c:
        _incident(c, incident_id, lock=True)
        set_actor(c, actor)
        if sets:
            c.execute(sa.text(f"UPDATE incidents SET {', '.join(f'{k} = :{k}' for k in sets)}, "
                              "updated_at = now() WHERE id = :id"), {**sets, "id": incident_id})
        return figures_of(_incident(c, incident_id))


def propose(engine: Engine, incident_id: int, norms: Norms | None = None) -> dict[str, Any]:
    """The plans for an incident and the level each one's triggers give, with the reasons
    (``norms``: ``plan.enterprise_radius_m``; default norms when omitted)."""
    radius = (norms or default_norms()).number(RADIUS_NORM)
    with engine.connect() as c:
        inc = _incident(c, incident_id)
        kind = vocab.lookup(vocab.INCIDENT_TYPE, inc.incident_type)
        rows = c.execute(sa.text(
            f"SELECT {_PLAN_COLS}, CASE WHEN p.area_code IS NULL AND p.enterprise IS NULL "
            "OR au.level IN ('province', 'city', 'county') THEN 'county-level plan' "
            "WHEN au.code IS NOT NULL THEN 'the incident is in ' || au.name "
            "ELSE 'the incident is near ' || coalesce(p.enterprise, 'the plan''s site') END "
            "AS why FROM plans p LEFT JOIN admin_units au ON au.code = p.area_code, "
            "incidents i WHERE i.id = :i AND (cardinality(p.incident_types) = 0 "
            "OR CAST(:k AS text) = ANY(p.incident_types)) AND ("
            " (p.area_code IS NULL AND p.enterprise IS NULL AND p.geom IS NULL)"
            " OR au.level IN ('province', 'city', 'county')"
            " OR (au.geom IS NOT NULL AND ST_Intersects(au.geom, i.geom))"
            " OR (au.geom IS NULL AND au.point IS NOT NULL AND p.kind = 'village'"
            "     AND ST_DWithin(au.point::geography, i.geom::geography, :r))"
            " OR (p.geom IS NOT NULL AND ST_DWithin(p.geom::geography, i.geom::geography, :r)))"),
            {"i": incident_id, "k": kind, "r": radius}).all()
        levels = c.execute(sa.text(
            "SELECT plan_id, level, triggers FROM plan_levels WHERE plan_id = ANY(:ids)"),
            {"ids": [r.id for r in rows]}).all()
        started = c.execute(sa.text(
            "SELECT DISTINCT plan_id, level FROM incident_checklists WHERE incident_id = :i"),
            {"i": incident_id}).all()
    figures = figures_of(inc)
    out = []
    for r in sorted(rows, key=lambda r: (_SPECIFIC.get(r.kind, 9), r.ext_id)):
        trig = pl.levels_from_json((lv.level, lv.triggers) for lv in levels if lv.plan_id == r.id)
        ans = pl.evaluate(trig, figures)
        d = _plain(r)
        d.update(ans.as_dict())
        d["level_zh"] = vocab.RESPONSE_LEVEL[ans.level].zh if ans.level else None
        d["started"] = [s.level for s in started if s.plan_id == r.id]
        if ans.level is None:
            d["reasons"] = ["no trigger of this plan is met by the known figures"]
        out.append(d)
    notes = []
    if kind is None:
        notes.append(f"incident type {inc.incident_type!r} is not a known kind "
                     f"({', '.join(vocab.INCIDENT_TYPE)}): only plans covering every type match")
    unknown = [f for f, v in figures.items() if v is None]
    if unknown:
        notes.append("unknown figures (never read as 0): " + ", ".join(unknown))
    best = next((d for d in out if d["level"]), None)
    return {"incident": {"id": inc.id, "title": inc.title, "incident_type": inc.incident_type,
                         "kind": kind, "level": inc.level, "status": inc.status},
            "figures": figures, "plans": out, "notes": notes,
            "proposed": None if best is None else {"plan": best["ext_id"],
                                                   "name": best["name"],
                                                   "level": best["level"],
                                                   "reasons": best["reasons"]}}


def start_response(engine: Engine, incident_id: int, plan: str | int, level: str | None, *,
                   actor: str, norms: Norms | None = None) -> dict[str, Any]:
    """Start a response on the incident at ``plan`` + ``level`` (default: the level the plan's
    triggers give): the level's tasks become the incident's checklist, the incident takes the
    level and, if only reported, the status responding. Starting the same plan + level again
    adds nothing."""
    p = Problems("response")
    lv = None
    if level is not None:
        lv = vocab.lookup(vocab.RESPONSE_LEVEL, level)
        if lv is None:
            p.error(None, "level", level, "is not a response level", "use I, II, III or IV")
            p.raise_if_errors()
    with engine.connect() as c:
        pid = _plan_id(c, plan)
    if lv is None:
        prop = next((d for d in propose(engine, incident_id, norms)["plans"]
                     if d["id"] == pid), None)
        if prop is None or prop["level"] is None:
            p.error(None, "level", None,
                    "no level can be read from the plan's triggers for this incident"
                    + ("" if prop else " (the plan does not match it)"),
                    "give the level (I–IV), or set the incident's figures first")
            p.raise_if_errors()
        lv = prop["level"]  # type: ignore[index]
    with engine.begin() as c:
        _incident(c, incident_id, lock=True)
        set_actor(c, actor)
        n = c.execute(sa.text(
            "INSERT INTO incident_checklists (incident_id, plan_id, level, task_id, seq, unit, "
            "task, who, done_when, team_type, item, quantity, state, started_by) SELECT :i, "
            "t.plan_id, t.level, t.id, t.seq, t.unit, t.task, t.who, t.done_when, t.team_type, "
            "t.item, t.quantity, 'open', :a FROM plan_tasks t "
            "WHERE t.plan_id = :p AND t.level = :l AND NOT EXISTS (SELECT 1 FROM "
            "incident_checklists x WHERE x.incident_id = :i AND x.task_id = t.id)"),
            {"i": incident_id, "p": pid, "l": lv, "a": actor}).rowcount
        c.execute(sa.text(
            "UPDATE incidents SET level = :l, status = CASE WHEN status = 'reported' "
            "THEN 'responding' ELSE status END, updated_at = now() WHERE id = :i"),
            {"i": incident_id, "l": lv})
    return {"incident": incident_id, "plan": pid, "level": lv, "added": n,
            "checklist": checklist(engine, incident_id)}


def checklist(engine: Engine, incident_id: int) -> list[dict[str, Any]]:
    """The incident's checklist, in the order of its plans' tasks."""
    with engine.connect() as c:
        _incident(c, incident_id)
        rows = c.execute(sa.text(
            "SELECT x.id, x.plan_id, p.ext_id AS plan, p.name AS plan_name, x.level, x.seq, "
            "x.unit, x.task, x.who, x.done_when, x.team_type, x.item, x.quantity, x.state, "
            "x.started_at, x.started_by, x.done_at, x.done_by FROM incident_checklists x "
            "LEFT JOIN plans p ON p.id = x.plan_id WHERE x.incident_id = :i "
            "ORDER BY x.started_at, x.plan_id, x.seq, x.id"), {"i": incident_id}).all()
    out = [_plain(r) for r in rows]
    for r in out:  # what it mobilises, in words (the panel and the CLI show it)
        if r.get("team_type"):
            r["mobilise"] = (f"{vocab.TEAM_TYPE[r['team_type']].zh} × "
                             f"{r['quantity']:g}" if r.get("quantity") else
                             vocab.TEAM_TYPE[r["team_type"]].zh)
        elif r.get("item"):
            r["mobilise"] = f"{r['item']} {r['quantity']:g}" if r.get("quantity") else r["item"]
    return out


def tick(engine: Engine, incident_id: int, item_id: int, state: str, *,
         actor: str) -> dict[str, Any]:
    """Mark a checklist item done (or open again); who and when are recorded."""
    key = vocab.lookup(vocab.CHECKLIST_STATE, state)
    if key is None:
        p = Problems("checklist item")
        p.error(None, "state", state, "is not a checklist state", "use done or open")
        p.raise_if_errors()
    with engine.begin() as c:
        set_actor(c, actor)
        row = c.execute(sa.text(
            "UPDATE incident_checklists SET state = :s, "
            "done_at = CASE WHEN :s = 'done' THEN now() END, "
            "done_by = CASE WHEN :s = 'done' THEN :a END "
            "WHERE id = :x AND incident_id = :i RETURNING id"),
            {"s": key, "a": actor, "x": item_id, "i": incident_id}).first()
        if row is None:
            raise NotFound(f"incident {incident_id} has no checklist item {item_id}")
    return next(d for d in checklist(engine, incident_id) if d["id"] == item_id)
