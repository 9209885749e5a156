import math
from collections import Counter

import pytest

from kaireon_mcp.core import experiments as ex
from kaireon_mcp.errors import ValidationError


def test_fnv1a32_reference_vectors():
    assert ex.fnv1a32("") == 0x811C9DC5
    assert ex.fnv1a32("a") == 0xE40C292C
    assert ex.fnv1a32("foobar") == 0xBF9CF968


def test_assignment_is_stable_and_key_dependent():
    ch = [{"modelId": "bayes-v2", "trafficPct": 20}]
    first = [ex.assign_variant("scorecard-vs-bayes", f"cust-{i}", 0, ch) for i in range(200)]
    again = [ex.assign_variant("scorecard-vs-bayes", f"cust-{i}", 0, ch) for i in range(200)]
    assert first == again
    other = [ex.assign_variant("another-exp", f"cust-{i}", 0, ch) for i in range(200)]
    assert first != other


def test_bucket_layout_holdout_then_challengers_then_champion():
    ch = [{"modelId": "m1", "trafficPct": 20}, {"modelId": "m2", "trafficPct": 10}]
    seen = {}
    for i in range(3000):
        cid = f"c{i}"
        seen.setdefault(ex.bucket("exp", cid), cid)
    expected = {
        5: "__holdout__",
        9: "__holdout__",
        10: "m1",
        29: "m1",
        30: "m2",
        39: "m2",
        40: "__champion__",
        99: "__champion__",
    }
    for b, want in expected.items():
        assert ex.assign_variant("exp", seen[b], 10, ch) == want


def test_observed_split_within_two_points_of_80_20():
    ch = [{"modelId": "bayes", "trafficPct": 20}]
    counts = Counter(ex.assign_variant("starbucks-exp", f"customer-{i}", 0, ch) for i in range(10000))
    assert counts["bayes"] / 10000 == pytest.approx(0.20, abs=0.02)
    assert counts["__champion__"] / 10000 == pytest.approx(0.80, abs=0.02)
    with_holdout = Counter(ex.assign_variant("starbucks-exp", f"customer-{i}", 10, ch) for i in range(10000))
    assert with_holdout["__holdout__"] / 10000 == pytest.approx(0.10, abs=0.02)
    assert with_holdout["__champion__"] / 10000 == pytest.approx(0.70, abs=0.02)


def test_assign_experiment_entity():
    exp = {"key": "k", "holdoutPercent": 100, "challengers": []}
    assert ex.assign_experiment(exp, "anyone") == "__holdout__"


def test_validate_split():
    ex.validate_split(80, [{"modelId": "a", "trafficPct": 20}])
    ex.validate_split(70, [{"modelId": "a", "trafficPct": 20}, {"modelId": "b", "trafficPct": 10}])
    with pytest.raises(ValidationError, match="total 100"):
        ex.validate_split(80, [{"modelId": "a", "trafficPct": 15}])
    with pytest.raises(ValidationError):
        ex.validate_split(80, [{"modelId": "a", "trafficPct": 10}, {"modelId": "a", "trafficPct": 10}])
    with pytest.raises(ValidationError):
        ex.assign_variant("k", "c", 90, [{"modelId": "a", "trafficPct": 20}])


def test_two_proportion_z_test_hand_computed():
    from scipy.stats import norm

    out = ex.two_proportion_z_test(100, 1000, 130, 1000)
    pooled = 230 / 2000
    z = (0.13 - 0.10) / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert out["z"] == pytest.approx(z)
    assert out["pValue"] == pytest.approx(2 * norm.sf(z))
    assert out["pValue"] == pytest.approx(0.0351, abs=1e-3)
    assert ex.two_proportion_z_test(0, 10, 0, 10) == {"z": 0.0, "pValue": 1.0}


def test_wilson_interval_against_scipy_and_edges():
    from scipy.stats import binomtest, norm

    ci = binomtest(130, 1000).proportion_ci(confidence_level=0.95, method="wilson")
    assert ex.wilson_interval(130, 1000, z=norm.ppf(0.975)) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert ex.wilson_interval(130, 1000) == pytest.approx((ci.low, ci.high), abs=1e-4)
    lo, hi = ex.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1.96**2 / (10 + 1.96**2))  # p̂=0 closed form z²/(n+z²)
    with pytest.raises(ValidationError):
        ex.wilson_interval(5, 0)


def test_uplift_and_compare_arms():
    assert ex.uplift(0.13, 0.10) == {"absolute": pytest.approx(0.03), "relative": pytest.approx(0.3)}
    assert ex.uplift(0.1, 0.0)["relative"] is None
    res = ex.compare_arms({"conversions": 130, "n": 1000}, {"conversions": 100, "n": 1000})
    assert res["absoluteUplift"] == pytest.approx(0.03) and res["relativeUplift"] == pytest.approx(0.3)
    assert res["significant"] is True
