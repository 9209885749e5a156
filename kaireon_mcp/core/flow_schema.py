"""Decision-flow v2 vocabulary and structural validation (spec §3.3, §3.4, §3.14).

The validator runs on save and before execution, so a flow that would misbehave at decision
time (wrong node order, sub-flow cycles) is rejected with the offending node named in
``field`` (e.g. ``nodes[3]``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kaireon_mcp.errors import ValidationError

PHASE_NAMES: Final[Mapping[int | None, str]] = {1: "narrow", 2: "score_rank", 3: "output", None: "cross"}
MAX_CALL_DEPTH: Final = 2
BASE_FLOW_NAME: Final = "Base NBA Flow"
BASE_FLOW_KEY: Final = "base-nba-flow"
EXTENSION_HOOKS: Final[tuple[str, ...]] = ("pre_score", "score_override", "post_rank")
ResolveFlow = Callable[[str], Sequence[Mapping[str, Any]] | None]


@dataclass(frozen=True)
class NodeType:
    """One v2 node type: ``phase`` is 1, 2 or 3, or ``None`` for cross-phase nodes."""

    type: str
    phase: int | None
    description: str
    default_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def phase_name(self) -> str:
        return PHASE_NAMES[self.phase]

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "phase": self.phase,
            "phaseName": self.phase_name,
            "description": self.description,
            "defaultConfig": copy.deepcopy(dict(self.default_config)),
        }


def _node(type_: str, phase: int | None, description: str, **config: Any) -> NodeType:
    return NodeType(type_, phase, description, config)


_DEFAULT_FORMULA: Final = {
    "propensityWeight": 0.4,
    "relevanceWeight": 0.2,
    "impactWeight": 0.3,
    "emphasisWeight": 0.1,
    "upliftWeight": 0,
    "clvWeight": 0,
}

NODE_TYPES: Final[Mapping[str, NodeType]] = {
    node.type: node
    for node in (
        _node(
            "inventory",
            1,
            "Load candidate offers (with creatives, categories, placements); required and first.",
            scope="all",
            categoryIds=[],
            subCategoryIds=[],
            offerIds=[],
            includeStatuses=["active"],
        ),
        _node(
            "match_creatives",
            1,
            "Keep offers with a creative for the requested channel/placement.",
            requireCreative=True,
            placementMatchMode="any",
        ),
        _node(
            "enrich",
            1,
            "Merge schema rows and behavioral metrics into the customer context.",
            sources=[],
            lookupKey="customer_id",
            cacheTtlSeconds=60,
            prefix="customer",
            excludeJoinIds=[],
        ),
        _node(
            "qualify",
            1,
            "Apply qualification rules: hard stages drop offers, match stages lower fitMultiplier.",
            mode="all",
        ),
        _node(
            "contact_policy",
            1,
            "Apply contact policies, volume caps and consent to each candidate.",
            mode="all",
        ),
        _node(
            "filter",
            1,
            "Drop candidates failing field conditions over offer/customer/request/channel.",
            conditions=[],
            combinator="AND",
        ),
        _node(
            "conditional",
            1,
            "Branch to different sub-pipelines on a condition (segment, channel, ...).",
            conditions=[],
            combinator="AND",
            **{"then": [], "else": []},
        ),
        _node(
            "call_flow",
            None,
            "Run another flow as a sub-flow and merge its output (nesting depth <= 2).",
            flowKey=None,
        ),
        _node(
            "score",
            2,
            "Score candidates: priority_weighted, propensity, PRIE formula or an external model.",
            method="priority_weighted",
            modelKey=None,
            formula=dict(_DEFAULT_FORMULA),
            strategyProfileId=None,
            strategyOverrides=[],
            shadowModelKeys=[],
        ),
        _node(
            "optimize",
            2,
            "Multi-objective composite over a ranking profile's normalised objectives.",
            profileId=None,
            objectives={},
            normalize=True,
        ),
        _node(
            "rank", 2, "Order candidates and keep the top maxCandidates.", method="diversity", maxCandidates=5
        ),
        _node(
            "group",
            2,
            "Allocate ranked candidates to placement slots, respecting maxSlots.",
            strategy="optimal",
        ),
        _node("compute", 3, "Evaluate computed custom fields into each decision's personalization map."),
        _node(
            "set_properties",
            3,
            "Assign static or expression values to candidate/response properties.",
            properties={},
        ),
        _node("response", 3, "Shape the output returned to the caller.", responseFormat="standard"),
        _node(
            "extension_point",
            None,
            "Named hook (pre_score, score_override, post_rank); no-op when unconfigured.",
            hook="pre_score",
        ),
    )
}

SCORING_METHODS: Final[Mapping[str, str]] = {
    "priority_weighted": "(priority/100) x (weight/100) x fitMultiplier; the base-flow default.",
    "propensity": "Hierarchical adaptive propensity (offer, category, global, model, 0.5) x fitMultiplier.",
    "formula": "PRIE weighted geometric mean P^Wp x R^Wr x I^Wi x E^We x fitMultiplier.",
    "external_endpoint": "Propensity from an external model service via modelKey, behind a circuit breaker.",
}
RANK_METHODS: Final[Mapping[str, str]] = {
    "score": "Plain descending score; ties by priority then name.",
    "diversity": "Penalise repeats of the same category/subcategory near the top of the list.",
    "weighted_random": "Sample without replacement proportionally to score, for exploration.",
    "round_robin": "Interleave categories, best-scored first within each.",
}
GROUP_STRATEGIES: Final[Mapping[str, str]] = {
    "greedy": "Walk candidates by score, filling the first placement with a free slot.",
    "optimal": "Hungarian assignment maximising total score, each offer used at most once.",
    "equal": "Deal candidates round-robin so placements receive equal shares.",
}


def list_node_types() -> list[dict[str, Any]]:
    """Payload for ``listV2NodeTypes``, in pipeline order."""
    return [node.as_dict() for node in NODE_TYPES.values()]


def default_node_config(node_type: str) -> dict[str, Any]:
    """A fresh copy of a node type's default config (callers may mutate it)."""
    if node_type not in NODE_TYPES:
        raise ValidationError(f"Unknown node type {node_type!r}", field="type")
    return copy.deepcopy(dict(NODE_TYPES[node_type].default_config))


def base_flow_nodes() -> list[dict[str, Any]]:
    """The eleven nodes of the Base NBA Flow (§3.14)."""
    specs: list[tuple[str, dict[str, Any]]] = [
        ("inventory", {"scope": "all", "includeStatuses": ["active"]}),
        ("match_creatives", {"placementMatchMode": "exact", "requireCreative": False}),
        ("enrich", {"lookupKey": "customer_id"}),
        ("qualify", {"mode": "all"}),
        ("contact_policy", {"mode": "all"}),
        ("extension_point", {"hook": "pre_score"}),
        ("score", {"method": "priority_weighted"}),
        ("extension_point", {"hook": "score_override"}),
        ("rank", {"method": "diversity", "maxCandidates": 5}),
        ("extension_point", {"hook": "post_rank"}),
        ("response", {"responseFormat": "standard"}),
    ]
    return [
        {"id": f"n{index}", "type": kind, "config": config} for index, (kind, config) in enumerate(specs, 1)
    ]


def base_flow_config() -> dict[str, Any]:
    """A complete v2 ``draftConfig`` for the Base NBA Flow."""
    return {"version": 2, "nodes": base_flow_nodes(), "flowConfig": {}}


def _fail(message: str, index: int | None) -> ValidationError:
    return ValidationError(message, field="nodes" if index is None else f"nodes[{index}]")


def _check_shape(nodes: Sequence[Any]) -> None:
    seen: dict[str, int] = {}
    for index, node in enumerate(nodes):
        if not isinstance(node, Mapping):
            raise _fail("Node must be an object with id, type and config", index)
        node_id, node_type = node.get("id"), node.get("type")
        if not isinstance(node_id, str) or not node_id:
            raise _fail("Node needs a non-empty string id", index)
        if node_type not in NODE_TYPES:
            raise _fail(f"Unknown node type {node_type!r}", index)
        if not isinstance(node.get("config", {}), Mapping):
            raise _fail("Node config must be an object", index)
        if node_id in seen:
            raise _fail(f"Duplicate node id {node_id!r} (first at nodes[{seen[node_id]}])", index)
        seen[node_id] = index


def _check_inventory(nodes: Sequence[Mapping[str, Any]]) -> None:
    positions = [index for index, node in enumerate(nodes) if node["type"] == "inventory"]
    if not positions:
        raise _fail("Flow needs exactly one inventory node, as the first node", None)
    if len(positions) > 1:
        raise _fail("Flow has more than one inventory node", positions[1])
    if positions[0] != 0:
        raise _fail("The inventory node must be the first node", positions[0])


def _check_phases(nodes: Sequence[Mapping[str, Any]]) -> None:
    highest = 1
    for index, node in enumerate(nodes):
        phase = NODE_TYPES[node["type"]].phase
        if phase is None:
            continue
        if node["type"] == "filter" and highest > 1:
            raise _fail("filter nodes are only allowed in phase 1 (narrow)", index)
        if phase < highest:
            raise _fail(
                f"{node['type']} (phase {phase}) cannot follow a phase {highest} node; "
                "nodes must be in phase order",
                index,
            )
        highest = phase


def _check_config_values(nodes: Sequence[Mapping[str, Any]]) -> None:
    allowed: Mapping[str, tuple[str, Sequence[str]]] = {
        "score": ("method", tuple(SCORING_METHODS)),
        "rank": ("method", (*RANK_METHODS, "random")),
        "group": ("strategy", tuple(GROUP_STRATEGIES)),
        "extension_point": ("hook", EXTENSION_HOOKS),
    }
    for index, node in enumerate(nodes):
        if node["type"] not in allowed:
            continue
        key, values = allowed[node["type"]]
        value = (node.get("config") or {}).get(key)
        if value is not None and value not in values:
            raise _fail(f"{node['type']}.{key} must be one of {', '.join(values)}; got {value!r}", index)


def _call_target(node: Mapping[str, Any]) -> str | None:
    config = node.get("config") or {}
    target = config.get("flowKey") or config.get("flowId")
    return str(target) if target else None


def _check_calls(
    nodes: Sequence[Mapping[str, Any]],
    resolve_flow: ResolveFlow | None,
    chain: tuple[str, ...],
    depth: int,
    root_index: int | None,
) -> None:
    """Depth-first walk of call_flow references; errors name the root-level node responsible."""
    for index, node in enumerate(nodes):
        if not isinstance(node, Mapping) or node.get("type") != "call_flow":
            continue
        blame = index if root_index is None else root_index
        target = _call_target(node)
        if target is None:
            raise _fail("call_flow needs config.flowKey or config.flowId", blame)
        if target in chain:
            raise _fail(f"call_flow cycle: {' -> '.join((*chain, target))}", blame)
        if depth + 1 > MAX_CALL_DEPTH:
            raise _fail(
                f"call_flow nesting deeper than {MAX_CALL_DEPTH} via {' -> '.join((*chain, target))}", blame
            )
        if resolve_flow is None:
            continue
        child = resolve_flow(target)
        if child is None:
            raise _fail(f"call_flow references unknown flow {target!r}", blame)
        _check_calls(child, resolve_flow, (*chain, target), depth + 1, blame)


def validate_flow(
    nodes: Sequence[Mapping[str, Any]],
    resolve_flow: ResolveFlow | None = None,
    flow_key: str | None = None,
) -> None:
    """Raise ValidationError (``field`` = ``nodes[i]``) unless the v2 node list is executable.

    Checks: shape, known types, unique ids, exactly one inventory node and it is first,
    phase order (cross-phase nodes anywhere), filter only in phase 1, known score/rank/group
    methods and hook names, and call_flow depth <= 2 without cycles. ``resolve_flow`` maps a
    flowKey/flowId to that flow's nodes (``None`` if unknown); without it only this flow's
    own references are checked. ``flow_key`` lets a flow that calls itself be caught.
    """
    if not isinstance(nodes, Sequence) or isinstance(nodes, str | bytes):
        raise ValidationError("nodes must be a list", field="nodes")
    _check_shape(nodes)
    _check_inventory(nodes)
    _check_phases(nodes)
    _check_config_values(nodes)
    _check_calls(nodes, resolve_flow, (flow_key,) if flow_key else (), 0, None)
