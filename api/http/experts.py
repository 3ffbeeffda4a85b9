"""The expert roster over HTTP: the list and the nearest experts for an incident.

Reads need no token, but phone numbers are personal data: only a commander or admin token sees
them (`shelters.experts.PHONE_ROLE`); without a token, or with a lower role, every expert route
leaves them out. The OGC collection ``/collections/experts`` never serves them
(api/http/features.py ``_HIDDEN``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from emgis.api.http.auth import Principal, authenticate
from emgis.api.http.errors import Unauthorized, error_responses
from emgis.shelters.experts import PHONE_ROLE, list_experts, nearest_experts

router = APIRouter(tags=["experts"])

_INT32 = 2**31 - 1
SPECIALITY_HELP = ("a speciality: key or Chinese name (应急管理, 危化, 电气, 矿山, 机械, "
                   "交通, 建筑, 防汛, 减灾救灾, 地震地质)")


def reader(request: Request) -> Principal | None:
    """Who reads: None without a token; a token that is not known is refused (401).

    Read from the ``Authorization`` header directly rather than through a security scheme: the
    route is a read anyone may make (OpenAPI marks only the writes as needing a token); a
    commander's token only adds the phone numbers."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    who = authenticate(request.app.state.engine, token.strip())
    if who is None:
        raise Unauthorized("the token is not known or has been revoked")
    return who


def sees_phone(who: Principal | None) -> bool:
    return who is not None and who.at_least(PHONE_ROLE)


@router.get("/experts", summary="The expert roster (phones for commander and above)",
            description="Phone numbers only with `Authorization: Bearer <token>` of a commander "
                        "or admin; without a token (or with a lower role) they are left out.",
            responses=error_responses(400, 401))
def experts(request: Request,
            speciality: str | None = Query(None, max_length=100, description=SPECIALITY_HELP),
            who: Principal | None = Depends(reader)) -> dict:
    with_phone = sees_phone(who)
    rows = list_experts(request.app.state.engine, speciality=speciality, with_phone=with_phone)
    return {"experts": rows, "phones_shown": with_phone,
            "note": None if with_phone else
            f"phone numbers are shown to {PHONE_ROLE} and above only"}


@router.get("/incidents/{incident_id}/experts",
            summary="The nearest available experts of a speciality for an incident (phones for "
                    "a commander's `Authorization: Bearer` token only)",
            responses=error_responses(400, 401, 404))
def incident_experts(request: Request, incident_id: int = Path(ge=1, le=_INT32),
                     speciality: str | None = Query(None, max_length=100,
                                                    description=SPECIALITY_HELP),
                     k: int = Query(5, ge=1, le=50, description="how many"),
                     who: Principal | None = Depends(reader)) -> dict:
    """Ranked by road time from each expert's base when a road network is stored, else by
    straight-line distance (``method`` says which)."""
    from emgis.api.http.analyses import _graph, _norms_in_force
    from emgis.geo.store import RoadNetworkNotFound

    with_phone = sees_phone(who)
    graph, norms, note = None, None, ""
    try:
        graph, _ = _graph(request, None)
        norms = _norms_in_force(request)
    except RoadNetworkNotFound:
        note = "no road network is stored: ranked by straight-line distance"
    ans = nearest_experts(request.app.state.engine, incident_id, speciality, k=k, graph=graph,
                          norms=norms, with_phone=with_phone, network_note=note)
    return {"incident": ans.incident, "speciality": ans.speciality, "method": ans.method,
            "experts": ans.experts, "note": ans.note or None, "phones_shown": with_phone}
