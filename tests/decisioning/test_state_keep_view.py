"""``DecisionState.keep`` and ``view`` answer exactly as their plain versions did.

``keep`` builds drop entries inline and ``view`` is reused per candidate; the references
below are the implementations they replaced.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from kaireon_mcp.core.contact_policy import ContactLedger
from kaireon_mcp.core.decisioning.state import Candidate, DecisionState
from kaireon_mcp.core.qualification import CandidateView, CustomerContext


def _state() -> DecisionState:
    return DecisionState(
        tenant_id="t",
        customer=CustomerContext("c1"),
        ledger=ContactLedger(),
        request={},
        now=datetime(2026, 1, 1, tzinfo=UTC),
        rng=random.Random(1),
        channel={"id": "ch1", "channelType": "email"},
    )


def _reference_keep(
    state: DecisionState,
    node: dict[str, Any],
    stage: str,
    survivors: list[Candidate],
    reasons: dict[str, Any],
) -> None:
    kept = {id(c) for c in survivors}
    for cand in state.candidates:
        if id(cand) not in kept:
            info = reasons.get(cand.offer_id) or {}
            state.drop(
                cand,
                node,
                stage,
                info.get("reason", f"removed by {node.get('type')}"),
                **{k: v for k, v in info.items() if k != "reason"},
            )
    state.candidates = survivors


def test_keep_matches_drop_per_candidate() -> None:
    rng = random.Random(5)
    for _ in range(300):
        cands = [Candidate(offer={"id": f"o{i}", "name": f"n{i}"}) for i in range(rng.randint(0, 8))]
        survivors = [c for c in cands if rng.random() < 0.5]
        if rng.random() < 0.2:
            survivors = list(cands)
        reasons: dict[str, Any] = {}
        for cand in cands:
            pick = rng.random()
            if pick < 0.3:
                reasons[cand.offer_id] = {"reason": "r", "ruleId": rng.choice([None, "x"]), "detail": {}}
            elif pick < 0.5:
                reasons[cand.offer_id] = {"policyId": "p", "reason": None, "z": rng.choice([None, 0])}
            elif pick < 0.6:
                reasons[cand.offer_id] = {}
        node = rng.choice([{"id": "n1", "type": "qualify"}, {}])
        old, new = _state(), _state()
        old.candidates, new.candidates = list(cands), list(cands)
        _reference_keep(old, node, "s", survivors, reasons)
        new.keep(node, "s", survivors, reasons)
        assert new.dropped == old.dropped
        assert [list(d) for d in new.dropped] == [list(d) for d in old.dropped]  # key order too
        assert new.candidates == old.candidates


def _reference_view(state: DecisionState, cand: Candidate) -> CandidateView:
    creative = cand.creative or {}
    return CandidateView(
        offer_id=cand.offer_id,
        category_id=cand.category_id,
        sub_category_id=cand.sub_category_id,
        creative_id=creative.get("id"),
        channel_id=creative.get("channelId") or (state.channel or {}).get("id"),
        placement_id=cand.placement_id or (state.placement or {}).get("id"),
        channel_type=(state.channel or {}).get("channelType"),
        product_type=cand.offer.get("productType"),
        category_name=cand.offer.get("categoryName"),
        mandatory=cand.mandatory,
        budget=cand.offer.get("budget") or {},
        offer=cand.offer,
    )


def test_view_is_rebuilt_whenever_an_input_changes() -> None:
    state = _state()
    cand = Candidate(offer={"id": "o1", "categoryId": "c", "budget": {"x": 1}, "productType": "p"})
    steps = [
        lambda: None,
        lambda: setattr(cand, "creative", {"id": "cr1", "channelId": "ch2"}),
        lambda: setattr(cand, "placement_id", "pl1"),
        lambda: setattr(cand, "mandatory", True),
        lambda: setattr(state, "channel", {"id": "ch3", "channelType": "web"}),
        lambda: setattr(state, "placement", {"id": "pl2"}),
        lambda: setattr(cand, "placement_id", None),
        lambda: setattr(cand, "creative", {}),
        lambda: setattr(cand, "offer", {"id": "o2", "categoryName": "cat"}),
        lambda: setattr(state, "channel", None),
    ]
    for step in steps:
        step()
        assert state.view(cand) == _reference_view(state, cand)
        assert state.view(cand) is state.view(cand)
