"""The MCP face of kaireon-mcp: the registry served over stdio and Streamable HTTP.

Entry points: :func:`kaireon_mcp.server.stdio.run_stdio` (``kaireon-mcp stdio``),
:func:`kaireon_mcp.server.remote.run_remote_stdio` (``kaireon-mcp stdio --remote``) and
:func:`kaireon_mcp.server.http.build_mcp_http` (mounted by ``kaireon-mcp serve``).
Nothing here prints: on stdio, stdout is the JSON-RPC wire.

Names resolve lazily so that ``kaireon_mcp.server.front`` (the stdio front, stdlib-only) can be
imported in the first milliseconds of a process without pulling in the SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PAGE_SIZE": "app",
    "SERVER_NAME": "app",
    "KaireonServer": "app",
    "ServerDeps": "app",
    "build_server": "app",
    "wire_tool": "app",
    "build_mcp_http": "http",
    "mcp_routes": "http",
    "ScopeChain": "scope",
    "policy_from_flags": "scope",
    "run_stdio": "stdio",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
