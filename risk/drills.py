"""Drills (演练) and the closed loop of their findings: open → rectifying → closed.

A drill is held on a plan (date, scenario, kind 桌面推演/实战/双盲, participants, units); its
evaluation findings each become a rectification item with a responsible person and a deadline,
moved through the same kind of loop as hazards (:mod:`risk.hazards`), mirrored rather than shared
because the states differ (a finding has no confirmation or interim-control step):

==============  ===================  =================================================
from            to                   why
==============  ===================  =================================================
open 待整改      rectifying 整改中     rectification starts
rectifying      closed 已销号         rectification accepted (needs responsible, measures)
rectifying      open                 acceptance failed: back to the list
==============  ===================  =================================================

Nothing leaves ``closed``; a move to the same state is refused. Every move and note is one
transaction: the row (audited) and a ``drill_finding_events`` row. Overdue = the deadline has
passed (today after it) and the finding is not closed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.layers import vocab
from emgis.layers.problems import NotFound, Problems
from emgis.risk._db import set_actor

ALLOWED: dict[str, tuple[str, ...]] = {
    "open": ("rectifying",),
    "rectifying": ("closed", "open"),
    "closed": (),
}


class IllegalMove(ValueError):
    """A finding was asked to move where it may not go from its state (HTTP 409)."""


def transition(state: str, to_state: object) -> str:
    """The new state key if ``state → to_state`` is allowed (key or Chinese label)."""
    req = vocab.lookup(vocab.FINDING_STATE, to_state)
    nxt = ", ".join(f"{s} ({vocab.FINDING_STATE[s].zh})" for s in ALLOWED[state])
    hint = f"allowed next: {nxt}" if nxt else "closed is final; record a new finding"
    if req is None or req not in ALLOWED[state]:
        raise IllegalMove(f"cannot move a finding from {state} "
                          f"({vocab.FINDING_STATE[state].zh}) to {to_state!r}; {hint}")
    return req


def overdue(deadline: dt.date | None, state: str, today: dt.date) -> bool:
    return deadline is not None and today > deadline and state != "closed"


def _plain(row) -> dict[str, Any]:
    d = dict(row._mapping)
    for k, v in d.items():
        if isinstance(v, dt.date | dt.datetime):
            d[k] = v.isoformat()
    return d


@dataclass(frozen=True)
class DrillIn:
    """A drill to register (``plan``: the plan's id, or None)."""

    ext_id: str
    plan: str | None
    held_on: dt.date
    scenario: str
    kind: str
    participants: int | None = None
    units: tuple[str, ...] = ()


def add_drill(engine: Engine, drill: DrillIn, *, actor: str) -> dict[str, Any]:
    """Register a drill; every problem at once (an unknown plan or kind, a used id)."""
    ext_id, plan, held_on, scenario = drill.ext_id, drill.plan, drill.held_on, drill.scenario
    kind, participants, units = drill.kind, drill.participants, drill.units
    p = Problems("drill")
    k = vocab.lookup(vocab.DRILL_KIND, kind)
    if k is None:
        p.error(None, "kind", kind, "is not a drill kind",
                f"use one of {vocab.describe(vocab.DRILL_KIND)}")
    if participants is not None and participants < 0:
        p.error(None, "participants", participants, "is below 0", "give the head count")
    if not scenario.strip():
        p.error(None, "scenario", scenario, "is blank", "say what was drilled")
    with engine.begin() as c:
        pid = None
        if plan is not None:
            pid = c.execute(sa.text("SELECT id FROM plans WHERE ext_id = :e"),
                            {"e": plan}).scalar()
            if pid is None:
                p.error(None, "plan", plan, "is not a stored plan", "see `emgis plans list`")
        if c.execute(sa.text("SELECT 1 FROM drills WHERE ext_id = :e"), {"e": ext_id}).first():
            p.error(None, "ext_id", ext_id, "is the id of a stored drill", "give a new id")
        p.raise_if_errors()
        set_actor(c, actor)
        c.execute(sa.text(
            "INSERT INTO drills (ext_id, plan_id, held_on, scenario, kind, participants, units) "
            "VALUES (:e, :p, :d, :s, :k, :n, :u)"),
            {"e": ext_id, "p": pid, "d": held_on, "s": scenario, "k": k, "n": participants,
             "u": list(units)})
    return get_drill(engine, ext_id)


_DRILL_COLS = ("d.id, d.ext_id, p.ext_id AS plan, p.name AS plan_name, d.held_on, d.scenario, "
               "d.kind, d.participants, d.units")


def list_drills(engine: Engine, plan: str | None = None) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = c.execute(sa.text(
            f"SELECT {_DRILL_COLS}, (SELECT count(*) FROM drill_findings f WHERE f.drill_id = "
            "d.id) AS findings, (SELECT count(*) FROM drill_findings f WHERE f.drill_id = d.id "
            "AND f.state <> 'closed') AS open_findings FROM drills d LEFT JOIN plans p ON "
            "p.id = d.plan_id WHERE (CAST(:p AS text) IS NULL OR p.ext_id = :p) "
            "ORDER BY d.held_on DESC, d.ext_id"), {"p": plan}).all()
    return [_plain(r) for r in rows]


def _drill_id(c, key: str | int) -> int:
    row = c.execute(sa.text("SELECT id FROM drills WHERE ext_id = :k"), {"k": str(key)}).first()
    if row is None and str(key).isdigit():
        row = c.execute(sa.text("SELECT id FROM drills WHERE id = :k"), {"k": int(key)}).first()
    if row is None:
        raise NotFound(f"there is no drill {key!r}; list them with `emgis drills list`")
    return int(row[0])


def get_drill(engine: Engine, key: str | int, today: dt.date | None = None) -> dict[str, Any]:
    with engine.connect() as c:
        did = _drill_id(c, key)
        d = _plain(c.execute(sa.text(f"SELECT {_DRILL_COLS} FROM drills d LEFT JOIN plans p "
                                     "ON p.id = d.plan_id WHERE d.id = :i"), {"i": did}).one())
    d["findings"] = findings(engine, drill=did, today=today)
    return d


def add_finding(engine: Engine, drill: str | int, *, finding: str, responsible: str | None,
                deadline: dt.date | None, actor: str) -> dict[str, Any]:
    """Record a finding of a drill as an open rectification item."""
    p = Problems("drill finding")
    if not finding.strip():
        p.error(None, "finding", finding, "is blank", "say what the drill found")
    p.raise_if_errors()
    with engine.begin() as c:
        did = _drill_id(c, drill)
        set_actor(c, actor)
        fid = c.execute(sa.text(
            "INSERT INTO drill_findings (drill_id, finding, responsible, deadline, state) "
            "VALUES (:d, :f, :r, :dl, 'open') RETURNING id"),
            {"d": did, "f": finding, "r": responsible, "dl": deadline}).scalar_one()
        c.execute(sa.text("INSERT INTO drill_finding_events (finding_id, actor, to_state, note) "
                          "VALUES (:f, :a, 'open', 'recorded')"), {"f": fid, "a": actor})
    return get_finding(engine, fid)


def findings(engine: Engine, *, drill: int | None = None, only_overdue: bool = False,
             today: dt.date | None = None) -> list[dict[str, Any]]:
    today = today or dt.date.today()
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT f.id, d.ext_id AS drill, f.finding, f.responsible, f.deadline, f.state, "
            "f.measures, f.closed_on FROM drill_findings f JOIN drills d ON d.id = f.drill_id "
            "WHERE (CAST(:d AS integer) IS NULL OR f.drill_id = :d) ORDER BY f.deadline "
            "NULLS LAST, f.id"), {"d": drill}).all()
    out = []
    for r in rows:
        d = _plain(r)
        d["state_zh"] = vocab.FINDING_STATE[r.state].zh
        d["overdue"] = overdue(r.deadline, r.state, today)
        if d["overdue"] or not only_overdue:
            out.append(d)
    return out


def get_finding(engine: Engine, finding_id: int) -> dict[str, Any]:
    with engine.connect() as c:
        ok = c.execute(sa.text("SELECT 1 FROM drill_findings WHERE id = :i"),
                       {"i": finding_id}).first()
        if ok is None:
            raise NotFound(f"there is no drill finding {finding_id}")
        events = c.execute(sa.text(
            "SELECT at, actor, from_state, to_state, note FROM drill_finding_events "
            "WHERE finding_id = :i ORDER BY at, id"), {"i": finding_id}).all()
    f = next(d for d in findings(engine) if d["id"] == finding_id)
    f["events"] = [_plain(e) for e in events]
    return f


def move_finding(engine: Engine, finding_id: int, to_state: str | None, *, actor: str,
                 note: str | None = None, measures: str | None = None,
                 responsible: str | None = None, today: dt.date | None = None) -> dict[str, Any]:
    """Move a finding (or, with ``to_state`` None, add a note); raises `IllegalMove`."""
    with engine.begin() as c:
        row = c.execute(sa.text("SELECT state, responsible, measures FROM drill_findings "
                                "WHERE id = :i FOR UPDATE"), {"i": finding_id}).first()
        if row is None:
            raise NotFound(f"there is no drill finding {finding_id}")
        new = None if to_state is None else transition(row.state, to_state)
        resp = responsible or row.responsible
        meas = measures or row.measures
        if new == "closed" and (not resp or not meas):
            raise IllegalMove(f"cannot close (销号) finding {finding_id}: give the responsible "
                              "person and the measures taken first")
        set_actor(c, actor)
        c.execute(sa.text(
            "UPDATE drill_findings SET state = coalesce(:s, state), responsible = :r, "
            "measures = :m, closed_on = CASE WHEN :s = 'closed' THEN :t "
            "WHEN :s IS NULL THEN closed_on END WHERE id = :i"),
            {"s": new, "r": resp, "m": meas, "t": today or dt.date.today(), "i": finding_id})
        c.execute(sa.text("INSERT INTO drill_finding_events (finding_id, actor, from_state, "
                          "to_state, note) VALUES (:f, :a, :fr, :to, :n)"),
                  {"f": finding_id, "a": actor, "fr": row.state, "to": new, "n": note})
    return get_finding(engine, finding_id)
