"""AI helper tools (tool-catalog.md 2.10, "AI helpers"): thin adapters over ``core.ai``.

All are general-route only. Model access comes from ``ctx.services["ai"]`` when a
transport wired one (the bridge does), else from the process environment.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field

from kaireon_mcp.core.ai import analyzer_settings, narratives, parse_rule, pipeline_patch, recommendations
from kaireon_mcp.core.ai.analyzers import AnalysisRequest, run_analysis
from kaireon_mcp.core.ai.ml_worker import MLWorkerClient
from kaireon_mcp.core.ai.services import AiServices
from kaireon_mcp.llm.client import make_client
from kaireon_mcp.llm.providers import config_status
from kaireon_mcp.tools.registry import NoArgs, ToolContext, ToolInput, tool

SERVICES_KEY = "ai"
_DEFAULTS: dict[str | None, AiServices] = {}


def ai_services(ctx: ToolContext) -> AiServices:
    """The transport's services, else one process-wide default per ML worker URL."""
    wired = ctx.services.get(SERVICES_KEY)
    if isinstance(wired, AiServices):
        return wired
    url = ctx.settings.ml_worker_url
    if url not in _DEFAULTS:
        _DEFAULTS[url] = AiServices(env=os.environ, client_factory=make_client, ml_worker=MLWorkerClient(url))
    return _DEFAULTS[url]


@tool(
    "getAiConfigStatus",
    title="AI provider status",
    module="ai",
    description="Say whether the tenant's AI provider is usable: {configured, provider, model}; no keys.",
)
async def get_ai_config_status(ctx: ToolContext, args: NoArgs) -> dict[str, Any]:
    return config_status(await ai_services(ctx).provider(ctx.db, ctx.principal))


@tool(
    "getAnalyzerSettings",
    title="Analyzer settings",
    module="ai",
    description="Analyzer settings (segmentation, policy, content, ruleBuilder, ranking), defaults filled.",
)
async def get_analyzer_settings(ctx: ToolContext, args: NoArgs) -> dict[str, Any]:
    return await analyzer_settings.get_settings(ctx.db, ctx.principal)


class SettingsArgs(ToolInput):
    segmentation: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    content: dict[str, Any] | None = None
    ruleBuilder: dict[str, Any] | None = None
    ranking: dict[str, Any] | None = None


@tool(
    "updateAnalyzerSettings",
    title="Update analyzer settings",
    module="ai",
    write=True,
    idempotent=True,
    min_role="admin",
    description=(
        "Partially update analyzer settings; each section validated alone, rejected ones listed; returns all."
    ),
)
async def update_analyzer_settings(ctx: ToolContext, args: SettingsArgs) -> dict[str, Any]:
    body = args.model_dump(exclude_none=True)
    return await analyzer_settings.update_settings(ctx.db, ctx.principal, body)


class ParseArgs(ToolInput):
    text: str = Field(min_length=1, max_length=parse_rule.MAX_TEXT, description="the rule in plain language")


@tool(
    "parseRuleText",
    title="Parse a rule",
    module="ai",
    description=(
        "Turn plain-language targeting text into proposed rules, "
        "policies and metrics plus warnings; creates nothing."
    ),
)
async def parse_rule_text(ctx: ToolContext, args: ParseArgs) -> dict[str, Any]:
    return await parse_rule.parse_rule(ctx.db, ctx.principal, ai_services(ctx), args.text)


class AnalysisArgs(ToolInput):
    type: Literal["segments", "policies", "content"]
    schemaId: str | None = Field(None, description="required for segments")
    confirmed: bool = Field(False, description="true to run the LLM tier on more than 5,000 rows")
    preferredTier: Literal["llm", "ml_worker"] | None = None


@tool(
    "runAiAnalysis",
    title="Run AI analysis",
    module="ai",
    min_role="editor",
    description=(
        "Analyze segments, contact frequency or creative results; >5,000 rows needs confirm or the ML worker."
    ),
)
async def run_ai_analysis(ctx: ToolContext, args: AnalysisArgs) -> dict[str, Any]:
    request = AnalysisRequest(args.type, args.schemaId, args.confirmed, args.preferredTier)
    return await run_analysis(ctx.db, ctx.principal, ai_services(ctx), request)


class RecListArgs(ToolInput):
    type: Literal["policy", "rule", "segment", "content"] | None = None
    status: Literal["new", "reviewed", "applied", "dismissed"] | None = None
    limit: int = Field(100, ge=1, le=recommendations.MAX_LIMIT)


@tool(
    "listAiRecommendations",
    title="List AI recommendations",
    module="ai",
    description=(
        "AI-generated recommendations (policy, rule, segment, content), newest first; filter type/status."
    ),
)
async def list_ai_recommendations(ctx: ToolContext, args: RecListArgs) -> dict[str, Any]:
    return await recommendations.list_recommendations(
        ctx.db, ctx.principal, args.type, args.status, args.limit
    )


class ApplyArgs(ToolInput):
    recommendationId: str


@tool(
    "applyAiRecommendation",
    title="Apply AI recommendation",
    module="ai",
    write=True,
    min_role="admin",
    description=(
        "Create an AI recommendation's entity as a draft (policy, rule, segment, creative); once only."
    ),
)
async def apply_ai_recommendation(ctx: ToolContext, args: ApplyArgs) -> dict[str, Any]:
    return await recommendations.apply_recommendation(ctx.db, ctx.principal, args.recommendationId)


class ProposeArgs(ToolInput):
    pipelineId: str
    instruction: str = Field(min_length=1, max_length=4000)


@tool(
    "proposePipelineIrPatch",
    title="Propose pipeline IR patch",
    module="ai",
    min_role="editor",
    open_world=True,
    description=(
        "Ask the model for an RFC 6902 patch to a pipeline IR for an instruction; validated, nothing saved."
    ),
)
async def propose_pipeline_ir_patch(ctx: ToolContext, args: ProposeArgs) -> dict[str, Any]:
    return await pipeline_patch.propose_ir_patch(
        ctx.db, ctx.principal, ai_services(ctx), args.pipelineId, args.instruction
    )


class PatchArgs(ToolInput):
    pipelineId: str
    patch: list[dict[str, Any]] = Field(min_length=1, description="RFC 6902 operations")
    comment: str = ""


@tool(
    "applyPipelineIrPatch",
    title="Apply pipeline IR patch",
    module="ai",
    write=True,
    description="Apply an accepted RFC 6902 patch to a pipeline's IR and save it as a new IR version.",
)
async def apply_pipeline_ir_patch(ctx: ToolContext, args: PatchArgs) -> dict[str, Any]:
    return await pipeline_patch.apply_ir_patch(
        ctx.db, ctx.principal, args.pipelineId, args.patch, args.comment
    )


class NarrativeArgs(ToolInput):
    traceId: str
    mode: Literal["regulator", "agent", "customer"]


@tool(
    "generateDecisionNarrative",
    title="Explain a decision",
    module="ai",
    description=(
        "Narrate a decision trace for a regulator (audited), an agent "
        "or the customer; needs LLM explanations on."
    ),
)
async def generate_decision_narrative(ctx: ToolContext, args: NarrativeArgs) -> dict[str, Any]:
    return await narratives.generate_narrative(
        ctx.db, ctx.principal, ai_services(ctx), args.traceId, args.mode
    )
