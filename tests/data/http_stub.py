"""A tiny loopback HTTP/1.1 server for probe and sync tests (never leaves 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def http_stub(routes: dict[str, tuple[int, Any]]) -> AsyncIterator[tuple[str, list[str]]]:
    """Serve ``{path: (status, json_body)}``; yields the base URL and the request lines seen."""
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode()
        seen.append(line)
        method, target = line.split(" ")[:2]
        status, body = routes.get(target.split("?", 1)[0], (404, {"error": "not found"}))
        payload = b"" if method == "HEAD" else json.dumps(body).encode()
        length = len(json.dumps(body).encode())
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()
        await server.wait_closed()
