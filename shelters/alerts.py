"""Warnings with acknowledgement (预警叫应): who was warned, and who has answered.

Issuing a warning for an area (drawn, or an incident's: `emgis.shelters.warning.incident_area`)
records, in one transaction, the warning and one recipient per responsible contact
(``contacts``: 村支书, 网格员, 乡镇值班 …) of every unit inside it: the villages whose boundary
meets the area (the rule of `emgis.shelters.warning`: a village is warned whole) and the
townships that meet it or hold such a village. A recipient keeps the contact's name, role and
phone as they were when warned. Units inside with no contact are returned
(``units_without_contacts``): nobody there can be called, which the duty officer must know.

Acknowledging: each recipient gets a short random code (sent with the message). The contact
answers with the code (an SMS reply, a call to the duty desk read back, a link); a code proves the
message reached that person, with no account or token to hand out to every village. A duty
officer with a token (planner or above) may also record an answer taken by phone, named as
such (``acknowledged_by`` = the officer, ``channel`` phone). A second answer keeps the first
time.
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from emgis.layers.problems import InputError, NotFound, Problem, Problems

#: warning levels, most severe last, with their Chinese names and accepted spellings
LEVELS: dict[str, tuple[str, ...]] = {
    "blue": ("蓝", "蓝色", "IV", "4", "blue"),
    "yellow": ("黄", "黄色", "III", "3", "yellow"),
    "orange": ("橙", "橙色", "II", "2", "orange"),
    "red": ("红", "红色", "I", "1", "red"),
}
LEVEL_ZH = {"blue": "蓝色预警", "yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警"}
LEVEL_COLOURS = {"blue": "#2c7bb6", "yellow": "#e6c700", "orange": "#fd8d3c", "red": "#d7191c"}
CHANNELS = ("code", "sms", "phone", "app", "radio", "in_person")
CODE_DIGITS = 6
_AREA = "ST_Multi(ST_SetSRID(ST_GeomFromWKB(decode(:g, 'hex')), 4326))"


def level_key(value: object) -> str | None:
    """The level key (blue … red) of ``value`` (蓝/蓝色/IV/blue …), or None."""
    text = str(value).strip().removesuffix("预警").strip()
    for key, names in LEVELS.items():
        if text in names or text.lower() in names or text.upper() in names:
            return key
    return None


def check_warning(level: object, text: object) -> str:
    """The level key; `InputError` naming level and text when either is bad."""
    p = Problems("warning")
    key = level_key(level)
    if key is None:
        p.error(None, "level", level, "is not a warning level",
                "use 蓝 / 黄 / 橙 / 红 (or blue / yellow / orange / red)")
    if not isinstance(text, str) or not text.strip() or len(text) > 2000:
        p.error(None, "text", str(text)[:60], "is not the warning's text (1–2000 characters)",
                "give what the warning says, e.g. 预计未来3小时强降雨，请立即组织转移")
    p.raise_if_errors()
    return key  # type: ignore[return-value]


def units_in_area(c: Connection, wkb_hex: str) -> list[dict]:
    """The villages meeting the area and the townships meeting it or holding such a village."""
    return [dict(r) for r in c.execute(sa.text(
        f"WITH a AS (SELECT {_AREA} g), v AS (SELECT u.code, u.name, u.level, u.parent_code "
        "FROM admin_units u, a WHERE u.level = 'village' AND u.geom IS NOT NULL "
        "AND ST_Intersects(u.geom, a.g)) "
        "SELECT code, name, level FROM v UNION "
        "SELECT t.code, t.name, t.level FROM admin_units t, a WHERE t.level = 'township' AND "
        "((t.geom IS NOT NULL AND ST_Intersects(t.geom, a.g)) "
        "OR t.code IN (SELECT parent_code FROM v)) ORDER BY code"), {"g": wkb_hex}).mappings()]


def issue_warning(engine: Engine, area: Any, *, level: object, text: object, actor: str,
                  incident_id: int | None = None) -> dict:
    """Record a warning for ``area`` (shapely, lon/lat) and its recipients; return
    :func:`warning_status` of it plus ``units_without_contacts``."""
    import shapely

    key = check_warning(level, text)
    if area is None or area.is_empty or area.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError([Problem("warning", None, "area", getattr(area, "geom_type", None),
                                  "is not an area", "give a polygon, or an incident with an "
                                  "area (or a radius)")], source="warning")
    wkb = shapely.to_wkb(area, hex=True)
    with engine.begin() as c:
        c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": actor})
        units = units_in_area(c, wkb)
        wid = c.execute(sa.text(
            f"INSERT INTO warnings (incident_id, level, text, issued_by, area) VALUES "
            f"(:i, :l, :t, :a, {_AREA}) RETURNING id"),
            {"i": incident_id, "l": key, "t": str(text).strip(), "a": actor,
             "g": wkb}).scalar_one()
        codes = [u["code"] for u in units]
        contacts = c.execute(sa.text(
            "SELECT id, unit_code, name, role, phone FROM contacts WHERE unit_code = ANY(:c) "
            "ORDER BY unit_code, id"), {"c": codes}).mappings().all() if codes else []
        by_code = {u["code"]: u for u in units}
        for ct in contacts:
            u = by_code[ct["unit_code"]]
            c.execute(sa.text(
                "INSERT INTO warning_recipients (warning_id, contact_id, unit_code, unit_level, "
                "unit_name, name, role, phone, code) VALUES (:w, :c, :u, :ul, :un, :n, :r, :p, "
                ":code)"),
                {"w": wid, "c": ct["id"], "u": ct["unit_code"], "ul": u["level"],
                 "un": u["name"], "n": ct["name"], "r": ct["role"], "p": ct["phone"],
                 "code": "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))})
        reached = {ct["unit_code"] for ct in contacts}
    ans = warning_status(engine, wid, codes=True)
    ans["units_without_contacts"] = [u for u in units if u["code"] not in reached]
    return ans


def acknowledge(engine: Engine, warning_id: int, contact_id: int, *, code: str | None = None,
                officer: str | None = None, channel: str | None = None) -> dict:
    """Record that contact ``contact_id`` received warning ``warning_id``: with the recipient's
    ``code``, or recorded by ``officer`` (a duty officer's token name). Return the recipient."""
    p = Problems("acknowledgement")
    ch = channel or ("code" if officer is None else "phone")
    if ch not in CHANNELS:
        p.error(None, "channel", ch, "is not a channel", f"use one of {', '.join(CHANNELS)}")
    if officer is None and not code:
        p.error(None, "code", None, "is missing",
                "give the code sent with the warning, or send a duty officer's token")
    p.raise_if_errors()
    with engine.begin() as c:
        c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"),
                  {"a": officer or f"contact {contact_id}"})
        row = c.execute(sa.text(
            "SELECT id, code, name, acknowledged_at FROM warning_recipients WHERE warning_id = :w "
            "AND contact_id = :c FOR UPDATE"), {"w": warning_id, "c": contact_id}).first()
        if row is None:
            _exists(c, warning_id)
            raise NotFound(f"contact {contact_id} is not a recipient of warning {warning_id}")
        if officer is None and not secrets.compare_digest(str(code), row.code):
            raise InputError([Problem("acknowledgement", None, "code", "******",
                                      "is not the code sent to this contact with the warning",
                                      "read the code from the message again")],
                             source="acknowledgement")
        if row.acknowledged_at is None:
            c.execute(sa.text(
                "UPDATE warning_recipients SET acknowledged_at = now(), acknowledged_by = :b, "
                "channel = :ch WHERE id = :i"),
                {"b": row.name if officer is None else f"{officer} (for {row.name})",
                 "ch": ch, "i": row.id})
        return dict(c.execute(sa.text(
            "SELECT id, contact_id, unit_code, unit_name, name, role, acknowledged_at, "
            "acknowledged_by, channel FROM warning_recipients WHERE id = :i"),
            {"i": row.id}).mappings().one())


def _exists(c: Connection, wid: int) -> None:
    if c.execute(sa.text("SELECT 1 FROM warnings WHERE id = :w"), {"w": wid}).first() is None:
        raise NotFound(f"there is no warning {wid}")


def redact(phone: str | None) -> str | None:
    """A phone number with all but its last 4 digits hidden (138****5678 style)."""
    if not phone:
        return phone
    return "*" * max(0, len(phone) - 4) + phone[-4:]


def warning_status(engine: Engine, wid: int, *, phones: bool = False,
                   codes: bool = False) -> dict:
    """The warning, its recipients (acknowledged or not) and ``not_acknowledged``.

    Phones are shown whole only with ``phones`` (commanders); codes only with ``codes`` (to
    the issuer, once)."""
    with engine.connect() as c:
        w = c.execute(sa.text(
            "SELECT id, incident_id, level, text, issued_at, issued_by, "
            "ST_AsGeoJSON(area)::json AS area FROM warnings WHERE id = :w"),
            {"w": wid}).mappings().first()
        if w is None:
            raise NotFound(f"there is no warning {wid}")
        recips = [dict(r) for r in c.execute(sa.text(
            "SELECT id, contact_id, unit_code, unit_level, unit_name, name, role, phone, code, "
            "acknowledged_at, acknowledged_by, channel FROM warning_recipients "
            "WHERE warning_id = :w ORDER BY unit_code, id"), {"w": wid}).mappings()]
    for r in recips:
        if not phones:
            r["phone"] = redact(r["phone"])
        if not codes:
            r.pop("code")
    out = dict(w)
    out["level_zh"] = LEVEL_ZH[w["level"]]
    out["recipients"] = recips
    out["not_acknowledged"] = [r for r in recips if r["acknowledged_at"] is None]
    out["acknowledged"] = len(recips) - len(out["not_acknowledged"])
    return out


def list_warnings(engine: Engine) -> list[dict]:
    """Every warning, newest first, with its recipients and acknowledgements counted."""
    with engine.connect() as c:
        return [dict(r) for r in c.execute(sa.text(
            "SELECT w.id, w.incident_id, w.level, w.text, w.issued_at, w.issued_by, "
            "count(r.id) AS recipients, count(r.acknowledged_at) AS acknowledged "
            "FROM warnings w LEFT JOIN warning_recipients r ON r.warning_id = w.id "
            "GROUP BY w.id ORDER BY w.issued_at DESC, w.id DESC")).mappings()]


def unacknowledged_units(engine: Engine) -> dict:
    """The units with a recipient who has not acknowledged, as GeoJSON (for the live map):
    one feature per unit and warning, its boundary (or point), level and who is waited for."""
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "WITH g AS (SELECT r.warning_id, w.level, r.unit_code, max(r.unit_name) AS unit_name, "
            "max(r.unit_level) AS unit_level, count(*) AS waiting, "
            "string_agg(r.name || coalesce(' (' || r.role || ')', ''), ', ' ORDER BY r.id) "
            "AS names FROM warning_recipients r JOIN warnings w ON w.id = r.warning_id "
            "WHERE r.acknowledged_at IS NULL GROUP BY r.warning_id, w.level, r.unit_code) "
            "SELECT g.*, ST_AsGeoJSON(coalesce(u.geom, u.point), 6)::json AS geometry FROM g "
            "LEFT JOIN admin_units u ON u.code = g.unit_code ORDER BY g.warning_id, g.unit_code"))
        feats = []
        for r in rows.mappings():
            props = {k: v for k, v in r.items() if k != "geometry"}
            props["level_zh"] = LEVEL_ZH[r["level"]]
            props["colour"] = LEVEL_COLOURS[r["level"]]
            feats.append({"type": "Feature", "id": f"{r['warning_id']}-{r['unit_code']}",
                          "geometry": r["geometry"], "properties": props})
    return {"type": "FeatureCollection", "features": feats}
