"""The hazard (隐患) closed loop in the database: moves, supervision notes, history, the list.

Why a module of its own: :mod:`risk.hazards` decides which moves are legal, as a pure state
machine; this module is where a move becomes a fact. Each move or note is one transaction
that updates the ``hazards`` row (audited row by row by the trigger, ``emgis.actor`` naming
who did it) and appends a ``hazard_events`` row, so the history of every hazard can be read
back (:func:`hazard_events`) and the lists built from it (:mod:`risk.lists`).

* :func:`move_hazard` — advance a hazard; illegal moves raise
  :class:`risk.hazards.IllegalTransition` and nothing is written.
* :func:`note_hazard` — a supervision note (督办); the state does not change.
* :func:`hazard_events` — one hazard's history, oldest first.
* :func:`hazard_list` — every hazard with its risk point and admin unit, and whether it is
  overdue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from emgis.risk import hazards as hz
from emgis.risk._db import obj, set_actor


def _hazard_row(c: Connection, ext_id: str, *, lock: bool = False):
    row = c.execute(sa.text(
        "SELECT id, ext_id, title, state, responsible, deadline, measures FROM hazards "
        "WHERE ext_id = :e" + (" FOR UPDATE" if lock else "")), {"e": ext_id}).first()
    if row is None:
        raise LookupError(f"no hazard {ext_id!r}; list them with `emgis hazard list`")
    return row


@dataclass(frozen=True)
class HazardFields:
    """What a move of a hazard may also set (None: keep the stored value)."""

    responsible: str | None = None
    measures: str | None = None
    deadline: dt.date | None = None


def move_hazard(
    engine: Engine,
    ext_id: str,
    to_state: str,
    *,
    actor: str,
    note: str | None = None,
    fields: HazardFields | None = None,
    today: dt.date | None = None,
) -> str:
    """Move hazard ``ext_id`` to ``to_state`` (key or Chinese label); return the new state key.

    ``fields`` set the responsible person, the measures and the deadline with the move (those
    left None keep their stored value); ``today`` is the closing date on 销号 (default today).

    The move is checked by :mod:`risk.hazards` (closing needs a responsible person and the
    measures, given here or stored). The row, its ``closed_on`` (on 销号) and a
    ``hazard_events`` row are written in one transaction; the audit trigger logs the row change.

    Raises
    ------
    risk.hazards.IllegalTransition
        With the current state, the requested one and the states allowed next.
    LookupError
        If there is no such hazard.
    """
    f = fields or HazardFields()
    responsible, measures, deadline = f.responsible, f.measures, f.deadline
    with engine.begin() as c:
        row = _hazard_row(c, ext_id, lock=True)
        h = hz.Hazard(row.ext_id, row.title, row.state,
                      responsible=responsible if responsible is not None else row.responsible,
                      deadline=deadline if deadline is not None else row.deadline,
                      measures=measures if measures is not None else row.measures)
        entry = h.advance(to_state, by=actor, note=note or "")
        set_actor(c, actor)
        c.execute(sa.text(
            "UPDATE hazards SET state = :s, responsible = :r, measures = :m, deadline = :d, "
            "closed_on = CASE WHEN :s = 'closed' THEN CAST(:today AS date) ELSE NULL END "
            "WHERE id = :id"),
            {"s": h.state, "r": h.responsible, "m": h.measures, "d": h.deadline,
             "today": today or dt.date.today(), "id": row.id})
        c.execute(sa.text(
            "INSERT INTO hazard_events (hazard_id, at, actor, from_state, to_state, note) "
            "VALUES (:h, :at, :a, :f, :t, :n)"),
            {"h": row.id, "at": entry.at, "a": actor, "f": entry.from_state,
             "t": entry.to_state, "n": note})
    return h.state


def note_hazard(engine: Engine, ext_id: str, note: str, *, actor: str) -> None:
    """Record a supervision note (督办) on hazard ``ext_id``; its state does not change."""
    if not note or not note.strip():
        raise ValueError("a supervision note needs text; say what was checked or demanded")
    with engine.begin() as c:
        row = _hazard_row(c, ext_id)
        c.execute(sa.text(
            "INSERT INTO hazard_events (hazard_id, actor, from_state, to_state, note) "
            "VALUES (:h, :a, :f, NULL, :n)"),
            {"h": row.id, "a": actor, "f": row.state, "n": note})


def hazard_events(engine: Engine, ext_id: str) -> pd.DataFrame:
    """Return the history of hazard ``ext_id``, oldest first."""
    with engine.connect() as c:
        row = _hazard_row(c, ext_id)
        rows = c.execute(sa.text("SELECT at, actor, from_state, to_state, note FROM hazard_events "
                                 "WHERE hazard_id = :h ORDER BY at, id"), {"h": row.id}).all()
    cols = ["at", "actor", "from_state", "to_state", "note"]
    return pd.DataFrame({c: obj(r[i] for r in rows) for i, c in enumerate(cols)})


_HAZARD_SQL = """
SELECT h.ext_id, h.title, h.state, h.responsible, h.deadline, h.measures, h.discovered_on,
       h.closed_on, rp.ext_id AS rp_ext_id, rp.name AS rp_name, rp.level AS rp_level,
       ST_X(coalesce(h.geom, rp.geom)) AS lon, ST_Y(coalesce(h.geom, rp.geom)) AS lat,
       u.code AS unit_code, u.name AS unit_name
FROM hazards h
LEFT JOIN risk_points rp ON rp.id = h.risk_point_id
LEFT JOIN LATERAL (
    SELECT a.code, a.name FROM admin_units a
    WHERE a.code = (rp.unit_code COLLATE "C")
       OR (a.geom IS NOT NULL AND coalesce(h.geom, rp.geom) IS NOT NULL
           AND ST_Intersects(a.geom, coalesce(h.geom, rp.geom)))
    ORDER BY (a.code = (rp.unit_code COLLATE "C")) DESC NULLS LAST,
             array_position(ARRAY['village', 'township', 'county', 'city', 'province']::text[],
                            a.level::text)
    LIMIT 1) u ON true
ORDER BY h.ext_id
"""


def hazard_list(engine: Engine, *, overdue: bool = False,
                today: dt.date | None = None) -> pd.DataFrame:
    """Return every hazard (key columns in English), optionally only the overdue ones.

    Overdue: today is after the deadline and the hazard is not closed (销号).
    """
    today = today or dt.date.today()
    with engine.connect() as c:
        rows = c.execute(sa.text(_HAZARD_SQL)).mappings().all()
    cols = ["ext_id", "title", "state", "responsible", "deadline", "measures", "discovered_on",
            "closed_on", "rp_ext_id", "rp_name", "rp_level", "lon", "lat", "unit_code",
            "unit_name"]
    df = pd.DataFrame({c: obj(r[c] for r in rows) for c in cols})
    df["state_zh"] = obj(hz.label(s) for s in df["state"])
    df["overdue"] = pd.Series([d is not None and today > d and s != "closed"
                               for d, s in zip(df["deadline"], df["state"], strict=True)],
                              dtype=bool)
    if overdue:
        df = df[df["overdue"]].reset_index(drop=True)
    return df


__all__ = ["hazard_events", "hazard_list", "move_hazard", "note_hazard"]
