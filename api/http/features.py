"""The layers as OGC API – Features, so QGIS, GDAL and OWSLib use them directly.

Part 1 (``/``, ``/conformance``, ``/collections``, ``/collections/{id}``, ``.../items`` with
``bbox``, ``limit``, ``offset`` and key-paged ``next`` links, ``.../items/{fid}``; unknown
parameters are a 400), Part 2 (``crs`` / ``bbox-crs``: CRS84, EPSG:4490 and the study area's
CGCS2000 Gauss-Krüger zone, in their EPSG axis order), Part 3 (``.../queryables``, property
filters, ``filter`` in CQL2 text or JSON, ``sortby``). Part 4 (writes) is
api/http/features_edit.py; the SQL is api/http/features_query.py and api/http/cql.py.

Table and column names come only from the whitelist `COLLECTIONS` (built from the data model:
`_TITLES` names the tables served, `_HIDDEN` the columns never served, `_VIEWS` the collections
joined or split from tables); every value from the request is a bound parameter.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from geoalchemy2 import Geometry

from emgis.api.http import cql
from emgis.api.http.errors import BadRequest, NotFound, error_responses
from emgis.api.http.features_query import (
    CRS84,
    Collection,
    Page,
    dumps,
    json_schema,
    key_value,
    parse_bbox,
    parse_crs,
    read_page,
    sort_sql,
    supported_crs,
    typed,
)
from emgis.api.http.features_query import bbox_sql as _bbox_sql
from emgis.api.http.features_query import feature_sql as _feature_sql
from emgis.layers import models

__all__ = ["COLLECTIONS", "DEFAULT_LIMIT", "MAX_LIMIT", "Collection", "parse_bbox", "router"]

GEOJSON = "application/geo+json"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
_OGC = "http://www.opengis.net/spec/"
CONFORMANCE = [
    _OGC + "ogcapi-features-1/1.0/conf/core",
    _OGC + "ogcapi-features-1/1.0/conf/geojson",
    _OGC + "ogcapi-features-1/1.0/conf/oas30",
    _OGC + "ogcapi-features-2/1.0/conf/crs",
    _OGC + "ogcapi-features-3/1.0/conf/queryables",
    _OGC + "ogcapi-features-3/1.0/conf/queryables-query-parameters",
    _OGC + "ogcapi-features-3/1.0/conf/filter",
    _OGC + "ogcapi-features-3/1.0/conf/features-filter",
    _OGC + "ogcapi-features-5/1.0/conf/sorting",
    _OGC + "cql2/1.0/conf/cql2-text",
    _OGC + "cql2/1.0/conf/cql2-json",
    _OGC + "cql2/1.0/conf/basic-cql2",
    _OGC + "cql2/1.0/conf/advanced-comparison-operators",
    _OGC + "cql2/1.0/conf/basic-spatial-functions",
    _OGC + "cql2/1.0/conf/basic-spatial-functions-plus",
    _OGC + "cql2/1.0/conf/spatial-functions",
    _OGC + "ogcapi-features-4/1.0/conf/create-replace-delete",
    _OGC + "ogcapi-features-4/1.0/conf/update",
    _OGC + "ogcapi-features-4/1.0/conf/features",
]

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

#: Columns never served nor filterable, by collection (e.g. a person's phone number).
_HIDDEN: dict[str, tuple[str, ...]] = {
    # phone numbers are for commander and above, through api/http/experts.py only
    "experts": ("phone",),
}

#: Collections that are not one table as it is: one geometry type each, or joined to the
#: geometry they are about. id: (title, description, base table, key, geometry column,
#: GeoJSON type, SELECT giving the rows (with the key and geometry columns), extra columns).
_VIEWS: dict[str, tuple] = {
    "incident_points": (
        "Incidents (points)", "Incidents located by a point (the same rows as incidents).",
        "incidents", "id", "geom", "Point",
        "SELECT * FROM incidents WHERE GeometryType(geom) = 'POINT'", {}),
    "incident_areas": (
        "Incidents (areas)", "Incidents given as an area, e.g. a flooded area (the same rows "
        "as incidents).", "incidents", "id", "geom", "MultiPolygon",
        "SELECT id, ext_id, title, incident_type, level, status, reported_at, updated_at, "
        "load_id, ST_Multi(geom) AS geom FROM incidents "
        "WHERE GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')", {}),
    "admin_unit_points": (
        "Administrative units (points)", "The point of each unit that has one (a seat, or the "
        "only position known).", "admin_units", "code", "point", "Point",
        "SELECT * FROM admin_units WHERE point IS NOT NULL", {}),
    "depot_stock": (
        "Depot stock", "Each item a depot holds, at the depot (id: depot id:item).",
        "depot_stock", "id", "geom", "Point",
        "SELECT s.depot_id || ':' || s.item AS id, s.depot_id, d.ext_id AS depot_ext_id, "
        "d.name AS depot_name, s.item, s.quantity, s.unit, s.load_id, d.geom "
        "FROM depot_stock s JOIN depots d ON d.id = s.depot_id",
        {"id": sa.Text(), "depot_ext_id": sa.Text(), "depot_name": sa.Text()}),
    "population": (
        "Population by unit", "Census population of each administrative unit and year, on "
        "the unit's boundary, if stored (id: code:year).", "population", "id", "geom",
        "MultiPolygon",
        "SELECT p.code || ':' || p.year AS id, p.*, a.name, a.level, a.geom "
        "FROM population p LEFT JOIN admin_units a ON a.code = p.code",
        {"id": sa.Text(), "name": sa.Text(), "level": sa.Text()}),
}

_GEOJSON_TYPES = {"POINT": "Point", "MULTIPOINT": "MultiPoint", "LINESTRING": "LineString",
                  "MULTILINESTRING": "MultiLineString", "POLYGON": "Polygon",
                  "MULTIPOLYGON": "MultiPolygon"}


def _props(table: sa.Table, hidden: tuple[str, ...], extra: dict | None = None) -> dict:
    cols = {c.name: c.type for c in table.columns if not isinstance(c.type, Geometry)}
    cols.update(extra or {})
    return {name: json_schema(t) for name, t in cols.items() if name not in hidden}


def _hidden_geoms(table: sa.Table, geom: str) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if isinstance(c.type, Geometry) and c.name != geom)


def _collection(cid: str) -> Collection:
    table = models.Base.metadata.tables[cid]
    geoms = [c for c in table.columns if isinstance(c.type, Geometry)]
    (pk,) = table.primary_key.columns
    title, desc = _TITLES[cid]
    gtype = _GEOJSON_TYPES.get(str(geoms[0].type.geometry_type).upper(), "Geometry")
    hidden = _HIDDEN.get(cid, ())
    return Collection(cid, title, desc, pk.name, isinstance(pk.type, sa.Integer), geoms[0].name,
                      gtype, cid, _props(table, hidden),
                      hidden + _hidden_geoms(table, geoms[0].name), cid)


def _view(cid: str) -> Collection:
    title, desc, base, key, geom, gtype, select, extra = _VIEWS[cid]
    table = models.Base.metadata.tables[base]
    hidden = _HIDDEN.get(base, ()) + _HIDDEN.get(cid, ())
    props = _props(table, hidden, extra)
    key_is_int = key in table.columns and isinstance(table.columns[key].type, sa.Integer)
    return Collection(cid, title, desc, key, key_is_int, geom, gtype, f"({select})",
                      props, hidden + _hidden_geoms(table, geom), base)


def _build() -> dict[str, Collection]:
    out = {cid: _collection(cid) for cid in _TITLES if cid != "depot_stock"}
    out.update({cid: _view(cid) for cid in _VIEWS if cid not in out})
    return out


#: The whitelist: only these collections are served, with names from the data model.
COLLECTIONS: dict[str, Collection] = _build()

router = APIRouter(tags=["features"], responses=error_responses())

#: the query parameters of /items besides the queryables (Part 1, 2, 3 and the page key)
ITEM_PARAMS = frozenset({"bbox", "bbox-crs", "limit", "offset", "after", "crs", "filter",
                         "filter-lang", "filter-crs", "sortby", "f",
                         "_"})  # a cache-buster (Leaflet-Realtime's, the live map): ignored


# --- helpers -------------------------------------------------------------------------------------

def _engine(request: Request):
    return request.app.state.engine


def _json(data: Any, media_type: str = "application/json", status_code: int = 200,
          headers: dict | None = None) -> Response:
    return Response(dumps(data), media_type=media_type, status_code=status_code,
                    headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def get_collection(cid: str) -> Collection:
    coll = COLLECTIONS.get(cid)
    if coll is None:
        raise NotFound(f"no collection {cid!r}; the collections are: {', '.join(COLLECTIONS)}")
    return coll


_get = get_collection


def _check_params(request: Request, coll: Collection, allowed: frozenset[str]) -> None:
    unknown = [k for k in request.query_params if k not in allowed and k not in coll.queryables]
    if unknown:
        raise BadRequest(f"unknown query parameter(s) {', '.join(map(repr, unknown))} for "
                         f"{coll.id}; use {', '.join(sorted(allowed))} or a queryable "
                         f"({', '.join(coll.queryables)}): /collections/{coll.id}/queryables")


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


def _collection_doc(request: Request, coll: Collection, extent: list | None,
                    crs_list: list[str]) -> dict:
    base = _base(request)
    doc = {
        "id": coll.id, "title": coll.title, "description": coll.description, "itemType": "feature",
        "crs": crs_list, "storageCrs": CRS84, "geometryType": coll.geom_type,
        "links": [
            {"href": f"{base}/collections/{coll.id}", "rel": "self", "type": "application/json",
             "title": coll.title},
            {"href": f"{base}/collections/{coll.id}/items", "rel": "items", "type": GEOJSON,
             "title": f"{coll.title} (GeoJSON)"},
            {"href": f"{base}/collections/{coll.id}/queryables",
             "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
             "type": "application/schema+json", "title": "the properties to filter on"},
        ],
    }
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
    return doc


def _extent(conn, coll: Collection) -> list | None:
    row = conn.execute(sa.text(
        f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
        f"(SELECT ST_Extent(t.{coll.geom})::geometry AS e FROM {coll.source} t) s")).first()
    return None if row is None or row[0] is None else [float(v) for v in row]


@router.get("/collections", summary="The layers")
def collections(request: Request) -> Response:
    crs_list = [c.uri for c in supported_crs(_engine(request))]
    with _engine(request).connect() as c:
        docs = [_collection_doc(request, coll, _extent(c, coll), crs_list)
                for coll in COLLECTIONS.values()]
    base = _base(request)
    return _json({"links": [{"href": f"{base}/collections", "rel": "self",
                             "type": "application/json"}],
                  "collections": docs, "crs": crs_list})


@router.get("/collections/{collection_id}", summary="One layer", responses=error_responses(404))
def collection(request: Request, collection_id: str) -> Response:
    coll = _get(collection_id)
    crs_list = [c.uri for c in supported_crs(_engine(request))]
    with _engine(request).connect() as c:
        return _json(_collection_doc(request, coll, _extent(c, coll), crs_list))


@router.get("/collections/{collection_id}/queryables",
            summary="The properties a layer can be filtered and sorted on (JSON Schema)",
            response_class=Response,
            responses={200: {"content": {"application/schema+json": {}}},
                       **error_responses(404)})
def queryables(request: Request, collection_id: str) -> Response:
    coll = _get(collection_id)
    props: dict[str, dict] = {
        "geometry": {"format": f"geometry-{coll.geom_type.lower()}"
                     if coll.geom_type != "Geometry" else "geometry-any",
                     "x-ogc-role": "primary-geometry"}}
    props.update({k: {"title": k, **v} for k, v in coll.queryables.items()})
    return _json({"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$id": f"{_base(request)}/collections/{coll.id}/queryables",
                  "type": "object", "title": coll.title, "properties": props,
                  "additionalProperties": False}, "application/schema+json")


def _page(request: Request, coll: Collection, p: dict, crs_out) -> Page:
    """The page a request asks for: its filters, order, limit and key or offset."""
    engine = _engine(request)
    page = Page(limit=min(p["limit"], MAX_LIMIT), offset=p["offset"])
    bcrs = parse_crs(engine, p["bbox_crs"], "bbox-crs")
    box = parse_bbox(p["bbox"], bcrs)
    if box:
        page.where.append(_bbox_sql(coll, bcrs.srid))
        page.params.update(zip(("minx", "miny", "maxx", "maxy"), box, strict=True))
    for name in coll.queryables:
        if name in request.query_params:
            page.where.append(f"t.{name} = :p_{name}")
            page.params[f"p_{name}"] = typed(coll, name, request.query_params[name])
    if p["filter"]:
        tree = cql.parse(p["filter"], p["filter_lang"])
        sql, params = cql.to_sql(coll, tree, parse_crs(engine, p["filter_crs"], "filter-crs"))
        page.where.append(sql)
        page.params.update(params)
    page.order = sort_sql(coll, p["sortby"])
    if p["after"] is not None:
        if page.order:
            raise BadRequest("after= pages by the key; it cannot be combined with sortby "
                             "(use offset)")
        page.after = key_value(coll, p["after"], "after")
    return page


_LIMIT_DOC = (f"features per page: default {DEFAULT_LIMIT}, at most {MAX_LIMIT} "
              f"(a larger limit is served as {MAX_LIMIT})")


@router.get("/collections/{collectionId}/items", summary="Features of a layer (GeoJSON, paged)",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}, **error_responses(400, 404)})
def items(request: Request,
          collection_id: str = Path(alias="collectionId",
                                    description="a collection's id (GET /collections)"),
          bbox: str | None = Query(None, description="minx,miny,maxx,maxy in bbox-crs "
                                                     "(default CRS84: minLon,minLat,...)"),
          bbox_crs: str | None = Query(None, alias="bbox-crs",
                                       description="the CRS of bbox (default CRS84)"),
          limit: int = Query(DEFAULT_LIMIT, ge=1, description=_LIMIT_DOC,
                             json_schema_extra={"maximum": MAX_LIMIT}),
          offset: int = Query(0, ge=0, le=2**31 - 1, description="features to skip"),
          after: str | None = Query(None, description="the last feature id of the previous "
                                                      "page (the next link carries it)"),
          crs: str | None = Query(None, description="the CRS of the geometries returned "
                                                    "(default CRS84)"),
          filter: str | None = Query(None, description="a CQL2 filter, e.g. "
                                                       "status = 'open' AND capacity > 100"),
          filter_lang: str | None = Query(None, alias="filter-lang",
                                          description="cql2-text (default) or cql2-json"),
          filter_crs: str | None = Query(None, alias="filter-crs",
                                         description="the CRS of the filter's geometries"),
          sortby: str | None = Query(None, description="properties to sort by, e.g. "
                                                       "name,-capacity"),
          f: str | None = Query(None, description="json or geojson (the only format)"),
          ) -> Response:
    coll = _get(collection_id)
    _check_params(request, coll, ITEM_PARAMS)
    crs_out = parse_crs(_engine(request), crs, "crs")
    page = _page(request, coll, {"limit": limit, "offset": offset, "bbox": bbox,
                                 "bbox_crs": bbox_crs, "filter": filter,
                                 "filter_lang": filter_lang, "filter_crs": filter_crs,
                                 "sortby": sortby, "after": after}, crs_out)
    with _engine(request).connect() as c:
        matched, feats, last = read_page(c, coll, page, crs_out)
        stamp = c.execute(sa.text("SELECT to_char(now() AT TIME ZONE 'UTC', "
                                  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")).scalar_one()
    url = request.url
    links = [{"href": str(url), "rel": "self", "type": GEOJSON},
             {"href": f"{_base(request)}/collections/{coll.id}", "rel": "collection",
              "type": "application/json"}]
    if len(feats) == page.limit and last is not None:
        if page.order:  # sorted: by offset; else by the key (cost independent of the position)
            nxt = url.include_query_params(offset=page.offset + len(feats), limit=page.limit)
        else:
            nxt = url.remove_query_params("offset").include_query_params(after=str(last),
                                                                         limit=page.limit)
        if page.after is not None or page.offset + len(feats) < matched:
            links.append({"href": str(nxt), "rel": "next", "type": GEOJSON,
                          "title": "next page"})
    if page.offset > 0:
        links.append({"href": str(url.include_query_params(
            offset=max(0, page.offset - page.limit), limit=page.limit)),
            "rel": "prev", "type": GEOJSON, "title": "previous page"})
    rest = dumps({"numberMatched": matched, "numberReturned": len(feats), "timeStamp": stamp,
                  "links": links})
    body = '{"type": "FeatureCollection", "features": [' + ",".join(feats) + "], " + rest[1:]
    return Response(body, media_type=GEOJSON, headers={"Content-Crs": f"<{crs_out.uri}>"})


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature (GeoJSON)",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}, **error_responses(400, 404)})
def item(request: Request, collection_id: str, feature_id: str,
         crs: str | None = Query(None, description="the CRS of the geometry (default CRS84)"),
         f: str | None = Query(None, description="json or geojson")) -> Response:
    coll = _get(collection_id)
    _check_params(request, coll, frozenset({"crs", "f"}))
    crs_out = parse_crs(_engine(request), crs, "crs")
    fid = read_key(coll, feature_id)
    with _engine(request).connect() as c:
        text = c.execute(sa.text(
            f"SELECT {_feature_sql(coll, crs_out)} FROM {coll.source} t "
            f"WHERE t.{coll.key} = :fid"), {"fid": fid}).scalar()
    if text is None:
        raise NotFound(f"{coll.id} has no feature {feature_id!r}")
    base = _base(request)
    links = dumps([
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": f"{base}/collections/{coll.id}", "rel": "collection", "type": "application/json"},
    ])
    return Response(text[:-1] + ', "links": ' + links + "}", media_type=GEOJSON,
                    headers={"Content-Crs": f"<{crs_out.uri}>"})


def read_key(coll: Collection, feature_id: str) -> Any:
    """A feature id from the path as the key's type (NotFound when it cannot be one)."""
    if coll.key_is_int:
        if not (feature_id.isascii() and feature_id.isdigit()) or int(feature_id) > 2**31 - 1:
            raise NotFound(f"{coll.id} has no feature {feature_id!r} (ids are integers)")
        return int(feature_id)
    return feature_id
