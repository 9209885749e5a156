"""Turn chat messages as clients send them and as they are stored into model context.

Accepts the shapes of spec 3.1 and 3.4: ``content`` strings, AI SDK ``parts`` arrays
(``text``, ``step-start``, ``tool-<name>``, ``dynamic-tool``, v4 ``tool-invocation``)
and the legacy ``toolInvocations`` list. Unknown part types and ``system`` messages are
dropped (the server owns the system prompt); tool calls without a delivered result are
dropped too, since a provider rejects a call that is never answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kaireon_mcp.llm.base import ChatMessage, ToolCall

__all__ = ["history_from_ui", "message_text"]

_Invocation = tuple[ToolCall, Any, bool]  # call, result, is_error


def message_text(message: Mapping[str, Any]) -> str:
    """The plain text of a message: its text parts, else its string ``content``."""
    parts = message.get("parts")
    content = message.get("content")
    if not isinstance(parts, list):
        if isinstance(content, str):
            return content
        parts = content if isinstance(content, list) else []
    texts = [p["text"] for p in parts if isinstance(p, Mapping) and p.get("type") == "text"]
    return "\n".join(t for t in texts if isinstance(t, str))


def _args(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _from_tool_part(part: Mapping[str, Any]) -> _Invocation | None:
    """A finished tool part of any AI SDK generation as (call, result, is_error)."""
    kind = str(part.get("type", ""))
    if kind == "tool-invocation" and isinstance(part.get("toolInvocation"), Mapping):
        return _from_legacy(part["toolInvocation"])
    if kind == "dynamic-tool":
        name = str(part.get("toolName", ""))
    elif kind.startswith("tool-"):
        name = kind.removeprefix("tool-")
    else:
        return None
    call = ToolCall(str(part.get("toolCallId", "")), name, _args(part.get("input")))
    if part.get("state") == "output-available":
        return call, part.get("output"), False
    if part.get("state") == "output-error":
        return call, {"error": {"message": str(part.get("errorText", "The tool failed."))}}, True
    return None


def _from_legacy(inv: Mapping[str, Any]) -> _Invocation | None:
    """A ``{toolCallId, toolName, args, result, state}`` entry; unanswered calls are skipped."""
    if "result" not in inv or inv.get("state") not in (None, "result", "error"):
        return None
    call = ToolCall(str(inv.get("toolCallId", "")), str(inv.get("toolName", "")), _args(inv.get("args")))
    return call, inv["result"], inv.get("state") == "error"


def _step_messages(text: str, invocations: list[_Invocation]) -> list[ChatMessage]:
    if not text and not invocations:
        return []
    out = [ChatMessage.assistant(text, [call for call, _, _ in invocations])]
    out += [ChatMessage.tool_result(call.id, result, is_error) for call, result, is_error in invocations]
    return out


def _assistant_from_parts(parts: list[Any]) -> list[ChatMessage]:
    """One model call per ``step-start``, so multi-step turns replay in their real order."""
    out: list[ChatMessage] = []
    texts: list[str] = []
    invocations: list[_Invocation] = []
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "step-start":
            out += _step_messages("".join(texts), invocations)
            texts, invocations = [], []
        elif part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif (invocation := _from_tool_part(part)) is not None:
            invocations.append(invocation)
    return out + _step_messages("".join(texts), invocations)


def _assistant(message: Mapping[str, Any]) -> list[ChatMessage]:
    parts = message.get("parts")
    if isinstance(parts, list) and parts:
        return _assistant_from_parts(parts)
    raw = message.get("toolInvocations") or []
    invocations = [i for i in (_from_legacy(x) for x in raw if isinstance(x, Mapping)) if i is not None]
    # The legacy shape loses the order; tools first, then the answer built from them.
    return _step_messages("", invocations) + _step_messages(message_text(message), [])


def _tool(message: Mapping[str, Any]) -> list[ChatMessage]:
    """AI SDK core ``role: tool`` messages, or a flat ``{toolCallId, content}`` message."""
    content = message.get("content")
    if isinstance(content, list):
        return [
            ChatMessage.tool_result(str(p.get("toolCallId", "")), p.get("output", p.get("result")))
            for p in content
            if isinstance(p, Mapping) and p.get("type") == "tool-result"
        ]
    call_id = message.get("toolCallId") or message.get("tool_call_id")
    return [ChatMessage.tool_result(str(call_id), content)] if call_id else []


def history_from_ui(messages: Iterable[Mapping[str, Any]]) -> list[ChatMessage]:
    """Convert stored and request messages (oldest first) into model context."""
    out: list[ChatMessage] = []
    for message in messages:
        role = message.get("role")
        if role == "user":
            text = message_text(message)
            out += [ChatMessage.user(text)] if text else []
        elif role == "assistant":
            out += _assistant(message)
        elif role == "tool":
            out += _tool(message)
    return out
