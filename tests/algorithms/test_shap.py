"""computeShapValues: exact attributions per model type, checked by hand, plus an end-to-end trace."""

from __future__ import annotations

import math
from typing import Any

import pytest

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import AlgorithmModel, DecisionTrace
from tests.algorithms.conftest import OTHER, TENANT, call, fails, seed_training_data, set_columns

#: C-000 in the fixture: income 90000, visit_frequency 5, tier gold
CUSTOMER = "C-000"


async def _trace(db: Database, attributes: dict[str, Any], tenant: str = TENANT) -> str:
    async with db.tenant(TenantContext(tenant_id=tenant)) as repo:
        trace = await repo.create(
            DecisionTrace,
            {
                "customer_id": CUSTOMER,
                "request_id": f"req-{tenant}",
                "input": {"attributes": attributes},
                "scoring_results": [{"offerId": "off_1", "score": 0.42}],
            },
        )
        return str(trace.id)


async def _model(db: Database, model_type: str, state: dict[str, Any] | None = None, **extra: Any) -> str:
    model = await call(
        db, "createModel", {"key": model_type, "name": model_type, "modelType": model_type, **extra}
    )
    if state is not None:
        await set_columns(db, AlgorithmModel, model["id"], model_state=state)
    return str(model["id"])


async def _shap(db: Database, trace_id: str, model_id: str, **extra: Any) -> dict[str, Any]:
    return await call(
        db, "computeShapValues", {"traceId": trace_id, "modelId": model_id, "offerId": "off_1", **extra}
    )


async def test_logistic_contributions_are_weight_times_value(adb: Database) -> None:
    await seed_training_data(adb)
    state = {"weights": {"income": 0.00002, "visit_frequency": 0.3, "tier=gold": 0.5}, "bias": -2.0}
    model_id = await _model(adb, "logistic_regression", state)
    # the request said visit_frequency 2, which wins over the schema row's 5
    trace_id = await _trace(adb, {"visit_frequency": 2})

    result = await _shap(adb, trace_id, model_id)

    # income 90000 * 0.00002 = 1.8; visits 2 * 0.3 = 0.6; gold one-hot 0.5; bias -2 → margin 0.9
    assert result["method"] == "linear" and result["customerId"] == CUSTOMER
    assert [(c["feature"], c["value"]) for c in result["contributions"]] == [
        ("income", 90000),
        ("visit_frequency", 2),
        ("tier", "gold"),
    ]
    assert [c["contribution"] for c in result["contributions"]] == pytest.approx([1.8, 0.6, 0.5])
    assert result["baseline"] == -2.0
    assert result["rawMargin"] == pytest.approx(0.9)
    assert result["score"] == pytest.approx(1 / (1 + math.exp(-0.9)))
    assert abs(result["additivityResidual"]) < 1e-12
    assert result["offerInTrace"] is True and result["traceScore"] == 0.42

    what_if = await _shap(adb, trace_id, model_id, attributes={"income": 50000})
    assert what_if["rawMargin"] == pytest.approx(-2.0 + 1.0 + 0.6 + 0.5)


async def test_scorecard_contributions_are_rule_points(adb: Database) -> None:
    await seed_training_data(adb)
    rules = [
        {"field": "tier", "operator": "eq", "value": "gold", "points": 20},
        {"field": "visit_frequency", "operator": "gte", "value": 3, "points": 15},
        {"field": "income", "operator": "gte", "value": 100000, "points": 10},
    ]
    model_id = await _model(adb, "scorecard", config={"baseScore": 50, "rules": rules})
    result = await _shap(adb, await _trace(adb, {}), model_id)
    # gold +20 and 5 visits +15 match; income 90000 misses the 100000 rule
    assert result["method"] == "points" and result["baseline"] == 50.0 and result["rawMargin"] == 85.0
    assert [(c["feature"], c["contribution"]) for c in result["contributions"]] == [
        ("tier", 20.0),
        ("visit_frequency", 15.0),
    ]
    assert result["additivityResidual"] == 0.0
    assert result["score"] == pytest.approx(1 / (1 + math.exp(-(85 - 50) / 10)))


@pytest.mark.parametrize(
    ("model_type", "method"), [("bayesian", "log_likelihood_ratio"), ("gradient_boosted", "saabas")]
)
async def test_trained_models_decompose_exactly(adb: Database, model_type: str, method: str) -> None:
    await seed_training_data(adb)
    model_id = await _model(
        adb, model_type, config={"nEstimators": 20} if model_type == "gradient_boosted" else {}
    )
    await call(adb, "trainModel", {"modelId": model_id})

    result = await _shap(adb, await _trace(adb, {}), model_id)

    assert result["method"] == method
    assert {c["feature"] for c in result["contributions"]} <= {"income", "visit_frequency", "tier"}
    assert abs(result["additivityResidual"]) < 1e-9
    assert result["score"] == pytest.approx(1 / (1 + math.exp(-result["rawMargin"])))
    if model_type == "bayesian":
        assert result["baseline"] == 0.0  # 16 positive and 16 negative training rows: even prior odds


async def test_refusals(adb: Database) -> None:
    await seed_training_data(adb)
    trace_id = await _trace(adb, {})
    bandit = await _model(adb, "thompson_bandit", {"arms": {}})
    error = await _fails_shap(adb, trace_id, bandit)
    assert error.code == "VALIDATION" and "no feature attributions" in error.message
    logistic = await _model(adb, "logistic_regression", {"weights": {}, "bias": 0})
    assert (await _fails_shap(adb, "trc_missing", logistic)).code == "NOT_FOUND"
    # another tenant's trace is invisible
    other_trace = await _trace(adb, {}, tenant=OTHER)
    error = await _fails_shap(adb, other_trace, logistic)
    assert error.code == "NOT_FOUND" and error.field == "traceId"
    # a trace is also found by its request id
    assert (await _shap(adb, f"req-{TENANT}", logistic))["traceId"] == trace_id


async def _fails_shap(db: Database, trace_id: str, model_id: str) -> Any:
    return await fails(
        db, "computeShapValues", {"traceId": trace_id, "modelId": model_id, "offerId": "off_1"}
    )


async def test_explains_a_real_recommendation(demo_db: Database) -> None:
    # the request's attributes win over C-0005's schema row, so the expected points are known
    profile = {"tier": "gold", "visit_frequency": 4, "age": 34, "income": 85000, "membership_days": 640}
    response = await call(demo_db, "recommend", {"customerId": "C-0005", "limit": 3, "attributes": profile})
    assert response["decisions"], "the demo flow recommends offers to C-0005"
    offer_id = response["decisions"][0]["offerId"]

    result = await call(
        demo_db,
        "computeShapValues",
        {"traceId": response["recommendationId"], "modelId": "mdl_demo_offer_scorecard", "offerId": offer_id},
    )

    # gold (+20), 4 visits (+15), age 34 (+10), income 85000 (+10), 640 days (no new-member penalty)
    assert result["offerInTrace"] is True and result["rawMargin"] == 105.0 and result["baseline"] == 50.0
    assert sorted(c["contribution"] for c in result["contributions"]) == [10.0, 10.0, 15.0, 20.0]
    assert result["additivityResidual"] == 0.0
