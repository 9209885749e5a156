"""Triggers and journeys: validation, ordering and offset pagination."""

from __future__ import annotations

from kaireon_mcp.storage.db import Database
from tests.studio.conftest import call, fails

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "entry_trigger", "config": {"eventType": "account_created"}},
        {"id": "wait", "type": "wait", "config": {"delayHours": 48}},
        {"id": "offer", "type": "nba_decision"},
    ],
    "edges": [{"source": "start", "target": "wait"}, {"source": "wait", "target": "offer"}],
}


async def test_journey_round_trip(sdb: Database) -> None:
    journey = await call(sdb, "createJourney", {"name": "Onboarding"})
    assert journey["status"] == "draft" and journey["maxDurationDays"] == 30
    assert journey["definition"] == {"nodes": [], "edges": []} and journey["entryCondition"] == {}

    error = await fails(sdb, "updateJourney", {"journeyId": journey["id"], "status": "active"})
    assert error.code == "VALIDATION" and error.field == "status"
    updated = await call(
        sdb, "updateJourney", {"journeyId": journey["id"], "definition": DEFINITION, "status": "active"}
    )
    assert updated["status"] == "active" and updated["version"] == 2
    assert [n["id"] for n in updated["definition"]["nodes"]] == ["start", "wait", "offer"]

    error = await fails(sdb, "createJourney", {"name": "X", "maxDurationDays": 400})
    assert error.code == "VALIDATION" and error.field == "maxDurationDays"
    bad_edge = {"nodes": DEFINITION["nodes"], "edges": [{"source": "start", "target": "nowhere"}]}
    error = await fails(sdb, "createJourney", {"name": "X", "definition": bad_edge})
    assert error.code == "VALIDATION" and error.field == "definition.edges[0].target"
    bad_type = {"nodes": [{"id": "a", "type": "teleport"}], "edges": []}
    error = await fails(sdb, "createJourney", {"name": "X", "definition": bad_type})
    assert error.code == "VALIDATION" and error.field == "definition.nodes[0].type"
    error = await fails(sdb, "createJourney", {"name": "Onboarding"})
    assert error.code == "CONFLICT" and error.field == "name"
    error = await fails(sdb, "updateJourney", {"journeyId": "jrn_missing", "name": "Y"})
    assert error.code == "NOT_FOUND" and error.field == "journeyId"


async def test_list_journeys_by_status_with_offsets(sdb: Database) -> None:
    for n in range(3):
        await call(sdb, "createJourney", {"name": f"J{n}", "definition": DEFINITION})
    first = (await call(sdb, "listJourneys", {}))["items"][-1]
    await call(sdb, "updateJourney", {"journeyId": first["id"], "status": "active"})
    page = await call(sdb, "listJourneys", {"limit": 2, "offset": 2})
    assert [j["name"] for j in page["items"]] == ["J0"]
    assert page["pagination"] == {"total": 3, "limit": 2, "offset": 2, "hasMore": False}
    head = await call(sdb, "listJourneys", {"limit": 2})
    assert [j["name"] for j in head["items"]] == ["J2", "J1"] and head["pagination"]["hasMore"] is True
    active = await call(sdb, "listJourneys", {"status": "active"})
    assert [j["name"] for j in active["items"]] == ["J0"]
    error = await fails(sdb, "listJourneys", {"limit": 201})
    assert error.code == "VALIDATION" and error.field == "limit"


async def test_triggers(sdb: Database) -> None:
    journey = await call(sdb, "createJourney", {"name": "Welcome"})
    error = await fails(
        sdb,
        "createTrigger",
        {
            "name": "T",
            "eventType": "customer.created",
            "actionType": "enroll_journey",
            "actionConfig": {"journeyId": "jrn_missing"},
        },
    )
    assert error.code == "NOT_FOUND" and error.field == "actionConfig.journeyId"
    enroll = await call(
        sdb,
        "createTrigger",
        {
            "name": "Enroll",
            "eventType": "customer.created",
            "actionType": "enroll_journey",
            "actionConfig": {"journeyId": journey["id"]},
        },
    )
    assert enroll["actionConfig"] == {"journeyId": journey["id"], "deduplication": "skip_if_active"}
    assert enroll["priority"] == 50 and enroll["cooldownMs"] == 0 and enroll["status"] == "active"

    error = await fails(
        sdb,
        "createTrigger",
        {"name": "W", "eventType": "purchase", "actionType": "webhook", "actionConfig": {"url": "ftp://x"}},
    )
    assert error.code == "VALIDATION" and error.field == "actionConfig.url"
    error = await fails(
        sdb, "createTrigger", {"name": "W", "eventType": "purchase", "actionType": "teleport"}
    )
    assert error.code == "VALIDATION" and error.field == "actionType"
    error = await fails(
        sdb,
        "createTrigger",
        {
            "name": "W",
            "eventType": "purchase",
            "actionType": "fire_recommend",
            "condition": {"all": [{"field": "amount", "operator": "huge"}]},
        },
    )
    assert error.code == "VALIDATION" and error.field == "condition.all[0].operator"
    big = await call(
        sdb,
        "createTrigger",
        {
            "name": "Big spender",
            "eventType": "purchase",
            "actionType": "webhook",
            "actionConfig": {"url": "https://hooks.example.com/big"},
            "condition": {"field": "amount", "operator": "greater_than", "value": 500},
            "priority": 90,
            "cooldownMs": 86_400_000,
        },
    )
    await call(
        sdb,
        "createTrigger",
        {
            "name": "Login",
            "eventType": "login",
            "actionType": "update_attribute",
            "actionConfig": {"attribute": "last_login"},
            "priority": 10,
        },
    )

    listed = await call(sdb, "listTriggers", {})
    assert [t["name"] for t in listed["items"]] == ["Big spender", "Enroll", "Login"]
    purchases = await call(sdb, "listTriggers", {"eventType": "purchase"})
    assert [t["id"] for t in purchases["items"]] == [big["id"]] and purchases["pagination"]["total"] == 1
    assert (await call(sdb, "listTriggers", {"status": "paused"}))["items"] == []

    result = await call(sdb, "deleteEntity", {"entityType": "journey", "id": journey["id"]})
    assert len(result["warnings"]) == 1 and "Enroll" in result["warnings"][0]
