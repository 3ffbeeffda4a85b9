"""Domain errors of the HTTP API and the one place that maps every error to an HTTP answer.

Endpoints raise these (or the domain's own: `layers.problems.InputError`,
`geo.store.RoadNetworkNotFound`, SQLAlchemy's errors); `install_handlers` turns each
into a JSON answer with a clear message, so no endpoint builds an error response itself.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException

from emgis.geo.store import RoadNetworkNotFound
from emgis.layers.problems import BadArgument, InputError, MissingData
from emgis.layers.problems import NotFound as NotStored
from emgis.shelters.relief_lp import AllocationCheckError

log = logging.getLogger("emgis.api")

#: Seconds a client is told to wait when the database is unreachable.
RETRY_AFTER_S = 5


class ApiError(Exception):
    """An error with its HTTP status; ``detail`` is what the client reads."""

    status = 500

    def __init__(self, detail: str, **extra) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(ApiError):
    """A parameter is malformed (400)."""

    status = 400


class NotFound(ApiError, LookupError):
    """The thing asked for does not exist (404)."""

    status = 404


class Conflict(ApiError):
    """The request is valid but the current state refuses it (409)."""

    status = 409


class Unauthorized(ApiError):
    """No token, or a token that is unknown or revoked (401)."""

    status = 401


class Forbidden(ApiError):
    """The token's role may not do this (403)."""

    status = 403


# --- the one shape of every error answer (declared in the OpenAPI document) ----------------------

class Problem(BaseModel):
    """One thing wrong with the request (`layers.problems.Problem`)."""

    file: str
    row: int | None
    row_label: str
    field: str | None
    value: str | None
    message: str
    fix: str
    severity: Literal["error", "warning"]


class Invalid(BaseModel):
    """One field FastAPI could not read (a parameter or body field of the wrong type or range)."""

    model_config = ConfigDict(extra="allow")
    type: str
    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    """Every error answer: ``detail`` says what is wrong and how to fix it (or lists the fields
    that could not be read); ``problems`` lists every problem of a refused input; a 409 may add
    the state that refused the change (e.g. ``occupancy``, ``capacity``, ``quantity``)."""

    model_config = ConfigDict(extra="allow")
    detail: str | list[Invalid]
    problems: list[Problem] = []


_WHEN = {
    400: "a parameter is malformed or out of range",
    401: "no token, or an unknown or revoked one",
    403: "the token's role may not do this",
    404: "what was asked for does not exist",
    409: "the current state refuses it (or what it needs is not stored yet)",
    413: "the request body is larger than EMGIS_API_MAX_BODY_MB",
    422: "the request has problems: each names its field and how to fix it",
    503: "the database is unavailable; retry after Retry-After seconds",
}


def error_responses(*statuses: int,
                    said: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of ``statuses`` (plus 422 and 503, which any route may answer),
    each with the `ErrorBody` shape; ``said`` gives a route's own description of a status."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 422, 503}):
        out[status] = {"model": ErrorBody, "description": (said or {}).get(status, _WHEN[status])}
        if status == 401:
            out[status]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                           "description": "Bearer"}}
        if status == 503:
            out[status]["headers"] = {"Retry-After": {"schema": {"type": "string"},
                                                      "description": "seconds"}}
    return out


#: An authenticated write's errors.
AUTH_ERRORS = (401, 403, 413)


class ErrorResponse(JSONResponse):
    """A JSON error answer that can always be encoded: text the client sent is echoed with lone
    surrogates escaped, and non-finite numbers as text."""

    def render(self, content: Any) -> bytes:
        return json.dumps(_safe(content), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


def _body(detail: str, **extra) -> dict:
    return {"detail": detail, **extra}


def _is_disconnect(exc: sa_exc.DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(
        exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError)


#: The domain's errors whose message is the whole answer, with their status.
_PLAIN_ERRORS: dict[type[Exception], int] = {
    NotStored: 404,            # the incident, network or row asked for does not exist
    MissingData: 409,          # what the analysis needs is not stored yet
    RoadNetworkNotFound: 409,  # no road network of that name
    BadArgument: 400,          # a parameter is malformed or out of range
    AllocationCheckError: 500,  # a relief allocation failed its independent check: no answer
}


def _plain(status: int):
    """A handler answering ``status`` with the error's message as ``detail``."""
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return ErrorResponse(_body(str(exc)), status_code=status)

    return handler


def _json_errors(app: FastAPI) -> None:
    """Make the OpenAPI document say every error answer is JSON: FastAPI gives a route's
    additional responses the route's own media type (text/html for a map page)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = build()  # kept as app.openapi_schema; corrected in place
        for path in doc.get("paths", {}).values():
            for op in path.values():
                for status, answer in op.get("responses", {}).items():
                    content = answer.get("content")
                    if str(status)[0] in "45" and content and "application/json" not in content:
                        schema = next((c["schema"] for c in content.values() if "schema" in c),
                                      None)
                        answer["content"] = {"application/json":
                                             {"schema": schema} if schema else {}}
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def install_handlers(app: FastAPI) -> None:
    """Register every error-to-HTTP mapping of the app (the one place they live), and declare
    the error answers as JSON in the OpenAPI document."""
    _json_errors(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return ErrorResponse(_body(exc.detail, **exc.extra), status_code=exc.status,
                             headers=headers)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return ErrorResponse(_body(str(exc).splitlines()[0],
                                  problems=[p.as_dict() for p in exc.problems]),
                            status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer (ErrorResponse makes NaN, Infinity and lone surrogates safe)
        return ErrorResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> ErrorResponse:
        # Starlette's own (no route, wrong method, a body over the limit): the same shape
        return ErrorResponse(_body(str(exc.detail)), status_code=exc.status_code,
                             headers=getattr(exc, "headers", None))

    @app.exception_handler(UnicodeEncodeError)
    async def _not_text(request: Request, exc: UnicodeEncodeError) -> ErrorResponse:
        # a lone surrogate no request model caught (they refuse them, naming the field)
        return ErrorResponse(_body("text in the request holds a lone surrogate (\\ud800-\\udfff), "
                                   "which is not text; send the text as UTF-8"), status_code=400)

    @app.exception_handler(ValueError)
    async def _value_error(request: Request, exc: ValueError) -> JSONResponse:
        # psycopg2 refuses text with NUL characters before anything reaches the database
        if "NUL (0x00)" in str(exc):
            return ErrorResponse(_body("text in the request contains a NUL (0x00) character; "
                                      "remove it"),
                                status_code=400)
        raise exc

    for error, status in _PLAIN_ERRORS.items():
        app.add_exception_handler(error, _plain(status))

    @app.exception_handler(sa_exc.DisconnectionError)
    async def _disconnected(request: Request, exc: Exception) -> JSONResponse:
        return _unavailable(exc)

    @app.exception_handler(sa_exc.DBAPIError)
    async def _dbapi(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        if _is_disconnect(exc):
            return _unavailable(exc)
        if isinstance(exc, sa_exc.IntegrityError):
            msg = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            return ErrorResponse(_body(f"the change breaks a rule of the data: {msg}"),
                                status_code=409)
        log.exception("database error", exc_info=exc)
        return ErrorResponse(_body("internal database error; see the server log"), status_code=500)


def _safe(obj):
    """``obj`` with non-finite floats as text and lone surrogates escaped (JSON- and UTF-8-safe)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, str):
        return obj.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(obj, dict):
        return {_safe(k): _safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_safe(v) for v in obj]
    return obj


def _unavailable(exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s",
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return ErrorResponse(_body("the database is unavailable; try again shortly"), status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_S)})
