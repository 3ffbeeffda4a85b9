"""The teams an incident needs, by type, nearest first, with routes and ETAs (one computation).

The team types come from the norms (`shelters.needs.team_needs`); for each, the nearest
available teams by road from their base to the incident — to the edge of an incident area,
whose roads are closed. `emgis propose` and the situation report use this; the API answers the
same question from its stored route trees (api/http/proposal.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emgis.layers import vocab


@dataclass
class TypeProposal:
    team_type: str
    team_type_zh: str
    teams: list[dict[str, Any]]   # rank, id, ext_id, name, time_min, km, line (shapely or None)


@dataclass
class Proposal:
    kind: str
    kind_known: bool
    source: str
    needs: list[TypeProposal]


def incident_place(geom) -> tuple[float, float]:
    """Where teams go: an area's edge (its first outline vertex), else the point itself."""
    if geom.geom_type == "Polygon":
        return geom.exterior.coords[0][:2]
    if geom.geom_type == "MultiPolygon":
        return geom.geoms[0].exterior.coords[0][:2]
    return geom.representative_point().coords[0][:2]


def propose(engine, graph, geom, incident_type: str | None, norms, *, k: int = 2) -> Proposal:
    """Per team type ``incident_type`` needs, the ``k`` nearest available teams of that type."""
    import shapely

    from emgis.geo.routing import closures_from_polygons, nearest_k, snap_facilities
    from emgis.geo.store import facilities
    from emgis.shelters.needs import team_needs

    needs = team_needs(incident_type, norms)
    area = geom.geom_type in ("Polygon", "MultiPolygon")
    closures = closures_from_polygons(graph, [geom]) if area else None
    place = incident_place(geom)
    out = []
    for tt in needs.team_types:
        fac = facilities(engine, "team_bases", team_type=tt)
        routes = [] if not len(fac) else nearest_k(
            graph, place, snap_facilities(graph, fac.lon, fac.lat, norms=norms), k,
            closures=closures, direction="from_facility", norms=norms)
        teams = [{"rank": rank, "id": int(fac.ids[r.facility]),
                  "ext_id": str(fac.ext_ids[r.facility]), "name": fac.names[r.facility],
                  "time_min": round(r.time_s / 60, 1), "km": round(r.length_m / 1000, 2),
                  "line": shapely.LineString(r.coords) if len(r.coords) > 1 else None}
                 for rank, r in enumerate(routes, 1)]
        out.append(TypeProposal(tt, vocab.TEAM_TYPE[tt].zh, teams))
    return Proposal(needs.kind, needs.known,
                    f"incident.team_types.{needs.kind if needs.known else 'other'}: "
                    f"{needs.source}", out)
