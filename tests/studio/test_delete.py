"""deleteEntity: refusals, cascades and route clean-up."""

from __future__ import annotations

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import DecisionFlow, FlowRoute, Placement
from tests.studio.conftest import call, fails, rows


async def test_category_with_live_children_refuses(sdb: Database) -> None:
    cat = await call(sdb, "createCategory", {"name": "Cards"})
    sub = await call(sdb, "createSubCategory", {"categoryId": cat["id"], "name": "Gold"})
    offer = await call(sdb, "createOffer", {"name": "Gold Card", "subCategoryId": sub["id"]})

    error = await fails(sdb, "deleteEntity", {"entityType": "category", "id": cat["id"]})
    assert error.code == "CONFLICT"
    assert "'Gold Card'" in error.message and "'Gold'" in error.message
    assert error.extra["children"] == {"offers": [offer["id"]], "sub-categories": [sub["id"]]}
    error = await fails(sdb, "deleteEntity", {"entityType": "subCategory", "id": sub["id"]})
    assert error.code == "CONFLICT" and error.extra["children"] == {"offers": [offer["id"]]}

    await call(sdb, "deleteEntity", {"entityType": "offer", "id": offer["id"]})
    await call(sdb, "deleteEntity", {"entityType": "subCategory", "id": sub["id"]})
    done = await call(sdb, "deleteEntity", {"entityType": "category", "id": cat["id"]})
    assert done == {
        "id": cat["id"],
        "deleted": True,
        "soft": True,
        "warnings": [],
        "entityType": "category",
        "cascaded": [],
    }
    error = await fails(sdb, "deleteEntity", {"entityType": "category", "id": cat["id"]})
    assert error.code == "NOT_FOUND" and error.field == "id"


async def test_channel_with_creatives_refuses_then_cascades(sdb: Database) -> None:
    channel = await call(
        sdb, "createChannel", {"name": "Web", "placements": [{"name": "Hero"}, {"name": "Side"}]}
    )
    offer = await call(sdb, "createOffer", {"name": "BOGO"})
    creative = await call(
        sdb, "createCreative", {"name": "BOGO web", "offerId": offer["id"], "channelId": channel["id"]}
    )

    error = await fails(sdb, "deleteEntity", {"entityType": "channel", "id": channel["id"]})
    assert error.code == "CONFLICT" and "'BOGO web'" in error.message

    await call(sdb, "deleteEntity", {"entityType": "creative", "id": creative["id"]})
    result = await call(sdb, "deleteEntity", {"entityType": "channel", "id": channel["id"]})
    kinds = sorted(c["entityType"] for c in result["cascaded"])
    assert kinds == ["flow_route", "flow_route", "flow_route", "placement", "placement"]
    assert await rows(sdb, FlowRoute) == []
    assert all(p.deleted_at is not None for p in await rows(sdb, Placement))
    assert (await call(sdb, "listChannels", {}))["items"] == []


async def test_placement_delete_drops_its_route_and_keeps_creatives(sdb: Database) -> None:
    channel = await call(sdb, "createChannel", {"name": "Web", "placements": [{"name": "Hero"}]})
    hero = channel["placements"][0]["id"]
    offer = await call(sdb, "createOffer", {"name": "BOGO"})
    await call(
        sdb,
        "createCreative",
        {"name": "C", "offerId": offer["id"], "channelId": channel["id"], "placementId": hero},
    )
    result = await call(sdb, "deleteEntity", {"entityType": "placement", "id": hero})
    assert result["warnings"] == ["1 creative(s) still reference placement 'hero'"]
    assert [(r.channel_id, r.placement_id) for r in await rows(sdb, FlowRoute)] == [(channel["id"], None)]
    assert (await call(sdb, "listCreatives", {}))["pagination"]["total"] == 1


async def test_decision_flow_deletion(sdb: Database) -> None:
    await call(sdb, "createChannel", {"name": "Web"})
    (base,) = await rows(sdb, DecisionFlow)
    error = await fails(sdb, "deleteEntity", {"entityType": "decisionFlow", "id": base.id})
    assert error.code == "CONFLICT" and "protected" in error.message

    channel = await call(sdb, "createChannel", {"name": "Email"})
    async with sdb.tenant(TenantContext(tenant_id="demo")) as repo:
        draft = await repo.create(DecisionFlow, {"key": "draft", "name": "Draft flow"})
        await repo.create(FlowRoute, {"decision_flow_id": draft.id, "channel_id": None, "placement_id": None})
    result = await call(sdb, "deleteEntity", {"entityType": "decisionFlow", "id": draft.id})
    assert [c["entityType"] for c in result["cascaded"]] == ["flow_route"]
    assert {r.decision_flow_id for r in await rows(sdb, FlowRoute)} == {base.id}
    assert channel["routes"][0]["decisionFlowId"] == base.id


async def test_delete_arguments_and_roles(sdb: Database) -> None:
    offer = await call(sdb, "createOffer", {"name": "X"})
    error = await fails(sdb, "deleteEntity", {"entityType": "widget", "id": offer["id"]})
    assert error.code == "VALIDATION" and error.field == "entityType"
    error = await fails(sdb, "deleteEntity", {"entityType": "channel", "id": offer["id"]})
    assert error.code == "NOT_FOUND" and error.field == "id"
    error = await fails(sdb, "deleteEntity", {"entityType": "offer", "id": offer["id"]}, role="editor")
    assert error.code == "FORBIDDEN"
    for entity_type, name, args in (
        ("guardrail", "createGuardrail", {"key": "g", "name": "G"}),
        ("trigger", "createTrigger", {"name": "T", "eventType": "login", "actionType": "fire_recommend"}),
        (
            "contactPolicy",
            "createContactPolicy",
            {"name": "P", "ruleType": "cooldown", "config": {"cooldownHours": 2}},
        ),
    ):
        created = await call(sdb, name, args)
        result = await call(sdb, "deleteEntity", {"entityType": entity_type, "id": created["id"]})
        assert result["deleted"] and result["soft"], entity_type
