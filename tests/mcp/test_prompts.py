"""Prompt files: one system prompt per module, one prompt per playbook, all described."""

from __future__ import annotations

import pytest

from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.prompts import (
    MODULES,
    list_playbook_prompts,
    list_prompts,
    list_system_prompts,
    render_prompt,
    system_prompt,
)

PLAYBOOKS = {  # tool-catalog.md section 2.12
    "playbook_run_shadow_experiment",
    "playbook_arbitrate_policy_conflict",
    "playbook_explain_decision_chain",
    "playbook_promote_challenger_if_winning",
    "playbook_rebuild_offer_qualification",
    "playbook_audit_tenant_data_health",
    "playbook_bootstrap_new_offer_campaign",
    "playbook_simulate_weight_change",
    "playbook_explain_algorithm_upgrade",
    "playbook_generate_dsar_export",
}


def test_every_playbook_and_module_has_a_described_prompt() -> None:
    assert {p.name for p in list_playbook_prompts()} == PLAYBOOKS
    assert [p.name for p in list_system_prompts()] == [f"system_{m.lower()}" for m in MODULES]
    assert all(p.description and p.body.strip() for p in list_prompts())
    assert all(a.description for p in list_prompts() for a in p.arguments)


@pytest.mark.parametrize(
    ("route", "marker"),
    [
        ("/", "decisioning assistant"),
        ("/data/schemas", "data assistant"),
        ("/studio/treatments", "studio assistant"),
        ("/algorithms/models", "algorithms assistant"),
        ("/dashboards/kpis", "dashboards assistant"),
        ("/settings", "decisioning assistant"),
    ],
)
def test_the_route_picks_its_module_system_prompt(route: str, marker: str) -> None:
    assert f"You are the KaireonAI {marker}." in system_prompt(route)


def test_rendering_fills_arguments_and_documented_defaults() -> None:
    args = {"experimentId": "exp_1", "alpha": "0.01"}
    rendered = render_prompt("playbook_promote_challenger_if_winning", args)
    assert "exp_1" in rendered.text and "alpha 0.01" in rendered.text and "uplift 0.02" in rendered.text
    assert "{{" not in rendered.text and rendered.description


def test_rendering_refuses_missing_unknown_and_nonexistent() -> None:
    with pytest.raises(ValidationError) as missing:
        render_prompt("playbook_generate_dsar_export", {})
    with pytest.raises(ValidationError) as unknown:
        render_prompt("playbook_generate_dsar_export", {"customerId": "C-1", "tenantId": "x"})
    with pytest.raises(NotFoundError):
        render_prompt("playbook_nope")
    assert missing.value.field == "customerId" and unknown.value.field == "tenantId"
