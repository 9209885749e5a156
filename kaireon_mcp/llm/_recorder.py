"""Builds the persisted assistant message from the UI events actually delivered.

Deriving storage from delivered events alone is what makes an interrupted turn persist
"whatever text was completed, with no tool result that was not delivered" (spec 3.1.3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kaireon_mcp.llm.base import Usage

__all__ = ["ChatResult", "Recorder", "UIEvent"]

UIEvent = dict[str, Any]


@dataclass(frozen=True)
class ChatResult:
    """The outcome of one turn, ready to be written as one assistant message.

    ``parts`` follow the AI SDK UIMessage shape (``step-start``, ``text``,
    ``tool-<name>``) and ``tool_invocations`` the documented legacy shape
    ``{toolCallId, toolName, args, result, state}``; tool results are sanitized.
    ``finish_reason`` is None when the consumer stopped before ``finish``.
    """

    message_id: str
    text: str
    parts: list[dict[str, Any]]
    tool_invocations: list[dict[str, Any]]
    finish_reason: str | None
    error: str | None
    usage: Usage

    @property
    def completed(self) -> bool:
        return self.finish_reason is not None and self.finish_reason != "error"

    def assistant_message(self) -> dict[str, Any]:
        """The message row as the conversation endpoints return it (spec 3.4)."""
        return {
            "id": self.message_id,
            "role": "assistant",
            "content": self.text,
            "parts": self.parts,
            "toolInvocations": self.tool_invocations,
        }

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Messages to persist for this turn: the assistant message, if it said or did anything."""
        return [self.assistant_message()] if self.text or self.tool_invocations else []


def _drop_empty_steps(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A step that delivered nothing (interrupted, or a silent model) leaves no marker behind."""
    kept: list[dict[str, Any]] = []
    for part in parts:
        if kept and kept[-1]["type"] == "step-start" and part["type"] == "step-start":
            kept.pop()
        kept.append(part)
    if kept and kept[-1]["type"] == "step-start":
        kept.pop()
    return kept


@dataclass
class Recorder:
    """Folds delivered events into message parts and tool invocations."""

    message_id: str
    usage: Usage = field(default_factory=Usage)
    open_text_id: str | None = None
    _parts: list[dict[str, Any]] = field(default_factory=list)
    _texts: dict[str, dict[str, Any]] = field(default_factory=dict)
    _inputs: dict[str, tuple[str, Any]] = field(default_factory=dict)
    _invocations: list[dict[str, Any]] = field(default_factory=list)
    _finish_reason: str | None = None
    _error: str | None = None

    def record(self, event: UIEvent, result: Any = None) -> None:
        kind = event["type"]
        if kind == "start-step":
            self._parts.append({"type": "step-start"})
        elif kind == "text-start":
            part = {"type": "text", "text": "", "state": "done"}
            self._parts.append(part)
            self._texts[event["id"]] = part
            self.open_text_id = event["id"]
        elif kind == "text-delta":
            self._texts[event["id"]]["text"] += event["delta"]
        elif kind == "text-end":
            self.open_text_id = None
        elif kind == "tool-input-available":
            self._inputs[event["toolCallId"]] = (event["toolName"], event["input"])
        elif kind == "tool-input-error":
            error = {"error": {"code": "VALIDATION", "message": event["errorText"]}}
            self._tool(event["toolCallId"], event["toolName"], event["input"], error, event["errorText"])
        elif kind in ("tool-output-available", "tool-output-error"):
            name, args = self._inputs.pop(event["toolCallId"])
            self._tool(event["toolCallId"], name, args, result, event.get("errorText"))
        elif kind == "error":
            self._error = event["errorText"]
        elif kind == "finish":
            self._finish_reason = event.get("finishReason", "stop")

    def _tool(self, call_id: str, name: str, args: Any, result: Any, error_text: str | None) -> None:
        part: dict[str, Any] = {"type": f"tool-{name}", "toolCallId": call_id, "input": args}
        if error_text is None:
            part.update(state="output-available", output=result)
        else:
            part.update(state="output-error", errorText=error_text)
        self._parts.append(part)
        self._invocations.append(
            {
                "toolCallId": call_id,
                "toolName": name,
                "args": args,
                "result": result,
                "state": "result" if error_text is None else "error",
            }
        )

    def result(self) -> ChatResult:
        parts = _drop_empty_steps([p for p in copy.deepcopy(self._parts) if p.get("text", True) != ""])
        texts = [p["text"] for p in parts if p["type"] == "text"]
        return ChatResult(
            message_id=self.message_id,
            text="\n\n".join(texts),
            parts=parts,
            tool_invocations=copy.deepcopy(self._invocations),
            finish_reason=self._finish_reason,
            error=self._error,
            usage=self.usage,
        )
