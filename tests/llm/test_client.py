"""Both SDK clients end to end against the loopback fakes, plus message conversion."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from kaireon_mcp.errors import ProviderUnavailableError, RateLimitedError
from kaireon_mcp.llm.client import (
    ChatMessage,
    Finish,
    TextDelta,
    ToolCall,
    ToolDef,
    Usage,
    make_client,
    to_anthropic_messages,
    to_openai_messages,
)
from kaireon_mcp.llm.providers import ProviderConfig, ProviderName
from tests.llm.conftest import Scripted, collect, config_for, start_fake

TOOLS = [
    ToolDef("listOffers", "List offers", {"type": "object", "properties": {"limit": {"type": "integer"}}})
]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"segments": {"type": "array", "items": {"type": "string"}}},
    "required": ["segments"],
}


async def test_stream_yields_text_then_complete_tool_calls_then_finish(scripted: Scripted) -> None:
    fake, client = scripted(
        [{"text": "Checking the catalogue.", "tool_calls": [("listOffers", {"limit": 3, "q": "café"})]}]
    )
    events = await collect(client.stream("You are helpful.", [ChatMessage.user("Top offers?")], TOOLS))

    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert text == "Checking the catalogue."
    assert [(c.name, c.arguments, c.invalid_arguments) for c in calls] == [
        ("listOffers", {"limit": 3, "q": "café"}, None)
    ]
    assert events[-1] == Finish("tool-calls", Usage(42, 7))
    assert sum(isinstance(e, Finish) for e in events) == 1
    assert fake.requests[0]["stream"] is True


async def test_stream_sends_system_prompt_and_tools_in_the_provider_format(
    scripted: Scripted, provider: ProviderName
) -> None:
    fake, client = scripted([{"text": "Hi."}])
    await collect(client.stream("SYSTEM PROMPT", [ChatMessage.user("hello")], TOOLS))
    body = fake.requests[0]
    if provider == "anthropic":
        assert body["system"] == "SYSTEM PROMPT"
        assert body["tools"] == [
            {"name": "listOffers", "description": "List offers", "input_schema": TOOLS[0].input_schema}
        ]
        assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    else:
        assert body["messages"][0] == {"role": "system", "content": "SYSTEM PROMPT"}
        assert body["tools"][0]["function"]["parameters"] == TOOLS[0].input_schema
        assert body["stream_options"] == {"include_usage": True}


async def test_an_empty_system_prompt_is_left_out(scripted: Scripted) -> None:
    fake, client = scripted([{"text": "Hi."}, {"json": {"segments": []}}])
    await collect(client.stream("", [ChatMessage.user("hello")], []))
    await client.complete_json("", "p", SCHEMA)
    for body in fake.requests:
        assert "system" not in body
        assert all(m["role"] != "system" for m in body["messages"])


async def test_tool_results_round_trip_in_the_shape_the_provider_accepts(scripted: Scripted) -> None:
    fake, client = scripted(
        [{"tool_calls": [("listOffers", {}), ("listOffers", {"limit": 1})]}, {"text": "Done."}]
    )
    first = await collect(client.stream("s", [ChatMessage.user("go")], TOOLS))
    calls = [e for e in first if isinstance(e, ToolCall)]
    history = [
        ChatMessage.user("go"),
        ChatMessage.assistant("", calls),
        ChatMessage.tool_result(calls[0].id, {"offers": []}),
        ChatMessage.tool_result(calls[1].id, {"error": {"message": "nope"}}, is_error=True),
    ]
    second = await collect(client.stream("s", history, TOOLS))
    # The fake rejects unanswered or orphan tool calls with HTTP 400, which would raise here.
    assert second[-1] == Finish("stop", Usage(42, 7))
    assert calls[0].id != calls[1].id
    assert fake.remaining_turns == 0


async def test_arguments_that_are_not_a_json_object_are_flagged_not_guessed(scripted: Scripted) -> None:
    _, client = scripted([{"tool_calls": [("listOffers", '{"limit": 3')]}])
    events = await collect(client.stream("s", [ChatMessage.user("go")], TOOLS))
    call = next(e for e in events if isinstance(e, ToolCall))
    assert call.arguments == {}
    assert call.invalid_arguments == '{"limit": 3'


async def test_complete_json_returns_the_structured_answer(
    scripted: Scripted, provider: ProviderName
) -> None:
    fake, client = scripted([{"json": {"segments": ["gold", "silver"]}}])
    result = await client.complete_json("Segment customers.", "Rows: ...", SCHEMA)
    assert result == {"segments": ["gold", "silver"]}
    body = fake.requests[0]
    assert not body.get("stream")
    if provider == "anthropic":
        assert body["tool_choice"] == {"type": "tool", "name": body["tools"][0]["name"]}
        assert body["tools"][0]["input_schema"] == SCHEMA
    else:
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "result", "schema": SCHEMA},
        }


async def test_complete_json_without_a_structured_answer_is_provider_unavailable(scripted: Scripted) -> None:
    _, client = scripted([{"text": "I would rather not."}])
    with pytest.raises(ProviderUnavailableError, match="no structured result"):
        await client.complete_json("s", "p", SCHEMA)


async def test_openai_complete_json_falls_back_to_json_object_mode() -> None:
    fake = start_fake(
        "openai", [{"error": (400, "response_format json_schema is unsupported")}, {"json": {"segments": []}}]
    )
    client = make_client(config_for("openai", fake), max_retries=0)
    try:
        assert await client.complete_json("Segment.", "Rows", SCHEMA) == {"segments": []}
    finally:
        await client.aclose()
        fake.stop()
    retry = fake.requests[1]
    assert retry["response_format"] == {"type": "json_object"}
    assert '"segments"' in retry["messages"][0]["content"]


async def test_a_rejected_key_becomes_provider_unavailable_without_leaking_it(provider: ProviderName) -> None:
    fake = start_fake(provider, [{"text": "never"}])
    client = make_client(config_for(provider, fake, api_key="sk-wrong-secret"), max_retries=0)
    try:
        with pytest.raises(ProviderUnavailableError) as caught:
            await collect(client.stream("s", [ChatMessage.user("hi")], []))
    finally:
        await client.aclose()
        fake.stop()
    assert "credentials" in caught.value.message
    assert "sk-wrong-secret" not in str(caught.value.to_dict())
    assert caught.value.http_status == 503


async def test_an_unreachable_provider_is_provider_unavailable(provider: ProviderName) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}" + ("/v1" if provider == "openai" else "")
    client = make_client(ProviderConfig(provider, "m", "k", base_url), max_retries=0)
    try:
        with pytest.raises(ProviderUnavailableError, match="Could not reach"):
            await client.complete_json("s", "p", SCHEMA)
    finally:
        await client.aclose()


@pytest.mark.parametrize(("status", "error"), [(429, RateLimitedError), (500, ProviderUnavailableError)])
async def test_provider_status_errors_map_to_kaireon_errors(
    scripted: Scripted, status: int, error: type[Exception]
) -> None:
    _, client = scripted([{"error": (status, "model overloaded")}])
    with pytest.raises(error):
        await collect(client.stream("s", [ChatMessage.user("hi")], []))


def test_anthropic_conversion_merges_tool_results_and_drops_empty_text() -> None:
    call = ToolCall("toolu_1", "listOffers", {"limit": 1})
    turns = to_anthropic_messages(
        [
            ChatMessage.user("go"),
            ChatMessage.assistant("", [call]),
            ChatMessage.tool_result("toolu_1", {"ok": True}),
            ChatMessage.user("and now?"),
        ]
    )
    assert turns == [
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "listOffers", "input": {"limit": 1}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": '{"ok":true}',
                    "is_error": False,
                },
                {"type": "text", "text": "and now?"},
            ],
        },
    ]


def test_openai_conversion_puts_the_system_prompt_first_and_encodes_arguments() -> None:
    call = ToolCall("call_1", "listOffers", {"limit": 1})
    messages = to_openai_messages(
        "sys", [ChatMessage.assistant("", [call]), ChatMessage.tool_result("call_1", "[]")]
    )
    assert messages == [
        {"role": "system", "content": "sys"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "listOffers", "arguments": '{"limit":1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "[]"},
    ]
