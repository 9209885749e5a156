"""Model CRUD, predictors, tool declarations, roles, routes and tenancy for the algorithms tools."""

from __future__ import annotations

import json

import pytest

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Predictor
from kaireon_mcp.tools.registry import REGISTRY
from tests.algorithms.conftest import OTHER, audit_rows, call, fails, seed_training_data

#: name -> (writes, route codes), tool-catalog §2.8 and §4
EXPECTED: dict[str, tuple[bool, frozenset[str]]] = {
    "listModels": (False, frozenset({"all"})),
    "getModel": (False, frozenset({"AL"})),
    "createModel": (True, frozenset({"AL"})),
    "updateModelConfig": (True, frozenset({"AL"})),
    "trainModel": (True, frozenset({"AL"})),
    "promoteModel": (True, frozenset({"AL"})),
    "resetModelLearning": (True, frozenset({"AL"})),
    "listPredictors": (False, frozenset({"AL"})),
    "updatePredictors": (True, frozenset({"AL"})),
    "computeShapValues": (False, frozenset({"AL"})),
    "listExperiments": (False, frozenset({"all"})),
    "createExperiment": (True, frozenset({"AL"})),
    "getExperimentResults": (False, frozenset({"AL"})),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tool_declaration(name: str) -> None:
    spec = REGISTRY.get(name)
    assert spec is not None and spec.module == "algorithms"
    assert (spec.write, spec.routes) == EXPECTED[name]
    assert spec.min_role == ("editor" if spec.write else "viewer")
    assert spec.destructive == (name == "resetModelLearning")
    assert "\n" not in spec.description and len(spec.description) <= 120
    schema = json.dumps(spec.input_schema())
    assert len(schema) < 1800, f"{name} advertises {len(schema)} schema chars"
    assert '"default": null' not in schema


def test_catalog_parameters_and_defaults() -> None:
    def props(name: str) -> dict[str, dict[str, object]]:
        spec = REGISTRY.get(name)
        assert spec is not None
        properties: dict[str, dict[str, object]] = spec.input_schema()["properties"]
        return properties

    assert props("listModels")["limit"]["default"] == 20 and set(props("listModels")) == {
        "limit",
        "cursor",
        "status",
    }
    assert set(props("trainModel")) == {"modelId", "schemaId", "sampleLimit"}
    assert props("promoteModel")["targetStatus"]["enum"] == [
        "draft",
        "shadow",
        "challenger",
        "champion",
        "archived",
    ]
    assert set(props("computeShapValues")) == {"traceId", "modelId", "offerId", "attributes"}
    assert props("createExperiment")["promoteThreshold"]["default"] == 0.02
    assert props("createExperiment")["promoteAfterDays"]["default"] == 14
    assert props("createModel")["modelType"]["enum"] == [
        "scorecard",
        "bayesian",
        "logistic_regression",
        "gradient_boosted",
        "thompson_bandit",
        "epsilon_greedy",
        "neural_cf",
        "online_learner",
        "external_endpoint",
    ]


async def test_model_round_trip(adb: Database) -> None:
    await seed_training_data(adb)
    created = await call(
        adb,
        "createModel",
        {
            "key": "lr",
            "name": "LR",
            "modelType": "logistic_regression",
            "config": {"epochs": 100},
            "predictors": ["income", {"field": "tier", "importance": 0.4}, "loyalty"],
        },
    )
    assert created["family"] == "lr" and created["status"] == "draft" and created["registryStatus"] == "draft"
    assert created["predictors"] == [
        {"field": "income", "dataType": "numeric", "selected": True, "importance": None},
        {"field": "tier", "dataType": "categorical", "selected": True, "importance": 0.4},
        {"field": "loyalty", "dataType": "numeric", "selected": True, "importance": None},
    ]
    assert created["warnings"] == [
        "predictor 'loyalty' is not a field of 'customers' (the default training schema)"
    ]

    updated = await call(
        adb,
        "updateModelConfig",
        {
            "modelId": created["id"],
            "learnMode": "scheduled",
            "learnSchedule": "0 3 * * *",
            "outcomeWeights": {"click": 1, "dismiss": -2},
        },
    )
    assert updated["learnMode"] == "scheduled" and updated["outcomeWeights"] == {
        "click": 1.0,
        "dismiss": -2.0,
    }
    assert updated["config"] == {"epochs": 100} and updated["version"] == created["version"] + 1
    cleared = await call(adb, "updateModelConfig", {"modelId": created["id"], "outcomeWeights": None})
    assert cleared["outcomeWeights"] is None and cleared["learnSchedule"] == "0 3 * * *"
    update_audit = [a for a in await audit_rows(adb, action="update") if a.entity_id == created["id"]]
    assert update_audit[-1].changes == {
        "outcomeWeights": {"from": {"click": 1.0, "dismiss": -2.0}, "to": None}
    }

    got = await call(adb, "getModel", {"modelId": created["id"]})
    assert got["key"] == "lr" and got["versions"] == [] and len(got["predictors"]) == 3


async def test_model_validation(adb: Database) -> None:
    await call(adb, "createModel", {"key": "dup", "name": "A", "modelType": "bayesian"})
    error = await fails(adb, "createModel", {"key": "dup", "name": "B", "modelType": "bayesian"})
    assert error.code == "CONFLICT" and error.field == "key"
    error = await fails(adb, "createModel", {"key": "x", "name": "X", "modelType": "svm"})
    assert error.code == "VALIDATION" and error.field == "modelType"
    big = {f"k{i}": i for i in range(101)}
    error = await fails(adb, "createModel", {"key": "x", "name": "X", "modelType": "bayesian", "config": big})
    assert error.code == "VALIDATION" and error.field == "config"
    bad_rule = {"rules": [{"field": "age", "operator": "between", "value": 1, "points": 5}]}
    error = await fails(
        adb, "createModel", {"key": "x", "name": "X", "modelType": "scorecard", "config": bad_rule}
    )
    assert error.code == "VALIDATION" and error.field == "config.rules[0].operator"
    error = await fails(
        adb, "createModel", {"key": "x", "name": "X", "modelType": "bayesian", "predictors": ["a", "a"]}
    )
    assert error.code == "VALIDATION" and error.field == "predictors[1].field"
    # nothing from the refused calls was written
    assert (await call(adb, "listModels", {}))["pagination"]["total"] == 1


async def test_update_predictors_is_a_full_replacement(adb: Database) -> None:
    await seed_training_data(adb)
    model = await call(
        adb,
        "createModel",
        {
            "key": "nb",
            "name": "NB",
            "modelType": "bayesian",
            "targetSchemaKey": "customers",
            "predictors": ["income", "tier"],
        },
    )
    result = await call(
        adb,
        "updatePredictors",
        {"modelId": model["id"], "predictors": [{"field": "tier", "selected": False}, "visit_frequency"]},
    )
    assert result["warnings"] == []
    assert [(p["field"], p["selected"]) for p in result["predictors"]] == [
        ("tier", False),
        ("visit_frequency", True),
    ]
    listed = await call(adb, "listPredictors", {"modelId": model["id"]})
    assert [p["field"] for p in listed["predictors"]] == ["tier", "visit_frequency"]
    # an explicit target schema must hold every predictor
    error = await fails(
        adb, "updatePredictors", {"modelId": model["id"], "predictors": ["income", "shoe_size"]}
    )
    assert error.code == "VALIDATION" and "shoe_size" in error.message
    assert (await call(adb, "updatePredictors", {"modelId": model["id"], "predictors": []}))[
        "predictors"
    ] == []


async def test_list_models_pages_and_filters_by_either_status(adb: Database) -> None:
    for i in range(3):
        await call(
            adb, "createModel", {"key": f"m{i}", "name": f"M{i}", "modelType": "bayesian", "status": "active"}
        )
    first = await call(adb, "listModels", {"limit": 2})
    assert len(first["items"]) == 2 and first["pagination"]["hasMore"] is True
    second = await call(adb, "listModels", {"limit": 2, "cursor": first["pagination"]["nextCursor"]})
    assert len(second["items"]) == 1
    assert set(first["items"][0]) >= {"modelType", "status", "registryStatus", "version", "metrics"}
    assert "modelState" not in first["items"][0]
    assert (await call(adb, "listModels", {"status": "active"}))["pagination"]["total"] == 3
    assert (await call(adb, "listModels", {"status": "draft"}))["pagination"]["total"] == 3  # registry draft
    assert (await call(adb, "listModels", {"status": "champion"}))["items"] == []


async def test_demo_models_and_predictors(demo_db: Database) -> None:
    page = await call(demo_db, "listModels", {})
    assert {m["key"] for m in page["items"]} == {"offer-scorecard", "naive-bayes", "offer-bandit"}
    predictors = await call(demo_db, "listPredictors", {"modelId": "mdl_demo_naive_bayes"})
    assert [p["field"] for p in predictors["predictors"]] == ["age", "income", "visit_frequency"]


async def test_viewers_read_but_cannot_write(adb: Database) -> None:
    model = await call(adb, "createModel", {"key": "v", "name": "V", "modelType": "bayesian"})
    for name, args in [
        ("createModel", {"key": "w", "name": "W", "modelType": "bayesian"}),
        ("updateModelConfig", {"modelId": model["id"], "name": "renamed"}),
        ("trainModel", {"modelId": model["id"]}),
        ("promoteModel", {"modelId": model["id"], "targetStatus": "shadow"}),
        ("resetModelLearning", {"modelId": model["id"]}),
        ("updatePredictors", {"modelId": model["id"], "predictors": []}),
        ("createExperiment", {"key": "e", "name": "E"}),
    ]:
        error = await fails(adb, name, args, role="viewer")
        assert error.code == "FORBIDDEN", name
    assert (await call(adb, "getModel", {"modelId": model["id"]}, role="viewer"))["name"] == "V"
    assert (await call(adb, "listPredictors", {"modelId": model["id"]}, role="viewer"))["predictors"] == []


async def test_other_tenants_cannot_see_or_touch_models(adb: Database) -> None:
    model = await call(adb, "createModel", {"key": "private", "name": "P", "modelType": "bayesian"})
    for name, args in [
        ("getModel", {"modelId": model["id"]}),
        ("updateModelConfig", {"modelId": model["id"], "name": "stolen"}),
        ("listPredictors", {"modelId": model["id"]}),
        ("trainModel", {"modelId": model["id"]}),
        ("resetModelLearning", {"modelId": model["id"]}),
    ]:
        error = await fails(adb, name, args, tenant=OTHER)
        assert error.code == "NOT_FOUND", name
    assert (await call(adb, "listModels", {}, tenant=OTHER))["items"] == []
    # the same key is free in another tenant
    assert await call(
        adb, "createModel", {"key": "private", "name": "P", "modelType": "bayesian"}, tenant=OTHER
    )


async def test_route_scoping(adb: Database) -> None:
    model = await call(adb, "createModel", {"key": "r", "name": "R", "modelType": "bayesian"})
    error = await fails(adb, "getModel", {"modelId": model["id"]}, route="/data/schemas")
    assert error.code == "ROUTE_SCOPE"
    assert (await call(adb, "listModels", {}, route="/data/schemas"))["pagination"]["total"] == 1
    assert (await call(adb, "listExperiments", {}, route="/dashboards/overview"))["items"] == []
    assert (await call(adb, "getModel", {"modelId": model["id"]}, route="/algorithms/models"))["key"] == "r"


async def test_predictor_rows_follow_the_model(adb: Database) -> None:
    model = await call(
        adb, "createModel", {"key": "p", "name": "P", "modelType": "bayesian", "predictors": ["a"]}
    )
    async with adb.tenant(TenantContext(tenant_id="demo")) as repo:
        rows = await repo.all(Predictor, Predictor.model_id == model["id"])
    assert [r.field for r in rows] == ["a"] and rows[0].tenant_id == "demo"
