"""Domain errors of the HTTP API and the one place that maps every error to an HTTP answer.

Endpoints raise these (or the domain's own: `layers.problems.InputError`,
`geo.store.RoadNetworkNotFound`, SQLAlchemy's errors); `install_handlers` turns each
into a JSON answer with a clear message, so no endpoint builds an error response itself.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from emgis.geo.store import RoadNetworkNotFound
from emgis.layers.problems import BadArgument, InputError, MissingData
from emgis.layers.problems import NotFound as NotStored

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
}


def _plain(status: int):
    """A handler answering ``status`` with the error's message as ``detail``."""
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(_body(str(exc)), status_code=status)

    return handler


def install_handlers(app: FastAPI) -> None:
    """Register every error-to-HTTP mapping of the app (the one place they live)."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(_body(exc.detail, **exc.extra), status_code=exc.status, headers=headers)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(_body(str(exc).splitlines()[0],
                                  problems=[p.as_dict() for p in exc.problems]),
                            status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer, made safe for inputs JSON cannot carry (NaN, Infinity)
        return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(ValueError)
    async def _value_error(request: Request, exc: ValueError) -> JSONResponse:
        # psycopg2 refuses text with NUL characters before anything reaches the database
        if "NUL (0x00)" in str(exc):
            return JSONResponse(_body("text in the request contains a NUL (0x00) character; "
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
            return JSONResponse(_body(f"the change breaks a rule of the data: {msg}"),
                                status_code=409)
        log.exception("database error", exc_info=exc)
        return JSONResponse(_body("internal database error; see the server log"), status_code=500)


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _unavailable(exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s",
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return JSONResponse(_body("the database is unavailable; try again shortly"), status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_S)})
