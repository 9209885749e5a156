"""The one place provider SDK exceptions become Kaireon errors (style guide rule 9).

Messages are client-safe: they name the provider and the kind of failure, never a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anthropic
import openai

from kaireon_mcp.errors import KaireonError, ProviderUnavailableError, RateLimitedError

__all__ = ["map_sdk_errors"]

_CONNECTION = (anthropic.APIConnectionError, openai.APIConnectionError)
_AUTH = (
    anthropic.AuthenticationError,
    anthropic.PermissionDeniedError,
    openai.AuthenticationError,
    openai.PermissionDeniedError,
)
_RATE = (anthropic.RateLimitError, openai.RateLimitError)
_STATUS = (anthropic.APIStatusError, openai.APIStatusError)
_ANY = (anthropic.APIError, openai.APIError)

_MAX_DETAIL = 300


def _detail(exc: anthropic.APIError | openai.APIError, secret: str | None) -> str:
    """The provider's own explanation (e.g. an unknown model), trimmed and scrubbed of the key."""
    body = exc.body
    message = exc.message
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            message = error["message"]
    if secret:
        message = message.replace(secret, "[REDACTED]")
    return message[:_MAX_DETAIL]


def _translate(exc: anthropic.APIError | openai.APIError, provider: str, secret: str | None) -> KaireonError:
    """Pick the Kaireon error a caller can act on for one SDK failure."""
    if isinstance(exc, _CONNECTION):
        return ProviderUnavailableError(f"Could not reach the {provider} API.", provider=provider)
    if isinstance(exc, _AUTH):
        return ProviderUnavailableError(
            f"The {provider} API rejected the configured credentials; check the API key.",
            provider=provider,
        )
    if isinstance(exc, _RATE):
        return RateLimitedError(f"The {provider} API is rate limiting requests; try again shortly.")
    if isinstance(exc, _STATUS):
        return ProviderUnavailableError(
            f"The {provider} API returned HTTP {exc.status_code}: {_detail(exc, secret)}",
            provider=provider,
            providerStatus=exc.status_code,
        )
    return ProviderUnavailableError(f"The {provider} API failed: {_detail(exc, secret)}", provider=provider)


@contextmanager
def map_sdk_errors(provider: str, secret: str | None) -> Iterator[None]:
    """Translate SDK errors raised inside the block; everything else passes untouched.

    Raises:
        ProviderUnavailableError: the provider is unreachable, refused the key or failed.
        RateLimitedError: the provider throttled the request.
    """
    try:
        yield
    except _ANY as exc:
        raise _translate(exc, provider, secret) from exc
