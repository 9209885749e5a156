"""One table of operations drives both the routing and the OpenAPI document.

An ``Operation`` names its method, path, minimum role, rate limit, request model and
documented responses; ``endpoint`` wraps its handler with the shared request steps
(authenticate, check the role, rate-limit, parse and validate the body).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kaireon_mcp.bridge.auth import caller_id, principal_for, require_role
from kaireon_mcp.bridge.errors import error_response
from kaireon_mcp.bridge.ratelimit import Limit, RateLimiter, RedisUnavailable
from kaireon_mcp.config import Settings
from kaireon_mcp.core.ai.services import AiServices
from kaireon_mcp.errors import KaireonError, RateLimitedError, ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.tools.registry import ToolContext

__all__ = ["LIMITS", "BridgeState", "Call", "Operation", "endpoint", "json_body", "validation_error"]

LIMITS: dict[str, Limit] = {
    "chat": Limit("chat", 30, 60.0),
    "mcp": Limit("mcp", 60, 60.0, fail_closed=True),
    "analysis": Limit("analysis", 60, 60.0),
    "default": Limit("default", 600, 60.0),
}


@dataclass
class BridgeState:
    """Per-app collaborators, shared by every request."""

    db: Database
    settings: Settings
    services: AiServices
    limiter: RateLimiter
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    def tool_context(self, principal: TenantContext, route: str = "/") -> ToolContext:
        return ToolContext(
            db=self.db,
            principal=principal,
            settings=self.settings,
            route=route,
            services={"ai": self.services},
        )

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run work that must finish even if the request is cancelled (kept referenced until done)."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task


@dataclass
class Call:
    """What a handler receives."""

    request: Request
    state: BridgeState
    principal: TenantContext
    body: Any = None
    query: Any = None

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    min_role: str = "viewer"
    limit: str = "default"
    body: type[BaseModel] | None = None
    #: "json" (validated by ``body``), "raw" (any JSON object), "none", or "upload" (multipart or JSON)
    body_kind: str = "json"
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    success: int = 200
    tags: tuple[str, ...] = ("ai",)
    per_user_limit: bool = False
    stream: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")


def validation_error(exc: PydanticValidationError, prefix: str = "") -> ValidationError:
    """The first pydantic error as a 400 naming its field path."""
    first = exc.errors()[0]
    path = ".".join(str(p) for p in first.get("loc", ()))
    path = f"{prefix}.{path}" if prefix and path else prefix or path
    message = "is required" if first.get("type") == "missing" else first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        message = "unknown field"
    return ValidationError(f"{path}: {message}" if path else message, field=path or None)


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise ValidationError("a JSON body is required")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError("Invalid JSON body") from None


async def _body(op: Operation, request: Request) -> Any:
    if op.body_kind in ("none", "upload"):
        return None
    data = await json_body(request)
    if op.body_kind == "raw" or op.body is None:
        return data
    if not isinstance(data, dict):
        raise ValidationError("the JSON body must be an object")
    try:
        return op.body.model_validate(data)
    except PydanticValidationError as exc:
        raise validation_error(exc) from None


async def _rate_limit(
    op: Operation, state: BridgeState, request: Request, principal: TenantContext
) -> dict[str, str]:
    limit = LIMITS[op.limit]
    who = caller_id(request, principal, per_user=op.per_user_limit)
    key = f"ratelimit:{limit.name}:{principal.tenant_id}:{who}"
    try:
        decision = await state.limiter.hit(key, limit)
    except RedisUnavailable:
        raise RateLimitedError("rate limiter unavailable; refusing (fail-closed)") from None
    headers = decision.headers()
    if not decision.allowed:
        raise _Limited(headers, limit)
    return headers


class _Limited(RateLimitedError):
    def __init__(self, headers: dict[str, str], limit: Limit) -> None:
        super().__init__(f"rate limit of {limit.limit} requests per {limit.window:g} s exceeded; retry later")
        self.headers = headers


class FastJSONResponse(JSONResponse):
    """JSON rendered with orjson: a recommend answer is the bridge's hottest body."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str, option=orjson.OPT_NON_STR_KEYS)


def _respond(op: Operation, result: Any, headers: dict[str, str]) -> Response:
    if isinstance(result, Response):
        result.headers.update(headers)
        return result
    status, body = result if isinstance(result, tuple) else (op.success, result)
    return FastJSONResponse(body, status_code=status, headers=headers)


def endpoint(op: Operation, state: BridgeState) -> Route:
    """The Starlette route for one operation."""

    async def run(request: Request) -> Response:
        try:
            principal = await principal_for(request, state.db)
            require_role(principal, op.min_role)
            headers = await _rate_limit(op, state, request, principal)
            call = Call(request, state, principal, await _body(op, request))
            if op.query is not None:
                call.query = _query(op.query, request)
            return _respond(op, await op.handler(call), headers)
        except _Limited as exc:
            return error_response(exc, exc.headers)
        except KaireonError as exc:
            return error_response(exc)

    run.__name__ = op.operation_id
    return Route(op.path, run, methods=[op.method])


def _query(model: type[BaseModel], request: Request) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params))
    except PydanticValidationError as exc:
        raise validation_error(exc) from None
