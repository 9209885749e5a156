"""The bridge's one error edge: KaireonError -> status + envelope; anything else -> 500 INTERNAL.

Handlers are registered once on the app; ``CatchAll`` is the outermost layer so even a
fault inside a middleware answers with the envelope instead of a bare 500 page.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kaireon_mcp.errors import KaireonError

__all__ = ["CatchAll", "error_response", "kaireon_error_handler"]

log = logging.getLogger("kaireon_mcp.bridge")

INTERNAL_BODY = {"error": {"code": "INTERNAL", "message": "internal server error"}}


def error_response(exc: KaireonError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The envelope ``{"error": {"code", "message", "field"?}}`` with the error's HTTP status."""
    body: dict[str, Any] = exc.to_dict()
    status = exc.http_status
    if status >= 500 and exc.code == "INTERNAL":
        log.error("request failed: %s", exc.message)
    return JSONResponse(body, status_code=status, headers=headers)


async def kaireon_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KaireonError)
    return error_response(exc)


class CatchAll:
    """Outermost ASGI layer: an unexpected exception becomes 500 INTERNAL without details."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:  # the edge: log it, never leak it
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await JSONResponse(INTERNAL_BODY, status_code=500)(scope, receive, send)
