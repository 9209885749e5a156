import math
import random

import numpy as np
import pytest

from kaireon_mcp.core.models import metrics as m
from kaireon_mcp.errors import ValidationError


def _sample(n=300, seed=0):
    rng = random.Random(seed)
    y = [int(rng.random() < 0.3) for _ in range(n)]
    s = [round(min(1, max(0, rng.gauss(0.6 if t else 0.4, 0.2))), 1) for t in y]  # rounding forces ties
    return y, s


def test_roc_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    for seed in range(5):
        y, s = _sample(seed=seed)
        assert m.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_roc_auc_small_hand_case():
    # pairs (pos, neg): (0.8>0.3) (0.8>0.5) (0.5=0.5 -> half) (0.5>0.3) => 3.5 / 4
    assert m.roc_auc([1, 0, 1, 0], [0.8, 0.5, 0.5, 0.3]) == 0.875
    with pytest.raises(ValidationError):
        m.roc_auc([1, 1], [0.2, 0.3])


def test_accuracy_precision_recall_match_sklearn():
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    y, s = _sample(seed=9)
    pred = [int(v >= 0.5) for v in s]
    assert m.accuracy(y, s) == pytest.approx(accuracy_score(y, pred))
    assert m.precision(y, s) == pytest.approx(precision_score(y, pred))
    assert m.recall(y, s) == pytest.approx(recall_score(y, pred))
    assert m.precision([0, 1], [0.1, 0.2]) == 0.0
    out = m.binary_metrics(y, s)
    assert out["errorRate"] == pytest.approx(1 - out["accuracy"])


def test_calibration_uniform_matches_sklearn():
    from sklearn.calibration import calibration_curve

    rng = random.Random(4)
    s = [rng.random() for _ in range(500)]
    y = [int(rng.random() < p) for p in s]
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10, strategy="uniform")
    bins = m.calibration_bins(y, s, 10, "uniform")
    assert [b["observed"] for b in bins] == pytest.approx(list(prob_true))
    assert [b["expected"] for b in bins] == pytest.approx(list(prob_pred))


def test_calibration_quantile_deciles_hand():
    s = [i / 20 for i in range(20)]
    y = [0] * 10 + [1] * 10
    bins = m.calibration_bins(y, s, 10)
    assert [b["count"] for b in bins] == [2] * 10
    assert bins[0]["expected"] == pytest.approx(0.025) and bins[0]["observed"] == 0
    assert bins[9]["expected"] == pytest.approx(0.925) and bins[9]["observed"] == 1


def test_psi_hand_values_and_epsilon():
    assert m.psi([50, 50], [60, 40]) == pytest.approx(0.1 * math.log(1.2) + 0.1 * math.log(1.25))
    eps = 1e-4
    assert m.psi([100, 0], [50, 50]) == pytest.approx(
        -0.5 * math.log(0.5) + (0.5 - eps) * math.log(0.5 / eps)
    )
    assert m.psi([1, 2, 3], [2, 4, 6]) == 0.0
    with pytest.raises(ValidationError):
        m.psi([1, 2], [1])


@pytest.mark.parametrize(
    "value,band", [(0.0, "stable"), (0.099, "stable"), (0.1, "monitor"), (0.25, "monitor"), (0.2501, "alert")]
)
def test_psi_band(value, band):
    assert m.psi_band(value) == band


def test_psi_from_samples_matches_independent_numpy():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, 2000)
    b = rng.normal(1.0, 1.2, 1500)
    edges = np.quantile(a, np.arange(1, 10) / 10)
    ea = np.bincount(np.searchsorted(edges, a, side="right"), minlength=10) / len(a)
    eb = np.bincount(np.searchsorted(edges, b, side="right"), minlength=10) / len(b)
    expected = float(np.sum((eb - ea) * np.log(eb / ea)))
    got = m.psi_from_samples(a.tolist(), b.tolist())
    assert got == pytest.approx(expected, rel=1e-9)
    assert m.psi_band(got) == "alert"
    assert m.psi_from_samples(a.tolist(), a.tolist()) == 0.0


def test_ks_matches_scipy():
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(8)
    for shift in (0.0, 0.3):
        a = np.round(rng.normal(0, 1, 400), 1)
        b = np.round(rng.normal(shift, 1, 250), 1)
        assert m.ks_statistic(a.tolist(), b.tolist()) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
