"""Pure helpers of the playbooks: plans and refs, the limiter, policy strictness, thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from kaireon_mcp.core.playbooks import policies, upgrade
from kaireon_mcp.core.playbooks.plan import resolve, run_plan, step
from kaireon_mcp.core.playbooks.qualification import Point, quantile_edges, suggest
from kaireon_mcp.core.playbooks.ratelimit import SlidingWindowLimiter
from kaireon_mcp.errors import ConflictError


def test_refs_resolve_at_any_depth_and_unknown_refs_stay() -> None:
    outputs = {"offer": {"id": "off_1"}}
    value = {"a": "$offer.id", "b": [{"c": "$offer.id"}], "d": "$other.id", "e": "price $5"}
    assert resolve(value, outputs) == {"a": "off_1", "b": [{"c": "off_1"}], "d": "$other.id", "e": "price $5"}


async def test_run_plan_feeds_ids_forward_and_names_the_failing_step() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        seen.append((name, args))
        if name == "boom":
            raise ConflictError("duplicate name", field="name")
        return {"id": f"{name}_1", "name": "x", "secret": "not summarised"}

    plan = [step("createA", {}, ref="a"), step("createB", {"aId": "$a.id"})]
    assert await run_plan(plan, call) == [
        {"tool": "createA", "ref": "a", "id": "createA_1", "name": "x"},
        {"tool": "createB", "id": "createB_1", "name": "x"},
    ]
    assert seen[1] == ("createB", {"aId": "createA_1"})
    with pytest.raises(ConflictError, match=r"step 2 \(boom\) failed, so nothing was committed: duplicate"):
        await run_plan([*plan[:1], step("boom", {})], call)


def test_limiter_slides_instead_of_resetting() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, 10.0, clock=lambda: now[0])
    assert limiter.acquire("k") is None
    now[0] = 6.0
    assert limiter.acquire("k") is None
    assert limiter.acquire("k") == pytest.approx(4.0)  # the first hit frees up at t=10
    assert limiter.acquire("other") is None
    now[0] = 10.0
    assert limiter.acquire("k") is None and limiter.acquire("k") is not None


def policy(
    pid: str, rule_type: str, config: dict[str, Any], priority: int = 50, **scope: Any
) -> policies.Policy:
    return policies.policy_from_row(
        {"id": pid, "name": pid, "ruleType": rule_type, "config": config, "priority": priority, **scope}
    )


def test_allowance_orders_policies_from_strictest() -> None:
    rows = [
        policy("override", "allow_override", {}),
        policy("weekly", "frequency_cap", {"maxPerWeek": 14}),  # 2/day
        policy("cooldown", "cooldown", {"cooldownHours": 48}),  # 0.5/day
        policy("dnc", "do_not_contact", {}),  # 0
        policy("window", "time_window", {"startHour": 9}),  # not quantified
    ]
    assert [p.id for p in sorted(rows, key=policies.strictness_key)] == [
        "dnc",
        "cooldown",
        "weekly",
        "window",
        "override",
    ]


def test_scopes_overlap_when_wide_or_equal() -> None:
    web = policy("a", "frequency_cap", {"maxPerDay": 1}, scope="channel", scopeId="web")
    email = policy("b", "frequency_cap", {"maxPerDay": 2}, scope="channel", scopeId="email")
    unscoped = policy("c", "frequency_cap", {"maxPerDay": 3}, scope="offer", scopeId=None)
    assert not policies.overlaps(web, email)
    assert policies.overlaps(web, unscoped) and policies.overlaps(email, unscoped)
    assert policies.detect_conflicts([web, email]) == []
    assert [c["kind"] for c in policies.detect_conflicts([web, unscoped])] == [
        "limit_mismatch",
        "priority_tie",
    ]


def test_outcome_policies_conflict_only_on_shared_outcomes() -> None:
    a = policy(
        "a", "outcome_based", {"afterOutcome": ["conversion"], "suppressForDays": 3}, 60, scope="global"
    )
    b = policy(
        "b", "outcome_based", {"afterOutcome": ["complaint"], "suppressForDays": 90}, 50, scope="global"
    )
    c = policy("c", "outcome_based", {"afterOutcome": "conversion", "suppressForDays": 7}, 40, scope="global")
    kinds = {(tuple(x["policyIds"]), x["kind"]) for x in policies.detect_conflicts([a, b, c])}
    assert kinds == {(("a", "c"), "limit_mismatch")}


def test_upper_bound_rules_mirror_lower_bounds() -> None:
    # 20 customers, value i; the 5 lowest converted: keep value ≤ 5 (a tighter upper bound)
    points = [Point(float(i), int(i <= 5)) for i in range(1, 21)]
    assert quantile_edges([p.value for p in points]) == [1.0, 6.0, 11.0, 16.0]
    out = suggest(points, "lt", 15.0)
    # candidate tops 6, 11, 16, 20 with "< c": c=6 keeps 1..5 → excess 5 − 5·0.25 = 3.75 (best)
    assert out["verdict"] == "tighter" and out["suggested"] == 6.0 and out["excessConversions"] == 3.75


def test_upgrade_ladder_thresholds() -> None:
    assert upgrade.propose("scorecard", 99)["candidate"] is None
    assert upgrade.propose("scorecard", 100)["candidate"] == "bayesian"
    assert upgrade.propose("scorecard", 6000)["candidate"] == "gradient_boosted"
    assert upgrade.propose("logistic_regression", 4999)["candidate"] is None
    assert upgrade.propose("gradient_boosted", 10**6)["reason"] == "already at the top of the ladder"
    assert "bandits" in upgrade.propose("thompson_bandit", 10**6)["reason"]
