"""The MCP face of kaireon-mcp: the registry served over stdio and Streamable HTTP.

Entry points: :func:`kaireon_mcp.server.stdio.run_stdio` (``kaireon-mcp stdio``),
:func:`kaireon_mcp.server.remote.run_remote_stdio` (``kaireon-mcp stdio --remote``) and
:func:`kaireon_mcp.server.http.build_mcp_http` (mounted by ``kaireon-mcp serve``).
Nothing here prints: on stdio, stdout is the JSON-RPC wire.
"""

from kaireon_mcp.server.app import PAGE_SIZE, SERVER_NAME, KaireonServer, ServerDeps, build_server, wire_tool
from kaireon_mcp.server.http import build_mcp_http, mcp_routes
from kaireon_mcp.server.scope import ScopeChain, policy_from_flags
from kaireon_mcp.server.stdio import run_stdio

__all__ = [
    "PAGE_SIZE",
    "SERVER_NAME",
    "KaireonServer",
    "ScopeChain",
    "ServerDeps",
    "build_mcp_http",
    "build_server",
    "mcp_routes",
    "policy_from_flags",
    "run_stdio",
    "wire_tool",
]
