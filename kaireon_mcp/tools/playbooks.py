"""Playbook tools (tool-catalog.md 1.5, 2.12): ten multi-step operations over the primitives.

A mutating playbook is a dry run unless ``apply: true`` and returns the exact plan (the
primitive calls with their arguments, or the entity field changes). Apply runs that plan
through the primitive tools inside one shared transaction and writes one
``playbook.<name>`` audit entry in the same transaction, so everything (audit included)
commits or nothing does. In governed mode (``ctx.services["governed"]``, the HTTP MCP
registry) apply queues an ApprovalRequest carrying the plan instead of writing, and
:func:`run_approved` applies that stored plan once it is approved. Every call passes a
per-(tenant, playbook) sliding-window rate limit. All are general-route only.

``playbook_generate_dsar_export`` always applies and is not queued in governed mode: it
changes no business data (its one write is the audit entry) and a subject-access answer
is a legal obligation, not a change to review.
"""

from __future__ import annotations

import asyncio
import importlib
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from types import ModuleType
from typing import Any, Literal

from pydantic import Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from kaireon_mcp.core.models.lifecycle import can_transition
from kaireon_mcp.core.playbooks import dsar, health, narratives, policies, promotion, shadow, upgrade, weights
from kaireon_mcp.core.playbooks import qualification as qual
from kaireon_mcp.core.playbooks.bootstrap import CampaignSpec, plan_campaign
from kaireon_mcp.core.playbooks.plan import Step, ToolPort, run_plan, step
from kaireon_mcp.core.playbooks.ratelimit import SlidingWindowLimiter
from kaireon_mcp.errors import ForbiddenError, KaireonError, RateLimitedError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AlgorithmModel, ApprovalRequest, ContactPolicy, DecisionTrace, Offer
from kaireon_mcp.storage.types import utcnow
from kaireon_mcp.tools.common import AMBIENT_REPO, repo_for, shared_transaction
from kaireon_mcp.tools.registry import REGISTRY, ScopePolicy, ToolContext, ToolInput, execute, tool

MODULE = "playbooks"
PREFIX = "playbook_"
LIMITER = SlidingWindowLimiter()
LIMITER_SERVICE = "playbookLimiter"
GOVERNED_SERVICE = "governed"
#: nested primitive calls: the playbook itself was already scope-checked
NESTED_SCOPE = ScopePolicy(route="/")
APPROVAL_STAGES = [
    {"stageName": "Admin approval", "requiredRole": "admin", "ordinal": 0, "status": "pending"}
]
HEALTH_WINDOW_DAYS = 30
Mode = Literal["regulator", "agent", "customer"]
Obj = dict[str, Any]
ALL_MODES: list[Mode] = ["regulator", "agent", "customer"]


# ---- shared machinery ------------------------------------------------------------------------
class PlaybookInput(ToolInput):
    """Base of the playbook inputs (strict: unknown arguments are refused)."""


class ApplyInput(PlaybookInput):
    apply: bool = Field(False, description="commit; default dry run")


def short_name(name: str) -> str:
    return name[len(PREFIX) :] if name.startswith(PREFIX) else name


def tool_port(ctx: ToolContext) -> ToolPort:
    """Primitive tools as the core sees them: same checks as any caller, joined to ctx's transaction."""

    async def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return await execute(name, arguments, ctx, NESTED_SCOPE)

    return ToolPort(call=call, has=lambda name: name in REGISTRY)


def rate_limit(ctx: ToolContext, name: str) -> None:
    limiter = ctx.services.get(LIMITER_SERVICE)
    if not isinstance(limiter, SlidingWindowLimiter):
        limiter = LIMITER
    wait = limiter.acquire((ctx.tenant_id, name))
    if wait is not None:
        retry = max(1, math.ceil(wait))
        raise RateLimitedError(
            f"{name} allows {limiter.limit} calls per {limiter.window:g}s per tenant; retry in {retry}s",
            retryAfter=retry,
        )


def validate_plan(plan: list[Step]) -> None:
    """Check every planned call against its tool's input model, so a dry run shows a valid plan."""
    for index, item in enumerate(plan):
        spec = REGISTRY.get(item["tool"])
        if spec is None:
            raise KaireonError(f"this playbook needs the {item['tool']} tool, which is not available")
        try:
            spec.input_model.model_validate(item["arguments"])
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first.get("loc", ()))
            raise ValidationError(
                f"plan step {index + 1} ({item['tool']}): {path}: {first.get('msg')}", field=path or None
            ) from None


async def _queue(ctx: ToolContext, name: str, args: ApplyInput, plan: list[Step]) -> dict[str, Any]:
    """Governed mode: the plan waits for an admin's approval instead of being written."""
    payload = {"playbook": name, "arguments": args.model_dump(mode="json", by_alias=True), "plan": plan}
    async with repo_for(ctx) as repo:
        row = await repo.create(
            ApprovalRequest,
            {
                "entity_type": "playbook",
                "entity_name": name,
                "action": "update",
                "payload": payload,
                "stages": APPROVAL_STAGES,
                "requester_id": ctx.principal.actor,
                "requester_name": ctx.principal.user_name,
            },
        )
        return {"queued": True, "approvalId": row.id}


@asynccontextmanager
async def _unit(ctx: ToolContext) -> AsyncIterator[ToolContext]:
    """The caller's transaction when ctx already carries one (an approval being applied), else a new one."""
    if isinstance(ctx.services.get(AMBIENT_REPO), Repository):
        yield ctx
        return
    async with shared_transaction(ctx) as child:
        yield child


async def _commit(
    ctx: ToolContext, name: str, arguments: dict[str, Any], plan: list[Step], entity_id: str | None
) -> dict[str, Any]:
    """Run the plan and write the audit entry in one transaction (a failure rolls back all)."""
    async with _unit(ctx) as child:
        results = await run_plan(plan, tool_port(child).call)
        async with repo_for(child) as repo:
            entry = await repo.audit.record(
                f"playbook.{short_name(name)}",
                "playbook",
                entity_id,
                name,
                changes={"arguments": arguments, "plan": plan, "results": results},
            )
    return {"results": results, "auditId": entry.id}


async def run_approved(ctx: ToolContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a governed playbook's approved payload: the hook for approvals of entityType "playbook".

    Runs the stored plan (exactly what the approver reviewed, not a fresh plan) and writes the
    ``playbook.<name>`` audit entry, joining ctx's transaction when it carries one so the
    approval decision and the change commit together.
    """
    name = str(payload.get("playbook") or "")
    plan = [dict(item) for item in payload.get("plan") or []]
    if not name.startswith(PREFIX) or name not in REGISTRY:
        raise ValidationError(f"approval payload names no playbook ({name!r})", field="payload.playbook")
    validate_plan(plan)
    arguments = dict(payload.get("arguments") or {})
    return {"playbook": name, "applied": True, **await _commit(ctx, name, arguments, plan, None)}


async def finish(
    ctx: ToolContext,
    name: str,
    args: ApplyInput,
    plan: list[Step],
    report: dict[str, Any],
    entity_id: str | None = None,
) -> dict[str, Any]:
    """Dry run, governed queue or one-transaction apply, with the same plan in every answer."""
    out: dict[str, Any] = {
        "playbook": name,
        "dryRun": not args.apply,
        "applied": False,
        "plan": plan,
        **report,
    }
    if not args.apply:
        return out
    if ctx.services.get(GOVERNED_SERVICE):
        return {**out, **await _queue(ctx, name, args, plan)}
    if not plan:
        return {**out, "message": "nothing to change"}
    arguments = args.model_dump(mode="json", by_alias=True)
    return {**out, "applied": True, **await _commit(ctx, name, arguments, plan, entity_id)}


async def offer_names(repo: Repository, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    stmt = select(Offer.id, Offer.name).where(repo.tenant_filter(Offer), Offer.id.in_(sorted(ids)))
    return {oid: oname for oid, oname in (await repo.session.execute(stmt)).all()}


# ---- 2. arbitrate policy conflicts --------------------------------------------------------------
class ArbitrateIn(ApplyInput):
    policyIds: list[str] | None = Field(None, description="default: all active")


async def _policies(repo: Repository, ids: list[str] | None) -> tuple[list[Any], list[Any]]:
    """(analysed policies, every active policy) as core Policy objects."""
    active = [
        policies.policy_from_row(p.to_dict())
        for p in await repo.all(ContactPolicy, ContactPolicy.status == "active")
    ]
    if not ids:
        return active, active
    rows = [await repo.get(ContactPolicy, pid) for pid in dict.fromkeys(ids)]
    chosen = [policies.policy_from_row(r.to_dict()) for r in rows]
    extra = [p for p in chosen if p.id not in {a.id for a in active}]
    return chosen, active + extra


@tool(
    "playbook_arbitrate_policy_conflict",
    title="Arbitrate contact-policy conflicts",
    module=MODULE,
    write=True,
    description=(
        "Find clashing contact policies, propose a stricter-first priority order; apply:true sets it."
    ),
)
async def arbitrate_policy_conflict(ctx: ToolContext, args: ArbitrateIn) -> dict[str, Any]:
    name = "playbook_arbitrate_policy_conflict"
    rate_limit(ctx, name)
    async with repo_for(ctx) as repo:
        analysed, context = await _policies(repo, args.policyIds)
    conflicts = policies.detect_conflicts(analysed)
    proposal = policies.propose_order(analysed, conflicts, context)
    plan = policies.plan_updates(proposal)
    validate_plan(plan)
    report = {"policiesAnalysed": len(analysed), "conflicts": conflicts, "proposedOrder": proposal}
    return await finish(ctx, name, args, plan, report)


# ---- 3. explain a decision chain -------------------------------------------------------------
class ExplainChainIn(PlaybookInput):
    traceId: str = Field(min_length=1, description="trace or recommendation id")
    modes: list[Mode] = Field(default_factory=lambda: list(ALL_MODES), min_length=1)


async def _narrate(port: ToolPort, trace: dict[str, Any], modes: list[str], names: dict[str, str]) -> Obj:
    """The narrative tool per mode while it is available and enabled; the template otherwise.

    With LLM explanations enabled the tool audits each regulator narrative (its documented
    compliance side effect); with them disabled this playbook writes nothing at all.
    """
    out: Obj = {}
    use_tool = port.has("generateDecisionNarrative")
    for mode in dict.fromkeys(modes):
        if use_tool:
            try:
                out[mode] = await port.call(
                    "generateDecisionNarrative", {"traceId": trace["id"], "mode": mode}
                )
                continue
            except ForbiddenError:
                use_tool = False
        out[mode] = narratives.template(trace, mode, names)
    return out


@tool(
    "playbook_explain_decision_chain",
    title="Explain a decision chain",
    module=MODULE,
    description="Explain one decision trace for a regulator, an agent and the customer "
    "(funnel, drops, scores).",
)
async def explain_decision_chain(ctx: ToolContext, args: ExplainChainIn) -> dict[str, Any]:
    rate_limit(ctx, "playbook_explain_decision_chain")
    port = tool_port(ctx)
    trace = await port.call("getDecisionTrace", {"traceId": args.traceId})
    rows = (trace.get("scoringResults") or []) + (trace.get("selectedOffers") or [])
    async with repo_for(ctx) as repo:
        names = await offer_names(repo, {str(r.get("offerId")) for r in rows})
    return {
        "traceId": trace["id"],
        "customerId": trace.get("customerId"),
        "decisionFlowKey": trace.get("decisionFlowKey"),
        "funnel": trace.get("funnel"),
        "narratives": await _narrate(port, trace, list(args.modes), names),
    }


# ---- 5. rebuild offer qualification --------------------------------------------------------------
class RebuildQualificationIn(ApplyInput):
    offerId: str = Field(min_length=1)
    lookbackDays: int = Field(30, ge=1, le=365)


def _as_config_value(value: float, original: Any) -> Any:
    return int(value) if isinstance(original, int) and float(value).is_integer() else value


def _rule_step(rule: Any, suggestion: dict[str, Any]) -> Step:
    old = (rule.config or {}).get("value")
    new = _as_config_value(suggestion["suggested"], old)
    return step(
        "updateQualificationRule",
        {"ruleId": rule.id, "config": {**(rule.config or {}), "value": new}},
        entity_type="qualification_rule",
        entity_id=rule.id,
        changes={"config.value": {"from": old, "to": new}},
    )


async def _rule_report(
    repo: Repository, rule: Any, shown: dict[str, int], cache: dict[str, dict[str, float]]
) -> dict[str, Any]:
    config = rule.config or {}
    attribute, operator = qual.attribute_of(config), qual.operator_of(config)
    if attribute not in cache:
        cache[attribute] = await qual.customer_values(repo, sorted(shown), attribute)
    points = [qual.Point(v, shown[c]) for c, v in cache[attribute].items() if c in shown]
    current = float(config["value"])
    bands = qual.band_table(points, qual.quantile_edges([p.value for p in points])) if points else []
    return {
        "ruleId": rule.id,
        "name": rule.name,
        "attribute": attribute,
        "operator": operator,
        "current": config["value"],
        "customersWithValue": len(points),
        "bands": bands,
        **qual.suggest(points, operator, current),
    }


@tool(
    "playbook_rebuild_offer_qualification",
    title="Rebuild offer qualification",
    module=MODULE,
    write=True,
    description=(
        "Suggest new thresholds for an offer's numeric rules from conversion by band; apply:true updates."
    ),
)
async def rebuild_offer_qualification(ctx: ToolContext, args: RebuildQualificationIn) -> dict[str, Any]:
    name = "playbook_rebuild_offer_qualification"
    rate_limit(ctx, name)
    since = utcnow() - timedelta(days=args.lookbackDays)
    async with repo_for(ctx) as repo:
        offer = await repo.get(Offer, args.offerId)
        own, shared = await qual.offer_rules(repo, offer)
        shown = await qual.shown_customers(repo, offer.id, since)
        cache: dict[str, dict[str, float]] = {}
        reports = [await _rule_report(repo, rule, shown, cache) for rule in own]
    plan = [
        _rule_step(rule, rep)
        for rule, rep in zip(own, reports, strict=True)
        if rep["verdict"] in ("tighter", "looser")
    ]
    validate_plan(plan)
    report = {
        "offerId": offer.id,
        "offerName": offer.name,
        "since": since.isoformat(),
        "shownCustomers": len(shown),
        "conversions": sum(shown.values()),
        "rules": reports,
        "sharedRules": shared,
    }
    return await finish(ctx, name, args, plan, report, entity_id=offer.id)


# ---- 6. audit tenant data health ----------------------------------------------------------------
async def _schema_stats(port: ToolPort, schemas: list[Obj]) -> list[Obj]:
    return [await port.call("getSchemaStats", {"schemaId": s["id"]}) for s in schemas[: health.MAX_SCHEMAS]]


async def _dlq_rules(port: ToolPort, runs: list[Obj]) -> dict[str, int]:
    """Top quarantine rules of the worst latest run (getFlowRunErrors), for the finding text."""
    latest = [r for r in health.latest_runs(runs) if int(r.get("rowsFailed") or 0) > 0]
    if not latest or not port.has("getFlowRunErrors"):
        return {}
    worst = max(latest, key=lambda r: int(r.get("rowsFailed") or 0))
    errors = await port.call("getFlowRunErrors", {"runId": worst["id"], "limit": 1})
    by_rule = errors.get("byRule") or {}
    return dict(sorted(by_rule.items(), key=lambda kv: -int(kv[1])))


@tool(
    "playbook_audit_tenant_data_health",
    title="Audit tenant data health",
    module=MODULE,
    description="Score tenant data health 0-100: connectors, pipelines, schemas, DLQ backlog and "
    "trace coverage.",
)
async def audit_tenant_data_health(ctx: ToolContext, args: PlaybookInput) -> dict[str, Any]:
    rate_limit(ctx, "playbook_audit_tenant_data_health")
    port = tool_port(ctx)
    schemas = await health.collect_all(port, "listSchemas")
    runs = (await port.call("listFlowRuns", {"limit": 100})).get("items") or []
    areas = {
        "connectors": health.connectors_area(await health.collect_all(port, "listConnectors")),
        "pipelines": health.pipelines_area(await health.collect_all(port, "listPipelines")),
        "schemas": health.schemas_area(
            await _schema_stats(port, schemas), {s["id"]: s.get("name", s["id"]) for s in schemas}
        ),
        "dlqBacklog": health.dlq_area(runs, await _dlq_rules(port, runs)),
    }
    async with repo_for(ctx) as repo:
        counts = await health.coverage_counts(repo, utcnow() - timedelta(days=HEALTH_WINDOW_DAYS))
    areas["traceCoverage"] = {**health.coverage_area(counts), "window": counts}
    return {**health.overall(areas), "areas": areas}


# ---- 7. bootstrap a new offer campaign ------------------------------------------------------------
class BootstrapIn(ApplyInput):
    categoryName: str = Field(min_length=1, max_length=255)
    subCategoryName: str | None = None
    offer: Obj = Field(description="createOffer fields")
    channelId: str = Field(min_length=1)
    creative: Obj | None = Field(None, description="createCreative fields")
    qualificationRule: Obj | None = Field(None, description="createQualificationRule fields")
    journey: Obj | None = Field(None, description="createJourney fields; {} = skeleton")


@tool(
    "playbook_bootstrap_new_offer_campaign",
    title="Bootstrap an offer campaign",
    module=MODULE,
    write=True,
    description=(
        "Scaffold category, sub-category, offer, creative, optional rule and journey; apply:true creates all."
    ),
)
async def bootstrap_new_offer_campaign(ctx: ToolContext, args: BootstrapIn) -> dict[str, Any]:
    name = "playbook_bootstrap_new_offer_campaign"
    rate_limit(ctx, name)
    spec = CampaignSpec(
        category_name=args.categoryName,
        sub_category_name=args.subCategoryName,
        offer=args.offer,
        channel_id=args.channelId,
        creative=args.creative,
        qualification_rule=args.qualificationRule,
        journey=args.journey,
    )
    async with repo_for(ctx) as repo:
        planned = await plan_campaign(repo, spec)
    validate_plan(planned.steps)
    report = {"reused": planned.reused, "warnings": planned.warnings}
    return await finish(ctx, name, args, planned.steps, report)


# ---- 8. simulate a weight change --------------------------------------------------------------------
class SimulateWeightsIn(PlaybookInput):
    weights: dict[str, float] = Field(
        description="propensity/relevance/impact/emphasis or conversion/recency/margin/fairness"
    )
    decisionFlowKey: str | None = None
    traceLimit: int = Field(500, ge=1, le=5000)


async def _recent_scoring(repo: Repository, flow_key: str | None, limit: int) -> list[Obj]:
    stmt = select(DecisionTrace.id, DecisionTrace.scoring_results).where(repo.tenant_filter(DecisionTrace))
    if flow_key:
        stmt = stmt.where(DecisionTrace.decision_flow_key == flow_key)
    stmt = stmt.order_by(DecisionTrace.created_at.desc(), DecisionTrace.id).limit(limit)
    return [
        {"id": tid, "scoringResults": rows or []} for tid, rows in (await repo.session.execute(stmt)).all()
    ]


@tool(
    "playbook_simulate_weight_change",
    title="Simulate a weight change",
    module=MODULE,
    description="Replay recent traces under new PRIE weights; list offers gaining or losing top picks.",
)
async def simulate_weight_change(ctx: ToolContext, args: SimulateWeightsIn) -> dict[str, Any]:
    rate_limit(ctx, "playbook_simulate_weight_change")
    parsed = weights.parse_weights(args.weights)
    async with repo_for(ctx) as repo:
        traces = await _recent_scoring(repo, args.decisionFlowKey, args.traceLimit)
        ids = {str(r.get("offerId")) for t in traces for r in t["scoringResults"]}
        names = await offer_names(repo, ids)
    return {"decisionFlowKey": args.decisionFlowKey, **weights.simulate(traces, parsed, names)}


# ---- 10. DSAR export ----------------------------------------------------------------------------------
class DsarIn(PlaybookInput):
    customerId: str = Field(min_length=1, max_length=128)
    from_: str | None = Field(None, alias="from", description="ISO date or date-time")
    to: str | None = Field(None, description="ISO date (whole day) or date-time")


def parse_bound(value: str | None, field: str, *, end: bool) -> datetime | None:
    """ISO date or datetime as UTC; a bare date covers its whole day (start or end)."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).date()
            return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"{field} must be an ISO date or date-time", field=field) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@tool(
    "playbook_generate_dsar_export",
    title="Generate a DSAR export",
    module=MODULE,
    write=True,
    description=(
        "GDPR Art. 15 export for one customer: profile, interactions, traces, consent, journeys; audited."
    ),
)
async def generate_dsar_export(ctx: ToolContext, args: DsarIn) -> dict[str, Any]:
    name = "playbook_generate_dsar_export"
    rate_limit(ctx, name)
    start = parse_bound(args.from_, "from", end=False)
    end = parse_bound(args.to, "to", end=True)
    if start and end and start > end:
        raise ValidationError("from must not be after to", field="from")
    async with repo_for(ctx) as repo:
        bundle = await dsar.collect(repo, args.customerId, start, end)
        entry = await repo.audit.record(
            f"playbook.{short_name(name)}",
            "customer",
            args.customerId,
            name,
            changes={"counts": bundle["counts"], "period": bundle["period"]},
        )
    return {"playbook": name, "applied": True, "auditId": entry.id, **bundle}


# ---- 1. shadow experiment ------------------------------------------------------------------------
class ShadowIn(ApplyInput):
    challengerModelId: str = Field(min_length=1)
    championModelId: str | None = Field(None, description="default: family champion")
    traceLimit: int = Field(500, ge=1, le=5000)


def _shadow_plan(challenger: Any) -> tuple[list[Step], str | None]:
    if challenger.registry_status == "shadow":
        return [], "the challenger is already in shadow"
    if not can_transition(challenger.registry_status, "shadow"):
        return [], f"invalid_transition: {challenger.registry_status} -> shadow"
    reason = "shadow challenger set up by playbook_run_shadow_experiment"
    return [
        step("promoteModel", {"modelId": challenger.id, "targetStatus": "shadow", "reason": reason})
    ], None


@tool(
    "playbook_run_shadow_experiment",
    title="Run a shadow experiment",
    module=MODULE,
    write=True,
    description=(
        "Replay recent decisions, champion vs challenger model: AUC uplift, verdict; apply:true shadows it."
    ),
)
async def run_shadow_experiment(ctx: ToolContext, args: ShadowIn) -> dict[str, Any]:
    name = "playbook_run_shadow_experiment"
    rate_limit(ctx, name)
    async with repo_for(ctx) as repo:
        champion, challenger = await shadow.resolve_models(repo, args.challengerModelId, args.championModelId)
        samples, traces = await shadow.load_samples(repo, args.traceLimit)
    comparison = shadow.compare(champion, challenger, samples)
    plan, note = _shadow_plan(challenger)
    validate_plan(plan)
    report = {"tracesReplayed": traces, **comparison, **({"note": note} if note else {})}
    return await finish(ctx, name, args, plan, report, entity_id=challenger.id)


# ---- 4. promote the challenger if it wins -------------------------------------------------------------
class PromoteIfWinningIn(ApplyInput):
    experimentId: str = Field(min_length=1)
    minUplift: float = Field(0.02, ge=0, le=1, description="absolute conversion-rate uplift")
    alpha: float = Field(0.05, gt=0, lt=1)


async def _promotion_blockers(repo: Repository, model_id: str, champion_id: str | None) -> list[str]:
    candidate = await repo.get(AlgorithmModel, model_id)
    incumbent = await repo.find(AlgorithmModel, id=champion_id) if champion_id else None
    return promotion.blockers(candidate, incumbent)


@tool(
    "playbook_promote_challenger_if_winning",
    title="Promote a winning challenger",
    module=MODULE,
    write=True,
    description=(
        "Z-test an experiment's challenger; apply:true promotes it if uplift >= minUplift and p < alpha."
    ),
)
async def promote_challenger_if_winning(ctx: ToolContext, args: PromoteIfWinningIn) -> dict[str, Any]:
    name = "playbook_promote_challenger_if_winning"
    rate_limit(ctx, name)
    results = await tool_port(ctx).call("getExperimentResults", {"experimentId": args.experimentId})
    tests, winner = promotion.pick_winner(results, args.minUplift, args.alpha)
    blocked: list[str] = []
    if winner is not None:
        champion_id = next(
            (a.get("modelId") for a in results.get("arms") or [] if a.get("arm") == "champion"), None
        )
        async with repo_for(ctx) as repo:
            blocked = await _promotion_blockers(repo, str(winner["modelId"]), champion_id)
    verdict, reason = promotion.decide(tests, winner, blocked)
    plan = (
        promotion.plan_promotion(winner, str(results.get("key"))) if verdict == "promote" and winner else []
    )
    validate_plan(plan)
    report = {
        "experimentId": args.experimentId,
        "thresholds": {"minUplift": args.minUplift, "alpha": args.alpha},
        "tests": tests,
        "arms": results.get("arms"),
        "verdict": verdict,
        "reason": reason,
    }
    return await finish(ctx, name, args, plan, report, entity_id=args.experimentId)


# ---- 9. explain an algorithm upgrade -----------------------------------------------------------------
class UpgradeIn(PlaybookInput):
    modelId: str = Field(min_length=1)


def _algorithms() -> ModuleType | None:
    try:
        return importlib.import_module("kaireon_mcp.core.algorithms")
    except ImportError:
        return None


async def _training_rows(repo: Repository, model: Any) -> tuple[list[Obj], list[str], str] | str:
    """The labelled rows trainModel would train on, or why they cannot be built here.

    Reuses the algorithms module's own data builder, feature-detected because it is that
    module's internal API, so the projection is measured on exactly trainModel's training set.
    """
    algorithms = _algorithms()
    names = ("_labelled_sample", "_feature_fields", "training_schema", "LABEL", "DEFAULT_SAMPLE_LIMIT")
    if algorithms is None or not all(hasattr(algorithms, n) for n in names):
        return "trainModel's training-data builder is not available in this build"
    builder, features, label = algorithms._labelled_sample, algorithms._feature_fields, algorithms.LABEL
    schema = await algorithms.training_schema(repo, model)
    if schema is None:
        return "no customer schema to train on"
    try:
        fields = await features(repo, model, schema)
    except ValidationError as exc:
        return exc.message
    rows, _ = await builder(repo, schema, model.target_field, algorithms.DEFAULT_SAMPLE_LIMIT)
    return rows, fields, str(label)


async def _projection(repo: Repository, model: Any, candidate: str) -> dict[str, Any]:
    built = await _training_rows(repo, model)
    if isinstance(built, str):
        return {"available": False, "reason": built}
    rows, fields, label = built
    try:
        return await asyncio.to_thread(upgrade.projected_gain, model, candidate, rows, label, fields)
    except ValidationError as exc:
        return {"available": False, "reason": exc.message}


@tool(
    "playbook_explain_algorithm_upgrade",
    title="Explain an algorithm upgrade",
    module=MODULE,
    description="Propose a model's next algorithm from its evidence, with a measured projected AUC gain.",
)
async def explain_algorithm_upgrade(ctx: ToolContext, args: UpgradeIn) -> dict[str, Any]:
    rate_limit(ctx, "playbook_explain_algorithm_upgrade")
    async with repo_for(ctx) as repo:
        model = await repo.get(AlgorithmModel, args.modelId)
        responses = await upgrade.labelled_responses(repo)
        evidence = max(model.training_samples or 0, responses)
        proposal = upgrade.propose(model.model_type, evidence)
        gain = await _projection(repo, model, proposal["candidate"]) if proposal["candidate"] else None
    return {
        "modelId": model.id,
        "modelType": model.model_type,
        "evidence": {
            "trainingSamples": model.training_samples,
            "labelledResponses": responses,
            "used": evidence,
        },
        "ladder": [{"modelType": t, "minOutcomes": n} for t, n in upgrade.LADDER],
        "proposedModelType": proposal["candidate"],
        "reason": proposal["reason"],
        "projection": gain,
        "explanation": upgrade.explain(model, evidence, proposal, gain),
    }
