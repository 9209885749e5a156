"""Pipeline Mode: model-proposed RFC 6902 patches to a pipeline IR, and applying accepted ones.

Every proposal attempt (success, invalid patch, model error) is audited as
``pipeline_ai_proposal`` in its own transaction, so the trail survives a failed request;
the audit rows double as the 100-per-tenant-per-hour proposal budget (spec 7.2).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from kaireon_mcp.core.ai._rows import tenant_settings
from kaireon_mcp.core.ai.json_patch import apply_patch
from kaireon_mcp.core.ai.services import AiServices
from kaireon_mcp.errors import (
    ForbiddenError,
    KaireonError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
    ValidationError,
)
from kaireon_mcp.llm.base import LLMClient
from kaireon_mcp.llm.providers import missing_provider_message
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AuditLog, Pipeline, PipelineVersion
from kaireon_mcp.storage.types import utcnow

__all__ = ["MAX_ATTEMPTS", "PROPOSALS_PER_HOUR", "apply_ir_patch", "propose_ir_patch", "validate_ir"]

MAX_ATTEMPTS = 3
PROPOSALS_PER_HOUR = 100
AUDIT_TYPE = "pipeline_ai_proposal"
SYSTEM = (
    "You edit data-pipeline IR documents. Answer with an RFC 6902 JSON Patch (array of operations) "
    "that implements the instruction, plus a one-sentence rationale. Change nothing else."
)


class _Proposal(BaseModel):
    patch: list[dict[str, Any]]
    rationale: str


def _ids(items: list[Any], where: str) -> set[str]:
    ids: set[str] = set()
    for index, node in enumerate(items):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise ValidationError(f"{where}[{index}] needs a string id", field=f"ir.{where}[{index}]")
        if node["id"] in ids:
            raise ValidationError(
                f"{where}[{index}]: duplicate id {node['id']!r}", field=f"ir.{where}[{index}]"
            )
        ids.add(node["id"])
    return ids


def validate_ir(ir: Any) -> None:
    """Structural checks a patched IR must pass: an object, string irVersion, consistent graph.

    Raises:
        ValidationError: naming the offending part as ``ir.<path>``.
    """
    if not isinstance(ir, dict):
        raise ValidationError("the pipeline IR must be a JSON object", field="ir")
    if "irVersion" in ir and not isinstance(ir["irVersion"], str):
        raise ValidationError("irVersion must be a string such as '1.0'", field="ir.irVersion")
    nodes, edges = ir.get("nodes", []), ir.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise ValidationError("nodes and edges must be arrays", field="ir.nodes")
    known = _ids(nodes, "nodes")
    for index, edge in enumerate(edges):
        ends = (
            (edge.get("from", edge.get("source")), edge.get("to", edge.get("target")))
            if isinstance(edge, dict)
            else ()
        )
        if len(ends) != 2 or any(end not in known for end in ends):
            raise ValidationError(f"edges[{index}] must join two existing nodes", field=f"ir.edges[{index}]")


async def _pipeline(repo: Repository, pipeline_id: str) -> Pipeline:
    row = await repo.find(Pipeline, id=pipeline_id)
    if row is None:
        raise NotFoundError(f"pipeline {pipeline_id!r} not found", field="pipelineId")
    return row


async def apply_ir_patch(
    db: Database, principal: TenantContext, pipeline_id: str, patch: Any, comment: str = ""
) -> dict[str, Any]:
    """Apply a patch to the current IR and save it as a new version (audited)."""
    async with db.tenant(principal) as repo:
        row = await _pipeline(repo, pipeline_id)
        new_ir = apply_patch(row.ir or {}, patch)
        validate_ir(new_ir)
        version = (row.ir_version or 1) + 1
        await repo.update(Pipeline, row, {"ir": new_ir, "ir_version": version, "ir_native": True})
        await repo.create(
            PipelineVersion,
            {
                "pipeline_id": row.id,
                "version": version,
                "ir": new_ir,
                "authored_by": principal.actor,
                "comment": comment or "AI patch",
            },
        )
        return {"pipelineId": row.id, "version": version, "ir": new_ir}


async def _audit(db: Database, principal: TenantContext, pipeline_id: str, changes: dict[str, Any]) -> None:
    async with db.tenant(principal) as repo:
        await repo.audit.record("propose", AUDIT_TYPE, pipeline_id, None, None, None, changes=changes)


async def _check_budget(db: Database, principal: TenantContext) -> None:
    async with db.tenant(principal) as repo:
        settings = await tenant_settings(repo)
        if settings.get("flowIrEnabled") is False:
            raise ForbiddenError("Pipeline Mode is off for this tenant (flowIrEnabled is false)")
        since = utcnow() - timedelta(hours=1)
        used = await repo.count(AuditLog, AuditLog.entity_type == AUDIT_TYPE, AuditLog.timestamp >= since)
        if used >= PROPOSALS_PER_HOUR:
            raise RateLimitedError(f"at most {PROPOSALS_PER_HOUR} pipeline proposals per tenant per hour")


async def propose_ir_patch(
    db: Database, principal: TenantContext, services: AiServices, pipeline_id: str, instruction: str
) -> dict[str, Any]:
    """Ask the model for a patch, validate it on a copy, re-prompt with the error up to 3 times.

    Raises:
        ProviderUnavailableError: no usable model provider.
        ValidationError: three attempts produced no valid patch.
    """
    await _check_budget(db, principal)
    async with db.tenant(principal) as repo:
        ir = dict((await _pipeline(repo, pipeline_id)).ir or {})
    client = await services.open_client(db, principal)
    if client is None:
        raise ProviderUnavailableError(missing_provider_message())
    try:
        return await _attempts(db, principal, services, client, pipeline_id, ir, instruction)
    finally:
        await client.aclose()


async def _attempts(
    db: Database,
    principal: TenantContext,
    services: AiServices,
    client: LLMClient,
    pipeline_id: str,
    ir: dict[str, Any],
    instruction: str,
) -> dict[str, Any]:
    error: str | None = None
    for attempt in range(MAX_ATTEMPTS):
        prompt = json.dumps({"instruction": instruction, "ir": ir, "previousError": error}, default=str)
        try:
            async with asyncio.timeout(services.llm_timeout):
                raw = await client.complete_json(SYSTEM, prompt, _Proposal.model_json_schema())
            proposal = _Proposal.model_validate(raw)
            patched = apply_patch(ir, proposal.patch)
            validate_ir(patched)
        except (KaireonError, TimeoutError, PydanticValidationError, ValueError, TypeError) as exc:
            error = getattr(exc, "message", None) or exc.__class__.__name__
            await _audit(
                db, principal, pipeline_id, {"outcome": "failure", "error": error, "retryCount": attempt}
            )
            continue
        await _audit(
            db,
            principal,
            pipeline_id,
            {
                "outcome": "success",
                "patch": proposal.patch,
                "rationale": proposal.rationale,
                "retryCount": attempt,
            },
        )
        return {
            "pipelineId": pipeline_id,
            "patch": proposal.patch,
            "rationale": proposal.rationale,
            "retries": attempt,
            "patchedIr": patched,
        }
    raise ValidationError(f"no valid patch after {MAX_ATTEMPTS} attempts: {error}", field="instruction")
