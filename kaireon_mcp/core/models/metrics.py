"""Model quality and drift metrics, written out so they need no ML runtime at score time.

AUC is the rank (Mann-Whitney) form with tied scores given their average rank, which
is what ``sklearn.metrics.roc_auc_score`` computes. PSI and KS feed the drift check
and the promotion rollback guard (spec §6.3, §6.6).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from kaireon_mcp.errors import ValidationError

PSI_STABLE = 0.1
PSI_ALERT = 0.25
DEFAULT_PSI_EPSILON = 1e-4


def _check_binary(y_true: Sequence[int], y_score: Sequence[float]) -> None:
    if len(y_true) != len(y_score):
        raise ValidationError("y_true and y_score must have the same length", field="y_score")
    if any(y not in (0, 1) for y in y_true):
        raise ValidationError("y_true must contain only 0 and 1", field="y_true")


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mean_rank = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = mean_rank
        i = j + 1
    return ranks


def roc_auc(y_true: Sequence[int], y_score: Sequence[float]) -> float:
    """Probability a random positive outscores a random negative (ties count half)."""
    _check_binary(y_true, y_score)
    n_pos = sum(y_true)
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValidationError("AUC needs both positive and negative examples", field="y_true")
    ranks = average_ranks(y_score)
    rank_sum_pos = sum(r for r, y in zip(ranks, y_true, strict=True) if y == 1)
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def confusion(y_true: Sequence[int], y_score: Sequence[float], threshold: float = 0.5) -> dict[str, int]:
    """Counts at ``score >= threshold`` → predicted positive."""
    _check_binary(y_true, y_score)
    tp = fp = tn = fn = 0
    for y, s in zip(y_true, y_score, strict=True):
        pred = s >= threshold
        if pred and y:
            tp += 1
        elif pred:
            fp += 1
        elif y:
            fn += 1
        else:
            tn += 1
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def accuracy(y_true: Sequence[int], y_score: Sequence[float], threshold: float = 0.5) -> float:
    c = confusion(y_true, y_score, threshold)
    total = sum(c.values())
    return (c["tp"] + c["tn"]) / total if total else 0.0


def precision(y_true: Sequence[int], y_score: Sequence[float], threshold: float = 0.5) -> float:
    """0.0 when nothing is predicted positive (sklearn's ``zero_division=0``)."""
    c = confusion(y_true, y_score, threshold)
    denom = c["tp"] + c["fp"]
    return c["tp"] / denom if denom else 0.0


def recall(y_true: Sequence[int], y_score: Sequence[float], threshold: float = 0.5) -> float:
    c = confusion(y_true, y_score, threshold)
    denom = c["tp"] + c["fn"]
    return c["tp"] / denom if denom else 0.0


def binary_metrics(
    y_true: Sequence[int], y_score: Sequence[float], threshold: float = 0.5
) -> dict[str, float | None]:
    """The model ``metrics`` block; ``errorRate`` is the misclassification rate (1 − accuracy).

    ``auc`` is ``None`` when the evaluation set holds a single class.
    """
    auc: float | None
    try:
        auc = roc_auc(y_true, y_score)
    except ValidationError:
        auc = None
    acc = accuracy(y_true, y_score, threshold)
    return {
        "auc": auc,
        "accuracy": acc,
        "precision": precision(y_true, y_score, threshold),
        "recall": recall(y_true, y_score, threshold),
        "errorRate": 1.0 - acc,
    }


def calibration_bins(
    y_true: Sequence[int],
    y_score: Sequence[float],
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
) -> list[dict[str, Any]]:
    """Expected (mean score) vs observed (positive rate) per bin; empty bins are omitted.

    ``quantile`` (default) sorts by score and cuts equal-count deciles, the usual
    marketing "decile table"; ``uniform`` uses fixed [k/n, (k+1)/n) score ranges
    (the last bin includes 1.0).
    """
    _check_binary(y_true, y_score)
    if n_bins < 1:
        raise ValidationError("n_bins must be >= 1", field="n_bins")
    groups: list[list[int]] = [[] for _ in range(n_bins)]
    if strategy == "uniform":
        for i, s in enumerate(y_score):
            groups[min(max(int(s * n_bins), 0), n_bins - 1)].append(i)
    elif strategy == "quantile":
        order = sorted(range(len(y_score)), key=lambda i: y_score[i])
        for pos, i in enumerate(order):
            groups[pos * n_bins // len(order)].append(i)
    else:
        raise ValidationError("strategy must be 'quantile' or 'uniform'", field="strategy")
    out: list[dict[str, Any]] = []
    for b, members in enumerate(groups):
        if not members:
            continue
        scores = [y_score[i] for i in members]
        out.append(
            {
                "bin": b,
                "lower": min(scores),
                "upper": max(scores),
                "count": len(members),
                "expected": sum(scores) / len(members),
                "observed": sum(y_true[i] for i in members) / len(members),
            }
        )
    return out


def psi(
    expected_counts: Sequence[float], actual_counts: Sequence[float], epsilon: float = DEFAULT_PSI_EPSILON
) -> float:
    """Population Stability Index Σ (a − e)·ln(a / e) over bin proportions.

    Empty bins would make the log infinite, so any proportion below ``epsilon`` is
    raised to ``epsilon`` (the common convention); proportions are not renormalised.
    """
    if len(expected_counts) != len(actual_counts) or not expected_counts:
        raise ValidationError("expected and actual counts need the same, non-zero length", field="actual")
    if any(c < 0 for c in expected_counts) or any(c < 0 for c in actual_counts):
        raise ValidationError("counts must be non-negative", field="actual")
    e_total = float(sum(expected_counts))
    a_total = float(sum(actual_counts))
    if e_total <= 0 or a_total <= 0:
        raise ValidationError("both distributions need at least one observation", field="actual")
    total = 0.0
    for e_c, a_c in zip(expected_counts, actual_counts, strict=True):
        e = max(e_c / e_total, epsilon)
        a = max(a_c / a_total, epsilon)
        total += (a - e) * math.log(a / e)
    return total


def psi_band(value: float) -> Literal["stable", "monitor", "alert"]:
    """< 0.1 stable (spec verdict ``none``), 0.1–0.25 monitor, > 0.25 alert / retrain."""
    if value < PSI_STABLE:
        return "stable"
    if value <= PSI_ALERT:
        return "monitor"
    return "alert"


def quantile_edges(sample: Sequence[float], bins: int = 10) -> list[float]:
    """Interior cut points at the 1/bins … (bins−1)/bins quantiles (linear), de-duplicated."""
    if bins < 2:
        raise ValidationError("bins must be >= 2", field="bins")
    if not sample:
        raise ValidationError("sample must not be empty", field="expected")
    qs = np.quantile(np.asarray(sample, dtype=float), [k / bins for k in range(1, bins)])
    edges: list[float] = []
    for q in qs.tolist():
        if not edges or q > edges[-1]:
            edges.append(float(q))
    return edges


def bin_counts(sample: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin; a value equal to an edge falls into the bin above it."""
    counts = [0] * (len(edges) + 1)
    for x in sample:
        counts[bisect.bisect_right(edges, x)] += 1
    return counts


def psi_from_samples(
    expected: Sequence[float], actual: Sequence[float], bins: int = 10, epsilon: float = DEFAULT_PSI_EPSILON
) -> float:
    """PSI of ``actual`` against the quantile bins of the baseline ``expected`` sample."""
    if not actual:
        raise ValidationError("actual sample must not be empty", field="actual")
    edges = quantile_edges(expected, bins)
    return psi(bin_counts(expected, edges), bin_counts(actual, edges), epsilon)


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov–Smirnov D = sup |F_a(x) − F_b(x)| (scipy ``ks_2samp`` statistic)."""
    if not a or not b:
        raise ValidationError("both samples must be non-empty", field="actual")
    xs = sorted(a)
    ys = sorted(b)
    d = 0.0
    for v in sorted(set(xs) | set(ys)):
        fa = bisect.bisect_right(xs, v) / len(xs)
        fb = bisect.bisect_right(ys, v) / len(ys)
        d = max(d, abs(fa - fb))
    return d
