"""``GET /incidents/{id}/proposal``: the teams an incident needs, by type, nearest first, with
their routes and ETAs — what a commander is offered before dispatching.

The team types come from the norms (`shelters.needs.team_needs`); each type's teams are the
``/analyses/nearest`` answer for that type (`analyses._nearest`: the same snapping, stored route
trees and closures), from each team's base to the incident (to the edge of an incident area,
whose roads are closed).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request

from emgis.api.http.analyses import NearestQuery, _nearest, _norms_in_force
from emgis.api.http.errors import NotFound, error_responses
from emgis.geo.store import NETWORK_NAME_PATTERN
from emgis.layers import vocab

router = APIRouter(tags=["incidents"])


@router.get("/incidents/{incident_id}/proposal",
            summary="The teams an incident needs, by type, nearest first, with routes and ETAs",
            responses=error_responses(404, 409))
def proposal(request: Request, incident_id: int = Path(ge=1, le=2**31 - 1),
             k: int = Query(2, ge=1, le=10, description="teams proposed per type"),
             network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN)) -> dict:
    from emgis.shelters.needs import team_needs

    with request.app.state.engine.connect() as c:
        row = c.execute(sa.text(
            "SELECT id, title, incident_type, level, status, ST_X(ST_PointOnSurface(geom)), "
            "ST_Y(ST_PointOnSurface(geom)), ST_Dimension(geom) FROM incidents WHERE id = :i"),
            {"i": incident_id}).first()
    if row is None:
        raise NotFound(f"there is no incident {incident_id}")
    needs = team_needs(row[2], _norms_in_force(request))
    area = row[7] == 2  # an area: its roads are closed, teams come to its edge
    out = []
    for tt in needs.team_types:
        q = NearestQuery(float(row[5]), float(row[6]), "team_bases", k,
                         incident_id if area else None, "from_facility", network, (tt, None))
        fc = json.loads(_nearest(request, q).body)
        teams = [{**f["properties"], "eta_min": f["properties"]["time_min"],
                  "route": f["geometry"]} for f in fc["features"]]
        out.append({"team_type": tt, "team_type_zh": vocab.TEAM_TYPE[tt].zh, "teams": teams,
                    "note": None if teams else
                    "no available team of this type can reach the incident"})
    return {"incident": {"id": row[0], "title": row[1], "incident_type": row[2],
                         "level": row[3], "status": row[4]},
            "kind": needs.kind, "kind_known": needs.known,
            "kind_zh": vocab.INCIDENT_TYPE[needs.kind].zh if needs.known else None,
            "source": f"incident.team_types.{needs.kind if needs.known else 'other'}: "
                      f"{needs.source}",
            "needs": out}
