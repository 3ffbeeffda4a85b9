"""``/batch/summary``: the province summary `emgis batch` wrote (one line per county, with the
error of a county that failed) and the province's totals. Read-only; the batch itself runs
from the command line (it starts or joins a Dask cluster, not a request's work).
"""

from __future__ import annotations

import math
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from emgis.api.http.errors import error_responses
from emgis.shelters.batch.store import read_summary

router = APIRouter(prefix="/batch", tags=["batch"])


def _clean(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


@router.get("/summary", summary="The province summary of `emgis batch`, county by county",
            responses=error_responses(400))
def summary(request: Request,
            analysis: Literal["coverage", "gaps"] | None = Query(
                None, description="coverage or gaps (default both)")) -> JSONResponse:
    s = read_summary(request.app.state.engine, analysis)
    rows = [{k: _clean(v) for k, v in r.items()} for r in s.to_dict("records")]
    for r in rows:
        r["computed_at"] = None if r.get("computed_at") is None else str(r["computed_at"])
    ok = s[s["status"] == "ok"] if len(s) else s
    pop = float(ok["population"].sum()) if len(ok) else 0.0
    cov = float(ok["covered_population"].sum()) if len(ok) else 0.0
    return JSONResponse({
        "counties": rows,
        "ok": len(ok), "failed": int((s["status"] == "failed").sum()) if len(s) else 0,
        "population": pop, "covered_population": cov,
        "coverage_share": cov / pop if pop else None})
