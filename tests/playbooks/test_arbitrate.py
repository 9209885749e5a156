"""playbook_arbitrate_policy_conflict on two hand-made web caps (the demo's own policies are
left out with policyIds so the expectations stay hand-computable)."""

from __future__ import annotations

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import ContactPolicy
from tests.playbooks.conftest import audit_actions, call, row_counts

NAME = "playbook_arbitrate_policy_conflict"


async def _cap(db: Database, name: str, per_day: int, priority: int) -> str:
    body = {
        "name": name,
        "ruleType": "frequency_cap",
        "config": {"maxPerDay": per_day},
        "scope": "channel",
        "scopeId": "chn_demo_web",
        "priority": priority,
    }
    return str((await call(db, "createContactPolicy", body))["id"])


async def test_stricter_cap_is_proposed_first_and_apply_swaps_priorities(demo_db: Database) -> None:
    loose = await _cap(demo_db, "Web 5 per day", 5, 50)
    strict = await _cap(demo_db, "Web 2 per day", 2, 40)
    before = await row_counts(demo_db)
    dry = await call(demo_db, NAME, {"policyIds": [loose, strict]})
    assert await row_counts(demo_db) == before
    [conflict] = dry["conflicts"]
    assert conflict["kind"] == "limit_mismatch" and set(conflict["policyIds"]) == {loose, strict}
    # stricter (2/day) first; the group keeps its own values 50 and 40, now in strictness order
    assert [(p["policyId"], p["from"], p["to"]) for p in dry["proposedOrder"]] == [
        (strict, 40, 50),
        (loose, 50, 40),
    ]
    assert dry["plan"] == [
        {
            "tool": "updateContactPolicy",
            "arguments": {"policyId": strict, "priority": 50},
            "entityType": "contact_policy",
            "id": strict,
            "changes": {"priority": {"from": 40, "to": 50}},
        },
        {
            "tool": "updateContactPolicy",
            "arguments": {"policyId": loose, "priority": 40},
            "entityType": "contact_policy",
            "id": loose,
            "changes": {"priority": {"from": 50, "to": 40}},
        },
    ]
    out = await call(demo_db, NAME, {"policyIds": [loose, strict], "apply": True})
    assert out["applied"] is True
    async with demo_db.session() as s:
        assert (await s.get(ContactPolicy, strict)).priority == 50  # type: ignore[union-attr]
        assert (await s.get(ContactPolicy, loose)).priority == 40  # type: ignore[union-attr]
    [entry] = await audit_actions(demo_db)
    assert entry.action == "playbook.arbitrate_policy_conflict"
    assert entry.changes["plan"] == dry["plan"]
    again = await call(demo_db, NAME, {"policyIds": [loose, strict]})
    assert again["plan"] == [] and [c["kind"] for c in again["conflicts"]] == ["limit_mismatch"]


async def test_tied_priorities_become_distinct_without_colliding_with_overlapping_policies(
    demo_db: Database,
) -> None:
    loose = await _cap(demo_db, "Web 5 per day", 5, 80)
    strict = await _cap(demo_db, "Web 2 per day", 2, 80)
    dry = await call(demo_db, NAME, {"policyIds": [loose, strict]})
    assert sorted(c["kind"] for c in dry["conflicts"]) == ["limit_mismatch", "priority_tie"]
    # 80 is also held by the global demo cap "Max 3 per day" (it overlaps both), so the first
    # free values at or below 80 are 79 (stricter) and 78 (looser): no new tie is created
    assert [(p["policyId"], p["to"]) for p in dry["proposedOrder"]] == [(strict, 79), (loose, 78)]
    assert [s["arguments"] for s in dry["plan"]] == [
        {"policyId": strict, "priority": 79},
        {"policyId": loose, "priority": 78},
    ]


async def test_override_shadowing_a_cap_is_reported_but_not_reordered(demo_db: Database) -> None:
    cap = await _cap(demo_db, "Web 2 per day", 2, 40)
    override = str(
        (
            await call(
                demo_db,
                "createContactPolicy",
                {
                    "name": "VIP web",
                    "ruleType": "allow_override",
                    "scope": "channel",
                    "scopeId": "chn_demo_web",
                },
            )
        )["id"]
    )
    dry = await call(demo_db, NAME, {"policyIds": [cap, override]})
    [conflict] = dry["conflicts"]
    assert conflict["kind"] == "override_shadows_cap" and conflict["policyIds"] == [override, cap]
    assert "bypassable=false" in conflict["resolution"]
    assert dry["plan"] == [] and dry["proposedOrder"] == []


async def test_demo_policies_layer_without_conflicts(demo_db: Database) -> None:
    """A weekly email cap under a global daily cap is layering, not two answers to one question."""
    out = await call(demo_db, NAME)
    assert out["policiesAnalysed"] == 7 and out["conflicts"] == [] and out["plan"] == []
