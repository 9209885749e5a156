"""Context budget of tools/list: what every MCP client pays before the first question.

Iterates over every route pattern of the registry as it is *now* (``load_all()``), so a tool
added anywhere is measured here. Sizes are compact wire JSON, as the SDK sends it.
"""

from __future__ import annotations

import pytest

from kaireon_mcp.server.app import wire_tool
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.registry import ROUTE_CODES, ROUTE_EXAMPLES, ScopePolicy, Tool

GENERAL_BUDGET = 60_000
ROUTE_BUDGET = 24_000
ROUTES = ["/"] + [ROUTE_EXAMPLES[code] for code in ROUTE_CODES if code != "all"]


def wire_size(spec: Tool) -> int:
    return len(wire_tool(spec).model_dump_json(by_alias=True, exclude_none=True))


@pytest.mark.parametrize("route", ROUTES)
def test_tools_list_fits_the_context_budget(route: str) -> None:
    registry = load_all()
    tools = ScopePolicy(route=route).visible(registry)
    switch = registry.get("setRoute")
    if switch is not None and switch not in tools:
        tools.append(switch)  # session connections list it on every route
    sizes = sorted(((wire_size(t), t.name) for t in tools), reverse=True)
    total = sum(size for size, _ in sizes) + len(tools) + 1  # separators and brackets of the array
    budget = GENERAL_BUDGET if route == "/" else ROUTE_BUDGET
    largest = ", ".join(f"{name} {size}" for size, name in sizes[:8])
    assert total < budget, f"tools/list on {route}: {total} chars for {len(tools)} tools; largest: {largest}"
