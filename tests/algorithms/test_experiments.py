"""createExperiment / listExperiments / getExperimentResults, with statistics recomputed here by hand."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Interaction, VariantAssignment
from tests.algorithms.conftest import OTHER, T0, TENANT, call, fails, interaction

Z95 = 1.96


def wilson(successes: int, n: int) -> tuple[float, float]:
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2))
    return centre - half, centre + half


def z_test(c_control: int, n_control: int, c_treat: int, n_treat: int) -> tuple[float, float]:
    """Pooled two-proportion z and two-tailed p via the normal CDF Φ(x) = (1 + erf(x/√2)) / 2."""
    pooled = (c_control + c_treat) / (n_control + n_treat)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treat))
    z = (c_treat / n_treat - c_control / n_control) / se
    phi = 0.5 * (1 + math.erf(abs(z) / math.sqrt(2)))
    return z, 2 * (1 - phi)


async def _models(db: Database, tenant: str = TENANT) -> tuple[str, str]:
    ids = []
    for key in ("champ", "chall"):
        model = await call(
            db, "createModel", {"key": key, "name": key, "modelType": "bayesian"}, tenant=tenant
        )
        ids.append(model["id"])
    return ids[0], ids[1]


async def _experiment(db: Database, champion: str, challenger: str, **extra: Any) -> dict[str, Any]:
    body = {
        "key": "champ-vs-chall",
        "name": "Champion vs challenger",
        "championModelId": champion,
        "trafficSplit": {"championPct": 80},
        "challengers": [{"modelId": challenger, "trafficPct": 20}],
        **extra,
    }
    return await call(db, "createExperiment", body)


async def _arm(
    db: Database, experiment_id: str, variant: str, model_id: str | None, n: int, conversions: int
) -> None:
    """``n`` assigned customers at T0; the first ``conversions`` click an hour later.

    Noise that must not count: a click *before* the assignment and a dismiss after it.
    """
    prefix = variant.strip("_")
    assignments, history = [], []
    for i in range(n):
        cid = f"{prefix}-{i:04d}"
        assignments.append(
            {
                "id": f"va_{prefix}_{i}",
                "tenant_id": TENANT,
                "experiment_id": experiment_id,
                "customer_id": cid,
                "variant": variant,
                "model_id": model_id,
                "created_at": T0,
                "updated_at": T0,
            }
        )
        if i < conversions:
            history.append(interaction(TENANT, cid, "click", "positive", T0 + timedelta(hours=1)))
        elif i == conversions:
            history.append(interaction(TENANT, cid, "click", "positive", T0 - timedelta(days=1)))
            history.append(interaction(TENANT, cid, "dismiss", "negative", T0 + timedelta(hours=2)))
    async with db.tenant(TenantContext(tenant_id=TENANT)) as repo:
        await repo.session.execute(insert(VariantAssignment), assignments)
        await repo.session.execute(insert(Interaction), history)


def _by_variant(items: list[dict[str, Any]], key: str = "variant") -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


async def test_split_must_total_exactly_100(adb: Database) -> None:
    champion, challenger = await _models(adb)
    error = await fails(
        adb,
        "createExperiment",
        {
            "key": "bad",
            "name": "Bad",
            "championModelId": champion,
            "challengers": [{"modelId": challenger, "trafficPct": 30}],
        },
    )
    assert error.code == "VALIDATION" and error.field == "trafficSplit" and "110" in error.message
    error = await fails(
        adb, "createExperiment", {"key": "alone", "name": "Alone", "championModelId": champion}
    )
    assert error.code == "VALIDATION" and "got 80" in error.message  # default 80 % needs challengers
    assert (await call(adb, "listExperiments", {}))["items"] == []


async def test_models_must_exist_in_the_tenant(adb: Database) -> None:
    champion, _ = await _models(adb)
    foreign, _ = await _models(adb, tenant=OTHER)
    body = {
        "key": "x",
        "name": "X",
        "championModelId": champion,
        "challengers": [{"modelId": foreign, "trafficPct": 20}],
    }
    error = await fails(adb, "createExperiment", body)
    assert error.code == "NOT_FOUND" and error.field == "challengers[0].modelId"
    error = await fails(adb, "createExperiment", {**body, "championModelId": "mdl_nope"})
    assert error.code == "NOT_FOUND" and error.field == "championModelId"
    same = {**body, "challengers": [{"modelId": champion, "trafficPct": 20}]}
    assert (await fails(adb, "createExperiment", same)).code == "VALIDATION"


async def test_create_list_and_conflict(adb: Database) -> None:
    champion, challenger = await _models(adb)
    created = await _experiment(adb, champion, challenger, status="active", holdoutPercent=10)
    assert created["trafficSplit"] == {"championPct": 80.0} and created["holdoutPercent"] == 10.0
    assert created["autoPromote"] is False and created["promoteThreshold"] == 0.02
    assert created["promoteAfterDays"] == 14 and created["startedAt"] is not None
    error = await fails(
        adb,
        "createExperiment",
        {
            "key": "champ-vs-chall",
            "name": "Again",
            "championModelId": champion,
            "challengers": [{"modelId": challenger, "trafficPct": 20}],
        },
    )
    assert error.code == "CONFLICT" and error.field == "key"
    page = await call(adb, "listExperiments", {})
    assert [e["key"] for e in page["items"]] == ["champ-vs-chall"] and page["pagination"]["limit"] == 20
    assert (await call(adb, "listExperiments", {}, tenant=OTHER))["items"] == []


async def test_results_match_a_hand_computed_z_test(adb: Database) -> None:
    champion, challenger = await _models(adb)
    experiment = await _experiment(adb, champion, challenger)
    await _arm(adb, experiment["id"], "__champion__", None, n=200, conversions=40)
    await _arm(adb, experiment["id"], challenger, challenger, n=100, conversions=30)

    result = await call(adb, "getExperimentResults", {"experimentId": experiment["id"]})

    arms = _by_variant(result["arms"])
    assert (arms["__champion__"]["customers"], arms["__champion__"]["conversions"]) == (200, 40)
    assert (arms[challenger]["customers"], arms[challenger]["conversions"]) == (100, 30)
    assert arms["__champion__"]["modelKey"] == "champ" and arms[challenger]["modelKey"] == "chall"
    assert arms["__champion__"]["conversionRate"] == 0.2 and arms[challenger]["conversionRate"] == 0.3
    for variant, (c, n) in {"__champion__": (40, 200), challenger: (30, 100)}.items():
        low, high = wilson(c, n)
        assert arms[variant]["ci95Low"] == pytest.approx(low) and arms[variant]["ci95High"] == pytest.approx(
            high
        )

    assert result["baseline"] == "champion" and result["totalCustomers"] == 300 and result["hint"] is None
    (comparison,) = result["comparisons"]
    z, p = z_test(40, 200, 30, 100)
    assert comparison["arm"] == challenger and comparison["against"] == "__champion__"
    assert comparison["z"] == pytest.approx(z) and comparison["pValue"] == pytest.approx(p)
    # by hand: pooled 70/300, SE = sqrt(0.2333 * 0.7667 * 0.015) = 0.05180, z = 0.1 / SE = 1.9305
    assert comparison["z"] == pytest.approx(1.9305, abs=1e-4) and comparison["pValue"] == pytest.approx(
        0.05355, abs=1e-4
    )
    assert comparison["absoluteUplift"] == pytest.approx(0.1) and comparison[
        "relativeUplift"
    ] == pytest.approx(0.5)
    assert comparison["significant"] is False  # p just above 0.05


async def test_holdout_becomes_the_baseline(adb: Database) -> None:
    champion, challenger = await _models(adb)
    experiment = await _experiment(adb, champion, challenger, holdoutPercent=10)
    await _arm(adb, experiment["id"], "__champion__", None, n=200, conversions=40)
    await _arm(adb, experiment["id"], challenger, challenger, n=100, conversions=30)
    await _arm(adb, experiment["id"], "__holdout__", None, n=100, conversions=10)

    result = await call(adb, "getExperimentResults", {"experimentId": experiment["id"]})

    assert result["baseline"] == "holdout"
    arms = _by_variant(result["arms"])
    assert arms["__holdout__"]["arm"] == "holdout" and arms["__champion__"]["trafficPct"] == 70.0
    pairs = {(c["arm"], c["against"]): c for c in result["comparisons"]}
    assert set(pairs) == {
        ("__champion__", "__holdout__"),
        (challenger, "__holdout__"),
        (challenger, "__champion__"),
    }
    z, p = z_test(10, 100, 40, 200)
    champion_vs_holdout = pairs[("__champion__", "__holdout__")]
    assert champion_vs_holdout["z"] == pytest.approx(z) and champion_vs_holdout["pValue"] == pytest.approx(p)
    assert champion_vs_holdout["absoluteUplift"] == pytest.approx(0.1)
    assert champion_vs_holdout["relativeUplift"] == pytest.approx(1.0)
    assert pairs[(challenger, "__holdout__")]["significant"] is True  # 30 % vs 10 %


async def test_empty_experiment_reports_zeros_and_a_hint(adb: Database) -> None:
    champion, challenger = await _models(adb)
    experiment = await _experiment(adb, champion, challenger)
    result = await call(adb, "getExperimentResults", {"experimentId": experiment["id"]})
    assert result["totalCustomers"] == 0 and "no customers assigned" in str(result["hint"])
    for arm in result["arms"]:
        assert (arm["customers"], arm["conversions"], arm["conversionRate"]) == (0, 0, 0.0)
        assert (arm["ci95Low"], arm["ci95High"]) == (0.0, 0.0)
    (comparison,) = result["comparisons"]
    assert (comparison["z"], comparison["pValue"], comparison["absoluteUplift"]) == (0.0, 1.0, 0.0)
    assert comparison["significant"] is False

    error = await fails(adb, "getExperimentResults", {"experimentId": experiment["id"]}, tenant=OTHER)
    assert error.code == "NOT_FOUND"


async def test_demo_experiment_results(demo_db: Database) -> None:
    experiments = await call(demo_db, "listExperiments", {})
    (demo,) = experiments["items"]
    assert demo["key"] == "scorecard-vs-bayesian" and demo["trafficSplit"] == {"championPct": 80}
    result = await call(demo_db, "getExperimentResults", {"experimentId": demo["id"]})
    assert [a["modelKey"] for a in result["arms"]] == ["offer-scorecard", "naive-bayes"]
    assert [a["trafficPct"] for a in result["arms"]] == [80.0, 20.0]
