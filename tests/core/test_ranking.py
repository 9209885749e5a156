import itertools
import random
from dataclasses import dataclass
from datetime import date, datetime

import pytest

from kaireon_mcp.core.ranking import allocate_groups, apply_coupling, offer_constraint_violation, rank
from kaireon_mcp.errors import ValidationError


def c(oid, score, cat=None, priority=50, name=None, sub=None):
    return {
        "offerId": oid,
        "score": score,
        "categoryId": cat,
        "priority": priority,
        "name": name or oid,
        "subCategoryId": sub,
    }


def ids(items):
    return [x["offerId"] if isinstance(x, dict) else x.offer_id for x in items]


def test_score_ties_by_priority_then_name():
    cands = [
        c("d", 0.5, priority=10, name="Zeta"),
        c("a", 0.9),
        c("b", 0.5, priority=10, name="Alpha"),
        c("e", 0.5, priority=90),
    ]
    assert ids(rank(cands, "score", 10)) == ["a", "e", "b", "d"]
    assert ids(rank(cands, "score", 2)) == ["a", "e"]


@dataclass
class Obj:
    offer_id: str
    score: float
    priority: float
    name: str
    category_id: str | None


def test_objects_are_accepted_and_returned_as_is():
    objs = [Obj("x", 0.1, 1, "x", None), Obj("y", 0.2, 1, "y", None)]
    out = rank(objs, "score")
    assert out[0] is objs[1] and ids(out) == ["y", "x"]


def test_diversity_penalises_category_repeats():
    cands = [c("A", 0.9, "X"), c("B", 0.8, "X"), c("C", 0.5, "Y"), c("D", 0.45, "X")]
    # step 2: B 0.8*.5=.4 < C .5 ; step 3: B .4 > D .225 ; step 4: D
    assert ids(rank(cands, "diversity", 4)) == ["A", "C", "B", "D"]
    assert ids(rank(cands, "diversity", 4, penalty=1.0, subcategory_penalty=1.0)) == ["A", "B", "C", "D"]


def test_diversity_subcategory_penalty_stacks():
    cands = [
        c("A", 0.9, "X", sub="x1"),
        c("B", 0.8, "X", sub="x1"),
        c("C", 0.3, "X", sub="x2"),
        c("E", 0.21, "Y"),
    ]
    # after A: B = .8*.5*.5 = .2, C = .3*.5 = .15, E = .21 -> E, then B (.2) over C (.15)
    assert ids(rank(cands, "diversity", 4)) == ["A", "E", "B", "C"]


def test_round_robin_by_category():
    cands = [c("A", 0.9, "X"), c("B", 0.8, "X"), c("C", 0.5, "Y"), c("D", 0.3, "Z"), c("E", 0.2, "Y")]
    assert ids(rank(cands, "round_robin", 5)) == ["A", "C", "D", "B", "E"]
    assert ids(rank(cands, "round_robin", 2)) == ["A", "C"]


def test_weighted_random_is_seeded_and_proportional():
    cands = [c("hi", 3.0), c("lo", 1.0), c("zero", 0.0)]
    assert ids(rank(cands, "weighted_random", 3, random.Random(5))) == ids(
        rank(cands, "weighted_random", 3, random.Random(5))
    )
    rng = random.Random(123)
    firsts = [ids(rank(cands, "weighted_random", 3, rng))[0] for _ in range(10000)]
    assert firsts.count("hi") / 10000 == pytest.approx(0.75, abs=0.02)
    assert "zero" not in firsts
    assert ids(rank(cands, "weighted_random", 3, rng))[-1] == "zero"


def test_random_is_seeded_shuffle():
    cands = [c(str(i), i / 10) for i in range(8)]
    expected = list(cands)
    random.Random(3).shuffle(expected)
    assert ids(rank(cands, "random", 8, random.Random(3))) == ids(expected)


def test_rank_rejects_unknown_method():
    with pytest.raises(ValidationError):
        rank([], "lottery")


# --- group allocation ---

P2 = [{"placementId": "P1", "maxSlots": 1}, {"placementId": "P2", "maxSlots": 1}]
FIT = {("A", "P1"): 0.9, ("A", "P2"): 0.8, ("B", "P1"): 0.85, ("B", "P2"): 0.1}


def fit(cand, pid):
    return FIT[(cand["offerId"], pid)]


def total(alloc, value):
    return sum(value(x, pid) for pid, xs in alloc.items() for x in xs)


def test_optimal_beats_greedy_with_placement_specific_scores():
    cands = [c("A", 0.9), c("B", 0.85)]
    greedy = allocate_groups(cands, P2, "greedy")
    optimal = allocate_groups(cands, P2, "optimal", slot_score=fit)
    assert {k: ids(v) for k, v in greedy.items()} == {"P1": ["A"], "P2": ["B"]}
    assert {k: ids(v) for k, v in optimal.items()} == {"P1": ["B"], "P2": ["A"]}
    assert total(greedy, fit) == pytest.approx(1.0)
    assert total(optimal, fit) == pytest.approx(1.65)


def brute_force_best(cands, placements, value, ok):
    caps = {p["placementId"]: p["maxSlots"] for p in placements}
    best = 0.0
    for choice in itertools.product([None, *caps], repeat=len(cands)):
        if any(choice.count(pid) > cap for pid, cap in caps.items()):
            continue
        if any(pid is not None and not ok(x, pid) for x, pid in zip(cands, choice, strict=True)):
            continue
        best = max(best, sum(value(x, pid) for x, pid in zip(cands, choice, strict=True) if pid))
    return best


def test_optimal_equals_brute_force_on_random_instances():
    rng = random.Random(77)
    for _ in range(40):
        cands = [c(f"o{i}", rng.random()) for i in range(5)]
        placements = [{"placementId": f"p{j}", "maxSlots": rng.randint(0, 2)} for j in range(3)]
        table = {(x["offerId"], p["placementId"]): rng.random() for x in cands for p in placements}
        banned = {k for k in table if rng.random() < 0.3}

        def value(x, pid, table=table):
            return table[(x["offerId"], pid)]

        def ok(x, pid, banned=banned):
            return (x["offerId"], pid) not in banned

        alloc = allocate_groups(cands, placements, "optimal", ok, value)
        used = [x["offerId"] for xs in alloc.values() for x in xs]
        assert len(used) == len(set(used))
        assert all(ok(x, pid) for pid, xs in alloc.items() for x in xs)
        assert all(len(alloc[p["placementId"]]) <= p["maxSlots"] for p in placements)
        assert total(alloc, value) == pytest.approx(brute_force_best(cands, placements, value, ok), abs=1e-6)


def test_greedy_equal_eligibility_and_dedup():
    cands = [c("1", 0.9), c("2", 0.8), c("3", 0.7), c("1", 0.6), c("4", 0.5)]
    places = [{"placementId": "P1", "maxSlots": 2}, {"placementId": "P2", "maxSlots": 2}]
    g = allocate_groups(cands, places, "greedy")
    assert {k: ids(v) for k, v in g.items()} == {"P1": ["1", "2"], "P2": ["3", "4"]}
    e = allocate_groups(cands, places, "equal")
    assert {k: ids(v) for k, v in e.items()} == {"P1": ["1", "3"], "P2": ["2", "4"]}
    only_p2 = allocate_groups(
        cands, places, "greedy", eligibility=lambda x, pid: x["offerId"] != "1" or pid == "P2"
    )
    assert {k: ids(v) for k, v in only_p2.items()} == {"P1": ["2", "3"], "P2": ["1", "4"]}


def test_optimal_orders_within_placement_and_keeps_empty_keys():
    cands = [c("a", 0.2), c("b", 0.7), c("c", 0.5)]
    out = allocate_groups(
        cands, [{"placementId": "hero", "maxSlots": 2}, {"placementId": "side", "maxSlots": 0}]
    )
    assert ids(out["hero"]) == ["b", "c"] and out["side"] == []
    with pytest.raises(ValidationError):
        allocate_groups(cands, [{"placementId": "x", "maxSlots": -1}])
    with pytest.raises(ValidationError):
        allocate_groups(cands, P2, "best")


def test_apply_coupling_atomic_cascades_within_channel_only():
    alloc = {"hero": [c("a", 1)], "body": [], "web_top": [c("b", 1)], "web_side": []}
    channels = {"hero": "email", "body": "email", "web_top": "web", "web_side": "web"}
    out, records = apply_coupling(alloc, channels, {"email": "atomic", "web": "partial"})
    assert out["hero"] == [] and ids(out["web_top"]) == ["b"]
    assert records == [
        {"channelId": "email", "cascaded": True, "emptyPlacements": ["body"], "clearedPlacements": ["hero"]}
    ]
    assert ids(alloc["hero"]) == ["a"]  # input not mutated
    out, records = apply_coupling(alloc, channels, {"email": "atomic"}, override="partial")
    assert records == [] and ids(out["hero"]) == ["a"]
    out, records = apply_coupling(alloc, channels, {}, override="atomic")
    assert [r["channelId"] for r in records] == ["email", "web"]
    with pytest.raises(ValidationError):
        apply_coupling(alloc, channels, {"email": "all_or_nothing"})


# --- hard constraints ---

NOW = datetime(2025, 4, 10, 12, 0)


def gold_card(**budget):
    return {
        "name": "Gold Card Q2 Promo",
        "priority": 80,
        "budget": {
            "dailyCapCents": 50000,
            "lifetimeCapCents": 5000000,
            "currentDailySpentCents": 0,
            "currentLifetimeSpentCents": 0,
            "lastDailyResetDate": "2025-04-10",
            **budget,
        },
        "inventory": {"remainingStock": 1000},
        "frequencyCaps": {"perCustomer": {"daily": 1, "weekly": 3, "monthly": 6}},
    }


def test_constraints_pass_when_under_caps():
    assert offer_constraint_violation(gold_card(), NOW, {"daily": 0, "weekly": 2, "monthly": 5}) is None


def test_budget_caps_and_daily_reset():
    assert offer_constraint_violation(gold_card(currentDailySpentCents=50000), NOW) == "budget_daily_cap"
    stale = gold_card(currentDailySpentCents=50000, lastDailyResetDate="2025-04-09T23:00:00Z")
    assert offer_constraint_violation(stale, NOW) is None
    assert (
        offer_constraint_violation(gold_card(currentLifetimeSpentCents=5000000), date(2025, 4, 10))
        == "budget_lifetime_cap"
    )
    assert offer_constraint_violation(gold_card(dailyCapCents=0), NOW) == "budget_daily_cap"
    assert (
        offer_constraint_violation(gold_card(dailyCapCents="lots", currentDailySpentCents=10**9), NOW) is None
    )
    garbled = gold_card(currentDailySpentCents=50000, lastDailyResetDate="yesterday")
    assert offer_constraint_violation(garbled, NOW) is None  # fail open


def test_stock_and_frequency_caps():
    out = gold_card()
    out["inventory"]["remainingStock"] = 0
    assert offer_constraint_violation(out, NOW) == "out_of_stock"
    assert (
        offer_constraint_violation(gold_card(), NOW, {"daily": 1, "weekly": 1, "monthly": 1})
        == "frequency_cap_daily"
    )
    assert offer_constraint_violation(gold_card(), NOW, {"daily": 0, "weekly": 3}) == "frequency_cap_weekly"
    assert offer_constraint_violation(gold_card(), NOW, {"monthly": 6}) == "frequency_cap_monthly"
    assert offer_constraint_violation({"name": "untracked"}, NOW, {"daily": 99}) is None


def test_diversity_reads_the_pipelines_own_candidates_subcategory():
    """Pipeline candidates expose ``sub_category_id``; the sub-category penalty must reach them
    (it silently did not while the field aliases lacked that spelling)."""
    from kaireon_mcp.core.decisioning.state import Candidate

    def cand(oid: str, score: float, cat: str | None, sub: str | None = None) -> Candidate:
        offer = {"id": oid, "name": oid, "priority": 50, "categoryId": cat, "subCategoryId": sub}
        return Candidate(offer=offer, score=score)

    cands = [
        cand("A", 0.9, "X", "x1"),
        cand("B", 0.8, "X", "x1"),
        cand("C", 0.3, "X", "x2"),
        cand("E", 0.21, "Y"),
    ]
    # same arithmetic as the dict case above: after A, B = .2, C = .15, E = .21
    assert ids(rank(cands, "diversity", 4)) == ["A", "E", "B", "C"]
