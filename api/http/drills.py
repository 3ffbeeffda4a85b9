"""Drills (演练) over HTTP: the register, findings and their closed loop, the overdue list.

Reads are open; recording a drill or a finding and moving a finding need planner or above, in
one audited transaction (`emgis.risk.drills`). An illegal move is 409 with the moves allowed.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from emgis.api.http.auth import Principal, require
from emgis.api.http.errors import AUTH_ERRORS, Conflict, error_responses
from emgis.api.http.inputs import RequestBody
from emgis.layers import vocab

router = APIRouter(tags=["drills"])
_AUTH = error_responses(400, *AUTH_ERRORS, 404)
_DRILL = Path(min_length=1, max_length=100, description="the drill's id")


class DrillBody(RequestBody):
    ext_id: str = Field(min_length=1, max_length=100)
    plan: str | None = Field(default=None, max_length=100, description="the plan's id")
    held_on: dt.date = Field(strict=False)
    scenario: str = Field(min_length=1, max_length=2000)
    kind: str = Field(description=f"one of {vocab.describe(vocab.DRILL_KIND)}")
    participants: int | None = Field(default=None, ge=0, le=1_000_000)
    units: list[str] = Field(default_factory=list, max_length=100)


class FindingBody(RequestBody):
    finding: str = Field(min_length=1, max_length=2000)
    responsible: str | None = Field(default=None, max_length=200)
    deadline: dt.date | None = Field(default=None, strict=False)


class MoveBody(RequestBody):
    """``to_state`` (open / rectifying / closed, or a Chinese label); none = a note only."""

    to_state: str | None = Field(default=None, max_length=20)
    note: str | None = Field(default=None, max_length=2000)
    measures: str | None = Field(default=None, max_length=2000)
    responsible: str | None = Field(default=None, max_length=200)


@router.get("/drills", summary="The drill register", responses=error_responses(400))
def drills(request: Request, plan: str | None = Query(None, max_length=100)) -> list:
    from emgis.risk.drills import list_drills

    return list_drills(request.app.state.engine, plan)


@router.post("/drills", status_code=201, summary="Record a drill (planner or above)",
             responses=_AUTH)
def add(body: DrillBody, request: Request, who: Principal = Depends(require("planner"))) -> dict:
    from emgis.risk.drills import DrillIn, add_drill

    return add_drill(request.app.state.engine,
                     DrillIn(body.ext_id, body.plan, body.held_on, body.scenario, body.kind,
                             body.participants, tuple(body.units)), actor=who.name)


@router.get("/drill-findings/overdue", summary="Drill findings past their deadline, not closed")
def overdue(request: Request) -> list:
    from emgis.risk.drills import findings

    return findings(request.app.state.engine, only_overdue=True)


@router.get("/drills/{drill_id}", summary="A drill and its findings",
            responses=error_responses(404))
def drill(request: Request, drill_id: str = _DRILL) -> dict:
    from emgis.risk.drills import get_drill

    return get_drill(request.app.state.engine, drill_id)


@router.get("/drills/{drill_id}/findings", summary="A drill's findings",
            responses=error_responses(404))
def drill_findings(request: Request, drill_id: str = _DRILL) -> list:
    from emgis.risk.drills import get_drill

    return get_drill(request.app.state.engine, drill_id)["findings"]


@router.post("/drills/{drill_id}/findings", status_code=201,
             summary="Record a finding of a drill (planner or above)", responses=_AUTH)
def add_finding(body: FindingBody, request: Request, drill_id: str = _DRILL,
                who: Principal = Depends(require("planner"))) -> dict:
    from emgis.risk.drills import add_finding as add

    return add(request.app.state.engine, drill_id, finding=body.finding,
               responsible=body.responsible, deadline=body.deadline, actor=who.name)


@router.patch("/drill-findings/{finding_id}",
              summary="Move a finding open → rectifying → closed, or note it (planner or above)",
              responses={**_AUTH, **error_responses(409)})
def move(body: MoveBody, request: Request, finding_id: int = Path(ge=1, le=2**31 - 1),
         who: Principal = Depends(require("planner"))) -> dict:
    from emgis.risk.drills import IllegalMove, move_finding

    try:
        return move_finding(request.app.state.engine, finding_id, body.to_state, actor=who.name,
                            note=body.note, measures=body.measures, responsible=body.responsible)
    except IllegalMove as exc:
        raise Conflict(str(exc)) from None
