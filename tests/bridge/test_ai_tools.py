"""The AI helper tools through registry.execute: patches, narratives, provider refusal, roles."""

from __future__ import annotations

from typing import Any

import pytest

from kaireon_mcp.bridge.app import default_services
from kaireon_mcp.errors import ForbiddenError, ProviderUnavailableError, ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import DecisionTrace, Pipeline, PipelineVersion, Tenant
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx

REGISTRY = load_all()
IR = {"irVersion": "1.0", "nodes": [{"id": "src", "type": "source"}], "edges": []}


async def _pipeline(db: Any) -> str:
    await db.ensure_tenant("t")
    async with db.tenant(TenantContext("t")) as repo:
        return str((await repo.create(Pipeline, {"name": "p", "ir": IR})).id)


AI_HELPERS = {
    "getAiConfigStatus",
    "getAnalyzerSettings",
    "updateAnalyzerSettings",
    "parseRuleText",
    "runAiAnalysis",
    "listAiRecommendations",
    "applyAiRecommendation",
    "proposePipelineIrPatch",
    "applyPipelineIrPatch",
    "generateDecisionNarrative",
}


def test_ai_tools_are_general_route_only() -> None:
    ai = [t for t in REGISTRY.all() if t.name in AI_HELPERS]
    assert len(ai) == 10 and all(t.module == "ai" and not t.routes for t in ai)


async def test_apply_pipeline_patch_saves_a_new_version(db: Any) -> None:
    pipeline_id = await _pipeline(db)
    ctx = make_tool_ctx(db, tenant="t", role="editor")
    patch = [{"op": "add", "path": "/nodes/-", "value": {"id": "out", "type": "sink"}},
             {"op": "add", "path": "/edges/-", "value": {"from": "src", "to": "out"}}]  # fmt: skip
    result = await execute("applyPipelineIrPatch", {"pipelineId": pipeline_id, "patch": patch}, ctx)
    assert result["version"] == 2 and [n["id"] for n in result["ir"]["nodes"]] == ["src", "out"]
    async with db.tenant(TenantContext("t")) as repo:
        assert await repo.count(PipelineVersion) == 1
    broken = [{"op": "add", "path": "/edges/-", "value": {"from": "src", "to": "ghost"}}]
    with pytest.raises(ValidationError, match="edges"):
        await execute("applyPipelineIrPatch", {"pipelineId": pipeline_id, "patch": broken}, ctx)
    with pytest.raises(ValidationError, match="patch\\[0\\]"):
        await execute(
            "applyPipelineIrPatch",
            {"pipelineId": pipeline_id, "patch": [{"op": "remove", "path": "/x"}]},
            ctx,
        )


async def test_propose_patch_without_provider_is_provider_unavailable(db: Any) -> None:
    pipeline_id = await _pipeline(db)
    ctx = make_tool_ctx(db, tenant="t", role="editor")
    ctx.services["ai"] = default_services(ctx.settings, {})
    with pytest.raises(ProviderUnavailableError, match="KAIREON_AI_PROVIDER"):
        await execute("proposePipelineIrPatch", {"pipelineId": pipeline_id, "instruction": "add a sink"}, ctx)


async def test_narrative_needs_the_setting_and_uses_the_template(db: Any) -> None:
    await db.ensure_tenant("t")
    async with db.tenant(TenantContext("t")) as repo:
        trace = await repo.create(
            DecisionTrace,
            {
                "customer_id": "C-1",
                "request_id": "r1",
                "funnel": {
                    "candidateCount": 5,
                    "afterQualification": 3,
                    "afterContactPolicy": 2,
                    "finalCount": 1,
                },
                "dropped": [{"offerId": "o2", "stage": "contact_policy", "reason": "frequency_cap exceeded"}],
                "selected_offers": [{"offerId": "o1", "rank": 1, "score": 0.8}],
            },
        )
    ctx = make_tool_ctx(db, tenant="t", role="viewer")
    ctx.services["ai"] = default_services(ctx.settings, {})
    with pytest.raises(ForbiddenError, match="llmExplanationsEnabled"):
        await execute("generateDecisionNarrative", {"traceId": trace.id, "mode": "regulator"}, ctx)
    async with db.session() as session:
        tenant = await session.get(Tenant, "t")
        assert tenant is not None
        tenant.settings = {"aiAnalyzerSettings": {"llmExplanationsEnabled": True}}
    regulator = await execute("generateDecisionNarrative", {"traceId": trace.id, "mode": "regulator"}, ctx)
    assert regulator["source"] == "template"
    assert (
        "5 candidate offers; 3 passed qualification; 2 passed contact policies; 1 were selected."
        in regulator["narrative"]
    )
    assert "contact_policy: frequency_cap exceeded (1 offer)" in regulator["narrative"]
    agent = await execute("generateDecisionNarrative", {"traceId": trace.id, "mode": "agent"}, ctx)
    assert agent["selected"] == ["o1"]


async def test_viewer_cannot_apply_or_update_settings(db: Any) -> None:
    ctx = make_tool_ctx(db, tenant="t", role="viewer")
    with pytest.raises(ForbiddenError):
        await execute("applyAiRecommendation", {"recommendationId": "x"}, ctx)
    with pytest.raises(ForbiddenError):
        await execute("updateAnalyzerSettings", {"policy": {"dailyCap": 1}}, ctx)
