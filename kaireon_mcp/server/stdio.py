"""MCP over stdio: one local client (Claude Desktop), one process, one session.

stdout carries JSON-RPC only; everything else (logs, seed progress) goes to stderr. The acting
principal is the local admin of ``--tenant`` / ``KAIREON_TENANT_ID`` unless ``KAIREON_API_KEY`` is
set, in which case the key's tenant and role apply, exactly as they would over HTTP.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mcp.server import ServerRequestContext

from kaireon_mcp.config import Settings
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.runtime import prepare
from kaireon_mcp.server.app import RequestScope, ServerDeps, build_server
from kaireon_mcp.server.front import claim_front
from kaireon_mcp.server.scope import RouteSession, ScopeChain
from kaireon_mcp.server.transport import front_transport
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.keys import authenticate
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.registry import ScopePolicy, ToolRegistry

__all__ = ["StdioBinding", "run_stdio", "stdio_binding", "stdio_principal"]


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
