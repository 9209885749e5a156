"""Loopback fakes of the Anthropic and OpenAI HTTP APIs that speak their real wire formats.

Each fake is a Starlette app served by uvicorn in a thread on 127.0.0.1 (random port).
It answers from a script of turns, one per request, and records every request body so a
test can prove what did (and did not) reach the provider. It also rejects the request
shapes the real APIs reject (unanswered tool calls, orphan tool results, bad keys), so a
conversion bug fails here instead of in production.

A turn is a dict with any of:
  ``text``: assistant text (streamed in several deltas);
  ``tool_calls``: ``[(name, arguments)]``; arguments is a dict, or a str sent verbatim;
  ``json``: the structured answer to a ``complete_json`` request;
  ``error``: ``(status, message)`` answered as the provider's error body.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Turn = Mapping[str, Any]

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _chunks(text: str, size: int) -> list[str]:
    """Split into fragments so clients must accumulate, as with a real model."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _arguments_text(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _data(payload: Mapping[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _sse(data: Mapping[str, Any], event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


class FakeProvider(ABC):
    """Shared server plumbing: socket, thread, script and request log."""

    def __init__(self, turns: Iterable[Turn], api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self._turns: deque[Turn] = deque(turns)
        self._ids = itertools.count(1)
        # Listening before uvicorn starts means early clients wait in the backlog: no startup race.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        app = Starlette(routes=self.routes())
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @abstractmethod
    def routes(self) -> list[Route]:
        """The provider's endpoints."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def remaining_turns(self) -> int:
        return len(self._turns)

    def request_text(self) -> str:
        """Every recorded request body as one string, for "never sent" assertions."""
        return json.dumps(self.requests, ensure_ascii=False)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):02d}"

    def next_turn(self) -> Turn | None:
        return self._turns.popleft() if self._turns else None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> FakeProvider:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- Anthropic


def _anthropic_error(status: int, message: str) -> JSONResponse:
    kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)


def _tool_use_ids(message: Mapping[str, Any]) -> set[str]:
    content = message.get("content")
    if not isinstance(content, list):
        return set()
    return {b["id"] for b in content if b.get("type") == "tool_use"}


def _tool_result_ids(message: Mapping[str, Any]) -> set[str]:
    content = message.get("content")
    if not isinstance(content, list):
        return set()
    return {b["tool_use_id"] for b in content if b.get("type") == "tool_result"}


def validate_anthropic(body: Mapping[str, Any]) -> str | None:
    """The Messages API rules our conversion must honour; None when the body is acceptable."""
    if not body.get("model") or not isinstance(body.get("max_tokens"), int):
        return "model and max_tokens are required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if "system" in body and not body["system"]:
        return "system: text content blocks must be non-empty"
    for i, message in enumerate(messages):
        if i and messages[i - 1]["role"] == message["role"]:
            return f"messages.{i}: roles must alternate between user and assistant"
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block.get("type") == "text" and not block.get("text"):
                return f"messages.{i}: text content blocks must be non-empty"
        expected = _tool_use_ids(messages[i - 1]) if i and message["role"] == "user" else set()
        if _tool_result_ids(message) != expected:
            return f"messages.{i}: each tool_use needs exactly one tool_result in the next user message"
    if _tool_use_ids(messages[-1]):
        return "the last message must not contain unanswered tool_use blocks"
    names = {t["name"] for t in body.get("tools", [])}
    if any(t.get("input_schema", {}).get("type") != "object" for t in body.get("tools", [])):
        return "tools: input_schema must be an object schema"
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool" and choice.get("name") not in names:
        return "tool_choice names an unknown tool"
    return None


class FakeAnthropic(FakeProvider):
    """``POST /v1/messages``, streaming and not; point the SDK's ``base_url`` at ``base_url``."""

    def routes(self) -> list[Route]:
        return [Route("/v1/messages", self._messages, methods=["POST"])]

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        # SDK generations differ: older ones send x-api-key, newer ones a bearer token.
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        sent = request.headers.get("x-api-key") or bearer
        if sent != self.api_key:
            return _anthropic_error(401, "invalid x-api-key")
        problem = validate_anthropic(body)
        if problem:
            return _anthropic_error(400, problem)
        turn = self.next_turn()
        if turn is None:
            return _anthropic_error(500, "fake: no scripted turn left")
        if "error" in turn:
            return _anthropic_error(*turn["error"])
        blocks = self._blocks(turn, body)
        if body.get("stream"):
            return StreamingResponse(self._stream(blocks, body), media_type="text/event-stream")
        return JSONResponse(self._message(blocks, body, final=True))

    def _blocks(self, turn: Turn, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        if "json" in turn:
            name = body["tool_choice"]["name"]
            return [{"type": "tool_use", "id": self.next_id("toolu_"), "name": name, "input": turn["json"]}]
        blocks: list[dict[str, Any]] = [{"type": "text", "text": turn["text"]}] if turn.get("text") else []
        for name, arguments in turn.get("tool_calls", []):
            block_id = self.next_id("toolu_")
            blocks.append({"type": "tool_use", "id": block_id, "name": name, "input": arguments})
        return blocks

    def _message(self, blocks: list[dict[str, Any]], body: Mapping[str, Any], final: bool) -> dict[str, Any]:
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        return {
            "id": "msg_fake01",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": blocks if final else [],
            "stop_reason": stop if final else None,
            "stop_sequence": None,
            "usage": {"input_tokens": 42, "output_tokens": 7 if final else 1},
        }

    async def _stream(self, blocks: list[dict[str, Any]], body: Mapping[str, Any]) -> AsyncIterator[str]:
        start = self._message(blocks, body, final=False)
        yield _sse({"type": "message_start", "message": start}, "message_start")
        yield _sse({"type": "ping"}, "ping")
        for index, block in enumerate(blocks):
            for event in self._block_events(index, block):
                yield _sse(event, event["type"])
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 7},
        }
        yield _sse(delta, "message_delta")
        yield _sse({"type": "message_stop"}, "message_stop")

    def _block_events(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        if block["type"] == "text":
            skeleton: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _chunks(block["text"], 12)]
        else:
            skeleton = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            raw = _arguments_text(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [{"type": "input_json_delta", "partial_json": piece} for piece in _chunks(raw, 7)]
        return [
            {"type": "content_block_start", "index": index, "content_block": skeleton},
            *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
            {"type": "content_block_stop", "index": index},
        ]


# --------------------------------------------------------------------------- OpenAI


def _openai_error(status: int, message: str) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status)


def validate_openai(body: Mapping[str, Any]) -> str | None:
    """The chat-completions rules our conversion must honour; None when acceptable."""
    messages = body.get("messages")
    if not body.get("model") or not isinstance(messages, list) or not messages:
        return "model and messages are required"
    open_calls: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in open_calls:
                return f"messages.{i}: tool message does not answer a preceding tool call"
            open_calls.discard(message["tool_call_id"])
            continue
        if open_calls:
            return f"messages.{i}: tool calls {sorted(open_calls)} were not answered"
        if role == "assistant":
            open_calls = {c["id"] for c in message.get("tool_calls") or []}
    if open_calls:
        return "the last assistant tool calls were not answered"
    for tool in body.get("tools", []):
        if tool.get("type") != "function" or not tool.get("function", {}).get("name"):
            return "tools must be function tools with a name"
    return None


class FakeOpenAI(FakeProvider):
    """``POST /v1/chat/completions``; point the SDK's ``base_url`` at ``base_url`` (ends in /v1)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def routes(self) -> list[Route]:
        return [Route("/v1/chat/completions", self._completions, methods=["POST"])]

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _openai_error(401, "Incorrect API key provided.")
        problem = validate_openai(body)
        if problem:
            return _openai_error(400, problem)
        turn = self.next_turn()
        if turn is None:
            return _openai_error(500, "fake: no scripted turn left")
        if "error" in turn:
            return _openai_error(*turn["error"])
        scripted = turn.get("tool_calls", [])
        calls = [(self.next_id("call_"), name, _arguments_text(args)) for name, args in scripted]
        text = json.dumps(turn["json"]) if "json" in turn else turn.get("text", "")
        if body.get("stream"):
            return StreamingResponse(self._stream(text, calls, body), media_type="text/event-stream")
        return JSONResponse(self._completion(text, calls, body))

    @staticmethod
    def _envelope(body: Mapping[str, Any], kind: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake01",
            "object": kind,
            "created": 1767225600,
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }

    def _completion(
        self, text: str, calls: list[tuple[str, str, str]], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                for cid, name, args in calls
            ]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": "tool_calls" if calls else "stop",
        }
        usage = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
        return {**self._envelope(body, "chat.completion"), "choices": [choice], "usage": usage}

    def _chunk(self, body: Mapping[str, Any], delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _data({**self._envelope(body, "chat.completion.chunk"), "choices": [choice]})

    async def _stream(
        self, text: str, calls: list[tuple[str, str, str]], body: Mapping[str, Any]
    ) -> AsyncIterator[str]:
        yield self._chunk(body, {"role": "assistant", "content": "", "refusal": None})
        for piece in _chunks(text, 12) if text else []:
            yield self._chunk(body, {"content": piece})
        for index, (cid, name, args) in enumerate(calls):
            head = {
                "index": index,
                "id": cid,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            yield self._chunk(body, {"tool_calls": [head]})
            for piece in _chunks(args, 7):
                yield self._chunk(body, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield self._chunk(body, {}, "tool_calls" if calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
            yield _data({**self._envelope(body, "chat.completion.chunk"), "choices": [], "usage": usage})
        yield "data: [DONE]\n\n"
