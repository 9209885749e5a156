"""MCP over Streamable HTTP, as an ASGI app for ``kaireon-mcp serve`` to mount.

How to mount (the ``serve`` command owns the Starlette app)::

    from kaireon_mcp.server.http import build_mcp_http, mcp_routes

    mcp_app, mcp_lifespan = build_mcp_http(db, settings, scope, host=args.host)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with mcp_lifespan(app):      # starts the session manager; mounted apps' lifespans never run
            yield

    app = Starlette(routes=[*mcp_routes(mcp_app), ...bridge routes...], lifespan=lifespan)

``mcp_routes`` gives ``Route("/mcp")`` and ``Route("/api/v1/mcp")`` with the app as an ASGI
endpoint (a ``Mount`` would redirect ``/mcp`` to ``/mcp/``). The lifespan can be entered once per
``build_mcp_http`` call. ``scope`` is the server's upper bound (``serve --route/--read-only/
--tools/--exclude-tools``); ``?route=`` and the ``X-Kaireon-*`` headers narrow it per request.

Every request needs an API key (``X-API-Key: krn_...`` or ``Authorization: Bearer krn_...``):
401 JSON without a valid one, 403 when ``X-Tenant-Id`` names another tenant. The key's tenant is
pinned for the whole request; ``tenantId`` arguments never cross tenants. Handshake-era clients
get stateful sessions (``Mcp-Session-Id``), bound by the SDK to the key that opened them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from mcp.server import ServerRequestContext
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kaireon_mcp.config import Settings
from kaireon_mcp.errors import ForbiddenError, KaireonError, UnauthorizedError
from kaireon_mcp.server.app import PAGE_SIZE, RequestScope, ServerDeps, build_server
from kaireon_mcp.server.scope import ScopeChain, SessionStore, policy_from_flags, request_policy
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.keys import authenticate, tenant_claim_refused
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.registry import ScopePolicy, ToolRegistry

#: services key the playbook tools read for governed mode (kaireon_mcp.tools.playbooks)
GOVERNED_SERVICE = "governed"

__all__ = ["MCP_PATHS", "PRINCIPAL_SCOPE_KEY", "ApiKeyAuth", "HttpBinding", "build_mcp_http", "mcp_routes"]

MCP_PATHS = ("/mcp", "/api/v1/mcp")
PRINCIPAL_SCOPE_KEY = "kaireon.principal"
SESSION_HEADER = "mcp-session-id"
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def _presented_key(headers: Headers) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _send_error(send: Send, exc: KaireonError) -> None:
    body = json.dumps(exc.to_dict()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if exc.http_status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="kaireon-mcp"'))
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ApiKeyAuth:
    """ASGI middleware: resolve the API key to a principal before any MCP handling.

    The principal rides in the ASGI scope (read back by :class:`HttpBinding`), and ``scope["user"]``
    lets the SDK bind each handshake-era session to the key that opened it.
    """

    def __init__(self, app: ASGIApp, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            principal = await authenticate(self.db, _presented_key(headers))
            if tenant_claim_refused(self.db, principal, headers.get("x-tenant-id")):
                raise ForbiddenError("X-Tenant-Id does not match the tenant of this API key")
        except (UnauthorizedError, ForbiddenError) as exc:
            await _send_error(send, exc)
            return
        key_id = principal.api_key_id or principal.tenant_id
        token = AccessToken(
            token=key_id, client_id=key_id, scopes=[principal.role], subject=principal.tenant_id
        )
        await self.app(
            {
                **scope,
                "headers": _without_ows(scope["headers"]),
                PRINCIPAL_SCOPE_KEY: principal,
                "user": AuthenticatedUser(token),
            },
            receive,
            send,
        )


def _without_ows(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Header values without leading/trailing whitespace (RFC 9110 5.5).

    h11 trims them while parsing; httptools (uvicorn's faster parser, used by ``serve``)
    passes them on, and the SDK compares values such as ``Mcp-Name`` verbatim.
    """
    return [(name, value.strip(b" \t")) for name, value in headers]


@dataclass
class HttpBinding:
    """Per-request principal (from the key), server bound, optional session route, request narrowing."""

    bound: ScopePolicy
    sessions: SessionStore = field(default_factory=SessionStore)

    def resolve(self, ctx: ServerRequestContext[Any, Any]) -> RequestScope:
        request = ctx.request
        principal: TenantContext | None = (
            request.scope.get(PRINCIPAL_SCOPE_KEY) if request is not None else None
        )
        if request is None or principal is None:
            raise UnauthorizedError("this request carries no authenticated API key")
        chain = ScopeChain((self.bound,))
        session = None
        session_id = request.headers.get(SESSION_HEADER)
        if session_id and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            session = self.sessions.get(session_id, principal.api_key_id or principal.tenant_id)
            chain = chain.with_session_route(session.route)
        narrowed = request_policy(self.bound, request.headers, request.query_params)
        if narrowed is not None:
            chain = ScopeChain((*chain.policies, narrowed), chain.session)
        return RequestScope(principal, chain, session)


def _default_security(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection on loopback binds, as the SDK does; public binds sit behind a proxy."""
    if host not in _LOCAL_HOSTS:
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


def build_mcp_http(
    db: Database,
    settings: Settings,
    scope: ScopePolicy | None = None,
    *,
    registry: ToolRegistry | None = None,
    host: str = "127.0.0.1",
    transport_security: TransportSecuritySettings | None = None,
    stateless: bool = False,
    json_response: bool = False,
    page_size: int = PAGE_SIZE,
    services: Mapping[str, Any] | None = None,
    governed: bool = True,
) -> tuple[ASGIApp, Lifespan]:
    """The authenticated MCP ASGI app and the lifespan that must wrap it (see the module docstring).

    Args:
        scope: server flags (upper bound); default: ``KAIREON_ROUTE`` and ``KAIREON_READ_ONLY``.
        registry: the tools to serve; default: every tool module (``load_all()``).
        host: the bind host; loopback binds get DNS-rebinding protection unless
            ``transport_security`` says otherwise.
        stateless: drop handshake-era sessions (no ``setRoute``, no notifications) so any
            replica can serve any request.
        services: transport services handed to every tool (e.g. the bridge's ``"ai"`` services).
        governed: mutating playbooks queue an approval instead of writing (tool-catalog.md 1.2:
            the HTTP registry is governed because remote callers act with elevated rights).
    """
    bound = scope or policy_from_flags(settings.route, settings.read_only, (), ())
    registry = registry if registry is not None else load_all()
    server = build_server(
        HttpBinding(bound),
        ServerDeps(db, settings, registry, {**(services or {}), GOVERNED_SERVICE: governed}),
        page_size=page_size,
        instructions_route=bound.route,
    )
    manager = StreamableHTTPSessionManager(
        app=server,
        json_response=json_response,
        stateless=stateless,
        security_settings=transport_security or _default_security(host),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any = None) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return ApiKeyAuth(StreamableHTTPASGIApp(manager), db), lifespan


def mcp_routes(app: ASGIApp, paths: tuple[str, ...] = MCP_PATHS) -> list[Route]:
    """Exact-path routes serving the MCP app (an ASGI endpoint, so every method reaches it)."""
    return [Route(path, endpoint=app) for path in paths]
