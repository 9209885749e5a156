"""trainModel and resetModelLearning on a small separable fixture, on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert

from kaireon_mcp.core.models import MODEL_TYPES
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import DataSchema, SchemaRow
from tests.algorithms.conftest import (
    FIELDS,
    LABELLED,
    OTHER,
    add_fields,
    audit_rows,
    call,
    customer,
    fails,
    is_positive,
    model_row,
    seed_training_data,
)

METRIC_KEYS = {"auc", "accuracy", "precision", "recall", "errorRate", "trainingSamples", "testSamples"}


async def _new_model(db: Database, model_type: str, **extra: Any) -> dict[str, Any]:
    return await call(
        db, "createModel", {"key": f"{model_type}-m", "name": model_type, "modelType": model_type, **extra}
    )


async def _separation(db: Database, model_id: str) -> tuple[float, float]:
    """(lowest positive score, highest negative score) over the labelled fixture rows."""
    row = await model_row(db, model_id)
    score = MODEL_TYPES[row.model_type].score
    scores = [
        (score(row.config, row.model_state, c).score, is_positive(c)) for c in map(customer, range(LABELLED))
    ]
    return min(s for s, p in scores if p), max(s for s, p in scores if not p)


@pytest.mark.parametrize("model_type", ["logistic_regression", "bayesian"])
async def test_training_fits_on_outcome_labels_and_separates_the_classes(
    adb: Database, model_type: str
) -> None:
    await seed_training_data(adb)
    model = await _new_model(adb, model_type)

    result = await call(adb, "trainModel", {"modelId": model["id"]})

    # 40 customers with history (20 positive), 4 never contacted and left out;
    # the stratified 80/20 split keeps round(20 * 0.2) = 4 of each class for testing
    assert result["labelledRows"] == 40
    assert result["labelSources"] == {"targetField": 0, "interactions": 40, "unlabelled": 4}
    assert result["predictors"] == ["income", "visit_frequency", "tier"]
    assert set(result["metrics"]) == METRIC_KEYS
    assert result["metrics"]["trainingSamples"] == 32 and result["metrics"]["testSamples"] == 8
    assert result["metrics"]["auc"] == 1.0 and result["metrics"]["errorRate"] == 0.0
    assert result["trainingSamples"] == 32 and result["version"] == model["version"] + 1

    lowest_positive, highest_negative = await _separation(adb, model["id"])
    assert lowest_positive > 0.5 > highest_negative

    stored = await call(adb, "getModel", {"modelId": model["id"]})
    assert stored["metrics"] == result["metrics"] and stored["lastTrainedAt"] is not None
    assert [h["version"] for h in stored["metricsHistory"]] == [result["version"]]
    assert stored["versions"][0]["reason"] == "trained on 40 labelled rows of customers"
    assert stored["versions"][0]["metrics"] == result["metrics"]
    train_audit = await audit_rows(adb, action="train")
    assert len(train_audit) == 1 and train_audit[0].changes["labelSources"]["interactions"] == 40
    assert str(train_audit[0].changes["modelState"]["to"]).startswith("sha256:")  # digested, not copied


async def test_gradient_boosted_training_exports_trees(adb: Database) -> None:
    await seed_training_data(adb)
    model = await _new_model(adb, "gradient_boosted", config={"nEstimators": 40, "maxDepth": 2})
    result = await call(adb, "trainModel", {"modelId": model["id"]})
    assert result["metrics"]["auc"] == 1.0
    lowest_positive, highest_negative = await _separation(adb, model["id"])
    assert lowest_positive > highest_negative
    stored = await call(adb, "getModel", {"modelId": model["id"]})
    assert stored["modelState"]["omitted"] is True and "trees" in stored["modelState"]["keys"]


async def test_target_field_in_the_rows_labels_without_history(adb: Database) -> None:
    await seed_training_data(adb)  # the default schema; the model points at "crm" instead
    async with adb.tenant(TenantContext(tenant_id="demo")) as repo:
        crm = await repo.create(
            DataSchema,
            {"name": "crm", "display_name": "CRM", "table_name": "ds_crm", "entity_type": "customer"},
        )
        await add_fields(repo, crm.id, [*FIELDS, ("converted", "varchar")])
        rows = [{**customer(i), "converted": "yes" if i % 2 == 0 else "no"} for i in range(100, 144)]
        await repo.session.execute(
            insert(SchemaRow),
            [
                {
                    "id": f"row_crm_{r['customer_id']}",
                    "tenant_id": "demo",
                    "schema_id": crm.id,
                    "row_key": r["customer_id"],
                    "data": r,
                }
                for r in rows
            ],
        )
    model = await _new_model(
        adb,
        "logistic_regression",
        targetField="converted",
        targetSchemaKey="crm",
        predictors=["income", "visit_frequency", "tier"],
    )
    result = await call(adb, "trainModel", {"modelId": model["id"]})
    assert result["schemaName"] == "crm"
    assert result["labelSources"] == {"targetField": 44, "interactions": 0, "unlabelled": 0}
    # 22 per class: round(22 * 0.2) = 4 held out per class
    assert result["metrics"]["trainingSamples"] == 36 and result["metrics"]["testSamples"] == 8

    error = await fails(
        adb, "updatePredictors", {"modelId": model["id"], "predictors": ["income", "converted"]}
    )
    assert error.code == "VALIDATION" and "target field" in error.message


async def test_selected_predictors_win_over_schema_flags(adb: Database) -> None:
    await seed_training_data(adb)
    model = await _new_model(adb, "bayesian", predictors=["tier", {"field": "income", "selected": False}])
    result = await call(adb, "trainModel", {"modelId": model["id"]})
    assert result["predictors"] == ["tier"]


@pytest.mark.parametrize(
    ("model_type", "message"),
    [
        ("scorecard", "scorecards are rule-based; edit rules instead"),
        ("thompson_bandit", "thompson_bandit learns online from every respond; it has no batch training"),
        ("online_learner", "online_learner learns online from every respond; it has no batch training"),
        ("external_endpoint", "external_endpoint models are trained outside the platform"),
    ],
)
async def test_untrainable_types_are_refused(adb: Database, model_type: str, message: str) -> None:
    await seed_training_data(adb)
    model = await _new_model(adb, model_type)
    error = await fails(adb, "trainModel", {"modelId": model["id"]})
    assert (error.code, error.message) == ("VALIDATION", message)


async def test_training_needs_data_and_rolls_back_on_failure(adb: Database) -> None:
    model = await _new_model(adb, "logistic_regression")
    error = await fails(adb, "trainModel", {"modelId": model["id"]})
    assert error.code == "VALIDATION" and error.field == "schemaId"

    await seed_training_data(adb)
    # rows C-000..C-002 hold two positives and one negative: too few to train
    error = await fails(adb, "trainModel", {"modelId": model["id"], "sampleLimit": 3})
    assert error.code == "VALIDATION" and "2 positive and 2 negative" in error.message
    row = await model_row(adb, model["id"])
    assert row.version == model["version"] and row.model_state == {} and row.training_samples == 0

    other_schema = await seed_training_data(adb, tenant=OTHER)
    error = await fails(adb, "trainModel", {"modelId": model["id"], "schemaId": other_schema})
    assert error.code == "NOT_FOUND" and error.field == "schemaId"


async def test_reset_learning_snapshots_then_clears(adb: Database) -> None:
    await seed_training_data(adb)
    model = await _new_model(adb, "logistic_regression", status="active")
    trained = await call(adb, "trainModel", {"modelId": model["id"]})

    reset = await call(adb, "resetModelLearning", {"modelId": model["id"]})
    assert reset["snapshotVersion"] == trained["version"]
    assert reset["model"]["status"] == "draft" and reset["model"]["trainingSamples"] == 0
    stored = await call(adb, "getModel", {"modelId": model["id"]})
    assert stored["modelState"] == {} and stored["metrics"] == {} and stored["metricsHistory"] == []
    assert stored["lastTrainedAt"] is None
    newest = stored["versions"][0]
    assert newest["reason"] == "before learning reset" and newest["version"] == trained["version"]
    assert newest["metrics"] == trained["metrics"]  # the snapshot keeps what was cleared
    assert len(await audit_rows(adb, action="reset_learning")) == 1

    scorecard = await _new_model(adb, "scorecard")
    error = await fails(adb, "resetModelLearning", {"modelId": scorecard["id"]})
    assert error.code == "VALIDATION" and "rule-based" in error.message


async def test_demo_models_train_on_the_starbucks_customers(demo_db: Database) -> None:
    result = await call(demo_db, "trainModel", {"modelId": "mdl_demo_naive_bayes"})
    assert result["schemaName"] == "starbucks_customers"
    assert result["predictors"] == ["age", "income", "visit_frequency"]  # the model's predictor rows
    assert sum(result["labelSources"].values()) == 60 and result["labelSources"]["targetField"] == 0
    assert set(result["metrics"]) == METRIC_KEYS
    error = await fails(demo_db, "trainModel", {"modelId": "mdl_demo_offer_scorecard"})
    assert error.message == "scorecards are rule-based; edit rules instead"
