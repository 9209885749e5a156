"""The one place that writes audit rows: field-level diffs, hash-chained, same transaction."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import AuditLog
from kaireon_mcp.storage.types import new_id, utcnow

IGNORED_DIFF_FIELDS = frozenset({"updatedAt", "version", "rowVersion"})


def field_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """`{field: {"from": old, "to": new}}` for every field whose value changed."""
    before = before or {}
    after = after or {}
    diff: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        if key in IGNORED_DIFF_FIELDS:
            continue
        old, new = before.get(key), after.get(key)
        if old != new:
            diff[key] = {"from": old, "to": new}
    return diff


def entry_hash(prev_hash: str | None, payload: dict[str, Any]) -> str:
    body = json.dumps({"prev": prev_hash, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


class AuditService:
    """Appends audit rows inside the caller's transaction so a rollback removes both."""

    def __init__(self, session: AsyncSession, ctx: TenantContext) -> None:
        self._session = session
        self._ctx = ctx

    async def _last(self) -> tuple[int, str | None]:
        stmt = (
            select(AuditLog.seq, AuditLog.integrity_hash)
            .where(AuditLog.tenant_id == self._ctx.tenant_id)
            .order_by(AuditLog.seq.desc())
            .limit(1)
        )
        row = (await self._session.execute(stmt)).first()
        return (row[0], row[1]) if row else (0, None)

    async def record(
        self,
        action: str,
        entity_type: str,
        entity_id: str | None,
        entity_name: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        entity_version: int | None = None,
        changes: dict[str, Any] | None = None,
    ) -> AuditLog:
        seq, prev = await self._last()
        now = utcnow()
        diff = changes if changes is not None else field_diff(before, after)
        payload = {
            "tenantId": self._ctx.tenant_id,
            "action": action,
            "entityType": entity_type,
            "entityId": entity_id,
            "changes": diff,
            "timestamp": now.isoformat(),
        }
        row = AuditLog(
            id=new_id("aud"),
            seq=seq + 1,
            tenant_id=self._ctx.tenant_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            entity_name=entity_name,
            changes=diff,
            before=before,
            after=after,
            entity_version=entity_version,
            user_id=self._ctx.actor,
            user_name=self._ctx.user_name,
            request_id=self._ctx.request_id,
            prev_hash=prev,
            integrity_hash=entry_hash(prev, payload),
            timestamp=now,
        )
        self._session.add(row)
        await self._session.flush()
        return row


def verify_chain(entries: list[AuditLog]) -> dict[str, Any]:
    """Recompute every hash in sequence order; report the first broken link."""
    prev: str | None = None
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.prev_hash != prev:
            return {"intact": False, "brokenAtId": entry.id, "brokenReason": "chain_link_mismatch"}
        payload = {
            "tenantId": entry.tenant_id,
            "action": entry.action,
            "entityType": entry.entity_type,
            "entityId": entry.entity_id,
            "changes": entry.changes,
            "timestamp": entry.timestamp.isoformat(),
        }
        if entry_hash(prev, payload) != entry.integrity_hash:
            return {"intact": False, "brokenAtId": entry.id, "brokenReason": "hash_mismatch"}
        prev = entry.integrity_hash
    return {"intact": True, "verified": len(entries)}
