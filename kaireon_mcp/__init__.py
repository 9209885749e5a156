"""kaireon-mcp: next-best-action decisioning served over MCP, HTTP and a CLI."""

__version__ = "0.1.0"
