"""Model intelligence: PSI against the formula, drift between hand-built windows, scoring breakdowns."""

from __future__ import annotations

import math
from typing import Any

import pytest

from kaireon_mcp.core.intelligence.modeling import categorical_psi, feature_drift, percentile_of
from kaireon_mcp.core.models.metrics import psi, psi_from_samples
from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.storage.tables import AlgorithmModel, Predictor, SchemaField
from tests.intelligence.conftest import Fixture

#: 50/50 gold/green before, 25/75 after: PSI = (0.25-0.5)ln(0.25/0.5) + (0.75-0.5)ln(0.75/0.5)
KNOWN_PSI = 0.25 * math.log(2) + 0.25 * math.log(1.5)
SCORECARD = {"baseScore": 50, "rules": [{"field": "tier", "operator": "eq", "value": "gold", "points": 20}]}


def test_psi_of_two_known_histograms_matches_the_formula() -> None:
    assert psi([50, 50], [25, 75]) == pytest.approx(KNOWN_PSI)
    assert categorical_psi(["gold"] * 50 + ["green"] * 50, ["gold"] * 25 + ["green"] * 75) == pytest.approx(
        KNOWN_PSI
    )
    expected = sum((a - e) * math.log(a / e) for e, a in ((0.2, 0.1), (0.3, 0.3), (0.5, 0.6)))
    assert psi([20, 30, 50], [10, 30, 60]) == pytest.approx(expected)
    same = feature_drift("x", list(range(100)), list(range(100)))
    assert same is not None and same["psi"] == 0.0 and same["band"] == "stable" and same["ks"] == 0.0
    shifted = feature_drift("x", list(range(100)), list(range(50, 150)))
    assert shifted is not None and shifted["kind"] == "numeric" and shifted["ks"] == 0.5
    assert shifted["psi"] == pytest.approx(psi_from_samples(list(range(100)), list(range(50, 150))), abs=1e-6)
    assert percentile_of(0.5, [0.1, 0.5, 0.9, 0.9]) == 37.5


async def _model(fx: Fixture, key: str, model_type: str = "scorecard", **values: Any) -> str:
    async with fx.db.tenant(fx.ctx) as repo:
        model = await repo.create(
            AlgorithmModel,
            {
                "id": f"mdl_{key}",
                "key": key,
                "name": key,
                "model_type": model_type,
                "status": "active",
                "config": SCORECARD if model_type == "scorecard" else {},
                **values,
            },
        )
        await repo.create(Predictor, {"model_id": model.id, "field": "tier", "data_type": "categorical"})
        return str(model.id)


async def _two_windows(fx: Fixture) -> Fixture:
    """R1-R4 active 45 days ago (2 gold, 2 green); N1-N4 active 5 days ago (1 gold, 3 green)."""
    email = await fx.channel("Email", "email")
    tiers = {
        "R1": "gold",
        "R2": "gold",
        "R3": "green",
        "R4": "green",
        "N1": "gold",
        "N2": "green",
        "N3": "green",
        "N4": "green",
    }
    await fx.customers({k: {"tier": t, "income": 1000 * i} for i, (k, t) in enumerate(tiers.items())})
    await fx.history(
        [{"customer": k, "channel": email, "when": fx.ago(days=45 if k[0] == "R" else 5)} for k in tiers]
    )
    return fx


async def test_drift_between_reference_and_recent_customers(fx: Fixture) -> None:
    await _two_windows(fx)
    await _model(fx, "cards")
    out = await fx.call("detectModelDrift", {"modelId": "cards"})
    assert out["referenceSize"] == 4 and out["recentSize"] == 4
    [tier] = out["features"]
    assert tier["feature"] == "tier" and tier["kind"] == "categorical"
    assert tier["psi"] == pytest.approx(KNOWN_PSI, abs=1e-6) and tier["band"] == "alert"
    assert out["scoreDrift"]["psi"] == pytest.approx(KNOWN_PSI, abs=1e-6)
    assert out["verdict"] == "alert" and out["driftDetected"] is True
    assert out["recommendedAction"].startswith("Retrain")
    assert out["calibration"] is None  # 4 recent customers are too few to bin


async def test_explain_model_scoring_breakdown_and_percentile(fx: Fixture) -> None:
    await _two_windows(fx)
    await _model(fx, "cards")
    out = await fx.call("explainModelScoring", {"modelId": "mdl_cards", "customerId": "N1"})
    assert out["rawScore"] == 70.0 and out["score"] == pytest.approx(1 / (1 + math.exp(-2)), abs=1e-6)
    assert out["contributions"] == [
        {"feature": "tier", "value": "gold", "contribution": 20.0, "direction": "increases"}
    ]
    assert out["sampleSize"] == 8 and out["percentile"] == 81.25  # 5 greens below, 3 golds tie
    with pytest.raises(NotFoundError) as err:
        await fx.call("explainModelScoring", {"modelId": "mdl_cards", "customerId": "ZZ"})
    assert err.value.field == "customerId"
    await _model(fx, "arms", "thompson_bandit")
    with pytest.raises(ValidationError):
        await fx.call("explainModelScoring", {"modelId": "arms", "customerId": "N1"})


async def test_model_health_verdicts_and_not_found(fx: Fixture) -> None:
    await _model(fx, "coin", metrics={"auc": 0.52})
    await _model(fx, "meh", metrics={"auc": 0.6})
    await _model(fx, "good", metrics={"auc": 0.8})
    coin = await fx.call("analyzeModelHealth", {"modelId": "coin"})
    assert coin["verdict"] == "critical" and "near random" in coin["reasons"][0]
    assert coin["featureImportance"] == [{"feature": "tier", "importance": 20.0, "share": 100.0}]
    assert (await fx.call("analyzeModelHealth", {"modelId": "meh"}))["verdict"] == "warning"
    assert (await fx.call("analyzeModelHealth", {"modelId": "good"}))["verdict"] == "healthy"
    for tool in ("analyzeModelHealth", "suggestModelImprovements", "detectModelDrift"):
        with pytest.raises(NotFoundError) as err:
            await fx.call(tool, {"modelId": "mdl_missing"})
        assert err.value.field == "modelId" and "mdl_missing" in err.value.message


async def test_suggestions_name_missing_predictors_and_type(fx: Fixture) -> None:
    await _two_windows(fx)
    await _model(fx, "cards")
    async with fx.db.tenant(fx.ctx) as repo:
        for name in ("tier", "income"):
            await repo.create(
                SchemaField, {"schema_id": f"sch_{fx.tenant}", "name": name, "is_predictor": True}
            )
    out = await fx.call("suggestModelImprovements", {"modelId": "cards"})
    assert out["predictors"] == ["tier"] and out["missingPredictors"] == ["income"]
    assert out["recommendedModelType"] == "scorecard"  # no labelled outcomes yet
    assert out["labelledOutcomes"] == {"positive": 0, "negative": 0, "customers": 0}
    assert any(s["title"] == "Add predictor 'income'" for s in out["suggestions"])
    assert out["hint"]
