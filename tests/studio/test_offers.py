"""Offers, categories and sub-categories through the tool registry, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import ApiKey, Creative, Offer
from tests.studio.conftest import OTHER, audit_rows, call, fails, rows

FUTURE = (datetime.now(UTC) + timedelta(days=30)).isoformat()
PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat()


async def _api_key(db: Database, role: str, *, revoked: bool = False) -> str:
    async with db.tenant(TenantContext(tenant_id="demo")) as repo:
        key = await repo.create(
            ApiKey,
            {
                "name": f"{role} key",
                "prefix": "krn_test",
                "key_hash": f"hash-{role}-{revoked}",
                "role": role,
                "revoked_at": datetime.now(UTC) if revoked else None,
            },
        )
        return key.id


async def test_offer_round_trip_with_hierarchy(sdb: Database) -> None:
    cat = await call(sdb, "createCategory", {"name": "Cards", "description": "Credit cards"})
    sub = await call(sdb, "createSubCategory", {"categoryId": cat["id"], "name": "Gold"})
    assert sub["categoryId"] == cat["id"] and sub["categoryName"] == "Cards"

    # a sub-category alone implies its category
    offer = await call(sdb, "createOffer", {"name": "Gold Card", "subCategoryId": sub["id"], "priority": 70})
    assert offer["categoryId"] == cat["id"] and offer["subCategoryId"] == sub["id"]
    assert offer["categoryName"] == "Cards" and offer["subCategoryName"] == "Gold"
    assert offer["status"] == "draft" and offer["priority"] == 70 and offer["businessValue"] == 50
    assert offer["creativeCount"] == 0 and offer["creatives"] == [] and offer["version"] == 1

    got = await call(sdb, "getOffer", {"offerId": offer["id"]})
    assert got["name"] == "Gold Card" and got["categoryName"] == "Cards"

    updated = await call(sdb, "updateOffer", {"offerId": offer["id"], "priority": 90, "tags": ["premium"]})
    assert updated["priority"] == 90 and updated["tags"] == ["premium"] and updated["version"] == 2
    assert updated["name"] == "Gold Card" and updated["subCategoryId"] == sub["id"]

    update_audit = [a for a in await audit_rows(sdb) if a.action == "update" and a.entity_id == offer["id"]]
    assert len(update_audit) == 1
    assert update_audit[0].changes == {
        "priority": {"from": 70, "to": 90},
        "tags": {"from": [], "to": ["premium"]},
    }

    # an explicit null clears a nullable field
    cleared = await call(sdb, "updateOffer", {"offerId": offer["id"], "subCategoryId": None})
    assert cleared["subCategoryId"] is None and cleared["categoryId"] == cat["id"]


async def test_list_offers_embeds_names_and_filters_by_status(sdb: Database) -> None:
    cat = await call(sdb, "createCategory", {"name": "Retention"})
    await call(sdb, "createOffer", {"name": "A", "categoryId": cat["id"], "status": "active"})
    await call(sdb, "createOffer", {"name": "B", "status": "paused"})
    page = await call(sdb, "listOffers", {})
    assert [o["name"] for o in page["items"]] == ["B", "A"]
    assert page["items"][1]["categoryName"] == "Retention" and page["items"][0]["categoryName"] is None
    active = await call(sdb, "listOffers", {"status": "active"})
    assert [o["name"] for o in active["items"]] == ["A"] and active["pagination"]["total"] == 1


async def test_duplicate_names_conflict(sdb: Database) -> None:
    first = await call(sdb, "createOffer", {"name": "Dup"})
    error = await fails(sdb, "createOffer", {"name": "Dup"})
    assert error.code == "CONFLICT" and error.field == "name"
    other = await call(sdb, "createOffer", {"name": "Other"})
    error = await fails(sdb, "updateOffer", {"offerId": other["id"], "name": "Dup"})
    assert error.code == "CONFLICT" and error.field == "name"
    # renaming an offer to its own name is not a conflict
    assert (await call(sdb, "updateOffer", {"offerId": first["id"], "name": "Dup"}))["name"] == "Dup"

    await call(sdb, "deleteEntity", {"entityType": "offer", "id": first["id"]})
    error = await fails(sdb, "createOffer", {"name": "Dup"})
    assert error.code == "CONFLICT" and "deleted" in error.message

    await call(sdb, "createCategory", {"name": "Cards"})
    assert (await fails(sdb, "createCategory", {"name": "Cards"})).code == "CONFLICT"
    # the same name in another tenant is fine
    assert (await call(sdb, "createOffer", {"name": "Dup"}, tenant=OTHER))["name"] == "Dup"


async def test_bad_values_are_validation_errors_naming_the_field(sdb: Database) -> None:
    error = await fails(sdb, "createOffer", {"name": "X", "status": "live"})
    assert error.code == "VALIDATION" and error.field == "status"
    error = await fails(sdb, "createOffer", {"name": "X", "priority": 101})
    assert error.code == "VALIDATION" and error.field == "priority"
    error = await fails(sdb, "createOffer", {"name": ""})
    assert error.code == "VALIDATION" and error.field == "name"
    error = await fails(sdb, "createOffer", {"name": "X", "colour": "red"})
    assert error.code == "VALIDATION" and error.field == "colour"
    offer = await call(sdb, "createOffer", {"name": "X"})
    error = await fails(sdb, "updateOffer", {"offerId": offer["id"], "status": "gone"})
    assert error.code == "VALIDATION" and error.field == "status"
    error = await fails(sdb, "updateOffer", {"offerId": offer["id"], "name": None})
    assert error.code == "VALIDATION" and error.field == "name"


async def test_foreign_ids_must_exist(sdb: Database) -> None:
    error = await fails(sdb, "createOffer", {"name": "X", "categoryId": "cat_missing"})
    assert error.code == "NOT_FOUND" and error.field == "categoryId"
    error = await fails(sdb, "createOffer", {"name": "X", "subCategoryId": "sub_missing"})
    assert error.code == "NOT_FOUND" and error.field == "subCategoryId"
    error = await fails(sdb, "createSubCategory", {"categoryId": "cat_missing", "name": "S"})
    assert error.code == "NOT_FOUND" and error.field == "categoryId"

    cards = await call(sdb, "createCategory", {"name": "Cards"})
    loans = await call(sdb, "createCategory", {"name": "Loans"})
    gold = await call(sdb, "createSubCategory", {"categoryId": cards["id"], "name": "Gold"})
    error = await fails(
        sdb, "createOffer", {"name": "X", "categoryId": loans["id"], "subCategoryId": gold["id"]}
    )
    assert error.code == "VALIDATION" and error.field == "subCategoryId"

    # another tenant's category is invisible
    theirs = await call(sdb, "createCategory", {"name": "Theirs"}, tenant=OTHER)
    error = await fails(sdb, "createOffer", {"name": "X", "categoryId": theirs["id"]})
    assert error.code == "NOT_FOUND" and error.field == "categoryId"


async def test_mandatory_offer_rules(sdb: Database) -> None:
    admin_key = await _api_key(sdb, "admin")
    editor_key = await _api_key(sdb, "editor")
    revoked_key = await _api_key(sdb, "admin", revoked=True)
    base = {
        "name": "Regulatory notice",
        "mandatory": True,
        "mandatoryReason": "Required disclosure",
        "mandatoryExpiresAt": FUTURE,
        "mandatoryApprovedBy": admin_key,
    }
    error = await fails(sdb, "createOffer", base, role="editor")
    assert error.code == "FORBIDDEN"
    error = await fails(sdb, "createOffer", {**base, "mandatoryReason": None})
    assert error.code == "VALIDATION" and error.field == "mandatoryReason"
    error = await fails(sdb, "createOffer", {**base, "mandatoryExpiresAt": PAST})
    assert error.code == "VALIDATION" and error.field == "mandatoryExpiresAt"
    error = await fails(sdb, "createOffer", {**base, "mandatoryExpiresAt": None})
    assert error.code == "VALIDATION" and error.field == "mandatoryExpiresAt"
    error = await fails(sdb, "createOffer", {**base, "mandatoryApprovedBy": "key_nobody"})
    assert error.code == "NOT_FOUND" and error.field == "mandatoryApprovedBy"
    for not_admin in (editor_key, revoked_key):
        error = await fails(sdb, "createOffer", {**base, "mandatoryApprovedBy": not_admin})
        assert error.code == "VALIDATION" and error.field == "mandatoryApprovedBy"
    assert await rows(sdb, Offer) == []

    offer = await call(sdb, "createOffer", base)
    assert offer["mandatory"] is True and offer["mandatoryApprovedBy"] == admin_key
    assert offer["mandatoryExpiresAt"].startswith(FUTURE[:16])
    overrides = [a for a in await audit_rows(sdb) if a.action == "mandatory_override"]
    assert len(overrides) == 1 and overrides[0].entity_id == offer["id"]
    assert overrides[0].after is not None and overrides[0].after["mandatoryReason"] == "Required disclosure"

    # editors may change other fields of a mandatory offer, but not the flag itself
    renamed = await call(sdb, "updateOffer", {"offerId": offer["id"], "priority": 95}, role="editor")
    assert renamed["mandatory"] is True and renamed["priority"] == 95
    error = await fails(sdb, "updateOffer", {"offerId": offer["id"], "mandatory": False}, role="editor")
    assert error.code == "FORBIDDEN"
    cleared = await call(sdb, "updateOffer", {"offerId": offer["id"], "mandatory": False})
    assert cleared["mandatory"] is False and cleared["mandatoryReason"] is None
    assert cleared["mandatoryApprovedBy"] is None and cleared["mandatoryExpiresAt"] is None
    overrides = [a for a in await audit_rows(sdb) if a.action == "mandatory_override"]
    assert (
        len(overrides) == 2 and overrides[1].before is not None and overrides[1].before["mandatory"] is True
    )


async def test_other_tenant_cannot_see_or_change_an_offer(sdb: Database) -> None:
    offer = await call(sdb, "createOffer", {"name": "Mine", "priority": 60})
    for name, args in (
        ("getOffer", {"offerId": offer["id"]}),
        ("updateOffer", {"offerId": offer["id"], "priority": 1}),
        ("deleteEntity", {"entityType": "offer", "id": offer["id"]}),
    ):
        error = await fails(sdb, name, args, tenant=OTHER)
        assert error.code == "NOT_FOUND", name
    assert (await call(sdb, "listOffers", {}, tenant=OTHER))["items"] == []
    (row,) = await rows(sdb, Offer)
    assert row.priority == 60 and row.deleted_at is None and row.version == 1


async def test_cursor_pagination_over_five_offers(sdb: Database) -> None:
    for n in range(1, 6):
        await call(sdb, "createOffer", {"name": f"Offer {n}"})
    pages, cursor = [], None
    while True:
        page = await call(sdb, "listOffers", {"limit": 2, **({"cursor": cursor} if cursor else {})})
        pages.append(page)
        cursor = page["pagination"]["nextCursor"]
        if cursor is None:
            break
    assert [[o["name"] for o in p["items"]] for p in pages] == [
        ["Offer 5", "Offer 4"],
        ["Offer 3", "Offer 2"],
        ["Offer 1"],
    ]
    assert [p["pagination"]["total"] for p in pages] == [5, 5, 5]
    assert [p["pagination"]["hasMore"] for p in pages] == [True, True, False]
    assert all(p["pagination"]["limit"] == 2 for p in pages)
    error = await fails(sdb, "listOffers", {"cursor": "not-a-cursor"})
    assert error.code == "VALIDATION" and error.field == "cursor"


async def test_viewer_reads_but_cannot_write(sdb: Database) -> None:
    await call(sdb, "createOffer", {"name": "Visible"})
    page = await call(sdb, "listOffers", {}, role="viewer")
    assert [o["name"] for o in page["items"]] == ["Visible"]
    for name, args in (
        ("createOffer", {"name": "Nope"}),
        ("createCategory", {"name": "Nope"}),
        ("createChannel", {"name": "Nope"}),
        ("deleteEntity", {"entityType": "offer", "id": "off_x"}),
    ):
        assert (await fails(sdb, name, args, role="viewer")).code == "FORBIDDEN", name


async def test_deleting_an_offer_soft_deletes_its_creatives(sdb: Database) -> None:
    channel = await call(sdb, "createChannel", {"name": "Email"})
    offer = await call(sdb, "createOffer", {"name": "BOGO"})
    keep = await call(sdb, "createOffer", {"name": "Keep"})
    ids = []
    for n in range(2):
        creative = await call(
            sdb, "createCreative", {"name": f"BOGO {n}", "offerId": offer["id"], "channelId": channel["id"]}
        )
        ids.append(creative["id"])
    await call(sdb, "createCreative", {"name": "Keep 1", "offerId": keep["id"], "channelId": channel["id"]})
    assert (await call(sdb, "getOffer", {"offerId": offer["id"]}))["creativeCount"] == 2

    result = await call(sdb, "deleteEntity", {"entityType": "offer", "id": offer["id"]})
    assert result["deleted"] is True and result["soft"] is True and result["warnings"] == []
    assert sorted(c["id"] for c in result["cascaded"]) == sorted(ids)

    live = await call(sdb, "listCreatives", {"offerId": offer["id"]})
    assert live["items"] == [] and live["pagination"]["total"] == 0
    with_deleted = await call(sdb, "listCreatives", {"offerId": offer["id"], "includeDeleted": True})
    assert len(with_deleted["items"]) == 2 and all(c["deletedAt"] for c in with_deleted["items"])
    assert all(c.version == 2 for c in await rows(sdb, Creative, offer_id=offer["id"]))
    soft = [a for a in await audit_rows(sdb) if a.action == "soft_delete"]
    assert sorted(str(a.entity_id) for a in soft) == sorted([offer["id"], *ids])
    assert (await call(sdb, "listOffers", {}))["pagination"]["total"] == 1
    assert (await call(sdb, "listOffers", {"includeDeleted": True}))["pagination"]["total"] == 2
    assert (await fails(sdb, "getOffer", {"offerId": offer["id"]})).code == "NOT_FOUND"
