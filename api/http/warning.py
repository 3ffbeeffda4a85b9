"""``/analyses/warning-area``: the warning area ("last mile", 预警区域) over HTTP.

``POST`` with a GeoJSON Polygon or MultiPolygon (a bare geometry or a Feature), or ``GET
?incident=ID`` for an incident's area (a point incident with ``radius_m``); ``format=xlsx`` for
the workbook. The analysis is `emgis.shelters.warning` (also `emgis warning-area`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response

from emgis.api.http.errors import error_responses
from emgis.api.http.inputs import posted_geometry
from emgis.geo.store import NETWORK_NAME_PATTERN
from emgis.layers.problems import Problems
from emgis.shelters.warning import MAX_RADIUS_M, incident_area, warning_area, workbook

router = APIRouter(prefix="/analyses", tags=["analyses"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Format = Literal["json", "xlsx"]
_AREAS = ("Polygon", "MultiPolygon")
#: The smallest warning circle (m); below it the circle is a point with no area.
MIN_RADIUS_M = 1.0


def _area_from_body(request: Request, value: Any):
    import shapely

    p = Problems("warning area")
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    text = posted_geometry(request, p, "geometry", value, _AREAS)
    p.raise_if_errors()
    return shapely.from_geojson(text)


def _compute(request: Request, area, close_roads: bool, network: str | None) -> dict:
    """The service's answer with the API's kept network and norms."""
    from emgis.api.http.analyses import _graph, _norms_in_force

    return warning_area(request.app.state.engine, area, lambda: _graph(request, network)[0],
                        _norms_in_force(request), close_roads=close_roads)


def _answer(ans: dict, fmt: str) -> Response:
    if fmt == "xlsx":
        name = f"warning_area_{dt.date.today():%Y%m%d}.xlsx"
        return Response(workbook(ans), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return JSONResponse(ans)


_RESPONSES = {200: {"content": {"application/json": {}, XLSX: {}}},
              **error_responses(400, 404, 409, 413)}


@router.post("/warning-area",
             summary="Villages, people and shelters inside a warning area; "
                     "where each village goes",
             response_class=Response, responses=_RESPONSES)
def post_warning_area(request: Request,
                      area: dict[str, Any] = Body(description="GeoJSON Polygon or MultiPolygon "
                                                              "(or a Feature), lon/lat"),
                      format: Format = Query("json", description="json, or xlsx for a workbook"),
                      close_roads: bool = Query(False,
                                                description="close the roads inside the area"),
                      network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN)) -> Response:
    return _answer(_compute(request, _area_from_body(request, area), close_roads,
                            network), format)


@router.get("/warning-area", summary="The warning area of an incident", response_class=Response,
            responses=_RESPONSES)
def get_warning_area(request: Request,
                     incident: int = Query(ge=1, le=2**31 - 1, description="incident id"),
                     radius_m: float | None = Query(None, ge=MIN_RADIUS_M, le=MAX_RADIUS_M,
                                                    description="for a point incident: the "
                                                                "warning circle's radius, "
                                                                f"{MIN_RADIUS_M:g} to "
                                                                f"{MAX_RADIUS_M:g} m"),
                     format: Format = Query("json", description="json, or xlsx for a workbook"),
                     close_roads: bool = Query(False,
                                               description="close the roads inside the area"),
                     network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN)) -> Response:
    area = incident_area(request.app.state.engine, incident, radius_m)
    return _answer(_compute(request, area, close_roads, network), format)
