"""Content tools: generation through the provider layer, the versioned library, review flow, sync."""

from __future__ import annotations

import json

import pytest

from kaireon_mcp.core.content import GenerationError
from kaireon_mcp.errors import (
    ConflictError,
    NotFoundError,
    ProviderUnavailableError,
    RouteScopeError,
    ValidationError,
)
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import ContentSource
from tests.content.conftest import Call, Catalog
from tests.data.http_stub import http_stub
from tests.fakes.fake_providers import FakeOpenAI


async def test_generation_without_provider_names_the_variables(call: Call, catalog: Catalog) -> None:
    with pytest.raises(ProviderUnavailableError) as info:
        await call("generateCreativeCopy", {"offerId": catalog.offer_id})
    assert "KAIREON_AI_PROVIDER" in info.value.message and "ANTHROPIC_API_KEY" in info.value.message
    assert info.value.to_dict()["error"]["code"] == "PROVIDER_UNAVAILABLE"
    with pytest.raises(ProviderUnavailableError):
        await call(
            "generateCreativeVariants",
            {"creativeId": catalog.creative_id},
            env={"KAIREON_AI_PROVIDER": "openai"},
        )


async def test_copy_generation_through_a_real_sdk_client(call: Call, catalog: Catalog) -> None:
    answer = {"body": "Double Stars all week on every latte, {{first_name}}! Reply STOP to opt out." * 3}
    with FakeOpenAI([{"json": answer}]) as fake:
        env = {
            "KAIREON_AI_PROVIDER": "openai",
            "OPENAI_API_KEY": fake.api_key,
            "OPENAI_BASE_URL": fake.base_url,
        }
        out = await call(
            "generateCreativeCopy",
            {"offerId": catalog.offer_id, "channelType": "sms", "tone": "urgent"},
            env=env,
        )
    assert out["copy"] == {"body": answer["body"]} and out["provider"] == "openai"
    assert out["warnings"] and "sms allows about 160" in out["warnings"][0]
    sent = fake.request_text()
    assert "Double Stars Week" in sent and "urgent" in sent


async def test_variants_keep_the_creative_fields(call: Call, catalog: Catalog) -> None:
    variants = [
        {"label": f"V{i}", "content": {"subject": f"s{i}", "body": f"b{i}"}, "rationale": "r"}
        for i in range(2)
    ]
    with FakeOpenAI([{"json": {"variants": variants}}, {"json": {"variants": variants[:1]}}]) as fake:
        env = {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url}
        out = await call("generateCreativeVariants", {"creativeId": catalog.creative_id, "count": 2}, env=env)
        assert [v["content"] for v in out["variants"]] == [
            {"subject": "s0", "body": "b0"},
            {"subject": "s1", "body": "b1"},
        ]
        assert out["original"] == {"subject": "2x Stars, {{first_name}}!", "body": "All week long."}
        with pytest.raises(GenerationError, match="1 of 2 variants"):
            await call("generateCreativeVariants", {"creativeId": catalog.creative_id, "count": 2}, env=env)


async def test_library_versions_and_review_flow(call: Call, catalog: Catalog) -> None:
    template = await call(
        "createContentItem",
        {
            "name": "Welcome",
            "channelType": "email",
            "isTemplate": True,
            "content": {"subject": "Hi {{first_name}}", "body": "Your tier: {{ customer.tier }}"},
        },
    )
    assert (template["status"], template["version"]) == ("draft", 1)
    assert template["variables"] == ["customer.tier", "first_name"]
    with pytest.raises(ConflictError):
        await call("createContentItem", {"name": "Welcome", "channelType": "sms"})
    with pytest.raises(ValidationError, match="cannot publish a content item in status draft"):
        await call("publishContentItem", {"contentItemId": template["id"]})
    for action, status in (("submit", "in_review"), ("approve", "approved"), ("publish", "published")):
        moved = await call("publishContentItem", {"contentItemId": template["id"], "action": action})
        assert moved["status"] == status
    edited = await call(
        "updateContentItem", {"contentItemId": template["id"], "content": {"body": "Hey {{name}}"}}
    )
    assert (edited["version"], edited["status"], edited["variables"]) == (5, "draft", ["name"])
    got = await call("getContentItem", {"contentItemId": template["id"], "includeVersions": True})
    assert [v["version"] for v in got["versions"]] == [5, 1]
    assert got["versions"][1]["snapshot"]["content"]["subject"] == "Hi {{first_name}}"
    child = await call(
        "createContentItem", {"name": "Welcome SMS", "channelType": "sms", "parentTemplateId": template["id"]}
    )
    with pytest.raises(ValidationError, match="not a template"):
        await call("createContentItem", {"name": "x", "channelType": "sms", "parentTemplateId": child["id"]})
    templates = await call("listContentTemplates", {"category": "email"})
    assert [(t["name"], t["variables"]) for t in templates["items"]] == [("Welcome", ["name"])]
    assert (await call("listContentTemplates", {"category": "sms"}))["items"] == []
    listed = await call("listContentItems", {"isTemplate": False})
    assert [i["name"] for i in listed["items"]] == ["Welcome SMS"]
    with pytest.raises(NotFoundError):
        await call("getContentItem", {"contentItemId": template["id"]}, tenant="t2")


async def test_content_tools_are_scoped_to_the_treatments_route(call: Call, catalog: Catalog) -> None:
    with pytest.raises(RouteScopeError):
        await call("listContentItems", {}, route="/data/schemas")
    assert (await call("listContentItems", {}, route="/"))["items"] == []


async def _source(db: Database, config: dict) -> str:
    async with db.tenant(TenantContext(tenant_id="t1")) as repo:
        return str(
            (
                await repo.create(
                    ContentSource, {"name": "CMS", "source_type": "contentful", "config": config}
                )
            ).id
        )


async def test_sync_from_inline_payload_creates_then_versions(
    call: Call, catalog: Catalog, db: Database
) -> None:
    items = [
        {
            "id": "e1",
            "title": "Spring promo",
            "channelType": "push",
            "headline": "Spring!",
            "body": "Hi {{first_name}}",
        },
        {"id": "e2", "name": "Summer promo", "content": {"body": "Sun"}},
        {"title": "no id"},
    ]
    source_id = await _source(db, {"items": items, "accessToken": "cms-secret"})
    first = await call("syncContentSource", {"sourceId": source_id})
    assert (first["created"], first["updated"], first["unchanged"]) == (2, 0, 0)
    assert first["skipped"] == [{"index": 2, "reason": "needs an id and a name/title"}]
    async with db.tenant(TenantContext(tenant_id="t1")) as repo:
        source = await repo.get(ContentSource, source_id)
        await repo.update(
            ContentSource, source, {"config": {"items": [{**items[0], "body": "New"}, items[1]]}}
        )
    second = await call("syncContentSource", {"sourceId": source_id})
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 1, 1)
    spring = (await call("listContentItems", {"sourceType": "contentful", "channelType": "push"}))["items"][0]
    assert spring["content"] == {"headline": "Spring!", "body": "New"} and spring["version"] == 2
    sources = await call("listContentSources")
    assert sources["items"][0]["syncedItems"] == 2 and "cms-secret" not in json.dumps(sources)


async def test_sync_from_loopback_url_and_refusals(call: Call, catalog: Catalog, db: Database) -> None:
    async with http_stub({"/cms": (200, {"items": [{"id": "x", "name": "From URL", "body": "b"}]})}) as (
        base,
        _,
    ):
        source_id = await _source(db, {"url": base + "/cms"})
        out = await call("syncContentSource", {"sourceId": source_id})
    assert out["created"] == 1
    remote = await _source(db, {"url": "https://cdn.contentful.com/spaces/x"})
    with pytest.raises(ValidationError, match="loopback"):
        await call("syncContentSource", {"sourceId": remote})
    bare = await _source(db, {"spaceId": "x"})
    with pytest.raises(ValidationError, match="config.items"):
        await call("syncContentSource", {"sourceId": bare})
