"""The HTTP bridge as one Starlette app: /api/v1/ai/*, recommend/respond, MCP mounts, health, OpenAPI.

``create_app`` wires collaborators once (database, AI services, rate limiter, the MCP
app) and builds every route from the operation tables, so routing and the OpenAPI
document always agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kaireon_mcp import __version__
from kaireon_mcp.bridge.chat import CHAT_OPERATIONS
from kaireon_mcp.bridge.errors import CatchAll, error_response, kaireon_error_handler
from kaireon_mcp.bridge.openapi import openapi_document
from kaireon_mcp.bridge.operations import LIMITS, BridgeState, Operation, endpoint
from kaireon_mcp.bridge.ratelimit import RateLimiter, RedisUnavailable, limiter_for
from kaireon_mcp.bridge.routes_ai import AI_OPERATIONS
from kaireon_mcp.bridge.routes_core import CORE_OPERATIONS
from kaireon_mcp.bridge.routes_imports import IMPORT_OPERATIONS
from kaireon_mcp.config import Settings
from kaireon_mcp.core.ai.ml_worker import MLWorkerClient
from kaireon_mcp.core.ai.services import AiServices
from kaireon_mcp.errors import KaireonError, RateLimitedError
from kaireon_mcp.llm.client import make_client
from kaireon_mcp.runtime import journey_scheduler
from kaireon_mcp.server.http import MCP_PATHS, build_mcp_http
from kaireon_mcp.storage.db import Database
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.registry import ScopePolicy

__all__ = ["OPERATIONS", "RateLimitedMount", "create_app", "default_services"]

OPERATIONS: list[Operation] = [*CHAT_OPERATIONS, *AI_OPERATIONS, *IMPORT_OPERATIONS, *CORE_OPERATIONS]


def default_services(settings: Settings, env: Mapping[str, str] | None = None, **kw: Any) -> AiServices:
    """AI services from the environment: real SDK clients, the configured ML worker."""
    return AiServices(
        env=env if env is not None else os.environ,
        client_factory=make_client,
        ml_worker=kw.pop("ml_worker", None) or MLWorkerClient(settings.ml_worker_url),
        **kw,
    )


class RateLimitedMount:
    """MCP over HTTP: 60 requests per 60 s per caller, fail-closed when the shared limiter is down."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("x-api-key") or headers.get("authorization") or ""
        client = scope.get("client") or ("unknown", 0)
        who = "key:" + hashlib.sha256(key.encode()).hexdigest()[:16] if key else f"ip:{client[0]}"
        limit = LIMITS["mcp"]
        try:
            decision = await self.limiter.hit(f"ratelimit:mcp:-:{who}", limit)
        except RedisUnavailable:
            await error_response(RateLimitedError("rate limiter unavailable; refusing (fail-closed)"))(
                scope, receive, send
            )
            return
        if not decision.allowed:
            exc = RateLimitedError(
                f"MCP rate limit of {limit.limit} requests per {limit.window:g} s exceeded"
            )
            await error_response(exc, decision.headers())(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


def _openapi_route() -> Route:
    document = openapi_document(OPERATIONS)

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    return Route("/api/v1/openapi.json", openapi, methods=["GET"])


def create_app(
    db: Database,
    settings: Settings,
    *,
    scope: ScopePolicy | None = None,
    services: AiServices | None = None,
    limiter: RateLimiter | None = None,
    env: Mapping[str, str] | None = None,
    mount_mcp: bool = True,
    mcp_host: str = "127.0.0.1",
    background_jobs: bool = False,
    mcp_stateless: bool = False,
) -> Starlette:
    """Build the bridge.

    Args:
        scope: upper bound for the MCP mount (``serve --route/--read-only/--tools/--exclude-tools``).
        services: AI collaborators; default from ``env`` (``os.environ``) with real SDK clients.
        limiter: rate limiter; default Redis when ``KAIREON_REDIS_URL`` is set, else in-process.
        mount_mcp: serve MCP Streamable HTTP at ``/mcp`` and ``/api/v1/mcp``.
        background_jobs: run the journey scheduler while the app lives (``serve`` turns it on).
        mcp_stateless: MCP without handshake-era sessions, so any worker process can answer
            any request (``serve --workers N``).
    """
    load_all()
    state = BridgeState(
        db=db,
        settings=settings,
        services=services or default_services(settings, env),
        limiter=limiter or limiter_for(settings.redis_url),
    )
    routes: list[BaseRoute] = [endpoint(op, state) for op in OPERATIONS]
    routes += [Route("/healthz", healthz, methods=["GET"]), _openapi_route()]
    mcp_lifespan = None
    if mount_mcp:
        mcp_app, mcp_lifespan = build_mcp_http(db, settings, scope, host=mcp_host, stateless=mcp_stateless)
        guarded = RateLimitedMount(mcp_app, state.limiter)
        routes += [Route(path, endpoint=guarded) for path in MCP_PATHS]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if mcp_lifespan is not None:
                await stack.enter_async_context(mcp_lifespan(_app))
            jobs = asyncio.create_task(journey_scheduler(db)) if background_jobs else None
            try:
                yield
            finally:
                if jobs is not None:
                    jobs.cancel()
                await state.limiter.aclose()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={KaireonError: kaireon_error_handler},
        middleware=[Middleware(CatchAll)],
    )
    app.state.bridge = state
    return app
