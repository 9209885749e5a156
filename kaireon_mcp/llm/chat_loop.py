"""One assistant turn: model calls, tool calls and UI-message-stream events (spec 3.1).

The loop is a transport edge (style guide rule 8): it turns provider and tool failures
into ``error`` / ``tool-output-error`` events, because once the stream has started an
HTTP status can no longer carry them. Every tool output is sanitized before the model,
the client or the persisted message sees it (spec section 5).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from kaireon_mcp.errors import KaireonError
from kaireon_mcp.llm._recorder import ChatResult, Recorder, UIEvent
from kaireon_mcp.llm.base import ChatMessage, FinishReason, LLMClient, TextDelta, ToolCall, ToolDef

__all__ = ["ChatResult", "ChatRun", "ExecuteTool", "Sanitize", "UIEvent", "run_chat"]

logger = logging.getLogger(__name__)

ExecuteTool = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Sanitize = Callable[[Any], Any]

_GENERIC_MODEL_ERROR = "The assistant could not complete this answer."
_GENERIC_TOOL_ERROR = {"error": {"code": "INTERNAL", "message": "The tool failed unexpectedly."}}


@dataclass(frozen=True)
class _Emit:
    """An event plus the sanitized tool result the persisted message needs but the wire omits."""

    event: UIEvent
    result: Any = None


def _tool_error(result: Any) -> str | None:
    """The client-facing text of an ``{"error": {...}}`` tool result, else None."""
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        message = result["error"].get("message")
        return message if isinstance(message, str) and message else "The tool reported an error."
    return None


class ChatRun:
    """The events of one turn (an async iterator) and, at any point, what to persist.

    Iterate it for ``UIEvent`` dicts; call ``finalize()`` afterwards, also after the
    consumer stopped early, and ``aclose()`` when stopping early to release the model
    stream. Only events that were handed to the consumer end up in the result.
    """

    def __init__(
        self,
        client: LLMClient,
        system: str,
        history: list[ChatMessage],
        tools: list[ToolDef],
        execute_tool: ExecuteTool,
        sanitize: Sanitize,
        *,
        max_steps: int,
        timeout: float | None,
        message_id: str | None,
    ) -> None:
        self._client = client
        self._system = system
        self._history = list(history)
        self._tools = tools
        self._tool_names = {t.name for t in tools}
        self._execute = execute_tool
        self._sanitize = sanitize
        self._max_steps = max_steps
        self._timeout = timeout
        self._deadline: float | None = None
        self._recorder = Recorder(message_id or f"msg_{uuid4().hex[:24]}")
        self._gen = self._run()
        self._tail: list[UIEvent] = []
        self._timed_out = False
        self._text_count = 0
        self._open_text: str | None = None
        self._step_reason: FinishReason = "stop"

    def __aiter__(self) -> ChatRun:
        return self

    async def __anext__(self) -> UIEvent:
        if self._tail:
            return self._deliver(_Emit(self._tail.pop(0)))
        if self._timed_out:
            raise StopAsyncIteration
        if self._timeout is None:
            return self._deliver(await self._gen.__anext__())
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().time() + self._timeout
        try:
            async with asyncio.timeout_at(self._deadline):
                emitted = await self._gen.__anext__()
        except TimeoutError:
            self._timed_out = True
            await self._gen.aclose()
            message = f"The assistant did not finish within {self._timeout:g} seconds."
            self._tail = self._closing_events(message)
            return self._deliver(_Emit(self._tail.pop(0)))
        return self._deliver(emitted)

    def _deliver(self, emitted: _Emit) -> UIEvent:
        self._recorder.record(emitted.event, emitted.result)
        return emitted.event

    async def aclose(self) -> None:
        """Stop the turn and its model stream; ``finalize()`` still reports what was delivered."""
        await self._gen.aclose()

    def finalize(self) -> ChatResult:
        """What this turn produced so far, in the shape to persist (spec 3.1.3)."""
        return self._recorder.result()

    @property
    def history(self) -> list[ChatMessage]:
        """The model context including this turn's assistant and tool messages."""
        return list(self._history)

    def _closing_events(self, error_text: str) -> list[UIEvent]:
        """End an interrupted stream cleanly: close the open text block, report, finish."""
        events: list[UIEvent] = []
        if self._recorder.open_text_id is not None:
            events.append({"type": "text-end", "id": self._recorder.open_text_id})
        events.append({"type": "error", "errorText": error_text})
        events.append({"type": "finish", "finishReason": "error"})
        return events

    async def _run(self) -> AsyncGenerator[_Emit, None]:
        yield _Emit({"type": "start", "messageId": self._recorder.message_id})
        reason: FinishReason = "tool-calls"
        try:
            for _ in range(self._max_steps):
                calls: list[ToolCall] = []
                async with aclosing(self._model_step(calls)) as model_events:
                    async for emitted in model_events:
                        yield emitted
                if not calls:
                    reason = self._step_reason
                    yield _Emit({"type": "finish-step"})
                    break
                async with aclosing(self._tool_step(calls)) as tool_events:
                    async for emitted in tool_events:
                        yield emitted
                yield _Emit({"type": "finish-step"})
        except KaireonError as exc:
            for event in self._closing_events(exc.message):
                yield _Emit(event)
            return
        except Exception:  # the edge: anything else becomes a generic, secret-free error event
            logger.exception("chat turn failed")
            for event in self._closing_events(_GENERIC_MODEL_ERROR):
                yield _Emit(event)
            return
        yield _Emit({"type": "finish", "finishReason": reason})

    async def _model_step(self, calls: list[ToolCall]) -> AsyncGenerator[_Emit, None]:
        """One model call: text blocks and tool inputs as they stream in."""
        yield _Emit({"type": "start-step"})
        texts: list[str] = []
        async with aclosing(self._client.stream(self._system, self._history, self._tools)) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                    for ui_event in self._text_events(event.text):
                        yield _Emit(ui_event)
                elif isinstance(event, ToolCall):
                    calls.append(event)
                    for ui_event in self._end_text() + self._tool_input_events(event):
                        yield _Emit(ui_event)
                else:
                    self._step_reason = event.reason
                    self._recorder.usage = self._recorder.usage + event.usage
        for ui_event in self._end_text():
            yield _Emit(ui_event)
        self._history.append(ChatMessage.assistant("".join(texts), calls))

    def _text_events(self, delta: str) -> list[UIEvent]:
        """A delta, opening a text block first when none is open (one block per text run)."""
        events: list[UIEvent] = []
        if self._open_text is None:
            self._text_count += 1
            self._open_text = f"txt_{self._text_count}"
            events.append({"type": "text-start", "id": self._open_text})
        events.append({"type": "text-delta", "id": self._open_text, "delta": delta})
        return events

    def _end_text(self) -> list[UIEvent]:
        if self._open_text is None:
            return []
        text_id, self._open_text = self._open_text, None
        return [{"type": "text-end", "id": text_id}]

    def _input_problem(self, call: ToolCall) -> str | None:
        if call.name not in self._tool_names:
            return f"Unknown tool {call.name!r}."
        if call.invalid_arguments is not None:
            return "The tool arguments were not a valid JSON object."
        return None

    def _tool_input_events(self, call: ToolCall) -> list[UIEvent]:
        problem = self._input_problem(call)
        if problem is not None:
            raw = call.invalid_arguments if call.invalid_arguments is not None else call.arguments
            return [
                {
                    "type": "tool-input-error",
                    "toolCallId": call.id,
                    "toolName": call.name,
                    "input": raw,
                    "errorText": problem,
                },
            ]
        return [
            {"type": "tool-input-start", "toolCallId": call.id, "toolName": call.name},
            {
                "type": "tool-input-available",
                "toolCallId": call.id,
                "toolName": call.name,
                "input": call.arguments,
            },
        ]

    async def _tool_step(self, calls: list[ToolCall]) -> AsyncGenerator[_Emit, None]:
        """Run the calls one by one (tools may share a database session) and feed results back."""
        for call in calls:
            problem = self._input_problem(call)
            if problem is not None:
                # Already reported as tool-input-error; the model still needs an answer per call.
                error = {"error": {"code": "VALIDATION", "message": problem}}
                self._history.append(ChatMessage.tool_result(call.id, error, is_error=True))
                continue
            result = self._sanitize(await self._call_tool(call))
            error_text = _tool_error(result)
            if error_text is None:
                yield _Emit(
                    {"type": "tool-output-available", "toolCallId": call.id, "output": result}, result
                )
            else:
                yield _Emit(
                    {"type": "tool-output-error", "toolCallId": call.id, "errorText": error_text}, result
                )
            self._history.append(ChatMessage.tool_result(call.id, result, is_error=error_text is not None))

    async def _call_tool(self, call: ToolCall) -> Any:
        try:
            return await self._execute(call.name, call.arguments)
        except KaireonError as exc:
            return exc.to_dict()
        except Exception:  # the edge: a crashing tool must not end the turn (spec 3.1.2)
            logger.exception("tool %s failed", call.name)
            return _GENERIC_TOOL_ERROR


def run_chat(
    client: LLMClient,
    system: str,
    history: list[ChatMessage],
    tools: list[ToolDef],
    execute_tool: ExecuteTool,
    sanitize: Sanitize,
    max_steps: int = 5,
    *,
    timeout: float | None = 60.0,
    message_id: str | None = None,
) -> ChatRun:
    """Start one assistant turn; iterate the returned ``ChatRun`` for UI events.

    Args:
        client: the provider client (see ``make_client``).
        system: the system prompt chosen by context routing.
        history: prior conversation plus the new user message(s), oldest first.
        tools: the tool subset offered to the model.
        execute_tool: runs a tool by name; returns a JSON-able dict, ``{"error": {...}}`` on failure.
        sanitize: applied to every tool result before anyone sees it (``pii.sanitize``).
        max_steps: model calls per turn; tools requested in the last step still run.
        timeout: seconds for the whole turn, after which an ``error`` event ends it.
        message_id: id for the assistant message (``start`` event and persisted message).
    """
    return ChatRun(
        client,
        system,
        history,
        tools,
        execute_tool,
        sanitize,
        max_steps=max_steps,
        timeout=timeout,
        message_id=message_id,
    )
