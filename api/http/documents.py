"""``GET /reports/coverage | risk | readiness``: the documents a bureau attaches to its plan.

``format=docx`` (default), ``html`` or ``pdf`` (Chromium prints the HTML; 409 naming what to
install when the server has none, as for the situation report). The content is
`shelters.coverage_report`, `risk.risk_report` and `shelters.readiness_report` on the stored data
and the norms in force — the same as `emgis report`; a coverage report without a road network (or
without the facilities asked for) is a 409 naming the command that supplies it.
`document_response` is shared with ``/incidents/{id}/report``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from emgis.api.http.coverage import Layer
from emgis.api.http.errors import Conflict, error_responses
from emgis.geo.store import NETWORK_NAME_PATTERN

router = APIRouter(prefix="/reports", tags=["reports"])

Format = Literal["docx", "html", "pdf"]
FORMAT_HELP = "docx (Word, default), html, or pdf (printed by Chromium)"
AS_OF_HELP = "the report's date (default today)"
#: the 200 answer of a document route, in its three formats
DOCUMENT = {200: {"content": {"application/vnd.openxmlformats-officedocument."
                              "wordprocessingml.document": {},
                              "text/html": {}, "application/pdf": {}}}}


def document_response(doc, format: str, name: str) -> Response:
    """``doc`` (a `layers.document.Document`) rendered as ``format``, a download named
    ``name.<format>`` (HTML shown inline); no Chromium for a PDF is a 409 saying what to do."""
    from emgis.layers.settings import ToolSettings
    from emgis.maps.report_doc import MEDIA, PrinterMissing, render

    try:
        data = render(doc, format, ToolSettings().chromium)
    except PrinterMissing as exc:
        raise Conflict(f"{exc}; or ask for format=docx or html") from None
    disp = "inline" if format == "html" else "attachment"
    return Response(data, media_type=MEDIA[format],
                    headers={"Content-Disposition": f'{disp}; filename="{name}.{format}"'})


@router.get("/coverage", summary="The coverage report: who is within each facility's standard",
            response_class=Response, responses={**DOCUMENT, **error_responses(400, 409, said={
                409: "no road network, census or usable facility of the kind asked for is "
                     "stored (the answer names the command that supplies it), or no Chromium "
                     "for a PDF"})})
def coverage_report(request: Request,
                    layer: list[Layer] = Query(["shelters"], description=(
                        "kinds of facility, repeatable (layer=shelters&layer=fire)")),
                    format: Format = Query("docx", description=FORMAT_HELP),
                    network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN),
                    year: int | None = Query(None, ge=1949, le=2100,
                                             description="census year (default: the latest)"),
                    ) -> Response:
    from emgis.api.http.analyses import _norms_in_force
    from emgis.layers.db import latest_census_year
    from emgis.shelters.coverage import kind
    from emgis.shelters.coverage_report import coverage_report as build
    from emgis.shelters.store import load_coverage_inputs

    engine = request.app.state.engine
    name = network or request.app.state.settings.network
    norms = _norms_in_force(request)
    inputs = load_coverage_inputs(engine, network=name, home=request.app.state.home, year=year,
                                  norms=norms)
    with engine.connect() as c:
        census = year or latest_census_year(c)
    doc = build(inputs, norms, [kind(x).name for x in layer], census_year=census, network=name)
    return document_response(doc, format, f"coverage_report_{doc.generated_at:%Y%m%d_%H%M}")


@router.get("/risk", summary="The risk report: four-colour risk points, areas and hazards",
            response_class=Response, responses={**DOCUMENT, **error_responses(409, said={
                409: "no Chromium for a PDF"})})
def risk_report(request: Request, format: Format = Query("docx", description=FORMAT_HELP),
                as_of: dt.date | None = Query(None, description=AS_OF_HELP)) -> Response:
    from emgis.api.http.analyses import _norms_in_force
    from emgis.risk.risk_report import risk_report as build

    doc = build(request.app.state.engine, _norms_in_force(request), as_of=as_of)
    return document_response(doc, format, f"risk_report_{doc.generated_at:%Y%m%d_%H%M}")


@router.get("/readiness", summary="The readiness report: teams and equipment against the norms",
            response_class=Response, responses={**DOCUMENT, **error_responses(409, said={
                409: "no Chromium for a PDF"})})
def readiness_report(request: Request, format: Format = Query("docx", description=FORMAT_HELP),
                     as_of: dt.date | None = Query(None, description=AS_OF_HELP)) -> Response:
    from emgis.api.http.analyses import _norms_in_force
    from emgis.shelters.readiness import assess
    from emgis.shelters.readiness_report import readiness_report as build
    from emgis.shelters.readiness_store import read_inputs, read_townships

    engine = request.app.state.engine
    norms = _norms_in_force(request)
    doc = build(assess(read_inputs(engine), norms, as_of), norms, read_townships(engine))
    return document_response(doc, format, f"readiness_report_{doc.generated_at:%Y%m%d_%H%M}")
