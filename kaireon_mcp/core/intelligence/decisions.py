"""Customer-level explanations: explainDecision, compareOfferEligibility, listCustomerSuppressions,
traceCustomerJourney.

Every answer here is the pipeline's own computation. ``explained_decision`` runs ``decide()``
(the side-effect-free half of ``recommend()``) with an ``explain_all`` engine and a request
limit of 50, so every survivor is scored and ranked, then marks the ones a real request would
have cut. Suppressions run ``evaluate_policies`` on the same state and candidate views the
contact-policy node builds. Nothing is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from kaireon_mcp.core.contact_policy import PolicySpec, evaluate_policies
from kaireon_mcp.core.decisioning import consent
from kaireon_mcp.core.decisioning.engine import MAX_LIMIT, Engine
from kaireon_mcp.core.decisioning.flows import ResolvedFlow
from kaireon_mcp.core.decisioning.nodes import _mandatory_active
from kaireon_mcp.core.decisioning.recommend import Decision, decide
from kaireon_mcp.core.decisioning.state import Candidate, DecisionState
from kaireon_mcp.core.intelligence.common import as_utc, require_customer
from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    DecisionTrace,
    Experiment,
    Interaction,
    Journey,
    JourneyEnrollment,
    VariantAssignment,
)
from kaireon_mcp.storage.types import utcnow

DEFAULT_REQUEST_LIMIT = 5
EXPLAIN_LIMIT = MAX_LIMIT
#: stages whose drop means "not eligible" (later stages only cut eligible offers by rank/slots)
INELIGIBLE_STAGES = frozenset(
    {"schedule", "match_creatives", "qualification", "consent", "contact_policy", "filter"}
)


# ---- output models --------------------------------------------------------------------------
class OfferTrace(BaseModel):
    """What happened to one offer in the decision."""

    offerId: str
    offerName: str
    outcome: str = Field(description="selected | ranked_out | dropped | not_loaded")
    stage: str | None = None
    nodeId: str | None = None
    reason: str | None = None
    rank: int | None = None
    score: float | None = None
    factors: dict[str, float] = Field(default_factory=dict)
    fitMultiplier: float | None = None
    ruleId: str | None = None
    ruleName: str | None = None
    policyId: str | None = None
    policyName: str | None = None
    ruleType: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    passedNodes: list[str] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list, description="each rule/policy evaluated, in order")
    #: full evaluator records; kept for the eligibility report, left out of the tool output
    qualification: list[dict[str, Any]] = Field(default_factory=list, exclude=True)
    policies: list[dict[str, Any]] = Field(default_factory=list, exclude=True)

    def model_post_init(self, _context: Any) -> None:
        self.checks = [_check_line(r, "ruleName", not r.get("passed")) for r in self.qualification] + [
            _check_line(r, "policyName", bool(r.get("blocked"))) for r in self.policies
        ]


def _check_line(result: dict[str, Any], name_key: str, failed: bool) -> str:
    reason = str(result.get("reason", ""))
    verdict = "FAIL" if failed else "skip" if reason.startswith("skipped") else "pass"
    return f"{verdict} {result.get(name_key)}: {reason}"


class ExplainDecisionResult(BaseModel):
    customerId: str
    channel: str | None = None
    decisionFlowKey: str | None = None
    flowVersion: int | None = None
    summary: str
    offers: list[OfferTrace]
    funnel: dict[str, int] = Field(default_factory=dict)
    stages: list[dict[str, Any]] = Field(default_factory=list)
    experimentAssignment: dict[str, Any] | None = None
    controlGroup: bool = False
    durationMs: float = 0.0
    hint: str | None = None


class EligibilityRow(BaseModel):
    """One offer in the eligibility report shape (decisioning-core.md section 2.19)."""

    offerId: str
    offerName: str
    eligible: bool
    primaryReason: str
    stage: str | None = None
    score: float | None = None
    rank: int | None = None
    scheduleBlocked: bool = False
    scheduleReason: str | None = None
    qualificationPassed: bool | None = None
    failedRules: list[dict[str, Any]] = Field(default_factory=list)
    passedRules: list[dict[str, Any]] = Field(default_factory=list)
    consentBlocked: bool | None = None
    consent: dict[str, Any] | None = Field(
        default=None, description="the blocking purpose, its status and source (record|attribute)"
    )
    contactPolicyBlocked: bool | None = None
    blockedPolicies: list[dict[str, Any]] = Field(default_factory=list)
    hasCreatives: bool = False
    creativeCount: int = 0


class CompareEligibilityResult(BaseModel):
    customerId: str
    channel: str | None = None
    offers: list[EligibilityRow]
    summary: dict[str, int]
    bestOfferId: str | None = None
    verdict: str


class Suppression(BaseModel):
    policyId: str
    policyName: str
    ruleType: str
    scope: str
    scopeId: str | None = None
    reason: str
    resetsAt: str | None = None
    count: int | None = None
    limit: int | None = None
    window: str | None = None
    blockedOffers: int
    channels: list[str]


class ConsentSuppression(BaseModel):
    """A purpose whose consent is not granted, and the offer/channel pairs it blocks."""

    purpose: str
    status: str
    source: str = Field(description="record | attribute")
    reason: str
    detail: dict[str, Any]
    blockedOffers: int
    channels: list[str]


class SuppressionsResult(BaseModel):
    customerId: str
    evaluatedAt: str
    suppressions: list[Suppression]
    consent: list[ConsentSuppression] = Field(
        default_factory=list, description="purposes not consented to, checked before contact policies"
    )
    blockedOfferChannels: int
    totalOfferChannels: int
    summary: str
    hint: str | None = None


class JourneyTimeline(BaseModel):
    customerId: str
    timeline: list[dict[str, Any]]
    journeys: list[dict[str, Any]]
    experiments: list[dict[str, Any]]
    recentDecisions: list[dict[str, Any]]
    counts: dict[str, int]
    firstSeen: str | None = None
    lastSeen: str | None = None
    hint: str | None = None


# ---- running the pipeline -------------------------------------------------------------------
class _RecordingEngine(Engine):
    """The engine unchanged, except that it remembers the node list ``decide()`` resolved."""

    resolved: ResolvedFlow | None = None

    async def resolve(self, state: DecisionState, *, create_base: bool) -> ResolvedFlow:
        self.resolved = await super().resolve(state, create_base=create_base)
        return self.resolved


@dataclass
class Explained:
    engine: _RecordingEngine
    decision: Decision
    cutoff: int

    @property
    def state(self) -> DecisionState:
        return self.decision.state


def real_cutoff(engine: Engine, nodes: list[dict[str, Any]], request_limit: int) -> int:
    """How many offers a normal (non-explain) request would keep: the rank node's
    ``maxCandidates``, the request limit, the tenant's ``maxOffersPerDecision`` and 50."""
    tenant_cap = int(engine.catalog.settings.get("maxOffersPerDecision") or MAX_LIMIT)
    cutoff = min(request_limit, tenant_cap, MAX_LIMIT)
    for node in nodes:
        if node.get("type") == "rank":
            cutoff = min(cutoff, int((node.get("config") or {}).get("maxCandidates", 5)))
    return max(cutoff, 0)


async def explained_decision(
    repo: Repository,
    customer_id: str,
    *,
    channel: str | None = None,
    decision_flow_key: str | None = None,
    now: datetime | None = None,
) -> Explained:
    """``decide()`` for one customer with every survivor scored and ranked; writes nothing."""
    await require_customer(repo, customer_id)
    engine = await _RecordingEngine.load(repo, explain_all=True)
    assert isinstance(engine, _RecordingEngine)
    request: dict[str, Any] = {"customerId": customer_id, "limit": EXPLAIN_LIMIT}
    if channel:
        if engine.catalog.channel_by_ref(channel) is None:
            raise NotFoundError(f"channel {channel!r} not found", field="channel")
        request["channel"] = channel
    if decision_flow_key:
        request["decisionFlowKey"] = decision_flow_key
    decision = await decide(engine, request, now=now or utcnow(), create_base=False)
    nodes = engine.resolved.nodes if engine.resolved else []
    return Explained(engine, decision, real_cutoff(engine, nodes, DEFAULT_REQUEST_LIMIT))


def _node_order(state: DecisionState) -> list[str]:
    return [str(s.get("nodeId")) for s in state.stages]


def _passed_until(order: list[str], node_id: str | None) -> list[str]:
    return order[: order.index(node_id)] if node_id in order else []


def _selected(cand: Candidate, cutoff: int, order: list[str]) -> OfferTrace:
    ranked_out = cand.rank > cutoff
    return OfferTrace(
        offerId=cand.offer_id,
        offerName=cand.name,
        outcome="ranked_out" if ranked_out else "selected",
        stage="ranking" if ranked_out else None,
        reason=f"ranked {cand.rank}, below the top {cutoff} a request returns" if ranked_out else None,
        rank=cand.rank,
        score=round(cand.score, 6),
        factors={k: round(float(v), 6) for k, v in cand.factors.items() if isinstance(v, int | float)},
        fitMultiplier=round(cand.fit_multiplier, 6),
        passedNodes=order,
        qualification=cand.qualification,
        policies=cand.policies,
    )


def _for_offer(results: list[dict[str, Any]], offer_id: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "offerId"} for r in results if r.get("offerId") == offer_id]


def _dropped(drop: dict[str, Any], state: DecisionState, order: list[str]) -> OfferTrace:
    offer_id = str(drop["offerId"])
    trace = OfferTrace(
        offerId=offer_id,
        offerName=str(drop.get("offerName", "")),
        outcome="dropped",
        stage=drop.get("stage"),
        nodeId=drop.get("nodeId"),
        reason=drop.get("reason"),
        ruleId=drop.get("ruleId"),
        ruleName=drop.get("ruleName"),
        policyId=drop.get("policyId"),
        policyName=drop.get("policyName"),
        ruleType=drop.get("ruleType"),
        detail=dict(drop.get("detail") or {}),
        passedNodes=_passed_until(order, drop.get("nodeId")),
        qualification=_for_offer(state.qualification_results, offer_id),
        policies=_for_offer(state.contact_policy_results, offer_id),
    )
    if trace.stage == "consent":
        trace.checks.append(f"FAIL consent {trace.detail.get('purpose')}: {trace.reason}")
    return trace


def _not_loaded(offer: dict[str, Any]) -> OfferTrace:
    status = offer.get("status")
    why = (
        f"offer status is {status}; inventory loads active offers only"
        if status != "active"
        else "excluded by the flow's inventory scope or emergency exclusion"
    )
    return OfferTrace(
        offerId=offer["id"],
        offerName=offer.get("name", ""),
        outcome="not_loaded",
        stage="inventory",
        reason=why,
    )


def offer_traces(explained: Explained) -> list[OfferTrace]:
    """One trace per catalog offer: selected/ranked first (by rank), then drops, then unloaded."""
    state = explained.state
    order = _node_order(state)
    traces = [_selected(c, explained.cutoff, order) for c in sorted(state.candidates, key=lambda c: c.rank)]
    seen = {t.offerId for t in traces}
    for drop in state.dropped:
        if drop["offerId"] not in seen:
            traces.append(_dropped(drop, state, order))
            seen.add(drop["offerId"])
    for offer in explained.engine.catalog.offers.values():
        if offer["id"] not in seen and not offer.get("deletedAt"):
            traces.append(_not_loaded(offer))
    return traces


def _channel_label(state: DecisionState) -> str | None:
    return state.channel["name"] if state.channel else None


def _drop_label(trace: OfferTrace) -> str:
    if trace.stage == "consent":
        return f"consent for purpose '{trace.detail.get('purpose')}'"
    who = trace.policyName or trace.ruleName or trace.nodeId or "?"
    return f"{trace.stage} '{who}'"


def _detail_text(trace: OfferTrace) -> str:
    detail = trace.detail
    parts = []
    if "count" in detail and "limit" in detail:
        parts.append(f"{detail['count']} of {detail['limit']} per {detail.get('window')}")
    if detail.get("resetsAt"):
        parts.append(f"lifts {detail['resetsAt']}")
    return f" ({', '.join(parts)})" if parts else ""


def summarize(customer_id: str, state: DecisionState, traces: list[OfferTrace]) -> str:
    """One sentence an agent can quote: how many offers, and the dominant reasons for the rest."""
    where = f" on {_channel_label(state)}" if state.channel else ""
    selected = [t for t in traces if t.outcome == "selected"]
    loaded = [t for t in traces if t.outcome != "not_loaded"]
    head = f"{customer_id}{where}: {len(selected)} of {len(loaded)} offers selected"
    if selected:
        head += " (top: " + ", ".join(f"#{t.rank} {t.offerName}" for t in selected[:3]) + ")"
    drops = Counter(_drop_label(t) for t in traces if t.outcome == "dropped")
    if not drops:
        return head + "."
    first = {_drop_label(t): t for t in reversed(traces) if t.outcome == "dropped"}
    reasons = []
    for label, count in drops.most_common(3):
        example = first[label]
        reasons.append(f"{count} dropped at {label}: {example.reason}{_detail_text(example)}")
    return head + "; " + "; ".join(reasons) + "."


async def explain_decision(
    repo: Repository,
    customer_id: str,
    *,
    offer_id: str | None = None,
    decision_flow_key: str | None = None,
    channel: str | None = None,
    now: datetime | None = None,
) -> ExplainDecisionResult:
    explained = await explained_decision(
        repo, customer_id, channel=channel, decision_flow_key=decision_flow_key, now=now
    )
    state = explained.state
    if offer_id and offer_id not in explained.engine.catalog.offers:
        raise NotFoundError(f"offer {offer_id!r} not found", field="offerId")
    traces = offer_traces(explained)
    summary = summarize(customer_id, state, traces)
    if offer_id:
        traces = [t for t in traces if t.offerId == offer_id]
        summary = _offer_verdict(customer_id, traces[0]) + " " + summary
    hint = None if explained.engine.catalog.offers else "This tenant has no offers yet; create offers first."
    return ExplainDecisionResult(
        customerId=customer_id,
        channel=_channel_label(state),
        decisionFlowKey=state.flow.get("key"),
        flowVersion=state.flow.get("version"),
        summary=summary,
        offers=traces,
        funnel=state.funnel,
        stages=[{k: s.get(k) for k in ("nodeId", "type", "in", "out")} for s in state.stages],
        experimentAssignment=state.experiment_assignment,
        controlGroup=state.control_group,
        durationMs=explained.decision.duration_ms,
        hint=hint,
    )


def _offer_verdict(customer_id: str, trace: OfferTrace) -> str:
    if trace.outcome == "selected":
        return f"{trace.offerName} is returned to {customer_id} at rank {trace.rank} (score {trace.score})."
    if trace.outcome == "ranked_out":
        return f"{trace.offerName} is eligible but {trace.reason}."
    if trace.outcome == "not_loaded":
        return f"{trace.offerName} is not considered: {trace.reason}."
    return (
        f"{trace.offerName} is dropped at node {trace.nodeId} ({trace.stage}): "
        f"{trace.reason}{_detail_text(trace)}."
    )


# ---- eligibility comparison -----------------------------------------------------------------
def _rule_rows(explained: Explained, results: list[dict[str, Any]], passed: bool) -> list[dict[str, Any]]:
    scopes = {r.id: r.scope for r in explained.engine.catalog.rules}
    return [
        {
            "ruleId": r.get("ruleId"),
            "ruleName": r.get("ruleName"),
            "ruleType": r.get("ruleType"),
            "scope": scopes.get(str(r.get("ruleId"))),
            "eligible": bool(r.get("passed")),
            "reason": r.get("reason"),
        }
        for r in results
        if bool(r.get("passed")) is passed
    ]


def _creative_count(explained: Explained, offer_id: str) -> int:
    channel = explained.state.channel
    return sum(
        1
        for c in explained.engine.catalog.creatives_by_offer.get(offer_id, [])
        if c.get("status") == "active" and (channel is None or c.get("channelId") == channel["id"])
    )


def _blocked_policies(trace: OfferTrace) -> list[dict[str, Any]]:
    """The blocking policy's record; hard constraints (budget, caps) have no policy id."""
    blocked = [p for p in trace.policies if p.get("blocked")]
    if blocked or not trace.policyId:
        return blocked
    keys = ("policyId", "policyName", "ruleType", "reason", "detail")
    return [{k: getattr(trace, k) for k in keys}]


def eligibility_row(explained: Explained, trace: OfferTrace) -> EligibilityRow:
    """The section 2.19 row from the pipeline's trace of this offer."""
    reached_qualify = trace.stage not in {"schedule", "match_creatives", "inventory"}
    reached_consent = reached_qualify and trace.stage != "qualification"
    reached_policy = reached_consent and trace.stage != "consent"
    blocked_by_consent = trace.stage == "consent"
    eligible = trace.outcome in {"selected", "ranked_out"} or (
        trace.outcome == "dropped" and trace.stage not in INELIGIBLE_STAGES
    )
    count = _creative_count(explained, trace.offerId)
    return EligibilityRow(
        offerId=trace.offerId,
        offerName=trace.offerName,
        eligible=eligible,
        primaryReason=trace.reason or (f"returned at rank {trace.rank}" if trace.rank else "eligible"),
        stage=trace.stage,
        score=trace.score,
        rank=trace.rank,
        scheduleBlocked=trace.stage == "schedule",
        scheduleReason=trace.reason if trace.stage == "schedule" else None,
        qualificationPassed=(trace.stage != "qualification") if reached_qualify else None,
        failedRules=_rule_rows(explained, trace.qualification, passed=False),
        passedRules=_rule_rows(explained, trace.qualification, passed=True),
        consentBlocked=blocked_by_consent if reached_consent else None,
        consent=dict(trace.detail) if blocked_by_consent else None,
        contactPolicyBlocked=(trace.stage == "contact_policy") if reached_policy else None,
        blockedPolicies=_blocked_policies(trace),
        hasCreatives=count > 0,
        creativeCount=count,
    )


def _eligibility_summary(rows: list[EligibilityRow]) -> dict[str, int]:
    return {
        "totalOffers": len(rows),
        "eligibleCount": sum(r.eligible for r in rows),
        "ineligibleCount": sum(not r.eligible for r in rows),
        "failedQualification": sum(r.qualificationPassed is False for r in rows),
        "blockedByConsent": sum(bool(r.consentBlocked) for r in rows),
        "blockedByContactPolicy": sum(bool(r.contactPolicyBlocked) for r in rows),
        "blockedBySchedule": sum(r.scheduleBlocked for r in rows),
        "noCreatives": sum(not r.hasCreatives for r in rows),
    }


async def compare_offer_eligibility(
    repo: Repository,
    customer_id: str,
    offer_ids: list[str],
    *,
    channel: str | None = None,
    now: datetime | None = None,
) -> CompareEligibilityResult:
    if not 2 <= len(set(offer_ids)) <= 5:
        raise ValidationError("offerIds needs 2 to 5 distinct offer ids", field="offerIds")
    explained = await explained_decision(repo, customer_id, channel=channel, now=now)
    missing = [o for o in offer_ids if o not in explained.engine.catalog.offers]
    if missing:
        raise NotFoundError(f"offer {missing[0]!r} not found", field="offerIds")
    traces = {t.offerId: t for t in offer_traces(explained)}
    rows = [eligibility_row(explained, traces[o]) for o in dict.fromkeys(offer_ids)]
    ranked = sorted((r for r in rows if r.eligible and r.rank), key=lambda r: r.rank or 0)
    best = ranked[0] if ranked else None
    verdict = (
        f"{best.offerName} wins (rank {best.rank}, score {best.score}); "
        if best
        else "None of these offers is eligible; "
    ) + "; ".join(f"{r.offerName}: {r.primaryReason}" for r in rows if r is not best)
    return CompareEligibilityResult(
        customerId=customer_id,
        channel=_channel_label(explained.state),
        offers=rows,
        summary=_eligibility_summary(rows),
        bestOfferId=best.offerId if best else None,
        verdict=verdict,
    )


# ---- suppressions ---------------------------------------------------------------------------
def _pairs(engine: Engine) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(offer, creative) for every active offer's active creative: the candidates a request
    on that creative's channel would put in front of the contact-policy node."""
    return [
        (offer, creative)
        for offer in engine.catalog.offers.values()
        if offer.get("status") == "active"
        for creative in engine.catalog.creatives_by_offer.get(offer["id"], [])
        if creative.get("status") == "active"
    ]


@dataclass
class _Block:
    policy: PolicySpec
    result: dict[str, Any]
    offers: set[str]
    channels: set[str]
    resets: list[str]


def _record(
    blocks: dict[str, _Block], policy: PolicySpec, result: dict[str, Any], offer: str, chan: str
) -> None:
    block = blocks.setdefault(policy.id, _Block(policy, result, set(), set(), []))
    block.offers.add(offer)
    block.channels.add(chan)
    reset = (result.get("detail") or {}).get("resetsAt")
    if reset:
        block.resets.append(str(reset))


def _suppression(block: _Block) -> Suppression:
    detail = block.result.get("detail") or {}
    return Suppression(
        policyId=block.policy.id,
        policyName=block.policy.name,
        ruleType=block.policy.rule_type,
        scope=block.policy.scope,
        scopeId=block.policy.scope_id,
        reason=str(block.result.get("reason", "")),
        resetsAt=max(block.resets) if block.resets else None,
        count=detail.get("count"),
        limit=detail.get("limit"),
        window=detail.get("window"),
        blockedOffers=len(block.offers),
        channels=sorted(block.channels),
    )


async def list_customer_suppressions(
    repo: Repository, customer_id: str, *, now: datetime | None = None
) -> SuppressionsResult:
    """Every active policy that blocks this customer on some (offer, channel), each evaluated by
    the pipeline's ``evaluate_policies`` (with any allow_override policies in play), and every
    purpose the customer has not consented to, with the pairs it blocks (the pipeline checks
    consent first, so a pair blocked by both counts once)."""
    await require_customer(repo, customer_id)
    engine = await Engine.load(repo, explain_all=True)
    state = await engine.new_state({"customerId": customer_id}, now or utcnow())
    await engine.enrich(state)
    overrides = [p for p in engine.catalog.policies if p.rule_type == "allow_override"]
    blocks: dict[str, _Block] = {}
    refusals = (await consent.load_book(engine, state)).blocked()
    consent_blocks: dict[str, tuple[consent.ConsentStatus, set[str], set[str]]] = {}
    effective = 0
    pairs = _pairs(engine)
    for offer, creative in pairs:
        state.channel = engine.catalog.channels.get(creative.get("channelId") or "")
        cand = Candidate(
            offer=offer,
            creative=creative,
            placement_id=creative.get("placementId"),
            mandatory=_mandatory_active(offer, state.now),
        )
        view = state.view(cand)
        chan = (state.channel or {}).get("name", creative.get("channelId", ""))
        refused = consent.first_block(consent.purposes_for(engine, state, cand, None), refusals)
        if refused is not None:
            entry = consent_blocks.setdefault(refused.purpose, (refused, set(), set()))
            entry[1].add(offer["id"])
            entry[2].add(str(chan))
        whole = evaluate_policies(engine.catalog.policies, view, state.ledger, state.customer, state.now)
        effective += bool(whole.blocked or refused is not None)
        for policy in engine.catalog.policies:
            if policy.rule_type == "allow_override":
                continue
            outcome = evaluate_policies([policy, *overrides], view, state.ledger, state.customer, state.now)
            if outcome.blocked and outcome.blocking_policy is not None:
                blocked = next(r for r in outcome.results if r.get("blocked"))
                _record(blocks, policy, blocked, offer["id"], str(chan))
    suppressions = sorted((_suppression(b) for b in blocks.values()), key=lambda s: -s.blockedOffers)
    consents = [
        ConsentSuppression(
            purpose=status.purpose,
            status=status.status,
            source=status.source,
            reason=status.reason(),
            detail=status.detail(),
            blockedOffers=len(offers),
            channels=sorted(channels),
        )
        for status, offers, channels in consent_blocks.values()
    ]
    return SuppressionsResult(
        customerId=customer_id,
        evaluatedAt=state.now.isoformat(),
        suppressions=suppressions,
        consent=consents,
        blockedOfferChannels=effective,
        totalOfferChannels=len(pairs),
        summary=_suppression_summary(customer_id, suppressions, consents, effective, len(pairs)),
        hint=None if pairs else "No active offers with active creatives; nothing can be suppressed.",
    )


def _suppression_summary(
    customer_id: str, items: list[Suppression], consents: list[ConsentSuppression], blocked: int, total: int
) -> str:
    if not items and not consents:
        return f"No contact policy blocks {customer_id} right now ({total} offer/channel pairs open)."
    lines = [f"{c.reason} ({', '.join(c.channels)})" for c in consents] + [
        f"'{s.policyName}' ({s.ruleType}, {', '.join(s.channels)}): {s.reason}"
        + (f"; lifts {s.resetsAt}" if s.resetsAt else "")
        for s in items[:3]
    ]
    return f"{customer_id} is blocked on {blocked} of {total} offer/channel pairs. " + " | ".join(lines)


# ---- journey timeline -----------------------------------------------------------------------
async def trace_customer_journey(repo: Repository, customer_id: str, *, limit: int = 20) -> JourneyTimeline:
    await require_customer(repo, customer_id)
    engine_names = await _names(repo)
    timeline = await _timeline(repo, customer_id, limit, engine_names)
    counts, first, last = await _interaction_counts(repo, customer_id)
    return JourneyTimeline(
        customerId=customer_id,
        timeline=timeline,
        journeys=await _journeys(repo, customer_id),
        experiments=await _experiments(repo, customer_id),
        recentDecisions=await _recent_decisions(repo, customer_id),
        counts=counts,
        firstSeen=first,
        lastSeen=last,
        hint=None if counts else "No interactions recorded for this customer yet.",
    )


async def _names(repo: Repository) -> dict[str, str]:
    from kaireon_mcp.storage.tables import Channel, Offer

    names: dict[str, str] = {}
    for model in (Offer, Channel):
        for row_id, name in (
            await repo.session.execute(select(model.id, model.name).where(repo.tenant_filter(model)))
        ).all():
            names[row_id] = name
    return names


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


async def _timeline(
    repo: Repository, customer_id: str, limit: int, names: dict[str, str]
) -> list[dict[str, Any]]:
    stmt = (
        select(Interaction)
        .where(Interaction.tenant_id == repo.ctx.tenant_id, Interaction.customer_id == customer_id)
        .order_by(Interaction.timestamp.desc(), Interaction.id.desc())
        .limit(limit)
    )
    return [
        {
            "at": _iso(row.timestamp),
            "type": row.interaction_type,
            "classification": row.classification,
            "offerId": row.offer_id,
            "offerName": names.get(row.offer_id or ""),
            "channel": names.get(row.channel_id or ""),
            "value": row.conversion_value,
        }
        for row in (await repo.session.execute(stmt)).scalars()
    ]


async def _interaction_counts(
    repo: Repository, customer_id: str
) -> tuple[dict[str, int], str | None, str | None]:
    stmt = (
        select(
            Interaction.interaction_type,
            func.count(),
            func.min(Interaction.timestamp),
            func.max(Interaction.timestamp),
        )
        .where(Interaction.tenant_id == repo.ctx.tenant_id, Interaction.customer_id == customer_id)
        .group_by(Interaction.interaction_type)
    )
    rows = (await repo.session.execute(stmt)).all()
    counts = {str(kind): int(n) for kind, n, _, _ in rows}
    firsts = [as_utc(r[2]) for r in rows]
    lasts = [as_utc(r[3]) for r in rows]
    return counts, _iso(min(firsts)) if firsts else None, _iso(max(lasts)) if lasts else None


async def _journeys(repo: Repository, customer_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(JourneyEnrollment, Journey.name)
        .join(Journey, Journey.id == JourneyEnrollment.journey_id)
        .where(repo.tenant_filter(JourneyEnrollment), JourneyEnrollment.customer_id == customer_id)
        .order_by(JourneyEnrollment.entered_at.desc())
    )
    return [
        {
            "journeyId": row.journey_id,
            "journeyName": name,
            "status": row.status,
            "currentNodeId": row.current_node_id,
            "enteredAt": _iso(row.entered_at),
            "resumeAt": _iso(row.resume_at),
        }
        for row, name in (await repo.session.execute(stmt)).all()
    ]


async def _experiments(repo: Repository, customer_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(VariantAssignment, Experiment.key, Experiment.name, Experiment.status)
        .join(Experiment, Experiment.id == VariantAssignment.experiment_id)
        .where(repo.tenant_filter(VariantAssignment), VariantAssignment.customer_id == customer_id)
        .order_by(VariantAssignment.created_at.desc())
    )
    return [
        {
            "experimentId": row.experiment_id,
            "experimentKey": key,
            "experimentName": name,
            "experimentStatus": status,
            "variant": row.variant,
            "modelId": row.model_id,
            "assignedAt": _iso(row.created_at),
            "expiresAt": _iso(row.expires_at),
        }
        for row, key, name, status in (await repo.session.execute(stmt)).all()
    ]


async def _recent_decisions(repo: Repository, customer_id: str, limit: int = 5) -> list[dict[str, Any]]:
    stmt = (
        select(DecisionTrace)
        .where(repo.tenant_filter(DecisionTrace), DecisionTrace.customer_id == customer_id)
        .order_by(DecisionTrace.created_at.desc())
        .limit(limit)
    )
    return [
        {
            "traceId": row.id,
            "at": _iso(row.created_at),
            "decisionFlowKey": row.decision_flow_key,
            "selectedOffers": [s.get("offerId") for s in row.selected_offers or []],
            "dropped": len(row.dropped or []),
        }
        for row in (await repo.session.execute(stmt)).scalars()
    ]
