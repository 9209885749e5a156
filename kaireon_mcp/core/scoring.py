"""Scoring arithmetic (spec §3.5-§3.7): PRIE, its weights and factors, priority_weighted,
and hierarchical propensity from adaptive-learning counts.

Every function is total over sane inputs and clamps factors into [0, 1], because a single
out-of-range value would otherwise dominate a geometric mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kaireon_mcp.core.operators import to_number
from kaireon_mcp.core.qualification import CandidateView
from kaireon_mcp.errors import ValidationError

SCORE_FACTORS: Final[tuple[str, ...]] = ("propensity", "relevance", "impact", "emphasis")
PROFILE_ALIASES: Final[Mapping[str, str]] = {
    "propensity": "propensity",
    "conversion": "propensity",
    "relevance": "relevance",
    "recency": "relevance",
    "impact": "impact",
    "margin": "impact",
    "emphasis": "emphasis",
    "fairness": "emphasis",
    "uplift": "uplift",
    "clv": "clv",
}
FORMULA_KEYS: Final[Mapping[str, str]] = {
    "propensityWeight": "propensity",
    "relevanceWeight": "relevance",
    "impactWeight": "impact",
    "emphasisWeight": "emphasis",
    "upliftWeight": "uplift",
    "clvWeight": "clv",
}
DEFAULT_PROPENSITY: Final = 0.5
OFFER_MATURE_EVIDENCE: Final = 50
CATEGORY_MIN_EVIDENCE: Final = 20
GLOBAL_MIN_EVIDENCE: Final = 10
DEFAULT_SMOOTHING: Final = 10.0


@dataclass(frozen=True)
class PrieWeights:
    """PRIE exponents; the four core weights sum to 1, uplift and CLV are optional extras."""

    propensity: float = 0.4
    relevance: float = 0.2
    impact: float = 0.3
    emphasis: float = 0.1
    uplift: float = 0.0
    clv: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "propensity": self.propensity,
            "relevance": self.relevance,
            "impact": self.impact,
            "emphasis": self.emphasis,
            "uplift": self.uplift,
            "clv": self.clv,
        }


DEFAULT_WEIGHTS: Final = PrieWeights()


def clamp01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _as_weights(weights: PrieWeights | Mapping[str, float]) -> PrieWeights:
    if isinstance(weights, PrieWeights):
        return weights
    parsed = weights_from_profile(weights)
    if parsed is None:
        raise ValidationError("Weights name none of propensity/relevance/impact/emphasis", field="weights")
    return parsed


def prie_score(
    P: float,
    R: float,
    I: float,  # noqa: E741 - the spec's factor names
    E: float,
    weights: PrieWeights | Mapping[str, float] = DEFAULT_WEIGHTS,
    uplift: float | None = None,
    clv: float | None = None,
) -> float:
    """Weighted geometric mean ``exp(Σ w·ln f)``, before fitMultiplier (the caller applies it).

    Any factor of 0 with weight > 0 eliminates the candidate; weight 0 ignores its factor
    (0^0 treated as 1). ``clv`` is the customer's clvScore (0-100): Impact's exponent grows
    by ``Wclv·clv/100``. ``uplift`` is the treatment effect τ in [-1, 1], mapped to
    ``clamp(1 + τ, 0, 2)^Wu`` so τ = 0 is neutral, persuadables gain up to 2^Wu and a
    certain sleeping dog (τ = -1) is eliminated. Factors are clamped to [0, 1].
    """
    resolved = _as_weights(weights)
    impact_weight = resolved.impact
    if clv is not None and resolved.clv > 0:
        impact_weight += resolved.clv * clamp01(clv / 100)
    terms = [
        (clamp01(P), resolved.propensity),
        (clamp01(R), resolved.relevance),
        (clamp01(I), impact_weight),
        (clamp01(E), resolved.emphasis),
    ]
    if uplift is not None and resolved.uplift > 0:
        terms.append((min(2.0, max(0.0, 1.0 + float(uplift))), resolved.uplift))
    log_sum = 0.0
    for factor, weight in terms:
        if weight < 0:
            raise ValidationError("PRIE weights must be non-negative", field="weights")
        if weight == 0:
            continue
        if factor <= 0:
            return 0.0
        log_sum += weight * math.log(factor)
    return math.exp(log_sum)


def _normalised(raw: dict[str, float]) -> PrieWeights | None:
    total = sum(raw.get(name, 0.0) for name in SCORE_FACTORS)
    if total <= 0:
        return None
    core = {name: raw.get(name, 0.0) / total for name in SCORE_FACTORS}
    return PrieWeights(**core, uplift=raw.get("uplift", 0.0), clv=raw.get("clv", 0.0))


def _weight_value(key: str, value: Any) -> float:
    number = to_number(value)
    if number is None or number < 0:
        raise ValidationError(f"Weight {key!r} must be a non-negative number", field=f"weights.{key}")
    return number


def weights_from_profile(profile: Mapping[str, Any] | None) -> PrieWeights | None:
    """RankingProfile weights (or a profile dict holding ``weights``) → normalised PRIE weights.

    Business aliases add into their factor (conversion→P, recency→R, margin→I, fairness→E);
    other keys (revenue, fatigue, …) are ignored. ``None`` when no PRIE key is present, so
    the next weight source in the precedence chain applies.
    """
    if not profile:
        return None
    nested = profile.get("weights")
    weights: Mapping[str, Any] = nested if isinstance(nested, Mapping) else profile
    raw: dict[str, float] = {}
    for key, value in weights.items():
        target = PROFILE_ALIASES.get(str(key))
        if target is not None:
            raw[target] = raw.get(target, 0.0) + _weight_value(str(key), value)
    return _normalised(raw)


def weights_from_formula(formula: Mapping[str, Any] | None) -> PrieWeights | None:
    """Score-node ``formula``; missing core keys take the node defaults before normalising."""
    if not formula:
        return None
    raw = DEFAULT_WEIGHTS.as_dict()
    for key, target in FORMULA_KEYS.items():
        if formula.get(key) is not None:
            raw[target] = _weight_value(key, formula[key])
    return _normalised(raw)


def _override_matches(override: Mapping[str, Any], candidate: CandidateView) -> bool:
    value = override.get("value")
    scope = str(override.get("scope", "")).lower()
    if value is None:
        return False
    if scope == "category":
        return value in {candidate.category_id, candidate.category_name}
    if scope in {"producttype", "product_type"}:
        return bool(value == candidate.product_type)
    if scope == "channel":
        return value in {candidate.channel_id, candidate.channel_type}
    return False


def resolve_weights(
    strategy_overrides: Sequence[Mapping[str, Any]] | None,
    candidate: CandidateView | None,
    strategy_profile: Mapping[str, Any] | None,
    tenant_default_profile: Mapping[str, Any] | None,
    node_formula: Mapping[str, Any] | None,
) -> PrieWeights:
    """First usable source wins: matching strategy override → strategy profile → tenant
    default profile → Score-node formula → defaults (0.4/0.2/0.3/0.1).

    Overrides are ``{scope: category|productType|channel, value, weights | profile}`` with the
    profile already resolved by the caller (this module never loads profiles by id).
    """
    if candidate is not None:
        for override in strategy_overrides or ():
            if _override_matches(override, candidate):
                found = weights_from_profile(override.get("weights") or override.get("profile"))
                if found is not None:
                    return found
    for profile in (strategy_profile, tenant_default_profile):
        found = weights_from_profile(profile)
        if found is not None:
            return found
    return weights_from_formula(node_formula) or DEFAULT_WEIGHTS


class WeightResolver:
    """:func:`resolve_weights` for every candidate of one Score node: the profile chain is
    parsed once and only the strategy overrides are matched per candidate. Same weights and
    the same errors, raised at the same candidate.
    """

    def __init__(
        self,
        strategy_overrides: Sequence[Mapping[str, Any]] | None,
        strategy_profile: Mapping[str, Any] | None,
        tenant_default_profile: Mapping[str, Any] | None,
        node_formula: Mapping[str, Any] | None,
    ) -> None:
        self.overrides = list(strategy_overrides or ())
        self._chain = (strategy_profile, tenant_default_profile, node_formula)
        self._fallback: PrieWeights | None = None
        self._parsed: dict[int, PrieWeights | None] = {}

    def __call__(self, candidate: CandidateView | None) -> PrieWeights:
        if candidate is not None:
            for index, override in enumerate(self.overrides):
                found = self._override(index, override) if _override_matches(override, candidate) else None
                if found is not None:
                    return found
        if self._fallback is None:
            self._fallback = resolve_weights(None, None, *self._chain)
        return self._fallback

    def _override(self, index: int, override: Mapping[str, Any]) -> PrieWeights | None:
        if index not in self._parsed:
            self._parsed[index] = weights_from_profile(override.get("weights") or override.get("profile"))
        return self._parsed[index]


def relevance(
    channel_matched: bool | None = None,
    segment_match: float | bool | None = None,
    days_since_last_impression: float | None = None,
    recency_half_life_days: float = 7.0,
) -> float:
    """Mean of the available signals; no signal at all gives a neutral 1.0.

    * channel: 1.0 when the offer has a creative made for the requested channel, 0.5 when
      it is only generically available (never 0, so a channel mismatch demotes, not kills);
    * segment: the share (0-1) of the offer's target segments the customer is in;
    * recency (fatigue): ``1 - 0.5·2^(-days/halfLife)``, so an offer shown just now scores
      0.5 and the penalty halves every half-life; never shown scores 1.0.
    Relevance only penalises on evidence, hence the neutral default (worked example R = 1).
    """
    signals: list[float] = []
    if channel_matched is not None:
        signals.append(1.0 if channel_matched else 0.5)
    if segment_match is not None:
        signals.append(clamp01(float(segment_match)))
    if days_since_last_impression is not None:
        days = max(0.0, days_since_last_impression)
        signals.append(1.0 - 0.5 * math.pow(2.0, -days / recency_half_life_days))
    return sum(signals) / len(signals) if signals else 1.0


def impact(offer: Mapping[str, Any], value_scale: float = 100.0) -> float:
    """``businessValue/100``; else ``margin`` then ``revenueValue`` divided by ``value_scale``
    (pass the candidate set's maximum to normalise relatively); else the default 0.5
    (businessValue's inferred default of 50).
    """
    business = to_number(offer.get("businessValue"))
    if business is not None:
        return clamp01(business / 100)
    for key in ("margin", "revenueValue"):
        value = to_number(offer.get(key))
        if value is not None and value_scale > 0:
            return clamp01(value / value_scale)
    return 0.5


def emphasis(offer: Mapping[str, Any]) -> float:
    """Marketer lever: ``priority/100`` with the documented default priority 50."""
    priority = to_number(offer.get("priority"))
    return clamp01((50.0 if priority is None else priority) / 100)


def priority_weighted(priority: float | None, weight: float | None, fit: float = 1.0) -> float:
    """``(priority/100)·(weight/100)·fit``; weight defaults to 100, priority to 50."""
    p = 50.0 if priority is None else float(priority)
    w = 100.0 if weight is None else float(weight)
    return (p / 100) * (w / 100) * fit


@dataclass(frozen=True)
class AdaptationCounts:
    """Evidence (responses seen) and positives for one ModelAdaptation scope."""

    evidence: float = 0
    positives: float = 0

    @property
    def rate(self) -> float | None:
        return None if self.evidence <= 0 else clamp01(self.positives / self.evidence)


def maturity(evidence: float) -> str:
    """§3.5 labels: cold_start (0), immature (1-49), maturing (50-199), mature (200+)."""
    if evidence <= 0:
        return "cold_start"
    if evidence < OFFER_MATURE_EVIDENCE:
        return "immature"
    return "maturing" if evidence < 200 else "mature"


def _prior(
    category: AdaptationCounts | None, global_: AdaptationCounts | None, model_score: float | None
) -> tuple[float, str]:
    if category is not None and category.evidence >= CATEGORY_MIN_EVIDENCE and category.rate is not None:
        return category.rate, "category"
    if global_ is not None and global_.evidence >= GLOBAL_MIN_EVIDENCE and global_.rate is not None:
        return global_.rate, "global"
    if model_score is not None:
        return clamp01(model_score), "model"
    return DEFAULT_PROPENSITY, "default"


def resolve_propensity(
    offer: AdaptationCounts | None,
    category: AdaptationCounts | None = None,
    global_: AdaptationCounts | None = None,
    model_score: float | None = None,
    smoothing: float = DEFAULT_SMOOTHING,
) -> tuple[float, str]:
    """Hierarchical P per §3.5, returning ``(P, source)``.

    Offer evidence ≥ 50 → offer rate ("offer"); 1-49 → ``(pos + s·prior)/(evidence + s)``
    ("offer_blend") where prior is the first of category rate (≥ 20 evidence), global rate
    (≥ 10), model score, 0.5; no offer evidence → that prior itself, labelled by its source.
    """
    if offer is not None and offer.evidence >= OFFER_MATURE_EVIDENCE and offer.rate is not None:
        return offer.rate, "offer"
    prior, source = _prior(category, global_, model_score)
    if offer is not None and offer.evidence > 0:
        blended = (offer.positives + smoothing * prior) / (offer.evidence + smoothing)
        return clamp01(blended), "offer_blend"
    return prior, source
