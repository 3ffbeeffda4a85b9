"""Relief over HTTP: an incident's needs and allocation, the county's 10-hour check, depot stock.

* ``GET /incidents/{id}/relief`` — the people relocated, their needs (norms with sources), the
  allocation of depot stock within each depot level's arrival limit and the shortfalls;
* ``GET /analyses/relief-check`` — the villages that cannot get basic relief within 10 hours
  from the stock in place for a Level-II-size event;
* ``GET /depot_stock`` (filter by depot and item), ``GET /depots/{id}/stock`` — stock readable
  (``PATCH /depot_stock/{depot}/{item}`` changes it: api/http/live.py).

The analyses are `emgis.shelters.relief_service` (also `emgis relief …`).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Query, Request

from emgis.api.http.errors import error_responses
from emgis.geo.store import NETWORK_NAME_PATTERN
from emgis.shelters.relief_service import depot_stock, incident_relief, relief_check

router = APIRouter(tags=["relief"])

NeedsSet = Literal["china", "inasafe"]
Destinations = Literal["villages", "shelters"]


def _graph_fn(request: Request, network: str | None):
    from emgis.api.http.analyses import _graph

    return lambda: _graph(request, network)[0]


@router.get("/incidents/{incident_id}/relief",
            summary="An incident's relief needs, the allocation of depot stock and shortfalls",
            responses=error_responses(404, 409))
def incident_relief_route(request: Request, incident_id: int = Path(ge=1, le=2**31 - 1),
                          needs: NeedsSet = Query("china", description="china (default) or "
                                                  "inasafe (the old set, an option)"),
                          to: Destinations = Query("villages", description="deliver to the "
                                                   "villages, or to the shelters their people "
                                                   "are sent to"),
                          network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN)
                          ) -> dict:
    from emgis.api.http.analyses import _norms_in_force

    return incident_relief(request.app.state.engine, incident_id, _graph_fn(request, network),
                           _norms_in_force(request), needs=needs, to=to)


@router.get("/analyses/relief-check",
            summary="Villages that cannot get basic relief within the hours from stock in place "
                    "(a Level-II-size event)",
            responses=error_responses(409))
def relief_check_route(request: Request,
                       hours: float | None = Query(None, gt=0, le=72, description="arrival "
                                                   "limit in hours (default relief.check_hours)"),
                       relocated: float | None = Query(None, ge=0, le=1e8,
                                                       description="people relocated (default "
                                                       "relief.level2.relocated)"),
                       network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN)) -> dict:
    from emgis.api.http.analyses import _norms_in_force

    return relief_check(request.app.state.engine, _graph_fn(request, network),
                        _norms_in_force(request), hours=hours, relocated=relocated)


@router.get("/depot_stock", summary="Depot stock, filtered by depot and item",
            responses=error_responses(404))
def depot_stock_list(request: Request,
                     depot: int | None = Query(None, ge=1, le=2**31 - 1, description="depot id"),
                     item: str | None = Query(None, max_length=100,
                                              description="a stock item name, e.g. 帐篷")
                     ) -> list[dict]:
    return depot_stock(request.app.state.engine, depot=depot, item=item)


@router.get("/depots/{depot_id}/stock", summary="One depot's stock",
            responses=error_responses(404))
def depot_stock_one(request: Request, depot_id: int = Path(ge=1, le=2**31 - 1)) -> dict:
    rows = depot_stock(request.app.state.engine, depot=depot_id)
    return {"depot_id": depot_id, "items": [
        {"item": r["item"], "quantity": r["quantity"], "unit": r["unit"]} for r in rows]}
