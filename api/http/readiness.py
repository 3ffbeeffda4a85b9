"""Readiness against the norms, the readiness map, and team equipment lists over HTTP.

``GET /analyses/readiness`` (JSON, ``format=xlsx`` for the workbook), ``GET /maps/readiness``
(the four-colour page), ``GET /team_bases/{id}/equipment`` and
``PATCH /team_bases/{id}/equipment/{item}`` (planner or above; audited; the quantity changes by
one guarded ``UPDATE … SET quantity = quantity + :d … RETURNING``, 409 below 0, like depot stock).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field

from emgis.api.http.auth import Principal, require
from emgis.api.http.errors import AUTH_ERRORS, Conflict, NotFound, error_responses
from emgis.api.http.inputs import RequestBody
from emgis.api.http.live import write
from emgis.layers import vocab
from emgis.layers.problems import Problems

router = APIRouter(tags=["readiness"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_INT32 = 2**31 - 1


def _report(request: Request, as_of: dt.date | None):
    from emgis.api.http.analyses import _norms_in_force
    from emgis.shelters.readiness import assess
    from emgis.shelters.readiness_store import read_inputs

    return assess(read_inputs(request.app.state.engine), _norms_in_force(request), as_of)


@router.get("/analyses/readiness",
            summary="Teams, equipment and assessments per township and village against the norms",
            response_class=Response,
            responses={200: {"content": {"application/json": {}, XLSX: {}}},
                       **error_responses(400)})
def readiness(request: Request,
              format: Literal["json", "xlsx"] = Query("json", description="json, or xlsx for a "
                                                                          "workbook"),
              as_of: dt.date | None = Query(None, description="the report's date (default "
                                                              "today): the year of the "
                                                              "assessment target")) -> Response:
    from emgis.shelters.readiness_store import readiness_xlsx

    r = _report(request, as_of)
    if format == "xlsx":
        name = f"readiness_{r.as_of:%Y%m%d}.xlsx"
        return Response(readiness_xlsx(r), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return JSONResponse(r.as_json())


@router.get("/maps/readiness", response_class=HTMLResponse,
            summary="The readiness map: townships in the four colours of compliance",
            responses=error_responses(400))
def readiness_page(request: Request) -> HTMLResponse:
    from emgis.api.http.pages import _map_settings
    from emgis.maps.readiness_map import readiness_map
    from emgis.shelters.readiness_store import read_townships

    r = _report(request, None)
    m = readiness_map(r, read_townships(request.app.state.engine),
                      base_map=_map_settings(request))
    return HTMLResponse(m.get_root().render())


# --- team equipment ------------------------------------------------------------------------------

class EquipmentPatch(RequestBody):
    """Change a team's equipment line: the quantity by a delta and/or its state; a new line
    needs its kind (the equipment catalogue, GET /equipment-kinds)."""

    quantity_delta: int | None = Field(default=None, ge=-1_000_000, le=1_000_000,
                                       description="received (+) or lost/issued (-)")
    state: str | None = Field(default=None, description="ok, repair or retired (完好/维修/报废)")
    kind: str | None = Field(default=None, max_length=40,
                             description="the catalogue kind (冲锋舟, 救生衣 …); needed for a new "
                                         "item, must match a stored one")


def _team_id(c, team: str) -> int:
    as_id = int(team) if team.isascii() and team.isdigit() and len(team) <= 9 else None
    tid = c.execute(sa.text("SELECT id FROM team_bases WHERE ext_id = :t OR id = :i "
                            "ORDER BY (ext_id = :t) DESC LIMIT 1"),
                    {"t": team, "i": as_id}).scalar()
    if tid is None:
        raise NotFound(f"there is no team base {team!r} (give its id or ext_id)")
    return int(tid)


_EQ_COLS = "team_base_id, item, kind, quantity, state, updated_at"


@router.get("/team_bases/{team}/equipment", summary="A team's equipment list",
            responses=error_responses(400, 404))
def equipment(request: Request, team: str) -> dict:
    with request.app.state.engine.connect() as c:
        tid = _team_id(c, team)
        rows = c.execute(sa.text(f"SELECT {_EQ_COLS} FROM team_equipment "
                                 "WHERE team_base_id = :t ORDER BY item"), {"t": tid}).mappings()
        items = [dict(r, kind_zh=vocab.EQUIPMENT_KIND[r["kind"]].zh) for r in rows]
    return {"team_base_id": tid, "equipment": items}


@router.get("/equipment-kinds", summary="The equipment catalogue (kinds a team's list names)")
def equipment_kinds() -> list[dict]:
    return [{"key": t.key, "zh": t.zh, "aliases": list(t.aliases)}
            for t in vocab.EQUIPMENT_KIND.values()]


@router.patch("/team_bases/{team}/equipment/{item}",
              summary="Receive, lose or repair a team's equipment (planner or above; audited)",
              responses=error_responses(400, 404, 409, *AUTH_ERRORS))
def update_equipment(body: EquipmentPatch, request: Request, team: str,
                     item: str = Path(min_length=1, max_length=100),
                     who: Principal = Depends(require("planner"))) -> dict:
    """``team``: the team base's id or ext_id; ``item``: the line's name. The quantity never goes
    below 0 (409, nothing changed); a new line is created by a positive delta with its kind."""
    p = Problems("equipment")
    state = kind = None
    if body.state is not None:
        state = vocab.lookup(vocab.EQUIPMENT_STATE, body.state)
        if state is None:
            p.error(None, "state", body.state, "is not an equipment state",
                    f"use one of {vocab.describe(vocab.EQUIPMENT_STATE)}")
    if body.kind is not None:
        kind = vocab.lookup(vocab.EQUIPMENT_KIND, body.kind)
        if kind is None:
            p.error(None, "kind", body.kind, "is not in the equipment catalogue",
                    f"use one of {vocab.describe(vocab.EQUIPMENT_KIND)}")
    if body.quantity_delta is None and state is None and body.state is None:
        p.error(None, None, None, "nothing to change", "send quantity_delta and/or state")
    p.raise_if_errors()
    d = body.quantity_delta or 0
    item = item.strip()
    with write(request, who, "team_equipment") as c:
        tid = _team_id(c, team)
        have = c.execute(sa.text("SELECT kind FROM team_equipment "
                                 "WHERE team_base_id = :t AND item = :i"),
                         {"t": tid, "i": item}).scalar()
        if have is not None and kind is not None and kind != have:
            p.error(None, "kind", body.kind, f"is not the kind of {item!r} ({have})",
                    "leave kind out, or correct it")
            p.raise_if_errors()
        row = c.execute(sa.text(
            f"UPDATE team_equipment SET quantity = quantity + :d, "
            f"state = coalesce(:s, state), updated_at = now() "
            f"WHERE team_base_id = :t AND item = :i AND quantity + :d >= 0 "
            f"RETURNING {_EQ_COLS}"), {"d": d, "s": state, "t": tid, "i": item}).mappings().first()
        if row is None:
            if have is not None:
                q = c.execute(sa.text("SELECT quantity FROM team_equipment "
                                      "WHERE team_base_id = :t AND item = :i"),
                              {"t": tid, "i": item}).scalar()
                raise Conflict(f"team {team} holds {q} of {item!r}; taking {-d} would leave "
                               "less than 0; nothing was changed", quantity=q)
            if d <= 0:
                raise NotFound(f"team {team} has no equipment {item!r}; add it with a positive "
                               "quantity_delta and its kind")
            if kind is None:
                p.error(None, "kind", None, f"is needed for the new item {item!r}",
                        f"send kind, one of {vocab.describe(vocab.EQUIPMENT_KIND)}")
                p.raise_if_errors()
            row = c.execute(sa.text(
                "INSERT INTO team_equipment (team_base_id, item, kind, quantity, state) "
                "VALUES (:t, :i, :k, :d, coalesce(:s, 'ok')) "
                "ON CONFLICT (team_base_id, item) "
                "DO UPDATE SET quantity = team_equipment.quantity + EXCLUDED.quantity "
                f"RETURNING {_EQ_COLS}"),
                {"t": tid, "i": item, "k": kind, "d": d, "s": state}).mappings().one()
    return dict(row)
