"""``python -m tests.mcp.stdio_probes stdio ...``: the real CLI with the probe tools registered."""

from __future__ import annotations

from kaireon_mcp.cli import main
from tests.mcp.probes import register_probes

if __name__ == "__main__":
    register_probes()
    raise SystemExit(main())
