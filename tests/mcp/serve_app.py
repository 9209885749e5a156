"""``python -m tests.mcp.serve_app FD``: a serve-like uvicorn process running the MCP HTTP app.

Serves ``/mcp`` (and ``/api/v1/mcp``) with the probe tools on an inherited, already listening
socket until terminated. The parent binds the socket, so clients may connect before this process
has finished importing: the kernel queues them in the listen backlog.
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


async def main(fd: int) -> None:
    settings = load_settings()
    db = open_database(settings)
    await db.migrate()
    mcp_app, mcp_lifespan = build_mcp_http(db, settings, registry=probe_registry())

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with mcp_lifespan(app):
            yield

    app = Starlette(routes=mcp_routes(mcp_app), lifespan=lifespan)
    sock = socket.socket(fileno=fd)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    try:
        await server.serve(sockets=[sock])
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
    sys.exit(0)
