"""The 28 studio catalog tools as tool-catalog.md §2.3 and §4 declare them."""

from __future__ import annotations

import json

import pytest

from kaireon_mcp.storage.db import Database
from kaireon_mcp.tools.registry import REGISTRY
from tests.studio.conftest import call, fails

#: name -> (writes, route codes)
EXPECTED: dict[str, tuple[bool, frozenset[str]]] = {
    "listOffers": (False, frozenset({"all"})),
    "getOffer": (False, frozenset()),
    "createOffer": (True, frozenset({"DF", "TR"})),
    "updateOffer": (True, frozenset({"DF"})),
    "createCategory": (True, frozenset({"DF", "TR"})),
    "createSubCategory": (True, frozenset({"DF", "TR"})),
    "listChannels": (False, frozenset({"all"})),
    "createChannel": (True, frozenset({"DF", "TR"})),
    "updateChannel": (True, frozenset({"DF"})),
    "createPlacement": (True, frozenset({"DF", "TR"})),
    "listCreatives": (False, frozenset({"TR"})),
    "createCreative": (True, frozenset({"DF", "TR"})),
    "updateCreative": (True, frozenset({"TR"})),
    "listQualificationRules": (False, frozenset({"DF"})),
    "createQualificationRule": (True, frozenset({"DF", "TR"})),
    "updateQualificationRule": (True, frozenset({"DF"})),
    "listContactPolicies": (False, frozenset({"all"})),
    "createContactPolicy": (True, frozenset({"DF", "TR"})),
    "updateContactPolicy": (True, frozenset({"DF"})),
    "listTriggers": (False, frozenset()),
    "createTrigger": (True, frozenset({"DF", "TR"})),
    "createGuardrail": (True, frozenset({"DF", "TR"})),
    "listOutcomeTypes": (False, frozenset()),
    "createOutcomeType": (True, frozenset({"DF", "TR"})),
    "listJourneys": (False, frozenset()),
    "createJourney": (True, frozenset()),
    "updateJourney": (True, frozenset()),
    "deleteEntity": (True, frozenset({"DF"})),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tool_declaration(name: str) -> None:
    spec = REGISTRY.get(name)
    assert spec is not None and spec.module == "studio"
    writes, routes = EXPECTED[name]
    assert (spec.write, spec.routes) == (writes, routes)
    assert spec.min_role in ({"editor", "admin"} if writes else {"viewer"})
    assert spec.destructive == (name == "deleteEntity")
    assert "\n" not in spec.description and len(spec.description) <= 120
    schema = json.dumps(spec.input_schema())
    assert len(schema) < 1400, f"{name} advertises {len(schema)} schema chars"
    assert '"default": null' not in schema and '{"type": "null"}' not in schema


def test_update_tools_advertise_only_their_id() -> None:
    schema = REGISTRY.get("updateOffer").input_schema()  # type: ignore[union-attr]
    assert schema["required"] == ["offerId"] and list(schema["properties"]) == ["offerId"]
    assert "$defs" not in schema


async def test_update_fields_are_still_validated(sdb: Database) -> None:
    offer = await call(sdb, "createOffer", {"name": "X"})
    error = await fails(sdb, "updateOffer", {"offerId": offer["id"], "priority": "high"})
    assert error.code == "VALIDATION" and error.field == "priority"
    error = await fails(sdb, "updateOffer", {"offerId": offer["id"], "colour": "red"})
    assert error.code == "VALIDATION" and error.field == "colour"
    channel = await call(sdb, "createChannel", {"name": "Web"})
    error = await fails(
        sdb, "updateChannel", {"channelId": channel["id"], "placements": [{"name": "A", "maxSlots": "x"}]}
    )
    assert error.code == "VALIDATION" and error.field == "placements[0].maxSlots"
    error = await fails(sdb, "createChannel", {"name": "App", "placements": [{"name": "A", "size": 3}]})
    assert error.code == "VALIDATION" and error.field == "placements[0].size"


async def test_route_scoping(sdb: Database) -> None:
    error = await fails(sdb, "listCreatives", {}, route="/data/schemas")
    assert error.code == "ROUTE_SCOPE"
    assert (await call(sdb, "listOffers", {}, route="/data/schemas"))["items"] == []
    assert (await call(sdb, "listCreatives", {}, route="/studio/treatments"))["items"] == []
    error = await fails(sdb, "deleteEntity", {"entityType": "offer", "id": "x"}, route="/studio/treatments")
    assert error.code == "ROUTE_SCOPE"
