"""Consent (decisioning-core.md sections 2.27 and 3.2 step 5) on the demo tenant.

C-0003 passes qualification for nine of the ten demo offers and is under every contact-policy
cap on every demo channel (email, web, push, in-app); the Base flow returns the top three. Any
offer that goes missing here went missing at the consent step.
Each test first takes the decision without consent data, then adds records, attributes or
settings and checks what consent removed and how the trace explains it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

import kaireon_mcp.core.decisioning.consent as consent_mod
from kaireon_mcp.core.decisioning.api import RecommendRequest
from kaireon_mcp.core.decisioning.consent import (
    ConsentStatus,
    normalize_purpose,
    read_attribute,
    records_by_purpose,
)
from kaireon_mcp.core.decisioning.engine import Engine
from kaireon_mcp.core.decisioning.recommend import decide, recommend_with
from kaireon_mcp.core.intelligence.decisions import compare_offer_eligibility, explain_decision
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import ConsentRecord, DataSchema, DecisionTrace, Offer, SchemaRow, Tenant
from kaireon_mcp.storage.types import utcnow
from tests.bridge.conftest import build_app, mint_keys

DEMO = TenantContext(tenant_id="demo", role="admin")
CUSTOMER = "C-0003"
OTHER_TENANT = "tenant-b"


# ---- helpers ---------------------------------------------------------------------------------
def _body(channel: str | None, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "customerId": CUSTOMER,
        "limit": 5,
        "debug": True,
        **({"channel": channel} if channel else {}),
        **body,
    }


async def recommend(db: Database, channel: str | None, **body: Any) -> dict[str, Any]:
    """The bridge's own entry point: decide on a read snapshot, then group-commit (persists)."""
    return await recommend_with(db, DEMO, RecommendRequest.model_validate(_body(channel, body)))


async def rec(db: Database, channel: str | None, **body: Any) -> dict[str, Any]:
    """``decide()`` alone, shaped like a debug response: nothing is written, so the contact
    history (and with it every cap) stays as seeded between the calls of a test."""
    async with db.reader(DEMO) as repo:
        engine = await Engine.load(repo)
        decision = await decide(
            engine, RecommendRequest.model_validate(_body(channel, body)).model_dump(by_alias=True)
        )
    state = decision.state
    return {
        "decisions": [{"offerId": c.offer_id, "mandatory": c.mandatory} for c in state.candidates],
        "meta": {"dropped": state.dropped, "funnel": state.funnel},
    }


def offer_ids(result: dict[str, Any]) -> list[str]:
    return [d["offerId"] for d in result["decisions"]]


def consent_drops(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in result["meta"]["dropped"] if d["stage"] == "consent"]


async def add_consent(
    db: Database, purpose: str, status: str, *, tenant: str = "demo", subject: str = CUSTOMER, **kw: Any
) -> str:
    async with db.tenant(TenantContext(tenant_id=tenant, role="admin")) as repo:
        row = await repo.create(
            ConsentRecord, {"subject_id": subject, "purpose": purpose, "status": status, **kw}
        )
        return row.id


async def set_settings(db: Database, **consent: Any) -> None:
    async with db.session() as session:
        tenant = await session.get(Tenant, "demo")
        assert tenant is not None
        tenant.settings = {**tenant.settings, "consent": consent}


async def set_profile(db: Database, customer: str, **values: Any) -> None:
    async with db.session() as session:
        row = (
            await session.execute(
                select(SchemaRow)
                .join(DataSchema, DataSchema.id == SchemaRow.schema_id)
                .where(DataSchema.tenant_id == "demo", SchemaRow.row_key == customer)
            )
        ).scalar_one()
        row.data = {**row.data, **values}


async def baseline(db: Database) -> dict[str, list[str]]:
    """The three offers returned per channel, and under ``eligible`` the nine that reach consent."""
    out = {}
    for channel in ("email", "web", "push", "in_app"):
        result = await rec(db, channel)
        out[channel] = offer_ids(result)
        ranked_out = {
            d["offerId"] for d in result["meta"]["dropped"] if d["stage"] in {"ranking", "response"}
        }
        eligible = sorted(ranked_out | set(out[channel]))
        assert len(out[channel]) == 3 and len(eligible) == 9, result
        assert out.setdefault("eligible", eligible) == eligible  # the same nine on every channel
    return out


# ---- through the bridge's recommend_with ------------------------------------------------------
async def test_revoked_email_record_blocks_email_offers_but_not_web(demo_db: Database) -> None:
    before = await baseline(demo_db)
    record_id = await add_consent(demo_db, "email", "revoked", source="api")

    email = await recommend(demo_db, "email")
    assert email["decisions"] == []
    drops = consent_drops(email)
    assert sorted(d["offerId"] for d in drops) == before["eligible"]
    reason = f"consent for purpose 'email' is revoked (consent record {record_id}, source api)"
    for drop in drops:
        assert drop["reason"] == reason
        assert drop["nodeType"] == "contact_policy" and drop["ruleType"] == "consent"
        assert drop["purpose"] == "email" and drop["consentSource"] == "record"
        assert drop["detail"] == {
            "purpose": "email",
            "status": "revoked",
            "source": "record",
            "recordId": record_id,
            "recordSource": "api",
        }
    funnel = email["meta"]["funnel"]
    assert funnel["afterQualification"] == 9 and funnel["afterConsent"] == 0
    assert funnel["afterContactPolicy"] == 0

    web = await recommend(demo_db, "web")
    assert offer_ids(web) == before["web"] and consent_drops(web) == []
    assert web["meta"]["funnel"]["afterConsent"] == 9
    # push and in-app need marketing only besides their own purpose: unaffected too
    assert offer_ids(await rec(demo_db, "push")) == before["push"]
    assert offer_ids(await rec(demo_db, "in_app")) == before["in_app"]

    # the persisted decision trace carries the same drops
    async with demo_db.session() as session:
        trace = await session.get(DecisionTrace, email["traceId"])
        assert trace is not None
        consent_ids = sorted(d["offerId"] for d in trace.dropped if d["stage"] == "consent")
        assert consent_ids == before["eligible"]


async def test_revoked_email_through_the_http_bridge(demo_db: Database) -> None:
    await add_consent(demo_db, "email", "revoked")
    app = build_app(demo_db)
    keys = await mint_keys(demo_db, ("demo",))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bridge.test",
        headers={"X-API-Key": keys[("demo", "editor")]},
    ) as client:
        email = await client.post(
            "/api/v1/recommend", json={"customerId": CUSTOMER, "channel": "email", "debug": True}
        )
        web = await client.post("/api/v1/recommend", json={"customerId": CUSTOMER, "channel": "web"})
    assert email.status_code == 200 and web.status_code == 200, (email.text, web.text)
    assert email.json()["decisions"] == []
    stages = [d["stage"] for d in email.json()["meta"]["dropped"]]
    assert stages.count("consent") == 9 and stages.count("qualification") == 1
    assert len(web.json()["decisions"]) == 3


async def test_revoked_marketing_blocks_every_channel(demo_db: Database) -> None:
    before = await baseline(demo_db)
    record_id = await add_consent(demo_db, "marketing", "revoked", source="import")
    for channel in ("email", "web", "push", "in_app"):
        result = await rec(demo_db, channel)
        assert result["decisions"] == [], channel
        drops = consent_drops(result)
        assert sorted(d["offerId"] for d in drops) == before["eligible"]
        assert {d["reason"] for d in drops} == {
            f"consent for purpose 'marketing' is revoked (consent record {record_id}, source import)"
        }


async def test_pending_record_blocks(demo_db: Database) -> None:
    before = await baseline(demo_db)
    await add_consent(demo_db, "push", "pending")
    push = await rec(demo_db, "push")
    assert push["decisions"] == []
    assert {d["detail"]["status"] for d in consent_drops(push)} == {"pending"}
    assert all("'push' is pending" in d["reason"] for d in consent_drops(push))
    assert offer_ids(await rec(demo_db, "email")) == before["email"]


async def test_granted_record_overrides_a_false_attribute(demo_db: Database) -> None:
    before = await baseline(demo_db)
    await add_consent(demo_db, "email", "granted")
    await set_profile(demo_db, CUSTOMER, consent_email=False)
    result = await rec(demo_db, "email", attributes={"consent_email": "false"})
    assert offer_ids(result) == before["email"] and consent_drops(result) == []


async def test_attribute_fallback_from_the_request(demo_db: Database) -> None:
    before = await baseline(demo_db)
    email = await rec(demo_db, "email", attributes={"consent_email": "no"})
    assert email["decisions"] == []
    assert {d["reason"] for d in consent_drops(email)} == {
        "consent for purpose 'email' is revoked (customer attribute consent_email = 'no')"
    }
    assert consent_drops(email)[0]["consentSource"] == "attribute"
    web = await rec(demo_db, "web", attributes={"consent_email": "no"})
    assert offer_ids(web) == before["web"]
    # truthy spellings grant; camel spelling of third_party is read for partner offers
    assert offer_ids(await rec(demo_db, "email", attributes={"consent_email": "Yes"})) == before["email"]
    async with demo_db.session() as session:
        await session.execute(
            update(Offer)
            .where(Offer.id == before["web"][0])
            .values(metadata_={"consentPurposes": ["thirdParty"]})
        )
    partner = await rec(demo_db, "web", attributes={"consent_thirdParty": False})
    assert before["web"][0] not in offer_ids(partner) and len(offer_ids(partner)) == 3
    assert partner["meta"]["funnel"]["afterConsent"] == 8
    assert [d["offerId"] for d in consent_drops(partner)] == [before["web"][0]]
    assert consent_drops(partner)[0]["reason"] == (
        "consent for purpose 'third_party' is revoked (customer attribute consent_thirdParty = false)"
    )


async def test_attribute_fallback_from_the_profile_row(demo_db: Database) -> None:
    before = await baseline(demo_db)
    await set_profile(demo_db, CUSTOMER, consent_marketing="revoked")
    web = await rec(demo_db, "web")
    assert web["decisions"] == []
    assert {d["reason"] for d in consent_drops(web)} == {
        "consent for purpose 'marketing' is revoked (customer attribute consent_marketing = 'revoked')"
    }
    # the request's attributes win over the profile row (they are merged over it)
    assert offer_ids(await rec(demo_db, "web", attributes={"consent_marketing": True})) == before["web"]
    # an unreadable value is not a grant
    await set_profile(demo_db, CUSTOMER, consent_marketing="maybe")
    assert "not a recognised consent value" in consent_drops(await rec(demo_db, "web"))[0]["reason"]
    # a null value is no information: allowed
    await set_profile(demo_db, CUSTOMER, consent_marketing=None)
    assert offer_ids(await rec(demo_db, "web")) == before["web"]


async def test_attribute_fallback_can_be_disabled_per_tenant(demo_db: Database) -> None:
    before = await baseline(demo_db)
    await set_profile(demo_db, CUSTOMER, consent_marketing=False)
    await set_settings(demo_db, attributeFallback=False)
    web = await rec(demo_db, "web", attributes={"consent_email": False})
    email = await rec(demo_db, "email", attributes={"consent_email": False})
    assert offer_ids(web) == before["web"] and offer_ids(email) == before["email"]
    # records still apply with the fallback off
    await add_consent(demo_db, "email", "revoked")
    assert (await rec(demo_db, "email"))["decisions"] == []
    assert offer_ids(await rec(demo_db, "web")) == before["web"]


async def test_channel_purposes_can_be_mapped_per_tenant(demo_db: Database) -> None:
    before = await baseline(demo_db)
    await add_consent(demo_db, "sms", "revoked")
    assert offer_ids(await rec(demo_db, "in_app")) == before["in_app"]  # in_app: marketing only
    await set_settings(demo_db, channelPurposes={"in_app": "sms", "email": None})
    in_app = await rec(demo_db, "in_app")
    assert in_app["decisions"] == [] and {d["purpose"] for d in consent_drops(in_app)} == {"sms"}
    # email mapped to marketing only: a revoked email purpose no longer applies to it
    await add_consent(demo_db, "email", "revoked")
    assert offer_ids(await rec(demo_db, "email")) == before["email"]


async def test_tenant_isolation(demo_db: Database) -> None:
    before = await baseline(demo_db)
    await demo_db.ensure_tenant(OTHER_TENANT)
    await add_consent(demo_db, "marketing", "revoked", tenant=OTHER_TENANT)
    await add_consent(demo_db, "email", "revoked", tenant=OTHER_TENANT)
    for channel in ("email", "web"):
        result = await rec(demo_db, channel)
        assert offer_ids(result) == before[channel] and consent_drops(result) == []
    # and a demo record for another customer does not touch C-0003 either
    await add_consent(demo_db, "marketing", "revoked", subject="C-0004")
    assert offer_ids(await rec(demo_db, "web")) == before["web"]


async def test_mandatory_offers_are_blocked_by_consent_too(demo_db: Database) -> None:
    async with demo_db.session() as session:
        await session.execute(
            update(Offer).where(Offer.id == "off_demo_info_4_day_brand_story").values(mandatory=True)
        )
    web = await rec(demo_db, "web")
    assert web["decisions"][0]["offerId"] == "off_demo_info_4_day_brand_story"
    assert web["decisions"][0]["mandatory"] is True
    await add_consent(demo_db, "marketing", "revoked")
    blocked = await rec(demo_db, "web")
    assert blocked["decisions"] == []
    assert "off_demo_info_4_day_brand_story" in {d["offerId"] for d in consent_drops(blocked)}


# ---- explanations --------------------------------------------------------------------------
async def test_explain_decision_and_eligibility_name_consent(demo_db: Database) -> None:
    before = await baseline(demo_db)
    record_id = await add_consent(demo_db, "email", "revoked", source="manual")
    async with demo_db.tenant(DEMO) as repo:
        out = await explain_decision(repo, CUSTOMER, channel="email")
        one = await explain_decision(repo, CUSTOMER, channel="email", offer_id=before["email"][0])
        eligibility = await compare_offer_eligibility(repo, CUSTOMER, before["email"][:2], channel="email")
    reason = f"consent for purpose 'email' is revoked (consent record {record_id}, source manual)"
    dropped = [t for t in out.offers if t.outcome == "dropped"]
    assert sorted(t.offerId for t in dropped if t.stage == "consent") == before["eligible"]
    assert "9 dropped at consent for purpose 'email': " + reason in out.summary
    trace = one.offers[0]
    assert trace.stage == "consent" and trace.reason == reason and trace.ruleType == "consent"
    assert trace.checks[-1] == f"FAIL consent email: {reason}"
    assert one.summary.startswith(f"{trace.offerName} is dropped at node ")
    assert f"(consent): {reason}." in one.summary
    for row in eligibility.offers:
        assert row.eligible is False and row.consentBlocked is True and row.contactPolicyBlocked is None
        assert row.primaryReason == reason and row.consent and row.consent["recordId"] == record_id
    assert eligibility.summary["blockedByConsent"] == 2
    assert eligibility.summary["blockedByContactPolicy"] == 0


# ---- engine details ------------------------------------------------------------------------
async def _engine_decide(db: Database, request: dict[str, Any], nodes: list[dict[str, Any]] | None = None):  # noqa: ANN202
    async with db.reader(DEMO) as repo:
        engine = await Engine.load(repo)
        if nodes is None:
            return await decide(engine, {"customerId": CUSTOMER, "limit": 10, **request})
        state = await engine.new_state({"customerId": CUSTOMER, "limit": 10, **request}, utcnow())
        await engine.run(state, nodes)
        return state


async def test_flow_without_contact_policy_node_still_checks_consent(demo_db: Database) -> None:
    nodes = [
        {"id": "n1", "type": "inventory", "config": {}},
        {"id": "n2", "type": "match_creatives", "config": {}},
        {"id": "n3", "type": "enrich", "config": {}},
        {"id": "n4", "type": "qualify", "config": {}},
        {"id": "n5", "type": "score", "config": {}},
        {"id": "n6", "type": "rank", "config": {"maxCandidates": 10}},
    ]
    state = await _engine_decide(demo_db, {"channel": "email"}, nodes)
    assert len(state.candidates) == 9
    await add_consent(demo_db, "email", "revoked")
    state = await _engine_decide(demo_db, {"channel": "email"}, nodes)
    assert state.candidates == []
    consent_stage = [s for s in state.stages if s["type"] == "consent"]
    assert [s["nodeId"] for s in state.stages] == ["n1", "n2", "n3", "n4", "consent", "n5", "n6"]
    assert consent_stage[0]["in"] == 9 and consent_stage[0]["out"] == 0
    assert {d["nodeId"] for d in state.dropped if d["stage"] == "consent"} == {"consent"}
    # a flow without enrich reads the profile row for consent only
    no_enrich = [n for n in nodes if n["type"] not in {"enrich", "qualify"}]
    async with demo_db.tenant(DEMO) as repo:
        await repo.session.execute(update(ConsentRecord).values(status="granted"))
    await set_profile(demo_db, CUSTOMER, consent_push=False)
    state = await _engine_decide(demo_db, {"channel": "push"}, no_enrich)
    assert state.candidates == [] and not state.enriched
    assert "consent_push = false" in state.dropped[-1]["reason"]


async def test_without_a_channel_blocked_creatives_are_pruned_not_the_offer(demo_db: Database) -> None:
    await add_consent(demo_db, "email", "revoked")
    decision = await _engine_decide(demo_db, {})
    email_channel = "chn_demo_starbucks_email"
    assert decision.state.candidates
    for cand in decision.state.candidates:
        assert all(c["channelId"] != email_channel for c in cand.creatives)
        assert cand.creative is None or cand.creative["channelId"] != email_channel
    assert not [d for d in decision.state.dropped if d["stage"] == "consent"]


# ---- cost: no consent query for a tenant without records, one per decision otherwise ----------
async def test_consent_records_are_read_only_when_the_tenant_has_any(
    demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Any] = []
    original = Repository.select_rows

    async def counting(self: Repository, stmt: Any, params: dict[str, Any]) -> Any:
        if stmt is consent_mod._RECORDS:
            reads.append(params)
        return await original(self, stmt, params)

    monkeypatch.setattr(Repository, "select_rows", counting)
    await recommend(demo_db, "web")
    assert reads == []
    await add_consent(demo_db, "sms", "revoked", subject="C-0009")  # another customer's record
    body = {"placements": [{"placementId": "hero_banner"}, {"placementId": "sidebar_widget"}]}
    await recommend(demo_db, "web", **body)
    assert reads == [{"tenant": "demo", "customer": CUSTOMER}]  # two placements, one read


# ---- pure helpers --------------------------------------------------------------------------
def test_reading_values_and_purposes() -> None:
    assert [read_attribute(v) for v in (True, False, 1, 0, "GRANTED", " no ", "opt-out", "pending")] == [
        "granted",
        "revoked",
        "granted",
        "revoked",
        "granted",
        "revoked",
        "revoked",
        "pending",
    ]
    assert read_attribute(None) is None and read_attribute("") is None
    assert read_attribute("maybe") == "unrecognised" and read_attribute(2) == "unrecognised"
    assert [normalize_purpose(p) for p in ("Email", "thirdParty", "third-party", "fax")] == [
        "email",
        "third_party",
        "third_party",
        None,
    ]
    merged = records_by_purpose(
        [("a", "email", "granted", "api"), ("b", "Email", "revoked", "import"), ("c", "fax", "revoked", "x")]
    )
    assert merged == {
        "email": ConsentStatus("email", "revoked", "record", record_id="b", record_source="import")
    }
