"""explainDecision, compareOfferEligibility, listCustomerSuppressions and traceCustomerJourney.

The demo's C-0001 has exactly 3 email impressions this ISO week and the "Email 3 per week"
policy caps email at 3: every offer on email must be explained as blocked by it, 3 of 3.
"""

from __future__ import annotations

from typing import Any

import pytest

import kaireon_mcp.tools.runtime  # noqa: F401 - registers recommend
from kaireon_mcp.core.contact_policy import window_bounds
from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.types import utcnow
from tests.intelligence.conftest import Fixture, call

EMAIL_CAP = "Email 3 per week"


async def demo(db: Database, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return await call(db, name, args, tenant="demo")


async def test_c0001_on_email_is_explained_as_blocked_by_the_weekly_cap_3_of_3(demo_db: Database) -> None:
    out = await demo(demo_db, "explainDecision", {"customerId": "C-0001", "channel": "email"})
    assert out["channel"] == "Starbucks Email" and out["decisionFlowKey"] == "starbucks-nba"
    loaded = [o for o in out["offers"] if o["outcome"] != "not_loaded"]
    assert len(loaded) == 10
    for offer in loaded:
        assert offer["outcome"] == "dropped" and offer["stage"] == "contact_policy"
        assert offer["nodeId"] == "contact" and offer["policyName"] == EMAIL_CAP
        assert offer["detail"]["count"] == 3 and offer["detail"]["limit"] == 3
        assert offer["detail"]["window"] == "week"
        assert offer["passedNodes"] == ["inventory", "match", "enrich", "qualify"]
        assert any(c.startswith(f"FAIL {EMAIL_CAP}") for c in offer["checks"])
    assert EMAIL_CAP in out["summary"] and "3 of 3 per week" in out["summary"]
    next_monday = window_bounds("week", utcnow())[1]
    assert loaded[0]["detail"]["resetsAt"] == next_monday.isoformat()


async def test_explain_one_offer_and_agreement_with_recommend(demo_db: Database) -> None:
    out = await demo(demo_db, "explainDecision", {"customerId": "C-0005", "channel": "web"})
    selected = [o["offerId"] for o in out["offers"] if o["outcome"] == "selected"]
    ranked_out = [o for o in out["offers"] if o["outcome"] == "ranked_out"]
    assert len(selected) == 3  # the demo flow's rank node keeps 3
    assert all(o["rank"] > 3 and o["score"] is not None and o["factors"] for o in ranked_out)
    rec = await demo(demo_db, "recommend", {"customerId": "C-0005", "channel": "web"})
    assert [d["offerId"] for d in rec["decisions"]] == selected
    one = await demo(
        demo_db, "explainDecision", {"customerId": "C-0005", "channel": "web", "offerId": selected[0]}
    )
    assert [o["offerId"] for o in one["offers"]] == [selected[0]]
    assert one["offers"][0]["rank"] == 1 and set(one["offers"][0]["factors"]) >= {"P", "R", "I", "E"}
    assert one["summary"].startswith(f"{one['offers'][0]['offerName']} is returned to C-0005 at rank 1")


async def test_explain_not_found_names_the_id(demo_db: Database) -> None:
    cases = [
        ({"customerId": "C-9999"}, "customerId", "C-9999"),
        ({"customerId": "C-0001", "offerId": "off_nope"}, "offerId", "off_nope"),
        ({"customerId": "C-0001", "decisionFlowKey": "no-flow"}, "decisionFlowKey", "no-flow"),
        ({"customerId": "C-0001", "channel": "fax"}, "channel", "fax"),
    ]
    for args, field, ident in cases:
        with pytest.raises(NotFoundError) as err:
            await demo(demo_db, "explainDecision", args)
        assert err.value.field == field and ident in err.value.message


async def test_compare_offer_eligibility_rows(demo_db: Database) -> None:
    ids = ["off_demo_bogo_5_day_easy", "off_demo_discount_7_day_7"]
    out = await demo(
        demo_db, "compareOfferEligibility", {"customerId": "C-0001", "offerIds": ids, "channel": "email"}
    )
    assert [r["offerId"] for r in out["offers"]] == ids
    for row in out["offers"]:
        assert row["eligible"] is False and row["contactPolicyBlocked"] is True
        assert row["qualificationPassed"] is True and row["hasCreatives"] and row["creativeCount"] == 1
        assert row["blockedPolicies"][0]["policyName"] == EMAIL_CAP
        assert {r["ruleName"] for r in row["passedRules"]} >= {"Min Age 18", "Min Income $30k"}
    assert out["summary"] == {
        "totalOffers": 2,
        "eligibleCount": 0,
        "ineligibleCount": 2,
        "failedQualification": 0,
        "blockedByConsent": 0,
        "blockedByContactPolicy": 2,
        "blockedBySchedule": 0,
        "noCreatives": 0,
    }
    assert out["bestOfferId"] is None
    with pytest.raises(ValidationError):
        await demo(demo_db, "compareOfferEligibility", {"customerId": "C-0001", "offerIds": ids[:1]})
    with pytest.raises(NotFoundError) as err:
        await demo(
            demo_db, "compareOfferEligibility", {"customerId": "C-0001", "offerIds": [ids[0], "off_x"]}
        )
    assert "off_x" in err.value.message


async def test_list_customer_suppressions_c0001(demo_db: Database) -> None:
    out = await demo(demo_db, "listCustomerSuppressions", {"customerId": "C-0001"})
    by_name = {s["policyName"]: s for s in out["suppressions"]}
    email = by_name[EMAIL_CAP]
    assert (email["count"], email["limit"], email["window"]) == (3, 3, "week")
    assert email["channels"] == ["Starbucks Email"] and email["blockedOffers"] == 10
    assert email["resetsAt"] == window_bounds("week", utcnow())[1].isoformat()
    assert out["totalOfferChannels"] == 40 and out["blockedOfferChannels"] >= 10
    with pytest.raises(NotFoundError):
        await demo(demo_db, "listCustomerSuppressions", {"customerId": "nobody"})


async def test_customer_without_history_has_no_suppressions(fx: Fixture) -> None:
    await fx.channel("Email", "email")
    await fx.offer("Promo")
    await fx.customers({"A": {"age": 30}})
    await fx.policy("cap", "frequency_cap", {"maxPerDay": 1})
    out = await fx.call("listCustomerSuppressions", {"customerId": "A"})
    assert out["suppressions"] == [] and out["blockedOfferChannels"] == 0 and out["totalOfferChannels"] == 1


async def test_trace_customer_journey(demo_db: Database) -> None:
    out = await demo(demo_db, "traceCustomerJourney", {"customerId": "C-0001", "limit": 2})
    assert len(out["timeline"]) == 2
    assert out["timeline"][0]["at"] >= out["timeline"][1]["at"]
    assert out["timeline"][0]["channel"] == "Starbucks Email"
    assert out["counts"]["impression"] >= 3 and out["firstSeen"] <= out["lastSeen"]
    default = await demo(demo_db, "traceCustomerJourney", {"customerId": "C-0002"})
    assert len(default["timeline"]) <= 20
    with pytest.raises(NotFoundError):
        await demo(demo_db, "traceCustomerJourney", {"customerId": "C-9999"})


async def test_suppressions_name_consent_before_contact_policies(fx: Fixture) -> None:
    """A revoked email consent blocks the email pairs, not the web ones, and the summary leads
    with it."""
    from kaireon_mcp.storage.tables import ConsentRecord

    await fx.channel("Email", "email")
    await fx.channel("Web", "web")
    await fx.offer("Promo")
    await fx.offer("Other")
    await fx.customers({"A": {"age": 30}})
    record = await fx._create(
        ConsentRecord, {"subject_id": "A", "purpose": "email", "status": "revoked", "source": "api"}
    )
    out = await fx.call("listCustomerSuppressions", {"customerId": "A"})

    assert out["consent"] == [
        {
            "purpose": "email",
            "status": "revoked",
            "source": "record",
            "reason": f"consent for purpose 'email' is revoked (consent record {record.id}, source api)",
            "detail": {
                "purpose": "email",
                "status": "revoked",
                "source": "record",
                "recordId": record.id,
                "recordSource": "api",
            },
            "blockedOffers": 2,
            "channels": ["Email"],
        }
    ]
    assert out["totalOfferChannels"] == 4 and out["blockedOfferChannels"] == 2
    assert out["summary"].startswith(
        "A is blocked on 2 of 4 offer/channel pairs. consent for purpose 'email'"
    )
