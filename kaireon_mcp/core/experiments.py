"""Experiment arm assignment and result statistics (spec §7.1).

Assignment is a pure function of ``experimentKey`` and ``customerId`` (FNV-1a 32-bit
of ``"key:customer"`` mod 100), so every process, and every re-run, puts a customer
in the same arm without coordination; persisting assignments is only an audit aid.

Bucket layout: ``[0, holdoutPercent)`` → ``__holdout__``; then each challenger takes
the next ``trafficPct`` buckets in list order and is returned as its ``modelId``;
everything above → ``__champion__``. The holdout is therefore carved out of the
champion's share (``championPct + Σ challengers == 100`` describes the model split).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from kaireon_mcp.errors import ValidationError

HOLDOUT = "__holdout__"
CHAMPION = "__champion__"
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
Z_95 = 1.96  # the spec quotes z = 1.96 for 95 % intervals


def fnv1a32(text: str) -> int:
    """FNV-1a 32-bit over the UTF-8 bytes of ``text``."""
    h = FNV_OFFSET
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def bucket(experiment_key: str, customer_id: str) -> int:
    """Stable bucket 0–99 for a customer within one experiment."""
    return fnv1a32(f"{experiment_key}:{customer_id}") % 100


def _pct(value: Any, field: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 100:
        raise ValidationError("percentages must be numbers between 0 and 100", field=field)
    return float(value)


def _challenger_pcts(challengers: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for i, ch in enumerate(challengers):
        model_id = ch.get("modelId")
        if not model_id:
            raise ValidationError("challenger needs a modelId", field=f"challengers[{i}].modelId")
        if any(model_id == seen for seen, _ in out):
            raise ValidationError(f"duplicate challenger {model_id!r}", field=f"challengers[{i}].modelId")
        out.append((str(model_id), _pct(ch.get("trafficPct"), f"challengers[{i}].trafficPct")))
    return out


def validate_split(champion_pct: float, challengers: Sequence[Mapping[str, Any]]) -> None:
    """Champion + challenger percentages must total exactly 100."""
    total = _pct(champion_pct, "trafficSplit.championPct") + sum(p for _, p in _challenger_pcts(challengers))
    if abs(total - 100.0) > 1e-9:
        raise ValidationError(f"traffic split must total 100, got {total:g}", field="trafficSplit")


def assign_variant(
    experiment_key: str,
    customer_id: str,
    holdout_percent: float = 0,
    challengers: Sequence[Mapping[str, Any]] = (),
) -> str:
    """``__holdout__``, a challenger's ``modelId``, or ``__champion__`` (layout in module doc)."""
    if not experiment_key or not customer_id:
        raise ValidationError("experiment key and customer id are required", field="customerId")
    edge = _pct(holdout_percent, "holdoutPercent")
    pcts = _challenger_pcts(challengers)
    if edge + sum(p for _, p in pcts) > 100 + 1e-9:
        raise ValidationError("holdout plus challenger traffic exceeds 100", field="holdoutPercent")
    b = bucket(experiment_key, customer_id)
    if b < edge:
        return HOLDOUT
    for model_id, pct in pcts:
        edge += pct
        if b < edge:
            return model_id
    return CHAMPION


def assign_experiment(experiment: Mapping[str, Any], customer_id: str) -> str:
    """Convenience wrapper reading ``key``, ``holdoutPercent`` and ``challengers`` from an entity."""
    return assign_variant(
        str(experiment.get("key") or ""),
        customer_id,
        experiment.get("holdoutPercent") or 0,
        experiment.get("challengers") or [],
    )


def _rate(conversions: int, n: int, field: str) -> float:
    if n <= 0 or conversions < 0 or conversions > n:
        raise ValidationError("need 0 <= conversions <= n and n > 0", field=field)
    return conversions / n


def two_proportion_z_test(conv_a: int, n_a: int, conv_b: int, n_b: int) -> dict[str, float]:
    """Pooled-SE z for ``rate_b − rate_a`` and its two-tailed p-value ``erfc(|z|/√2)``.

    A pooled rate of 0 or 1 gives SE 0: no evidence of a difference (z 0, p 1).
    """
    p_a, p_b = _rate(conv_a, n_a, "control"), _rate(conv_b, n_b, "treatment")
    pooled = (conv_a + conv_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return {"z": 0.0, "pValue": 1.0}
    z = (p_b - p_a) / se
    return {"z": z, "pValue": math.erfc(abs(z) / math.sqrt(2))}


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval; stays inside [0, 1] and behaves at 0 % and 100 %."""
    p = _rate(successes, n, "n")
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def uplift(rate_treatment: float, rate_control: float) -> dict[str, float | None]:
    """Absolute and relative uplift; relative is ``None`` when the control rate is 0."""
    relative = (rate_treatment - rate_control) / rate_control if rate_control else None
    return {"absolute": rate_treatment - rate_control, "relative": relative}


def compare_arms(
    treatment: Mapping[str, int], control: Mapping[str, int], alpha: float = 0.05
) -> dict[str, Any]:
    """Full arm comparison from ``{conversions, n}`` pairs, as the uplift report needs it."""
    ct, nt = int(treatment["conversions"]), int(treatment["n"])
    cc, nc = int(control["conversions"]), int(control["n"])
    test = two_proportion_z_test(cc, nc, ct, nt)
    rates = (_rate(ct, nt, "treatment"), _rate(cc, nc, "control"))
    return {
        "treatmentRate": rates[0],
        "controlRate": rates[1],
        "treatmentInterval": wilson_interval(ct, nt),
        "controlInterval": wilson_interval(cc, nc),
        **{f"{k}Uplift": v for k, v in uplift(*rates).items()},
        "z": test["z"],
        "pValue": test["pValue"],
        "significant": test["pValue"] < alpha,
    }
