"""Recommend/respond end to end on the demo tenant, through the same tools every transport uses."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

import kaireon_mcp.tools.flows  # noqa: F401 - registers tools
import kaireon_mcp.tools.runtime  # noqa: F401
from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import DecisionTrace, Interaction, ModelAdaptation
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx


async def call(db: Database, name: str, args: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return await execute(name, args, make_tool_ctx(db, **kw))


async def test_c0001_email_is_blocked_by_weekly_cap_and_trace_explains_every_drop(demo_db: Database) -> None:
    result = await call(demo_db, "recommend", {"customerId": "C-0001", "channel": "email", "debug": True})
    assert result["decisions"] == []
    funnel = result["meta"]["funnel"]
    assert funnel["candidateCount"] == 10 and funnel["finalCount"] == 0
    trace = await call(demo_db, "getDecisionTrace", {"traceId": result["traceId"]})
    dropped = trace["dropped"]
    assert {d["offerId"] for d in dropped} == {
        f"off_demo_{k}"
        for k in [
            "bogo_5_day_easy",
            "bogo_7_day_medium",
            "bogo_5_day_hard",
            "bogo_7_day_extra",
            "discount_10_day_20",
            "discount_7_day_7",
            "discount_10_day_10",
            "discount_7_day_10",
            "info_4_day_brand_story",
            "info_3_day_new_menu",
        ]
    }
    for drop in dropped:
        assert drop["stage"] == "contact_policy"
        assert drop["policyName"] == "Email 3 per week"
        assert drop["reason"].startswith("frequency_cap exceeded: 3/week")
        assert drop["detail"]["count"] == 3 and drop["detail"]["limit"] == 3


async def test_recommend_then_respond_closes_the_loop(demo_db: Database) -> None:
    rec = await call(demo_db, "recommend", {"customerId": "C-0005", "channel": "web", "limit": 2})
    assert 1 <= len(rec["decisions"]) <= 2
    first = rec["decisions"][0]
    assert first["rank"] == 1 and first["creative"]["id"] and first["channelId"] == "chn_demo_web"
    async with demo_db.session() as s:
        before = (
            await s.execute(
                select(ModelAdaptation).where(
                    ModelAdaptation.scope == "offer", ModelAdaptation.scope_id == first["offerId"]
                )
            )
        ).scalar_one()
        pos_before, ev_before = before.positives, before.evidence
    body = {
        "customerId": "C-0005",
        "recommendationId": rec["recommendationId"],
        "rank": 1,
        "outcome": "click",
        "idempotencyKey": "k-1",
    }
    out = await call(demo_db, "recordOutcome", body)
    assert out["classification"] == "positive" and out["offerName"] == first["offerName"]
    assert out["channelName"] == "Web" and out["rank"] == 1 and out["status"] == "recorded"
    replay = await call(demo_db, "recordOutcome", body)
    assert replay["interactionId"] == out["interactionId"] and replay["replayed"] is True
    imp = await call(demo_db, "recordOutcome", {**body, "outcome": "impression", "idempotencyKey": "k-2"})
    assert imp["classification"] == "neutral"
    async with demo_db.session() as s:
        after = (
            await s.execute(
                select(ModelAdaptation).where(
                    ModelAdaptation.scope == "offer", ModelAdaptation.scope_id == first["offerId"]
                )
            )
        ).scalar_one()
        clicks = (
            await s.execute(
                select(func.count()).select_from(Interaction).where(Interaction.idempotency_key == "k-1")
            )
        ).scalar_one()
    assert (after.positives, after.evidence) == (pos_before + 1, ev_before + 1)
    assert clicks == 1


async def test_web_is_explicit_and_email_is_implicit(demo_db: Database) -> None:
    web = await call(demo_db, "recommend", {"customerId": "C-0009", "channel": "web", "limit": 1})
    email = await call(demo_db, "recommend", {"customerId": "C-0010", "channel": "email", "limit": 1})
    async with demo_db.session() as s:

        async def count(rec: str, kind: str) -> int:
            stmt = (
                select(func.count())
                .select_from(Interaction)
                .where(Interaction.recommendation_id == rec, Interaction.interaction_type == kind)
            )
            return int((await s.execute(stmt)).scalar_one())

        assert await count(web["recommendationId"], "recommendation") == len(web["decisions"])
        assert await count(web["recommendationId"], "impression") == 0
        assert await count(email["recommendationId"], "impression") == len(email["decisions"])


async def test_respond_errors(demo_db: Database) -> None:
    with pytest.raises(ValidationError) as bad_outcome:
        await call(
            demo_db,
            "recordOutcome",
            {
                "customerId": "C-0002",
                "outcome": "teleport",
                "idempotencyKey": "x",
                "offerId": "off_demo_bogo_5_day_easy",
            },
        )
    assert bad_outcome.value.field == "outcome"
    with pytest.raises(ValidationError) as missing_key:
        await call(demo_db, "recordOutcome", {"customerId": "C-0002", "outcome": "click"})
    assert missing_key.value.field == "idempotencyKey"
    with pytest.raises(NotFoundError):
        await call(
            demo_db,
            "recordOutcome",
            {
                "customerId": "C-0002",
                "outcome": "click",
                "idempotencyKey": "y",
                "recommendationId": "rec_nope",
                "rank": 1,
            },
        )


async def test_explicit_unpublished_flow_is_refused(demo_db: Database) -> None:
    await call(demo_db, "createDecisionFlow", {"key": "draft-flow", "name": "Draft"})
    with pytest.raises(ConflictError):
        await call(demo_db, "recommend", {"customerId": "C-0002", "decisionFlowKey": "draft-flow"})
    with pytest.raises(NotFoundError):
        await call(demo_db, "recommend", {"customerId": "C-0002", "decisionFlowKey": "nope"})


async def test_publish_and_route_priority(demo_db: Database) -> None:
    flow = await call(
        demo_db,
        "createV2DecisionFlow",
        {"key": "prio", "name": "Priority only", "scoringMethod": "priority_weighted", "maxCandidates": 2},
    )
    await call(demo_db, "publishDecisionFlow", {"flowId": flow["id"], "notes": "v1"})
    rec = await call(
        demo_db,
        "recommend",
        {
            "customerId": "NEW-1",
            "decisionFlowKey": "prio",
            "limit": 5,
            "attributes": {"age": 30, "income": 90000},
            "segments": ["rewards_member"],
        },
    )
    assert rec["meta"]["decisionFlowKey"] == "prio" and rec["meta"]["flowVersion"] == 1
    # no history, every rule passes: priority_weighted = priority/100 x weight 100/100 x fit 1
    assert [(d["offerName"], d["score"]) for d in rec["decisions"]] == [
        ("BOGO - 5 Day Easy", 0.8),
        ("BOGO - 7 Day Medium", 0.75),
    ]


async def test_multi_placement_dedupe(demo_db: Database) -> None:
    rec = await call(
        demo_db,
        "recommend",
        {
            "customerId": "C-0012",
            "channel": "in_app",
            "deduplicate": True,
            "placements": [
                {"placementId": "home_carousel", "limit": 2},
                {"placementId": "order_screen_upsell", "limit": 2},
            ],
        },
    )
    groups = rec["placements"]
    assert [g["placementId"] for g in groups] == [
        "plc_demo_in_app_home_carousel",
        "plc_demo_in_app_order_screen_upsell",
    ]
    offers = [d["offerId"] for g in groups for d in g["decisions"]]
    assert len(offers) == len(set(offers))


async def test_trace_is_listed_by_customer(demo_db: Database) -> None:
    await call(demo_db, "recommend", {"customerId": "C-0013", "channel": "web"})
    listed = await call(demo_db, "listDecisionTraces", {"customerId": "C-0013"})
    assert listed["pagination"]["total"] == 1
    async with demo_db.session() as s:
        assert (await s.execute(select(func.count()).select_from(DecisionTrace))).scalar_one() == 1


async def test_shadow_models_are_scored_silently(demo_db: Database) -> None:
    rec = await call(demo_db, "recommend", {"customerId": "C-0020", "channel": "web", "limit": 3})
    trace = await call(demo_db, "getDecisionTrace", {"traceId": rec["traceId"]})
    scored = trace["scoringResults"]
    assert scored and all(
        r["shadowScores"] and r["shadowScores"][0]["modelKey"] == "offer-bandit" for r in scored
    )
    assert all(0.0 <= r["shadowScores"][0]["score"] <= 1.0 for r in scored)
    # the live score is not the shadow score: shadow models never affect the ranking
    assert [d["offerId"] for d in rec["decisions"]] == [r["offerId"] for r in scored]
