"""playbook_simulate_weight_change on hand-built traces, PRIE computed by hand here."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import DecisionTrace
from kaireon_mcp.storage.types import utcnow
from tests.playbooks.conftest import audit_actions, call, row_counts

NAME = "playbook_simulate_weight_change"
A, B, M = "off_demo_bogo_5_day_easy", "off_demo_discount_10_day_20", "off_demo_info_4_day_brand_story"
DEFAULT = {"P": 0.4, "R": 0.2, "I": 0.3, "E": 0.1}
NEW = {"P": 0.8, "R": 0.0, "I": 0.2, "E": 0.0}  # what {conversion: 4, margin: 1} normalises to


def prie(f: dict[str, float], w: dict[str, float]) -> float:
    return math.exp(sum(w[k] * math.log(f[k]) for k in "PRIE" if w[k] > 0))


def row(offer: str, p: float, i: float, method: str = "formula") -> dict[str, Any]:
    factors = {"P": p, "R": 1.0, "I": i, "E": 0.5, "fit": 1.0}
    return {"offerId": offer, "score": prie(factors, DEFAULT), "method": method, "factors": factors}


TRACES = {
    # A: high propensity, low impact; B: the reverse. Default weights favour B, the new ones A.
    "trc_flip": [row(A, 0.9, 0.2), row(B, 0.3, 0.9)],
    "trc_same": [row(A, 0.9, 0.9), row(B, 0.3, 0.3)],
    "trc_mandatory": [
        {"offerId": M, "score": 1.0, "method": "mandatory", "factors": {}},
        row(A, 0.9, 0.2),
        row(B, 0.3, 0.9),
    ],
    "trc_unscored": [
        {"offerId": A, "score": 0.4, "method": "priority_weighted", "factors": {"E": 0.8, "W": 0.5}}
    ],
}


async def _seed(db: Database) -> None:
    now = utcnow()
    async with db.session() as s:
        for n, (trace_id, rows) in enumerate(TRACES.items()):
            s.add(
                DecisionTrace(
                    id=trace_id,
                    tenant_id="demo",
                    customer_id="C-0001",
                    request_id=f"rec_{n}",
                    decision_flow_key="starbucks-nba",
                    scoring_results=rows,
                    created_at=now - timedelta(minutes=n),
                )
            )


async def test_new_weights_flip_the_expected_winner(demo_db: Database) -> None:
    a, b = TRACES["trc_flip"][0]["factors"], TRACES["trc_flip"][1]["factors"]
    # by hand: default 0.5519 (A) < 0.5585 (B); new 0.6662 (A) > 0.3737 (B)
    assert prie(a, DEFAULT) < prie(b, DEFAULT) and prie(a, NEW) > prie(b, NEW)
    assert round(prie(a, NEW), 4) == 0.6662 and round(prie(b, NEW), 4) == 0.3737
    await _seed(demo_db)
    before = await row_counts(demo_db)
    out = await call(
        demo_db, NAME, {"weights": {"conversion": 4, "margin": 1}, "decisionFlowKey": "starbucks-nba"}
    )
    assert out["weights"] == NEW
    assert (out["tracesReplayed"], out["tracesSkipped"], out["changedTopPicks"]) == (3, 1, 1)
    assert out["changedShare"] == round(1 / 3, 4)
    assert out["examples"] == [{"traceId": "trc_flip", "before": B, "after": A}]
    assert out["winners"] == [
        {"offerId": A, "offerName": "BOGO - 5 Day Easy", "topPicksBefore": 1, "topPicksAfter": 2, "delta": 1}
    ]
    assert out["losers"] == [
        {
            "offerId": B,
            "offerName": "Discount - 10 Day $20",
            "topPicksBefore": 1,
            "topPicksAfter": 0,
            "delta": -1,
        }
    ]
    assert await row_counts(demo_db) == before and await audit_actions(demo_db) == []


async def test_trace_limit_and_flow_filter(demo_db: Database) -> None:
    await _seed(demo_db)
    newest = await call(demo_db, NAME, {"weights": {"propensity": 1}, "traceLimit": 1})
    assert newest["tracesReplayed"] == 1 and newest["examples"] == [
        {"traceId": "trc_flip", "before": B, "after": A}
    ]
    other = await call(demo_db, NAME, {"weights": {"propensity": 1}, "decisionFlowKey": "nope"})
    assert other["tracesReplayed"] == 0 and other["winners"] == []


async def test_weights_without_a_prie_key_are_refused(demo_db: Database) -> None:
    with pytest.raises(ValidationError, match="weights must name"):
        await call(demo_db, NAME, {"weights": {"fatigue": 1}})
