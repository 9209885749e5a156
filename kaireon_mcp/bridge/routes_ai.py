"""Handlers of /api/v1/ai/*: parse, authorise (done by ``endpoint``), call ``core.ai``, return JSON."""

from __future__ import annotations

from typing import Any

from kaireon_mcp.bridge import schemas as s
from kaireon_mcp.bridge.operations import Call, Operation
from kaireon_mcp.core.ai import analyzer_settings, conversations, parse_rule, recommendations
from kaireon_mcp.core.ai._rows import tenant_settings
from kaireon_mcp.core.ai.analyzers import AnalysisRequest, run_analysis
from kaireon_mcp.core.ai.ml_worker import worker_url
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.llm.providers import config_status
from kaireon_mcp.tools.registry import ScopePolicy, execute

__all__ = ["AI_OPERATIONS", "INTELLIGENCE_TOOLS"]

BASE = "/api/v1/ai"
INTELLIGENCE_TOOLS: frozenset[str] = frozenset(
    {
        "explainDecision",
        "compareOfferEligibility",
        "listCustomerSuppressions",
        "traceCustomerJourney",
        "analyzeQualificationFunnel",
        "analyzeContactPolicySuppression",
        "analyzePolicyConflicts",
        "analyzeOfferPerformance",
        "simulateRuleChange",
        "simulateFrequencyCapChange",
        "analyzeModelHealth",
        "explainModelScoring",
        "suggestModelImprovements",
        "detectModelDrift",
        "runHealthCheck",
        "analyzeCrossModule",
    }
)
TOOL_ALIASES = {"analyzeCrossModuleCorrelations": "analyzeCrossModule"}


async def _list_conversations(call: Call) -> Any:
    return await conversations.list_conversations(call.state.db, call.principal)


async def _create_conversation(call: Call) -> Any:
    body: s.ConversationCreate = call.body
    return 201, await conversations.create_conversation(call.state.db, call.principal, body.title)


async def _get_conversation(call: Call) -> Any:
    return await conversations.get_conversation(call.state.db, call.principal, call.path("id"))


async def _delete_conversation(call: Call) -> Any:
    return await conversations.delete_conversation(call.state.db, call.principal, call.path("id"))


async def _analyze(call: Call) -> Any:
    body: s.AnalyzeRequest = call.body
    request = AnalysisRequest(call.path("type"), body.schemaId, body.confirmed, body.preferredTier)
    return await run_analysis(call.state.db, call.principal, call.state.services, request)


async def _get_settings(call: Call) -> Any:
    return await analyzer_settings.get_settings(call.state.db, call.principal)


async def _put_settings(call: Call) -> Any:
    return await analyzer_settings.update_settings(call.state.db, call.principal, call.body)


async def _intelligence(call: Call) -> Any:
    body: s.IntelligenceRequest = call.body
    name = TOOL_ALIASES.get(body.tool, body.tool)
    if name not in INTELLIGENCE_TOOLS:
        raise ValidationError(f"unknown intelligence tool {body.tool!r}", field="tool")
    params = {k: v for k, v in body.params.items() if k != "tenantId"}
    ctx = call.state.tool_context(call.principal)
    return await execute(name, params, ctx, ScopePolicy(route="/"))


async def _parse_rule(call: Call) -> Any:
    body: s.ParseRuleRequest = call.body
    return await parse_rule.parse_rule(call.state.db, call.principal, call.state.services, body.text)


async def _list_recommendations(call: Call) -> Any:
    q: s.RecommendationQuery = call.query
    return await recommendations.list_recommendations(
        call.state.db, call.principal, q.type, q.status, q.limit
    )


async def _create_recommendation(call: Call) -> Any:
    rec = await recommendations.create_recommendation(call.state.db, call.principal, call.body)
    return 201, {"recommendation": rec}


async def _get_recommendation(call: Call) -> Any:
    rec = await recommendations.get_recommendation(call.state.db, call.principal, call.path("id"))
    return {"recommendation": rec}


async def _patch_recommendation(call: Call) -> Any:
    body: s.RecommendationPatch = call.body
    rec = await recommendations.set_status(call.state.db, call.principal, call.path("id"), body.status)
    return {"recommendation": rec}


async def _apply_recommendation(call: Call) -> Any:
    return await recommendations.apply_recommendation(call.state.db, call.principal, call.path("id"))


async def _ml_worker_status(call: Call) -> Any:
    async with call.state.db.tenant(call.principal) as repo:
        url = worker_url(await tenant_settings(repo), call.state.services.ml_worker.default_url)
    return (await call.state.services.ml_worker.health(url)).to_dict()


async def _config_status(call: Call) -> Any:
    return config_status(await call.state.services.provider(call.state.db, call.principal))


def _op(method: str, path: str, handler: Any, summary: str, **kw: Any) -> Operation:
    return Operation(method, BASE + path, handler, summary, **kw)


_RECS = {400: None, 404: None}
AI_OPERATIONS: list[Operation] = [
    _op("GET", "/conversations", _list_conversations, "List recent conversations (newest first, at most 50)",
        body_kind="none", responses={200: s.ConversationList}),
    _op("POST", "/conversations", _create_conversation, "Create a conversation", body=s.ConversationCreate,
        success=201, responses={201: s.Conversation}),
    _op("GET", "/conversations/{id}", _get_conversation, "A conversation with its messages",
        body_kind="none", responses={200: s.ConversationWithMessages, 404: None}),
    _op("DELETE", "/conversations/{id}", _delete_conversation, "Delete a conversation and its messages",
        min_role="editor", body_kind="none", responses={200: s.Deleted, 404: None}),
    _op("POST", "/analyze/{type}", _analyze, "Run the segments, policies or content analyzer",
        min_role="editor", limit="analysis", body=s.AnalyzeRequest,
        responses={200: s.OpenObject, 404: None, 503: None}),
    _op("GET", "/analyzer-settings", _get_settings, "Analyzer settings with defaults filled",
        body_kind="none", responses={200: s.OpenObject}),
    _op("PUT", "/analyzer-settings", _put_settings, "Partially update analyzer settings",
        min_role="admin", body_kind="raw", body=s.OpenObject, responses={200: s.OpenObject}),
    _op("POST", "/intelligence", _intelligence, "Dispatch one of the 16 intelligence tools",
        body=s.IntelligenceRequest, responses={200: s.OpenObject, 404: None, 409: None}),
    _op("POST", "/parse-rule", _parse_rule, "Natural language to proposed rules, policies and metrics",
        min_role="editor", limit="analysis", body=s.ParseRuleRequest, responses={200: s.ParseRuleResponse}),
    _op("GET", "/recommendations", _list_recommendations, "List AI recommendations (newest first)",
        body_kind="none", query=s.RecommendationQuery, responses={200: s.RecommendationList}),
    _op("POST", "/recommendations", _create_recommendation, "Create a recommendation", min_role="editor",
        body=s.RecommendationIn, success=201, responses={201: s.RecommendationEnvelope}),
    _op("GET", "/recommendations/{id}", _get_recommendation, "One recommendation", body_kind="none",
        responses={200: s.RecommendationEnvelope, 404: None}),
    _op("PATCH", "/recommendations/{id}", _patch_recommendation, "Change a recommendation's status",
        min_role="editor", body=s.RecommendationPatch, responses={200: s.RecommendationEnvelope, 404: None}),
    _op("POST", "/recommendations/{id}/apply", _apply_recommendation,
        "Create the recommended entity as a draft (400 if already applied)", min_role="admin",
        body_kind="none", responses={200: s.AppliedEntity, **_RECS}),
    _op("GET", "/ml-worker/status", _ml_worker_status, "Is the ML worker reachable", body_kind="none",
        responses={200: s.MLWorkerStatus}),
    _op("GET", "/config-status", _config_status, "Is the AI provider configured", body_kind="none",
        responses={200: s.ConfigStatus}),
]  # fmt: skip
