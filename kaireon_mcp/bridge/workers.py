"""``serve --workers N``: one listening socket shared by N server processes.

One Python process runs one decision at a time on one core; a decision is CPU-bound, so
throughput scales with processes, as the product's own deployment scales with replicas.
The supervisor binds one listening socket per worker on the same port with SO_REUSEPORT, so
the kernel spreads connections evenly (with one shared socket, whichever worker wakes first
accepts a whole burst of connections and the other idles). It starts each worker as
``kaireon-mcp serve`` with its socket passed by file descriptor, keeps the sockets open (a
restarting worker's connections wait in its backlog), restarts a worker that dies, and stops
them all on SIGINT or SIGTERM. Workers share state through the database (and Redis for rate limits when
``KAIREON_REDIS_URL`` is set); only worker 0 runs the journey scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Sequence

__all__ = ["bind_sockets", "supervise"]

log = logging.getLogger("kaireon_mcp")

RESTART_DELAY_S = 1.0


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one port (``port`` 0 picks a free one for all)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]
        sock.listen(2048)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


async def supervise(argv: Sequence[str], sockets: Sequence[socket.socket]) -> int:
    """Run one ``kaireon-mcp <argv> --worker-fd FD --worker-index I`` per socket until stopped."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    running = [
        asyncio.create_task(_keep_alive(argv, sock, index, stopping)) for index, sock in enumerate(sockets)
    ]
    await stopping.wait()
    await asyncio.gather(*running, return_exceptions=True)
    return 0


async def _keep_alive(argv: Sequence[str], sock: socket.socket, index: int, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kaireon_mcp",
            *argv,
            "--worker-fd",
            str(sock.fileno()),
            "--worker-index",
            str(index),
            pass_fds=(sock.fileno(),),
        )
        exited = asyncio.create_task(proc.wait())
        stop = asyncio.create_task(stopping.wait())
        await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
        if stopping.is_set():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            await exited
            return
        stop.cancel()
        log.warning("worker %d exited with %s; restarting", index, proc.returncode)
        await asyncio.sleep(RESTART_DELAY_S)
