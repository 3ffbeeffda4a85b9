"""What a situation report (情况报告) says about one incident, gathered from the database.

The report a bureau sends upward: the incident, the people affected and where they are, what
they need, the teams proposed and sent with their ETAs, shortfalls and the timeline. This module
gathers it as plain data (:class:`Situation`); ``emgis.maps.sitrep_doc`` writes it as a Word
document, an HTML page or a PDF. Every figure that rests on an estimate carries its note (people
placed at a township seat, a point incident's radius, a capacity not given); unknown is never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emgis.layers import vocab
from emgis.layers.problems import NotFound

#: the norm giving the radius of the affected circle around a point incident
POINT_RADIUS_NORM = "relief.point_radius_m"


@dataclass
class Situation:
    """A situation report's content; each list is rows of plain values (JSON-ready)."""

    incident: dict[str, Any]
    generated_at: datetime
    affected: dict[str, Any] | None = None      # the warning-area answer for the incident
    affected_rule: str = ""                     # how the affected area was drawn
    teams: list[dict[str, Any]] = field(default_factory=list)        # proposal by team type
    team_source: str = ""
    assignments: list[dict[str, Any]] = field(default_factory=list)  # resources dispatched
    needs: list[dict[str, Any]] = field(default_factory=list)        # relief needs by item
    shortfalls: list[dict[str, Any]] = field(default_factory=list)   # unmet needs
    timeline: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    geometry: Any = None                        # the incident (shapely, lon/lat)
    area: Any = None                            # the affected area (shapely, lon/lat)
    routes: list[dict[str, Any]] = field(default_factory=list)  # {name, kind, line (shapely)}


def _incident(engine, incident_id: int) -> tuple[dict[str, Any], Any]:
    import shapely

    with engine.connect() as c:
        row = c.execute(sa.text(
            "SELECT id, title, incident_type, level, status, reported_at, "
            "ST_AsBinary(geom) AS wkb FROM incidents WHERE id = :i"),
            {"i": incident_id}).mappings().first()
    if row is None:
        raise NotFound(f"there is no incident {incident_id} (see /collections/incidents)")
    geom = shapely.from_wkb(bytes(row["wkb"]))
    inc = {k: row[k] for k in ("id", "title", "incident_type", "level", "status",
                               "reported_at")}
    kind = vocab.lookup(vocab.INCIDENT_TYPE, row["incident_type"])
    inc["kind"] = kind
    inc["kind_zh"] = vocab.INCIDENT_TYPE[kind].zh if kind else None
    inc["is_area"] = geom.geom_type in ("Polygon", "MultiPolygon")
    x, y = geom.representative_point().coords[0]
    inc["lon"], inc["lat"] = round(x, 6), round(y, 6)
    return inc, geom


def _affected(engine, inc: dict, geom, graph: Callable[[], Any], norms, sit: Situation) -> None:
    import shapely

    from emgis.shelters.warning import incident_area, warning_area

    if inc["is_area"]:
        area = geom
        sit.affected_rule = "事件区域（区域内道路按中断计）"
    else:
        radius = float(norms.number(POINT_RADIUS_NORM))
        area = incident_area(engine, inc["id"], radius)
        sit.affected_rule = (f"事件点周边 {radius:,.0f} 米范围（估算，规范 {POINT_RADIUS_NORM}；"
                             "标绘事件区域可得更准确的数字）")
        sit.notes.append(f"the incident is a point: people affected are those within "
                         f"{radius:,.0f} m ({POINT_RADIUS_NORM}), an estimate")
    sit.area = shapely.make_valid(area)
    sit.affected = warning_area(engine, sit.area, graph, norms, close_roads=inc["is_area"])
    _township_names(engine, sit.affected.get("villages", []))
    if sit.affected.get("note"):
        sit.notes.extend(n.strip() for n in sit.affected["note"].split(";") if n.strip())


def _township_names(engine, villages: list[dict[str, Any]]) -> None:
    """Give each village row its township's name (the answer may carry only the code)."""
    codes = sorted({str(v["township_code"]) for v in villages
                    if v.get("township_code") and not v.get("township_name")})
    if not codes:
        return
    with engine.connect() as c:
        names = dict(c.execute(sa.text("SELECT code, name FROM admin_units WHERE code = ANY(:c)"),
                               {"c": [c_.ljust(12, "0") for c_ in codes]}).all())
    for v in villages:
        if v.get("township_code") and not v.get("township_name"):
            v["township_name"] = names.get(str(v["township_code"]).ljust(12, "0"))


def _teams(engine, inc: dict, geom, graph: Callable[[], Any], norms, sit: Situation,
           k: int) -> None:
    from emgis.shelters.proposal import propose

    g = graph()
    if g is None:
        sit.notes.append("no road network is loaded: no team ETAs (emgis load roads FILE)")
        return
    prop = propose(engine, g, geom, inc["incident_type"], norms, k=k)
    sit.team_source = prop.source
    for need in prop.needs:
        for t in need.teams:
            sit.teams.append({"team_type": need.team_type_zh, "rank": t["rank"],
                              "team": t["name"] or t["ext_id"], "eta_min": t["time_min"],
                              "km": t["km"]})
            if t["rank"] == 1 and t["line"] is not None:
                sit.routes.append({"name": t["name"] or t["ext_id"], "kind": "team",
                                   "line": t["line"]})
        if not need.teams:
            sit.teams.append({"team_type": need.team_type_zh, "rank": None,
                              "team": "无可到达的队伍 none can reach", "eta_min": None,
                              "km": None})


STATE_ZH = {"dispatched": "已派出", "en_route": "途中", "on_scene": "到达现场",
            "returned": "已返回", "cancelled": "已取消"}
KIND_ZH = {"team": "队伍", "depot_stock": "物资", "shelter": "安置场所"}


def _dispatched(engine, incident_id: int, sit: Situation) -> None:
    """The resources sent and the timeline, from the dispatch records (shelters/dispatch.py)."""
    import shapely

    from emgis.shelters.dispatch import assignments, timeline

    with engine.connect() as c:
        done = assignments(c, incident_id)
        events = timeline(c, incident_id)
    for a in done:
        sit.assignments.append({
            "resource": f"{a['resource_name']}（{a['resource_ext_id']}）", "kind":
            KIND_ZH.get(a["kind"], a["kind"]), "quantity": a.get("quantity") or a.get("places"),
            "unit": a.get("item") if a["kind"] == "depot_stock" else
            ("人" if a["kind"] == "shelter" else None),
            "state": STATE_ZH.get(a["state"], a["state"]), "eta_min": a.get("eta_min")})
        if a.get("route") and a["state"] in ("dispatched", "en_route"):
            sit.routes.append({"name": a["resource_name"], "kind": a["kind"],
                               "line": shapely.geometry.shape(a["route"])})
    for e in events:
        at = datetime.fromisoformat(e["at"]) if isinstance(e["at"], str) else e["at"]
        sit.timeline.append({"at": at, "actor": e.get("actor"), "text": e.get("text")})


def _relief(engine, incident_id: int, graph, norms, sit: Situation) -> None:
    """Relief needs by item and the shortfalls after allocating the stock in place
    (shelters/relief_service.py: the same answer as ``GET /incidents/{id}/relief``)."""
    from emgis.shelters.relief_service import incident_relief

    ans = incident_relief(engine, incident_id, graph, norms)
    sources = {}
    for n in ans.get("needs", []):
        sources.setdefault(n.get("item"), n.get("source") or n.get("key"))
    for n in ans.get("needs_by_item", []):
        sit.needs.append({"item": n["item"], "unit": n.get("unit"),
                          "quantity": float(n["need"]), "source": sources.get(n["item"])})
    units = {n["item"]: n.get("unit") for n in ans.get("needs_by_item", [])}
    alloc = ans.get("allocation") or {}
    for s in alloc.get("shortfalls", []):
        sit.shortfalls.append({"item": s["item"], "where": s.get("destination") or s["dest_id"],
                               "quantity": float(s["unmet"]), "unit": units.get(s["item"])})
    if ans.get("displaced_total") is not None:
        share = ans.get("displaced_share", {})
        sit.notes.append(f"relief needs are for {ans['displaced_total']:,.0f} people relocated: "
                         f"{share.get('value', 0):.0%} of {ans.get('people_total', 0):,.0f} "
                         f"({share.get('key')}, an estimate)")
    sit.notes.extend(ans.get("notes", []))
    if not alloc:
        sit.notes.append("stock was not allocated (no road network, or no depot stock stored)")


def gather(engine, incident_id: int, graph: Callable[[], Any], norms, *,
           k: int = 2) -> Situation:
    """The situation of incident ``incident_id``: ``graph()`` gives the road network or None."""
    from emgis.shelters.warning import _once

    graph = _once(graph)
    inc, geom = _incident(engine, incident_id)
    sit = Situation(incident=inc, generated_at=datetime.now(UTC), geometry=geom)
    if inc["kind"] is None:
        sit.notes.append(f"incident type {inc['incident_type']!r} is not a known kind: the "
                         "'other' needs apply")
    _affected(engine, inc, geom, graph, norms, sit)
    _teams(engine, inc, geom, graph, norms, sit, k)
    _dispatched(engine, incident_id, sit)
    _relief(engine, incident_id, graph, norms, sit)
    return sit
