"""The decision hot path's precomputed structures answer exactly as the plain evaluators do.

Randomised against the reference implementations, so an index can never drift from the
§4.3 scope semantics or the diversity re-rank it replaces.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kaireon_mcp.core import ranking
from kaireon_mcp.core.contact_policy import (
    ContactEvent,
    ContactLedger,
    PolicyIndex,
    PolicySpec,
    evaluate_policies,
)
from kaireon_mcp.core.operators import (
    compare,
    compare_canonical,
    normalize_operator,
    resolve_field,
    to_number,
)
from kaireon_mcp.core.qualification import (
    CandidateView,
    CustomerContext,
    RuleIndex,
    RuleSpec,
    ScopeIndex,
    evaluate_rules,
    scope_matches,
)
from kaireon_mcp.core.scoring import WeightResolver, resolve_weights
from kaireon_mcp.errors import ValidationError

KINDS = ["global", "GLOBAL", "segment", "channel", "category", "subcategory", "sub_category", "offer",
         "creative", "placement", "planet", None]  # fmt: skip
IDS = [None, "", "a", "b", "email", "gold"]


def _view(rng: random.Random) -> CandidateView:
    pick = lambda: rng.choice(IDS)  # noqa: E731
    return CandidateView(
        offer_id=rng.choice(["a", "b", "o1"]),
        category_id=pick(),
        sub_category_id=pick(),
        creative_id=pick(),
        channel_id=pick(),
        placement_id=pick(),
        channel_type=rng.choice([None, "email", "a"]),
    )


def _entries(rng: random.Random) -> list[tuple[Any, Any]]:
    return [(rng.choice(KINDS), rng.choice(IDS)) for _ in range(rng.randint(1, 3))]


def test_scope_index_matches_scope_matches() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        items = [_entries(rng) for _ in range(rng.randint(0, 6))]
        index = ScopeIndex(items)
        view = _view(rng)
        segments = frozenset(rng.sample(["gold", "a", "silver"], rng.randint(0, 3)))
        expected = [
            (i, j)
            for i, pairs in enumerate(items)
            for j, (kind, sid) in enumerate(pairs)
            if scope_matches(kind, sid, view, segments)
        ]
        assert index.hits(view, segments) == expected


def test_unhashable_scope_id_falls_back_to_the_scan() -> None:
    with pytest.raises(TypeError):
        ScopeIndex([[("category", ["a"])]])
    rules = [RuleSpec(id="r", name="r", rule_type="segment_required", scope="category", scope_id=["a"])]  # type: ignore[arg-type]
    view = CandidateView(offer_id="o", category_id="a")
    outcome = evaluate_rules(RuleIndex(rules), view, CustomerContext(customer_id="c"))
    assert outcome.results == evaluate_rules(rules, view, CustomerContext(customer_id="c")).results == []


def test_rule_index_evaluates_like_the_rule_list() -> None:
    rng = random.Random(5)
    customer = CustomerContext(customer_id="c", attributes={"age": 30}, segments=frozenset({"gold"}))
    for _ in range(500):
        rules = [
            RuleSpec(
                id=f"r{n}",
                name=f"r{n}",
                rule_type=rng.choice(["attribute_condition", "segment_required"]),
                config={
                    "attribute": "age",
                    "operator": "gte",
                    "value": rng.choice([18, 40]),
                    "requiredSegments": rng.choice([["gold"], ["silver"]]),
                },  # fmt: skip
                scope=rng.choice(KINDS) or "global",
                scope_id=rng.choice(IDS),
                scopes=[{"scope": k, "scopeId": s} for k, s in _entries(rng)] if rng.random() < 0.3 else [],
                priority=rng.choice([10, 50, 50, 90]),
                stage=rng.choice([None, "match", "ranking"]),
                status=rng.choice(["active", "active", "inactive"]),
            )
            for n in range(rng.randint(0, 6))
        ]
        view = _view(rng)
        indexed = evaluate_rules(RuleIndex(rules), view, customer, {})
        plain = evaluate_rules(rules, view, customer, {})
        assert indexed == plain


def test_rule_index_raises_a_bad_stage_only_when_the_rule_applies() -> None:
    bad = RuleSpec(id="r", name="r", rule_type="segment_required", stage="bogus", scope="offer", scope_id="x")
    index = RuleIndex([bad])
    assert evaluate_rules(index, CandidateView(offer_id="o"), CustomerContext(customer_id="c")).passed
    with pytest.raises(ValidationError):
        evaluate_rules(index, CandidateView(offer_id="x"), CustomerContext(customer_id="c"))


def test_policy_index_evaluates_like_the_policy_list() -> None:
    rng = random.Random(7)
    now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    ledger = ContactLedger(
        ContactEvent(now - timedelta(hours=h), offer_id=rng.choice(["a", "b"]), channel_id="email")
        for h in range(0, 200, 7)
    )
    customer = CustomerContext(customer_id="c", segments=frozenset({"gold"}))
    for _ in range(500):
        policies = [
            PolicySpec(
                id=f"p{n}",
                name=f"p{n}",
                rule_type=rng.choice(["frequency_cap", "cooldown", "allow_override", "segment_exclusion"]),
                config={"maxPerWeek": rng.choice([1, 50]), "cooldownHours": 24, "excludeSegments": ["gold"]},
                scope=rng.choice(KINDS) or "offer",
                scope_id=rng.choice(IDS),
                scopes=[{"scope": k, "scopeId": s} for k, s in _entries(rng)] if rng.random() < 0.3 else [],
                priority=rng.choice([10, 50, 50, 90]),
                status=rng.choice(["active", "active", "inactive"]),
            )
            for n in range(rng.randint(0, 5))
        ]
        view = _view(rng)
        assert evaluate_policies(PolicyIndex(policies), view, ledger, customer, now, (), {}) == (
            evaluate_policies(policies, view, ledger, customer, now, (), {})
        )


def test_policy_index_rejects_unknown_types_like_evaluate_policies() -> None:
    policies = [PolicySpec(id="p", name="p", rule_type="bogus", status="inactive")]
    with pytest.raises(ValidationError):
        PolicyIndex(policies)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 1, 9, tzinfo=UTC),
        datetime(2026, 1, 1, 9),
        datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=2))),
    ],
)
@pytest.mark.parametrize(("outcome", "shown"), [("impression", None), ("click", None), ("click", True),
                                                ("recommendation", True), ("delivery", False)])  # fmt: skip
def test_contact_event_of_equals_the_constructor(moment: datetime, outcome: str, shown: bool | None) -> None:
    args = (moment, "o", "cr", "ch", "email", None, "cat", None, outcome, "neutral", shown)
    fast, slow = ContactEvent.of(*args), ContactEvent(*args)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert fast.timestamp.tzinfo is UTC


def test_grouped_diversity_picks_what_the_reference_scan_picks() -> None:
    rng = random.Random(11)
    for _ in range(5000):
        cands = [
            {
                "offerId": rng.choice(["a", "b", f"o{i}"]),
                "score": rng.choice([0.0, -0.0, 0.25, 0.5, 1.0, -0.5, 3, rng.random()]),
                "priority": rng.choice([0, 50, 50.0, 90]),
                "name": rng.choice(["x", "y"]),
                "categoryId": rng.choice([None, "c1", "c2", 1, "1"]),
                "subCategoryId": rng.choice([None, "s1", "s2"]),
            }
            for i in range(rng.randint(0, 10))
        ]
        k, pen, sub = rng.randint(0, 12), rng.choice([0.0, 0.3, 0.5, 1.0]), rng.choice([0.0, 0.5, 1.0])
        facts = [
            (
                c,
                ranking._num(c, "score"),
                -ranking._num(c, "priority"),
                ranking._text(c, "name"),
                ranking._text(c, "offer_id"),
                ranking.get_field(c, "category_id"),
                ranking.get_field(c, "subcategory_id"),
            )  # fmt: skip
            for c in ranking._by_score(cands)
        ]
        grouped = ranking._diversity_grouped(list(facts), k, pen, sub)
        scanned = ranking._diversity_scan(list(facts), k, pen, sub)
        assert [id(c) for c in grouped] == [id(c) for c in scanned]


def test_diversity_with_non_finite_scores_uses_the_reference_scan() -> None:
    cands = [{"offerId": "a", "score": float("nan"), "categoryId": "c"}, {"offerId": "b", "score": 1.0}]
    assert [c["offerId"] for c in ranking.rank(cands, "diversity", 2)] == ["a", "b"]


def test_weight_resolver_resolves_like_resolve_weights() -> None:
    rng = random.Random(13)
    profiles = [None, {}, {"weights": {"conversion": 2, "margin": 1}}, {"revenue": 1}, {"propensity": 1}]
    for _ in range(500):
        overrides = [
            {
                "scope": rng.choice(["category", "channel", "productType"]),
                "value": rng.choice(IDS[2:]),
                "weights": rng.choice(profiles),
            }  # fmt: skip
            for _ in range(rng.randint(0, 3))
        ]
        chain = (rng.choice(profiles), rng.choice(profiles), rng.choice([None, {"impactWeight": 2}]))
        resolver = WeightResolver(overrides, *chain)
        for _ in range(4):
            view = _view(rng)
            assert resolver(view) == resolve_weights(overrides, view, *chain)


def test_latest_by_offer_is_last_per_offer() -> None:
    now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    events = [
        ContactEvent(now + timedelta(hours=h), offer_id=o, outcome=kind)
        for h, o, kind in [
            (-5, "a", "impression"),
            (-3, "a", "impression"),
            (-3, "b", "impression"),
            (-1, "b", "click"),
            (0, "c", "impression"),
            (2, "a", "impression"),
        ]  # fmt: skip
    ]
    ledger = ContactLedger(events)
    latest = ledger.latest_by_offer(now)
    for offer in ("a", "b", "c", "d"):
        assert latest.get(offer) is ledger.last(lambda e, o=offer: e.offer_id == o, now)  # type: ignore[misc]


def test_operator_memo_and_canonical_compare() -> None:
    for spelling in (">=", " GTE ", "greater_than_or_equal", "gte"):
        assert normalize_operator(spelling) == normalize_operator(spelling) == "gte"
        assert compare(5, spelling, 3) is compare_canonical(5, "gte", 3) is True
    with pytest.raises(ValidationError):
        normalize_operator("~~")
    with pytest.raises(ValidationError):
        normalize_operator("~~")


def test_candidate_view_init_matches_the_dataclass_contract() -> None:
    view = CandidateView("o", category_id="c")
    assert view == CandidateView(offer_id="o", category_id="c", offer={})
    assert view.offer == {} and view.offer is not CandidateView("o").offer
    assert CandidateView("o", offer=None).offer is None  # type: ignore[arg-type]
    assert dataclasses.replace(view, channel_id="ch").channel_id == "ch"
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.offer_id = "p"  # type: ignore[misc]


def test_fast_paths_of_to_number_and_resolve_field() -> None:
    assert [to_number(v) for v in (3, 2.5, float("nan"), True, "4", None)] == [
        3.0,
        2.5,
        None,
        None,
        4.0,
        None,
    ]
    assert resolve_field("age", {"age": None}) == (True, None)
    assert resolve_field("age", {"x": 1}) == (False, None)
    assert resolve_field("a.b", {"a": {"b": 2}}) == (True, 2)
