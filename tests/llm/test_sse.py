"""SSE framing of the UI message stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from kaireon_mcp.llm.sse import DONE, UI_MESSAGE_STREAM_HEADERS, encode_event, encode_stream, stream_headers
from tests.llm.conftest import collect


def test_an_event_is_one_compact_data_line_and_a_blank_line() -> None:
    assert encode_event({"type": "text-delta", "id": "txt_1", "delta": "Grüße "}) == (
        'data: {"type":"text-delta","id":"txt_1","delta":"Grüße "}\n\n'
    )


def test_non_finite_numbers_become_null_so_json_parse_accepts_them() -> None:
    line = encode_event(
        {"type": "tool-output-available", "toolCallId": "c", "output": {"lift": float("nan")}}
    )
    assert json.loads(line.removeprefix("data: ")) == {
        "type": "tool-output-available",
        "toolCallId": "c",
        "output": {"lift": None},
    }


async def test_the_stream_ends_with_done() -> None:
    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {"type": "start", "messageId": "m"}
        yield {"type": "finish", "finishReason": "stop"}

    lines = await collect(encode_stream(events()))
    assert lines == [
        'data: {"type":"start","messageId":"m"}\n\n',
        'data: {"type":"finish","finishReason":"stop"}\n\n',
        "data: [DONE]\n\n",
    ]
    assert lines[-1] == DONE


def test_headers_announce_the_ui_message_stream_protocol() -> None:
    assert UI_MESSAGE_STREAM_HEADERS["x-vercel-ai-ui-message-stream"] == "v1"
    assert UI_MESSAGE_STREAM_HEADERS["Content-Type"] == "text/event-stream"
    headers = stream_headers("conv_abc123")
    assert headers["X-Conversation-Id"] == "conv_abc123"
    assert headers["Access-Control-Expose-Headers"] == "X-Conversation-Id"
    assert headers["x-accel-buffering"] == "no" and headers["Cache-Control"] == "no-cache"
