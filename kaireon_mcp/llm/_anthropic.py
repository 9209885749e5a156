"""Anthropic Messages API behind ``LLMClient``: raw stream events to neutral events."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, cast

import anthropic
from anthropic.types import (
    InputJSONDelta,
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    TextBlock,
    ToolUseBlock,
)
from anthropic.types import (
    TextDelta as SDKTextDelta,
)

from kaireon_mcp.errors import ProviderUnavailableError
from kaireon_mcp.llm._errors import map_sdk_errors
from kaireon_mcp.llm.base import (
    ChatMessage,
    Finish,
    FinishReason,
    LLMClient,
    LLMEvent,
    TextDelta,
    ToolCall,
    ToolDef,
    Usage,
    parse_tool_arguments,
)
from kaireon_mcp.llm.providers import ProviderConfig

__all__ = ["AnthropicClient", "to_anthropic_messages"]

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool-calls",
    "refusal": "content-filter",
}
_JSON_TOOL = "record_result"


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
                "is_error": message.is_error,
            }
        ]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in message.tool_calls
    ]
    return blocks


def to_anthropic_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Convert neutral messages to Messages API turns.

    Tool results travel as ``tool_result`` blocks of a user turn, and consecutive turns
    of one role are merged, because the API wants every tool_use answered in the very
    next user turn and rejects empty text blocks.
    """
    turns: list[dict[str, Any]] = []
    for message in messages:
        blocks = _blocks(message)
        if not blocks:
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _tool_params(tools: list[ToolDef]) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools]


def _optional(system: str, tools: list[ToolDef]) -> dict[str, Any]:
    """Parameters sent only when non-empty: the API rejects an empty system text or tool list."""
    extra: dict[str, Any] = {"system": system} if system else {}
    if tools:
        extra["tools"] = _tool_params(tools)
    return extra


@dataclass
class _PendingTool:
    id: str
    name: str
    json_parts: list[str] = field(default_factory=list)

    def complete(self) -> ToolCall:
        arguments, invalid = parse_tool_arguments("".join(self.json_parts))
        return ToolCall(self.id, self.name, arguments, invalid)


@dataclass
class _StreamState:
    """What one streamed message has said so far; tool input arrives as JSON fragments."""

    pending: dict[int, _PendingTool] = field(default_factory=dict)
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def handle(self, event: object) -> LLMEvent | None:
        if isinstance(event, RawMessageStartEvent):
            self.input_tokens = event.message.usage.input_tokens
        elif isinstance(event, RawContentBlockStartEvent):
            return self._start(event)
        elif isinstance(event, RawContentBlockDeltaEvent):
            return self._delta(event)
        elif isinstance(event, RawContentBlockStopEvent):
            pending = self.pending.pop(event.index, None)
            return pending.complete() if pending else None
        elif isinstance(event, RawMessageDeltaEvent):
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self.output_tokens = event.usage.output_tokens
        return None

    def _start(self, event: RawContentBlockStartEvent) -> LLMEvent | None:
        block = event.content_block
        if isinstance(block, ToolUseBlock):
            self.pending[event.index] = _PendingTool(block.id, block.name)
        elif isinstance(block, TextBlock) and block.text:
            return TextDelta(block.text)
        return None

    def _delta(self, event: RawContentBlockDeltaEvent) -> LLMEvent | None:
        delta = event.delta
        if isinstance(delta, SDKTextDelta) and delta.text:
            return TextDelta(delta.text)
        if isinstance(delta, InputJSONDelta) and event.index in self.pending:
            self.pending[event.index].json_parts.append(delta.partial_json)
        return None

    def finish(self) -> Finish:
        reason = _STOP_REASONS.get(self.stop_reason or "", "other")
        return Finish(reason, Usage(self.input_tokens, self.output_tokens))


class AnthropicClient(LLMClient):
    """Claude through ``anthropic.AsyncAnthropic``; streaming uses the raw SSE events."""

    def __init__(
        self, cfg: ProviderConfig, *, max_tokens: int = 4096, timeout: float = 60.0, max_retries: int = 2
    ) -> None:
        self.provider = cfg.provider
        self.model = cfg.model
        self._key = cfg.api_key
        self._max_tokens = max_tokens
        self._sdk = anthropic.AsyncAnthropic(
            api_key=cfg.api_key, base_url=cfg.base_url, timeout=timeout, max_retries=max_retries
        )

    async def stream(
        self, system: str, messages: list[ChatMessage], tools: list[ToolDef]
    ) -> AsyncGenerator[LLMEvent, None]:
        state = _StreamState()
        extra = _optional(system, tools)
        with map_sdk_errors(self.provider, self._key):
            events = await self._sdk.messages.create(
                model=self.model,
                max_tokens=self._max_tokens,
                messages=cast(Any, to_anthropic_messages(messages)),
                stream=True,
                **extra,
            )
            async with events:
                async for event in events:
                    produced = state.handle(event)
                    if produced is not None:
                        yield produced
        yield state.finish()

    async def complete_json(self, system: str, prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
        """Force a call of a single tool whose input schema is ``schema``; its input is the answer.

        Raises:
            ProviderUnavailableError: the provider failed or answered without the tool call.
        """
        tool = {"name": _JSON_TOOL, "description": "Record the structured result.", "input_schema": schema}
        with map_sdk_errors(self.provider, self._key):
            reply: Message = await self._sdk.messages.create(
                model=self.model,
                max_tokens=self._max_tokens,
                messages=[{"role": "user", "content": prompt}],
                tools=cast(Any, [tool]),
                tool_choice={"type": "tool", "name": _JSON_TOOL},
                **_optional(system, []),
            )
        for block in reply.content:
            if isinstance(block, ToolUseBlock) and isinstance(block.input, dict):
                return dict(block.input)
        raise ProviderUnavailableError(
            f"The {self.provider} model returned no structured result.", provider=self.provider
        )

    async def aclose(self) -> None:
        await self._sdk.close()
