"""OGC API – Features Part 4: create, replace, update and delete features of the live layers.

``POST /collections/{incidents,incident_points,incident_areas}/items`` (a GeoJSON Feature),
``PUT`` / ``PATCH`` ``/collections/{incidents…,shelters,team_bases,depot_stock}/items/{fid}``
and ``DELETE`` of an incident, so QGIS (or any client) can edit. The roles are those of
api/http/live.py (incidents: commander; shelters' state, teams, stock: planner), every write
is one transaction through `live.write` (``SET LOCAL emgis.actor``: the audit log names the
token), and the counters keep live.py's guards: occupancy within 0..capacity, stock >= 0, in
the ``WHERE`` of the one ``UPDATE``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response

from emgis.api.http.auth import RANK, Principal, require
from emgis.api.http.errors import (
    AUTH_ERRORS,
    Conflict,
    ErrorBody,
    Forbidden,
    NotFound,
    error_responses,
)
from emgis.api.http.features import get_collection, read_key
from emgis.api.http.features_query import Collection, dumps
from emgis.api.http.inputs import posted_geometry
from emgis.api.http.live import _term, write
from emgis.layers import vocab
from emgis.layers.problems import Problems

router = APIRouter(tags=["features"])

GEOJSON = "application/geo+json"

#: table: (role, properties a client may set, their vocabularies, geometry types or None)
EDITABLE: dict[str, tuple[str, dict[str, dict | None], tuple[str, ...] | None]] = {
    "incidents": ("commander", {"title": None, "incident_type": None, "level": None,
                                "status": vocab.INCIDENT_STATUS, "ext_id": None},
                  ("Point", "Polygon", "MultiPolygon")),
    "shelters": ("planner", {"status": vocab.SHELTER_STATUS, "occupancy": None}, None),
    "team_bases": ("planner", {"status": vocab.TEAM_STATUS}, ("Point",)),
    "depot_stock": ("planner", {"quantity": None}, None),
}
_405 = {405: {"model": ErrorBody,
              "description": "the collection is read-only, or this method is not offered for it"}}
_RESPONSES = {200: {"content": {GEOJSON: {}}},
              **error_responses(400, 404, 409, *AUTH_ERRORS), **_405}


def _editable(cid: str) -> tuple[Collection, str, dict, tuple[str, ...] | None]:
    coll = get_collection(cid)
    if coll.table not in EDITABLE:
        raise MethodNotAllowed(f"{cid} is read-only here; the editable collections are the "
                               f"live layers: {', '.join(EDITABLE)}")
    role, props, geoms = EDITABLE[coll.table]
    if geoms and coll.geom_type != "Geometry":
        geoms = tuple(g for g in geoms if coll.geom_type.endswith(g) or g.endswith(
            coll.geom_type.removeprefix("Multi")))
    return coll, role, props, geoms


class MethodNotAllowed(Conflict):
    status = 405


def _check_role(who: Principal, role: str) -> None:
    if RANK[who.role] < RANK[role]:
        raise Forbidden(f"the token {who.name!r} has role {who.role!r}; "
                        f"this edit needs {role} or above")


def _values(request: Request, coll: Collection, body: Any, props: dict,
            geoms: tuple[str, ...] | None, partial: bool) -> tuple[dict, str | None]:
    """The feature's settable properties (checked) and its geometry (JSON text or None)."""
    p = Problems(coll.id)
    if not isinstance(body, dict) or body.get("type") != "Feature":
        p.error(None, None, str(body)[:80], "is not a GeoJSON Feature",
                'send {"type": "Feature", "geometry": {...}, "properties": {...}}')
        p.raise_if_errors()
    given = body.get("properties") or {}
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name not in props:
            if name in coll.props and not partial:
                continue  # a full feature read from this API carries read-only columns
            p.error(None, name, value, "cannot be set here",
                    f"set only {', '.join(props)}")
            continue
        terms = props[name]
        out[name] = _term(p, name, value, terms) if terms else value
    geom = None
    if geoms is not None and body.get("geometry") is not None:
        geom = posted_geometry(request, p, "geometry", body["geometry"], geoms)
    if not partial and coll.table == "incidents":
        for need in ("title", "incident_type"):
            if out.get(need) in (None, ""):
                p.error(None, need, None, "is required", f"give properties.{need}")
        if geom is None and body.get("geometry") is None:
            p.error(None, "geometry", None, "is required", "give the incident's geometry")
    if not out and geom is None:
        p.error(None, None, None, "nothing to change", f"send one of {', '.join(props)}")
    p.raise_if_errors()
    return out, geom


def _feature(request: Request, coll: Collection, fid: Any, status: int = 200) -> Response:
    from emgis.api.http.features_query import CRS84, Crs, feature_sql

    with request.app.state.engine.connect() as c:
        text = c.execute(sa.text(f"SELECT {feature_sql(coll, Crs(CRS84, 4326, False))} "
                                 f"FROM {coll.source} t WHERE t.{coll.key} = :k"),
                         {"k": fid}).scalar()
    if text is None:  # e.g. a point incident moved to an area: it left this collection
        text = dumps({"type": "Feature", "id": fid, "geometry": None, "properties": {}})
    from urllib.parse import quote

    loc = f"{str(request.base_url).rstrip('/')}/collections/{coll.id}/items/{quote(str(fid))}"
    return Response(text, media_type=GEOJSON, status_code=status, headers={"Location": loc})


def _update(c, coll: Collection, fid: Any, vals: dict, geom: str | None):
    """One guarded UPDATE of the table behind ``coll``; the row's key or None."""
    table = coll.table
    sets, params = [], {"fid": fid}
    for name, value in vals.items():
        sets.append(f"{name} = :v_{name}")
        params[f"v_{name}"] = value
    if geom is not None:
        sets.append("geom = ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326)")
        params["g"] = geom
    if table != "depot_stock":
        sets.append("updated_at = now()")
        where = "id = :fid"
    else:
        where = "depot_id || ':' || item = :fid"
    guard = ""
    if table == "shelters" and "occupancy" in vals:
        guard = " AND :v_occupancy >= 0 AND (capacity IS NULL OR :v_occupancy <= capacity)"
    if table == "depot_stock":
        guard = " AND :v_quantity >= 0"
    row = c.execute(sa.text(f"UPDATE {table} SET {', '.join(sets)} WHERE {where}{guard} "
                            f"RETURNING 1"), params).first()
    if row is None and c.execute(sa.text(f"SELECT 1 FROM {table} WHERE {where}"),
                                 {"fid": fid}).first():
        raise Conflict(f"{coll.id} {fid}: {vals} is out of bounds (occupancy within 0.."
                       f"capacity, quantity >= 0); nothing was changed")
    return row


def _edit(request: Request, who: Principal, cid: str, feature_id: str, body: Any,
          partial: bool) -> Response:
    coll, role, props, geoms = _editable(cid)
    _check_role(who, role)
    fid = read_key(coll, feature_id)
    vals, geom = _values(request, coll, body, props, geoms, partial)
    if coll.table in ("shelters", "depot_stock"):
        for k in ("occupancy", "quantity"):
            if k in vals and (isinstance(vals[k], bool) or not isinstance(vals[k], int | float)):
                p = Problems(coll.id)
                p.error(None, k, vals[k], "is not a number", f"give {k} as a JSON number")
                p.raise_if_errors()
    with write(request, who, coll.table) as c:
        if _update(c, coll, fid, vals, geom) is None:
            raise NotFound(f"{coll.id} has no feature {feature_id!r}")
    return _feature(request, coll, fid)


@router.post("/collections/{collection_id}/items", status_code=201,
             summary="Add a feature (Part 4; incidents: commander or above)",
             response_class=Response, responses={201: {"content": {GEOJSON: {}}}, **_RESPONSES})
def create_feature(request: Request, collection_id: str, body: Any = Body(...),
                   who: Principal = Depends(require("viewer"))) -> Response:
    coll, role, props, geoms = _editable(collection_id)
    _check_role(who, role)
    if coll.table != "incidents":
        raise MethodNotAllowed(f"features of {coll.id} are added by loading a file "
                               f"(emgis load); here only their state is edited (PUT/PATCH)")
    vals, geom = _values(request, coll, body, props, geoms, partial=False)
    vals.setdefault("status", "reported")
    with write(request, who, "incidents") as c:
        cols = [*vals, "geom"]
        fid = c.execute(sa.text(
            f"INSERT INTO incidents ({', '.join(cols)}) VALUES "
            f"({', '.join(':v_' + k for k in vals)}, ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326)) "
            f"RETURNING id"), {**{f"v_{k}": v for k, v in vals.items()}, "g": geom}).scalar_one()
    return _feature(request, coll, fid, 201)


@router.put("/collections/{collection_id}/items/{feature_id}",
            summary="Replace a feature's editable properties (Part 4)",
            response_class=Response, responses=_RESPONSES)
def replace_feature(request: Request, collection_id: str, feature_id: str,
                    body: Any = Body(...),
                    who: Principal = Depends(require("viewer"))) -> Response:
    return _edit(request, who, collection_id, feature_id, body, partial=False)


@router.patch("/collections/{collection_id}/items/{feature_id}",
              summary="Update some properties of a feature (Part 4)",
              response_class=Response, responses=_RESPONSES)
def update_feature(request: Request, collection_id: str, feature_id: str,
                   body: Any = Body(...),
                   who: Principal = Depends(require("viewer"))) -> Response:
    if isinstance(body, dict) and "type" not in body:
        body = {"type": "Feature", **body}
    return _edit(request, who, collection_id, feature_id, body, partial=True)


@router.delete("/collections/{collection_id}/items/{feature_id}", status_code=204,
               summary="Delete an incident (Part 4; commander or above)",
               responses={**error_responses(404, *AUTH_ERRORS), **_405})
def delete_feature(request: Request, collection_id: str, feature_id: str,
                   who: Principal = Depends(require("viewer"))) -> Response:
    coll, role, _, _ = _editable(collection_id)
    _check_role(who, role)
    if coll.table != "incidents":
        raise MethodNotAllowed(f"features of {coll.id} are not deleted here (emgis load "
                               f"--mode replace changes the layer)")
    fid = read_key(coll, feature_id)
    with write(request, who, "incidents") as c:
        if c.execute(sa.text("DELETE FROM incidents WHERE id = :i RETURNING 1"),
                     {"i": fid}).first() is None:
            raise NotFound(f"{coll.id} has no feature {feature_id!r}")
    return Response(status_code=204)
