"""Playbooks: multi-step operations composed from the primitive tools (tool-catalog.md 1.5, 2.12).

This package holds the pure parts: the analysis each playbook runs and the plans it
proposes. The tool layer (``kaireon_mcp.tools.playbooks``) adds rate limiting, governed
mode, the one-transaction apply and the audit entry. Primitive tools are reached through
an injected :class:`~kaireon_mcp.core.playbooks.plan.ToolPort`, so core code never imports
the tool registry and a playbook runs exactly the checks the primitive would.
"""
