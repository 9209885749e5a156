"""Channels, placements, auto-routing, encrypted provider credentials and creatives."""

from __future__ import annotations

import json

from kaireon_mcp.core.flow_schema import BASE_FLOW_NAME
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.crypto import MASK
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import (
    Channel,
    DecisionFlow,
    DecisionFlowNode,
    DecisionFlowVersion,
    FlowRoute,
    Placement,
)
from tests.studio.conftest import audit_rows, call, fails, rows

BASE_NODE_TYPES = [
    "inventory", "match_creatives", "enrich", "qualify", "contact_policy", "extension_point", "score",
    "extension_point", "rank", "extension_point", "response",
]  # fmt: skip
SECRET = "SG.very-secret-token"


async def test_first_channel_creates_the_base_flow_and_routes(sdb: Database) -> None:
    channel = await call(
        sdb,
        "createChannel",
        {
            "name": "Web",
            "channelType": "web",
            "placements": [
                {"name": "Hero Banner"},
                {"name": "Sidebar", "key": "sidebar_widget", "slotType": "card", "maxSlots": 3},
            ],
        },
    )
    assert channel["channelType"] == "web" and channel["status"] == "draft"
    assert channel["deliveryMode"] == "api" and channel["impressionMode"] == "explicit"
    assert channel["couplingMode"] == "partial" and channel["providerConfig"] == {}
    placements = {p["key"]: p for p in channel["placements"]}
    assert sorted(placements) == ["hero_banner", "sidebar_widget"]
    assert placements["hero_banner"]["slotType"] == "banner" and placements["hero_banner"]["maxSlots"] == 1
    assert (
        placements["sidebar_widget"]["slotType"] == "card" and placements["sidebar_widget"]["maxSlots"] == 3
    )

    (flow,) = await rows(sdb, DecisionFlow)
    assert flow.name == BASE_FLOW_NAME and flow.is_default and flow.protected
    assert flow.status == "active" and flow.published_version == 1
    nodes = sorted(await rows(sdb, DecisionFlowNode, flow_id=flow.id), key=lambda n: n.position)
    assert [n.type for n in nodes] == BASE_NODE_TYPES
    (version,) = await rows(sdb, DecisionFlowVersion, flow_id=flow.id)
    assert version.version == 1 and version.config_snapshot["version"] == 2
    assert [n["type"] for n in version.config_snapshot["nodes"]] == BASE_NODE_TYPES
    assert version.config_snapshot["flowConfig"] == {}

    routes = await rows(sdb, FlowRoute)
    expected = {(channel["id"], None)} | {(channel["id"], p["id"]) for p in channel["placements"]}
    assert {(r.channel_id, r.placement_id) for r in routes} == expected
    assert {r.decision_flow_id for r in routes} == {flow.id}
    assert len(channel["routes"]) == 3
    assert all(
        r["decisionFlow"] == {"id": flow.id, "name": BASE_FLOW_NAME, "key": flow.key}
        for r in channel["routes"]
    )

    # a second channel reuses the default flow instead of creating another
    email = await call(sdb, "createChannel", {"name": "Email"})
    assert len(await rows(sdb, DecisionFlow)) == 1
    assert [r["decisionFlowId"] for r in email["routes"]] == [flow.id]


async def test_channels_route_to_an_existing_default_flow(sdb: Database) -> None:
    async with sdb.tenant(TenantContext(tenant_id="demo")) as repo:
        mine = await repo.create(
            DecisionFlow, {"key": "my-flow", "name": "My flow", "status": "active", "is_default": True}
        )
        await repo.create(DecisionFlow, {"key": "other-flow", "name": "Other flow", "status": "active"})
    channel = await call(sdb, "createChannel", {"name": "Push", "channelType": "push"})
    placement = await call(sdb, "createPlacement", {"channelId": channel["id"], "name": "Morning Digest"})
    assert placement["key"] == "morning_digest"
    assert placement["route"]["decisionFlowId"] == mine.id
    assert placement["route"]["placementId"] == placement["id"]
    assert {(r.channel_id, r.placement_id, r.decision_flow_id) for r in await rows(sdb, FlowRoute)} == {
        (channel["id"], None, mine.id),
        (channel["id"], placement["id"], mine.id),
    }
    assert len(await rows(sdb, DecisionFlow)) == 2


async def test_provider_credentials_are_encrypted_and_never_returned(sdb: Database) -> None:
    config = {"provider": "sendgrid", "apiKey": SECRET, "fromEmail": "offers@example.com"}
    created = await call(
        sdb, "createChannel", {"name": "Mail", "deliveryMode": "integration", "providerConfig": config}
    )
    assert created["providerConfig"] == {"provider": "sendgrid", "apiKey": MASK, "fromEmail": MASK}
    assert created["providerName"] == "sendgrid"
    listed = await call(sdb, "listChannels", {})
    (row,) = await rows(sdb, Channel)
    assert row.provider_config_encrypted and SECRET not in row.provider_config_encrypted
    assert sdb.box.decrypt_json(row.provider_config_encrypted) == config

    rotated = {"provider": "sendgrid", "apiKey": "SG.rotated-secret"}
    updated = await call(sdb, "updateChannel", {"channelId": created["id"], "providerConfig": rotated})
    assert updated["providerConfig"] == {"provider": "sendgrid", "apiKey": MASK}
    (row,) = await rows(sdb, Channel)
    assert sdb.box.decrypt_json(row.provider_config_encrypted or "") == rotated
    renamed = await call(sdb, "updateChannel", {"channelId": created["id"], "name": "Mail 2"})
    assert renamed["providerConfig"] == {"provider": "sendgrid", "apiKey": MASK}

    audits = await audit_rows(sdb)
    assert any(a.action == "provider_config_update" for a in audits)
    for text in (json.dumps(created), json.dumps(listed), json.dumps(updated), json.dumps(renamed)):
        assert SECRET not in text and "SG.rotated-secret" not in text and "Encrypted" not in text
    for audit in audits:
        blob = json.dumps([audit.before, audit.after, audit.changes], default=str)
        assert SECRET not in blob and "SG.rotated-secret" not in blob
        assert (row.provider_config_encrypted or "") not in blob

    cleared = await call(sdb, "updateChannel", {"channelId": created["id"], "providerConfig": {}})
    assert cleared["providerConfig"] == {} and cleared["providerName"] is None


async def test_channel_validation(sdb: Database) -> None:
    error = await fails(sdb, "createChannel", {"name": "X", "channelType": "fax"})
    assert error.code == "VALIDATION" and error.field == "channelType"
    error = await fails(sdb, "createChannel", {"name": "X", "deliveryMode": "pigeon"})
    assert error.code == "VALIDATION" and error.field == "deliveryMode"
    error = await fails(sdb, "createChannel", {"name": "X", "fileConfig": {"format": "xlsx"}})
    assert error.code == "VALIDATION" and error.field == "fileConfig.format"
    error = await fails(sdb, "createChannel", {"name": "X", "placements": [{"name": "A"}, {"name": "a"}]})
    assert error.code == "CONFLICT" and error.field == "placements[1].key"
    # a bad inline placement leaves nothing behind: no channel, no flow, no route
    error = await fails(
        sdb, "createChannel", {"name": "X", "placements": [{"name": "Ok"}, {"name": "B", "key": "Bad Key"}]}
    )
    assert error.code == "VALIDATION" and error.field == "placements[1].key"
    assert await rows(sdb, Channel) == [] and await rows(sdb, DecisionFlow) == []

    await call(sdb, "createChannel", {"name": "Web"})
    error = await fails(sdb, "createChannel", {"name": "Web"})
    assert error.code == "CONFLICT" and error.field == "name"
    error = await fails(sdb, "updateChannel", {"channelId": "chn_missing", "name": "Y"})
    assert error.code == "NOT_FOUND" and error.field == "channelId"


async def test_placement_keys_are_unique_within_a_channel(sdb: Database) -> None:
    web = await call(sdb, "createChannel", {"name": "Web", "placements": [{"name": "hero banner"}]})
    app = await call(sdb, "createChannel", {"name": "App"})
    error = await fails(sdb, "createPlacement", {"channelId": web["id"], "name": "Hero-Banner"})
    assert error.code == "CONFLICT" and error.field == "key"
    same_key = await call(sdb, "createPlacement", {"channelId": app["id"], "name": "Hero Banner"})
    assert same_key["key"] == "hero_banner"
    error = await fails(sdb, "createPlacement", {"channelId": app["id"], "name": "X", "key": "Not OK"})
    assert error.code == "VALIDATION" and error.field == "key"
    error = await fails(sdb, "createPlacement", {"channelId": "chn_missing", "name": "X"})
    assert error.code == "NOT_FOUND" and error.field == "channelId"
    error = await fails(sdb, "createPlacement", {"channelId": app["id"], "name": "X", "maxSlots": 0})
    assert error.code == "VALIDATION" and error.field == "maxSlots"


async def test_update_channel_upserts_placements_by_key(sdb: Database) -> None:
    web = await call(sdb, "createChannel", {"name": "Web", "placements": [{"name": "Hero Banner"}]})
    updated = await call(
        sdb,
        "updateChannel",
        {
            "channelId": web["id"],
            "status": "active",
            "placements": [
                {"name": "Hero Banner", "maxSlots": 2},
                {"name": "Exit Intent Popup", "slotType": "modal"},
            ],
        },
    )
    assert updated["status"] == "active" and updated["version"] == 2
    by_key = {p["key"]: p for p in updated["placements"]}
    assert (
        by_key["hero_banner"]["maxSlots"] == 2 and by_key["hero_banner"]["id"] == web["placements"][0]["id"]
    )
    assert by_key["exit_intent_popup"]["slotType"] == "modal"
    routed = {r.placement_id for r in await rows(sdb, FlowRoute)}
    assert routed == {None, *(p["id"] for p in updated["placements"])}


async def test_list_channels_newest_first_with_placements(sdb: Database) -> None:
    await call(sdb, "createChannel", {"name": "Email", "placements": [{"name": "Header Offer"}]})
    await call(sdb, "createChannel", {"name": "Push", "channelType": "push"})
    page = await call(sdb, "listChannels", {"limit": 1})
    assert [c["name"] for c in page["items"]] == ["Push"] and page["pagination"]["hasMore"] is True
    rest = await call(sdb, "listChannels", {"limit": 1, "cursor": page["pagination"]["nextCursor"]})
    (email,) = rest["items"]
    assert email["name"] == "Email" and [p["key"] for p in email["placements"]] == ["header_offer"]
    assert email["creativeCount"] == 0 and rest["pagination"]["total"] == 2


async def test_creative_round_trip(sdb: Database) -> None:
    web = await call(sdb, "createChannel", {"name": "Web", "placements": [{"name": "Hero Banner"}]})
    app = await call(sdb, "createChannel", {"name": "App", "placements": [{"name": "Home Carousel"}]})
    offer = await call(sdb, "createOffer", {"name": "BOGO"})
    hero = web["placements"][0]["id"]
    creative = await call(
        sdb,
        "createCreative",
        {
            "name": "BOGO hero",
            "offerId": offer["id"],
            "channelId": web["id"],
            "placementId": hero,
            "templateType": "web_banner",
            "content": {"headline": "Buy one, get one"},
            "personalization": [
                {"variable": "first_name", "source": "customer.first_name", "fallback": "friend"}
            ],
        },
    )
    assert creative["status"] == "draft" and creative["weight"] == 100 and creative["placementId"] == hero
    assert creative["offerName"] == "BOGO" and creative["channelName"] == "Web"
    assert creative["placementName"] == "Hero Banner"

    updated = await call(
        sdb, "updateCreative", {"creativeId": creative["id"], "weight": 40, "abTestVariant": "variant_a"}
    )
    assert updated["weight"] == 40 and updated["abTestVariant"] == "variant_a" and updated["version"] == 2

    for args, field, code in (
        ({"offerId": "off_missing", "channelId": web["id"]}, "offerId", "NOT_FOUND"),
        ({"offerId": offer["id"], "channelId": "chn_missing"}, "channelId", "NOT_FOUND"),
        ({"offerId": offer["id"], "channelId": app["id"], "placementId": hero}, "placementId", "VALIDATION"),
        (
            {"offerId": offer["id"], "channelId": web["id"], "templateType": "fax"},
            "templateType",
            "VALIDATION",
        ),
        ({"offerId": offer["id"], "channelId": web["id"], "weight": 101}, "weight", "VALIDATION"),
        (
            {"offerId": offer["id"], "channelId": web["id"], "contentItemId": "ci_missing"},
            "contentItemId",
            "NOT_FOUND",
        ),
    ):
        error = await fails(sdb, "createCreative", {"name": "Other", **args})
        assert (error.code, error.field) == (code, field), args
    error = await fails(
        sdb, "createCreative", {"name": "BOGO hero", "offerId": offer["id"], "channelId": web["id"]}
    )
    assert error.code == "CONFLICT" and error.field == "name"

    await call(sdb, "createCreative", {"name": "BOGO app", "offerId": offer["id"], "channelId": app["id"]})
    by_channel = await call(sdb, "listCreatives", {"channelId": app["id"]}, route="/studio/treatments")
    assert [c["name"] for c in by_channel["items"]] == ["BOGO app"]
    everything = await call(sdb, "listCreatives", {"offerId": offer["id"]})
    assert [c["name"] for c in everything["items"]] == ["BOGO app", "BOGO hero"]
    listed = await call(sdb, "listChannels", {})
    assert {c["name"]: c["creativeCount"] for c in listed["items"]} == {"App": 1, "Web": 1}
    assert len(await rows(sdb, Placement)) == 2
