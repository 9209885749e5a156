"""``python -m tests.mcp.serve_app``: a serve-like uvicorn process running the MCP HTTP app.

Binds 127.0.0.1 on a free port, prints the port on stdout once listening, then serves
``/mcp`` (and ``/api/v1/mcp``) with the probe tools until terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette

from kaireon_mcp.config import load_settings
from kaireon_mcp.runtime import open_database
from kaireon_mcp.server.http import build_mcp_http, mcp_routes
from tests.mcp.probes import probe_registry


async def main() -> None:
    settings = load_settings()
    db = open_database(settings)
    await db.migrate()
    mcp_app, mcp_lifespan = build_mcp_http(db, settings, registry=probe_registry())

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with mcp_lifespan(app):
            yield

    app = Starlette(routes=mcp_routes(mcp_app), lifespan=lifespan)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    try:
        await server.serve(sockets=[sock])
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
