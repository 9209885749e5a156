"""Journey runtime: trigger enrollment on respond, waits, a real NBA decision step, exit, expiry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from kaireon_mcp.core.decisioning.api import RespondRequest
from kaireon_mcp.core.decisioning.journeys import advance_journeys
from kaireon_mcp.core.decisioning.respond import respond
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Journey, JourneyEnrollment, TriggerRule
from kaireon_mcp.storage.types import utcnow

CTX = TenantContext(tenant_id="demo")


async def _enroll_via_trigger(db: Database) -> str:
    async with db.tenant(CTX) as repo:
        journey = await repo.find(Journey, name="Welcome series")
        assert journey is not None
        await repo.create(
            TriggerRule,
            {
                "name": "On conversion",
                "event_type": "outcome.recorded",
                "action_type": "enroll_journey",
                "priority": 90,
                "condition": {"field": "outcome", "operator": "eq", "value": "conversion"},
                "action_config": {"journeyId": journey.id},
            },
        )
        for key, outcome in (("j-1", "click"), ("j-2", "conversion"), ("j-3", "conversion")):
            await respond(
                repo,
                RespondRequest(
                    customerId="C-0030",
                    outcome=outcome,
                    idempotencyKey=key,
                    offerId="off_demo_bogo_5_day_easy",
                ),
            )
        return journey.id


async def test_trigger_enrolls_once_and_journey_runs_to_exit(demo_db: Database) -> None:
    journey_id = await _enroll_via_trigger(demo_db)
    async with demo_db.session() as s:
        rows = (
            await s.execute(select(JourneyEnrollment).where(JourneyEnrollment.journey_id == journey_id))
        ).scalars()
        enrollments = list(rows)
    assert len(enrollments) == 1  # the click did not match; the second conversion was deduplicated
    now = utcnow()
    async with demo_db.tenant(CTX) as repo:
        first = await advance_journeys(repo, now)
    assert first["waiting"] == 1 and first["decisions"] == 0  # entry -> wait 48 h
    async with demo_db.tenant(CTX) as repo:
        still = await advance_journeys(repo, now + timedelta(hours=47))
    assert still["waiting"] == 1
    async with demo_db.tenant(CTX) as repo:
        done = await advance_journeys(repo, now + timedelta(hours=49))
    assert done == {"advanced": 0, "waiting": 0, "completed": 1, "expired": 0, "decisions": 1}
    async with demo_db.session() as s:
        enrollment = (await s.execute(select(JourneyEnrollment))).scalar_one()
    assert enrollment.status == "completed" and enrollment.current_node_id == "exit"
    assert enrollment.context["decisions"]["decide"]["recommendationId"].startswith("rec_")


async def test_overdue_enrollment_expires(demo_db: Database) -> None:
    await _enroll_via_trigger(demo_db)
    async with demo_db.tenant(CTX) as repo:
        stats = await advance_journeys(repo, utcnow() + timedelta(days=31))
    assert stats["expired"] == 1


async def test_channel_action_respects_consent(demo_db: Database) -> None:
    """A direct send is logged as skipped, with the reason, when its purpose is refused; the
    same step on a consented channel is logged as sent, and the journey goes on either way."""
    from kaireon_mcp.storage.tables import ConsentRecord

    now = utcnow()
    async with demo_db.tenant(CTX) as repo:
        journey = await repo.create(
            Journey,
            {
                "name": "Nudge",
                "status": "active",
                "definition": {
                    "nodes": [
                        {"id": "mail", "type": "channel_action", "config": {"channel": "email"}},
                        {"id": "web", "type": "channel_action", "config": {"channel": "chn_demo_web"}},
                        {"id": "exit", "type": "exit", "config": {"reason": "done"}},
                    ],
                    "edges": [{"from": "mail", "to": "web"}, {"from": "web", "to": "exit"}],
                },
            },
        )
        record = await repo.create(
            ConsentRecord, {"subject_id": "C-0031", "purpose": "email", "status": "revoked", "source": "api"}
        )
        for customer in ("C-0031", "C-0032"):
            await repo.create(
                JourneyEnrollment,
                {"journey_id": journey.id, "customer_id": customer, "status": "active", "context": {}},
            )
    async with demo_db.tenant(CTX) as repo:
        stats = await advance_journeys(repo, now)
    assert stats["completed"] == 2
    async with demo_db.session() as s:
        rows = (
            await s.execute(select(JourneyEnrollment).where(JourneyEnrollment.journey_id == journey.id))
        ).scalars()
        actions = {e.customer_id: e.context["actions"] for e in rows}
    refused, web = actions["C-0031"]
    assert refused["skipped"] is True and refused["consent"]["recordId"] == record.id
    assert (
        refused["reason"]
        == f"consent for purpose 'email' is revoked (consent record {record.id}, source api)"
    )
    assert "skipped" not in web and web["channel"] == "chn_demo_web"
    assert all("skipped" not in action for action in actions["C-0032"]) and len(actions["C-0032"]) == 2
