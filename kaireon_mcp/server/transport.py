"""The stdio transport over the front's wire (``kaireon_mcp.server.front``).

It keeps the SDK's ``stdio_server`` contract (two context streams of ``SessionMessage``) with
two differences that matter to a desktop host: no thread-pool hop per message in either
direction, and the end of input waits for the answers still being computed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types
from mcp.shared._context_streams import ContextReceiveStream, ContextSendStream, create_context_streams
from mcp.shared.message import SessionMessage

from kaireon_mcp.server.front import StdioFront

__all__ = ["EOF_GRACE_S", "InFlight", "front_transport"]

#: how long the end of input waits for requests still being answered
EOF_GRACE_S = 30.0


class InFlight:
    """Requests read but not yet answered, so the end of input can wait for them.

    The SDK cancels in-flight handlers when its read stream ends. A client that writes its
    requests and closes stdin (a script, a pipe) would lose the answers, so the transport ends
    the stream only once they are out (or cancelled by the client, or after ``EOF_GRACE_S``).
    """

    def __init__(self) -> None:
        self.ids: set[Any] = set()
        self.idle = asyncio.Event()
        self.idle.set()

    def inbound(self, message: Any) -> None:
        if isinstance(message, mcp_types.JSONRPCRequest):
            self.ids.add(message.id)
            self.idle.clear()
        elif (
            isinstance(message, mcp_types.JSONRPCNotification) and message.method == "notifications/cancelled"
        ):
            self.answered((message.params or {}).get("requestId"))

    def answered(self, request_id: Any) -> None:
        self.ids.discard(request_id)
        if not self.ids:
            self.idle.set()

    async def settle(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self.idle.wait()


ReadStream = ContextReceiveStream[SessionMessage | Exception]
WriteStream = ContextSendStream[SessionMessage]


@asynccontextmanager
async def front_transport(front: StdioFront) -> AsyncIterator[tuple[ReadStream, WriteStream]]:
    """The SDK's stdio transport contract over the front's wire.

    Lines arrive from the front's reader thread straight onto this loop (no thread-pool hop per
    message) and frames are written to the pipe directly; parsing and serialisation match the
    SDK's ``stdio_server`` so the session cannot tell the difference.
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_reader = create_context_streams[SessionMessage](0)

    in_flight = InFlight()

    async def reader() -> None:
        async with read_writer:
            while (line := await lines.get()) is not None:
                try:
                    message = mcp_types.jsonrpc_message_adapter.validate_json(
                        line.decode("utf-8", "replace"), by_name=False
                    )
                except Exception as exc:  # noqa: BLE001 - the session answers a parse error itself
                    await read_writer.send(exc)
                    continue
                in_flight.inbound(message)
                await read_writer.send(SessionMessage(message))
            await in_flight.settle(EOF_GRACE_S)

    async def writer() -> None:
        async with write_reader:
            async for session_message in write_reader:
                message = session_message.message
                frame = message.model_dump_json(by_alias=True, exclude_unset=True)
                if isinstance(message, mcp_types.JSONRPCResponse | mcp_types.JSONRPCError):
                    front.send(frame, message.id)
                    in_flight.answered(message.id)
                else:
                    front.send(frame)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reader)
        tasks.start_soon(writer)

        def deliver(line: bytes | None) -> None:
            loop.call_soon_threadsafe(lines.put_nowait, line)

        front.attach(deliver)
        yield read_stream, write_stream
