"""The HTTP bridge: a Starlette app over the AI services, the tool registry and the MCP server."""

from kaireon_mcp.bridge.app import create_app

__all__ = ["create_app"]
