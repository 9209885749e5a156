"""Who is calling: API key -> tenant principal, tenant pinning, roles (http-bridge.md 1.1, 1.2)."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid

from starlette.requests import Request

from kaireon_mcp.errors import ForbiddenError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.keys import authenticate, tenant_claim_refused

__all__ = ["caller_id", "presented_key", "principal_for", "require_role"]

MAX_USER_ID = 128


def presented_key(request: Request) -> str | None:
    """``X-API-Key: krn_...`` or ``Authorization: Bearer krn_...``."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def principal_for(request: Request, db: Database) -> TenantContext:
    """Authenticate the request; the key's tenant always wins over ``X-Tenant-Id``.

    Raises:
        UnauthorizedError: no key, or an unknown, revoked or expired one (401).
        ForbiddenError: ``X-Tenant-Id`` names another tenant, or a scoped (e.g. SCIM-only) key (403).
    """
    principal = await authenticate(db, presented_key(request))
    if tenant_claim_refused(db, principal, request.headers.get("x-tenant-id")):
        raise ForbiddenError("X-Tenant-Id does not match the tenant of this API key", field="X-Tenant-Id")
    if principal.scopes:
        # Empty scopes = full access; the only defined scope (scim) grants no AI route.
        raise ForbiddenError("this API key is restricted to other scopes")
    user = (request.headers.get("x-user-id") or "").strip()[:MAX_USER_ID] or None
    return dataclasses.replace(principal, user_id=user, request_id=uuid.uuid4().hex[:16])


def require_role(principal: TenantContext, minimum: str) -> None:
    """403 with the role the endpoint needs."""
    if not principal.has_role(minimum):
        raise ForbiddenError(f"this endpoint needs the {minimum} role; this API key is {principal.role}")


def caller_id(request: Request, principal: TenantContext | None = None, *, per_user: bool = False) -> str:
    """Rate-limit identity: the user (chat), else the API key, else the client address."""
    if principal is not None and per_user and principal.user_id:
        return f"user:{principal.user_id}"
    if principal is not None and principal.api_key_id:
        return f"key:{principal.api_key_id}"
    key = presented_key(request)
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"ip:{request.client.host if request.client else 'unknown'}"
