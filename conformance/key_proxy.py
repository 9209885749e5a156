"""Loopback-only HTTP proxy that adds ``X-API-Key`` to every request (conformance runs only).

The official conformance runner (``conformance server --url``) cannot send custom headers, and
``kaireon-mcp serve`` rightly refuses unauthenticated requests. Rather than weakening the server's
auth, ``conformance/run.sh`` puts this proxy between the runner and the real server:

    KAIREON_CONFORMANCE_KEYS="krn_a krn_b ..." python conformance/key_proxy.py \
        --listen-port P --upstream-port U

Keys: ``serve`` allows 60 MCP requests per minute per API key (bridge ``LIMITS["mcp"]``), and one
suite run sends a few hundred, so the proxy spreads requests over a pool of admin keys of the
same tenant: a request that carries ``Mcp-Session-Id`` keeps the key that opened its session
(the SDK binds a session to its key); any other request takes the next key in turn.

It is byte-transparent apart from header edits on each request: ``X-API-Key`` is set and
``Connection: close`` replaces any ``Connection`` header, so every TCP connection carries exactly
one request and the rest of the stream (body, SSE responses) is piped unchanged both ways.
Host, Origin and the MCP headers reach the server as the runner sent them, so the DNS-rebinding
and header-validation scenarios test the real server. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import sys

HEADER_LIMIT = 64 * 1024
DROP = (b"connection", b"keep-alive", b"x-api-key")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _header(lines: list[bytes], name: bytes) -> bytes | None:
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


class KeyProxy:
    def __init__(self, upstream_port: int, keys: list[bytes]) -> None:
        self.upstream_port = upstream_port
        self.turn = itertools.cycle(keys)
        self.slot = {key: n for n, key in enumerate(keys, 1)}
        self.session_keys: dict[bytes, bytes] = {}

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            head = await client_r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            client_w.close()
            return
        lines = head[:-4].split(b"\r\n")
        session = _header(lines, b"mcp-session-id")
        key = self.session_keys.get(session) if session else None
        key = key or next(self.turn)
        # one access-log line per request (run.sh keeps it with the server log)
        print(lines[0].decode("latin-1"), f"key#{self.slot[key]}", flush=True)
        kept = [line for line in lines if line.partition(b":")[0].strip().lower() not in DROP]
        request = b"\r\n".join([*kept, b"X-API-Key: " + key, b"Connection: close"]) + b"\r\n\r\n"
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port, limit=HEADER_LIMIT)
        except OSError:
            client_w.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            client_w.close()
            return
        up_w.write(request)
        await up_w.drain()
        upload = asyncio.create_task(_pipe(client_r, up_w))
        try:
            response_head = await up_r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            upload.cancel()
            client_w.close()
            up_w.close()
            return
        opened = _header(response_head[:-4].split(b"\r\n"), b"mcp-session-id")
        if opened:
            self.session_keys[opened] = key
        client_w.write(response_head)
        await asyncio.gather(upload, _pipe(up_r, client_w))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    keys = [k.encode() for k in os.environ.get("KAIREON_CONFORMANCE_KEYS", "").split()]
    if not keys:
        sys.exit("KAIREON_CONFORMANCE_KEYS is not set")
    proxy = KeyProxy(args.upstream_port, keys)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.listen_port, limit=HEADER_LIMIT)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
