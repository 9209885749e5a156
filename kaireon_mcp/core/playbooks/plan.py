"""Plans: the exact primitive tool calls a playbook would make, and running them in order.

A dry run returns the plan; apply runs that same plan, so what a caller reviewed is what
commits. A later step refers to an id created by an earlier step with a ``"$ref.field"``
string (for example ``"$offer.id"``), because that id does not exist until the earlier
step has run.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kaireon_mcp.errors import KaireonError

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Step = dict[str, Any]

_REF = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
_SUMMARY_KEYS = ("id", "name", "key", "status", "registryStatus", "priority", "fromStatus", "toStatus")


@dataclass(frozen=True)
class ToolPort:
    """How core playbook code reaches primitive tools: call one, or ask whether it exists."""

    call: Call
    has: Callable[[str], bool]


def step(
    tool: str,
    arguments: Mapping[str, Any],
    *,
    ref: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    changes: Mapping[str, Any] | None = None,
) -> Step:
    """One planned call; ``entity*`` fields describe an update in reviewable from/to form."""
    out: Step = {"tool": tool, "arguments": dict(arguments)}
    if ref:
        out["ref"] = ref
    if entity_type:
        out["entityType"] = entity_type
        out["id"] = entity_id
        out["changes"] = dict(changes or {})
    return out


def ref(name: str, field: str = "id") -> str:
    return f"${name}.{field}"


def resolve(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace ``"$ref.field"`` strings (at any depth) with values from earlier step outputs."""
    if isinstance(value, str):
        match = _REF.match(value)
        if match and match.group(1) in outputs:
            return outputs[match.group(1)].get(match.group(2))
        return value
    if isinstance(value, Mapping):
        return {k: resolve(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outputs) for v in value]
    return value


def summary(tool: str, reference: str | None, output: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a step's output worth returning (full entities would bloat the answer)."""
    out: dict[str, Any] = {"tool": tool}
    if reference:
        out["ref"] = reference
    nested = output.get("model")
    source = {**nested, **output} if isinstance(nested, Mapping) and "id" not in output else output
    out.update({k: source[k] for k in _SUMMARY_KEYS if k in source})
    return out


async def run_plan(plan: Sequence[Step], call: Call) -> list[dict[str, Any]]:
    """Run every step in order; the first failure is re-raised naming its step.

    The caller runs this inside one transaction, so a failure anywhere leaves nothing
    behind; the message says so because the partial progress is otherwise invisible.
    """
    outputs: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for index, item in enumerate(plan, 1):
        tool = str(item["tool"])
        try:
            output = await call(tool, resolve(item["arguments"], outputs))
        except KaireonError as exc:
            raise type(exc)(
                f"step {index} ({tool}) failed, so nothing was committed: {exc.message}",
                field=exc.field,
                **exc.extra,
            ) from exc
        if item.get("ref"):
            outputs[str(item["ref"])] = output
        results.append(summary(tool, item.get("ref"), output))
    return results
