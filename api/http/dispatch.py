"""Dispatch records and the incident timeline over HTTP (`shelters.dispatch`).

``POST /incidents/{id}/assignments`` assigns a team, depot stock or shelter places (commander
or above) with its ETA and route — from the API's cached graph, to the edge of an incident area
with its roads closed, as the proposal routes (api/http/proposal.py); ``PATCH …/{aid}`` moves
it (dispatched → en_route → on_scene → returned); ``POST /incidents/{id}/events`` adds a note.
Reads are open: ``GET /incidents/{id}/assignments`` and ``GET /incidents/{id}/timeline``
(newest last). Every write is one transaction with ``emgis.actor`` = the token's name, its
timeline row included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from emgis.api.http.auth import Principal, require
from emgis.api.http.errors import AUTH_ERRORS, Conflict, error_responses
from emgis.api.http.inputs import RequestBody
from emgis.geo.store import RoadNetworkNotFound
from emgis.shelters import dispatch
from emgis.shelters.dispatch_route import Leg, is_area, leg

router = APIRouter(tags=["dispatch"])

_INT32 = 2**31 - 1
_WRITE = error_responses(400, 404, 409, *AUTH_ERRORS, said={
    409: "the state refuses it: the team is not available or already assigned, the depot "
         "holds less, the shelter is full or closed, or the move is not allowed from the "
         "assignment's state (the answer names the state and the allowed moves)"})
_TABLE = {"team": "team_bases", "depot_stock": "depots", "shelter": "shelters"}


class AssignmentIn(RequestBody):
    """A resource to assign: a team, a quantity of a depot's item, or places in a shelter."""

    kind: Literal["team", "depot_stock", "shelter"] = Field(
        description="team, depot_stock (give item and quantity) or shelter (give places)")
    resource: int | str = Field(description="the team's, depot's or shelter's id or ext_id")
    item: str | None = Field(default=None, max_length=100,
                             description="depot_stock: the stock item, e.g. 帐篷")
    quantity: float | None = Field(default=None, gt=0, le=dispatch.MAX_QUANTITY,
                                   description="depot_stock: how much, in the item's unit")
    places: int | None = Field(default=None, gt=0, le=dispatch.MAX_PLACES,
                               description="shelter: how many evacuees it takes")
    note: str | None = Field(default=None, max_length=2000)


class MoveIn(RequestBody):
    state: Literal["dispatched", "en_route", "on_scene", "returned", "cancelled"] = Field(
        description="the new state; the legal moves of each kind are in the answer of a "
                    "refused move and in each assignment's allowed_moves")
    note: str | None = Field(default=None, max_length=2000)


class EventIn(RequestBody):
    text: str = Field(min_length=1, max_length=4000, description="what happened")
    data: dict[str, Any] | None = Field(default=None, description="anything to keep with it")


@contextlib.contextmanager
def _tx(request: Request, who: Principal, *tables: str) -> Iterator[Any]:
    """One transaction whose edits the audit log records under ``who.name`` (as
    `api.http.live.write`); once it commits, ``tables``' versions move on in this process."""
    import sqlalchemy as sa

    with request.app.state.engine.begin() as c:
        c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": who.name})
        yield c
    for t in tables:
        request.app.state.changes.touch(t)


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    try:
        yield
    except dispatch.DispatchConflict as exc:
        raise Conflict(exc.detail, **exc.extra) from None


def _leg(request: Request, incident_id: int, geom, res: dispatch.Resource) -> Leg:
    """The resource's ETA and route, on the API's cached graph and closures."""
    from emgis.api.http.analyses import _closures, _graph, _norms_in_force

    try:
        graph, version = _graph(request, None)
    except RoadNetworkNotFound as exc:
        return Leg(None, None, None, f"no ETA: {exc}")
    closures = (_closures(request, graph, version, incident_id)[0] if is_area(geom)
                else None)
    return leg(graph, geom, (res.lon, res.lat), res.kind, norms=_norms_in_force(request),
               closures=closures)


@router.post("/incidents/{incident_id}/assignments", status_code=201,
             summary="Assign a team, depot stock or shelter places to an incident (commander "
                     "or above)", responses=_WRITE)
def create_assignment(body: AssignmentIn, request: Request,
                      incident_id: int = Path(ge=1, le=_INT32),
                      who: Principal = Depends(require("commander"))) -> dict:
    ask = dispatch.Ask(body.kind, str(body.resource), body.item, body.quantity, body.places,
                       body.note)
    dispatch.check_ask(ask)
    with request.app.state.engine.connect() as c:
        geom = dispatch.incident_geometry(c, incident_id)
        res = dispatch.find_resource(c, ask.kind, ask.resource)
    way = _leg(request, incident_id, geom, res)
    with _refused(), _tx(request, who, _TABLE[ask.kind]) as c:
        return dispatch.assign(c, incident_id, ask, actor=who.name, leg=way)


@router.patch("/incidents/{incident_id}/assignments/{assignment_id}",
              summary="Move an assignment to its next state (commander or above)",
              responses=_WRITE)
def move_assignment(body: MoveIn, request: Request, incident_id: int = Path(ge=1, le=_INT32),
                    assignment_id: int = Path(ge=1, le=_INT32),
                    who: Principal = Depends(require("commander"))) -> dict:
    with _refused(), _tx(request, who) as c:
        a = dispatch.move(c, incident_id, assignment_id, body.state, actor=who.name,
                          note=body.note)
    request.app.state.changes.touch(_TABLE[a["kind"]])
    return a


@router.get("/incidents/{incident_id}/assignments",
            summary="The resources assigned to an incident, with state, ETA and route",
            responses=error_responses(404))
def list_assignments(request: Request, incident_id: int = Path(ge=1, le=_INT32)) -> dict:
    with request.app.state.engine.connect() as c:
        items = dispatch.assignments(c, incident_id)
    return {"incident_id": incident_id, "assignments": items,
            "active": sum(1 for a in items if a["active"])}


@router.get("/assignments", summary="Every incident's assignments in the given states (the "
                                    "live map draws the teams en route)",
            responses=error_responses())
def assignments_in_states(request: Request,
                          state: str = Query("dispatched,en_route,on_scene", max_length=100,
                                             description="comma-separated states")) -> dict:
    states = [s.strip() for s in state.split(",") if s.strip()]
    with request.app.state.engine.connect() as c:
        return {"states": states, "assignments": dispatch.in_states(c, states)}


@router.get("/incidents/{incident_id}/timeline",
            summary="The incident's timeline: every assignment, move and note, newest last",
            responses=error_responses(404))
def incident_timeline(request: Request, incident_id: int = Path(ge=1, le=_INT32)) -> dict:
    with request.app.state.engine.connect() as c:
        return {"incident_id": incident_id, "events": dispatch.timeline(c, incident_id)}


@router.post("/incidents/{incident_id}/events", status_code=201,
             summary="Add a note to the incident's timeline (commander or above)",
             responses=error_responses(400, 404, *AUTH_ERRORS))
def add_event(body: EventIn, request: Request, incident_id: int = Path(ge=1, le=_INT32),
              who: Principal = Depends(require("commander"))) -> dict:
    with _tx(request, who) as c:
        return dispatch.add_note(c, incident_id, body.text, actor=who.name, data=body.data)
