"""``/tiles/base/{z}/{x}/{y}.pbf`` and ``/tiles/labels``: the offline base map's data.

Mapbox Vector Tiles of the stored roads and outlines (`emgis.geo.vector_tiles.base_tile`, one
``ST_AsMVT`` query) and the place names to write at a zoom (`place_labels`), so every map page
has roads, outlines and village names with no internet (maps/tiles.py, ``EMGIS_MAP_TILES=local``).
A tile is one indexed query (a few milliseconds at county scale), so none is kept: a reloaded
road network shows at once.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from emgis.api.http.errors import error_responses
from emgis.api.http.features import parse_bbox
from emgis.geo.store import NETWORK_NAME_PATTERN
from emgis.geo.vector_tiles import MAX_ZOOM, base_tile, check_tile, place_labels
from emgis.layers.problems import BadArgument

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"


@router.get("/base/{z}/{x}/{y}.pbf", summary="A vector tile of the offline base map",
            response_class=Response,
            responses={200: {"content": {MVT: {}}}, **error_responses(400)})
def base(request: Request, z: int = Path(ge=0, le=MAX_ZOOM), x: int = Path(ge=0),
         y: int = Path(ge=0),
         network: str = Query("default", pattern=NETWORK_NAME_PATTERN)) -> Response:
    try:
        check_tile(z, x, y)
    except ValueError as exc:
        raise BadArgument(str(exc)) from None
    data = base_tile(request.app.state.engine, z, x, y, network=network)
    return Response(data, media_type=MVT, headers={"Cache-Control": "no-cache"})


@router.get("/labels", summary="Place names to write on the offline base map at a zoom",
            responses=error_responses(400))
def labels(request: Request,
           bbox: str = Query(description="minLon,minLat,maxLon,maxLat (CRS84)"),
           zoom: int = Query(ge=0, le=MAX_ZOOM)) -> JSONResponse:
    box = parse_bbox(bbox)
    if box is None:
        raise BadArgument("bbox is empty; give minLon,minLat,maxLon,maxLat, "
                          "e.g. bbox=119.9,29.9,120.1,30.1")
    return JSONResponse(place_labels(request.app.state.engine, box, zoom),
                        media_type="application/geo+json")
