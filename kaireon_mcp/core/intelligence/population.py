"""Qualification over the customer population: analyzeQualificationFunnel and simulateRuleChange.

Both run the pipeline's own evaluator (``evaluate_rules`` / ``check_rule``) over customer rows
loaded in keyset batches, on the same channel-agnostic candidate view a request without a
channel gives the qualify node. History-based match rules (recency, propensity) see no history
here; they never drop an offer, so drop counts are exact.

simulateRuleChange evaluates the changed rule alone on every customer first and re-runs the
full qualification only for the (customer, offer) pairs whose verdict flips: the affected
population, not the whole tenant.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from kaireon_mcp.core.decisioning.catalog import Catalog, load_catalog
from kaireon_mcp.core.decisioning.flows import resolve_flow
from kaireon_mcp.core.decisioning.nodes import _in_inventory
from kaireon_mcp.core.intelligence.common import count_customers, iter_customers, pct
from kaireon_mcp.core.qualification import (
    HARD_STAGES,
    CandidateView,
    CustomerContext,
    RuleSpec,
    check_rule,
    customer_segments,
    evaluate_rules,
    rule_applies,
    scope_entries,
)
from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import QualificationRule

FUNNEL_SAMPLE = 5000
SIMULATION_SAMPLE = 100_000
STRUCTURAL_FIELDS = frozenset({"priority", "stage", "scope", "scopeId", "status"})


class RuleFunnelRow(BaseModel):
    ruleId: str
    ruleName: str
    ruleType: str
    stage: str
    priority: int
    evaluated: int
    passed: int
    failed: int
    drops: int
    dropRate: float = Field(description="% of evaluated candidates this rule dropped")
    shareOfDrops: float = Field(description="% of all qualification drops")


class FunnelResult(BaseModel):
    decisionFlowKey: str | None
    source: str
    customersEvaluated: int
    totalCustomers: int
    sampled: bool
    candidatePairs: int
    qualifiedPairs: int
    qualifiedRate: float
    customersWithOffer: int
    rules: list[RuleFunnelRow]
    offers: list[dict[str, Any]]
    bottleneck: RuleFunnelRow | None
    insights: list[str]
    hint: str | None = None


class RuleChangeResult(BaseModel):
    ruleId: str
    ruleName: str
    change: str
    before: dict[str, Any]
    after: dict[str, Any]
    customersEvaluated: int
    affectedCustomers: int
    reachBefore: int = Field(description="customers passing the rule before")
    reachAfter: int
    reachDeltaPct: float | None
    pairsGained: int = Field(description="(customer, offer) pairs that newly qualify")
    pairsLost: int
    customersGainingFirstOffer: int
    customersLosingLastOffer: int
    sampleCustomers: dict[str, list[str]]
    warnings: list[str]
    summary: str
    hint: str | None = None


# ---- shared ---------------------------------------------------------------------------------
def offer_view(offer: dict[str, Any], creative: dict[str, Any] | None = None) -> CandidateView:
    """The candidate view the qualify node builds for an offer (optionally with its creative)."""
    creative = creative or {}
    return CandidateView(
        offer_id=str(offer["id"]),
        category_id=offer.get("categoryId"),
        sub_category_id=offer.get("subCategoryId"),
        creative_id=creative.get("id"),
        channel_id=creative.get("channelId"),
        placement_id=creative.get("placementId"),
        product_type=offer.get("productType"),
        category_name=offer.get("categoryName"),
        mandatory=False,
        budget=offer.get("budget") or {},
        offer=offer,
    )


@dataclass
class FlowScope:
    key: str | None
    rules: list[RuleSpec]
    offers: list[dict[str, Any]]
    has_qualify: bool


async def flow_scope(repo: Repository, catalog: Catalog, key: str | None) -> FlowScope:
    """Which offers reach the flow's qualify node and which rules that node applies."""
    resolved = await resolve_flow(repo, key, None, None, create_base=False)
    nodes = resolved.nodes
    inventory = next((n.get("config") or {} for n in nodes if n.get("type") == "inventory"), {})
    qualify = [n.get("config") or {} for n in nodes if n.get("type") == "qualify"]
    only = {r for cfg in qualify for r in cfg.get("ruleIds") or []}
    statuses = set(inventory.get("includeStatuses") or ["active"])
    offers = [
        o
        for o in catalog.offers.values()
        if not o.get("mandatory")
        and _in_inventory(
            o,
            statuses,
            set(inventory.get("offerIds") or []),
            inventory.get("scope", "all"),
            set(inventory.get("categoryIds") or []),
            set(inventory.get("subCategoryIds") or []),
        )
    ]
    rules = [r for r in catalog.rules if not only or r.id in only]
    return FlowScope(resolved.flow.get("key"), rules, offers, bool(qualify))


def _uses_metrics(rules: list[RuleSpec]) -> bool:
    return any(r.rule_type == "metric_condition" for r in rules)


# ---- funnel ---------------------------------------------------------------------------------
@dataclass
class _Tally:
    evaluated: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    drops: Counter[str] = field(default_factory=Counter)
    offer_ok: Counter[str] = field(default_factory=Counter)
    offer_blocker: dict[str, Counter[str]] = field(default_factory=dict)
    pairs: int = 0
    qualified: int = 0
    customers: int = 0
    with_offer: int = 0


def _tally_customer(
    tally: _Tally, rules: list[RuleSpec], views: list[CandidateView], cust: CustomerContext
) -> None:
    eligible = 0
    for view in views:
        outcome = evaluate_rules(rules, view, cust)
        tally.pairs += 1
        for result in outcome.results:
            tally.evaluated[result["ruleId"]] += 1
            tally.passed[result["ruleId"]] += bool(result["passed"])
        if outcome.passed:
            eligible += 1
            tally.offer_ok[view.offer_id] += 1
        elif outcome.failed_rule is not None:
            tally.drops[outcome.failed_rule.id] += 1
            tally.offer_blocker.setdefault(view.offer_id, Counter())[outcome.failed_rule.id] += 1
    tally.qualified += eligible
    tally.customers += 1
    tally.with_offer += eligible > 0


def _rule_rows(rules: list[RuleSpec], tally: _Tally) -> list[RuleFunnelRow]:
    total_drops = sum(tally.drops.values())
    rows = [
        RuleFunnelRow(
            ruleId=r.id,
            ruleName=r.name,
            ruleType=r.rule_type,
            stage=r.effective_stage,
            priority=r.priority,
            evaluated=tally.evaluated[r.id],
            passed=tally.passed[r.id],
            failed=tally.evaluated[r.id] - tally.passed[r.id],
            drops=tally.drops[r.id],
            dropRate=pct(tally.drops[r.id], tally.evaluated[r.id]),
            shareOfDrops=pct(tally.drops[r.id], total_drops),
        )
        for r in rules
    ]
    return sorted(rows, key=lambda row: (-row.drops, -row.priority, row.ruleName))


def _offer_rows(scope: FlowScope, tally: _Tally, names: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for offer in scope.offers:
        blockers = tally.offer_blocker.get(offer["id"], Counter())
        top = blockers.most_common(1)
        rows.append(
            {
                "offerId": offer["id"],
                "offerName": offer.get("name"),
                "eligible": tally.offer_ok[offer["id"]],
                "eligibleRate": pct(tally.offer_ok[offer["id"]], tally.customers),
                "topBlockingRule": names.get(top[0][0]) if top else None,
                "blockedByTopRule": top[0][1] if top else 0,
            }
        )
    return sorted(rows, key=lambda r: r["eligibleRate"])


def _funnel_insights(
    bottleneck: RuleFunnelRow | None, rows: list[RuleFunnelRow], offers: list[dict[str, Any]]
) -> list[str]:
    out = []
    if bottleneck and bottleneck.drops:
        out.append(
            f"Bottleneck: '{bottleneck.ruleName}' drops {bottleneck.drops} candidates "
            f"({bottleneck.shareOfDrops}% of all qualification drops)."
        )
    for row in rows:
        if row.evaluated and row.passed == 0 and row.stage in {"eligibility", "fit"}:
            out.append(f"'{row.ruleName}' passes no customer: every offer it covers is unreachable.")
    for offer in offers:
        if offer["eligible"] == 0:
            out.append(f"'{offer['offerName']}' qualifies for no evaluated customer.")
    return out


async def analyze_qualification_funnel(
    repo: Repository, *, decision_flow_key: str | None = None, sample_size: int = FUNNEL_SAMPLE
) -> FunnelResult:
    catalog = await load_catalog(repo)
    scope = await flow_scope(repo, catalog, decision_flow_key)
    total = await count_customers(repo)
    views = [offer_view(o) for o in scope.offers]
    tally = _Tally()
    if scope.has_qualify and views:
        async for batch in iter_customers(repo, limit=sample_size, with_metrics=_uses_metrics(scope.rules)):
            for cust in batch:
                _tally_customer(tally, scope.rules, views, cust)
    rows = _rule_rows(scope.rules, tally)
    bottleneck = rows[0] if rows and rows[0].drops else None
    offers = _offer_rows(scope, tally, {r.id: r.name for r in scope.rules})
    return FunnelResult(
        decisionFlowKey=scope.key,
        source="customer population",
        customersEvaluated=tally.customers,
        totalCustomers=total,
        sampled=tally.customers < total,
        candidatePairs=tally.pairs,
        qualifiedPairs=tally.qualified,
        qualifiedRate=pct(tally.qualified, tally.pairs),
        customersWithOffer=tally.with_offer,
        rules=rows,
        offers=offers,
        bottleneck=bottleneck,
        insights=_funnel_insights(bottleneck, rows, offers),
        hint=_funnel_hint(scope, total),
    )


def _funnel_hint(scope: FlowScope, total: int) -> str | None:
    if not scope.has_qualify:
        return f"Flow {scope.key!r} has no qualify node, so no qualification rule drops anything."
    if not total:
        return "No customer rows yet: load a customer schema (or seed the demo) to analyse the funnel."
    if not scope.offers:
        return "The flow's inventory loads no offers; activate offers first."
    if not scope.rules:
        return "No active qualification rules: every loaded offer qualifies."
    return None


# ---- rule change simulation -----------------------------------------------------------------
def _strip(path: Any) -> str:
    text = str(path)
    for prefix in ("customer.", "attributes."):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def apply_change(rule: RuleSpec, field_name: str, old: Any, new: Any) -> tuple[RuleSpec, str, list[str]]:
    """The rule with one condition field/value changed, a description, and warnings.

    ``field`` may name a config key (``value``, ``operator``, ``threshold``), a structural field
    (``priority``, ``stage``, ``scope``, ``scopeId``), the condition's attribute (``customer.income``
    → its ``value`` changes), a ``conditions[]`` entry's field, or a list config such as
    ``requiredSegments`` (``oldValue`` element replaced by ``newValue``).
    """
    after = copy.deepcopy(rule)
    config = dict(after.config)
    warnings: list[str] = []
    current: Any
    if field_name in STRUCTURAL_FIELDS:
        attr = {"scopeId": "scope_id"}.get(field_name, field_name)
        current = getattr(after, attr)
        setattr(after, attr, new)
    elif field_name in config and isinstance(config[field_name], list) and not isinstance(old, list):
        current = old if old in config[field_name] else None
        if current is None:
            raise ValidationError(f"{old!r} is not in config.{field_name}", field="proposedChange.oldValue")
        config[field_name] = [new if item == old else item for item in config[field_name]]
    elif field_name in config:
        current, config[field_name] = config[field_name], new
    elif _strip(config.get("attribute") or config.get("field") or "\0") == _strip(field_name):
        current, config["value"] = config.get("value"), new
    elif any(_strip(c.get("field")) == _strip(field_name) for c in config.get("conditions") or []):
        conditions = [dict(c) for c in config["conditions"]]
        match = next(c for c in conditions if _strip(c.get("field")) == _strip(field_name))
        current, match["value"] = match.get("value"), new
        config["conditions"] = conditions
    else:
        raise ValidationError(
            f"rule {rule.name!r} has no condition field {field_name!r}; config keys: {sorted(config)}",
            field="proposedChange.field",
        )
    if old is not None and current != old:
        warnings.append(
            f"oldValue {old!r} differs from the rule's current value {current!r}; "
            "simulated from the current value"
        )
    after.config = config
    return after, f"{field_name}: {current!r} -> {new!r}", warnings


def _views_for(rule: RuleSpec, offers: list[dict[str, Any]], catalog: Catalog) -> list[CandidateView]:
    """Offer views; creative-level views when the rule is scoped to a channel/creative/placement."""
    if rule.scope not in {"channel", "creative", "placement"} or not rule.scope_id:
        return [offer_view(o) for o in offers]
    return [
        offer_view(o, c)
        for o in offers
        for c in catalog.creatives_by_offer.get(o["id"], [])
        if c.get("status") == "active"
    ]


@dataclass
class _Sim:
    customers: int = 0
    reach_before: int = 0
    reach_after: int = 0
    affected: set[str] = field(default_factory=set)
    gained: int = 0
    lost: int = 0
    first_offer: list[str] = field(default_factory=list)
    last_offer: list[str] = field(default_factory=list)


#: rule types whose verdict depends on the customer alone, not on the candidate offer
CUSTOMER_ONLY_TYPES = frozenset({"attribute_condition", "segment_required", "metric_condition"})


@dataclass(frozen=True)
class _Change:
    pair: tuple[RuleSpec, RuleSpec]
    others: list[RuleSpec]
    views: list[CandidateView]
    structural: bool
    #: applicability per view when it does not depend on the customer (computed once)
    static_on: list[bool] | None = None

    @property
    def rule_sets(self) -> tuple[list[RuleSpec], list[RuleSpec]]:
        return [*self.others, self.pair[0]], [*self.others, self.pair[1]]


def _applies_everywhere_alike(rule: RuleSpec) -> bool:
    """Whether the rule's applicability to a view ignores the customer (no segment scope)."""
    return all(kind != "segment" for kind, _ in scope_entries(rule.scope, rule.scope_id, rule.scopes))


def _per_view(change: _Change, cust: CustomerContext, fast: bool) -> list[tuple[bool, bool, bool, bool]]:
    """(applies before, applies after, passes before, passes after) per view; a rule that does not
    apply passes. ``fast``: a customer-only rule with unchanged scope is checked once, not per view."""
    (before_rule, after_rule), views = change.pair, change.views
    if fast:
        on = change.static_on
        if on is None:
            segments = customer_segments(cust)
            on = [rule_applies(before_rule, v, segments) for v in views]
        if not any(on):
            return [(False, False, True, True)] * len(views)
        b, a = check_rule(before_rule, views[0], cust).passed, check_rule(after_rule, views[0], cust).passed
        return [(o, o, b or not o, a or not o) for o in on]
    segments = customer_segments(cust)
    out = []
    for view in views:
        b_on, a_on = rule_applies(before_rule, view, segments), rule_applies(after_rule, view, segments)
        b_ok = not b_on or check_rule(before_rule, view, cust).passed
        a_ok = not a_on or check_rule(after_rule, view, cust).passed
        out.append((b_on, a_on, b_ok, a_ok))
    return out


def _outcomes(
    change: _Change, verdicts: list[tuple[bool, bool, bool, bool]], cust: CustomerContext
) -> tuple[list[bool], list[bool]]:
    """Whether each view qualifies before and after.

    For a config change the other rules are evaluated once per view: ``evaluate_rules`` passes
    exactly when no applicable hard rule fails (order only picks which failure is reported), so
    the outcome is the others' verdict AND the changed rule's, when that rule is hard. A change
    of priority, stage or scope re-runs the whole rule set before and after.
    """
    if change.structural:
        before_set, after_set = change.rule_sets
        return (
            [evaluate_rules(before_set, v, cust).passed for v in change.views],
            [evaluate_rules(after_set, v, cust).passed for v in change.views],
        )
    hard = change.pair[0].effective_stage in HARD_STAGES
    others = [evaluate_rules(change.others, v, cust).passed for v in change.views]
    before = [ok and (v[2] or not hard) for ok, v in zip(others, verdicts, strict=True)]
    after = [ok and (v[3] or not hard) for ok, v in zip(others, verdicts, strict=True)]
    return before, after


def _simulate_customer(sim: _Sim, change: _Change, cust: CustomerContext) -> None:
    """Reach of the rule itself; full outcomes only for customers whose verdict on some view flips."""
    sim.customers += 1
    fast = not change.structural and change.pair[0].rule_type in CUSTOMER_ONLY_TYPES
    verdicts = _per_view(change, cust, fast)
    sim.reach_before += any(v[0] for v in verdicts) and all(v[2] for v in verdicts)
    sim.reach_after += any(v[1] for v in verdicts) and all(v[3] for v in verdicts)
    if not change.structural and all(v[2] == v[3] for v in verdicts):
        return
    before, after = _outcomes(change, verdicts, cust)
    sim.gained += sum(a and not b for b, a in zip(before, after, strict=True))
    sim.lost += sum(b and not a for b, a in zip(before, after, strict=True))
    if before == after:
        return
    sim.affected.add(cust.customer_id)
    if not any(before) and any(after):
        sim.first_offer.append(cust.customer_id)
    if any(before) and not any(after):
        sim.last_offer.append(cust.customer_id)


async def simulate_rule_change(
    repo: Repository,
    rule_id: str,
    field_name: str,
    old_value: Any,
    new_value: Any,
    *,
    sample_size: int = SIMULATION_SAMPLE,
) -> RuleChangeResult:
    row = await repo.find(QualificationRule, id=rule_id)
    if row is None:
        raise NotFoundError(f"qualification rule {rule_id!r} not found", field="ruleId")
    catalog = await load_catalog(repo)
    before_rule = RuleSpec.from_dict(row.to_dict())
    warnings = []
    if before_rule.status != "active":
        warnings.append(f"rule is {before_rule.status}; simulated as if it were active")
        before_rule.status = "active"
    after_rule, description, more = apply_change(before_rule, field_name, old_value, new_value)
    warnings += more
    offers = [o for o in catalog.offers.values() if o.get("status") == "active" and not o.get("mandatory")]
    views = _views_for(after_rule, offers, catalog)
    static = _applies_everywhere_alike(before_rule)
    change = _Change(
        (before_rule, after_rule),
        [r for r in catalog.rules if r.id != rule_id],
        views,
        field_name in STRUCTURAL_FIELDS,
        [rule_applies(before_rule, v, frozenset()) for v in views] if static else None,
    )
    sim = _Sim()
    if change.views:
        metrics = _uses_metrics(change.rule_sets[1])
        async for batch in iter_customers(repo, limit=sample_size, with_metrics=metrics):
            for cust in batch:
                _simulate_customer(sim, change, cust)
    return _rule_change_result(before_rule, after_rule, description, sim, warnings, bool(change.views))


def _spec_view(rule: RuleSpec) -> dict[str, Any]:
    return {
        "config": dict(rule.config),
        "scope": rule.scope,
        "scopeId": rule.scope_id,
        "priority": rule.priority,
        "stage": rule.effective_stage,
    }


def _rule_change_result(
    before: RuleSpec, after: RuleSpec, change: str, sim: _Sim, warnings: list[str], has_offers: bool
) -> RuleChangeResult:
    delta = (
        None
        if not sim.reach_before
        else round(100.0 * (sim.reach_after - sim.reach_before) / sim.reach_before, 2)
    )
    summary = (
        f"Changing '{before.name}' ({change}): {sim.reach_before} -> {sim.reach_after} of {sim.customers} "
        f"customers pass the rule; {sim.gained} offer pairs gained, {sim.lost} lost; "
        f"{len(sim.first_offer)} customers get their first offer, {len(sim.last_offer)} lose their last."
    )
    hint = None
    if not sim.customers:
        hint = "No customer rows to simulate on; load a customer schema (or seed the demo)."
    elif not has_offers:
        hint = "No active offers; the rule has nothing to qualify."
    return RuleChangeResult(
        ruleId=before.id,
        ruleName=before.name,
        change=change,
        before=_spec_view(before),
        after=_spec_view(after),
        customersEvaluated=sim.customers,
        affectedCustomers=len(sim.affected),
        reachBefore=sim.reach_before,
        reachAfter=sim.reach_after,
        reachDeltaPct=delta,
        pairsGained=sim.gained,
        pairsLost=sim.lost,
        customersGainingFirstOffer=len(sim.first_offer),
        customersLosingLastOffer=len(sim.last_offer),
        sampleCustomers={
            "gainingFirstOffer": sim.first_offer[:20],
            "losingLastOffer": sim.last_offer[:20],
            "affected": sorted(sim.affected)[:20],
        },
        warnings=warnings,
        summary=summary,
        hint=hint,
    )
