"""OpenAI chat completions (and OpenAI-compatible Ollama / LM Studio) behind ``LLMClient``."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import uuid4

import openai
from openai.types.chat import ChatCompletionChunk

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
    to_json_text,
)
from kaireon_mcp.llm.providers import ProviderConfig

__all__ = ["OpenAIClient", "to_openai_messages"]

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
}


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "user":
        return {"role": "user", "content": message.content}
    out: dict[str, Any] = {"role": "assistant", "content": message.content or None}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": to_json_text(c.arguments)},
            }
            for c in message.tool_calls
        ]
    return out


def to_openai_messages(system: str, messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Convert neutral messages to chat-completions messages, system prompt first."""
    head = [{"role": "system", "content": system}] if system else []
    return head + [_message(m) for m in messages]


def _tool_params(tools: list[ToolDef]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
        }
        for t in tools
    ]


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def complete(self) -> ToolCall:
        arguments, invalid = parse_tool_arguments("".join(self.arguments))
        # Some local servers omit ids; the loop needs one to pair the result with the call.
        return ToolCall(self.id or f"call_{uuid4().hex[:24]}", self.name, arguments, invalid)


@dataclass
class _StreamState:
    """Tool calls arrive as fragments keyed by ``index``: id and name first, arguments after."""

    calls: dict[int, _PendingCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)

    def handle(self, chunk: ChatCompletionChunk) -> TextDelta | None:
        if chunk.usage is not None:
            self.usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        if not chunk.choices:
            return None
        choice = chunk.choices[0]
        self.finish_reason = choice.finish_reason or self.finish_reason
        for fragment in choice.delta.tool_calls or []:
            pending = self.calls.setdefault(fragment.index, _PendingCall())
            pending.id = fragment.id or pending.id
            if fragment.function is not None:
                # The name comes whole (never split); servers that repeat it must not double it.
                pending.name = fragment.function.name or pending.name
                pending.arguments.append(fragment.function.arguments or "")
        return TextDelta(choice.delta.content) if choice.delta.content else None

    def tool_calls(self) -> list[ToolCall]:
        return [self.calls[i].complete() for i in sorted(self.calls)]

    def finish(self) -> Finish:
        reason = _FINISH_REASONS.get(self.finish_reason or "", "other")
        if self.calls:
            # Ollama reports "stop" even when it called tools; the calls are what matter.
            reason = "tool-calls"
        return Finish(reason, self.usage)


def _parse_json_object(text: str | None) -> dict[str, Any] | None:
    """Read a JSON object, tolerating the Markdown fences local models like to add."""
    body = (text or "").strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class OpenAIClient(LLMClient):
    """GPT models, or any OpenAI-compatible local server, through ``openai.AsyncOpenAI``."""

    def __init__(self, cfg: ProviderConfig, *, timeout: float = 60.0, max_retries: int = 2) -> None:
        self.provider = cfg.provider
        self.model = cfg.model
        self._key = cfg.api_key
        self._sdk = openai.AsyncOpenAI(
            api_key=cfg.api_key, base_url=cfg.base_url, timeout=timeout, max_retries=max_retries
        )

    async def stream(
        self, system: str, messages: list[ChatMessage], tools: list[ToolDef]
    ) -> AsyncGenerator[LLMEvent, None]:
        state = _StreamState()
        extra: dict[str, Any] = {"tools": _tool_params(tools)} if tools else {}
        if self.provider == "openai":
            # Local servers differ in support for stream_options; usage is a nicety, not a need.
            extra["stream_options"] = {"include_usage": True}
        with map_sdk_errors(self.provider, self._key):
            chunks = await self._sdk.chat.completions.create(
                model=self.model,
                messages=cast(Any, to_openai_messages(system, messages)),
                stream=True,
                **extra,
            )
            async with chunks:
                async for chunk in chunks:
                    text = state.handle(chunk)
                    if text is not None:
                        yield text
        for call in state.tool_calls():
            yield call
        yield state.finish()

    async def complete_json(self, system: str, prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
        """Ask for schema-bound JSON; servers without ``json_schema`` get ``json_object`` instead.

        Raises:
            ProviderUnavailableError: the provider failed or answered with something else.
        """
        question = [ChatMessage.user(prompt)]
        strict_format = {"type": "json_schema", "json_schema": {"name": "result", "schema": schema}}
        with map_sdk_errors(self.provider, self._key):
            try:
                text = await self._complete(to_openai_messages(system, question), strict_format)
            except openai.BadRequestError:
                # json_object mode needs the word JSON in the prompt and cannot see the schema.
                hint = f"{system}\n\nAnswer with one JSON object matching this JSON Schema:\n"
                hint = hint.lstrip() + to_json_text(schema)
                text = await self._complete(to_openai_messages(hint, question), {"type": "json_object"})
        result = _parse_json_object(text)
        if result is None:
            raise ProviderUnavailableError(
                f"The {self.provider} model returned no structured result.", provider=self.provider
            )
        return result

    async def _complete(self, messages: list[dict[str, Any]], response_format: dict[str, Any]) -> str | None:
        reply = await self._sdk.chat.completions.create(
            model=self.model, messages=cast(Any, messages), response_format=cast(Any, response_format)
        )
        return reply.choices[0].message.content if reply.choices else None

    async def aclose(self) -> None:
        await self._sdk.close()
