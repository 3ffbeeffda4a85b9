"""Warnings with acknowledgement (叫应) over HTTP.

- ``POST /warnings`` (commander or above): issue a warning for an area (GeoJSON Polygon) or an
  incident's area; the contacts of every village and township inside become its recipients,
  each with a code to acknowledge with (shown in this answer, to the issuer);
- ``POST /warnings/{id}/ack``: a recipient acknowledges with its contact id and code (no token:
  a village secretary has none), or a duty officer (planner or above) records an answer taken by
  phone;
- ``GET /warnings``, ``GET /warnings/{id}`` (recipients and who has not acknowledged),
  ``GET /warnings/unacknowledged`` (GeoJSON of the units still waited for: the live map).

Phone numbers are whole only for commanders and above; others see the last four digits.
The logic is `emgis.shelters.alerts`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from emgis.api.http.auth import Principal, optional_principal, require
from emgis.api.http.errors import AUTH_ERRORS, Forbidden, error_responses
from emgis.api.http.inputs import RequestBody, posted_geometry
from emgis.layers.problems import Problems
from emgis.shelters import alerts
from emgis.shelters.warning import MAX_RADIUS_M, incident_area

router = APIRouter(tags=["warnings"])

_INT32 = 2**31 - 1
_ID = Path(ge=1, le=_INT32, description="the warning's id")


class WarningIn(RequestBody):
    """A warning: ``area`` (GeoJSON Polygon / MultiPolygon) or ``incident`` (its area; a point
    incident with ``radius_m``), ``level`` 蓝/黄/橙/红 (blue … red) and ``text``."""

    area: dict[str, Any] | None = Field(default=None, description="GeoJSON Polygon, lon/lat")
    incident: int | None = Field(default=None, ge=1, le=_INT32)
    radius_m: float | None = Field(default=None, gt=0, le=MAX_RADIUS_M)
    level: str = Field(max_length=20, description="蓝 / 黄 / 橙 / 红, or blue … red")
    text: str = Field(max_length=2000, description="what the warning says")


class AckIn(RequestBody):
    """``contact_id`` and the ``code`` sent with the warning; or, with a duty officer's token
    (planner+), ``contact_id`` alone (an answer taken by phone)."""

    contact_id: int = Field(ge=1, le=_INT32)
    code: str | None = Field(default=None, max_length=12)
    channel: str | None = Field(default=None, max_length=20,
                                description=f"one of {', '.join(alerts.CHANNELS)}")


def _json(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(json.loads(json.dumps(data, ensure_ascii=False, default=str)),
                        status_code=status_code)


@router.post("/warnings", status_code=201,
             summary="Issue a warning to the contacts of the units in an area (commander+)",
             responses={**error_responses(400, 404, *AUTH_ERRORS)})
def post_warning(body: WarningIn, request: Request,
                 who: Principal = Depends(require("commander"))) -> JSONResponse:
    import shapely

    p = Problems("warning")
    if (body.area is None) == (body.incident is None):
        p.error(None, "area", None, "give the area or the incident, not both or neither",
                "send area (a GeoJSON Polygon) or incident (an incident's id)")
        p.raise_if_errors()
    engine = request.app.state.engine
    alerts.check_warning(body.level, body.text)
    if body.area is not None:
        text = posted_geometry(request, p, "area", body.area, ("Polygon", "MultiPolygon"))
        p.raise_if_errors()
        area = shapely.from_geojson(text)
    else:
        area = incident_area(engine, body.incident, body.radius_m)
    ans = alerts.issue_warning(engine, area, level=body.level, text=body.text, actor=who.name,
                               incident_id=body.incident)
    request.app.state.changes.touch("warnings")
    return _json(ans, 201)


@router.post("/warnings/{wid}/ack", summary="Acknowledge a warning (contact id + code, or a "
                                            "duty officer's token)",
             responses={**error_responses(400, 404, 401, 403)})
def post_ack(body: AckIn, request: Request, wid: int = _ID,
             who: Principal | None = Depends(optional_principal)) -> JSONResponse:
    officer = None
    if body.code is None and who is not None:
        if not who.at_least("planner"):
            raise Forbidden(f"the token {who.name!r} has role {who.role!r}; recording an "
                            "answer for a contact needs planner or above (or send the code)")
        officer = who.name
    ans = alerts.acknowledge(request.app.state.engine, wid, body.contact_id, code=body.code,
                             officer=officer, channel=body.channel)
    request.app.state.changes.touch("warnings")
    return _json(ans)


@router.get("/warnings", summary="Warnings, newest first, with acknowledgements counted")
def get_warnings(request: Request) -> JSONResponse:
    return _json(alerts.list_warnings(request.app.state.engine))


@router.get("/warnings/unacknowledged", summary="Units still waited for (GeoJSON)",
            response_class=Response)
def get_unacknowledged(request: Request) -> Response:
    return Response(json.dumps(alerts.unacknowledged_units(request.app.state.engine),
                               ensure_ascii=False, default=str),
                    media_type="application/geo+json")


@router.get("/warnings/{wid}", summary="A warning, its recipients and who has not acknowledged",
            responses=error_responses(404, 401))
def get_warning(request: Request, wid: int = _ID,
                who: Principal | None = Depends(optional_principal)) -> JSONResponse:
    phones = who is not None and who.at_least("commander")
    return _json(alerts.warning_status(request.app.state.engine, wid, phones=phones))
