"""`BodyLimit`: the request-body size limit (``EMGIS_API_MAX_BODY_MB``), a pure ASGI middleware.

It runs before routing and authentication: a ``Content-Length`` over the limit is answered 413
without reading a byte; a body sent without one (chunked) is counted as it arrives and refused
with 413 as soon as it passes the limit, so no request makes the server hold more than the limit.
"""

from __future__ import annotations

import json

from fastapi import HTTPException

MB = 1024 * 1024


def too_large_detail(max_bytes: int) -> str:
    return (f"the request body is larger than {max_bytes / MB:g} MB (EMGIS_API_MAX_BODY_MB); "
            "send less: simplify the outline or split the request")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit (FastAPI passes
    HTTPExceptions from body reading through; the app's handler answers 413)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, too_large_detail(max_bytes))


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 (see the module's doc)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await _answer(send, 400, "the Content-Length header is not a number of bytes")
                return
            if declared > self.max_bytes:
                await _answer(send, 413, too_large_detail(self.max_bytes))
                return
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await _answer(send, 413, too_large_detail(self.max_bytes))


async def _answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
