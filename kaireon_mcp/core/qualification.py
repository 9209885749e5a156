"""Qualification rules ("decisioning gates", spec §4): hard filters and the soft fitMultiplier.

Pure functions over small value objects; the engine loads rules, customer attributes,
metrics and interaction facts and hands them in. ``CandidateView`` and ``CustomerContext``
are shared with the contact-policy and scoring modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from kaireon_mcp.core.operators import (
    MISSING,
    PRESENCE_OPERATORS,
    compare_canonical,
    format_value,
    normalize_operator,
    operator_symbol,
    resolve_field,
    to_number,
)
from kaireon_mcp.errors import ValidationError

STAGES: Final[tuple[str, ...]] = ("eligibility", "fit", "match", "ranking")
HARD_STAGES: Final[frozenset[str]] = frozenset({"eligibility", "fit"})
LEGACY_STAGES: Final[Mapping[str, str]] = {
    "qualification": "eligibility",
    "applicability": "fit",
    "suitability": "match",
}
DEFAULT_STAGE_BY_TYPE: Final[Mapping[str, str]] = {
    "segment_required": "eligibility",
    "attribute_condition": "eligibility",
    "metric_condition": "eligibility",
    "offer_attribute": "eligibility",
    "propensity_threshold": "match",
    "recency_check": "match",
}
RULE_TYPES: Final[tuple[str, ...]] = tuple(DEFAULT_STAGE_BY_TYPE)
SCOPES: Final[tuple[str, ...]] = (
    "global", "segment", "channel", "category", "subcategory", "offer", "creative", "placement",
)  # fmt: skip
DEFAULT_MATCH_MULTIPLIER: Final = 0.5
MIN_MULTIPLIER: Final = 0.1
MAX_MULTIPLIER: Final = 1.0


_NO_OFFER: Final[Mapping[str, Any]] = MappingProxyType({})


@dataclass(frozen=True)
class CandidateView:
    """What rules and policies may know about one candidate (offer + chosen creative + request)."""

    offer_id: str
    category_id: str | None = None
    sub_category_id: str | None = None
    creative_id: str | None = None
    channel_id: str | None = None
    placement_id: str | None = None
    channel_type: str | None = None
    product_type: str | None = None
    category_name: str | None = None
    mandatory: bool = False
    budget: Mapping[str, Any] | None = None
    offer: Mapping[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        offer_id: str,
        category_id: str | None = None,
        sub_category_id: str | None = None,
        creative_id: str | None = None,
        channel_id: str | None = None,
        placement_id: str | None = None,
        channel_type: str | None = None,
        product_type: str | None = None,
        category_name: str | None = None,
        mandatory: bool = False,
        budget: Mapping[str, Any] | None = None,
        offer: Mapping[str, Any] = _NO_OFFER,
    ) -> None:
        """The generated frozen ``__init__`` with one dict update instead of an
        ``object.__setattr__`` per field: a decision builds several views per candidate.
        """
        self.__dict__.update(
            offer_id=offer_id,
            category_id=category_id,
            sub_category_id=sub_category_id,
            creative_id=creative_id,
            channel_id=channel_id,
            placement_id=placement_id,
            channel_type=channel_type,
            product_type=product_type,
            category_name=category_name,
            mandatory=mandatory,
            budget=budget,
            offer={} if offer is _NO_OFFER else offer,
        )


PropensityLookup = Callable[[CandidateView, str | None], float | None]
RecencyLookup = Callable[[str], float | None]


@dataclass(frozen=True)
class CustomerContext:
    """The customer as decisioning sees it: merged enriched + request attributes.

    ``propensity(candidate, model_reference)`` and ``days_since_last_impression(offer_id)``
    are injected so this module never touches storage; both return ``None`` when unknown.
    """

    customer_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    segments: frozenset[str] | set[str] = field(default_factory=frozenset)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    propensity: PropensityLookup | None = None
    days_since_last_impression: RecencyLookup | None = None


def customer_segments(customer: CustomerContext) -> frozenset[str]:
    """Request segments ∪ enriched ``customer.segment``/``segments`` (string or list), per §4.4."""
    merged = set(customer.segments)
    for key in ("segment", "segments", "customer.segment", "customer.segments"):
        value = customer.attributes.get(key)
        if isinstance(value, str):
            merged.add(value)
        elif isinstance(value, list | tuple | set | frozenset):
            merged.update(str(item) for item in value)
    return frozenset(merged)


def customer_namespaces(customer: CustomerContext) -> dict[str, Any]:
    """Namespaces for :func:`resolve_field`; attributes answer both ``customer.*`` and ``attributes.*``."""
    return {"customer": customer.attributes, "attributes": customer.attributes}


def resolve_stage(rule_type: str, stage: str | None) -> str:
    """Explicit stage (legacy names mapped) or the rule type's default stage."""
    if stage:
        canonical = LEGACY_STAGES.get(stage, stage)
        if canonical not in STAGES:
            raise ValidationError(
                f"Unknown stage {stage!r}; expected one of {', '.join(STAGES)}", field="stage"
            )
        return canonical
    if rule_type not in DEFAULT_STAGE_BY_TYPE:
        raise ValidationError(f"Unknown rule type {rule_type!r}", field="ruleType")
    return DEFAULT_STAGE_BY_TYPE[rule_type]


@dataclass
class RuleSpec:
    """One qualification rule, already loaded; ``scopes`` (when non-empty) supersedes scope/scope_id."""

    id: str
    name: str
    rule_type: str
    config: Mapping[str, Any] = field(default_factory=dict)
    scope: str = "global"
    scope_id: str | None = None
    scopes: list[dict[str, Any]] = field(default_factory=list)
    priority: int = 50
    stage: str | None = None
    status: str = "active"

    @property
    def effective_stage(self) -> str:
        return resolve_stage(self.rule_type, self.stage)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> RuleSpec:
        """Build from an API/DB row in camelCase (snake_case accepted)."""
        return cls(
            id=str(row.get("id", "")),
            name=str(row.get("name", "")),
            rule_type=str(row.get("ruleType") or row.get("rule_type") or ""),
            config=dict(row.get("config") or {}),
            scope=str(row.get("scope") or "global"),
            scope_id=row.get("scopeId", row.get("scope_id")),
            scopes=[dict(item) for item in row.get("scopes") or []],
            priority=int(row.get("priority", 50) or 0),
            stage=row.get("stage"),
            status=str(row.get("status") or "active"),
        )


def _channel_matches(candidate: CandidateView, scope_id: str) -> bool:
    return scope_id in {candidate.channel_id, candidate.channel_type}


def scope_matches(
    scope: str | None, scope_id: str | None, candidate: CandidateView, segments: Iterable[str]
) -> bool:
    """§4.3 scope test. A non-global scope without ``scope_id`` behaves globally (the §5.1
    gotcha, applied to rules too for one consistent mental model). Channel scopes accept a
    channel id or a channel type name such as ``email``. Unknown scopes never match.
    """
    kind = (scope or "global").lower()
    if kind == "global" or scope_id in (None, ""):
        return kind in SCOPES or kind == "sub_category"
    if kind == "segment":
        return scope_id in set(segments)
    if kind == "channel":
        return _channel_matches(candidate, scope_id)
    targets = {
        "category": candidate.category_id,
        "subcategory": candidate.sub_category_id,
        "sub_category": candidate.sub_category_id,
        "offer": candidate.offer_id,
        "creative": candidate.creative_id,
        "placement": candidate.placement_id,
    }
    return kind in targets and targets[kind] == scope_id


def scope_entries(
    scope: str | None, scope_id: str | None, scopes: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str | None]]:
    """Normalised ``(scope, scopeId)`` assignments: ``scopes[]`` if present, else the single pair."""
    if scopes:
        return [
            (str(item.get("scope") or "global"), item.get("scopeId", item.get("scope_id"))) for item in scopes
        ]
    return [(scope or "global", scope_id)]


def rule_applies(rule: RuleSpec, candidate: CandidateView, segments: Iterable[str]) -> bool:
    """Active and in scope (any ``scopes[]`` assignment matching is enough)."""
    if rule.status != "active":
        return False
    seg = frozenset(segments)
    return any(
        scope_matches(kind, sid, candidate, seg)
        for kind, sid in scope_entries(rule.scope, rule.scope_id, rule.scopes)
    )


@dataclass(frozen=True)
class RuleCheck:
    """Raw verdict of one rule before stage semantics are applied."""

    passed: bool
    reason: str


@dataclass
class QualificationOutcome:
    """``passed`` is false only for a hard failure; match failures only lower ``fit_multiplier``."""

    passed: bool
    fit_multiplier: float
    results: list[dict[str, Any]]
    failed_rule: RuleSpec | None = None


def _label(path: str) -> str:
    for prefix in ("customer.", "attributes.", "offer."):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _condition_check(label: str, found: bool, actual: Any, operator: str, expected: Any) -> RuleCheck:
    """Shared attribute/metric/offer-field semantics: missing passes unless presence is tested."""
    canonical = normalize_operator(operator)
    if not found and canonical not in PRESENCE_OPERATORS:
        return RuleCheck(True, f'Missing attribute "{label}"; rule skipped')
    if compare_canonical(actual if found else MISSING, canonical, expected):
        if canonical in PRESENCE_OPERATORS:
            return RuleCheck(True, f"{label} {operator_symbol(canonical)}")
        return RuleCheck(
            True, f"{label} {format_value(actual)} {operator_symbol(canonical)} {format_value(expected)}"
        )
    if canonical == "exists":
        return RuleCheck(False, f'Missing attribute "{label}"')
    if canonical in PRESENCE_OPERATORS:
        return RuleCheck(False, f"{label} {operator_symbol(canonical, negated=True)}")
    return RuleCheck(
        False,
        f"{label} {format_value(actual)} {operator_symbol(canonical, negated=True)} {format_value(expected)}",
    )


def _check_segments(config: Mapping[str, Any], customer: CustomerContext) -> RuleCheck:
    required = [str(s) for s in config.get("requiredSegments") or config.get("segments") or []]
    if not required:
        return RuleCheck(True, "No required segments")
    have = customer_segments(customer)
    missing = [seg for seg in required if seg not in have]
    if str(config.get("matchMode", "all")).lower() == "any":
        if len(missing) < len(required):
            return RuleCheck(True, "In at least one required segment")
        return RuleCheck(False, f"Not in any required segment: {', '.join(required)}")
    if missing:
        return RuleCheck(False, f"Missing required segments: {', '.join(missing)}")
    return RuleCheck(True, "Has all required segments")


def _check_attribute(config: Mapping[str, Any], customer: CustomerContext) -> RuleCheck:
    path = config.get("attribute") or config.get("field")
    if not isinstance(path, str) or not path:
        raise ValidationError("attribute_condition needs config.attribute", field="config.attribute")
    found, actual = resolve_field(path, customer_namespaces(customer), default_namespace="customer")
    return _condition_check(
        _label(path), found, actual, str(config.get("operator", "eq")), config.get("value")
    )


def metric_value(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> tuple[str, bool, Any]:
    """``(name, found, value)`` for ``config.metricId`` (preferred) or ``config.metricName``."""
    for key in ("metricId", "metricName"):
        name = config.get(key)
        if name is not None and name in metrics:
            return str(name), True, metrics[name]
    name = config.get("metricName") or config.get("metricId")
    if name is None:
        raise ValidationError("metric_condition needs config.metricId or config.metricName", field="config")
    return str(name), False, None


def _check_metric(config: Mapping[str, Any], customer: CustomerContext) -> RuleCheck:
    name, found, value = metric_value(config, customer.metrics)
    check = _condition_check(name, found, value, str(config.get("operator", "gte")), config.get("value"))
    if not found:
        return RuleCheck(check.passed, f'No value for metric "{name}"; rule skipped')
    return RuleCheck(check.passed, f"metric {check.reason}")


def _check_offer_attribute(
    config: Mapping[str, Any], candidate: CandidateView, customer: CustomerContext
) -> RuleCheck:
    """Offer field vs a literal ``value`` or, with ``customerAttribute``, vs the customer's value."""
    path = config.get("attribute") or config.get("field")
    if not isinstance(path, str) or not path:
        raise ValidationError("offer_attribute needs config.attribute", field="config.attribute")
    offer_ns = {"offer": candidate.offer}
    found, actual = resolve_field(path, offer_ns, default_namespace="offer")
    expected = config.get("value")
    customer_path = config.get("customerAttribute")
    if isinstance(customer_path, str):
        has, expected = resolve_field(
            customer_path, customer_namespaces(customer), default_namespace="customer"
        )
        if not has:
            return RuleCheck(True, f'Missing attribute "{_label(customer_path)}"; rule skipped')
    return _condition_check(_label(path), found, actual, str(config.get("operator", "eq")), expected)


def _check_propensity(
    config: Mapping[str, Any], candidate: CandidateView, customer: CustomerContext
) -> RuleCheck:
    """Propensity via the injected lookup, else ``attributes.propensityScores[offerId|productType]``.

    No propensity at all means no evidence against the offer, so the rule passes.
    """
    threshold = to_number(config.get("threshold"))
    if threshold is None:
        raise ValidationError(
            "propensity_threshold needs a numeric config.threshold", field="config.threshold"
        )
    score = _lookup_propensity(config, candidate, customer)
    if score is None:
        return RuleCheck(True, "No propensity available; rule skipped")
    if score < threshold:
        return RuleCheck(False, f"propensity {format_value(round(score, 4))} < {format_value(threshold)}")
    return RuleCheck(True, f"propensity {format_value(round(score, 4))} >= {format_value(threshold)}")


def _lookup_propensity(
    config: Mapping[str, Any], candidate: CandidateView, customer: CustomerContext
) -> float | None:
    if customer.propensity is not None:
        value = customer.propensity(candidate, config.get("modelReference"))
        if value is not None:
            return float(value)
    scores = customer.attributes.get("propensityScores")
    if isinstance(scores, Mapping):
        for key in (candidate.offer_id, candidate.product_type):
            if key is not None and to_number(scores.get(key)) is not None:
                return to_number(scores[key])
    return None


def _check_recency(
    config: Mapping[str, Any], candidate: CandidateView, customer: CustomerContext
) -> RuleCheck:
    minimum = to_number(config.get("minDaysSinceLastImpression"))
    if minimum is None:
        raise ValidationError("recency_check needs config.minDaysSinceLastImpression", field="config")
    days = (
        None
        if customer.days_since_last_impression is None
        else customer.days_since_last_impression(candidate.offer_id)
    )
    if days is None:
        return RuleCheck(True, "Never shown; rule skipped")
    if days < minimum:
        return RuleCheck(
            False, f"last impression {format_value(round(days, 2))}d ago < {format_value(minimum)}d"
        )
    return RuleCheck(True, f"last impression {format_value(round(days, 2))}d ago >= {format_value(minimum)}d")


def check_rule(rule: RuleSpec, candidate: CandidateView, customer: CustomerContext) -> RuleCheck:
    """Evaluate one rule's condition, ignoring stage; unknown types are configuration errors."""
    config = rule.config
    if rule.rule_type == "segment_required":
        return _check_segments(config, customer)
    if rule.rule_type == "attribute_condition":
        return _check_attribute(config, customer)
    if rule.rule_type == "metric_condition":
        return _check_metric(config, customer)
    if rule.rule_type == "offer_attribute":
        return _check_offer_attribute(config, candidate, customer)
    if rule.rule_type == "propensity_threshold":
        return _check_propensity(config, candidate, customer)
    if rule.rule_type == "recency_check":
        return _check_recency(config, candidate, customer)
    raise ValidationError(f"Unknown rule type {rule.rule_type!r}", field="ruleType")


def match_factor(rule: RuleSpec) -> float:
    """Decay applied on a failed match-stage rule, clamped to the documented [0.1, 1.0]."""
    keys = ("multiplierBelow", "multiplier") if rule.rule_type == "propensity_threshold" else ("multiplier",)
    for key in (*keys, "decay"):
        value = to_number(rule.config.get(key))
        if value is not None:
            return min(MAX_MULTIPLIER, max(MIN_MULTIPLIER, value))
    return DEFAULT_MATCH_MULTIPLIER


def applicable_rules(
    rules: Iterable[RuleSpec], candidate: CandidateView, customer: CustomerContext
) -> list[RuleSpec]:
    """Active, in-scope rules sorted by priority desc (stable, so input order breaks ties)."""
    segments = customer_segments(customer)
    selected = [rule for rule in rules if rule_applies(rule, candidate, segments)]
    return sorted(selected, key=lambda rule: -rule.priority)


#: candidate attribute each id-scoped kind is matched against (mirrors :func:`scope_matches`)
_SCOPE_FIELDS: Final[Mapping[str, str]] = {
    "segment": "segment",
    "channel": "channel",
    "category": "category_id",
    "subcategory": "sub_category_id",
    "sub_category": "sub_category_id",
    "offer": "offer_id",
    "creative": "creative_id",
    "placement": "placement_id",
}
_UNSCOPED_KINDS: Final = frozenset(SCOPES) | {"sub_category"}
_SPECIAL: Final = frozenset({"segment", "channel"})
Hit = tuple[int, int]


class ScopeIndex:
    """Many items' scope entries bucketed by the candidate field they test, built once per
    rule or policy list, so a candidate costs a few dict lookups instead of a
    :func:`scope_matches` call per entry. Same answers as :func:`scope_matches`; raises
    ``TypeError`` for an unhashable scope id (callers then fall back to the plain scan).
    """

    def __init__(self, entries: Sequence[Sequence[tuple[str | None, Any]]]) -> None:
        always: list[Hit] = []
        self._buckets: dict[str, dict[Any, list[Hit]]] = {}
        for item, pairs in enumerate(entries):
            for position, (scope, scope_id) in enumerate(pairs):
                kind = (scope or "global").lower()
                if kind == "global" or scope_id in (None, ""):
                    if kind in _UNSCOPED_KINDS:
                        always.append((item, position))
                elif kind in _SCOPE_FIELDS:
                    bucket = self._buckets.setdefault(_SCOPE_FIELDS[kind], {})
                    bucket.setdefault(scope_id, []).append((item, position))
        self._always = always
        self._fields = [(name, bucket) for name, bucket in self._buckets.items() if name not in _SPECIAL]

    def hits(self, candidate: CandidateView, segments: frozenset[str]) -> list[Hit]:
        """``(item, entry)`` pairs matching the candidate, in item then entry order."""
        found: list[Hit] = []
        for name, bucket in self._fields:
            found += bucket.get(getattr(candidate, name), ())
        channels = self._buckets.get("channel")
        if channels:
            found += channels.get(candidate.channel_id, ())
            if candidate.channel_type != candidate.channel_id:
                found += channels.get(candidate.channel_type, ())
        by_segment = self._buckets.get("segment")
        if by_segment:
            for segment_id, pairs in by_segment.items():
                if segment_id in segments:
                    found += pairs
        return sorted(self._always + found) if found else self._always


class RuleIndex:
    """A rule list prepared once (active rules in evaluation order, stages, scope index);
    pass it to :func:`evaluate_rules` instead of the list when evaluating many candidates.
    """

    def __init__(self, rules: Iterable[RuleSpec]) -> None:
        self.rules = sorted(
            (rule for rule in rules if rule.status == "active"), key=lambda rule: -rule.priority
        )
        self._stages = [_stage_or_none(rule) for rule in self.rules]
        self._customer_only = [rule.rule_type in CUSTOMER_ONLY_TYPES for rule in self.rules]
        try:
            self._scopes: ScopeIndex | None = ScopeIndex(
                [scope_entries(rule.scope, rule.scope_id, rule.scopes) for rule in self.rules]
            )
        except TypeError:
            self._scopes = None

    def positions(self, candidate: CandidateView, segments: frozenset[str]) -> list[int]:
        """Indexes into ``rules`` of the in-scope rules, ordered as :func:`applicable_rules` orders them."""
        if self._scopes is None:
            return [i for i, rule in enumerate(self.rules) if rule_applies(rule, candidate, segments)]
        return list(dict.fromkeys(item for item, _ in self._scopes.hits(candidate, segments)))

    def evaluate(
        self,
        candidate: CandidateView,
        customer: CustomerContext,
        memo: dict[Any, Any] | None,
        segments: frozenset[str],
    ) -> QualificationOutcome:
        """:func:`evaluate_rules` over this index. When every in-scope rule depends on the
        customer alone, candidates with the same in-scope rules share one outcome per
        decision (``memo``); each gets its own copy of the result rows.
        """
        positions = self.positions(candidate, segments)
        staged = [(self.rules[i], self._stages[i]) for i in positions]
        if memo is None or not all(self._customer_only[i] for i in positions):
            return _evaluate(staged, candidate, customer, memo)
        key = (_OUTCOME, id(self), tuple(positions))
        shared = memo.get(key)
        if shared is None:
            shared = memo[key] = _evaluate(staged, candidate, customer, memo)
        results = [dict(row) for row in shared.results]
        return QualificationOutcome(shared.passed, shared.fit_multiplier, results, shared.failed_rule)


_OUTCOME: Final = "qualification outcome"


def _stage_or_none(rule: RuleSpec) -> str | None:
    """Resolved stage, or ``None`` so an invalid one still raises only when the rule is used."""
    try:
        return rule.effective_stage
    except ValidationError:
        return None


def _result(rule: RuleSpec, stage: str, check: RuleCheck, reason: str | None = None) -> dict[str, Any]:
    return {
        "ruleId": rule.id,
        "ruleName": rule.name,
        "ruleType": rule.rule_type,
        "stage": stage,
        "passed": check.passed,
        "reason": reason or check.reason,
    }


#: rule types whose outcome depends on the customer alone, not on the candidate offer
CUSTOMER_ONLY_TYPES: Final = frozenset({"segment_required", "attribute_condition", "metric_condition"})


def evaluate_rules(
    rules: Iterable[RuleSpec] | RuleIndex,
    candidate: CandidateView,
    customer_ctx: CustomerContext,
    memo: dict[Any, Any] | None = None,
    segments: frozenset[str] | None = None,
) -> QualificationOutcome:
    """§4.2: stop at the first hard (eligibility/fit) failure; match failures multiply the
    fit multiplier; ranking-stage rules are evaluated for the record but never applied.
    Mandatory offers bypass qualification at the engine level (§3.11), not here.

    ``memo`` (one dict per decision) reuses customer-only rule checks across candidates,
    so a global age rule is evaluated once per customer, not once per offer. A
    :class:`RuleIndex` and precomputed ``segments`` spare the per-candidate scope scan.
    """
    if isinstance(rules, RuleIndex):
        segments = customer_segments(customer_ctx) if segments is None else segments
        return rules.evaluate(candidate, customer_ctx, memo, segments)
    staged = [(rule, None) for rule in applicable_rules(rules, candidate, customer_ctx)]
    return _evaluate(staged, candidate, customer_ctx, memo)


def _evaluate(
    staged: Iterable[tuple[RuleSpec, str | None]],
    candidate: CandidateView,
    customer_ctx: CustomerContext,
    memo: dict[Any, Any] | None,
) -> QualificationOutcome:
    multiplier = 1.0
    results: list[dict[str, Any]] = []
    for rule, known_stage in staged:
        stage = known_stage or rule.effective_stage
        if memo is not None and rule.rule_type in CUSTOMER_ONLY_TYPES:
            check = memo.get(rule.id) or memo.setdefault(rule.id, check_rule(rule, candidate, customer_ctx))
        else:
            check = check_rule(rule, candidate, customer_ctx)
        if stage == "ranking":
            results.append(_result(rule, stage, check, f"{check.reason} (ranking stage: not applied)"))
            continue
        if check.passed:
            results.append(_result(rule, stage, check))
            continue
        if stage in HARD_STAGES:
            results.append(_result(rule, stage, check))
            return QualificationOutcome(False, multiplier, results, rule)
        factor = match_factor(rule)
        multiplier *= factor
        results.append(_result(rule, stage, check, f"{check.reason}; fitMultiplier x{format_value(factor)}"))
    return QualificationOutcome(True, multiplier, results, None)
