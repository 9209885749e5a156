"""Document import: upload -> proposals -> atomic apply with verdicts (spec 3.18).

Apply runs every verdict in one transaction; the first failing verdict rolls the whole
batch back and is reported (``ok: false``) so the UI can highlight that row. Revert is
in ``import_revert``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kaireon_mcp.core.ai._import_entities import (
    IMPORT_TYPES,
    column_values,
    find_by_name,
)
from kaireon_mcp.core.ai._import_extract import RawProposal, extract_proposals
from kaireon_mcp.core.ai._rows import insert_row
from kaireon_mcp.errors import KaireonError, NotFoundError, ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AiAttachment, AiImportApply, AiImportProposal, SkipDigest
from kaireon_mcp.storage.types import new_id

__all__ = [
    "APPLY_TIMEOUT",
    "MAX_UPLOAD_BYTES",
    "ApplyRequest",
    "Verdict",
    "apply_import",
    "list_proposals",
    "proposal_digest",
    "upload",
]

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
APPLY_TIMEOUT = 30.0


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    proposalId: str = Field(min_length=1)
    verdict: Literal["create-new", "merge-into-existing", "skip"]
    targetEntityId: str | None = None


class ApplyRequest(BaseModel):
    """``verdicts`` (alias ``decisions``): one item per proposal, in the order to apply them."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    conversationId: str | None = None
    verdicts: list[Verdict] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "verdicts" not in data and "decisions" in data:
            return {**data, "verdicts": data["decisions"]}
        return data


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()).lower()
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def proposal_digest(entity_type: str, payload: dict[str, Any]) -> str:
    """SHA-256 of ``{entityType, normalised name, normalised payload}`` (spec 3.18.2)."""
    body = {
        "entityType": entity_type,
        "name": _norm(payload.get("name", "")),
        "payload": _norm({k: v for k, v in payload.items() if k != "name"}),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _proposal(row: AiImportProposal) -> dict[str, Any]:
    data = row.to_dict()
    keys = ("id", "attachmentId", "conversationId", "entityType", "payload", "sourcePageNumber")
    return {**{k: data[k] for k in keys}, "sourceQuote": row.source_quote, "dedupeMatch": row.dedupe_match}


async def _dedupe(repo: Repository, raw: RawProposal) -> dict[str, Any] | None:
    name = raw.payload.get("name")
    if raw.entity_type not in IMPORT_TYPES or not isinstance(name, str) or not name.strip():
        return None
    found = await find_by_name(repo, raw.entity_type, name)
    if found is None:
        return None
    return {"entityType": raw.entity_type, "entityId": found.id, "name": found.name, "method": "exact"}  # type: ignore[attr-defined]


async def _digests(repo: Repository) -> set[str]:
    rows = (await repo.session.execute(repo.scoped(SkipDigest))).scalars().all()
    return {r.digest for r in rows}


async def _proposals_of(repo: Repository, attachment_id: str) -> list[AiImportProposal]:
    stmt = (
        repo.scoped(AiImportProposal)
        .where(AiImportProposal.attachment_id == attachment_id)
        .order_by(AiImportProposal.source_page_number, AiImportProposal.id)
    )
    return list((await repo.session.execute(stmt)).scalars().all())


async def upload(
    db: Database,
    principal: TenantContext,
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """Store the file once per tenant (by SHA-256) and extract its proposals.

    Re-uploading the same bytes returns the existing attachment and proposals
    (``created: false``). Proposals whose digest an earlier ``skip`` recorded are dropped.

    Raises:
        ValidationError: empty, too large, unsupported or malformed file.
    """
    if not data:
        raise ValidationError("the upload is empty", field="file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(f"uploads are limited to {MAX_UPLOAD_BYTES // 1024 // 1024} MB", field="file")
    sha = hashlib.sha256(data).hexdigest()
    async with db.tenant(principal) as repo:
        existing = await repo.find(AiAttachment, sha256=sha)
        if existing is not None:
            proposals = await _proposals_of(repo, existing.id)
            return {
                "attachment": existing.to_dict(),
                "proposals": [_proposal(p) for p in proposals],
                "created": False,
            }
        raws = extract_proposals(filename, data)
        attachment = await insert_row(
            repo,
            AiAttachment,
            {
                "sha256": sha,
                "filename": filename[:255],
                "content_type": content_type[:128],
                "size_bytes": len(data),
                "data": data,
                "conversation_id": conversation_id,
            },
        )
        digests = await _digests(repo)
        stored, filtered = [], 0
        for raw in raws:
            if proposal_digest(raw.entity_type, raw.payload) in digests:
                filtered += 1
                continue
            stored.append(await _store_proposal(repo, attachment, raw))
        return {
            "attachment": attachment.to_dict(),
            "proposals": [_proposal(p) for p in stored],
            "filteredBySkipDigest": filtered,
            "created": True,
        }


async def _store_proposal(repo: Repository, attachment: AiAttachment, raw: RawProposal) -> AiImportProposal:
    return await insert_row(
        repo,
        AiImportProposal,
        {
            "attachment_id": attachment.id,
            "conversation_id": attachment.conversation_id,
            "entity_type": raw.entity_type,
            "payload": raw.payload,
            "source_page_number": raw.source_line,
            "source_quote": raw.source_quote,
            "dedupe_match": await _dedupe(repo, raw),
        },
    )


async def _attachment(repo: Repository, attachment_id: str) -> AiAttachment:
    found = await repo.find(AiAttachment, id=attachment_id)
    if found is None:
        raise NotFoundError(f"attachment {attachment_id!r} not found", field="attachmentId")
    return found


async def list_proposals(db: Database, principal: TenantContext, attachment_id: str) -> dict[str, Any]:
    async with db.tenant(principal) as repo:
        await _attachment(repo, attachment_id)
        proposals = await _proposals_of(repo, attachment_id)
        return {"attachmentId": attachment_id, "proposals": [_proposal(p) for p in proposals]}


class _Rollback(Exception):
    """Raised inside the apply transaction so the context manager rolls everything back."""

    def __init__(self, proposal_id: str, error: KaireonError) -> None:
        super().__init__(error.message)
        self.proposal_id = proposal_id
        self.error = error


@dataclass
class _Batch:
    repo: Repository
    apply_id: str
    #: proposal id -> entity id created in this batch, so later proposals can reference it
    created_ids: dict[str, str] = field(default_factory=dict)
    created: list[dict[str, str]] = field(default_factory=list)
    merged: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


async def _resolve(batch: _Batch, ref_type: str, value: Any, key: str) -> str:
    text = str(value)
    if text in batch.created_ids:
        return batch.created_ids[text]
    model = IMPORT_TYPES[ref_type].model
    if await batch.repo.find(model, id=text) is not None:
        return text
    found = await find_by_name(batch.repo, ref_type, text)
    if found is None:
        raise ValidationError(f"{ref_type} {text!r} not found", field=key)
    return str(found.id)  # type: ignore[attr-defined]


async def _prepared(batch: _Batch, prop: AiImportProposal) -> dict[str, Any]:
    spec = IMPORT_TYPES.get(prop.entity_type)
    if spec is None:
        raise ValidationError(f"entity type {prop.entity_type!r} cannot be imported", field="entityType")
    payload = {spec.aliases.get(k, k): v for k, v in (prop.payload or {}).items()}
    for key, (ref_type, name_key) in spec.refs.items():
        value = payload.get(key) or payload.get(name_key)
        if value:
            payload[key] = await _resolve(batch, ref_type, value, key)
    return payload


async def _create(batch: _Batch, prop: AiImportProposal) -> None:
    spec = IMPORT_TYPES[prop.entity_type] if prop.entity_type in IMPORT_TYPES else None
    payload = await _prepared(batch, prop)
    assert spec is not None  # _prepared refused unknown types
    for key in spec.required:
        if payload.get(key) in (None, ""):
            raise ValidationError(f"{prop.entity_type}.{key} is required", field=key)
    values = column_values(prop.entity_type, payload)
    if spec.draft and "status" in spec.model.__table__.columns:
        values.setdefault("status", "draft")
    row = await batch.repo.create(spec.model, values)
    entity_id = str(row.id)  # type: ignore[attr-defined]
    batch.created_ids[prop.id] = entity_id
    batch.created.append({"entityType": prop.entity_type, "entityId": entity_id})


async def _merge(batch: _Batch, prop: AiImportProposal, target: str | None) -> None:
    payload = await _prepared(batch, prop)
    target = target or (prop.dedupe_match or {}).get("entityId")
    if not target:
        raise ValidationError("no existing entity to merge into; pass targetEntityId", field="targetEntityId")
    model = IMPORT_TYPES[prop.entity_type].model
    row = await batch.repo.get(model, target)
    changes = {k: v for k, v in column_values(prop.entity_type, payload).items() if getattr(row, k) != v}
    if changes:
        await batch.repo.update(model, row, changes, audit_action="merge")
    batch.merged.append({"entityType": prop.entity_type, "entityId": target})


async def _skip(batch: _Batch, prop: AiImportProposal) -> None:
    digest = proposal_digest(prop.entity_type, prop.payload or {})
    if await batch.repo.find(SkipDigest, digest=digest) is None:
        await insert_row(
            batch.repo,
            SkipDigest,
            {"digest": digest, "entity_type": prop.entity_type, "apply_id": batch.apply_id},
        )
    batch.skipped.append(prop.id)


def _check_verdicts(request: ApplyRequest, proposals: dict[str, AiImportProposal]) -> None:
    seen: set[str] = set()
    for index, item in enumerate(request.verdicts):
        if item.proposalId in seen:
            raise ValidationError(f"proposal {item.proposalId!r} appears twice", field=f"verdicts.{index}")
        if item.proposalId not in proposals:
            raise ValidationError(
                f"proposal {item.proposalId!r} does not belong to this attachment",
                field=f"verdicts.{index}.proposalId",
            )
        seen.add(item.proposalId)


async def apply_import(
    db: Database, principal: TenantContext, attachment_id: str, request: ApplyRequest
) -> dict[str, Any]:
    """Apply every verdict atomically; ``{"ok": false, "status": "rolled_back", ...}`` on failure.

    Raises:
        NotFoundError: unknown attachment (404).
        ValidationError: duplicate or foreign proposal ids (400).
    """
    try:
        async with asyncio.timeout(APPLY_TIMEOUT), db.tenant(principal) as repo:
            await _attachment(repo, attachment_id)
            proposals = {p.id: p for p in await _proposals_of(repo, attachment_id)}
            _check_verdicts(request, proposals)
            batch = _Batch(repo, new_id(AiImportApply.__prefix__))
            for item in request.verdicts:
                await _run_verdict(batch, proposals[item.proposalId], item)
            await insert_row(
                repo,
                AiImportApply,
                {
                    "id": batch.apply_id,
                    "attachment_id": attachment_id,
                    "conversation_id": request.conversationId,
                    "created_entity_ids": batch.created,
                    "merged": batch.merged,
                    "skipped": batch.skipped,
                },
            )
    except _Rollback as failure:
        return {
            "ok": False,
            "status": "rolled_back",
            "failedProposalId": failure.proposal_id,
            "errorMessage": failure.error.message,
            "errorField": failure.error.field,
        }
    except TimeoutError as exc:
        raise KaireonError(f"import apply exceeded {APPLY_TIMEOUT:g} s and was rolled back") from exc
    return {
        "ok": True,
        "applyId": batch.apply_id,
        "createdEntityIds": batch.created,
        "mergedEntityIds": batch.merged,
        "skippedProposalIds": batch.skipped,
    }


async def _run_verdict(batch: _Batch, prop: AiImportProposal, item: Verdict) -> None:
    try:
        if item.verdict == "create-new":
            await _create(batch, prop)
        elif item.verdict == "merge-into-existing":
            await _merge(batch, prop, item.targetEntityId)
        else:
            await _skip(batch, prop)
    except KaireonError as exc:
        raise _Rollback(prop.id, exc) from exc
