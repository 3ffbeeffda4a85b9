"""Field reports over HTTP, and the phone page that sends them (``/field``).

- ``POST /field-reports`` (reporter or above): a hazard (隐患上报) or a disaster quick report
  (灾情快报) at a GeoJSON Point; a photo as a ``data:image/...;base64,`` URL (optional);
- ``PATCH /field-reports/{id}``: a follow-up (续报: the reporter who made it, or a planner and
  above) or ``state`` verified / rejected (a planner and above);
- ``POST /field-reports/{id}/hazard`` (planner and above): a hazard report becomes a hazard;
- ``GET /field-reports``, ``/field-reports/{id}`` (with its history), ``/{id}/photo``,
  ``/field-reports/summary?by=township``; the reports are also the OGC collection
  ``field_reports`` (the live map's layer; the photo is not among its properties).

The logic is `emgis.risk.field_reports`; this module parses, checks roles and renders.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field

from emgis.api.http.auth import Principal, require
from emgis.api.http.errors import AUTH_ERRORS, Forbidden, error_responses
from emgis.api.http.inputs import RequestBody, posted_geometry
from emgis.layers.problems import Problems
from emgis.risk import field_reports as fr

router = APIRouter(tags=["field reports"])

_INT32 = 2**31 - 1
_COUNT = Field(default=None, ge=0, le=fr.MAX_COUNT)
_DATA_URL = re.compile(r"data:(?P<type>[\w/+.-]*)(;[\w=.-]+)*;base64,(?P<data>.*)", re.S)
_ID = Path(ge=1, le=_INT32, description="the report's id")


class ReportIn(RequestBody):
    """A report from the field. ``location``: a GeoJSON Point (lon/lat, WGS84); counts left out
    are "not reported" (never 0)."""

    kind: Literal["hazard", "quick_report"] = Field(
        default="quick_report", description="hazard (隐患上报) or quick_report (灾情快报)")
    location: dict[str, Any] = Field(description="GeoJSON Point, [lon, lat]")
    occurred_at: str | None = Field(default=None, max_length=40,
                                    description="when it happened, ISO 8601 (default: now)")
    place: str | None = Field(default=None, max_length=500, description="地点 the place, in words")
    incident_type: str | None = Field(default=None, max_length=100,
                                      description="灾种 e.g. 山洪, 滑坡, 内涝, 火灾")
    text: str | None = Field(default=None, max_length=2000, description="what was seen")
    deaths: int | None = _COUNT
    missing: int | None = _COUNT
    injured: int | None = _COUNT
    relocated: int | None = _COUNT
    houses_damaged: int | None = _COUNT
    photo: str | None = Field(default=None, max_length=8_000_000,
                              description="a photo as data:image/jpeg;base64,... (JPEG, PNG, "
                                          "WebP; at most the norm field.photo_kb_max)")


class ReportPatch(RequestBody):
    """A follow-up (changed values; ``state`` follow_up or left out), or a verdict (``state``
    verified / rejected, planner and above)."""

    state: Literal["follow_up", "verified", "rejected"] | None = None
    note: str | None = Field(default=None, max_length=2000)
    place: str | None = Field(default=None, max_length=500)
    incident_type: str | None = Field(default=None, max_length=100)
    text: str | None = Field(default=None, max_length=2000)
    deaths: int | None = _COUNT
    missing: int | None = _COUNT
    injured: int | None = _COUNT
    relocated: int | None = _COUNT
    houses_damaged: int | None = _COUNT


def _json(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(json.loads(json.dumps(data, ensure_ascii=False, default=str)),
                        status_code=status_code)


def _photo(p: Problems, value: str | None) -> fr.Photo | None:
    if value is None:
        return None
    m = _DATA_URL.fullmatch(value)
    if m is None:
        p.error(None, "photo", value[:40], "is not a data URL of an image",
                "send data:image/jpeg;base64,<the bytes in base64>")
        return None
    try:
        data = base64.b64decode(m["data"], validate=True)
    except (binascii.Error, ValueError):
        p.error(None, "photo", value[:40], "is not valid base64", "encode the photo in base64")
        return None
    return fr.Photo(m["type"], data)


def _when(p: Problems, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        p.error(None, "occurred_at", value, "is not a date and time",
                "give ISO 8601, e.g. 2026-07-01T14:30+08:00")
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _photo_kb(request: Request) -> float:
    from emgis.api.http.analyses import _norms_in_force

    return float(_norms_in_force(request).number(fr.PHOTO_NORM))


@router.post("/field-reports", status_code=201, summary="Report from the field (reporter or above)",
             responses={**error_responses(400, *AUTH_ERRORS)})
def post_report(body: ReportIn, request: Request,
                who: Principal = Depends(require("reporter"))) -> JSONResponse:
    p = Problems("field report")
    geom = posted_geometry(request, p, "location", body.location, ("Point",))
    photo = _photo(p, body.photo)
    occurred = _when(p, body.occurred_at)
    p.raise_if_errors()
    lon, lat = json.loads(geom)["coordinates"]
    values = body.model_dump(include={*fr.TEXTS, *fr.COUNTS}, exclude_none=True)
    row = fr.create_report(request.app.state.engine,
                           fr.NewReport(body.kind, lon, lat, occurred, values, photo),
                           actor=who.name, max_photo_kb=_photo_kb(request))
    request.app.state.changes.touch("field_reports")
    return _json(row, 201)


@router.patch("/field-reports/{rid}",
              summary="Follow up a report (its reporter, or planner+), or verify / reject it "
                      "(planner+)",
              responses={**error_responses(400, 404, *AUTH_ERRORS)})
def patch_report(body: ReportPatch, request: Request, rid: int = _ID,
                 who: Principal = Depends(require("reporter"))) -> JSONResponse:
    engine = request.app.state.engine
    if body.state in ("verified", "rejected") and not who.at_least("planner"):
        raise Forbidden(f"the token {who.name!r} has role {who.role!r}; verifying or rejecting "
                        "a report needs planner or above")
    if not who.at_least("planner") and fr.report_owner(engine, rid) != who.name:
        raise Forbidden(f"report {rid} was made by another reporter; a reporter follows up only "
                        "their own reports (a planner may follow up any)")
    values = body.model_dump(include={*fr.TEXTS, *fr.COUNTS}, exclude_unset=True)
    row = fr.update_report(engine, rid, to_state=body.state, values=values, actor=who.name,
                           note=body.note)
    request.app.state.changes.touch("field_reports")
    return _json(row)


class PromoteIn(RequestBody):
    title: str | None = Field(default=None, min_length=1, max_length=500,
                              description="the hazard's title (default: the report's text)")


@router.post("/field-reports/{rid}/hazard", status_code=201,
             summary="Make a hazard report a hazard (planner or above)",
             responses={**error_responses(400, 404, *AUTH_ERRORS)})
def promote(request: Request, body: PromoteIn | None = None, rid: int = _ID,
            who: Principal = Depends(require("planner"))) -> JSONResponse:
    ans = fr.promote_to_hazard(request.app.state.engine, rid, actor=who.name,
                               title=body.title if body else None)
    request.app.state.changes.touch("field_reports")
    request.app.state.changes.touch("hazards")
    return _json(ans, 201)


@router.get("/field-reports", summary="Field reports, newest first",
            responses=error_responses(400))
def get_reports(request: Request,
                state: Literal["initial", "follow_up", "verified", "rejected"] | None = None,
                kind: Literal["hazard", "quick_report"] | None = None,
                township: str | None = Query(None, pattern=r"^\d{1,12}$"),
                reporter: str | None = Query(None, max_length=100)) -> JSONResponse:
    return _json(fr.list_reports(request.app.state.engine, state=state, kind=kind,
                                 township=township, reporter=reporter))


@router.get("/field-reports/summary", summary="Reports and reported counts by township",
            responses=error_responses(400))
def get_summary(request: Request,
                by: Literal["township"] = Query("township",
                                                description="township (the only grouping)")
                ) -> JSONResponse:
    return _json({"by": by, "townships": fr.summary_by_township(request.app.state.engine),
                  "note": "a count is the sum of the reports that gave it; *_unknown counts the "
                          "quick reports that did not (not reported is not 0); rejected reports "
                          "are counted, not summed; township_code null: in no township"})


@router.get("/field-reports/{rid}", summary="One report and its history",
            responses=error_responses(404))
def get_report(request: Request, rid: int = _ID) -> JSONResponse:
    return _json(fr.get_report(request.app.state.engine, rid))


@router.get("/field-reports/{rid}/photo", summary="A report's photo", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
                       **error_responses(404)})
def get_photo(request: Request, rid: int = _ID) -> Response:
    media, data = fr.get_photo(request.app.state.engine, rid)
    return Response(data, media_type=media, headers={"X-Content-Type-Options": "nosniff"})


@router.get("/field", response_class=HTMLResponse, tags=["maps"],
            summary="The phone page of information officers (灾害信息员): report from the field")
def field_page(request: Request) -> HTMLResponse:
    from emgis.api.http.pages import _bounds
    from emgis.maps.assets import OWN_DIR, STATIC_PREFIX

    cfg = {"api": "", "static": STATIC_PREFIX, "bounds": _bounds(request.app.state.engine),
           "photo_kb_max": _photo_kb(request)}
    page = (OWN_DIR / "field.html").read_text(encoding="utf-8")
    page = page.replace("{{static}}", STATIC_PREFIX).replace(
        "{{config}}", json.dumps(cfg, ensure_ascii=False).replace("<", "\\u003c"))
    return HTMLResponse(page)
