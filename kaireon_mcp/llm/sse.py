"""Framing of UI-message-stream events as Server-Sent Events (spec 3.1.2).

The AI SDK's ``useChat`` reads one ``data: <json>`` line per event, a blank line after
each, and a final ``data: [DONE]``; it recognises the protocol by the
``x-vercel-ai-ui-message-stream: v1`` response header.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

__all__ = ["DONE", "UI_MESSAGE_STREAM_HEADERS", "encode_event", "encode_stream", "stream_headers"]

DONE = "data: [DONE]\n\n"

UI_MESSAGE_STREAM_HEADERS: dict[str, str] = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "x-vercel-ai-ui-message-stream": "v1",
    "x-accel-buffering": "no",
}


def stream_headers(conversation_id: str | None = None) -> dict[str, str]:
    """Response headers for a chat stream; the conversation id is exposed to browsers too."""
    headers = dict(UI_MESSAGE_STREAM_HEADERS)
    if conversation_id is not None:
        headers["X-Conversation-Id"] = conversation_id
        headers["Access-Control-Expose-Headers"] = "X-Conversation-Id"
    return headers


def _finite(value: Any) -> Any:
    """JSON.parse rejects NaN and Infinity, so a stray one must not break the client's stream."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def encode_event(event: Mapping[str, Any]) -> str:
    """One event as ``data: <compact JSON>\\n\\n``."""
    try:
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    except ValueError:
        body = json.dumps(_finite(event), ensure_ascii=False, separators=(",", ":"), default=str)
    return f"data: {body}\n\n"


async def encode_stream(events: AsyncIterable[Mapping[str, Any]]) -> AsyncIterator[str]:
    """Frame every event, then the terminating ``[DONE]`` line; suits a ``StreamingResponse``."""
    async for event in events:
        yield encode_event(event)
    yield DONE
