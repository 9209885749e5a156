"""Model registry ladder (spec §6.3): allowed status moves and the promotion rollback guard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from kaireon_mcp.core.models.base import to_number
from kaireon_mcp.errors import ValidationError

REGISTRY_STATUSES = ("draft", "shadow", "challenger", "champion", "archived")

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "draft": frozenset({"shadow", "challenger", "archived"}),
    "shadow": frozenset({"challenger", "champion", "archived", "draft"}),
    "challenger": frozenset({"champion", "shadow", "archived", "draft"}),
    "champion": frozenset({"challenger", "shadow", "archived"}),
    "archived": frozenset({"draft"}),
}

DEFAULT_THRESHOLDS: Mapping[str, float] = {"maxAucDrop": 0.05, "maxPsi": 0.25, "maxErrorRate": 0.02}


class Breach(TypedDict):
    check: str
    value: float
    threshold: float
    message: str


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def check_transition(from_status: str, to_status: str) -> None:
    """Raise ``ValidationError('invalid_transition: a -> b')`` unless the move is allowed."""
    if not can_transition(from_status, to_status):
        raise ValidationError(
            f"invalid_transition: {from_status} -> {to_status}",
            field="registryStatus",
            reason="invalid_transition",
        )


def _thresholds(overrides: Mapping[str, Any] | None) -> dict[str, float]:
    out = dict(DEFAULT_THRESHOLDS)
    for key, raw in (overrides or {}).items():
        if key not in out:
            raise ValidationError(f"unknown rollback threshold {key!r}", field=f"rollbackThresholds.{key}")
        num = to_number(raw)
        if num is None or num < 0:
            raise ValidationError(f"{key} must be a non-negative number", field=f"rollbackThresholds.{key}")
        out[key] = num
    return out


def _metric(metrics: Mapping[str, Any] | None, key: str) -> float | None:
    return to_number((metrics or {}).get(key))


def _auc_breach(
    candidate: Mapping[str, Any], incumbent: Mapping[str, Any] | None, limit: float
) -> list[Breach]:
    new, old = _metric(candidate, "auc"), _metric(incumbent, "auc")
    if new is None or old is None or old <= 0:
        return []
    drop = (old - new) / old
    if drop <= limit:
        return []
    return [
        {
            "check": "auc_drop",
            "value": drop,
            "threshold": limit,
            "message": f"AUC fell {drop:.1%} relative to the incumbent (limit {limit:.1%})",
        }
    ]


def _psi_breaches(feature_psi: Mapping[str, Any], limit: float) -> list[Breach]:
    out: list[Breach] = []
    for name, raw in sorted(feature_psi.items()):
        value = to_number(raw)
        if value is not None and value > limit:
            out.append(
                {
                    "check": f"psi:{name}",
                    "value": value,
                    "threshold": limit,
                    "message": f"feature {name!r} PSI {value:.3f} exceeds {limit}",
                }
            )
    return out


def _error_breach(candidate: Mapping[str, Any], limit: float) -> list[Breach]:
    value = _metric(candidate, "scoringErrorRate")
    if value is None or value <= limit:
        return []
    return [
        {
            "check": "error_rate",
            "value": value,
            "threshold": limit,
            "message": f"scoring error rate {value:.1%} exceeds {limit:.1%}",
        }
    ]


def rollback_guard_breaches(
    candidate_metrics: Mapping[str, Any],
    incumbent_metrics: Mapping[str, Any] | None = None,
    feature_psi: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, Any] | None = None,
) -> list[Breach]:
    """Every guard the candidate fails; checks with no data are skipped, not failed.

    * AUC: relative drop ``(incumbent − candidate) / incumbent`` > ``maxAucDrop``
      (needs an incumbent AUC).
    * PSI: any feature PSI > ``maxPsi`` (``feature_psi``, else ``candidate_metrics["featurePsi"]``).
    * Error rate: ``candidate_metrics["scoringErrorRate"]`` > ``maxErrorRate``. This is the
      share of scoring calls that failed, deliberately *not* the training ``errorRate``
      (1 − accuracy), which sits far above 2 % for any realistic propensity model.
    """
    limits = _thresholds(thresholds)
    psi_map = feature_psi if feature_psi is not None else candidate_metrics.get("featurePsi") or {}
    return (
        _auc_breach(candidate_metrics, incumbent_metrics, limits["maxAucDrop"])
        + _psi_breaches(psi_map, limits["maxPsi"])
        + _error_breach(candidate_metrics, limits["maxErrorRate"])
    )


def check_rollback_guard(
    candidate_metrics: Mapping[str, Any],
    incumbent_metrics: Mapping[str, Any] | None = None,
    feature_psi: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    bypass: bool = False,
) -> list[Breach]:
    """Raise ``ValidationError('rollback_guard: …')`` on breaches unless ``bypass``.

    Returns the breaches (empty when clean) so a bypassed promotion can record them
    as ``rollbackGuardBreaches``.
    """
    breaches = rollback_guard_breaches(candidate_metrics, incumbent_metrics, feature_psi, thresholds)
    if breaches and not bypass:
        raise ValidationError(
            "rollback_guard: " + "; ".join(b["message"] for b in breaches),
            field="metrics",
            reason="rollback_guard",
            breaches=[dict(b) for b in breaches],
        )
    return breaches
