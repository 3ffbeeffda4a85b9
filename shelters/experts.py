"""The expert roster (专家库): who to call for an incident, nearest first, by speciality.

`nearest_experts` reads the incident's place and the available experts of a speciality and
ranks them by road time from their base when a road network is given, else by straight-line
distance (the answer says which). Phone numbers are personal data: every answer leaves them
out unless the caller asks for them (`with_phone`, which the edges set for commander and above
only); `redact` strips them from any list of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.layers import vocab
from emgis.layers.problems import BadArgument, NotFound

#: columns an expert answer carries (phone only for commander and above)
PUBLIC_COLUMNS = ("id", "ext_id", "name", "specialities", "unit", "title", "availability",
                  "unit_code")
PERSONAL = ("phone",)
#: the role from which phone numbers are shown (api/http/auth.py ROLES)
PHONE_ROLE = "commander"


def redact(rows: list[dict], with_phone: bool) -> list[dict]:
    """``rows`` without their phone numbers unless ``with_phone`` (a new list of new dicts)."""
    if with_phone:
        return [dict(r) for r in rows]
    return [{k: v for k, v in r.items() if k not in PERSONAL} for r in rows]


def speciality_key(text: str | None) -> str | None:
    """The `EXPERT_SPECIALITY` key of ``text`` (key, Chinese name or alias); None for none;
    `BadArgument` naming the choices for an unknown one."""
    if text is None or not str(text).strip():
        return None
    key = vocab.lookup(vocab.EXPERT_SPECIALITY, text)
    if key is None:
        raise BadArgument(f"speciality {text!r} is not known; use one of "
                          f"{vocab.describe(vocab.EXPERT_SPECIALITY)}")
    return key


def _row(r, with_phone: bool) -> dict:
    d = {c: r._mapping[c] for c in PUBLIC_COLUMNS}
    d["specialities_zh"] = [vocab.EXPERT_SPECIALITY[s].zh if s in vocab.EXPERT_SPECIALITY else s
                            for s in (d["specialities"] or [])]
    d["lon"], d["lat"] = float(r._mapping["lon"]), float(r._mapping["lat"])
    if with_phone:
        d["phone"] = r._mapping["phone"]
    return d


def list_experts(engine: Engine, *, speciality: str | None = None,
                 with_phone: bool = False) -> list[dict]:
    """Every expert (of ``speciality``), by id; phones only ``with_phone``."""
    key = speciality_key(speciality)
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT *, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM experts "
            "WHERE CAST(:s AS text) IS NULL OR :s = ANY(specialities) ORDER BY id"),
            {"s": key}).all()
    return [_row(r, with_phone) for r in rows]


@dataclass
class ExpertAnswer:
    incident: dict
    speciality: str | None
    method: str                      # "road" | "straight-line"
    experts: list[dict] = field(default_factory=list)
    note: str = ""


def _incident(c, incident_id: int) -> dict:
    row = c.execute(sa.text(
        "SELECT id, title, incident_type, ST_X(ST_PointOnSurface(geom)) AS lon, "
        "ST_Y(ST_PointOnSurface(geom)) AS lat FROM incidents WHERE id = :i"),
        {"i": incident_id}).first()
    if row is None:
        raise NotFound(f"there is no incident {incident_id}")
    return dict(row._mapping)


def nearest_experts(engine: Engine, incident_id: int, speciality: str | None = None, *,
                    k: int = 5, graph=None, norms=None, with_phone: bool = False,
                    network_note: str = "") -> ExpertAnswer:
    """The ``k`` nearest available experts (of ``speciality``) to incident ``incident_id``.

    With ``graph`` (a `CompiledGraph`) they are ranked by road time from their base to the
    incident; without, by straight-line (great-circle) distance, and ``method`` says so.
    """
    if k < 1:
        raise BadArgument(f"k={k} must be at least 1")
    key = speciality_key(speciality)
    with engine.connect() as c:
        inc = _incident(c, incident_id)
        rows = c.execute(sa.text(
            "SELECT *, ST_X(geom) AS lon, ST_Y(geom) AS lat, "
            "ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) "
            "AS metres FROM experts WHERE availability = 'available' "
            "AND (CAST(:s AS text) IS NULL OR :s = ANY(specialities)) ORDER BY metres, id"),
            {"s": key, "x": inc["lon"], "y": inc["lat"]}).all()
    answer = ExpertAnswer(inc, key, "road" if graph is not None else "straight-line")
    if not rows:
        answer.note = ("no available expert" + (f" of speciality {key}" if key else "")
                       + " is stored; load the roster with `emgis load experts FILE`")
        return answer
    routes = None
    if graph is not None:
        from emgis.geo.routing import nearest_k, snap_facilities

        lon = np.array([float(r._mapping["lon"]) for r in rows])
        lat = np.array([float(r._mapping["lat"]) for r in rows])
        try:
            snapped = snap_facilities(graph, lon, lat, norms=norms)
            routes = nearest_k(graph, (inc["lon"], inc["lat"]), snapped, min(k, len(rows)),
                               direction="from_facility", norms=norms)
        except ValueError:  # the incident or an expert lies far beyond the road network
            answer.method = "straight-line"
            network_note = ("the incident or an expert is beyond the road network: ranked by "
                            "straight-line distance")
    if routes is None:
        answer.note = network_note or ("no road network is stored: ranked by straight-line "
                                       "distance")
        for rank, r in enumerate(rows[:k], 1):
            answer.experts.append({"rank": rank, **_row(r, with_phone),
                                   "distance_m": round(float(r._mapping["metres"]), 1),
                                   "time_min": None})
        return answer
    for rank, rt in enumerate(routes, 1):
        r = rows[rt.facility]
        answer.experts.append({"rank": rank, **_row(r, with_phone),
                               "distance_m": round(float(r._mapping["metres"]), 1),
                               "road_m": round(rt.length_m, 1),
                               "time_min": round(rt.time_s / 60, 2)})
    return answer
