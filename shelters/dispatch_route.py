"""The ETA and route of one resource assigned to an incident (`shelters.dispatch`).

The same rule as ``/analyses/nearest`` and the proposal (api/http/analyses.py): teams and
supplies travel from their base to the incident, evacuees from the incident to the shelter; an
incident area closes the roads inside it and is reached at the nearest point of its edge, just
outside. The graph and the closures are given (the API passes its cached graph and the
incident's kept closure mask; the command line opens the network itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: How far outside a closed area (degrees, ~50 m) a place inside it is moved to be routed from
#: (the value of `api.http.analyses.EDGE_STEP_DEG`).
EDGE_STEP_DEG = 0.0005

#: Which way each kind of assigned resource travels.
DIRECTION = {"team": "from_facility", "depot_stock": "from_facility", "shelter": "to_facility"}


@dataclass(frozen=True)
class Leg:
    """A resource's way to (or from) the incident: None fields when it cannot be routed."""

    eta_s: float | None
    length_m: float | None
    coords: list[list[float]] | None
    note: str | None = None

    def geojson(self) -> dict[str, Any] | None:
        if not self.coords:
            return None
        coords = self.coords if len(self.coords) >= 2 else [*self.coords, *self.coords]
        return {"type": "LineString", "coordinates": coords}


def is_area(geom) -> bool:
    return geom is not None and geom.geom_type in ("Polygon", "MultiPolygon")


def approach(geom, lon: float, lat: float) -> tuple[float, float]:
    """Where an incident is reached: the place itself, or for a place inside an area the
    nearest point of its edge, just outside (its roads are closed)."""
    import shapely
    from shapely.ops import nearest_points

    pt = shapely.Point(lon, lat)
    if not is_area(geom) or not geom.covers(pt):
        return lon, lat
    edge = nearest_points(geom.boundary, pt)[0]
    dx, dy = edge.x - lon, edge.y - lat
    n = (dx * dx + dy * dy) ** 0.5
    if n == 0:
        return edge.x, edge.y
    return edge.x + dx / n * EDGE_STEP_DEG, edge.y + dy / n * EDGE_STEP_DEG


def leg(graph, incident_geom, resource: tuple[float, float], kind: str, *, norms=None,
        closures: Any = None) -> Leg:
    """The ETA and route between the resource at ``resource`` (lon, lat) and the incident.

    ``closures``: the incident area's closed edges (computed here when None and the incident
    is an area). Never raises for a place the network cannot route: the `Leg` says why.
    """
    from emgis.geo.routing import closures_from_polygons, nearest_k

    if graph is None:
        return Leg(None, None, None, "no road network is loaded: no ETA")
    if closures is None and is_area(incident_geom):
        closures = closures_from_polygons(graph, [incident_geom])
    p = incident_geom.representative_point()
    place = approach(incident_geom, p.x, p.y)
    try:
        routes = nearest_k(graph, place, (np.array([resource[0]]), np.array([resource[1]])), 1,
                           closures=closures, direction=DIRECTION[kind], norms=norms)
    except ValueError as exc:
        return Leg(None, None, None, f"cannot be routed: {exc}")
    if not routes:
        return Leg(None, None, None, "no open road links the resource and the incident")
    r = routes[0]
    return Leg(round(float(r.time_s), 1), round(float(r.length_m), 1),
               [[float(x), float(y)] for x, y in r.coords])
