"""Field reports (灾害信息员): hazards seen (隐患上报) and disaster quick reports (灾情快报).

A report is a point with what the reporter saw. It moves through

    initial → follow_up (any number of follow-ups) → verified, or → rejected

(``ALLOWED``); verified and rejected are final. Every change is one transaction that updates the
``field_reports`` row (audited by the trigger, ``emgis.actor`` naming who) and appends a
``field_report_events`` row with the fields it changed, so a report's history can be read back.

Counts of people and houses are NULL when the reporter did not give them: "not reported" is
never 0, and the township summary (:func:`summary_by_township`) sums only the reported values and
counts, per field, the reports that left it unknown. Reports whose point is in no township are
kept apart (``township_code`` NULL), never merged into a township.

A hazard report can be promoted to a hazard (``hazards``, state discovered, ext_id ``FR-<id>``)
by :func:`promote_to_hazard`; the report keeps the hazard's id.

Who may do what (a reporter follows up their own reports; verifying needs a planner) is decided
by the edges, which know the roles; this module checks the states and the values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from emgis.layers.problems import InputError, NotFound, Problem, Problems
from emgis.risk._db import set_actor

KINDS = ("hazard", "quick_report")
KIND_ZH = {"hazard": "隐患上报", "quick_report": "灾情快报"}
STATES = ("initial", "follow_up", "verified", "rejected")
STATE_ZH = {"initial": "初报", "follow_up": "续报", "verified": "核实", "rejected": "不属实"}
#: the legal next states of each state (follow_up → follow_up: a second follow-up)
ALLOWED: dict[str, tuple[str, ...]] = {
    "initial": ("follow_up", "verified", "rejected"),
    "follow_up": ("follow_up", "verified", "rejected"),
    "verified": (),
    "rejected": (),
}
#: the counts a quick report gives (NULL = not reported)
COUNTS = ("deaths", "missing", "injured", "relocated", "houses_damaged")
COUNT_ZH = {"deaths": "死亡", "missing": "失踪", "injured": "受伤", "relocated": "转移安置",
            "houses_damaged": "房屋损坏"}
#: the fields a report's text may carry (and a follow-up may change)
TEXTS = ("place", "incident_type", "text")
#: image types a photo may be, by their first bytes
PHOTO_TYPES = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",),
               "image/webp": (b"RIFF",)}
PHOTO_NORM = "field.photo_kb_max"
MAX_COUNT = 1_000_000

COLUMNS = ("id, kind, state, reported_at, occurred_at, updated_at, reporter, township_code, "
           "place, incident_type, deaths, missing, injured, relocated, houses_damaged, text, "
           "photo_type, photo_bytes, photo_sha256, hazard_id, ST_X(geom) AS lon, "
           "ST_Y(geom) AS lat")


@dataclass
class Photo:
    media_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class NewReport:
    """What a reporter sends (already parsed by the edge; checked by :func:`check_report`)."""

    kind: str
    lon: float
    lat: float
    occurred_at: dt.datetime | None = None
    values: dict[str, Any] = field(default_factory=dict)  # TEXTS and COUNTS; absent = unknown
    photo: Photo | None = None


def photo_type(data: bytes) -> str | None:
    """The image type ``data`` really is (by its first bytes), or None."""
    for media, magics in PHOTO_TYPES.items():
        if any(data.startswith(m) for m in magics):
            if media == "image/webp" and data[8:12] != b"WEBP":
                continue
            return media
    return None


def check_photo(p: Problems, photo: Photo | None, max_kb: float) -> None:
    """A photo must be an image (JPEG, PNG, WebP — by its bytes, not its name) of at most
    ``max_kb`` KB."""
    if photo is None:
        return
    if len(photo.data) > max_kb * 1024:
        p.error(None, "photo", f"{len(photo.data) / 1024:,.0f} KB",
                f"is larger than {max_kb:,.0f} KB (norm {PHOTO_NORM})",
                "send a smaller photo (the /field page resizes it to 1280 px before sending)")
        return
    real = photo_type(photo.data)
    if real is None:
        p.error(None, "photo", photo.media_type or "(no type)",
                "is not a JPEG, PNG or WebP image", "send a photo taken with the camera")
    elif photo.media_type and photo.media_type != real:
        p.error(None, "photo", photo.media_type, f"says it is {photo.media_type} but is {real}",
                f"send it as {real}")
    else:
        photo.media_type = real


def check_values(p: Problems, values: dict[str, Any]) -> None:
    """Counts are whole numbers 0..1,000,000 or absent; texts are text of at most 2000 chars."""
    for k, v in values.items():
        if k in COUNTS:
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_COUNT:
                p.error(None, k, v, f"is not a count of {COUNT_ZH[k]} (0 to {MAX_COUNT:,})",
                        "give a whole number, or leave it out when not known (never 0 for "
                        "'not known')")
        elif k in TEXTS:
            if v is not None and (not isinstance(v, str) or len(v) > 2000):
                p.error(None, k, str(v)[:60], "is not a text of at most 2000 characters",
                        "shorten it")
        else:
            p.error(None, k, v, "is not a field of a report",
                    f"use {', '.join((*TEXTS, *COUNTS))}")


def check_report(r: NewReport, *, max_photo_kb: float) -> None:
    """Raise `InputError` naming every bad field of ``r``."""
    p = Problems("field report")
    if r.kind not in KINDS:
        p.error(None, "kind", r.kind, "is not a kind of report",
                "use hazard (隐患上报) or quick_report (灾情快报)")
    check_values(p, r.values)
    if r.kind == "quick_report" and not r.values.get("incident_type"):
        p.error(None, "incident_type", None, "is missing",
                "say what happened (e.g. 山洪, 滑坡, 内涝, 火灾)")
    if r.occurred_at is not None and r.occurred_at > dt.datetime.now(dt.UTC) + dt.timedelta(
            hours=1):
        p.error(None, "occurred_at", r.occurred_at.isoformat(), "is in the future",
                "give the time it happened")
    check_photo(p, r.photo, max_photo_kb)
    p.raise_if_errors()


def _township(c: Connection, lon: float, lat: float) -> str | None:
    """The township whose boundary holds the point (its village's parent if only villages have
    boundaries); None when none does."""
    pt = "ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
    code = c.execute(sa.text(
        f"SELECT code FROM admin_units WHERE level = 'township' AND geom IS NOT NULL "
        f"AND ST_Intersects(geom, {pt}) ORDER BY code LIMIT 1"), {"x": lon, "y": lat}).scalar()
    if code is None:
        code = c.execute(sa.text(
            f"SELECT parent_code FROM admin_units WHERE level = 'village' AND geom IS NOT NULL "
            f"AND parent_code IS NOT NULL AND ST_Intersects(geom, {pt}) ORDER BY code LIMIT 1"),
            {"x": lon, "y": lat}).scalar()
    return code


def _row(c: Connection, rid: int, *, lock: bool = False) -> dict:
    row = c.execute(sa.text(f"SELECT {COLUMNS} FROM field_reports WHERE id = :i"
                            + (" FOR UPDATE" if lock else "")), {"i": rid}).mappings().first()
    if row is None:
        raise NotFound(f"there is no field report {rid}")
    return dict(row)


def create_report(engine: Engine, r: NewReport, *, actor: str, max_photo_kb: float) -> dict:
    """Store a new report (state initial) with its township; return it."""
    check_report(r, max_photo_kb=max_photo_kb)
    cols = [k for k in (*TEXTS, *COUNTS) if r.values.get(k) is not None]
    params: dict[str, Any] = {k: r.values[k] for k in cols}
    params.update(kind=r.kind, rep=actor, x=r.lon, y=r.lat, occ=r.occurred_at,
                  pt=r.photo.media_type if r.photo else None,
                  pb=len(r.photo.data) if r.photo else None,
                  ps=r.photo.sha256 if r.photo else None)
    with engine.begin() as c:
        set_actor(c, actor)
        params["tc"] = _township(c, r.lon, r.lat)
        rid = c.execute(sa.text(
            "INSERT INTO field_reports (kind, reporter, occurred_at, township_code, photo_type, "
            "photo_bytes, photo_sha256, geom" + "".join(f", {k}" for k in cols) + ") VALUES "
            "(:kind, :rep, :occ, :tc, :pt, :pb, :ps, ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
            + "".join(f", :{k}" for k in cols) + ") RETURNING id"), params).scalar_one()
        if r.photo is not None:
            c.execute(sa.text("INSERT INTO field_report_photos (report_id, media_type, data) "
                              "VALUES (:i, :m, :d)"),
                      {"i": rid, "m": r.photo.media_type, "d": r.photo.data})
        c.execute(sa.text("INSERT INTO field_report_events (report_id, actor, to_state, changes, "
                          "note) VALUES (:i, :a, 'initial', CAST(:ch AS jsonb), 'reported')"),
                  {"i": rid, "a": actor, "ch": json.dumps(params_for_log(r.values),
                                                          ensure_ascii=False)})
        return _row(c, rid)


def params_for_log(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def report_owner(engine: Engine, rid: int) -> str:
    """Who made report ``rid`` (NotFound when there is none)."""
    with engine.connect() as c:
        return _row(c, rid)["reporter"]


def _illegal(cur: str, to: str) -> InputError:
    nxt = ALLOWED[cur]
    fix = (f"from {cur} ({STATE_ZH[cur]}) a report may go to {', '.join(nxt)}" if nxt
           else f"a {cur} ({STATE_ZH[cur]}) report is final; post a new report instead")
    return InputError([Problem("field report", None, "state", to,
                               f"cannot follow {cur} ({STATE_ZH[cur]})", fix)],
                      source="field report")


def update_report(engine: Engine, rid: int, *, to_state: str | None, values: dict[str, Any],
                  actor: str, note: str | None = None) -> dict:
    """Follow up (``to_state`` follow_up, with changed values), verify or reject report ``rid``.

    ``to_state`` None with values is a follow-up. Illegal moves raise `InputError` on field
    ``state`` and change nothing.
    """
    p = Problems("field report")
    check_values(p, values)
    to = to_state or "follow_up"
    if to not in STATES or to == "initial":
        p.error(None, "state", to, "is not a state a report can move to",
                "use follow_up (续报), verified (核实) or rejected (不属实)")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        p.error(None, "note", str(note)[:60], "is not a text of at most 2000 characters",
                "shorten it")
    p.raise_if_errors()
    with engine.begin() as c:
        set_actor(c, actor)
        cur = _row(c, rid, lock=True)
        if to not in ALLOWED[cur["state"]]:
            raise _illegal(cur["state"], to)
        changed = {k: v for k, v in values.items() if cur.get(k) != v}
        sets = "".join(f", {k} = :{k}" for k in changed)
        c.execute(sa.text(f"UPDATE field_reports SET state = :s, updated_at = now(){sets} "
                          "WHERE id = :i"), {"s": to, "i": rid, **changed})
        c.execute(sa.text("INSERT INTO field_report_events (report_id, actor, from_state, "
                          "to_state, changes, note) VALUES (:i, :a, :f, :t, CAST(:ch AS jsonb), "
                          ":n)"),
                  {"i": rid, "a": actor, "f": cur["state"], "t": to,
                   "ch": json.dumps(changed, ensure_ascii=False), "n": note})
        return _row(c, rid)


def promote_to_hazard(engine: Engine, rid: int, *, actor: str, title: str | None = None) -> dict:
    """Make hazard report ``rid`` a hazard (``hazards``: ext_id FR-<id>, state discovered, at the
    report's point); return ``{"report": ..., "hazard_id", "hazard_ext_id"}``."""
    with engine.begin() as c:
        set_actor(c, actor)
        cur = _row(c, rid, lock=True)
        p = Problems("field report")
        if cur["kind"] != "hazard":
            p.error(None, "kind", cur["kind"], "is not a hazard report",
                    "only a hazard report (隐患上报) becomes a hazard")
        if cur["hazard_id"] is not None:
            p.error(None, "hazard_id", cur["hazard_id"], "is already this report's hazard",
                    "move that hazard with `emgis hazard move`")
        if cur["state"] == "rejected":
            p.error(None, "state", "rejected", "the report was found untrue",
                    "promote only a report that is not rejected")
        p.raise_if_errors()
        ext = f"FR-{rid}"
        name = title or cur["text"] or cur["place"] or f"现场上报隐患 #{rid}"
        hid = c.execute(sa.text(
            "INSERT INTO hazards (ext_id, title, state, discovered_on, geom) "
            "SELECT :e, :t, 'discovered', reported_at::date, geom "
            "FROM field_reports WHERE id = :i RETURNING id"),
            {"e": ext, "t": name[:500], "i": rid}).scalar_one()
        c.execute(sa.text("INSERT INTO hazard_events (hazard_id, actor, to_state, note) VALUES "
                          "(:h, :a, 'discovered', :n)"),
                  {"h": hid, "a": actor, "n": f"promoted from field report #{rid}"})
        c.execute(sa.text("UPDATE field_reports SET hazard_id = :h, updated_at = now() "
                          "WHERE id = :i"), {"h": hid, "i": rid})
        c.execute(sa.text("INSERT INTO field_report_events (report_id, actor, from_state, "
                          "to_state, note) VALUES (:i, :a, :s, :s, :n)"),
                  {"i": rid, "a": actor, "s": cur["state"], "n": f"promoted to hazard {ext}"})
        return {"report": _row(c, rid), "hazard_id": hid, "hazard_ext_id": ext}


def get_report(engine: Engine, rid: int) -> dict:
    """One report with its history (oldest first)."""
    with engine.connect() as c:
        r = _row(c, rid)
        r["events"] = [dict(e) for e in c.execute(sa.text(
            "SELECT at, actor, from_state, to_state, changes, note FROM field_report_events "
            "WHERE report_id = :i ORDER BY at, id"), {"i": rid}).mappings()]
    return r


def get_photo(engine: Engine, rid: int) -> tuple[str, bytes]:
    with engine.connect() as c:
        row = c.execute(sa.text("SELECT media_type, data FROM field_report_photos "
                                "WHERE report_id = :i"), {"i": rid}).first()
    if row is None:
        raise NotFound(f"field report {rid} has no photo")
    return row[0], bytes(row[1])


def list_reports(engine: Engine, *, state: str | None = None, kind: str | None = None,
                 township: str | None = None, reporter: str | None = None) -> list[dict]:
    """Reports, newest first, filtered by state, kind, township code and reporter."""
    where, params = [], {}
    for col, v in (("state", state), ("kind", kind), ("township_code", township),
                   ("reporter", reporter)):
        if v is not None:
            where.append(f"{col} = :{col}")
            params[col] = v
    sql = f"SELECT {COLUMNS} FROM field_reports"
    if where:
        sql += " WHERE " + " AND ".join(where)
    with engine.connect() as c:
        return [dict(r) for r in c.execute(sa.text(sql + " ORDER BY reported_at DESC, id DESC"),
                                           params).mappings()]


def summary_by_township(engine: Engine) -> list[dict]:
    """Per township (and one row for reports in no township, ``township_code`` None): reports by
    kind and state, and for each count the sum of the reported values (None when no report gave
    it) and how many quick reports left it unknown. Rejected reports are counted, not summed."""
    sums = ", ".join(f"sum({k}) FILTER (WHERE kind = 'quick_report' AND state <> 'rejected') "
                     f"AS {k}, count(*) FILTER (WHERE kind = 'quick_report' AND state <> "
                     f"'rejected' AND {k} IS NULL) AS {k}_unknown" for k in COUNTS)
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT r.township_code, u.name AS township_name, count(*) AS reports, "
            "count(*) FILTER (WHERE kind = 'quick_report') AS quick_reports, "
            "count(*) FILTER (WHERE kind = 'hazard') AS hazard_reports, "
            "count(*) FILTER (WHERE state = 'verified') AS verified, "
            "count(*) FILTER (WHERE state = 'rejected') AS rejected, "
            f"{sums} FROM field_reports r LEFT JOIN admin_units u ON u.code = r.township_code "
            "GROUP BY r.township_code, u.name ORDER BY r.township_code NULLS LAST")).mappings()
        return [dict(r) for r in rows]
