"""API keys: `krn_` secrets shown once, stored as HMAC-SHA256 with a server pepper."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update

from kaireon_mcp.errors import NotFoundError, UnauthorizedError, ValidationError
from kaireon_mcp.storage.context import ROLE_RANK, TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import ApiKey, Tenant
from kaireon_mcp.storage.types import new_id, utcnow

KEY_PREFIX = "krn_"


def _pepper() -> bytes:
    return (os.environ.get("API_KEY_PEPPER") or "kaireon-default-pepper").encode()


def hash_key(plaintext: str) -> str:
    return hmac.new(_pepper(), plaintext.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class MintedKey:
    id: str
    plaintext: str
    prefix: str
    role: str
    tenant_id: str


async def create_key(db: Database, tenant_id: str, role: str, name: str = "") -> MintedKey:
    if role not in ROLE_RANK:
        raise ValidationError(f"role must be one of admin, editor, viewer (got {role!r})", field="role")
    async with db.session() as session:
        if (await session.execute(select(Tenant.id).where(Tenant.id == tenant_id))).first() is None:
            session.add(Tenant(id=tenant_id, name=tenant_id, settings={}))
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    ctx = TenantContext(tenant_id=tenant_id, role="admin", auth_kind="cli")
    async with db.tenant(ctx) as repo:
        row = await repo.create(
            ApiKey,
            {
                "name": name,
                "prefix": plaintext[:12],
                "key_hash": hash_key(plaintext),
                "role": role,
                "id": new_id("key"),
            },
        )
    return MintedKey(row.id, plaintext, row.prefix, role, tenant_id)


async def list_keys(db: Database, tenant_id: str) -> list[dict[str, object]]:
    ctx = TenantContext(tenant_id=tenant_id, role="admin", auth_kind="cli")
    async with db.tenant(ctx) as repo:
        rows = await repo.all(ApiKey, order_by=ApiKey.created_at)
        return [row.to_dict() for row in rows]


async def revoke_key(db: Database, key_id: str) -> dict[str, object]:
    async with db.session() as session:
        row = (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"API key {key_id!r} not found", field="keyId")
        tenant_id = row.tenant_id
    async with db.tenant(TenantContext(tenant_id=tenant_id, auth_kind="cli")) as repo:
        key = await repo.get(ApiKey, key_id)
        if key.revoked_at is None:
            await repo.update(ApiKey, key, {"revoked_at": utcnow()}, audit_action="revoke")
        return key.to_dict()


#: ``last_used_at`` is a "seen recently" marker: one write per key per minute, not per request
LAST_USED_RESOLUTION_S = 60.0
_last_recorded: dict[str, float] = {}
_KEY_COLUMNS = (
    ApiKey.id,
    ApiKey.tenant_id,
    ApiKey.role,
    ApiKey.scopes,
    ApiKey.expires_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
)
_KEY_LOOKUP = select(*_KEY_COLUMNS).where(ApiKey.key_hash == bindparam("digest"))


async def authenticate(db: Database, plaintext: str | None) -> TenantContext:
    """Resolve a presented key to its tenant and role; 401 for unknown, revoked or expired keys.

    One indexed read per request, outside any transaction (so it never queues behind a
    writer on SQLite), and always against the database, so a revocation made by any process
    (the CLI, another replica) takes effect on the next request.
    """
    if not plaintext or not plaintext.startswith(KEY_PREFIX):
        raise UnauthorizedError("missing or malformed API key (expected X-API-Key: krn_...)")
    digest = hash_key(plaintext)
    found = await db.select_rows(_KEY_LOOKUP, {"digest": digest})
    row = found[0] if found else None
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        raise UnauthorizedError("API key is unknown, revoked or expired")
    await _record_use(db, row.id, row.last_used_at, now)
    return TenantContext(
        # SINGLE_TENANT_MODE skips tenant resolution: the key still authenticates and carries
        # its role, but all data belongs to the one default tenant
        tenant_id=db.pinned_tenant or row.tenant_id,
        role=row.role,
        auth_kind="apiKey",
        api_key_id=row.id,
        scopes=tuple(str(s) for s in row.scopes or ()),
    )


def tenant_claim_refused(db: Database, principal: TenantContext, claimed: str | None) -> bool:
    """Whether an ``X-Tenant-Id`` header contradicts the credential's tenant (403).

    The header never selects a tenant; it may only agree. A single-tenant deployment skips
    tenant resolution altogether, so there it is ignored.
    """
    if not claimed or not claimed.strip() or db.pinned_tenant is not None:
        return False
    return claimed.strip() != principal.tenant_id


async def _record_use(db: Database, key_id: str, last_used: datetime | None, now: datetime) -> None:
    if last_used is not None and (now - last_used).total_seconds() < LAST_USED_RESOLUTION_S:
        return
    recorded = _last_recorded.get(key_id)
    moment = time.monotonic()
    if recorded is not None and moment - recorded < LAST_USED_RESOLUTION_S:
        return
    _last_recorded[key_id] = moment
    async with db.session() as session:
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
