"""analyzePolicyConflicts: contradictions, overlaps, shadowing and dead ends across the catalog.

Static checks read the loaded catalog (the same ``Catalog`` the engine runs on); the one
data-driven check — "no customer can pass this rule" — runs the qualification evaluator's
``check_rule`` over a sample of customer rows. Each finding names its entities and a fix.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from kaireon_mcp.core.contact_policy import MANDATORY_ENFORCED, PolicySpec, cap_windows, is_bypassable
from kaireon_mcp.core.decisioning.catalog import Catalog, load_catalog
from kaireon_mcp.core.decisioning.nodes import schedule_block
from kaireon_mcp.core.intelligence.common import iter_customers
from kaireon_mcp.core.intelligence.contacts import CAP_TYPES, channel_ids
from kaireon_mcp.core.intelligence.population import CUSTOMER_ONLY_TYPES, offer_view
from kaireon_mcp.core.operators import normalize_operator, to_number
from kaireon_mcp.core.qualification import HARD_STAGES, RuleSpec, check_rule, scope_entries
from kaireon_mcp.errors import KaireonError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AlgorithmModel, Experiment
from kaireon_mcp.storage.types import utcnow

RULE_SAMPLE = 2000
MIN_EVIDENCE = 20
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


class Conflict(BaseModel):
    id: str
    type: str
    severity: str = Field(description="critical | warning | info")
    title: str
    description: str
    entities: list[dict[str, Any]]
    suggestion: str


class ConflictsResult(BaseModel):
    analyzedAt: str
    conflicts: list[Conflict]
    summary: dict[str, int]
    byType: dict[str, int]
    checked: dict[str, int]
    hint: str | None = None


def _entity(kind: str, item_id: str, name: str | None) -> dict[str, Any]:
    return {"type": kind, "id": item_id, "name": name}


def _conflict(
    kind: str,
    severity: str,
    key: str,
    title: str,
    description: str,
    entities: list[dict[str, Any]],
    suggestion: str,
) -> Conflict:
    return Conflict(
        id=f"{kind}:{key}",
        type=kind,
        severity=severity,
        title=title,
        description=description,
        entities=entities,
        suggestion=suggestion,
    )


# ---- rules ----------------------------------------------------------------------------------
async def unpassable_rules(repo: Repository, catalog: Catalog, sample: int = RULE_SAMPLE) -> list[Conflict]:
    """Hard rules no sampled customer passes: every offer they cover is unreachable."""
    rules = [
        r for r in catalog.rules if r.rule_type in CUSTOMER_ONLY_TYPES and r.effective_stage in HARD_STAGES
    ]
    if not rules:
        return []
    view = offer_view({"id": "__any__"})
    passed, seen = Counter[str](), 0
    async for batch in iter_customers(repo, limit=sample, with_metrics=True):
        for cust in batch:
            seen += 1
            for rule in rules:
                try:
                    passed[rule.id] += check_rule(rule, view, cust).passed
                except KaireonError:
                    continue
    if seen < MIN_EVIDENCE:
        return []
    return [
        _conflict(
            "unreachable_rule",
            "critical" if r.scope == "global" else "warning",
            r.id,
            f"No customer passes '{r.name}'",
            f"0 of {seen} sampled customers pass this {r.effective_stage} rule, so every offer in its "
            f"scope ({r.scope}{' ' + str(r.scope_id) if r.scope_id else ''}) is unreachable.",
            [_entity("qualificationRule", r.id, r.name)],
            "Check the attribute name and threshold (simulateRuleChange shows the reach of a new value).",
        )
        for r in rules
        if passed[r.id] == 0
    ]


def _interval(rule: RuleSpec) -> tuple[str, float, float, bool, bool] | None:
    """(attribute, low, high, low_inclusive, high_inclusive) for numeric attribute conditions."""
    if rule.rule_type != "attribute_condition" or rule.effective_stage not in HARD_STAGES:
        return None
    attr = str(rule.config.get("attribute") or rule.config.get("field") or "")
    value = to_number(rule.config.get("value"))
    if not attr or value is None:
        return None
    try:
        op = normalize_operator(str(rule.config.get("operator", "eq")))
    except KaireonError:
        return None
    bounds = {
        "gt": (value, float("inf"), False, False),
        "gte": (value, float("inf"), True, False),
        "lt": (float("-inf"), value, False, False),
        "lte": (float("-inf"), value, False, True),
        "eq": (value, value, True, True),
    }.get(op)
    return None if bounds is None else (attr.removeprefix("customer."), *bounds)


def _scopes_overlap(a: RuleSpec | PolicySpec, b: RuleSpec | PolicySpec) -> bool:
    """Both can apply to one candidate: either is global, or they share a scope assignment."""
    ea, eb = scope_entries(a.scope, a.scope_id, a.scopes), scope_entries(b.scope, b.scope_id, b.scopes)
    if any(s == "global" or not sid for s, sid in ea + eb):
        return True
    return bool(set(ea) & set(eb))


def _disjoint(x: tuple[str, float, float, bool, bool], y: tuple[str, float, float, bool, bool]) -> bool:
    lo, lo_inc = (x[1], x[3]) if x[1] > y[1] or (x[1] == y[1] and not x[3]) else (y[1], y[3])
    hi, hi_inc = (x[2], x[4]) if x[2] < y[2] or (x[2] == y[2] and not x[4]) else (y[2], y[4])
    return lo > hi or (lo == hi and not (lo_inc and hi_inc))


def contradictory_rules(catalog: Catalog) -> list[Conflict]:
    """Two hard numeric conditions on one attribute whose ranges cannot both hold."""
    found = []
    intervals = [(r, i) for r in catalog.rules if (i := _interval(r)) is not None]
    for (ra, ia), (rb, ib) in itertools.combinations(intervals, 2):
        if ia[0] == ib[0] and _scopes_overlap(ra, rb) and _disjoint(ia, ib):
            found.append(
                _conflict(
                    "contradiction",
                    "critical",
                    f"{ra.id}|{rb.id}",
                    f"'{ra.name}' contradicts '{rb.name}'",
                    f"Both are hard rules on '{ia[0]}' with non-overlapping ranges; an offer both apply to "
                    "can never qualify.",
                    [
                        _entity("qualificationRule", ra.id, ra.name),
                        _entity("qualificationRule", rb.id, rb.name),
                    ],
                    "Remove or narrow the scope of one of them.",
                )
            )
    return found


# ---- policies -------------------------------------------------------------------------------
def _slice(catalog: Catalog, policy: PolicySpec) -> tuple[str, frozenset[str]] | None:
    """The history slice a cap counts, comparable across policies; None when not comparable."""
    if (
        policy.rule_type == "customer_total_cap"
        or policy.scope in {"global", "segment"}
        or not policy.scope_id
    ):
        return ("global", frozenset())
    if policy.rule_type != "frequency_cap" or policy.scopes:
        return None
    if policy.scope == "channel":
        return ("channel", frozenset(channel_ids(catalog, policy.scope_id) or [policy.scope_id]))
    return (policy.scope, frozenset([policy.scope_id]))


def _contains(outer: tuple[str, frozenset[str]], inner: tuple[str, frozenset[str]]) -> bool:
    return outer[0] == "global" or (outer[0] == inner[0] and inner[1] <= outer[1])


def _caps(catalog: Catalog) -> list[tuple[PolicySpec, tuple[str, frozenset[str]], str, int]]:
    out = []
    for policy in catalog.policies:
        scope = _slice(catalog, policy) if policy.rule_type in CAP_TYPES else None
        if scope is None:
            continue
        for cap in cap_windows(policy.config):
            if cap.period:
                out.append((policy, scope, cap.period, cap.limit))
    return out


def shadowed_caps(catalog: Catalog) -> list[Conflict]:
    """A cap never binds when a cap over a superset slice, same window, is no higher."""
    found = []
    for (pa, sa, wa, la), (pb, sb, wb, lb) in itertools.permutations(_caps(catalog), 2):
        if pa.id == pb.id or wa != wb or not _contains(sa, sb) or la > lb:
            continue
        if la == lb and sa == sb and pa.id > pb.id:
            continue  # identical duplicates: report once
        found.append(
            _conflict(
                "shadowed_cap",
                "warning",
                f"{pb.id}|{pa.id}|{wb}",
                f"'{pb.name}' is shadowed by '{pa.name}'",
                f"'{pa.name}' allows {la}/{wa} over a slice containing '{pb.name}'s ({lb}/{wb}), so "
                f"'{pb.name}' can never be the cap that blocks.",
                [_entity("contactPolicy", pb.id, pb.name), _entity("contactPolicy", pa.id, pa.name)],
                f"Delete '{pb.name}' or lower its limit below {la}.",
            )
        )
    return found


def _applies_to_offer(catalog: Catalog, policy: PolicySpec, offer: dict[str, Any]) -> bool:
    channels = {c.get("channelId") for c in catalog.creatives_by_offer.get(offer["id"], [])}
    for scope, sid in scope_entries(policy.scope, policy.scope_id, policy.scopes):
        targets = {
            "offer": offer["id"],
            "category": offer.get("categoryId"),
            "subcategory": offer.get("subCategoryId"),
        }
        if scope == "global" or not sid or scope == "segment" or targets.get(scope) == sid:
            return True
        if scope == "channel" and set(channel_ids(catalog, sid) or [sid]) & channels:
            return True
    return False


def mandatory_blocks(catalog: Catalog) -> list[Conflict]:
    """Policies that still apply to mandatory offers (caps and ``bypassable: false``)."""
    found = []
    mandatory = [o for o in catalog.offers.values() if o.get("mandatory") and o.get("status") == "active"]
    for offer, policy in itertools.product(mandatory, catalog.policies):
        enforced = policy.rule_type in MANDATORY_ENFORCED or not is_bypassable(policy)
        if enforced and policy.rule_type != "allow_override" and _applies_to_offer(catalog, policy, offer):
            found.append(
                _conflict(
                    "policy_blocks_mandatory",
                    "warning",
                    f"{policy.id}|{offer['id']}",
                    f"'{policy.name}' can block mandatory offer '{offer['name']}'",
                    f"Mandatory offers bypass contact policies except frequency/cross-channel caps and "
                    f"bypassable:false policies; '{policy.name}' ({policy.rule_type}) applies to this offer.",
                    [
                        _entity("contactPolicy", policy.id, policy.name),
                        _entity("offer", offer["id"], offer["name"]),
                    ],
                    "Exclude the offer from the policy's scope, or accept that it can be capped.",
                )
            )
    return found


def priority_ties(catalog: Catalog) -> list[Conflict]:
    """Blocking policies with equal priority over overlapping scopes: which reason wins is arbitrary."""
    found = []
    blocking = [p for p in catalog.policies if p.rule_type != "allow_override"]
    for a, b in itertools.combinations(blocking, 2):
        if a.priority == b.priority and _scopes_overlap(a, b):
            found.append(
                _conflict(
                    "priority_tie",
                    "info",
                    f"{a.id}|{b.id}",
                    f"'{a.name}' and '{b.name}' share priority {a.priority}",
                    "Both can block the same candidate; with equal priority the evaluation order (and "
                    "the reason "
                    "shown to users) depends on load order.",
                    [_entity("contactPolicy", a.id, a.name), _entity("contactPolicy", b.id, b.name)],
                    "Give the more important policy a higher priority.",
                )
            )
    return found


# ---- offers and scope references ------------------------------------------------------------
def offer_dead_ends(catalog: Catalog) -> list[Conflict]:
    found = []
    now = utcnow()
    for offer in catalog.offers.values():
        if offer.get("status") != "active":
            continue
        live = [c for c in catalog.creatives_by_offer.get(offer["id"], []) if c.get("status") == "active"]
        entity = [_entity("offer", offer["id"], offer["name"])]
        if not live:
            found.append(
                _conflict(
                    "offer_without_creative",
                    "warning",
                    offer["id"],
                    f"'{offer['name']}' has no active creative",
                    "Flows that require a creative drop it on every channel.",
                    entity,
                    "Create or activate a creative for it.",
                )
            )
        ended = schedule_block(offer, now)
        if ended and ended.startswith("schedule ended"):
            found.append(
                _conflict(
                    "expired_offer",
                    "info",
                    offer["id"],
                    f"'{offer['name']}' is active but expired",
                    f"Its {ended}; the schedule check removes it from every decision.",
                    entity,
                    "Archive it or extend the schedule.",
                )
            )
    return found


def orphaned_scopes(catalog: Catalog) -> list[Conflict]:
    """Rules and policies scoped to an offer or category that is missing or not active."""
    known = {"offer": catalog.offers, "category": catalog.categories}
    found = []
    items: list[tuple[str, RuleSpec | PolicySpec]] = [("qualificationRule", r) for r in catalog.rules]
    items += [("contactPolicy", p) for p in catalog.policies]
    for kind, item in items:
        for scope, sid in scope_entries(item.scope, item.scope_id, item.scopes):
            target = known.get(scope, {}).get(str(sid)) if sid else None
            if scope in known and sid and (target is None or target.get("status") not in (None, "active")):
                state = "missing" if target is None else target.get("status")
                found.append(
                    _conflict(
                        "orphaned_scope",
                        "info",
                        f"{item.id}|{sid}",
                        f"'{item.name}' is scoped to a {state} {scope}",
                        f"It only applies to {scope} {sid}, which is {state}, so it never fires.",
                        [_entity(kind, item.id, item.name)],
                        "Re-scope or archive it.",
                    )
                )
    return found


# ---- experiments ----------------------------------------------------------------------------
def _split_total(exp: Experiment) -> float:
    champion = to_number((exp.traffic_split or {}).get("championPct"))
    challengers = sum(to_number(c.get("trafficPct")) or 0 for c in exp.challengers or [])
    return (champion if champion is not None else 100 - challengers) + challengers


def experiment_issues(experiments: list[Experiment], models: dict[str, AlgorithmModel]) -> list[Conflict]:
    found = []
    for exp in experiments:
        entity = _entity("experiment", exp.id, exp.name)
        total = _split_total(exp)
        if abs(total - 100) > 1e-6:
            found.append(
                _conflict(
                    "experiment_split",
                    "warning",
                    exp.id,
                    f"'{exp.name}' splits to {total:g}%",
                    "Champion and challenger traffic must total 100%.",
                    [entity],
                    "Fix trafficSplit.championPct or the challengers' trafficPct.",
                )
            )
        refs = [exp.champion_model_id, *[c.get("modelId") for c in exp.challengers or []]]
        for ref in filter(None, refs):
            model = models.get(str(ref))
            if model is None or model.registry_status == "archived" or model.status == "archived":
                state = "missing" if model is None else "archived"
                severity = "critical" if exp.status in {"active", "running"} else "warning"
                found.append(
                    _conflict(
                        "experiment_archived_model",
                        severity,
                        f"{exp.id}|{ref}",
                        f"'{exp.name}' routes traffic to a {state} model",
                        f"Model {ref} is {state}; customers assigned to it get the neutral fallback score.",
                        [entity, _entity("model", str(ref), model.name if model else None)],
                        "Replace the model or stop the experiment.",
                    )
                )
    return found


async def analyze_policy_conflicts(repo: Repository) -> ConflictsResult:
    catalog = await load_catalog(repo)
    experiments = [e for e in await repo.all(Experiment) if e.status not in {"completed", "archived"}]
    models = {m.id: m for m in await repo.all(AlgorithmModel)}
    conflicts = (
        await unpassable_rules(repo, catalog)
        + contradictory_rules(catalog)
        + shadowed_caps(catalog)
        + mandatory_blocks(catalog)
        + priority_ties(catalog)
        + offer_dead_ends(catalog)
        + orphaned_scopes(catalog)
        + experiment_issues(experiments, models)
    )
    conflicts.sort(key=lambda c: (SEVERITY_ORDER[c.severity], c.type, c.id))
    severities = Counter(c.severity for c in conflicts)
    checked = {
        "offers": len(catalog.offers),
        "rules": len(catalog.rules),
        "policies": len(catalog.policies),
        "experiments": len(experiments),
    }
    return ConflictsResult(
        analyzedAt=utcnow().isoformat(),
        conflicts=conflicts,
        summary={"total": len(conflicts), **{s: severities.get(s, 0) for s in SEVERITY_ORDER}},
        byType=dict(Counter(c.type for c in conflicts)),
        checked=checked,
        hint=None
        if any(checked.values())
        else "Nothing to check yet: the tenant has no offers, rules, policies or experiments.",
    )
