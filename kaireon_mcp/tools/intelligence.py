"""The 16 intelligence tools (tool-catalog.md section 2.10), also dispatched by /api/v1/ai/intelligence.

Thin adapters: validate, open one tenant transaction, call ``core.intelligence``. All are reads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from kaireon_mcp.core.intelligence import (
    conflicts,
    contacts,
    decisions,
    health,
    modeling,
    performance,
    population,
)
from kaireon_mcp.tools.common import repo_for
from kaireon_mcp.tools.registry import NoArgs, ToolContext, ToolInput, tool

PeriodArg = Literal["day", "week", "month"]
DF, DB, AL = "DF", "DB", "AL"


class ExplainArgs(ToolInput):
    customerId: str = Field(min_length=1)
    offerId: str | None = None
    decisionFlowKey: str | None = None
    channel: str | None = Field(None, description="channel id, name or type, e.g. email")


class CompareArgs(ToolInput):
    customerId: str = Field(min_length=1)
    offerIds: list[str] = Field(min_length=2, max_length=5)
    channel: str | None = None


class CustomerArgs(ToolInput):
    customerId: str = Field(min_length=1)


class JourneyArgs(CustomerArgs):
    limit: int = Field(20, ge=1, le=200)


class FunnelArgs(ToolInput):
    decisionFlowKey: str | None = None
    sampleSize: int = Field(population.FUNNEL_SAMPLE, ge=1, le=100_000, description="customers evaluated")


class SuppressionArgs(ToolInput):
    channel: str | None = None
    period: PeriodArg | None = None


class PerformanceArgs(ToolInput):
    period: PeriodArg | None = None
    limit: int = Field(20, ge=1, le=200)


class ProposedChange(BaseModel):
    field: str = Field(min_length=1, description="config key or condition field, e.g. value or customer.age")
    oldValue: Any = None
    newValue: Any = None


class RuleChangeArgs(ToolInput):
    ruleId: str = Field(min_length=1)
    proposedChange: ProposedChange


class CapChangeArgs(ToolInput):
    channel: str = Field(min_length=1)
    currentCap: int = Field(ge=0)
    newCap: int = Field(ge=0)
    period: PeriodArg


class ModelArgs(ToolInput):
    modelId: str = Field(min_length=1, description="model id or key")


class ModelCustomerArgs(ModelArgs):
    customerId: str = Field(min_length=1)


@tool(
    "explainDecision",
    title="Explain decision",
    module="ai",
    routes=[DF],
    description=(
        "Why a customer did or did not get each offer: dropping node, "
        "rule/policy and numbers, or rank and PRIE."
    ),
)
async def explain_decision(ctx: ToolContext, args: ExplainArgs) -> decisions.ExplainDecisionResult:
    async with repo_for(ctx) as repo:
        return await decisions.explain_decision(
            repo, args.customerId, offer_id=args.offerId, decision_flow_key=args.decisionFlowKey,
            channel=args.channel,
        )  # fmt: skip


@tool(
    "compareOfferEligibility",
    title="Compare offer eligibility",
    module="ai",
    routes=[DF],
    description=(
        "Side-by-side eligibility of 2-5 offers for a customer: rules, "
        "blocking policies, creatives, score, rank."
    ),
)
async def compare_offer_eligibility(
    ctx: ToolContext, args: CompareArgs
) -> decisions.CompareEligibilityResult:
    async with repo_for(ctx) as repo:
        return await decisions.compare_offer_eligibility(
            repo, args.customerId, args.offerIds, channel=args.channel
        )


@tool(
    "listCustomerSuppressions",
    title="List customer suppressions",
    module="ai",
    routes=[DF],
    description="Consent refusals and contact policies blocking a customer now: why, counts, when they lift.",
)
async def list_customer_suppressions(ctx: ToolContext, args: CustomerArgs) -> decisions.SuppressionsResult:
    async with repo_for(ctx) as repo:
        return await decisions.list_customer_suppressions(repo, args.customerId)


@tool(
    "traceCustomerJourney",
    title="Trace customer journey",
    module="ai",
    routes=[DF],
    description="A customer's recent interactions, journey enrollments, experiment arms and decisions.",
)
async def trace_customer_journey(ctx: ToolContext, args: JourneyArgs) -> decisions.JourneyTimeline:
    async with repo_for(ctx) as repo:
        return await decisions.trace_customer_journey(repo, args.customerId, limit=args.limit)


@tool(
    "analyzeQualificationFunnel",
    title="Analyze qualification funnel",
    module="ai",
    routes=[DF],
    description="Per-rule drop counts of a flow's qualification over the customer base; names the "
    "bottleneck rule.",
)
async def analyze_qualification_funnel(ctx: ToolContext, args: FunnelArgs) -> population.FunnelResult:
    async with repo_for(ctx) as repo:
        return await population.analyze_qualification_funnel(
            repo, decision_flow_key=args.decisionFlowKey, sample_size=args.sampleSize
        )


@tool(
    "analyzeContactPolicySuppression",
    title="Analyze contact policy suppression",
    module="ai",
    routes=[DF],
    description=(
        "How often contact policies suppress customers by rule type and channel per period; top policies."
    ),
)
async def analyze_suppression(ctx: ToolContext, args: SuppressionArgs) -> contacts.SuppressionAnalysis:
    async with repo_for(ctx) as repo:
        return await contacts.analyze_contact_policy_suppression(
            repo, channel=args.channel, period=args.period
        )


@tool(
    "analyzePolicyConflicts",
    title="Analyze policy conflicts",
    module="ai",
    routes=[DF, DB],
    description=(
        "Contradictory, shadowed or unreachable rules and policies, "
        "blocked mandatory offers, broken experiments."
    ),
)
async def analyze_policy_conflicts(ctx: ToolContext, args: NoArgs) -> conflicts.ConflictsResult:
    async with repo_for(ctx) as repo:
        return await conflicts.analyze_policy_conflicts(repo)


@tool(
    "analyzeOfferPerformance",
    title="Analyze offer performance",
    module="ai",
    routes=[DF, DB],
    description=(
        "Per-offer impressions, CTR, CVR, revenue vs previous period; top/bottom performers and actions."
    ),
)
async def analyze_offer_performance(
    ctx: ToolContext, args: PerformanceArgs
) -> performance.OfferPerformanceResult:
    async with repo_for(ctx) as repo:
        return await performance.analyze_offer_performance(repo, period=args.period, limit=args.limit)


@tool(
    "simulateRuleChange",
    title="Simulate rule change",
    module="ai",
    routes=[DF],
    description="Before/after reach of changing one condition of a qualification rule, on the customer base.",
)
async def simulate_rule_change(ctx: ToolContext, args: RuleChangeArgs) -> population.RuleChangeResult:
    change = args.proposedChange
    async with repo_for(ctx) as repo:
        return await population.simulate_rule_change(
            repo, args.ruleId, change.field, change.oldValue, change.newValue
        )


@tool(
    "simulateFrequencyCapChange",
    title="Simulate frequency cap change",
    module="ai",
    routes=[DF],
    description=(
        "Customers a new channel cap would unlock or newly suppress this period, and the fatigue risk."
    ),
)
async def simulate_cap_change(ctx: ToolContext, args: CapChangeArgs) -> contacts.CapChangeResult:
    async with repo_for(ctx) as repo:
        return await contacts.simulate_frequency_cap_change(
            repo, channel=args.channel, current_cap=args.currentCap, new_cap=args.newCap, period=args.period
        )


@tool(
    "analyzeModelHealth",
    title="Analyze model health",
    module="ai",
    routes=[AL],
    description="A model's metrics, AUC trend, feature importance, freshness, flows using it and a verdict.",
)
async def analyze_model_health(ctx: ToolContext, args: ModelArgs) -> modeling.ModelHealthResult:
    async with repo_for(ctx) as repo:
        return await modeling.analyze_model_health(repo, args.modelId)


@tool(
    "explainModelScoring",
    title="Explain model scoring",
    module="ai",
    routes=[AL],
    description="A customer's model score: raw score, percentile and signed per-feature contributions.",
)
async def explain_model_scoring(ctx: ToolContext, args: ModelCustomerArgs) -> modeling.ScoringExplanation:
    async with repo_for(ctx) as repo:
        return await modeling.explain_model_scoring(repo, args.modelId, args.customerId)


@tool(
    "suggestModelImprovements",
    title="Suggest model improvements",
    module="ai",
    routes=[AL],
    description="Missing and unused predictors, a better model type for the data volume, and "
    "hyperparameter fixes.",
)
async def suggest_model_improvements(ctx: ToolContext, args: ModelArgs) -> modeling.ImprovementsResult:
    async with repo_for(ctx) as repo:
        return await modeling.suggest_model_improvements(repo, args.modelId)


@tool(
    "detectModelDrift",
    title="Detect model drift",
    module="ai",
    routes=[AL],
    description="PSI/KS drift per predictor and of scores, calibration check and a recommended action.",
)
async def detect_model_drift(ctx: ToolContext, args: ModelArgs) -> modeling.DriftResult:
    async with repo_for(ctx) as repo:
        return await modeling.detect_model_drift(repo, args.modelId)


@tool(
    "runHealthCheck",
    title="Run health check",
    module="ai",
    routes=[DF, DB],
    description=(
        "Tenant health: models, conflicts, budget burn, suppression, "
        "stale entities, experiments (5-min cache)."
    ),
)
async def run_health_check(ctx: ToolContext, args: NoArgs) -> health.HealthCheckResult:
    async with repo_for(ctx) as repo:
        return await health.run_health_check(repo, redis_url=ctx.settings.redis_url)


@tool(
    "analyzeCrossModule",
    title="Analyze cross-module",
    module="ai",
    description=(
        "Cross-module insights (policy blocks top offer, weak model "
        "in live flow, zero-CVR spend) with actions."
    ),
)
async def analyze_cross_module(ctx: ToolContext, args: NoArgs) -> health.CrossModuleResult:
    async with repo_for(ctx) as repo:
        return await health.analyze_cross_module(repo)
