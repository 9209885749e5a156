"""POST /api/v1/ai/chat: one streamed assistant turn over the AI SDK UI message stream (spec 3.1).

The bridge only wires things: the provider, the route's tool subset and prompt, the
caller-scoped tool executor and the PII sanitizer go into ``llm.chat_loop.run_chat``.
The turn is persisted when the stream ends and also when the client goes away, from a
task the request's cancellation cannot interrupt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from kaireon_mcp.bridge import schemas as s
from kaireon_mcp.bridge.operations import Call, Operation
from kaireon_mcp.core.ai import conversations
from kaireon_mcp.errors import ProviderUnavailableError, ValidationError
from kaireon_mcp.llm.base import ChatMessage, LLMClient, ToolDef
from kaireon_mcp.llm.chat_loop import ChatRun, run_chat
from kaireon_mcp.llm.pii import sanitize
from kaireon_mcp.llm.providers import missing_provider_message
from kaireon_mcp.llm.sse import DONE, encode_event, stream_headers
from kaireon_mcp.llm.ui_messages import history_from_ui, message_text
from kaireon_mcp.prompts import system_prompt
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.tools.registry import REGISTRY, ScopePolicy, execute, normalize_route

__all__ = ["CHAT_OPERATIONS", "CHAT_TIMEOUT", "MAX_STEPS", "system_prompt_for"]

log = logging.getLogger("kaireon_mcp.bridge.chat")

CHAT_TIMEOUT = 60.0
MAX_STEPS = 5
FALLBACK_PROMPT = (
    "You are the KaireonAI assistant for a next-best-action decisioning platform. Use the tools to "
    "look things up before answering, cite ids, and never invent data."
)


def system_prompt_for(route: str) -> str:
    """The route's module prompt; a short built-in one when the prompt files are unavailable."""
    try:
        return system_prompt(route)
    except Exception:  # the edge: a broken prompt file must not take chat down
        log.exception("system prompt for %s unavailable; using the built-in prompt", route)
        return FALLBACK_PROMPT


def _tool_defs(route: str, principal: TenantContext) -> list[ToolDef]:
    scope = ScopePolicy(route=route)
    return [ToolDef(t.name, t.description, t.input_schema()) for t in scope.visible(REGISTRY, principal)]


def _new_messages(body: s.ChatRequest, stored_ids: set[str]) -> list[dict[str, Any]]:
    """Request messages minus system ones and ones already persisted (clients may resend history)."""
    out = []
    for message in body.messages:
        data = message.model_dump(exclude_none=True)
        if message.role == "system" or (message.id and message.id in stored_ids):
            continue
        out.append(data)
    if not any(m["role"] == "user" and message_text(m) for m in out):
        raise ValidationError("messages must contain a user message with text", field="messages")
    return out


async def _client(call: Call) -> LLMClient:
    services = call.state.services
    cfg = await services.provider(call.state.db, call.principal)
    if cfg is None or not cfg.configured or services.client_factory is None:
        raise ProviderUnavailableError(missing_provider_message())
    return services.client_factory(cfg)


async def _create_conversation(call: Call, body: s.ChatRequest, new: list[dict[str, Any]]) -> str:
    """Auto-created before streaming so its id can go into the response header."""
    first = next((message_text(m) for m in new if m["role"] == "user"), "")
    created = await conversations.create_conversation(
        call.state.db, call.principal, conversations.title_from_text(first), normalize_route(body.route)
    )
    return str(created["id"])


def _to_store(new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """User messages as typed (not sanitized: the user already sees them), one text part each."""
    out = []
    for message in new:
        if message["role"] == "user":
            text = message_text(message)
            out.append({"role": "user", "content": text, "parts": [{"type": "text", "text": text}]})
    return out


async def _persist(call: Call, conversation_id: str, new: list[dict[str, Any]], run: ChatRun) -> None:
    result = run.finalize()
    await conversations.append_turn(
        call.state.db, call.principal, conversation_id, [*_to_store(new), *result.messages]
    )


async def _chat(call: Call) -> Any:
    body: s.ChatRequest = call.body
    route = normalize_route(body.route)
    _new_messages(body, set())  # 400 before the provider check, as the spec orders them
    client = await _client(call)
    try:
        stored: list[Any] = []
        if body.conversationId:
            stored = await conversations.stored_messages(call.state.db, call.principal, body.conversationId)
        new = _new_messages(body, {str(m.get("id")) for m in stored})
        conversation_id = body.conversationId or await _create_conversation(call, body, new)
    except BaseException:
        await client.aclose()
        raise
    history: list[ChatMessage] = history_from_ui([*stored, *new])
    ctx = call.state.tool_context(call.principal, route)

    async def execute_tool(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return await execute(name, args, ctx, ScopePolicy(route=route))

    run = run_chat(
        client,
        system_prompt_for(route),
        history,
        _tool_defs(route, call.principal),
        execute_tool,
        sanitize,
        MAX_STEPS,
        timeout=CHAT_TIMEOUT,
    )
    return StreamingResponse(
        _events(call, run, client, conversation_id, new), headers=stream_headers(conversation_id)
    )


async def _events(
    call: Call, run: ChatRun, client: LLMClient, conversation_id: str, new: list[dict[str, Any]]
) -> AsyncIterator[str]:
    try:
        async for event in run:
            yield encode_event(event)
        yield DONE
    finally:
        # Runs on completion and on disconnect (cancellation); the shielded task finishes either way.
        task = call.state.spawn(_finish(call, run, client, conversation_id, new))
        await asyncio.shield(task)


async def _finish(
    call: Call, run: ChatRun, client: LLMClient, conversation_id: str, new: list[dict[str, Any]]
) -> None:
    try:
        await run.aclose()
        await _persist(call, conversation_id, new, run)
    except Exception:  # the edge: persistence failures are logged, the stream is already gone
        log.exception("could not persist chat turn of conversation %s", conversation_id)
    finally:
        await client.aclose()


CHAT_OPERATIONS: list[Operation] = [
    Operation("POST", "/api/v1/ai/chat", _chat, "Stream one assistant turn (AI SDK UI messages over SSE)",
              limit="chat", per_user_limit=True, body=s.ChatRequest, stream=True,
              responses={200: None, 404: None, 503: None}),
]  # fmt: skip
