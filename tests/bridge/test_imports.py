"""Document import: upload, proposals, apply (201), rollback (422), revert, 409, 404, isolation."""

from __future__ import annotations

import httpx

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import Interaction
from tests.bridge.conftest import TENANT_A, TENANT_B, Bridge

CSV = """entityType,name,description,offerName,channelName,templateType
category,Imported Cat,from a deck,,,
offer,Imported Offer,great offer,,,
channel,Imported Email,,,,
creative,Imported Creative,,Imported Offer,Imported Email,email_html
offer,Skipped Offer,nope,,,
"""
MARKDOWN = """# Offers

| name | description |
|------|-------------|
| Markdown Offer | from a table |

## Categories
- Seasonal - winter things
- Category: Loyalty
"""


async def _upload(client: httpx.AsyncClient, content: str = CSV, name: str = "deck.csv") -> dict:  # type: ignore[type-arg]
    response = await client.post("/api/v1/ai/imports", json={"filename": name, "content": content})
    assert response.status_code in (200, 201), response.text
    return response.json()


def _by_name(proposals: list[dict]) -> dict[str, dict]:  # type: ignore[type-arg]
    return {p["payload"]["name"]: p for p in proposals}


async def test_upload_extracts_and_is_idempotent(bridge: Bridge) -> None:
    async with bridge.client(role="editor") as client:
        first = await _upload(client)
        assert first["created"] is True
        assert [p["entityType"] for p in first["proposals"]] == [
            "category",
            "offer",
            "channel",
            "creative",
            "offer",
        ]
        assert first["proposals"][1]["sourceQuote"] == "offer,Imported Offer,great offer,,,"
        again = await client.post("/api/v1/ai/imports", json={"filename": "deck.csv", "content": CSV})
        assert again.status_code == 200 and again.json()["created"] is False
        listed = (await client.get(f"/api/v1/ai/imports/{first['attachment']['id']}/proposals")).json()
        assert len(listed["proposals"]) == 5


async def test_markdown_and_multipart_uploads(bridge: Bridge) -> None:
    async with bridge.client(role="editor") as client:
        response = await client.post(
            "/api/v1/ai/imports", files={"file": ("notes.md", MARKDOWN.encode(), "text/markdown")}
        )
        assert response.status_code == 201
        kinds = [(p["entityType"], p["payload"]["name"]) for p in response.json()["proposals"]]
        assert kinds == [("offer", "Markdown Offer"), ("category", "Seasonal"), ("category", "Loyalty")]
        pdf = await client.post(
            "/api/v1/ai/imports", files={"file": ("a.pdf", b"%PDF-1.4 x", "application/pdf")}
        )
        assert pdf.status_code == 400


async def test_apply_revert_and_skip_digest(bridge: Bridge) -> None:
    async with bridge.client(role="editor") as client:
        upload = await _upload(client)
        props = _by_name(upload["proposals"])
        verdicts = [{"proposalId": props[n]["id"], "verdict": "create-new"} for n in
                    ("Imported Cat", "Imported Offer", "Imported Email", "Imported Creative")]  # fmt: skip
        verdicts.append({"proposalId": props["Skipped Offer"]["id"], "verdict": "skip"})
        applied = await client.post(
            f"/api/v1/ai/imports/{upload['attachment']['id']}/apply",
            json={"conversationId": "c1", "verdicts": verdicts},
        )
        assert applied.status_code == 201, applied.text
        body = applied.json()
        assert body["ok"] is True and len(body["createdEntityIds"]) == 4
        assert body["skippedProposalIds"] == [props["Skipped Offer"]["id"]]
        # the skipped proposal no longer comes back from a new upload of the same rows
        again = await _upload(client, CSV.replace("from a deck", "from a second deck"), "deck2.csv")
        assert "Skipped Offer" not in _by_name(again["proposals"]) and again["filteredBySkipDigest"] == 1
        offer_id = next(e["entityId"] for e in body["createdEntityIds"] if e["entityType"] == "offer")
        async with bridge.db.tenant(TenantContext(TENANT_A)) as repo:
            repo.session.add(
                Interaction(
                    id="ih_x",
                    tenant_id=TENANT_A,
                    customer_id="C1",
                    offer_id=offer_id,
                    interaction_type="click",
                )
            )
        reverted = await client.post(f"/api/v1/ai/imports/{body['applyId']}/revert")
        assert reverted.status_code == 200
        result = reverted.json()
        deleted = {e["entityType"] for e in result["deletedEntityIds"]}
        assert deleted == {"creative", "channel", "category"}
        assert result["orphanedRefusals"] == [
            {
                "entityType": "offer",
                "entityId": offer_id,
                "reason": "Foreign key constraint: 1 child interactionHistory rows reference this offer",
            }
        ]
        assert (await client.post(f"/api/v1/ai/imports/{body['applyId']}/revert")).status_code == 409
        assert (await client.post("/api/v1/ai/imports/apply_nope/revert")).status_code == 404


async def test_failing_verdict_rolls_back_everything(bridge: Bridge) -> None:
    bad = CSV + "creative,Broken Creative,,Missing Offer,Imported Email,email_html\n"
    async with bridge.client(role="editor") as client:
        upload = await _upload(client, bad)
        props = upload["proposals"]
        verdicts = [{"proposalId": p["id"], "verdict": "create-new"} for p in props]
        response = await client.post(
            f"/api/v1/ai/imports/{upload['attachment']['id']}/apply", json={"verdicts": verdicts}
        )
        assert response.status_code == 422
        body = response.json()
        assert body == {
            "ok": False,
            "status": "rolled_back",
            "failedProposalId": props[-1]["id"],
            "errorMessage": "offer 'Missing Offer' not found",
            "errorField": "offerId",
        }
        # nothing survived: the same verdicts minus the broken one now succeed from scratch
        ok = await client.post(
            f"/api/v1/ai/imports/{upload['attachment']['id']}/apply", json={"decisions": verdicts[:-1]}
        )
        assert ok.status_code == 201 and len(ok.json()["createdEntityIds"]) == 5


async def test_merge_into_existing_and_validation(bridge: Bridge) -> None:
    async with bridge.client(role="editor") as client:
        first = await _upload(client, "name,description\nMerge Me,old\n", "offers.csv")
        await client.post(
            f"/api/v1/ai/imports/{first['attachment']['id']}/apply",
            json={"verdicts": [{"proposalId": first["proposals"][0]["id"], "verdict": "create-new"}]},
        )
        second = await _upload(client, "name,description\nMerge Me,new text\n", "offers2.csv")
        prop = second["proposals"][0]
        assert prop["dedupeMatch"]["method"] == "exact"
        url = f"/api/v1/ai/imports/{second['attachment']['id']}/apply"
        merged = await client.post(
            url, json={"verdicts": [{"proposalId": prop["id"], "verdict": "merge-into-existing"}]}
        )
        assert merged.status_code == 201 and merged.json()["mergedEntityIds"][0]["entityType"] == "offer"
        dup = [{"proposalId": prop["id"], "verdict": "skip"}] * 2
        assert (await client.post(url, json={"verdicts": dup})).status_code == 400
        assert (
            await client.post(url, json={"verdicts": [{"proposalId": prop["id"], "verdict": "maybe"}]})
        ).status_code == 400
        assert (await client.post(url, json={"verdicts": []})).status_code == 400
        foreign = [{"proposalId": first["proposals"][0]["id"], "verdict": "skip"}]
        assert (await client.post(url, json={"verdicts": foreign})).status_code == 400
        assert (
            await client.post("/api/v1/ai/imports/att_nope/apply", json={"verdicts": foreign})
        ).status_code == 404


async def test_other_tenants_cannot_touch_imports(bridge: Bridge) -> None:
    async with bridge.client(TENANT_A, "editor") as a, bridge.client(TENANT_B, "editor") as b:
        upload = await _upload(a)
        att = upload["attachment"]["id"]
        verdicts = [{"proposalId": upload["proposals"][0]["id"], "verdict": "create-new"}]
        assert (await b.get(f"/api/v1/ai/imports/{att}/proposals")).status_code == 404
        assert (
            await b.post(f"/api/v1/ai/imports/{att}/apply", json={"verdicts": verdicts})
        ).status_code == 404
        apply_id = (await a.post(f"/api/v1/ai/imports/{att}/apply", json={"verdicts": verdicts})).json()[
            "applyId"
        ]
        assert (await b.post(f"/api/v1/ai/imports/{apply_id}/revert")).status_code == 404
        # the same file uploaded by tenant B is a new attachment of B
        assert (await _upload(b))["attachment"]["id"] != att
