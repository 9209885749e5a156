"""Model playbooks: shadow replay, promote-if-winning and the algorithm-upgrade explanation.

They compose the algorithms tools (promoteModel, getExperimentResults) and skip while those
are not registered in this build.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    DecisionTrace,
    Interaction,
    SchemaRow,
    VariantAssignment,
)
from kaireon_mcp.storage.types import utcnow
from kaireon_mcp.tools.registry import REGISTRY
from tests.playbooks.conftest import audit_actions, call, count, row_counts

needs_algorithms = pytest.mark.skipif(
    "promoteModel" not in REGISTRY or "getExperimentResults" not in REGISTRY,
    reason="algorithms tools are not registered in this build",
)
SCHEMA = "sch_demo_starbucks_customers"
OFFER = "off_demo_bogo_5_day_easy"


def scorecard(model_id: str, status: str, field: str, value: int) -> AlgorithmModel:
    rules = [{"field": field, "operator": "gte", "value": value, "points": 20}]
    return AlgorithmModel(
        id=model_id,
        tenant_id="demo",
        key=model_id,
        name=model_id,
        model_type="scorecard",
        status="active",
        registry_status=status,
        family="fam",
        config={"baseScore": 50, "rules": rules},
    )


async def _shadow_fixture(db: Database) -> None:
    """40 decisions: income ≥ 50k (odd i) converted; age ≥ 40 (i ≤ 20) says nothing about it."""
    now = utcnow()
    async with db.session() as s:
        s.add(scorecard("champ", "champion", "age", 40))
        s.add(scorecard("chall", "challenger", "income", 50000))
        for i in range(1, 41):
            cid, rec = f"S-{i:03d}", f"rec_s_{i}"
            data = {"age": 50 if i <= 20 else 30, "income": 60000 if i % 2 else 40000}
            s.add(SchemaRow(id=f"row_s_{i}", tenant_id="demo", schema_id=SCHEMA, row_key=cid, data=data))
            s.add(
                DecisionTrace(
                    id=f"trc_s_{i}",
                    tenant_id="demo",
                    customer_id=cid,
                    request_id=rec,
                    selected_offers=[{"offerId": OFFER, "rank": 1, "score": 0.5}],
                    created_at=now - timedelta(minutes=i),
                )
            )
            if i % 2:
                s.add(
                    Interaction(
                        id=f"ih_s_{i}",
                        tenant_id="demo",
                        customer_id=cid,
                        offer_id=OFFER,
                        recommendation_id=rec,
                        interaction_type="click",
                        classification="positive",
                        timestamp=now,
                    )
                )


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


async def test_shadow_replay_compares_auc_on_real_outcomes(demo_db: Database) -> None:
    await _shadow_fixture(demo_db)
    before = await row_counts(demo_db)
    out = await call(demo_db, "playbook_run_shadow_experiment", {"challengerModelId": "chall"})
    assert await row_counts(demo_db) == before
    assert (out["tracesReplayed"], out["samples"], out["positives"]) == (40, 40, 20)
    # champion: 20 high (sigmoid(2)) / 20 base (0.5) scores, split evenly over both labels → AUC 0.5;
    # challenger: high exactly for the 20 converters → AUC 1.0
    mean = round((20 * sigmoid(2.0) + 20 * 0.5) / 40, 6)
    assert (out["champion"]["modelId"], out["champion"]["auc"], out["champion"]["meanScore"]) == (
        "champ",
        0.5,
        mean,
    )
    assert (out["challenger"]["auc"], out["challenger"]["meanScore"]) == (1.0, mean)
    assert out["uplift"] == {"aucDelta": 0.5, "relative": 1.0} and out["verdict"] == "promote"
    assert out["plan"] == [
        {
            "tool": "promoteModel",
            "arguments": {
                "modelId": "chall",
                "targetStatus": "shadow",
                "reason": "shadow challenger set up by playbook_run_shadow_experiment",
            },
        }
    ]
    few = await call(
        demo_db, "playbook_run_shadow_experiment", {"challengerModelId": "chall", "traceLimit": 10}
    )
    assert few["verdict"] == "insufficient_data" and few["uplift"] is None


@needs_algorithms
async def test_shadow_apply_moves_the_challenger_to_shadow(demo_db: Database) -> None:
    await _shadow_fixture(demo_db)
    out = await call(demo_db, "playbook_run_shadow_experiment", {"challengerModelId": "chall", "apply": True})
    assert out["applied"] is True and out["results"][0]["toStatus"] == "shadow"
    async with demo_db.session() as s:
        assert (await s.get(AlgorithmModel, "chall")).registry_status == "shadow"  # type: ignore[union-attr]
    [entry] = await audit_actions(demo_db)
    assert (entry.action, entry.entity_id) == ("playbook.run_shadow_experiment", "chall")
    again = await call(demo_db, "playbook_run_shadow_experiment", {"challengerModelId": "chall"})
    assert again["plan"] == [] and again["note"] == "the challenger is already in shadow"


async def _arms(db: Database, champion: tuple[int, int], challenger: tuple[int, int]) -> None:
    """(customers, converters) per arm of the demo experiment, converting after assignment."""
    now = utcnow()
    async with db.session() as s:
        for variant, model, (n, conv) in (
            ("__champion__", "mdl_demo_offer_scorecard", champion),
            ("mdl_demo_naive_bayes", "mdl_demo_naive_bayes", challenger),
        ):
            for i in range(n):
                cid = f"E-{variant[:6]}-{i}"
                s.add(
                    VariantAssignment(
                        id=f"va_{variant[:6]}_{i}",
                        tenant_id="demo",
                        experiment_id="exp_demo_scorecard_vs_bayesian",
                        customer_id=cid,
                        variant=variant,
                        model_id=model,
                        created_at=now - timedelta(days=1),
                    )
                )
                if i < conv:
                    s.add(
                        Interaction(
                            id=f"ih_e_{variant[:6]}_{i}",
                            tenant_id="demo",
                            customer_id=cid,
                            offer_id=OFFER,
                            interaction_type="conversion",
                            classification="positive",
                            timestamp=now,
                        )
                    )


@needs_algorithms
async def test_promote_only_when_uplift_and_significance_pass(demo_db: Database) -> None:
    await _arms(demo_db, (100, 10), (100, 25))
    name, exp = "playbook_promote_challenger_if_winning", "exp_demo_scorecard_vs_bayesian"
    pooled = 35 / 200
    z = (0.25 - 0.10) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
    p = math.erfc(abs(z) / math.sqrt(2))
    assert round(z, 4) == 2.7915 and p < 0.01
    blocked = await call(demo_db, name, {"experimentId": exp})
    [test] = blocked["tests"]
    assert test["modelId"] == "mdl_demo_naive_bayes" and test["absoluteUplift"] == pytest.approx(0.15)
    assert test["z"] == pytest.approx(z) and test["pValue"] == pytest.approx(p)
    # the demo bayes model's AUC (0.66) is 7 % below the scorecard's (0.71): the guard would refuse
    assert blocked["verdict"] == "blocked" and "AUC fell 7.0%" in blocked["reason"] and blocked["plan"] == []
    strict = await call(demo_db, name, {"experimentId": exp, "minUplift": 0.2})
    assert strict["verdict"] == "keep_champion" and strict["tests"][0]["upliftPasses"] is False
    async with demo_db.session() as s:
        await s.execute(
            update(AlgorithmModel)
            .where(AlgorithmModel.id == "mdl_demo_naive_bayes")
            .values(metrics={"auc": 0.70})
        )
    out = await call(demo_db, name, {"experimentId": exp, "apply": True})
    assert out["verdict"] == "promote" and out["applied"] is True
    assert out["plan"][0]["arguments"]["targetStatus"] == "champion"
    async with demo_db.session() as s:
        assert (await s.get(AlgorithmModel, "mdl_demo_naive_bayes")).registry_status == "champion"  # type: ignore[union-attr]
        assert (await s.get(AlgorithmModel, "mdl_demo_offer_scorecard")).registry_status == "archived"  # type: ignore[union-attr]
    [entry] = await audit_actions(demo_db)
    assert entry.action == "playbook.promote_challenger_if_winning"


async def test_algorithm_upgrade_proposes_the_next_rung_and_writes_nothing(demo_db: Database) -> None:
    responses = await count(demo_db, Interaction, Interaction.classification.in_(("positive", "negative")))
    assert responses >= 100  # the 60-customer demo has enough outcomes for a bayesian challenger
    before = await row_counts(demo_db)
    out: dict[str, Any] = await call(
        demo_db, "playbook_explain_algorithm_upgrade", {"modelId": "mdl_demo_offer_scorecard"}
    )
    assert await row_counts(demo_db) == before
    assert out["evidence"] == {"trainingSamples": 0, "labelledResponses": responses, "used": responses}
    assert out["proposedModelType"] == "bayesian" and out["explanation"].startswith(
        "Offer Propensity Scorecard"
    )
    projection = out["projection"]
    if projection["available"]:
        gain = projection["candidateAuc"] - projection["currentAuc"]
        assert projection["projectedAucGain"] == pytest.approx(gain, abs=1e-6)
    else:
        assert projection["reason"]
    bayes = await call(demo_db, "playbook_explain_algorithm_upgrade", {"modelId": "mdl_demo_naive_bayes"})
    assert bayes["proposedModelType"] is None and "logistic_regression needs 1000+" in bayes["reason"]
    bandit = await call(demo_db, "playbook_explain_algorithm_upgrade", {"modelId": "mdl_demo_offer_bandit"})
    assert bandit["proposedModelType"] is None and bandit["projection"] is None
