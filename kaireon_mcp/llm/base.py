"""Provider-neutral chat vocabulary: messages in, streamed events out.

The chat loop, analyzers and parse-rule speak only these types; each provider module
translates them to its SDK's wire shapes, so nothing above ``llm/`` knows which SDK runs.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ChatMessage",
    "Finish",
    "FinishReason",
    "LLMClient",
    "LLMEvent",
    "TextDelta",
    "ToolCall",
    "ToolDef",
    "Usage",
    "parse_tool_arguments",
    "to_json_text",
]

# The AI SDK's finish reasons (spec 3.1.2), so provider reasons are translated exactly once.
FinishReason = Literal["stop", "length", "content-filter", "tool-calls", "error", "other"]


def parse_tool_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """Streamed argument text as a dict, or ``({}, raw)`` when the model produced no JSON object."""
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}, raw
    return (value, None) if isinstance(value, dict) else ({}, raw)


def to_json_text(value: Any) -> str:
    """Serialise a tool result for the model: compact, UTF-8 kept, odd types stringified."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class ToolDef:
    """A tool as the model sees it; ``input_schema`` is a JSON Schema object."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call requested by the model.

    ``invalid_arguments`` holds the raw argument text when the model produced text that
    is not a JSON object; ``arguments`` is then empty and the call must not be executed.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    invalid_arguments: str | None = None


@dataclass(frozen=True)
class TextDelta:
    """A fragment of assistant text, in stream order."""

    text: str


@dataclass(frozen=True)
class Usage:
    """Token counts as reported by the provider; None when it reported nothing."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            _add(self.input_tokens, other.input_tokens), _add(self.output_tokens, other.output_tokens)
        )


def _add(a: int | None, b: int | None) -> int | None:
    if a is None and b is None:
        return None
    return (a or 0) + (b or 0)


@dataclass(frozen=True)
class Finish:
    """The last event of one model call."""

    reason: FinishReason
    usage: Usage = field(default_factory=Usage)


LLMEvent = TextDelta | ToolCall | Finish


@dataclass(frozen=True)
class ChatMessage:
    """One turn of model context, in a shape every provider can be fed.

    * ``user``: ``content`` is the user's text.
    * ``assistant``: ``content`` is the text (may be empty) and ``tool_calls`` the calls.
    * ``tool``: the result of ``tool_call_id``; ``content`` is JSON text, ``is_error``
      marks a failed call so the model can recover from it.
    """

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False

    @classmethod
    def user(cls, text: str) -> ChatMessage:
        return cls(role="user", content=text)

    @classmethod
    def assistant(cls, text: str = "", tool_calls: list[ToolCall] | tuple[ToolCall, ...] = ()) -> ChatMessage:
        return cls(role="assistant", content=text, tool_calls=tuple(tool_calls))

    @classmethod
    def tool_result(cls, tool_call_id: str, result: Any, is_error: bool = False) -> ChatMessage:
        """Build a tool message; non-string results are JSON-encoded for the model."""
        content = result if isinstance(result, str) else to_json_text(result)
        return cls(role="tool", content=content, tool_call_id=tool_call_id, is_error=is_error)


class LLMClient(ABC):
    """A provider behind one streaming interface.

    Implementations translate SDK errors into ``ProviderUnavailableError`` or
    ``RateLimitedError`` and nothing else, so callers catch ``KaireonError`` only.
    """

    provider: str
    model: str

    @abstractmethod
    def stream(
        self, system: str, messages: list[ChatMessage], tools: list[ToolDef]
    ) -> AsyncGenerator[LLMEvent, None]:
        """Run one model call, yielding text deltas, complete tool calls, then one ``Finish``."""

    @abstractmethod
    async def complete_json(self, system: str, prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
        """Ask for one JSON object shaped by ``schema`` (an object schema); not validated here."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook: clients without resources need nothing
        """Release the HTTP connection pool."""
