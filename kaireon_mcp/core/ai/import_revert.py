"""Revert of one import apply (spec 3.19): delete what it created, newest first; never undo merges.

A created row that other rows now reference is not deleted and not cascaded: it is
reported in ``orphanedRefusals`` with the foreign-key reason, for the operator to resolve.
"""

from __future__ import annotations

from typing import Any

from kaireon_mcp.core.ai._import_entities import IMPORT_TYPES, child_references
from kaireon_mcp.errors import ConflictError, NotFoundError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AiImportApply
from kaireon_mcp.storage.types import utcnow

__all__ = ["MAX_REASON", "revert_import"]

MAX_REASON = 200


async def revert_import(db: Database, principal: TenantContext, apply_id: str) -> dict[str, Any]:
    """Delete what one apply created (newest first); merges are never undone.

    Raises:
        NotFoundError: unknown apply id for this tenant (404).
        ConflictError: the apply was already reverted (409).
    """
    async with db.tenant(principal) as repo:
        applied = await repo.find(AiImportApply, id=apply_id)
        if applied is None:
            raise NotFoundError(f"import apply {apply_id!r} not found", field="applyId")
        if applied.reverted_at is not None:
            raise ConflictError(f"import apply {apply_id!r} was already reverted", field="applyId")
        deleted: list[dict[str, str]] = []
        refused: list[dict[str, str]] = []
        for entry in reversed(list(applied.created_entity_ids or [])):
            reason = await _delete_created(repo, entry["entityType"], entry["entityId"])
            if reason is None:
                deleted.append(dict(entry))
            elif reason:
                refused.append({**entry, "reason": reason[:MAX_REASON]})
        body = {
            "ok": True,
            "applyId": apply_id,
            "deletedEntityIds": deleted,
            "skippedMerges": list(applied.merged or []),
            "orphanedRefusals": refused,
        }
        applied.reverted_at = utcnow()
        applied.revert_summary = body
        await repo.session.flush()
    return body


async def _delete_created(repo: Repository, entity_type: str, entity_id: str) -> str | None:
    """None when deleted; a refusal reason; "" when the row is already gone."""
    model = IMPORT_TYPES[entity_type].model
    row = await repo.find(model, include_deleted=True, id=entity_id)
    if row is None:
        return ""
    children = await child_references(repo, entity_type, entity_id)
    if children is not None:
        count, label = children
        return f"Foreign key constraint: {count} child {label} rows reference this {entity_type}"
    try:
        await repo.delete(model, row, soft=False)
    except ConflictError as exc:
        return f"Foreign key constraint: {exc.message}"
    return None
