"""Decide whether an experiment's challenger has earned the champion slot.

Input is the ``getExperimentResults`` answer. The question is challenger versus champion
(not versus holdout), so only comparisons against the champion arm count. A challenger
wins when its absolute conversion uplift is at least ``min_uplift`` and the two-proportion
z-test's p-value is below ``alpha``; among several winners the largest uplift is chosen.
Promotion is then pre-checked against the registry ladder, the operational status and the
rollback guard, so the plan never contains a call that promoteModel is certain to refuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kaireon_mcp.core.models.lifecycle import can_transition, rollback_guard_breaches
from kaireon_mcp.core.playbooks.plan import Step, step
from kaireon_mcp.storage.tables import AlgorithmModel

CHAMPION_VARIANT = "__champion__"


def _against_champion(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        c
        for c in results.get("comparisons") or []
        if c.get("against") == CHAMPION_VARIANT and c.get("modelId") and c.get("arm") != CHAMPION_VARIANT
    ]


def arm_test(c: Mapping[str, Any], min_uplift: float, alpha: float) -> dict[str, Any]:
    uplift, p = float(c.get("absoluteUplift") or 0.0), float(c.get("pValue", 1.0))
    return {
        "modelId": c.get("modelId"),
        "absoluteUplift": uplift,
        "relativeUplift": c.get("relativeUplift"),
        "z": c.get("z"),
        "pValue": p,
        "upliftPasses": uplift >= min_uplift,
        "significant": p < alpha,
    }


def pick_winner(
    results: Mapping[str, Any], min_uplift: float, alpha: float
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(every challenger's test, the winner or None)."""
    tests = [arm_test(c, min_uplift, alpha) for c in _against_champion(results)]
    winners = [t for t in tests if t["upliftPasses"] and t["significant"]]
    best = max(winners, key=lambda t: (t["absoluteUplift"], -t["pValue"]), default=None)
    return tests, best


def blockers(candidate: AlgorithmModel, incumbent: AlgorithmModel | None) -> list[str]:
    """Why promoteModel would refuse this challenger (empty when it would accept)."""
    reasons = []
    if not can_transition(candidate.registry_status, "champion"):
        reasons.append(f"invalid_transition: {candidate.registry_status} -> champion")
    if candidate.status == "draft":
        reasons.append("model_not_active: the challenger's status is draft")
    if incumbent is not None and candidate.metrics:
        reasons += [b["message"] for b in rollback_guard_breaches(candidate.metrics, incumbent.metrics)]
    return reasons


def plan_promotion(winner: Mapping[str, Any], experiment_key: str) -> list[Step]:
    reason = f"experiment {experiment_key}: uplift {winner['absoluteUplift']:.4f}, p={winner['pValue']:.4g}"
    return [
        step("promoteModel", {"modelId": winner["modelId"], "targetStatus": "champion", "reason": reason})
    ]


def decide(
    tests: Sequence[Mapping[str, Any]], winner: Mapping[str, Any] | None, blocked: Sequence[str]
) -> tuple[str, str]:
    if not tests:
        return "no_challenger", "the experiment has no challenger compared with its champion"
    if winner is None:
        return "keep_champion", "no challenger passes both the uplift and the significance threshold"
    if blocked:
        return "blocked", "; ".join(blocked) + " (review, then call promoteModel directly if intended)"
    return "promote", "challenger passes both thresholds"
