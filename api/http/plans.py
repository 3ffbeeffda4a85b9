"""Emergency plans (预案) over HTTP: the plans, the proposal for an incident, its checklist, the
plan-system report and map.

Reads are open; editing a plan needs planner; an incident's figures, starting a response and
ticking its checklist need commander. Every write is one transaction naming the token (the audit
trigger records who). The work is done in `emgis.risk.plan_store` and `emgis.risk.plan_report`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from emgis.api.http.auth import Principal, require
from emgis.api.http.errors import AUTH_ERRORS, error_responses
from emgis.api.http.inputs import RequestBody
from emgis.layers import vocab

router = APIRouter(tags=["plans"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_INT32 = 2**31 - 1
_AUTH = error_responses(400, *AUTH_ERRORS, 404)
_PLAN_ID = Path(min_length=1, max_length=100, description="the plan's id (预案编号)")


class TriggerIn(RequestBody):
    field: str = Field(description=f"one of {', '.join(vocab.TRIGGER_FIELD)}")
    op: Literal["≥", ">", ">="] = "≥"
    value: float = Field(ge=0, le=1e9)


class PlanPatch(RequestBody):
    """Fields to change; ``levels`` replaces the triggers of the levels it names."""

    name: str | None = Field(default=None, min_length=1, max_length=500)
    kind: str | None = Field(default=None, description=f"one of {', '.join(vocab.PLAN_KIND)}")
    owner_unit: str | None = Field(default=None, max_length=500)
    incident_types: list[str] | None = Field(
        default=None, max_length=20,
        description=f"keys of {', '.join(vocab.INCIDENT_TYPE)}; [] = every type")
    revised_on: dt.date | None = Field(default=None, strict=False)
    next_review_on: dt.date | None = Field(default=None, strict=False)
    entered_on: dt.date | None = Field(default=None, strict=False)
    levels: dict[Literal["I", "II", "III", "IV"], list[TriggerIn]] | None = None


class FiguresIn(RequestBody):
    """The incident's figures (null: unknown — a trigger on it cannot fire)."""

    deaths: int | None = Field(default=None, ge=0, le=10_000_000)
    injured: int | None = Field(default=None, ge=0, le=10_000_000)
    missing: int | None = Field(default=None, ge=0, le=10_000_000)
    affected: int | None = Field(default=None, ge=0, le=100_000_000)
    relocated: int | None = Field(default=None, ge=0, le=100_000_000)
    duration_h: float | None = Field(default=None, ge=0, le=100_000)
    hazard_level: float | None = Field(default=None, ge=0, le=100)


class ResponseIn(RequestBody):
    plan: str = Field(min_length=1, max_length=100, description="the plan's id (预案编号)")
    level: Literal["I", "II", "III", "IV"] | None = Field(
        default=None, description="default: the level the plan's triggers give")


class TickIn(RequestBody):
    state: Literal["done", "open"] = "done"


def _engine(request: Request):
    return request.app.state.engine


def _norms(request: Request):
    from emgis.api.http.analyses import _norms_in_force

    return _norms_in_force(request)


@router.get("/plans", summary="The emergency plans", responses=error_responses(400))
def plans(request: Request,
          kind: str | None = Query(None, pattern=f"^({'|'.join(vocab.PLAN_KIND)})$")) -> list:
    from emgis.risk.plan_store import list_plans

    return list_plans(_engine(request), kind)


@router.get("/plans/report", summary="The plan-system report: who has a plan, overdue, drills",
            response_model=None,
            responses={200: {"content": {"application/json": {}, XLSX: {}}},
                       **error_responses(400)})
def report(request: Request,
           format: Literal["json", "xlsx"] = Query("json", description="json, or xlsx")
           ) -> Response | dict:
    from emgis.risk.plan_report import plan_system, summary, write_xlsx

    frame = plan_system(_engine(request), norms=_norms(request))
    if format == "xlsx":
        buf = io.BytesIO()
        write_xlsx(frame, buf)
        name = f"plan_system_{dt.date.today():%Y%m%d}.xlsx"
        return Response(buf.getvalue(), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    rows = json.loads(frame.drop(columns=["geometry"]).to_json(orient="records",
                                                                 date_format="iso"))
    return {"summary": summary(frame), "units": rows}


@router.get("/plans/{plan_id}", summary="A plan: levels, triggers and tasks",
            responses=error_responses(404))
def plan(request: Request, plan_id: str = _PLAN_ID) -> dict:
    from emgis.risk.plan_store import get_plan

    return get_plan(_engine(request), plan_id)


@router.patch("/plans/{plan_id}", summary="Edit a plan (planner or above)", responses=_AUTH)
def edit_plan(body: PlanPatch, request: Request, plan_id: str = _PLAN_ID,
              who: Principal = Depends(require("planner"))) -> dict:
    from emgis.risk.plan_store import update_plan

    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"levels"})
    if body.levels is not None:
        changes["levels"] = {lv: [t.model_dump() for t in ts] for lv, ts in body.levels.items()}
    return update_plan(_engine(request), plan_id, changes, actor=who.name)


# --- incidents -----------------------------------------------------------------------------------

_INCIDENT = Path(ge=1, le=_INT32)


@router.get("/incidents/{incident_id}/plans",
            summary="The plans for an incident and the response level their triggers give",
            responses=error_responses(404))
def incident_plans(request: Request, incident_id: int = _INCIDENT) -> dict:
    from emgis.risk.plan_store import propose

    return propose(_engine(request), incident_id, _norms(request))


@router.patch("/incidents/{incident_id}/figures",
              summary="Set an incident's figures (deaths, affected, …) (commander or above)",
              responses=_AUTH)
def incident_figures(body: FiguresIn, request: Request, incident_id: int = _INCIDENT,
                     who: Principal = Depends(require("commander"))) -> dict:
    from emgis.risk.plan_store import set_figures

    given = body.model_dump(exclude_unset=True)
    clear = tuple(k for k, v in given.items() if v is None)
    out = set_figures(_engine(request), incident_id,
                      {k: v for k, v in given.items() if v is not None}, actor=who.name,
                      clear=clear)
    request.app.state.changes.touch("incidents")
    return out


@router.post("/incidents/{incident_id}/response", status_code=201,
             summary="Start a response at a plan + level: its tasks become the checklist "
                     "(commander or above)", responses=_AUTH)
def start(body: ResponseIn, request: Request, incident_id: int = _INCIDENT,
          who: Principal = Depends(require("commander"))) -> dict:
    from emgis.risk.plan_store import start_response

    out = start_response(_engine(request), incident_id, body.plan, body.level, actor=who.name,
                         norms=_norms(request))
    request.app.state.changes.touch("incidents")
    return out


@router.get("/incidents/{incident_id}/checklist", summary="An incident's response checklist",
            responses=error_responses(404))
def incident_checklist(request: Request, incident_id: int = _INCIDENT) -> list:
    from emgis.risk.plan_store import checklist

    return checklist(_engine(request), incident_id)


@router.patch("/incidents/{incident_id}/checklist/{item_id}",
              summary="Mark a checklist item done (or open again) (commander or above)",
              responses=_AUTH)
def tick_item(body: TickIn, request: Request, incident_id: int = _INCIDENT,
              item_id: int = Path(ge=1, le=_INT32),
              who: Principal = Depends(require("commander"))) -> dict:
    from emgis.risk.plan_store import tick

    return tick(_engine(request), incident_id, item_id, body.state, actor=who.name)


# --- the map page --------------------------------------------------------------------------------

@router.get("/maps/plans", response_class=HTMLResponse, tags=["maps"],
            summary="The plan-system map: units coloured by plan status",
            responses=error_responses(400))
def plans_page(request: Request) -> HTMLResponse:
    from emgis.api.http.pages import _bounds, _map_settings
    from emgis.maps.plans_map import plans_map
    from emgis.risk.plan_report import plan_system

    engine = _engine(request)
    m = plans_map(plan_system(engine, norms=_norms(request)), bounds=_bounds(engine),
                  base_map=_map_settings(request))
    return HTMLResponse(m.get_root().render())

