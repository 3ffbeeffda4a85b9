"""``GET /incidents/{id}/report``: the situation report (情况报告) of an incident.

``format=docx`` (default, a Word document a bureau sends upward), ``html`` or ``pdf`` (Chromium
prints the HTML; 409 when the server has no Chromium). The content is
`emgis.shelters.sitrep.gather` with the API's kept road network and norms; the document is
`emgis.maps.sitrep_doc`'s, answered like the plan's documents (api/http/documents.py) — the same
as `emgis sitrep`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from emgis.api.http.errors import error_responses
from emgis.geo.store import NETWORK_NAME_PATTERN

router = APIRouter(tags=["incidents"])

Format = Literal["docx", "html", "pdf"]


@router.get("/incidents/{incident_id}/report", summary="The situation report of an incident",
            response_class=Response,
            responses={200: {"content": {"application/vnd.openxmlformats-officedocument."
                                         "wordprocessingml.document": {},
                                         "text/html": {}, "application/pdf": {}}},
                       **error_responses(404, 409)})
def report(request: Request, incident_id: int = Path(ge=1, le=2**31 - 1),
           format: Format = Query("docx", description="docx, html or pdf"),
           k: int = Query(2, ge=1, le=10, description="teams listed per type"),
           network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN)) -> Response:
    from emgis.api.http.analyses import _graph, _norms_in_force
    from emgis.api.http.documents import document_response
    from emgis.maps.sitrep_doc import document
    from emgis.shelters.sitrep import gather

    sit = gather(request.app.state.engine, incident_id, lambda: _graph(request, network)[0],
                 _norms_in_force(request), k=k)
    return document_response(document(sit), format,
                             f"sitrep_{incident_id}_{sit.generated_at:%Y%m%d_%H%M}")
