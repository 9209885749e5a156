"""Fixtures for the LLM layer: a scripted fake provider on loopback plus a real SDK client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

import pytest

from kaireon_mcp.llm.client import LLMClient, make_client
from kaireon_mcp.llm.providers import ProviderConfig, ProviderName
from tests.fakes.fake_providers import FakeAnthropic, FakeOpenAI, FakeProvider, Turn

Scripted = Callable[[list[Turn]], tuple[FakeProvider, LLMClient]]
T = TypeVar("T")


def start_fake(provider: ProviderName, turns: list[Turn]) -> FakeProvider:
    fake: FakeProvider = FakeAnthropic(turns) if provider == "anthropic" else FakeOpenAI(turns)
    fake.start()
    return fake


def config_for(provider: ProviderName, fake: FakeProvider, api_key: str | None = None) -> ProviderConfig:
    return ProviderConfig(provider, "test-model", api_key or fake.api_key, fake.base_url)


@pytest.fixture(params=["anthropic", "openai"])
def provider(request: pytest.FixtureRequest) -> ProviderName:
    """Every end-to-end test runs once per real SDK."""
    name: ProviderName = request.param
    return name


@pytest.fixture
async def scripted(provider: ProviderName) -> AsyncIterator[Scripted]:
    """Build (fake, client) pairs from a script; all are closed and stopped afterwards."""
    built: list[tuple[FakeProvider, LLMClient]] = []

    def build(turns: list[Turn]) -> tuple[FakeProvider, LLMClient]:
        fake = start_fake(provider, turns)
        client = make_client(config_for(provider, fake), max_retries=0)
        built.append((fake, client))
        return fake, client

    yield build
    for fake, client in built:
        await client.aclose()
        fake.stop()


async def collect(items: AsyncIterable[T]) -> list[T]:
    """Drain an async iterator, bounded so a hang fails the test instead of stalling it."""
    async with asyncio.timeout(5):
        return [item async for item in items]


def event_types(events: list[dict[str, Any]]) -> list[str]:
    """Event types with runs of text-delta collapsed, since chunking is the provider's choice."""
    out: list[str] = []
    for event in events:
        if not (event["type"] == "text-delta" and out and out[-1] == "text-delta"):
            out.append(event["type"])
    return out
