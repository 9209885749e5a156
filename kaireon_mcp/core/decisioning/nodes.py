"""The sixteen node types of the v2 composable pipeline (decisioning-core.md section 3.4).

Each handler narrows, scores or reorders ``state.candidates``; drops always go through
``state.keep``/``state.drop`` so the trace names the node and the reason.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from kaireon_mcp.core.contact_policy import PolicyIndex, count_in_window, evaluate_policies, events_in_window
from kaireon_mcp.core.decisioning.consent import apply_consent
from kaireon_mcp.core.decisioning.state import Candidate, DecisionState, ScoreMemo
from kaireon_mcp.core.experiments import assign_experiment
from kaireon_mcp.core.formula import evaluate_formula
from kaireon_mcp.core.models import MODEL_TYPES
from kaireon_mcp.core.operators import evaluate_tree
from kaireon_mcp.core.qualification import RuleIndex, customer_segments, evaluate_rules
from kaireon_mcp.core.ranking import allocate_groups, apply_coupling, offer_constraint_violation, rank
from kaireon_mcp.core.scoring import (
    WeightResolver,
    emphasis,
    impact,
    prie_score,
    priority_weighted,
    relevance,
    resolve_propensity,
)

if TYPE_CHECKING:
    from kaireon_mcp.core.decisioning.engine import Engine

NodeFn = Callable[["Engine", DecisionState, dict[str, Any]], Awaitable[None]]
T = TypeVar("T")
MANDATORY_DAILY_CAP = 5
MANDATORY_POLICY_TYPES = frozenset({"frequency_cap", "cross_channel_cap"})


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=state_tz())


def state_tz() -> Any:
    from datetime import UTC

    return UTC


def schedule_block(offer: dict[str, Any], now: datetime) -> str | None:
    """Offers outside their schedule window are excluded (mandatory ones too)."""
    schedule = offer.get("schedule") or {}
    start, end = _parse_time(schedule.get("startDate")), _parse_time(schedule.get("endDate"))
    if start and now < start:
        return f"schedule starts {start.isoformat()}"
    if end and now > end:
        return f"schedule ended {end.isoformat()}"
    return None


def _mandatory_active(offer: dict[str, Any], now: datetime) -> bool:
    if not offer.get("mandatory"):
        return False
    expires = _parse_time(offer.get("mandatoryExpiresAt"))
    return expires is None or expires > now


async def node_inventory(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    config = node.get("config") or {}
    statuses = set(config.get("includeStatuses") or ["active"])
    offer_ids = set(config.get("offerIds") or [])
    scope = config.get("scope", "all")
    cats, subs = set(config.get("categoryIds") or []), set(config.get("subCategoryIds") or [])
    excluded = set(state.request.get("excludeOffers") or [])
    loaded: list[Candidate] = []
    for offer in engine.catalog.offers.values():
        mandatory = _mandatory_active(offer, state.now) and offer.get("status") == "active"
        if not mandatory and not _in_inventory(offer, statuses, offer_ids, scope, cats, subs):
            continue
        if offer.get("emergencyExcluded") or offer["id"] in excluded:
            continue
        loaded.append(
            Candidate(
                offer=offer,
                creatives=engine.catalog.creatives_by_offer.get(offer["id"], []),
                mandatory=mandatory,
            )
        )
    loaded.sort(key=lambda c: (-c.priority, c.name))
    state.candidates = loaded
    state.funnel["candidateCount"] = len(loaded)
    survivors, reasons = [], {}
    for cand in loaded:
        blocked = schedule_block(cand.offer, state.now)
        if blocked:
            reasons[cand.offer_id] = {"reason": blocked}
        else:
            survivors.append(cand)
    state.keep(node, "schedule", survivors, reasons)


def _in_inventory(
    offer: dict[str, Any], statuses: set[str], offer_ids: set[str], scope: str, cats: set[str], subs: set[str]
) -> bool:
    if offer.get("status") not in statuses:
        return False
    if offer_ids:
        return offer["id"] in offer_ids
    if scope in {"category", "subcategory"} and (cats or subs):
        return (not cats or offer.get("categoryId") in cats) and (
            not subs or offer.get("subCategoryId") in subs
        )
    return True


def _stable_rng(*parts: str) -> random.Random:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


async def node_match_creatives(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    config = node.get("config") or {}
    require = bool(config.get("requireCreative", True))
    mode = config.get("placementMatchMode", "any")
    excluded = set(state.request.get("excludeCreatives") or [])
    channel, placement = state.channel, state.placement
    survivors, reasons = [], {}
    for cand in state.candidates:
        options = [
            c
            for c in cand.creatives
            if c.get("status") == "active"
            and c["id"] not in excluded
            and (channel is None or c.get("channelId") == channel["id"])
            and _placement_ok(engine, c, placement, mode)
        ]
        cand.creatives = options
        if options:
            cand.creative = _pick_weighted(options, state.customer.customer_id, cand.offer_id)
            cand.placement_id = (placement or {}).get("id") or cand.creative.get("placementId")
            survivors.append(cand)
        elif not require:
            survivors.append(cand)
        else:
            where = f"channel {channel['name']}" if channel else "any channel"
            if placement and mode == "exact":
                where += f", placement {placement['key']}"
            reasons[cand.offer_id] = {"reason": f"no active creative for {where}"}
    state.keep(node, "match_creatives", survivors, reasons)


def _placement_ok(
    engine: Engine, creative: dict[str, Any], placement: dict[str, Any] | None, mode: str
) -> bool:
    plc_id = creative.get("placementId")
    if plc_id and engine.catalog.placements.get(plc_id, {}).get("status", "active") != "active":
        return False
    if placement is None or mode in {"any", "none"}:
        return True
    return plc_id == placement["id"]


def _pick_weighted(options: list[dict[str, Any]], customer_id: str, offer_id: str) -> dict[str, Any]:
    """Weighted choice among sibling variants, stable per customer so A/B arms do not flicker."""
    weights = [max(0, int(o.get("weight") or 0)) for o in options]
    if sum(weights) <= 0 or len(options) == 1:  # a lone variant wins any draw: skip seeding an RNG
        return options[0]
    return _stable_rng(customer_id, offer_id).choices(options, weights)[0]


async def node_enrich(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    await engine.enrich(state)
    state.stages[-1]["enrichedFields"] = len(state.customer.attributes)


#: structures derived from a cached catalogue's lists, keyed by the list's identity
_DERIVED: dict[tuple[int, Any], tuple[list[Any], tuple[int, ...], Any]] = {}
_DERIVED_MAX = 64


def derived(source: list[Any], key: Any, build: Callable[[], T]) -> T:
    """Memoise ``build()`` per catalogue list: catalogues are cached across decisions, so an
    index over their rules or policies is built once per load, not once per decision. The
    entry holds the list (its id cannot be reused while cached) and its members' ids (an
    in-place change rebuilds).
    """
    members = tuple(map(id, source))
    hit = _DERIVED.get((id(source), key))
    if hit is not None and hit[0] is source and hit[1] == members:
        return hit[2]  # type: ignore[no-any-return]
    value = build()
    if len(_DERIVED) >= _DERIVED_MAX:  # stale catalogue loads; the live ones rebuild on next use
        _DERIVED.clear()
    _DERIVED[(id(source), key)] = (source, members, value)
    return value


def _rule_index(engine: Engine, only: frozenset[str]) -> RuleIndex:
    rules = engine.catalog.rules
    return derived(rules, ("rules", only), lambda: RuleIndex(r for r in rules if not only or r.id in only))


def _policy_index(engine: Engine, only: frozenset[str]) -> PolicyIndex:
    policies = engine.catalog.policies
    return derived(
        policies, ("policies", only), lambda: PolicyIndex(p for p in policies if not only or p.id in only)
    )


async def node_qualify(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    config = node.get("config") or {}
    rules = _rule_index(engine, frozenset(config.get("ruleIds") or []))
    segments = customer_segments(state.customer)
    survivors, reasons = [], {}
    memo: dict[str, Any] = {}
    for cand in state.candidates:
        if cand.mandatory:
            survivors.append(cand)
            continue
        outcome = evaluate_rules(rules, state.view(cand), state.customer, memo, segments)
        cand.qualification = outcome.results
        offer_id = cand.offer_id
        state.qualification_results.extend({"offerId": offer_id, **r} for r in outcome.results)
        cand.fit_multiplier *= outcome.fit_multiplier
        if outcome.passed:
            survivors.append(cand)
        else:
            rule = outcome.failed_rule
            failed = next((r for r in outcome.results if not r["passed"]), {})
            reasons[cand.offer_id] = {
                "reason": failed.get("reason", "failed qualification"),
                "ruleId": rule.id if rule else None,
                "ruleName": rule.name if rule else None,
                "ruleType": rule.rule_type if rule else None,
            }
    state.keep(node, "qualification", survivors, reasons)
    state.funnel["afterQualification"] = len(survivors)


async def node_contact_policy(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    """Consent first (section 3.2 step 5, drops traced at stage ``consent``), then hard
    constraints and contact policies (stage ``contact_policy``)."""
    await apply_consent(engine, state, node)
    config = node.get("config") or {}
    only = frozenset(config.get("policyIds") or [])
    survivors, reasons = [], {}
    mandatory_today = _mandatory_shown_today(engine, state)
    seen = _impressions_by_offer(state)
    memo: dict[tuple[Any, ...], Any] = {}
    segments = customer_segments(state.customer)
    policies: PolicyIndex | None = None
    for cand in state.candidates:
        blocked = _hard_constraint(engine, state, cand, mandatory_today, seen)
        if blocked:
            reasons[cand.offer_id] = blocked
            continue
        # built at first use, so an unknown rule type raises exactly when it always did
        policies = policies or _policy_index(engine, only)
        outcome = evaluate_policies(
            policies,
            state.view(cand),
            state.ledger,
            state.customer,
            state.now,
            state.selected_offer_ids,
            memo,
            segments,
        )
        cand.policies = outcome.results
        offer_id = cand.offer_id
        state.contact_policy_results.extend({"offerId": offer_id, **r} for r in outcome.results)
        if outcome.blocked and outcome.blocking_policy is not None:
            policy = outcome.blocking_policy
            result = next((r for r in outcome.results if r.get("blocked")), {})
            reasons[cand.offer_id] = {
                "reason": result.get("reason", "blocked by contact policy"),
                "policyId": policy.id,
                "policyName": policy.name,
                "ruleType": policy.rule_type,
                "detail": result.get("detail"),
            }
        else:
            survivors.append(cand)
    state.keep(node, "contact_policy", survivors, reasons)
    state.funnel["afterContactPolicy"] = len(survivors)
    state.funnel.setdefault("afterSuppression", len(survivors))


def _mandatory_shown_today(engine: Engine, state: DecisionState) -> int:
    mandatory_ids = {o["id"] for o in engine.catalog.offers.values() if o.get("mandatory")}
    if not mandatory_ids:
        return 0
    return count_in_window(state.ledger, lambda e: e.offer_id in mandatory_ids, "day", state.now)


def _impressions_by_offer(state: DecisionState) -> dict[str, dict[str, int]]:
    """Per-offer impression counts today / this week / this month, in one pass over the ledger."""
    counts: dict[str, dict[str, int]] = {}
    for period, window in (("daily", "day"), ("weekly", "week"), ("monthly", "month")):
        for event in events_in_window(state.ledger, None, window, state.now):
            if event.offer_id:
                slot = counts.setdefault(event.offer_id, {"daily": 0, "weekly": 0, "monthly": 0})
                slot[period] += 1
    return counts


def _hard_constraint(
    engine: Engine,
    state: DecisionState,
    cand: Candidate,
    mandatory_today: int,
    seen: dict[str, dict[str, int]],
) -> dict[str, Any] | None:
    """Budget, stock, per-customer caps (section 3.10) and the mandatory daily cap (section 3.11)."""
    if cand.mandatory and mandatory_today >= int(
        engine.catalog.settings.get("mandatoryDailyCap", MANDATORY_DAILY_CAP)
    ):
        return {
            "reason": f"mandatory daily cap reached ({mandatory_today})",
            "ruleType": "mandatory_daily_cap",
        }
    counts = seen.get(cand.offer_id, {"daily": 0, "weekly": 0, "monthly": 0})
    violation = offer_constraint_violation(cand.offer, state.now, counts)
    if violation:
        return {"reason": f"offer constraint: {violation}", "ruleType": violation}
    return None


async def node_filter(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    config = node.get("config") or {}
    tree = {"conditions": config.get("conditions") or [], "combinator": config.get("combinator", "AND")}
    survivors, reasons = [], {}
    for cand in state.candidates:
        if evaluate_tree(tree, _namespaces(state, cand)):
            survivors.append(cand)
        else:
            reasons[cand.offer_id] = {"reason": f"filter {node.get('id')} conditions not met"}
    state.keep(node, "filter", survivors, reasons)


def _namespaces(state: DecisionState, cand: Candidate) -> dict[str, Any]:
    return {
        "offer": cand.offer,
        "customer": dict(state.customer.attributes),
        "request": state.request,
        "channel": state.channel or {},
    }


async def node_conditional(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    """Branch on request/customer conditions: run ``then`` nodes or ``else`` nodes inline."""
    config = node.get("config") or {}
    tree = {"conditions": config.get("conditions") or [], "combinator": config.get("combinator", "AND")}
    names = {
        "customer": dict(state.customer.attributes),
        "request": state.request,
        "channel": state.channel or {},
    }
    branch = config.get("then") if evaluate_tree(tree, names) else config.get("else")
    state.stages[-1]["branch"] = "then" if branch is config.get("then") else "else"
    for child in branch or []:
        await engine.run_node(state, child)


async def node_call_flow(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    config = node.get("config") or {}
    await engine.call_flow(state, str(config.get("flowKey") or config.get("flowId") or ""))


async def node_extension_point(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    hook = (node.get("config") or {}).get("hook")
    handler = engine.extensions.get(str(hook))
    if handler is not None:
        await handler(state, node)


async def node_score(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    config = dict(node.get("config") or {})
    method = config.get("method", "priority_weighted")
    model = engine.assigned_model(state, config)
    shadow_keys = shadow_model_keys(engine.catalog.models, config)
    # per node, not per candidate; built at the first PRIE candidate, as before
    weights = functools.cache(lambda: _weight_resolver(engine, config))
    memo = ScoreMemo()
    inputs = PrieInputs(model, weights, customer_segments(state.customer), memo)
    for cand in state.candidates:
        if cand.mandatory:
            cand.score, cand.score_method = 1.0, "mandatory"
            continue
        if state.control_group:
            cand.score = priority_weighted(cand.priority, _weight(cand), 1.0)
            cand.score_method = "priority_only"
            continue
        _score_candidate(engine, state, cand, method, inputs)
        for key in shadow_keys:
            shadow = engine.model_score(state, cand, engine.catalog.models.get(key), memo)
            if shadow is not None:
                cand.shadow_scores.append({"modelKey": key, "score": shadow[0]})


def shadow_model_keys(models: dict[str, dict[str, Any]], config: dict[str, Any]) -> list[str]:
    """Listed shadow models plus every model in registry status ``shadow``: scored silently, traced only."""
    keys = list(config.get("shadowModelKeys") or [])
    keys += [k for k, m in sorted(models.items()) if m.get("registryStatus") == "shadow" and k not in keys]
    return keys


def _weight(cand: Candidate) -> float:
    """Creative weight when a creative is chosen, else the offer's (section 13.1 canonical column)."""
    source = cand.creative if cand.creative else cand.offer
    weight = source.get("weight")
    return float(weight) if isinstance(weight, int | float) else 100.0


@dataclass(frozen=True)
class PrieInputs:
    """What a Score node resolves once for all its candidates."""

    model: dict[str, Any] | None
    weights: Callable[[], WeightResolver]
    segments: frozenset[str]
    memo: ScoreMemo


def _weight_resolver(engine: Engine, config: dict[str, Any]) -> WeightResolver:
    profiles = engine.catalog.profiles
    profile = profiles.get(str(config.get("strategyProfileId") or ""))
    default = profiles.get(str(engine.catalog.settings.get("defaultRankingProfileId") or ""))
    overrides = [
        dict(o, weights=profiles.get(str(o.get("profileId")), {}).get("weights"))
        for o in config.get("strategyOverrides") or []
    ]
    return WeightResolver(
        overrides, (profile or {}).get("weights"), (default or {}).get("weights"), config.get("formula")
    )


def _score_candidate(
    engine: Engine, state: DecisionState, cand: Candidate, method: str, inputs: PrieInputs
) -> None:
    cand.score_method = method
    model = inputs.model
    if method == "priority_weighted":
        cand.score = priority_weighted(cand.priority, _weight(cand), cand.fit_multiplier)
        cand.factors = {"E": cand.priority / 100, "W": _weight(cand) / 100, "fit": cand.fit_multiplier}
        return
    p, source = _propensity(engine, state, cand, model, inputs.memo)
    if method == "propensity" or method == "external_endpoint":
        cand.score = p * cand.fit_multiplier
        cand.factors = {"P": p, "fit": cand.fit_multiplier}
    else:
        resolver = inputs.weights()
        weights = resolver(state.view(cand) if resolver.overrides else None)
        factors = _prie_factors(state, cand, p, inputs.segments)
        cand.factors = {**factors, "fit": cand.fit_multiplier}
        cand.score = (
            prie_score(factors["P"], factors["R"], factors["I"], factors["E"], weights) * cand.fit_multiplier
        )
        cand.properties["weights"] = {
            "P": weights.propensity,
            "R": weights.relevance,
            "I": weights.impact,
            "E": weights.emphasis,
        }
    cand.properties["propensitySource"] = source
    cand.model_key = (model or {}).get("key")


def _propensity(
    engine: Engine, state: DecisionState, cand: Candidate, model: dict[str, Any] | None, memo: ScoreMemo
) -> tuple[float, str]:
    supplied = (state.request.get("attributes") or {}).get("propensityScores") or {}
    for key in (cand.offer_id, cand.offer.get("productType"), cand.offer.get("key")):
        if key and key in supplied:
            return float(supplied[key]), "request"
    model_score = None
    if model is not None:
        scored = engine.model_score(state, cand, model, memo)
        if scored is not None:
            model_score = scored[0]
            cand.explanations = scored[1]
            return model_score, f"model:{model['key']}"
    cat = engine.catalog
    return resolve_propensity(
        cat.adaptation("offer", cand.offer_id),
        cat.adaptation("category", cand.category_id),
        cat.adaptation("global", "global"),
        model_score,
    )


def _prie_factors(
    state: DecisionState, cand: Candidate, p: float, segments: frozenset[str]
) -> dict[str, float]:
    targets = set(cand.offer.get("eligibility", {}).get("segments") or [])
    segment = len(targets & segments) / len(targets) if targets else None
    days = (
        state.customer.days_since_last_impression(cand.offer_id)
        if state.customer.days_since_last_impression
        else None
    )
    channel_match = None if state.channel is None else bool(cand.creative)
    return {
        "P": p,
        "R": relevance(channel_match, segment, days),
        "I": impact(cand.offer),
        "E": emphasis(cand.offer),
    }


async def node_optimize(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    """Multi-objective composite: Σ weight × objective normalised to the candidate set's maximum."""
    config = node.get("config") or {}
    profile = engine.catalog.profiles.get(str(config.get("profileId") or ""), {})
    objectives = dict(config.get("objectives") or profile.get("weights") or {})
    if not objectives or not state.candidates:
        return
    values = {name: [_objective(c, name) for c in state.candidates] for name in objectives}
    maxima = {name: max(v) or 1.0 for name, v in values.items()}
    total = sum(float(w) for w in objectives.values()) or 1.0
    for index, cand in enumerate(state.candidates):
        composite = sum(float(w) * values[n][index] / maxima[n] for n, w in objectives.items()) / total
        cand.properties["optimizeComposite"] = composite
        cand.score = composite * (cand.fit_multiplier if config.get("applyFit", False) else 1.0)


def _objective(cand: Candidate, name: str) -> float:
    offer = cand.offer
    mapping = {
        "revenue": offer.get("revenueValue"),
        "margin": offer.get("margin"),
        "propensity": cand.factors.get("P"),
        "engagement": cand.factors.get("R"),
        "priority": offer.get("priority"),
        "score": cand.score,
        "impact": cand.factors.get("I"),
        "emphasis": cand.factors.get("E"),
    }
    value = mapping.get(name, cand.score)
    return max(0.0, float(value)) if isinstance(value, int | float) else 0.0


async def node_rank(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    config = node.get("config") or {}
    limit = engine.limit(state, int(config.get("maxCandidates", 5)))
    mandatory = [c for c in state.candidates if c.mandatory]
    regular = [c for c in state.candidates if not c.mandatory]
    ranked = rank(
        regular,
        config.get("method", "score"),
        max(0, limit - len(mandatory)),
        _stable_rng(state.customer.customer_id, "rank"),
    )
    if engine.explain_all:
        kept = {id(c) for c in ranked}
        for cand in regular:
            if id(cand) not in kept:
                cand.properties["belowCutoff"] = True
    survivors = sorted(mandatory, key=lambda c: (-c.priority, c.name))[:limit] + ranked
    for position, cand in enumerate(survivors, 1):
        cand.rank = position
    reasons = {
        c.offer_id: {"reason": f"ranked below the top {limit} ({config.get('method', 'score')})"}
        for c in state.candidates
    }
    state.keep(node, "ranking", survivors, reasons)


async def node_group(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    config = node.get("config") or {}
    placements = engine.group_placements(state)
    if not placements:
        return
    slots = [{"placementId": p["id"], "maxSlots": int(p.get("maxSlots") or 1)} for p in placements]
    by_id = {p["id"]: p for p in placements}

    def eligible(cand: Candidate, pid: str) -> bool:
        return (
            any(
                c.get("placementId") in (None, pid) and c.get("channelId") == by_id[pid]["channelId"]
                for c in cand.creatives
            )
            or not cand.creatives
        )

    allocation = allocate_groups(state.candidates, slots, config.get("strategy", "optimal"), eligible)
    modes = {c["id"]: c.get("couplingMode", "partial") for c in engine.catalog.channels.values()}
    allocation, records = apply_coupling(
        allocation, {p["id"]: p["channelId"] for p in placements}, modes, state.flow.get("couplingOverride")
    )
    state.coupling.extend(records)
    placed = {}
    for pid, cands in allocation.items():
        for cand in cands:
            placed[id(cand)] = pid
            cand.placement_id = pid
            match = [c for c in cand.creatives if c.get("placementId") == pid]
            if match:
                cand.creative = match[0]
    state.placement_results = {pid: list(cands) for pid, cands in allocation.items()}
    survivors = [c for c in state.candidates if id(c) in placed]
    reasons = {
        c.offer_id: {"reason": "no placement slot left after group allocation"} for c in state.candidates
    }
    state.keep(node, "group", survivors, reasons)


async def node_compute(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    """Computed custom fields (formula engine) into ``personalization``, then creative tokens.

    The ``customer.*`` and ``attributes.*`` variables do not depend on the candidate, so they
    are prefixed once per node and copied into each candidate's variables in the same order.
    """
    if not state.candidates:
        return
    customer = {f"customer.{k}": v for k, v in state.customer.attributes.items() if "." not in k}
    request = {f"attributes.{k}": v for k, v in (state.request.get("attributes") or {}).items()}
    for cand in state.candidates:
        category = engine.catalog.categories.get(cand.category_id or "", {})
        variables = dict(cand.offer.get("customFields") or {})
        variables.update(customer)
        variables.update(request)
        for spec in category.get("customFields") or []:
            if spec.get("type") == "computed" and spec.get("formula"):
                value = evaluate_formula(spec["formula"], variables)
                cand.personalization[spec.get("key") or spec.get("name")] = value
                variables[spec.get("key") or spec.get("name")] = value


async def node_set_properties(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    props = (node.get("config") or {}).get("properties") or {}
    for cand in state.candidates:
        for key, value in props.items():
            if isinstance(value, str) and value.startswith("="):
                variables = {
                    **(cand.offer.get("customFields") or {}),
                    "score": cand.score,
                    "priority": cand.priority,
                }
                cand.properties[key] = evaluate_formula(value[1:], variables)
            else:
                cand.properties[key] = value


async def node_response(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    limit = engine.limit(state, len(state.candidates))
    reasons = {c.offer_id: {"reason": f"beyond the response limit of {limit}"} for c in state.candidates}
    state.keep(node, "response", state.candidates[:limit], reasons)


NODE_HANDLERS: dict[str, NodeFn] = {
    "inventory": node_inventory,
    "match_creatives": node_match_creatives,
    "enrich": node_enrich,
    "qualify": node_qualify,
    "contact_policy": node_contact_policy,
    "filter": node_filter,
    "conditional": node_conditional,
    "call_flow": node_call_flow,
    "extension_point": node_extension_point,
    "score": node_score,
    "optimize": node_optimize,
    "rank": node_rank,
    "group": node_group,
    "compute": node_compute,
    "set_properties": node_set_properties,
    "response": node_response,
}


def model_assignment(
    experiments: list[dict[str, Any]],
    models_by_id: dict[str, dict[str, Any]],
    model_key: str | None,
    customer_id: str,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """If a running experiment's champion is the node's model, route the customer to their arm."""
    for experiment in experiments:
        champion = models_by_id.get(experiment.get("championModelId") or "")
        if champion is None or (model_key and champion.get("key") != model_key):
            continue
        variant = assign_experiment(experiment, customer_id)
        record = {"experimentId": experiment["id"], "experimentKey": experiment["key"], "variant": variant}
        if variant == "__holdout__":
            return None, {**record, "controlGroup": True}
        if variant == "__champion__":
            return champion, {**record, "modelKey": champion.get("key")}
        model = models_by_id.get(variant)
        return model, {**record, "modelKey": (model or {}).get("key"), "modelId": variant}
    return None, None


def runnable(model: dict[str, Any] | None) -> bool:
    if not model or model.get("status") == "archived":
        return False
    spec = MODEL_TYPES.get(str(model.get("modelType")))
    return bool(spec and spec.runnable)
