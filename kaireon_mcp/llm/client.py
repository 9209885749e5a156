"""The LLM client surface: neutral types, the two SDK-backed clients and ``make_client``.

Callers import from here; the provider modules are private so that only this package
ever touches the ``anthropic`` and ``openai`` SDKs.
"""

from __future__ import annotations

from kaireon_mcp.errors import ProviderUnavailableError
from kaireon_mcp.llm._anthropic import AnthropicClient, to_anthropic_messages
from kaireon_mcp.llm._openai import OpenAIClient, to_openai_messages
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
)
from kaireon_mcp.llm.providers import ProviderConfig, missing_provider_message

__all__ = [
    "AnthropicClient",
    "ChatMessage",
    "Finish",
    "FinishReason",
    "LLMClient",
    "LLMEvent",
    "OpenAIClient",
    "TextDelta",
    "ToolCall",
    "ToolDef",
    "Usage",
    "make_client",
    "to_anthropic_messages",
    "to_openai_messages",
]


def make_client(cfg: ProviderConfig, *, timeout: float = 60.0, max_retries: int = 2) -> LLMClient:
    """Build the client for a resolved configuration.

    Ollama and LM Studio speak the OpenAI protocol, so they share ``OpenAIClient``.
    The caller owns the client and should ``await client.aclose()`` when done.

    Raises:
        ProviderUnavailableError: the configuration lacks the key its provider needs.
    """
    if not cfg.configured:
        raise ProviderUnavailableError(missing_provider_message(), provider=cfg.provider)
    if cfg.provider == "anthropic":
        return AnthropicClient(cfg, timeout=timeout, max_retries=max_retries)
    return OpenAIClient(cfg, timeout=timeout, max_retries=max_retries)
