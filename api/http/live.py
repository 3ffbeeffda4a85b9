"""Incidents and live resource state: the writes of the API.

Every write is one transaction that first sets ``emgis.actor`` to the token's name, so
the audit trigger records who made it. Counters (shelter occupancy, depot stock) are
changed by one ``UPDATE ... SET x = x + :d ... RETURNING`` whose ``WHERE`` holds the
bounds: the row lock serialises concurrent updates and each re-checks the bound against
the committed value, so no update is lost and none breaks capacity.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import AliasChoices, Field
from sqlalchemy.engine import Connection

from emgis.api.http.auth import Principal, require
from emgis.api.http.errors import AUTH_ERRORS, Conflict, NotFound, error_responses
from emgis.api.http.inputs import RequestBody, posted_geometry
from emgis.layers import vocab
from emgis.layers.problems import Problems

router = APIRouter(tags=["live"])

GEOJSON = "application/geo+json"
_INT32 = 2**31 - 1
#: every write: no or a weak token, a body too large or not JSON (400), problems (422)
_AUTH = error_responses(400, *AUTH_ERRORS)


@contextlib.contextmanager
def write(request: Request, who: Principal, table: str) -> Iterator[Connection]:
    """One transaction whose edits the audit log records under ``who.name``.

    Once it commits, ``table``'s version moves on in this process at once (the change
    feed's notification follows), so a client reads its own write on its next request.
    """
    with request.app.state.engine.begin() as c:
        c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": who.name})
        yield c
    request.app.state.changes.touch(table)


# --- validation ----------------------------------------------------------------------------------

def _term(p: Problems, field: str, value: str | None, terms: dict) -> str | None:
    if value is None:
        return None
    key = vocab.lookup(terms, value)
    if key is None:
        p.error(None, field, value, "is not an allowed value", f"use one of {', '.join(terms)}")
    return key


def _feature(row) -> dict:
    props = dict(row._mapping)
    geom = props.pop("geometry")
    fid = props.get("id")
    return {"type": "Feature", "id": fid, "geometry": json.loads(geom) if geom else None,
            "properties": json.loads(json.dumps(props, default=str))}


def _geojson(data: dict, status_code: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, default=str), media_type=GEOJSON,
                    status_code=status_code)


# --- incidents -----------------------------------------------------------------------------------

_INCIDENT_COLS = ("id, ext_id, title, incident_type, level, status, reported_at, updated_at, "
                  "ST_AsGeoJSON(geom) AS geometry")


_TITLE = AliasChoices("title", "name")
_TYPE = AliasChoices("incident_type", "type")


class IncidentIn(RequestBody):
    """A new incident. ``geometry``: a GeoJSON Point, Polygon or MultiPolygon in lon/lat.

    Field names are those of the incident layer (files, exports, /collections/incidents):
    ``title`` and ``incident_type``; ``name`` and ``type`` are accepted for them too."""

    title: str = Field(min_length=1, max_length=500, validation_alias=_TITLE,
                       description="title of the incident (also accepted as `name`)")
    incident_type: str = Field(min_length=1, max_length=100, validation_alias=_TYPE,
                               description="incident type, e.g. flood, fire, landslide (also "
                                           "accepted as `type`)")
    level: str | None = Field(default=None, max_length=50, description="response level, e.g. IV")
    status: str = Field(default="reported",
                        description=f"one of {', '.join(vocab.INCIDENT_STATUS)}")
    geometry: dict[str, Any] = Field(description="GeoJSON Point, Polygon or MultiPolygon (lon/lat)")
    ext_id: str | None = Field(default=None, max_length=100,
                               description="the incident's id in another system")


class IncidentPatch(RequestBody):
    title: str | None = Field(default=None, min_length=1, max_length=500,
                              validation_alias=_TITLE)
    incident_type: str | None = Field(default=None, min_length=1, max_length=100,
                                      validation_alias=_TYPE)
    level: str | None = Field(default=None, max_length=50)
    status: str | None = None
    geometry: dict[str, Any] | None = None


_INCIDENT_GEOMS = ("Point", "Polygon", "MultiPolygon")


@router.post("/incidents", status_code=201, summary="Report an incident (commander or above)",
             response_class=Response,
             responses={201: {"content": {GEOJSON: {}}}, **_AUTH, **error_responses(409)})
def create_incident(body: IncidentIn, request: Request,
                    who: Principal = Depends(require("commander"))) -> Response:
    p = Problems("incident")
    status = _term(p, "status", body.status, vocab.INCIDENT_STATUS)
    geom = posted_geometry(request, p, "geometry", body.geometry, _INCIDENT_GEOMS)
    p.raise_if_errors()
    with write(request, who, "incidents") as c:
        if body.ext_id is not None and c.execute(sa.text("SELECT 1 FROM incidents "
                                                         "WHERE ext_id = :e"),
                                                 {"e": body.ext_id}).first():
            raise Conflict(f"an incident with ext_id {body.ext_id!r} exists already; "
                           f"PATCH it instead")
        row = c.execute(sa.text(
            "INSERT INTO incidents (ext_id, title, incident_type, level, status, geom) VALUES "
            "(:ext, :title, :type, :level, :status, ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326)) "
            f"RETURNING {_INCIDENT_COLS}"),
            {"ext": body.ext_id, "title": body.title, "type": body.incident_type,
             "level": body.level,
             "status": status, "g": geom}).one()
    return _geojson(_feature(row), 201)


@router.patch("/incidents/{incident_id}", summary="Update an incident (commander or above)",
              response_class=Response,
              responses={200: {"content": {GEOJSON: {}}}, **_AUTH, **error_responses(404)})
def update_incident(body: IncidentPatch, request: Request, incident_id: int = Path(ge=1, le=_INT32),
                    who: Principal = Depends(require("commander"))) -> Response:
    p = Problems("incident")
    status = _term(p, "status", body.status, vocab.INCIDENT_STATUS)
    geom = (None if body.geometry is None
            else posted_geometry(request, p, "geometry", body.geometry, _INCIDENT_GEOMS))
    p.raise_if_errors()
    sets, params = ["updated_at = now()"], {"id": incident_id}
    for col, key, value in (("title", "title", body.title),
                            ("incident_type", "type", body.incident_type),
                            ("level", "level", body.level), ("status", "status", status)):
        if value is not None:
            sets.append(f"{col} = :{key}")
            params[key] = value
    if geom is not None:
        sets.append("geom = ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326)")
        params["g"] = geom
    with write(request, who, "incidents") as c:
        row = c.execute(sa.text(f"UPDATE incidents SET {', '.join(sets)} WHERE id = :id "
                                f"RETURNING {_INCIDENT_COLS}"),
                        params).first()
    if row is None:
        raise NotFound(f"there is no incident {incident_id}")
    return _geojson(_feature(row))


# --- shelters ------------------------------------------------------------------------------------

class ShelterPatch(RequestBody):
    """Change a shelter's occupancy (by a delta, or set it) and/or its status."""

    occupancy_delta: int | None = Field(default=None, ge=-1_000_000, le=1_000_000,
                                        description="people arrived (+) or left (-)")
    occupancy: int | None = Field(default=None, ge=0, le=10_000_000,
                                  description="set the head count")
    status: str | None = Field(default=None,
                               description=f"one of {', '.join(vocab.SHELTER_STATUS)}")


_SHELTER_COLS = ("id, ext_id, name, status, capacity, occupancy, updated_at, "
                 "ST_AsGeoJSON(geom) AS geometry")


@router.patch("/shelters/{shelter_id}",
              summary="Update a shelter's occupancy or status (planner or above)",
              response_class=Response,
              responses={200: {"content": {GEOJSON: {}}}, **_AUTH,
                         **error_responses(404, 409)})
def update_shelter(body: ShelterPatch, request: Request, shelter_id: int = Path(ge=1, le=_INT32),
                   who: Principal = Depends(require("planner"))) -> Response:
    p = Problems("shelter")
    if body.occupancy_delta is not None and body.occupancy is not None:
        p.error(None, "occupancy", body.occupancy, "cannot be given with occupancy_delta",
                "send either occupancy_delta (people arrived or left) "
                "or occupancy (the head count)")
    if body.occupancy_delta is None and body.occupancy is None and body.status is None:
        p.error(None, None, None, "nothing to change", "send occupancy_delta, occupancy or status")
    status = _term(p, "status", body.status, vocab.SHELTER_STATUS)
    p.raise_if_errors()
    if body.occupancy is not None:
        new = ":occ"
    elif body.occupancy_delta is not None:
        new = "occupancy + :d"
    else:
        new = "occupancy"
    with write(request, who, "shelters") as c:
        row = c.execute(sa.text(
            f"UPDATE shelters SET occupancy = {new}, status = coalesce(:status, status), "
            f"updated_at = now() "
            f"WHERE id = :id AND {new} >= 0 AND (capacity IS NULL OR {new} <= capacity) "
            f"RETURNING {_SHELTER_COLS}"),
            {"id": shelter_id, "d": body.occupancy_delta, "occ": body.occupancy,
             "status": status}).first()
        if row is None:
            now = c.execute(sa.text("SELECT occupancy, capacity FROM shelters WHERE id = :id"),
                            {"id": shelter_id}).first()
    if row is None:
        if now is None:
            raise NotFound(f"there is no shelter {shelter_id}")
        occ, cap = now
        want = body.occupancy if body.occupancy is not None else occ + (body.occupancy_delta or 0)
        limit = "below 0" if want < 0 else f"above its capacity of {cap}"
        raise Conflict(f"shelter {shelter_id} holds {occ}; occupancy {want} would be {limit}; "
                       f"nothing was changed",
                       occupancy=occ, capacity=cap)
    return _geojson(_feature(row))


# --- team bases ----------------------------------------------------------------------------------

class TeamPatch(RequestBody):
    status: str | None = Field(default=None, description=f"one of {', '.join(vocab.TEAM_STATUS)}")
    position: dict[str, Any] | None = Field(default=None, description="GeoJSON Point (lon/lat): "
                                                                      "where the team is")


@router.patch("/team_bases/{team_id}",
              summary="Update a team's status or position (planner or above)",
              response_class=Response,
              responses={200: {"content": {GEOJSON: {}}}, **_AUTH, **error_responses(404)})
def update_team(body: TeamPatch, request: Request, team_id: int = Path(ge=1, le=_INT32),
                who: Principal = Depends(require("planner"))) -> Response:
    p = Problems("team")
    status = _term(p, "status", body.status, vocab.TEAM_STATUS)
    geom = (None if body.position is None
            else posted_geometry(request, p, "position", body.position, ("Point",)))
    if body.status is None and body.position is None:
        p.error(None, None, None, "nothing to change", "send status and/or position")
    p.raise_if_errors()
    with write(request, who, "team_bases") as c:
        row = c.execute(sa.text(
            "UPDATE team_bases SET status = coalesce(:status, status), "
            "geom = coalesce(ST_SetSRID(ST_GeomFromGeoJSON(CAST(:g AS text)), 4326), geom), "
            "updated_at = now() "
            "WHERE id = :id RETURNING id, ext_id, name, team_type, status, personnel, updated_at, "
            "ST_AsGeoJSON(geom) AS geometry"), {"id": team_id, "status": status, "g": geom}).first()
    if row is None:
        raise NotFound(f"there is no team base {team_id}")
    return _geojson(_feature(row))


# --- depot stock ---------------------------------------------------------------------------------

class StockPatch(RequestBody):
    quantity_delta: float = Field(ge=-1e12, le=1e12, description="received (+) or issued (-)")
    unit: str | None = Field(default=None, max_length=40,
                             description="the unit the delta is counted in; must be the item's "
                                         "unit (GET /stock-items) if given")


def _raw_readings(request: Request) -> list[str]:
    """The last path segment's bytes read as GBK / GB18030 / Big5: a client that sent a name
    in a legacy encoding loses it in the UTF-8 path decoding, but its bytes are still here."""
    from urllib.parse import unquote_to_bytes

    raw = request.scope.get("raw_path") or b""
    last = unquote_to_bytes(raw.rsplit(b"/", 1)[-1])
    out = []
    for enc in ("gb18030", "big5"):
        with contextlib.suppress(UnicodeDecodeError):
            out.append(last.decode(enc))
    return out


@router.patch("/depot_stock/{depot}/{item}",
              summary="Receive or issue stock of a depot (planner or above)",
              responses={**_AUTH, **error_responses(
                  404, 409, said={422: "the item is not a known stock item: the closest are "
                                       "named"})})
def update_stock(body: StockPatch, request: Request, depot: str, item: str,
                 who: Principal = Depends(require("planner"))) -> dict:
    """``depot``: the depot's id or ext_id. ``item``: a known stock item (GET /stock-items), by
    its name or English name; an unknown name is a 422 naming the closest known items and
    writes nothing (new items: POST /stock-items). A depot may receive an item it did not hold.
    """
    from emgis.layers.load.stock_items import resolve_item

    with write(request, who, "depot_stock") as c:
        as_id = int(depot) if depot.isascii() and depot.isdigit() and len(depot) <= 9 else None
        dep = c.execute(sa.text("SELECT id FROM depots WHERE ext_id = :d OR id = :i "
                                "ORDER BY (ext_id = :d) DESC LIMIT 1"),
                        {"d": depot, "i": as_id}).scalar()
        if dep is None:
            raise NotFound(f"there is no depot {depot!r} (give its id or ext_id)")
        known = resolve_item(c, item, raw_readings=_raw_readings(request) if "\ufffd" in item
                             else None)
        if body.unit is not None and known.unit and body.unit.strip() != known.unit:
            p = Problems("stock")
            p.error(None, "unit", body.unit, f"is not the unit of {known.name} ({known.unit})",
                    f"send the quantity in {known.unit}, or leave unit out")
            p.raise_if_errors()
        item = known.name
        d = body.quantity_delta
        row = c.execute(sa.text(
            "UPDATE depot_stock SET quantity = quantity + :d "
            "WHERE depot_id = :dep AND item = :item "
            "AND quantity + :d >= 0 RETURNING depot_id, item, quantity, unit"),
            {"d": d, "dep": dep, "item": item}).first()
        if row is None:
            have = c.execute(sa.text("SELECT quantity FROM depot_stock "
                                     "WHERE depot_id = :dep AND item = :item"),
                             {"dep": dep, "item": item}).scalar()
            if have is not None:
                raise Conflict(f"depot {depot} holds {have:g} of {item!r}; "
                               f"issuing {-d:g} would leave less than 0; "
                               "nothing was changed", quantity=have)
            if d < 0:
                raise NotFound(f"depot {depot} holds no {item!r}; nothing can be issued")
            row = c.execute(sa.text(
                "INSERT INTO depot_stock (depot_id, item, quantity, unit) "
                "VALUES (:dep, :item, :d, :unit) "
                "ON CONFLICT (depot_id, item) "
                "DO UPDATE SET quantity = depot_stock.quantity + EXCLUDED.quantity "
                "RETURNING depot_id, item, quantity, unit"),
                {"d": d, "dep": dep, "item": item, "unit": known.unit}).one()
    return dict(row._mapping)


# --- the stock-item vocabulary ------------------------------------------------------------------

class StockItemIn(RequestBody):
    """A new stock item: added on purpose, never by a stock update with an unknown name."""

    name: str = Field(max_length=100, description="the name depots use, e.g. 帐篷")
    unit: str = Field(max_length=40, description="the unit it is counted in, e.g. 顶")
    kind: str | None = Field(default=None, max_length=40,
                             description=f"one of {', '.join(vocab.STOCK_KIND)} (default other)")
    name_en: str | None = Field(default=None, max_length=100, description="an English name")


def _item(i) -> dict:
    return {"name": i.name, "unit": i.unit, "kind": i.kind, "name_en": i.name_en,
            "added_by": i.added_by}


@router.get("/stock-items", summary="The stock items depots may hold (any role)",
            responses=_AUTH)
def stock_items(request: Request, who: Principal = Depends(require("viewer"))) -> list[dict]:
    from emgis.layers.load.stock_items import list_items

    return [_item(i) for i in list_items(request.app.state.engine)]


@router.post("/stock-items", status_code=201,
             summary="Add a stock item to the vocabulary (planner or above; audited)",
             responses={422: {"description": "blank name or unit, unknown kind, or the item "
                                             "exists already"}, **_AUTH})
def add_stock_item(body: StockItemIn, request: Request,
                   who: Principal = Depends(require("planner"))) -> dict:
    from emgis.layers.load.stock_items import add_item

    item = add_item(request.app.state.engine, body.name, unit=body.unit, kind=body.kind,
                    name_en=body.name_en, actor=who.name)
    return _item(item)
