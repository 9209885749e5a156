"""promoteModel: the registry ladder, one champion per family, the rollback guard and its bypass."""

from __future__ import annotations

from typing import Any

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import AlgorithmModel
from tests.algorithms.conftest import OTHER, audit_rows, call, fails, model_row, set_columns


async def _model(
    db: Database, key: str, *, family: str = "propensity", status: str = "active"
) -> dict[str, Any]:
    return await call(
        db,
        "createModel",
        {"key": key, "name": key, "modelType": "bayesian", "family": family, "status": status},
    )


async def _promote(db: Database, model_id: str, target: str, **extra: Any) -> dict[str, Any]:
    return await call(db, "promoteModel", {"modelId": model_id, "targetStatus": target, **extra})


async def _champion(db: Database, key: str, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """An active model walked draft -> challenger -> champion in the ``propensity`` family."""
    model = await _model(db, key)
    if metrics:
        await set_columns(db, AlgorithmModel, model["id"], metrics=metrics)
    await _promote(db, model["id"], "challenger")
    await _promote(db, model["id"], "champion")
    return model


async def test_draft_cannot_jump_to_champion(adb: Database) -> None:
    model = await _model(adb, "fresh")
    error = await fails(adb, "promoteModel", {"modelId": model["id"], "targetStatus": "champion"})
    assert error.code == "VALIDATION" and error.message.startswith("invalid_transition")
    assert error.extra["reason"] == "invalid_transition"
    assert (await model_row(adb, model["id"])).registry_status == "draft"


async def test_every_illegal_move_is_refused(adb: Database) -> None:
    model = await _champion(adb, "ladder")
    for target in ("champion", "draft"):
        error = await fails(adb, "promoteModel", {"modelId": model["id"], "targetStatus": target})
        assert error.message == f"invalid_transition: champion -> {target}"
    archived = await _promote(adb, model["id"], "archived")
    assert archived["toStatus"] == "archived"
    error = await fails(adb, "promoteModel", {"modelId": model["id"], "targetStatus": "shadow"})
    assert error.message == "invalid_transition: archived -> shadow"


async def test_draft_operational_status_blocks_deployment_but_not_retirement(adb: Database) -> None:
    model = await _model(adb, "inactive", status="draft")
    error = await fails(adb, "promoteModel", {"modelId": model["id"], "targetStatus": "challenger"})
    assert error.code == "VALIDATION" and error.extra["reason"] == "model_status_draft"
    assert (await _promote(adb, model["id"], "archived"))["toStatus"] == "archived"


async def test_new_champion_archives_the_old_one_of_its_family(adb: Database) -> None:
    old = await _champion(adb, "old")
    newer = await _model(adb, "new")
    await _promote(adb, newer["id"], "shadow")

    result = await _promote(adb, newer["id"], "champion", reason="better AUC")

    assert (result["fromStatus"], result["toStatus"]) == ("shadow", "champion")
    assert result["archived"] == [{"id": old["id"], "key": "old"}]
    assert (await model_row(adb, old["id"])).registry_status == "archived"
    page = await call(adb, "listModels", {"status": "champion"})
    assert [m["key"] for m in page["items"]] == ["new"]

    promotions = await audit_rows(adb, action="promote")
    newest = promotions[-1]
    assert newest.entity_id == newer["id"] and newest.changes["reason"] == "better AUC"
    assert newest.changes["registryStatus"] == {"from": "shadow", "to": "champion"}
    archive = promotions[-2]
    assert archive.entity_id == old["id"] and archive.changes["reason"] == "replaced by new"
    assert archive.changes["registryStatus"] == {"from": "champion", "to": "archived"}
    detail = await call(adb, "getModel", {"modelId": newer["id"]})
    assert detail["versions"][0]["reason"] == "promoted shadow -> champion: better AUC"


async def test_families_are_independent(adb: Database) -> None:
    first = await _champion(adb, "a")
    second = await _model(adb, "b", family="bandits")
    await _promote(adb, second["id"], "challenger")
    result = await _promote(adb, second["id"], "champion")
    assert result["archived"] == []
    assert (await model_row(adb, first["id"])).registry_status == "champion"


async def test_rollback_guard_refuses_a_worse_candidate_and_keeps_the_incumbent(adb: Database) -> None:
    incumbent = await _champion(adb, "incumbent", metrics={"auc": 0.80})
    candidate = await _model(adb, "candidate")
    # (0.80 - 0.70) / 0.80 = 12.5 % relative AUC drop > 5 %
    await set_columns(adb, AlgorithmModel, candidate["id"], metrics={"auc": 0.70})
    await _promote(adb, candidate["id"], "challenger")

    error = await fails(adb, "promoteModel", {"modelId": candidate["id"], "targetStatus": "champion"})
    assert error.code == "VALIDATION" and error.message.startswith("rollback_guard")
    assert error.extra["reason"] == "rollback_guard"
    assert error.extra["breaches"][0]["check"] == "auc_drop"
    assert (await model_row(adb, incumbent["id"])).registry_status == "champion"
    assert (await model_row(adb, candidate["id"])).registry_status == "challenger"

    # a looser threshold passes without the bypass ...
    loose = {
        "modelId": candidate["id"],
        "targetStatus": "champion",
        "rollbackThresholds": {"maxAucDrop": 0.2},
    }
    assert (await call(adb, "promoteModel", loose))["rollbackGuardBreaches"] == []


async def test_bypass_forces_the_promotion_and_records_breaches(adb: Database) -> None:
    incumbent = await _champion(adb, "incumbent", metrics={"auc": 0.80})
    candidate = await _model(adb, "candidate")
    await set_columns(adb, AlgorithmModel, candidate["id"], metrics={"auc": 0.70, "scoringErrorRate": 0.05})
    await _promote(adb, candidate["id"], "challenger")

    result = await _promote(adb, candidate["id"], "champion", bypassRollbackGuard=True)

    assert result["bypassedRollbackGuard"] is True
    assert [b["check"] for b in result["rollbackGuardBreaches"]] == ["auc_drop", "error_rate"]
    assert abs(result["rollbackGuardBreaches"][0]["value"] - 0.125) < 1e-12
    assert (await model_row(adb, incumbent["id"])).registry_status == "archived"
    audit = (await audit_rows(adb, action="promote"))[-1]
    assert audit.changes["bypassRollbackGuard"] is True
    assert [b["check"] for b in audit.changes["rollbackGuardBreaches"]] == ["auc_drop", "error_rate"]


async def test_demo_bayesian_challenger_is_guarded_against_the_scorecard(demo_db: Database) -> None:
    bayes, scorecard = "mdl_demo_naive_bayes", "mdl_demo_offer_scorecard"
    # demo metrics: AUC 0.66 against the champion's 0.71 is a 7 % relative drop
    error = await fails(demo_db, "promoteModel", {"modelId": bayes, "targetStatus": "champion"})
    assert error.extra["reason"] == "rollback_guard"
    result = await _promote(demo_db, bayes, "champion", bypassRollbackGuard=True, reason="demo")
    assert result["archived"] == [{"id": scorecard, "key": "offer-scorecard"}]


async def test_other_tenants_models_are_not_found(adb: Database) -> None:
    model = await _model(adb, "mine")
    error = await fails(adb, "promoteModel", {"modelId": model["id"], "targetStatus": "shadow"}, tenant=OTHER)
    assert error.code == "NOT_FOUND" and error.field == "algorithmModelId"
