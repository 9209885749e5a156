"""The chat loop over both real SDKs: UI events, tool execution, sanitization, persistence."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from kaireon_mcp.errors import NotFoundError
from kaireon_mcp.llm.chat_loop import run_chat
from kaireon_mcp.llm.client import ChatMessage, Finish, LLMClient, LLMEvent, TextDelta, ToolDef
from kaireon_mcp.llm.pii import sanitize
from tests.fakes.fake_providers import Turn
from tests.llm.conftest import Scripted, collect, event_types

OBJECT = {"type": "object", "properties": {}}
TOOLS = [
    ToolDef("explainDecision", "Explain one decision", OBJECT),
    ToolDef("listOffers", "List offers", OBJECT),
]
PLANTED = ["jane.doe@example.com", "555-0134", "4111 1111 1111 1111", "4111111111111111", "7946 0958", "Jane"]
ANSWER = "Offer O-1 won for C-0001: its score 0.749 beat the others."


class ToolLog:
    """A recording execute_tool: PII-laden decision traces and a clean offer list."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, args))
        if name == "explainDecision":
            return {
                "customerId": "C-0001",
                "firstName": "Jane",
                "email": "jane.doe@example.com",
                "profile": {"phone": "+1 (415) 555-0134", "tier": "gold"},
                "note": "Paid with card 4111 1111 1111 1111; reach her on +44 20 7946 0958.",
                "cards": ["4111111111111111"],
                "score": 0.749,
                "decidedAt": "2026-03-18T10:30:00Z",
            }
        return {"offers": [{"offerId": "O-1", "name": "Gold Card Upgrade", "cvr": 0.098}]}


TWO_TOOLS_THEN_ANSWER: list[Turn] = [
    {"tool_calls": [("explainDecision", {"decisionId": "dec_1"}), ("listOffers", {})]},
    {"text": ANSWER},
]


async def test_two_tool_calls_then_an_answer_stream_in_spec_order(scripted: Scripted) -> None:
    fake, client = scripted(TWO_TOOLS_THEN_ANSWER)
    tools = ToolLog()
    run = run_chat(client, "sys", [ChatMessage.user("Why did C-0001 get O-1?")], TOOLS, tools, sanitize)
    events = await collect(run)

    assert event_types(events) == [
        "start",
        "start-step",
        "tool-input-start",
        "tool-input-available",
        "tool-input-start",
        "tool-input-available",
        "tool-output-available",
        "tool-output-available",
        "finish-step",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    assert tools.calls == [("explainDecision", {"decisionId": "dec_1"}), ("listOffers", {})]
    inputs = [e for e in events if e["type"] == "tool-input-available"]
    outputs = [e for e in events if e["type"] == "tool-output-available"]
    assert [e["toolName"] for e in inputs] == ["explainDecision", "listOffers"]
    assert [e["toolCallId"] for e in outputs] == [e["toolCallId"] for e in inputs]
    assert "".join(e["delta"] for e in events if e["type"] == "text-delta") == ANSWER
    assert events[0] == {"type": "start", "messageId": run.finalize().message_id}
    assert events[-1] == {"type": "finish", "finishReason": "stop"}
    assert len({e["id"] for e in events if e["type"].startswith("text-")}) == 1
    assert fake.remaining_turns == 0


async def test_planted_pii_never_reaches_the_provider_the_stream_or_storage(scripted: Scripted) -> None:
    fake, client = scripted(TWO_TOOLS_THEN_ANSWER)
    run = run_chat(client, "sys", [ChatMessage.user("Explain dec_1")], TOOLS, ToolLog(), sanitize)
    events = await collect(run)
    stored = json.dumps(run.finalize().messages, ensure_ascii=False)
    streamed = json.dumps(events, ensure_ascii=False)
    sent = fake.request_text()

    for secret in PLANTED:
        assert secret not in sent
        assert secret not in streamed
        assert secret not in stored
    for kept in ("C-0001", "0.749", "2026-03-18T10:30:00Z", "gold"):
        assert kept in sent
    output = next(e for e in events if e["type"] == "tool-output-available")["output"]
    assert output["email"] == "[REDACTED:EMAIL]"
    assert output["profile"] == {"phone": "[REDACTED:PHONE]", "tier": "gold"}
    assert output["cards"] == ["[REDACTED:CARD]"]


async def test_finalize_returns_the_assistant_message_to_persist(scripted: Scripted) -> None:
    _, client = scripted(TWO_TOOLS_THEN_ANSWER)
    run = run_chat(client, "sys", [ChatMessage.user("q")], TOOLS, ToolLog(), sanitize, message_id="msg_fixed")
    await collect(run)
    result = run.finalize()

    assert result.completed and result.finish_reason == "stop" and result.error is None
    assert result.usage.input_tokens == 84
    message = result.assistant_message()
    assert message["id"] == "msg_fixed" and message["role"] == "assistant"
    assert message["content"] == ANSWER
    invocations = message["toolInvocations"]
    assert [(i["toolName"], i["args"], i["state"]) for i in invocations] == [
        ("explainDecision", {"decisionId": "dec_1"}, "result"),
        ("listOffers", {}, "result"),
    ]
    assert invocations[1]["result"] == {
        "offers": [{"offerId": "O-1", "name": "Gold Card Upgrade", "cvr": 0.098}]
    }
    assert [p["type"] for p in message["parts"]] == [
        "step-start",
        "tool-explainDecision",
        "tool-listOffers",
        "step-start",
        "text",
    ]
    assert message["parts"][2]["state"] == "output-available"
    assert result.messages == [message]


async def test_a_tool_error_is_reported_and_handed_to_the_model(scripted: Scripted) -> None:
    fake, client = scripted(
        [{"tool_calls": [("explainDecision", {"decisionId": "dec_9"})]}, {"text": "Not found."}]
    )

    async def failing(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "error": {"code": "NOT_FOUND", "message": "Decision dec_9 not found (ask jane.doe@example.com)"}
        }

    run = run_chat(client, "sys", [ChatMessage.user("q")], TOOLS, failing, sanitize)
    events = await collect(run)

    error = next(e for e in events if e["type"] == "tool-output-error")
    assert error["errorText"] == "Decision dec_9 not found (ask [REDACTED:EMAIL])"
    assert events[-1] == {"type": "finish", "finishReason": "stop"}
    assert "dec_9 not found" in json.dumps(fake.requests[1])
    assert "jane.doe" not in fake.request_text()
    invocation = run.finalize().tool_invocations[0]
    assert invocation["state"] == "error"
    assert invocation["result"]["error"]["code"] == "NOT_FOUND"


async def test_raising_tools_do_not_end_the_turn(scripted: Scripted) -> None:
    _, client = scripted(
        [{"tool_calls": [("explainDecision", {}), ("listOffers", {})]}, {"text": "Partial."}]
    )

    async def raising(name: str, args: dict[str, Any]) -> dict[str, Any]:
        if name == "explainDecision":
            raise NotFoundError("Decision not found")
        raise RuntimeError("db exploded at /srv/secret/path")

    events = await collect(run_chat(client, "sys", [ChatMessage.user("q")], TOOLS, raising, sanitize))
    errors = [e["errorText"] for e in events if e["type"] == "tool-output-error"]
    assert errors == ["Decision not found", "The tool failed unexpectedly."]
    assert "/srv/secret" not in json.dumps(events)
    assert events[-1] == {"type": "finish", "finishReason": "stop"}


async def test_invalid_or_unknown_tool_calls_are_input_errors_and_never_executed(scripted: Scripted) -> None:
    fake, client = scripted(
        [
            {"tool_calls": [("listOffers", '{"limit": '), ("dropTables", {})]},
            {"text": "Sorry, retrying later."},
        ]
    )
    tools = ToolLog()
    events = await collect(run_chat(client, "sys", [ChatMessage.user("q")], TOOLS, tools, sanitize))

    input_errors = [e for e in events if e["type"] == "tool-input-error"]
    assert [(e["toolName"], e["input"]) for e in input_errors] == [
        ("listOffers", '{"limit": '),
        ("dropTables", {}),
    ]
    assert "Unknown tool 'dropTables'" in input_errors[1]["errorText"]
    assert tools.calls == []
    assert not [e for e in events if e["type"].startswith("tool-output")]
    assert fake.remaining_turns == 0  # the model was told and answered


async def test_the_step_budget_ends_the_turn_with_tool_calls(scripted: Scripted) -> None:
    again: Turn = {"tool_calls": [("listOffers", {})]}
    fake, client = scripted([again, again, again])
    tools = ToolLog()
    run = run_chat(client, "sys", [ChatMessage.user("loop")], TOOLS, tools, sanitize, max_steps=2)
    events = await collect(run)

    assert len(fake.requests) == 2 and fake.remaining_turns == 1
    assert len(tools.calls) == 2
    assert events[-1] == {"type": "finish", "finishReason": "tool-calls"}
    assert event_types(events).count("finish-step") == 2


async def test_a_provider_failure_mid_turn_becomes_error_then_finish(scripted: Scripted) -> None:
    _, client = scripted([{"tool_calls": [("listOffers", {})]}, {"error": (500, "upstream exploded")}])
    run = run_chat(client, "sys", [ChatMessage.user("q")], TOOLS, ToolLog(), sanitize)
    events = await collect(run)

    assert event_types(events)[-3:] == ["start-step", "error", "finish"]
    assert "HTTP 500" in events[-2]["errorText"]
    assert events[-1] == {"type": "finish", "finishReason": "error"}
    result = run.finalize()
    assert not result.completed and result.error == events[-2]["errorText"]
    assert [i["toolName"] for i in result.tool_invocations] == ["listOffers"]


async def test_stopping_early_persists_only_what_was_delivered(scripted: Scripted) -> None:
    _, client = scripted(TWO_TOOLS_THEN_ANSWER)
    run = run_chat(client, "sys", [ChatMessage.user("q")], TOOLS, ToolLog(), sanitize)
    async for event in run:
        if event["type"] == "tool-output-available":
            break
    await run.aclose()
    result = run.finalize()

    assert result.finish_reason is None and not result.completed
    assert [i["toolName"] for i in result.tool_invocations] == ["explainDecision"]
    assert result.text == ""
    assert [p["type"] for p in result.parts] == ["step-start", "tool-explainDecision"]


async def test_stopping_mid_text_keeps_the_text_delivered_so_far(scripted: Scripted) -> None:
    _, client = scripted([{"text": ANSWER}])
    run = run_chat(client, "sys", [ChatMessage.user("q")], TOOLS, ToolLog(), sanitize)
    first = ""
    async for event in run:
        if event["type"] == "text-delta":
            first = event["delta"]
            break
    await run.aclose()
    result = run.finalize()
    assert first and ANSWER.startswith(first)
    assert result.text == first
    assert result.messages[0]["content"] == first


class StallingClient(LLMClient):
    """A model that says one word and then never finishes: what the 60 s limit is for."""

    provider = "stalling"
    model = "stalling"

    async def stream(
        self, system: str, messages: list[ChatMessage], tools: list[ToolDef]
    ) -> AsyncGenerator[LLMEvent, None]:
        yield TextDelta("Thinking")
        await asyncio.Event().wait()
        yield Finish("stop")

    async def complete_json(self, system: str, prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("not used")


async def test_the_turn_deadline_closes_the_text_and_reports_an_error() -> None:
    run = run_chat(StallingClient(), "sys", [ChatMessage.user("q")], TOOLS, ToolLog(), sanitize, timeout=0.05)
    events = await collect(run)

    assert event_types(events) == [
        "start",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "error",
        "finish",
    ]
    assert "did not finish within 0.05 seconds" in events[-2]["errorText"]
    assert events[-1] == {"type": "finish", "finishReason": "error"}
    assert run.finalize().text == "Thinking"
