"""Flow v2 vocabulary and the structural validator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from kaireon_mcp.core.flow_schema import (
    BASE_FLOW_NAME,
    GROUP_STRATEGIES,
    NODE_TYPES,
    RANK_METHODS,
    SCORING_METHODS,
    base_flow_config,
    base_flow_nodes,
    default_node_config,
    list_node_types,
    validate_flow,
)
from kaireon_mcp.errors import ValidationError


def n(node_id: str, node_type: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "config": config}


def field_of(nodes: Sequence[Mapping[str, Any]], **kw: Any) -> str | None:
    with pytest.raises(ValidationError) as info:
        validate_flow(nodes, **kw)
    return info.value.field


def test_sixteen_node_types_with_phases() -> None:
    assert len(NODE_TYPES) == 16
    phases = {name: node.phase for name, node in NODE_TYPES.items()}
    assert [k for k, v in phases.items() if v == 1] == [
        "inventory", "match_creatives", "enrich", "qualify", "contact_policy", "filter", "conditional",
    ]  # fmt: skip
    assert [k for k, v in phases.items() if v == 2] == ["score", "optimize", "rank", "group"]
    assert [k for k, v in phases.items() if v == 3] == ["compute", "set_properties", "response"]
    assert [k for k, v in phases.items() if v is None] == ["call_flow", "extension_point"]
    listed = list_node_types()
    assert listed[0]["phaseName"] == "narrow" and listed[0]["defaultConfig"]["includeStatuses"] == ["active"]
    assert {entry["phaseName"] for entry in listed} == {"narrow", "score_rank", "output", "cross"}
    assert all(entry["description"] for entry in listed)


def test_default_configs_are_independent_copies() -> None:
    config = default_node_config("score")
    assert config["method"] == "priority_weighted"
    assert config["formula"]["impactWeight"] == 0.3
    config["formula"]["impactWeight"] = 9
    assert default_node_config("score")["formula"]["impactWeight"] == 0.3
    assert default_node_config("rank") == {"method": "diversity", "maxCandidates": 5}
    assert default_node_config("conditional")["else"] == []
    with pytest.raises(ValidationError):
        default_node_config("teleport")


def test_base_flow_is_valid_and_matches_the_spec() -> None:
    nodes = base_flow_nodes()
    assert [node["type"] for node in nodes] == [
        "inventory", "match_creatives", "enrich", "qualify", "contact_policy", "extension_point", "score",
        "extension_point", "rank", "extension_point", "response",
    ]  # fmt: skip
    assert [node["id"] for node in nodes] == [f"n{i}" for i in range(1, 12)]
    assert nodes[1]["config"] == {"placementMatchMode": "exact", "requireCreative": False}
    assert [node["config"]["hook"] for node in nodes if node["type"] == "extension_point"] == [
        "pre_score", "score_override", "post_rank",
    ]  # fmt: skip
    validate_flow(nodes)
    assert base_flow_config()["version"] == 2
    assert BASE_FLOW_NAME == "Base NBA Flow"


def test_shape_errors_name_the_node() -> None:
    inv = n("a", "inventory")
    assert field_of([inv, n("b", "qualify"), n("c", "teleport")]) == "nodes[2]"
    assert field_of([inv, n("a", "qualify")]) == "nodes[1]"
    assert field_of([inv, {"type": "qualify"}]) == "nodes[1]"
    assert field_of([inv, "score"]) == "nodes[1]"  # type: ignore[list-item]
    assert field_of([inv, {"id": "b", "type": "score", "config": []}]) == "nodes[1]"
    with pytest.raises(ValidationError):
        validate_flow("nodes")  # type: ignore[arg-type]


def test_inventory_rules() -> None:
    assert field_of([n("q", "qualify"), n("s", "score")]) == "nodes"
    assert field_of([n("q", "qualify"), n("i", "inventory")]) == "nodes[1]"
    assert field_of([n("i", "inventory"), n("q", "qualify"), n("j", "inventory")]) == "nodes[2]"
    assert field_of([]) == "nodes"


def test_phase_order_and_filter_placement() -> None:
    assert field_of([n("i", "inventory"), n("s", "score"), n("q", "qualify")]) == "nodes[2]"
    assert field_of([n("i", "inventory"), n("r", "response"), n("k", "rank")]) == "nodes[2]"
    with pytest.raises(ValidationError, match="filter"):
        validate_flow([n("i", "inventory"), n("s", "score"), n("f", "filter")])
    validate_flow(
        [
            n("i", "inventory"),
            n("f", "filter", conditions=[]),
            n("x", "extension_point", hook="pre_score"),
            n("s", "score", method="formula"),
            n("c", "call_flow", flowKey="child"),
            n("g", "group", strategy="greedy"),
            n("r", "response"),
            n("y", "extension_point", hook="post_rank"),
        ]
    )


def test_config_vocabulary() -> None:
    inv = n("i", "inventory")
    assert field_of([inv, n("s", "score", method="magic")]) == "nodes[1]"
    assert field_of([inv, n("k", "rank", method="alphabetical")]) == "nodes[1]"
    assert field_of([inv, n("g", "group", strategy="chaotic")]) == "nodes[1]"
    assert field_of([inv, n("x", "extension_point", hook="on_error")]) == "nodes[1]"
    validate_flow([inv, n("k", "rank", method="random")])


FLOWS: dict[str, list[dict[str, Any]]] = {
    "a": [n("i", "inventory"), n("c", "call_flow", flowKey="b")],
    "b": [n("i", "inventory"), n("c", "call_flow", flowId="c")],
    "c": [n("i", "inventory")],
    "x": [n("i", "inventory"), n("c", "call_flow", flowKey="y")],
    "y": [n("i", "inventory"), n("c", "call_flow", flowKey="x")],
}


def test_call_flow_depth_cycles_and_unknown_targets() -> None:
    root = [n("i", "inventory"), n("q", "qualify"), n("c", "call_flow", flowKey="b")]
    validate_flow(root, FLOWS.get)  # root -> b -> c is depth 2
    too_deep = [n("i", "inventory"), n("q", "qualify"), n("c", "call_flow", flowKey="a")]
    with pytest.raises(ValidationError, match="deeper than 2") as info:
        validate_flow(too_deep, FLOWS.get)  # root -> a -> b -> c
    assert info.value.field == "nodes[2]"
    with pytest.raises(ValidationError, match="cycle"):
        validate_flow([n("i", "inventory"), n("c", "call_flow", flowKey="x")], FLOWS.get)
    assert field_of([n("i", "inventory"), n("c", "call_flow", flowKey="me")], flow_key="me") == "nodes[1]"
    with pytest.raises(ValidationError, match="unknown flow"):
        validate_flow([n("i", "inventory"), n("c", "call_flow", flowKey="ghost")], FLOWS.get)
    assert field_of([n("i", "inventory"), n("c", "call_flow")]) == "nodes[1]"
    validate_flow(
        [n("i", "inventory"), n("c", "call_flow", flowKey="ghost")]
    )  # no resolver: local checks only


def test_method_constants() -> None:
    assert list(SCORING_METHODS) == ["priority_weighted", "propensity", "formula", "external_endpoint"]
    assert list(RANK_METHODS) == ["score", "diversity", "weighted_random", "round_robin"]
    assert list(GROUP_STRATEGIES) == ["greedy", "optimal", "equal"]
