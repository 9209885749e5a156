"""The LLM client surface: neutral types, the two SDK-backed clients and ``make_client``.

Callers import from here; the provider modules are private so that only this package
ever touches the ``anthropic`` and ``openai`` SDKs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kaireon_mcp.errors import ProviderUnavailableError
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

if TYPE_CHECKING:
    from kaireon_mcp.llm._anthropic import AnthropicClient, to_anthropic_messages
    from kaireon_mcp.llm._openai import OpenAIClient, to_openai_messages

# The SDKs cost about a second of imports (anthropic alone ~0.8 s); every server start imports this
# module through the tool registry, but only a configured provider needs them, so load on first use.
_LAZY = {
    "AnthropicClient": "kaireon_mcp.llm._anthropic",
    "to_anthropic_messages": "kaireon_mcp.llm._anthropic",
    "OpenAIClient": "kaireon_mcp.llm._openai",
    "to_openai_messages": "kaireon_mcp.llm._openai",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
        from kaireon_mcp.llm._anthropic import AnthropicClient

        return AnthropicClient(cfg, timeout=timeout, max_retries=max_retries)
    from kaireon_mcp.llm._openai import OpenAIClient

    return OpenAIClient(cfg, timeout=timeout, max_retries=max_retries)
