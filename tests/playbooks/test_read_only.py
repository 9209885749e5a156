"""The read-only playbooks (explain chain, data health, simulate weights) never write."""

from __future__ import annotations

from kaireon_mcp.storage.db import Database
from kaireon_mcp.tools.registry import REGISTRY
from tests.playbooks.conftest import audit_actions, call, row_counts

READ_ONLY = (
    "playbook_explain_decision_chain",
    "playbook_audit_tenant_data_health",
    "playbook_simulate_weight_change",
)


def test_read_only_playbooks_are_declared_read_only() -> None:
    for name in READ_ONLY:
        spec = REGISTRY.get(name)
        assert spec is not None and spec.read_only and spec.annotations()["readOnlyHint"] is True
        assert spec.routes == frozenset()  # general route only


async def test_read_only_playbooks_write_nothing(demo_db: Database) -> None:
    rec = await call(demo_db, "recommend", {"customerId": "C-0005", "channel": "web", "limit": 2})
    before = await row_counts(demo_db)
    chain = await call(demo_db, "playbook_explain_decision_chain", {"traceId": rec["traceId"]})
    health = await call(demo_db, "playbook_audit_tenant_data_health")
    sim = await call(demo_db, "playbook_simulate_weight_change", {"weights": {"impact": 1}})
    assert await row_counts(demo_db) == before
    assert await audit_actions(demo_db) == []
    assert set(chain["narratives"]) == {"regulator", "agent", "customer"}
    assert sim["tracesReplayed"] == 1
    assert 0 <= health["score"] <= 100


async def test_explain_chain_uses_templates_when_llm_narratives_are_disabled(demo_db: Database) -> None:
    rec = await call(demo_db, "recommend", {"customerId": "C-0005", "channel": "web", "limit": 2})
    out = await call(
        demo_db, "playbook_explain_decision_chain", {"traceId": rec["recommendationId"], "modes": ["agent"]}
    )
    assert out["traceId"] == rec["traceId"] and list(out["narratives"]) == ["agent"]
    agent = out["narratives"]["agent"]
    assert agent["source"] == "template"
    assert agent["selected"] == [d["offerName"] for d in rec["decisions"]]
    assert agent["steps"][0] == f"{out['funnel']['candidateCount']} candidate offers"


async def test_data_health_scores_each_area(demo_db: Database) -> None:
    await call(demo_db, "recommend", {"customerId": "C-0005", "channel": "web"})
    out = await call(demo_db, "playbook_audit_tenant_data_health")
    areas = out["areas"]
    # the demo has no connectors, pipelines or runs: those areas are not judged
    assert (areas["connectors"]["score"], areas["pipelines"]["score"], areas["dlqBacklog"]["score"]) == (
        None,
    ) * 3
    assert areas["schemas"]["score"] == 100 and areas["schemas"]["count"] == 1
    assert areas["traceCoverage"]["score"] == 100
    assert areas["traceCoverage"]["window"]["recommendations"] == 1
    assert out["score"] == 100 and out["status"] == "healthy"
