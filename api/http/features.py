"""The layers as OGC API – Features (Part 1: Core, GeoJSON), so QGIS can add them directly.

``/`` landing page, ``/conformance``, ``/collections``, ``/collections/{id}``,
``/collections/{id}/items`` (``bbox``, ``limit``, ``offset``; next/prev links) and
``/collections/{id}/items/{fid}``. Features are RFC 7946 GeoJSON: geometry by
``ST_AsGeoJSON``, properties = the table's columns except its geometries.

Table and column names come only from the whitelist `COLLECTIONS` (built from the data
model); every value from the request is a bound parameter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from geoalchemy2 import Geometry

from emgis.api.http.errors import BadRequest, NotFound, error_responses
from emgis.layers import models

GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    key: str                 # primary key column (the feature id)
    key_is_int: bool
    geoms: tuple[str, ...]   # geometry columns; the first non-null one is the feature's geometry
    excluded: tuple[str, ...] = ()  # columns never served (personal data: `_EXCLUDED`)

    @property
    def geom_sql(self) -> str:
        return self.geoms[0] if len(self.geoms) == 1 else f"COALESCE({', '.join(self.geoms)})"

    @property
    def props_sql(self) -> str:
        return "to_jsonb(t)" + "".join(f" - '{g}'" for g in (*self.geoms, *self.excluded))

    @property
    def feature_sql(self) -> str:
        """One Feature as JSON text (RFC 7946; id = the primary key)."""
        return (f"json_build_object('type', 'Feature', 'id', t.{self.key}, "
                f"'geometry', ST_AsGeoJSON({self.geom_sql})::json, "
                f"'properties', {self.props_sql})::text")

    def bbox_sql(self) -> str:
        env = "ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)"
        return "(" + " OR ".join(f"t.{g} && {env}" for g in self.geoms) + ")"


_TITLES = {
    "admin_units": ("Administrative units",
                    "Province to village units keyed by the 12-digit division code; "
                    "boundary (or point where only a point is known)."),
    "shelters": ("Emergency shelters",
                 "Shelters with design/duration classes, capacity, status and occupancy."),
    "depots": ("Supply depots", "Supply depots of the five-level reserve system."),
    "team_bases": ("Rescue team bases",
                   "Rescue teams and fire stations: type, personnel, status, position."),
    "risk_points": ("Risk points",
                    "Assessed risk sources with method, score and four-colour level."),
    "hazards": ("Hazards", "Hazards (隐患) and their state in the closed loop."),
    "risk_areas": ("Four-colour risk areas",
                   "Coloured areas of the four-colour risk map (admin units or grid)."),
    "hazard_zones": ("Natural-hazard zones",
                     "Flood, landslide, earthquake and composite hazard zones."),
    "incidents": ("Incidents", "Incidents: type, level, status, point or area."),
    "road_edges": ("Road network edges",
                   "Edges of the loaded road networks with class, speed and travel time."),
    "experts": ("Expert roster",
                "Experts (专家库) by speciality, unit, title, availability and base point; "
                "phone numbers are never served here (GET /experts, commander and above)."),
    "field_reports": ("Field reports",
                      "Reports from the field (隐患上报, 灾情快报): kind, state, counts (null = "
                      "not reported), township; the photo is at /field-reports/{id}/photo."),
}

#: Columns a collection never serves: personal data (phone numbers are for commander and above,
#: through the expert routes of api/http/experts.py only).
_EXCLUDED: dict[str, tuple[str, ...]] = {"experts": ("phone",)}


def _collection(cid: str) -> Collection:
    table = models.Base.metadata.tables[cid]
    geoms = tuple(c.name for c in table.columns if isinstance(c.type, Geometry))
    (pk,) = table.primary_key.columns
    title, desc = _TITLES[cid]
    return Collection(cid, title, desc, pk.name, isinstance(pk.type, sa.Integer), geoms,
                      _EXCLUDED.get(cid, ()))


#: The whitelist: only these tables are served, with names from the data model.
COLLECTIONS: dict[str, Collection] = {cid: _collection(cid) for cid in _TITLES}

router = APIRouter(tags=["features"], responses=error_responses())


# --- helpers -------------------------------------------------------------------------------------

def _engine(request: Request):
    return request.app.state.engine


def _json(data: Any, media_type: str = "application/json", status_code: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, default=str), media_type=media_type,
                    status_code=status_code)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _get(cid: str) -> Collection:
    coll = COLLECTIONS.get(cid)
    if coll is None:
        raise NotFound(f"no collection {cid!r}; the collections are: {', '.join(COLLECTIONS)}")
    return coll


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """Parse ``minx,miny,maxx,maxy`` (or the 6-number 3D form) in CRS84; BadRequest if malformed."""
    if bbox is None or bbox == "":
        return None
    parts = bbox.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise BadRequest(f"bbox={bbox!r} is not a list of numbers; "
                         f"give minLon,minLat,maxLon,maxLat "
                         "e.g. bbox=119.9,29.9,120.1,30.1") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(abs(n) < float("inf") for n in nums):
        raise BadRequest(f"bbox={bbox!r} must have 4 numbers: minLon,minLat,maxLon,maxLat")
    minx, miny, maxx, maxy = nums
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180
            and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise BadRequest(f"bbox={bbox!r} is outside longitude -180..180 / latitude -90..90 "
                         f"(CRS84: lon first)")
    if miny > maxy or minx > maxx:
        raise BadRequest(f"bbox={bbox!r}: the minimum must come before the maximum "
                         f"(minLon,minLat,maxLon,maxLat)")
    return minx, miny, maxx, maxy


def _feature(coll: Collection, fid: Any, geom: str | None, props: dict) -> dict:
    return {"type": "Feature", "id": fid, "geometry": None if geom is None else json.loads(geom),
            "properties": props}


# --- endpoints -----------------------------------------------------------------------------------

@router.get("/", summary="Landing page")
def landing(request: Request) -> Response:
    base = _base(request)
    return _json({
        "title": "emgis",
        "description": "Layers of the county emergency-management GIS as OGC API – Features "
                       "(GeoJSON), analyses and live incident state.",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json",
             "title": "this document"},
            {"href": f"{base}/openapi.json", "rel": "service-desc",
             "type": "application/vnd.oai.openapi+json;version=3.0", "title": "the API definition"},
            {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html",
             "title": "the API documentation"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json",
             "title": "OGC API conformance classes implemented"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json",
             "title": "the layers"},
        ],
    })


@router.get("/conformance", summary="Conformance classes")
def conformance() -> Response:
    return _json({"conformsTo": CONFORMANCE})


def _collection_doc(request: Request, coll: Collection, extent: list | None) -> dict:
    base = _base(request)
    doc = {
        "id": coll.id, "title": coll.title, "description": coll.description, "itemType": "feature",
        "crs": [CRS84],
        "links": [
            {"href": f"{base}/collections/{coll.id}", "rel": "self", "type": "application/json",
             "title": coll.title},
            {"href": f"{base}/collections/{coll.id}/items", "rel": "items", "type": GEOJSON,
             "title": f"{coll.title} (GeoJSON)"},
        ],
    }
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
    return doc


def _extent(conn, coll: Collection) -> list | None:
    row = conn.execute(sa.text(
        f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
        f"(SELECT ST_Extent({coll.geom_sql})::geometry AS e FROM {coll.id}) s")).first()
    return None if row is None or row[0] is None else [float(v) for v in row]


@router.get("/collections", summary="The layers")
def collections(request: Request) -> Response:
    with _engine(request).connect() as c:
        docs = [_collection_doc(request, coll, _extent(c, coll)) for coll in COLLECTIONS.values()]
    base = _base(request)
    return _json({"links": [{"href": f"{base}/collections", "rel": "self",
                             "type": "application/json"}],
                  "collections": docs})


@router.get("/collections/{collection_id}", summary="One layer", responses=error_responses(404))
def collection(request: Request, collection_id: str) -> Response:
    coll = _get(collection_id)
    with _engine(request).connect() as c:
        return _json(_collection_doc(request, coll, _extent(c, coll)))


@router.get("/collections/{collection_id}/items", summary="Features of a layer (GeoJSON, paged)",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}, **error_responses(400, 404)})
def items(request: Request, collection_id: str,
          bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat (CRS84)"),
          limit: int = Query(DEFAULT_LIMIT, ge=1,
                             description=f"features per page (at most {MAX_LIMIT})"),
          offset: int = Query(0, ge=0, le=2**31 - 1, description="features to skip")) -> Response:
    coll = _get(collection_id)
    box = parse_bbox(bbox)
    limit = min(limit, MAX_LIMIT)
    where = f"WHERE {coll.bbox_sql()}" if box else ""
    params: dict[str, Any] = {"lim": limit, "off": offset}
    if box:
        params.update(zip(("minx", "miny", "maxx", "maxy"), box, strict=True))
    with _engine(request).connect() as c:
        matched = c.execute(sa.text(f"SELECT count(*) FROM {coll.id} t {where}"),
                            params).scalar_one()
        # each feature is written by PostgreSQL as JSON text: no parse / re-serialise in Python
        feats = c.execute(sa.text(
            f"SELECT {coll.feature_sql} FROM {coll.id} t {where} "
            f"ORDER BY t.{coll.key} LIMIT :lim OFFSET :off"), params).scalars().all()
        stamp = c.execute(sa.text("SELECT to_char(now() AT TIME ZONE 'UTC', "
                                  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")).scalar_one()
    url = request.url
    links = [{"href": str(url), "rel": "self", "type": GEOJSON},
             {"href": f"{_base(request)}/collections/{coll.id}", "rel": "collection",
              "type": "application/json"}]
    if offset + len(feats) < matched:
        links.append({"href": str(url.include_query_params(offset=offset + len(feats),
                                                           limit=limit)),
                      "rel": "next", "type": GEOJSON, "title": "next page"})
    if offset > 0:
        links.append({"href": str(url.include_query_params(offset=max(0, offset - limit),
                                                           limit=limit)),
                      "rel": "prev", "type": GEOJSON, "title": "previous page"})
    rest = json.dumps({"numberMatched": matched, "numberReturned": len(feats), "timeStamp": stamp,
                       "links": links}, ensure_ascii=False)
    body = '{"type": "FeatureCollection", "features": [' + ",".join(feats) + "], " + rest[1:]
    return Response(body, media_type=GEOJSON)


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature (GeoJSON)",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}, **error_responses(404)})
def item(request: Request, collection_id: str, feature_id: str) -> Response:
    coll = _get(collection_id)
    fid: Any = feature_id
    if coll.key_is_int:
        if not (feature_id.isascii() and feature_id.isdigit()) or int(feature_id) > 2**31 - 1:
            raise NotFound(f"{coll.id} has no feature {feature_id!r} (ids are integers)")
        fid = int(feature_id)
    with _engine(request).connect() as c:
        row = c.execute(sa.text(
            f"SELECT t.{coll.key}, ST_AsGeoJSON({coll.geom_sql}), {coll.props_sql} "
            f"FROM {coll.id} t "
            f"WHERE t.{coll.key} = :fid"), {"fid": fid}).first()
    if row is None:
        raise NotFound(f"{coll.id} has no feature {feature_id!r}")
    feat = _feature(coll, row[0], row[1], row[2])
    base = _base(request)
    feat["links"] = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": f"{base}/collections/{coll.id}", "rel": "collection", "type": "application/json"},
    ]
    return _json(feat, GEOJSON)
