"""PRIE, weight precedence, factor helpers, priority_weighted and hierarchical propensity."""

from __future__ import annotations

import math

import pytest

from kaireon_mcp.core.qualification import CandidateView
from kaireon_mcp.core.scoring import (
    DEFAULT_WEIGHTS,
    AdaptationCounts,
    PrieWeights,
    emphasis,
    impact,
    maturity,
    prie_score,
    priority_weighted,
    relevance,
    resolve_propensity,
    resolve_weights,
    weights_from_formula,
    weights_from_profile,
)
from kaireon_mcp.errors import ValidationError


def test_worked_example_matches_independent_arithmetic() -> None:
    expected = 0.6**0.4 * 1.0**0.2 * 0.85**0.3 * 0.7**0.1
    score = prie_score(0.6, 1.0, 0.85, 0.7, DEFAULT_WEIGHTS)
    assert score == pytest.approx(expected, rel=1e-12)
    assert round(score, 3) == 0.749


def test_all_half_scores_exactly_half_and_zero_eliminates() -> None:
    assert prie_score(0.5, 0.5, 0.5, 0.5, DEFAULT_WEIGHTS) == pytest.approx(0.5, abs=1e-12)
    assert prie_score(0.0, 1.0, 1.0, 1.0, DEFAULT_WEIGHTS) == 0.0
    assert prie_score(0.9, 0.9, 0.9, 0.0, DEFAULT_WEIGHTS) == 0.0
    only_relevance = PrieWeights(propensity=0.0, relevance=1.0, impact=0.0, emphasis=0.0)
    assert prie_score(0.0, 0.8, 0.0, 0.0, only_relevance) == pytest.approx(0.8)  # weight 0 ignores a zero


def test_weights_mapping_is_normalised_and_factors_clamped() -> None:
    doubled = {"propensity": 0.8, "relevance": 0.4, "impact": 0.6, "emphasis": 0.2}
    assert prie_score(0.6, 1.0, 0.85, 0.7, doubled) == pytest.approx(prie_score(0.6, 1.0, 0.85, 0.7))
    assert prie_score(1.7, 1.0, 1.0, 1.0) == 1.0
    with pytest.raises(ValidationError):
        prie_score(0.5, 0.5, 0.5, 0.5, PrieWeights(propensity=-0.1))


def test_clv_and_uplift_terms() -> None:
    with_clv = PrieWeights(clv=0.5)
    expected = 0.6**0.4 * 0.85 ** (0.3 + 0.5 * 0.8) * 0.7**0.1
    assert prie_score(0.6, 1.0, 0.85, 0.7, with_clv, clv=80) == pytest.approx(expected)
    assert prie_score(0.6, 1.0, 0.85, 0.7, with_clv, clv=None) == pytest.approx(
        prie_score(0.6, 1.0, 0.85, 0.7)
    )
    with_uplift = PrieWeights(uplift=1.0)
    base = prie_score(0.5, 0.5, 0.5, 0.5)
    assert prie_score(0.5, 0.5, 0.5, 0.5, with_uplift, uplift=0.5) == pytest.approx(base * 1.5)
    assert prie_score(0.5, 0.5, 0.5, 0.5, with_uplift, uplift=0.0) == pytest.approx(base)
    assert prie_score(0.5, 0.5, 0.5, 0.5, with_uplift, uplift=-1.0) == 0.0


def test_profile_aliases_and_fallthrough() -> None:
    business = weights_from_profile({"weights": {"conversion": 2, "recency": 1, "margin": 1, "fairness": 0}})
    assert business == PrieWeights(propensity=0.5, relevance=0.25, impact=0.25, emphasis=0.0)
    assert weights_from_profile({"revenue": 0.5, "engagement": 0.5}) is None
    mixed = weights_from_profile(
        {"propensity": 0.2, "conversion": 0.2, "impact": 0.4, "fatigue": 9, "clv": 0.3}
    )
    assert mixed == PrieWeights(propensity=0.5, relevance=0.0, impact=0.5, emphasis=0.0, clv=0.3)
    assert weights_from_formula(
        {"propensityWeight": 1, "relevanceWeight": 1, "impactWeight": 1, "emphasisWeight": 1}
    ) == PrieWeights(0.25, 0.25, 0.25, 0.25)
    partial = weights_from_formula({"propensityWeight": 0.6, "upliftWeight": 1.5})
    assert partial is not None
    assert partial.propensity == pytest.approx(0.6 / 1.2)
    assert partial.impact == pytest.approx(0.3 / 1.2)
    assert partial.uplift == 1.5


def test_resolve_weights_precedence() -> None:
    card = CandidateView(
        offer_id="o1",
        category_id="cat1",
        category_name="Credit Cards",
        channel_id="ch_web",
        product_type="credit_card",
    )
    overrides = [
        {"scope": "channel", "value": "ch_sms", "weights": {"propensity": 1}},
        {"scope": "category", "value": "Credit Cards", "weights": {"impact": 1}},
    ]
    strategy = {"weights": {"relevance": 1}}
    tenant = {"weights": {"emphasis": 1}}
    formula = {"propensityWeight": 1, "relevanceWeight": 0, "impactWeight": 0, "emphasisWeight": 0}
    assert resolve_weights(overrides, card, strategy, tenant, formula).impact == 1.0
    assert resolve_weights(overrides[:1], card, strategy, tenant, formula).relevance == 1.0
    assert resolve_weights([], card, None, tenant, formula).emphasis == 1.0
    assert resolve_weights([], card, {"weights": {"revenue": 1}}, None, formula).propensity == 1.0
    assert resolve_weights(None, None, None, None, None) == PrieWeights(0.4, 0.2, 0.3, 0.1)
    by_product = [{"scope": "productType", "value": "credit_card", "profile": {"weights": {"fairness": 1}}}]
    assert resolve_weights(by_product, card, None, None, None).emphasis == 1.0


def test_relevance_signals() -> None:
    assert relevance() == 1.0
    assert relevance(channel_matched=False) == 0.5
    assert relevance(channel_matched=True, segment_match=0.5) == pytest.approx(0.75)
    assert relevance(days_since_last_impression=0) == pytest.approx(0.5)
    assert relevance(days_since_last_impression=7, recency_half_life_days=7) == pytest.approx(0.75)
    assert relevance(True, 1.0, 14, 7) == pytest.approx((1.0 + 1.0 + (1 - 0.5 * 0.25)) / 3)


def test_impact_and_emphasis() -> None:
    assert impact({"businessValue": 85, "margin": 10}) == pytest.approx(0.85)
    assert impact({"margin": 30}) == pytest.approx(0.3)
    assert impact({"revenueValue": 250}, value_scale=500) == pytest.approx(0.5)
    assert impact({"revenueValue": 250}) == 1.0
    assert impact({}) == 0.5
    assert emphasis({"priority": 70}) == pytest.approx(0.7)
    assert emphasis({}) == 0.5


def test_priority_weighted() -> None:
    assert priority_weighted(80, 50, 0.5) == pytest.approx(0.2)
    assert priority_weighted(80, None) == pytest.approx(0.8)
    assert priority_weighted(None, 100, 1.0) == pytest.approx(0.5)


def test_hierarchical_propensity() -> None:
    category = AdaptationCounts(evidence=100, positives=20)  # rate 0.2
    glob = AdaptationCounts(evidence=40, positives=10)  # rate 0.25
    assert resolve_propensity(AdaptationCounts(60, 15), category, glob) == (0.25, "offer")
    p, source = resolve_propensity(AdaptationCounts(10, 3), category, glob)
    assert (p, source) == (pytest.approx((3 + 10 * 0.2) / (10 + 10)), "offer_blend")
    p, _ = resolve_propensity(AdaptationCounts(10, 3), AdaptationCounts(19, 19), glob)
    assert p == pytest.approx((3 + 10 * 0.25) / 20)  # thin category falls back to the global prior
    assert resolve_propensity(None, category, glob) == (0.2, "category")
    assert resolve_propensity(AdaptationCounts(0, 0), AdaptationCounts(5, 5), glob) == (0.25, "global")
    assert resolve_propensity(None, None, AdaptationCounts(9, 9), model_score=0.7) == (0.7, "model")
    assert resolve_propensity(None) == (0.5, "default")
    p, _ = resolve_propensity(AdaptationCounts(5, 5), smoothing=5)
    assert p == pytest.approx((5 + 5 * 0.5) / 10)


@pytest.mark.parametrize(
    ("evidence", "label"),
    [(0, "cold_start"), (1, "immature"), (49, "immature"), (50, "maturing"), (200, "mature")],
)
def test_maturity_labels(evidence: int, label: str) -> None:
    assert maturity(evidence) == label


def test_log_space_equals_direct_power() -> None:
    w = PrieWeights(0.1, 0.2, 0.3, 0.4)
    direct = 0.3**0.1 * 0.4**0.2 * 0.9**0.3 * 0.2**0.4
    assert prie_score(0.3, 0.4, 0.9, 0.2, w) == pytest.approx(direct)
    assert math.isclose(prie_score(1, 1, 1, 1, w), 1.0)
