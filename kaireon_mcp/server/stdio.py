"""MCP over stdio: one local client (Claude Desktop), one process, one session.

stdout carries JSON-RPC only; everything else (logs, seed progress) goes to stderr. The acting
principal is the local admin of ``--tenant`` / ``KAIREON_TENANT_ID`` unless ``KAIREON_API_KEY`` is
set, in which case the key's tenant and role apply, exactly as they would over HTTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types
from mcp.server import ServerRequestContext
from mcp.shared._context_streams import ContextReceiveStream, ContextSendStream, create_context_streams
from mcp.shared.message import SessionMessage

from kaireon_mcp.config import Settings
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.runtime import prepare
from kaireon_mcp.server.app import RequestScope, ServerDeps, build_server
from kaireon_mcp.server.front import StdioFront, claim_front
from kaireon_mcp.server.scope import RouteSession, ScopeChain
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.keys import authenticate
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.registry import ScopePolicy, ToolRegistry

__all__ = ["StdioBinding", "front_transport", "run_stdio", "stdio_binding", "stdio_principal"]


@dataclass
class StdioBinding:
    """A fixed principal and the process's single route session.

    The server flags form the bound with route ``/``; ``--route`` is only the session's starting
    route, so ``setRoute`` can move anywhere the read-only/include/exclude flags allow.
    """

    principal: TenantContext
    bound: ScopePolicy
    session: RouteSession

    def resolve(self, ctx: ServerRequestContext[Any, Any]) -> RequestScope:
        chain = ScopeChain((self.bound,)).with_session_route(self.session.route)
        return RequestScope(self.principal, chain, self.session)


def stdio_binding(principal: TenantContext, flags: ScopePolicy) -> StdioBinding:
    bound = dataclasses.replace(flags, route="/")
    return StdioBinding(principal, bound, RouteSession(route=flags.route))


async def stdio_principal(db: Database, settings: Settings, tenant: str | None = None) -> TenantContext:
    """The key's tenant and role when KAIREON_API_KEY is set, else the local admin of the tenant.

    Raises:
        UnauthorizedError: the key is unknown, revoked or expired.
        ValidationError: ``--tenant`` names a different tenant than the key.
    """
    if settings.api_key:
        principal = await authenticate(db, settings.api_key)
        if tenant and tenant != principal.tenant_id:
            raise ValidationError(
                f"--tenant {tenant} does not match the tenant of KAIREON_API_KEY ({principal.tenant_id})",
                field="tenant",
            )
        return principal
    tenant_id = db.pinned_tenant or tenant or settings.tenant_id
    await db.ensure_tenant(tenant_id)
    return TenantContext(tenant_id=tenant_id, role="admin", auth_kind="stdio")


async def run_stdio(
    settings: Settings,
    flags: ScopePolicy,
    *,
    tenant: str | None = None,
    registry: ToolRegistry | None = None,
) -> None:
    """Serve MCP on stdin/stdout until the client closes the pipe."""
    registry = registry if registry is not None else load_all()
    db = await prepare(settings)
    try:
        principal = await stdio_principal(db, settings, tenant)
        server = build_server(
            stdio_binding(principal, flags),
            ServerDeps(db, settings, registry),
            instructions_route=flags.route,
        )
        async with front_transport(claim_front()) as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await db.dispose()


ReadStream = ContextReceiveStream[SessionMessage | Exception]
WriteStream = ContextSendStream[SessionMessage]


@asynccontextmanager
async def front_transport(front: StdioFront) -> AsyncIterator[tuple[ReadStream, WriteStream]]:
    """The SDK's stdio transport contract over the front's wire.

    Lines arrive from the front's reader thread straight onto this loop (no thread-pool hop per
    message) and frames are written to the pipe directly; parsing and serialisation match the
    SDK's ``stdio_server`` so the session cannot tell the difference.
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_reader = create_context_streams[SessionMessage](0)

    async def reader() -> None:
        async with read_writer:
            while (line := await lines.get()) is not None:
                try:
                    message = mcp_types.jsonrpc_message_adapter.validate_json(
                        line.decode("utf-8", "replace"), by_name=False
                    )
                except Exception as exc:  # noqa: BLE001 - the session answers a parse error itself
                    await read_writer.send(exc)
                    continue
                await read_writer.send(SessionMessage(message))

    async def writer() -> None:
        async with write_reader:
            async for session_message in write_reader:
                message = session_message.message
                frame = message.model_dump_json(by_alias=True, exclude_unset=True)
                if isinstance(message, mcp_types.JSONRPCResponse | mcp_types.JSONRPCError):
                    front.send(frame, message.id)
                else:
                    front.send(frame)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reader)
        tasks.start_soon(writer)

        def deliver(line: bytes | None) -> None:
            loop.call_soon_threadsafe(lines.put_nowait, line)

        front.attach(deliver)
        yield read_stream, write_stream
