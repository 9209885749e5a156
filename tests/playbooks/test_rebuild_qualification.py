"""playbook_rebuild_offer_qualification on a hand-built population (24 shown customers)."""

from __future__ import annotations

from datetime import timedelta

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Interaction, QualificationRule, SchemaRow
from kaireon_mcp.storage.types import utcnow
from tests.playbooks.conftest import audit_actions, call, row_counts

NAME = "playbook_rebuild_offer_qualification"
SCHEMA = "sch_demo_starbucks_customers"
#: customer i (1..24) has loyalty_score 10·i; customers 13 and 19-24 converted
CONVERTED = {13, 19, 20, 21, 22, 23, 24}


async def _population(db: Database) -> tuple[str, str]:
    offer = await call(db, "createOffer", {"name": "Loyalty Booster", "status": "active"})
    rule = await call(
        db,
        "createQualificationRule",
        {
            "name": "Loyal members",
            "ruleType": "attribute_condition",
            "config": {"attribute": "customer.loyalty_score", "operator": "gte", "value": 50},
            "scope": "offer",
            "scopeId": offer["id"],
            "status": "active",
        },
    )
    now = utcnow()
    async with db.session() as s:
        for i in range(1, 26):
            cid = f"T-{i:03d}"
            s.add(
                SchemaRow(
                    id=f"row_t_{i}",
                    tenant_id="demo",
                    schema_id=SCHEMA,
                    row_key=cid,
                    data={"loyalty_score": 10 * i},
                )
            )
            when = now - timedelta(days=40 if i == 25 else 5)  # T-025 is outside the 30-day window
            base = {"tenant_id": "demo", "customer_id": cid, "offer_id": offer["id"]}
            s.add(
                Interaction(
                    id=f"ih_t_{i}_imp",
                    interaction_type="impression",
                    is_impression=True,
                    timestamp=when,
                    **base,
                )
            )
            if i in CONVERTED or i == 25:
                s.add(
                    Interaction(
                        id=f"ih_t_{i}_conv",
                        interaction_type="conversion",
                        classification="positive",
                        timestamp=when + timedelta(hours=2),
                        **base,
                    )
                )
    return str(offer["id"]), str(rule["id"])


async def test_bands_and_suggested_threshold_match_the_hand_computation(demo_db: Database) -> None:
    offer_id, rule_id = await _population(demo_db)
    before = await row_counts(demo_db)
    out = await call(demo_db, NAME, {"offerId": offer_id})
    assert await row_counts(demo_db) == before
    assert (out["shownCustomers"], out["conversions"]) == (24, 7)
    [rule] = out["rules"]
    # quartile edges at sorted positions 0, 6, 12, 18: 10, 70, 130, 190
    assert [(b["from"], b["to"], b["customers"], b["conversions"]) for b in rule["bands"]] == [
        (10, 70, 6, 0),
        (70, 130, 6, 0),
        (130, 190, 6, 1),
        (190, None, 6, 6),
    ]
    # baseline 7/24; excess Σ(y − 7/24) for value ≥ c: c=50 → 7 − 20·7/24 = 1.1667,
    # c=70 → 1.75, c=130 → 3.5, c=190 → 6 − 6·7/24 = 4.25 (the best): tighten to 190
    assert rule["verdict"] == "tighter" and rule["suggested"] == 190
    assert (rule["baselineRate"], rule["keptCustomers"], rule["keptRate"]) == (round(7 / 24, 4), 6, 1.0)
    assert rule["excessConversions"] == 4.25
    assert out["plan"] == [
        {
            "tool": "updateQualificationRule",
            "arguments": {
                "ruleId": rule_id,
                "config": {"attribute": "customer.loyalty_score", "operator": "gte", "value": 190},
            },
            "entityType": "qualification_rule",
            "id": rule_id,
            "changes": {"config.value": {"from": 50, "to": 190}},
        }
    ]
    applied = await call(demo_db, NAME, {"offerId": offer_id, "apply": True})
    assert applied["applied"] is True
    async with demo_db.session() as s:
        assert (await s.get(QualificationRule, rule_id)).config["value"] == 190  # type: ignore[union-attr]
    [entry] = await audit_actions(demo_db)
    assert (entry.action, entry.entity_id) == ("playbook.rebuild_offer_qualification", offer_id)


async def test_too_few_customers_is_insufficient_data(demo_db: Database) -> None:
    offer_id, _ = await _population(demo_db)
    out = await call(demo_db, NAME, {"offerId": offer_id, "lookbackDays": 1})
    assert out["shownCustomers"] == 0 and out["rules"][0]["verdict"] == "insufficient_data"
    assert out["plan"] == []
    applied = await call(demo_db, NAME, {"offerId": offer_id, "lookbackDays": 1, "apply": True})
    assert applied["applied"] is False and applied["message"] == "nothing to change"
    assert await audit_actions(demo_db) == []
