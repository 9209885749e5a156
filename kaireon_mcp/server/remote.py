"""Remote mode: a local stdio server whose every tool runs on a remote ``kaireon-mcp serve``.

The desktop client talks stdio to this process; this process is an MCP client of the remote
server over Streamable HTTP with ``KAIREON_API_KEY``. Tools, prompts and resources are listed
from the remote too, so the tenant, role, write gating and route scoping are the server's. Local
flags can only narrow: the route, ``--read-only`` and ``--exclude-tools`` travel as request
headers, and excluded tools are also filtered here. ``setRoute`` is answered locally: it changes
the route header of later calls and announces the new list to the desktop client.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import httpx2
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.server import ServerRequestContext
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import (
    CallToolRequestParams,
    CallToolResult,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
)
from pydantic import ValidationError as PydanticValidationError

from kaireon_mcp import __version__
from kaireon_mcp.errors import KaireonError, RouteScopeError, ValidationError
from kaireon_mcp.server.app import (
    SERVER_NAME,
    KaireonServer,
    RouteSwitch,
    error_result,
    success_result,
    wire_tool,
)
from kaireon_mcp.server.front import claim_front
from kaireon_mcp.server.scope import EXCLUDE_HEADER, READ_ONLY_HEADER, ROUTE_HEADER, RouteSession
from kaireon_mcp.server.transport import front_transport
from kaireon_mcp.tools.registry import REGISTRY, ScopePolicy
from kaireon_mcp.tools.session import SET_ROUTE, SetRouteIn

__all__ = ["RemoteHeaders", "build_remote_server", "run_remote_stdio"]

log = logging.getLogger("kaireon_mcp.server.remote")

#: cap on pages walked when setRoute reports the new tool list
_MAX_PAGES = 20


class RemoteHeaders(httpx2.Auth):
    """Stamps the key and the *current* route/filters on every request to the remote server."""

    def __init__(self, api_key: str, session: RouteSession, flags: ScopePolicy) -> None:
        self.api_key = api_key
        self.session = session
        self.flags = flags

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["X-API-Key"] = self.api_key
        if self.session.route:
            request.headers[ROUTE_HEADER] = self.session.route
        if self.flags.read_only:
            request.headers[READ_ONLY_HEADER] = "true"
        if self.flags.exclude:
            request.headers[EXCLUDE_HEADER] = ",".join(sorted(self.flags.exclude))
        yield request


def build_remote_server(remote: Client, session: RouteSession, flags: ScopePolicy) -> KaireonServer:
    """A server that forwards tools, prompts and resources to ``remote`` (an entered Client)."""
    import kaireon_mcp.tools.session  # noqa: F401 - registers setRoute, the one tool answered locally

    switch_spec = REGISTRY.get(SET_ROUTE)
    assert switch_spec is not None
    switch_tool = wire_tool(switch_spec)
    bus = InMemorySubscriptionBus()

    def keep(name: str) -> bool:
        return name not in flags.exclude and name != SET_ROUTE

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        cursor = params.cursor if params else None
        page = await remote.list_tools(cursor=cursor, cache_mode="refresh")
        tools = [t for t in page.tools if keep(t.name)]
        if cursor is None and SET_ROUTE not in flags.exclude:
            tools = sorted([*tools, switch_tool], key=lambda t: t.name)
        return ListToolsResult(tools=tools, next_cursor=page.next_cursor)

    async def remote_names() -> list[str]:
        names: list[str] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await remote.list_tools(cursor=cursor, cache_mode="refresh")
            names.extend(t.name for t in page.tools if keep(t.name))
            cursor = page.next_cursor
            if cursor is None:
                break
        return sorted([*names, SET_ROUTE])

    async def set_route(ctx: ServerRequestContext[Any, Any], arguments: dict[str, Any]) -> CallToolResult:
        try:
            args = SetRouteIn.model_validate(arguments)
        except PydanticValidationError:
            return error_result(ValidationError("route must look like /algorithms/models", field="route"))
        return success_result(await RouteSwitch(session, ctx, remote_names, bus).switch_route(args.route))

    async def call_tool(ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams) -> CallToolResult:
        if params.name == SET_ROUTE and SET_ROUTE not in flags.exclude:
            return await set_route(ctx, params.arguments or {})
        if params.name in flags.exclude:
            return error_result(RouteScopeError(f"tool {params.name} is excluded by --exclude-tools"))
        try:
            return await remote.call_tool(params.name, params.arguments)
        except MCPError:
            raise  # the remote's protocol error (e.g. -32602 unknown tool) is the answer
        except Exception:  # noqa: BLE001 - the remote edge: never leak transport details to the model
            log.exception("remote call of %s failed", params.name)
            return error_result(KaireonError(f"the remote server did not answer the call of {params.name}"))

    async def list_prompts(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListPromptsResult:
        return await remote.list_prompts(cursor=params.cursor if params else None, cache_mode="refresh")

    async def get_prompt(
        ctx: ServerRequestContext[Any, Any], params: GetPromptRequestParams
    ) -> GetPromptResult:
        return await remote.get_prompt(params.name, params.arguments)

    async def list_resources(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        return await remote.list_resources(cursor=params.cursor if params else None, cache_mode="refresh")

    async def list_templates(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        return await remote.list_resource_templates(
            cursor=params.cursor if params else None, cache_mode="refresh"
        )

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        return await remote.read_resource(params.uri)

    return KaireonServer(
        SERVER_NAME,
        version=__version__,
        title="KaireonAI decisioning (remote)",
        instructions=remote.instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=ListenHandler(bus),
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


async def run_remote_stdio(url: str, api_key: str, flags: ScopePolicy) -> None:
    """Serve stdio, forwarding to ``url`` until the desktop client closes the pipe."""
    if flags.include:
        log.warning("--tools is ignored in remote mode: the remote server decides what exists")
    session = RouteSession(route=flags.route if flags.route != "/" else None)
    http = create_mcp_http_client(auth=RemoteHeaders(api_key, session, flags))
    async with http, Client(streamable_http_client(url, http_client=http)) as remote:
        server = build_remote_server(remote, session, flags)
        async with front_transport(claim_front()) as (read, write):
            await server.run(read, write, server.create_initialization_options())
