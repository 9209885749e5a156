"""The MCP server: the low-level SDK ``Server`` driven by the tool registry's explicit schemas.

Why the low-level server: the registry already owns schemas, validation and error mapping
(``execute``), tools/list must vary per request (route, filters, role) and be paginated, and an
unknown tool must be JSON-RPC -32602 — all things the high-level ``MCPServer`` does differently.

Transports differ only in a :class:`Binding`: who is calling (principal), which policies apply,
and whether the connection has a session ``setRoute`` can switch. Everything else is shared.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.lowlevel import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    EmptyResult,
    ListToolsResult,
    PaginatedRequestParams,
    SetLevelRequestParams,
    TextContent,
    ToolAnnotations,
    ToolListChangedNotification,
)
from mcp.types import Tool as WireTool
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from kaireon_mcp import __version__
from kaireon_mcp.config import Settings
from kaireon_mcp.errors import KaireonError
from kaireon_mcp.prompts import system_prompt
from kaireon_mcp.server import catalog
from kaireon_mcp.server.scope import RouteSession, ScopeChain
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.tools.registry import (
    Tool,
    ToolContext,
    ToolRegistry,
    execute,
    normalize_route,
    route_module,
)
from kaireon_mcp.tools.session import SESSION_SERVICE

__all__ = [
    "PAGE_SIZE",
    "SERVER_NAME",
    "Binding",
    "KaireonServer",
    "RequestScope",
    "RouteSwitch",
    "ServerDeps",
    "build_server",
    "error_result",
    "paginate",
    "success_result",
    "wire_tool",
]

log = logging.getLogger("kaireon_mcp.server")

SERVER_NAME = "kaireon-mcp"
#: tools per tools/list page; the general route (~146 tools) takes two pages
PAGE_SIZE = 100


@dataclass(frozen=True)
class RequestScope:
    """Who is calling and what they may see, resolved once per request."""

    principal: TenantContext
    chain: ScopeChain
    session: RouteSession | None = None


class Binding(Protocol):
    """Transport-specific resolution of a request's principal, policies and session."""

    def resolve(self, ctx: ServerRequestContext[Any, Any]) -> RequestScope:
        """Raises KaireonError when the request carries no usable principal."""
        ...


@dataclass
class ServerDeps:
    """What every handler needs besides the request."""

    db: Database
    settings: Settings
    registry: ToolRegistry
    services: dict[str, Any] = field(default_factory=dict)


class KaireonServer(Server[Any]):
    """Advertises ``tools.listChanged`` on handshake-era connections too (the SDK default is off)."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True),
            experimental_capabilities,
            extensions,
        )


def wire_tool(spec: Tool) -> WireTool:
    """The tools/list entry of one registry tool: explicit, lean schemas straight from the registry."""
    return WireTool(
        name=spec.name,
        title=spec.advertised_title(),
        description=spec.description,
        input_schema=spec.input_schema(),
        # outputSchema is not advertised: the context budget (tool-catalog 4) cannot carry it for
        # 146 tools; results still carry structuredContent validated by the tool's output model,
        # and `kaireon-mcp tools --json` publishes every output schema.
        output_schema=None,
        annotations=ToolAnnotations.model_validate(spec.annotations()),
    )


def paginate(items: list[Any], cursor: str | None, size: int) -> tuple[list[Any], str | None]:
    """Offset cursors; anything we did not issue is INVALID_PARAMS, not a silent first page."""
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise MCPError(code=INVALID_PARAMS, message="invalid cursor") from None
    if start < 0 or start > len(items):
        raise MCPError(code=INVALID_PARAMS, message="invalid cursor")
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def error_result(exc: KaireonError) -> CallToolResult:
    """A tool failure the model can read; never structuredContent on an error (clients validate it)."""
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(exc.to_dict()))], is_error=True)


#: orjson would render these itself; refusing them sends the value down the stdlib path, where
#: text and structuredContent come from the same ``default=str`` rendering
_JSON_NATIVE_ONLY = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def success_result(data: dict[str, Any]) -> CallToolResult:
    """``execute`` returns JSON-mode dumps, so ``data`` already is the structuredContent; orjson
    renders the text block. Anything orjson refuses takes the stdlib round trip (``default=str``)."""
    try:
        text = orjson.dumps(data, option=_JSON_NATIVE_ONLY).decode()
    except TypeError:
        text = json.dumps(data, ensure_ascii=False, default=str)
        data = json.loads(text)
    return CallToolResult.model_construct(
        content=[TextContent(type="text", text=text)], structured_content=data
    )


class RouteSwitch:
    """The ``ctx.services["session"]`` hook: switch the route, then tell the client the list changed."""

    def __init__(
        self,
        state: RouteSession,
        ctx: ServerRequestContext[Any, Any],
        visible_after: Callable[[], Awaitable[list[str]]],
        bus: InMemorySubscriptionBus,
    ) -> None:
        self.state = state
        self.ctx = ctx
        self.visible_after = visible_after
        self.bus = bus

    async def switch_route(self, route: str) -> dict[str, Any]:
        self.state.route = normalize_route(route)
        return {
            "route": self.state.route,
            "module": route_module(self.state.route),
            "toolCount": len(await self.visible_after()),
            "notified": await self._notify(),
        }

    async def _notify(self) -> bool:
        """Handshake era: a notification on this request's stream. 2026-07-28: the listen bus."""
        try:
            if self.ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                await self.bus.publish(ToolsListChanged())
            else:
                await self.ctx.session.send_notification(
                    ToolListChangedNotification(), related_request_id=self.ctx.request_id
                )
        except Exception:  # noqa: BLE001 - the route already switched; a lost notice is not a failure
            log.warning("could not send notifications/tools/list_changed", exc_info=True)
            return False
        return True


def build_server(
    binding: Binding,
    deps: ServerDeps,
    *,
    page_size: int = PAGE_SIZE,
    instructions_route: str | None = None,
) -> KaireonServer:
    """Wire tools, prompts and resources to one binding. Call once per transport instance."""
    registry = deps.registry
    bus = InMemorySubscriptionBus()
    wire_cache: dict[str, WireTool] = {}

    def wire(spec: Tool) -> WireTool:
        if spec.name not in wire_cache:
            wire_cache[spec.name] = wire_tool(spec)
        return wire_cache[spec.name]

    def resolve(ctx: ServerRequestContext[Any, Any]) -> RequestScope:
        try:
            return binding.resolve(ctx)
        except KaireonError as exc:
            raise MCPError(code=INVALID_PARAMS, message=exc.message) from None

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        scope = resolve(ctx)
        tools = scope.chain.visible(registry, scope.principal)
        page, next_cursor = paginate(tools, params.cursor if params else None, page_size)
        return ListToolsResult(tools=[wire(spec) for spec in page], next_cursor=next_cursor)

    async def call_tool(ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams) -> CallToolResult:
        spec = registry.get(params.name)
        if spec is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}")
        scope = resolve(ctx)
        services = dict(deps.services)
        if scope.session is not None:

            async def visible_after() -> list[str]:
                return [t.name for t in binding.resolve(ctx).chain.visible(registry, scope.principal)]

            services[SESSION_SERVICE] = RouteSwitch(scope.session, ctx, visible_after, bus)
        tool_ctx = ToolContext(deps.db, scope.principal, deps.settings, scope.chain.route, services)
        try:
            refusal = scope.chain.refusal(spec)
            if refusal is not None:
                raise refusal
            data = await execute(
                spec.name, params.arguments, tool_ctx, scope.chain.execute_policy(), registry
            )
        except KaireonError as exc:
            return error_result(exc)
        except Exception:  # noqa: BLE001 - the MCP edge: log it, return a generic INTERNAL error
            log.exception("tool %s failed outside execute()", spec.name)
            return error_result(KaireonError(f"tool {spec.name} failed unexpectedly"))
        return success_result(data)

    server = KaireonServer(
        SERVER_NAME,
        version=__version__,
        title="KaireonAI decisioning",
        instructions=system_prompt(instructions_route),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=ListenHandler(bus),
        get_tool_input_schema=lambda name: spec.input_schema() if (spec := registry.get(name)) else None,
        **catalog.handlers(deps, resolve),
    )

    async def set_logging_level(
        ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams
    ) -> EmptyResult:
        """``logging/setLevel`` on the handshake era (SEP-2577 drops it from 2026-07-28).

        The server sends no ``notifications/message`` (tool failures come back as ``isError``
        results, server-side problems go to the server's own log), so every level is honoured
        trivially; accepting the request keeps clients that set a level on connect working
        instead of failing with Method not found. Registered directly rather than through
        ``on_set_logging_level`` to avoid the SDK's deprecation warning at construction.
        """
        resolve(ctx)  # same authentication check as every other request
        return EmptyResult()

    server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_logging_level)
    if not tracing_configured():
        server.middleware = [m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
    return server


def tracing_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether an OpenTelemetry exporter could be listening (any ``OTEL_*`` setting).

    The SDK wraps every request in a span by default; with no exporter the span goes nowhere
    but still costs ~0.1 ms per request, a visible share of a 2 ms stdio call.
    """
    return any(key.startswith("OTEL_") for key in (os.environ if environ is None else environ))
