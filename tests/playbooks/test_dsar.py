"""playbook_generate_dsar_export: every section of the bundle counted against the fixture."""

from __future__ import annotations

from datetime import timedelta

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import ConsentRecord, Interaction, JourneyEnrollment, VariantAssignment
from kaireon_mcp.storage.types import utcnow
from tests.playbooks.conftest import audit_actions, call, count

NAME = "playbook_generate_dsar_export"
CUSTOMER = "C-0003"


async def _subject_records(db: Database) -> None:
    now = utcnow()
    async with db.session() as s:
        s.add(
            ConsentRecord(id="cns_1", tenant_id="demo", subject_id=CUSTOMER, purpose="email", granted_at=now)
        )
        s.add(ConsentRecord(id="cns_2", tenant_id="demo", subject_id="C-0004", purpose="email"))
        s.add(
            JourneyEnrollment(
                id="enr_1",
                tenant_id="demo",
                journey_id="jrn_demo_welcome",
                customer_id=CUSTOMER,
                entered_at=now,
            )
        )


async def test_bundle_counts_match_the_fixture_and_the_export_is_audited(demo_db: Database) -> None:
    await _subject_records(demo_db)
    rec = await call(demo_db, "recommend", {"customerId": CUSTOMER, "channel": "web"})
    seeded = await count(demo_db, Interaction, Interaction.customer_id == CUSTOMER)
    assignments = await count(demo_db, VariantAssignment, VariantAssignment.customer_id == CUSTOMER)
    assert seeded > 0 and assignments == 1  # the demo experiment assigns every recommended customer
    out = await call(demo_db, NAME, {"customerId": CUSTOMER})
    assert out["applied"] is True and out["subjectId"] == CUSTOMER
    assert out["counts"] == {
        "schemaRows": 1,
        "interactions": seeded,
        "decisionTraces": 1,
        "consentRecords": 1,
        "journeyEnrollments": 1,
        "experimentAssignments": 1,
        "metricValues": 0,
    }
    assert out["schemaRows"][0]["data"]["customer_id"] == CUSTOMER
    assert {i["customerId"] for i in out["interactions"]} == {CUSTOMER}
    assert all("tenantId" not in i for i in out["interactions"])
    [trace] = out["decisionTraces"]
    assert trace["id"] == rec["traceId"] and trace["regulatorNarrative"].startswith(
        f"Decision {rec['traceId']}"
    )
    [entry] = await audit_actions(demo_db)
    assert (entry.action, entry.entity_type, entry.entity_id) == (
        "playbook.generate_dsar_export",
        "customer",
        CUSTOMER,
    )
    assert entry.changes["counts"] == out["counts"] and entry.id == out["auditId"]


async def test_window_limits_timestamped_records_only(demo_db: Database) -> None:
    await _subject_records(demo_db)
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    out = await call(demo_db, NAME, {"customerId": CUSTOMER, "from": tomorrow})
    counts = out["counts"]
    assert (counts["interactions"], counts["journeyEnrollments"], counts["decisionTraces"]) == (0, 0, 0)
    assert (counts["schemaRows"], counts["consentRecords"]) == (1, 1)  # current state, always included
    week_ago = utcnow() - timedelta(days=7)
    recent = await call(demo_db, NAME, {"customerId": CUSTOMER, "from": week_ago.isoformat()})
    expected = await count(
        demo_db, Interaction, Interaction.customer_id == CUSTOMER, Interaction.timestamp >= week_ago
    )
    assert recent["counts"]["interactions"] == expected
    assert len(await audit_actions(demo_db)) == 2  # every export is audited


async def test_unknown_subject_gives_an_empty_but_audited_bundle(demo_db: Database) -> None:
    out = await call(demo_db, NAME, {"customerId": "nobody"})
    assert set(out["counts"].values()) == {0}
    assert len(await audit_actions(demo_db)) == 1
