"""Chat over the fake Anthropic and OpenAI servers: tools, streaming, persistence, PII, history."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import AiMessage
from tests.bridge.conftest import TENANT_A, Bridge, build_app, mint_keys
from tests.fakes.fake_providers import FakeAnthropic, FakeOpenAI, FakeProvider

PII_EMAIL = "jane.doe@example.com"
PII_SSN = "123-45-6789"
TOOL_TURN = {"tool_calls": [("listAiRecommendations", {}), ("getAnalyzerSettings", {})]}
ANSWER = "You have one new recommendation about frequency caps."


def _env(fake: FakeProvider) -> dict[str, str]:
    if isinstance(fake, FakeAnthropic):
        return {
            "KAIREON_AI_PROVIDER": "anthropic",
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": fake.base_url,
        }
    return {"KAIREON_AI_PROVIDER": "openai", "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": fake.base_url}


@pytest.fixture(params=["anthropic", "openai"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeProvider]:
    turns = [TOOL_TURN, {"text": ANSWER}, {"text": "Glad to help again."}]
    server: FakeProvider = FakeAnthropic(turns) if request.param == "anthropic" else FakeOpenAI(turns)
    with server:
        yield server


def events(text: str) -> list[Any]:
    frames = [line.removeprefix("data: ") for line in text.split("\n\n") if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    return [json.loads(f) for f in frames[:-1]]


async def _chat_bridge(db: Any, fake: FakeProvider) -> Bridge:
    return Bridge(db, build_app(db, env=_env(fake)), await mint_keys(db, (TENANT_A,)))


async def _plant_pii(bridge: Bridge) -> None:
    async with bridge.client() as client:
        rec = {
            "type": "policy",
            "title": "Cap email",
            "description": f"Raised by {PII_EMAIL} (SSN {PII_SSN}) after complaints.",
            "payload": {"maxContactsPerWeek": 3},
        }
        assert (await client.post("/api/v1/ai/recommendations", json=rec)).status_code == 201


async def test_two_tool_turn_streams_persists_and_continues(db: Any, fake: FakeProvider) -> None:
    bridge = await _chat_bridge(db, fake)
    await _plant_pii(bridge)
    async with bridge.client(role="viewer", **{"X-User-Id": "u-7"}) as client:
        first = await client.post(
            "/api/v1/ai/chat", json={"messages": [{"role": "user", "content": "What should I review?"}]}
        )
        assert first.status_code == 200, first.text
        assert first.headers["content-type"].startswith("text/event-stream")
        assert first.headers["x-vercel-ai-ui-message-stream"] == "v1"
        conv_id = first.headers["x-conversation-id"]
        stream = events(first.text)
        kinds = [e["type"] for e in stream]
        assert kinds[0] == "start" and kinds[-1] == "finish" and stream[-1]["finishReason"] == "stop"
        assert [e["toolName"] for e in stream if e["type"] == "tool-input-available"] == [
            "listAiRecommendations",
            "getAnalyzerSettings",
        ]
        assert kinds.count("tool-output-available") == 2
        assert "".join(e["delta"] for e in stream if e["type"] == "text-delta") == ANSWER
        assert PII_EMAIL not in first.text and PII_SSN not in first.text

        second = await client.post(
            "/api/v1/ai/chat",
            json={
                "conversationId": conv_id,
                "messages": [{"id": "m2", "role": "user", "parts": [{"type": "text", "text": "Thanks!"}]}],
            },
        )
        assert second.status_code == 200 and second.headers["x-conversation-id"] == conv_id
        assert "".join(e.get("delta", "") for e in events(second.text)) == "Glad to help again."
        conversation = (await client.get(f"/api/v1/ai/conversations/{conv_id}")).json()

    assert conversation["title"] == "What should I review?" and conversation["userId"] == "u-7"
    roles = [m["role"] for m in conversation["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assistant = conversation["messages"][1]
    assert assistant["content"] == ANSWER
    assert [t["toolName"] for t in assistant["toolInvocations"]] == [
        "listAiRecommendations",
        "getAnalyzerSettings",
    ]
    # the continued turn sent the stored history (both tool results) to the provider
    last = json.dumps(fake.requests[-1])
    assert "What should I review?" in last and "Thanks!" in last and ANSWER in last
    # PII never reached the provider nor the database
    assert PII_EMAIL not in fake.request_text() and PII_SSN not in fake.request_text()
    assert "[REDACTED:EMAIL]" in fake.request_text()
    async with db.tenant(TenantContext(TENANT_A)) as repo:
        stored = json.dumps([m.to_dict() for m in (await repo.session.execute(select(AiMessage))).scalars()])
    assert PII_EMAIL not in stored and PII_SSN not in stored


async def test_chat_without_provider_is_503_naming_the_variables(bridge: Bridge) -> None:
    async with bridge.client(role="viewer") as client:
        response = await client.post(
            "/api/v1/ai/chat", json={"messages": [{"role": "user", "content": "hi"}]}
        )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "PROVIDER_UNAVAILABLE" and "KAIREON_AI_PROVIDER" in error["message"]


async def test_chat_validation_and_unknown_conversation(db: Any) -> None:
    with FakeOpenAI([]) as fake:
        bridge = await _chat_bridge(db, fake)
        async with bridge.client() as client:
            assert (await client.post("/api/v1/ai/chat", json={"messages": []})).status_code == 400
            no_text = {"messages": [{"role": "user", "content": ""}]}
            assert (await client.post("/api/v1/ai/chat", json=no_text)).status_code == 400
            unknown = {"conversationId": "conv_nope", "messages": [{"role": "user", "content": "hi"}]}
            assert (await client.post("/api/v1/ai/chat", json=unknown)).status_code == 404
        assert fake.requests == []


async def test_disconnect_still_persists_the_turn(db: Any) -> None:
    with FakeAnthropic([{"text": "A long answer " * 40}]) as fake:
        bridge = await _chat_bridge(db, fake)
        body = json.dumps({"messages": [{"role": "user", "content": "Tell me everything"}]}).encode()
        got_chunk = asyncio.Event()
        sent: list[dict[str, Any]] = []
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": body, "more_body": False}
            await got_chunk.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and message.get("body"):
                got_chunk.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/v1/ai/chat",
            "raw_path": b"/api/v1/ai/chat",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-api-key", bridge.keys[(TENANT_A, "admin")].encode()),
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("bridge.test", 80),
        }
        async with asyncio.timeout(5):
            await bridge.app(scope, receive, send)
            await asyncio.gather(*bridge.app.state.bridge.background)
    assert sent[0]["status"] == 200
    async with db.tenant(TenantContext(TENANT_A)) as repo:
        rows = (await repo.session.execute(select(AiMessage).order_by(AiMessage.seq))).scalars().all()
    assert rows and rows[0].role == "user" and rows[0].content == "Tell me everything"
