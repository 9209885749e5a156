"""Which LLM provider a request talks to: tenant settings over environment over defaults.

Resolution follows interface.md section 3 (``KAIREON_AI_*`` and the SDKs' own variables)
with the per-field merge of http-bridge.md section 4.2: a tenant that stores only a
``model`` still inherits the key from the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kaireon_mcp.errors import ValidationError

__all__ = [
    "DEFAULT_MODELS",
    "LOCAL_PROVIDERS",
    "PROVIDERS",
    "ProviderConfig",
    "ProviderName",
    "config_status",
    "missing_provider_message",
    "resolve_provider",
]

ProviderName = Literal["anthropic", "openai", "ollama", "lm_studio"]

PROVIDERS: tuple[ProviderName, ...] = ("anthropic", "openai", "ollama", "lm_studio")
LOCAL_PROVIDERS: frozenset[str] = frozenset({"ollama", "lm_studio"})

DEFAULT_MODELS: dict[ProviderName, str] = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o-mini",
    "ollama": "llama3.1",
    "lm_studio": "local-model",
}

# Local OpenAI-compatible servers ignore the key, but the openai SDK refuses to start without one.
LOCAL_PLACEHOLDER_KEY = "not-needed"

_KEY_VARS: dict[ProviderName, str] = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
_BASE_URL_VARS: dict[ProviderName, str] = {
    "anthropic": "ANTHROPIC_BASE_URL",
    "openai": "OPENAI_BASE_URL",
    "ollama": "OLLAMA_BASE_URL",
    "lm_studio": "LM_STUDIO_BASE_URL",
}
_DEFAULT_BASE_URLS: dict[ProviderName, str] = {
    "ollama": "http://127.0.0.1:11434/v1",
    "lm_studio": "http://127.0.0.1:1234/v1",
}
_ALIASES = {"lm-studio": "lm_studio", "lmstudio": "lm_studio", "claude": "anthropic"}


@dataclass(frozen=True)
class ProviderConfig:
    """The merged provider settings of one request; ``api_key`` is kept out of ``repr``."""

    provider: ProviderName
    model: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None

    @property
    def configured(self) -> bool:
        """Local servers need no key; hosted providers are usable only with one (spec 3.17)."""
        return self.provider in LOCAL_PROVIDERS or bool(self.api_key)


def _clean(value: Any) -> str | None:
    """Empty strings and whitespace mean "not set", so a blank form field never wins."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _normalise_provider(raw: str | None) -> ProviderName | None:
    """Map user spellings to a provider id; unknown ids are an error, not a silent default.

    Raises:
        ValidationError: the provider is not one this build can drive.
    """
    if raw is None:
        return None
    name = _ALIASES.get(raw.lower(), raw.lower())
    if name not in PROVIDERS:
        supported = ", ".join(PROVIDERS)
        raise ValidationError(f"Unsupported AI provider {raw!r}; use one of: {supported}.", field="provider")
    return name


def _pick_provider(tenant: Mapping[str, Any], env: Mapping[str, str]) -> ProviderName | None:
    explicit = _clean(tenant.get("provider")) or _clean(env.get("KAIREON_AI_PROVIDER"))
    if explicit is not None:
        return _normalise_provider(explicit)
    # No provider named anywhere: a present SDK key is the clearest statement of intent.
    if _clean(env.get("ANTHROPIC_API_KEY")):
        return "anthropic"
    if _clean(env.get("OPENAI_API_KEY")):
        return "openai"
    return None


def _pick_model(provider: ProviderName, tenant: Mapping[str, Any], env: Mapping[str, str]) -> str:
    tenant_model = _clean(tenant.get("model"))
    if tenant_model:
        return tenant_model
    # An env model names a model of the env provider; it is meaningless once a tenant switched provider.
    env_provider = _clean(env.get("KAIREON_AI_PROVIDER"))
    env_model = _clean(env.get("KAIREON_AI_MODEL"))
    if env_model and (env_provider is None or _normalise_provider(env_provider) == provider):
        return env_model
    return DEFAULT_MODELS[provider]


def _pick_key(provider: ProviderName, tenant: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    tenant_key = _clean(tenant.get("apiKey"))
    if tenant_key:
        return tenant_key
    if provider in LOCAL_PROVIDERS:
        return LOCAL_PLACEHOLDER_KEY
    return _clean(env.get(_KEY_VARS[provider]))


def _pick_base_url(provider: ProviderName, tenant: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    return (
        _clean(tenant.get("baseUrl"))
        or _clean(env.get(_BASE_URL_VARS[provider]))
        or _DEFAULT_BASE_URLS.get(provider)
    )


def resolve_provider(
    tenant_ai_settings: Mapping[str, Any] | None, env: Mapping[str, str]
) -> ProviderConfig | None:
    """Merge a tenant's stored AI settings over the environment, field by field.

    Args:
        tenant_ai_settings: the tenant's ``aiProvider`` settings (``provider``, ``model``,
            ``apiKey`` already decrypted, ``baseUrl``), or None.
        env: the process environment (pass ``os.environ``); injected so tests need no patching.

    Returns:
        The configuration, or None when neither the tenant nor the environment names a
        provider or carries a provider key. A returned config may still lack its key;
        check ``config.configured``.

    Raises:
        ValidationError: the named provider is not supported.
    """
    tenant = tenant_ai_settings or {}
    provider = _pick_provider(tenant, env)
    if provider is None:
        return None
    return ProviderConfig(
        provider=provider,
        model=_pick_model(provider, tenant, env),
        api_key=_pick_key(provider, tenant, env),
        base_url=_pick_base_url(provider, tenant, env),
    )


def config_status(cfg: ProviderConfig | None) -> dict[str, Any]:
    """The ``/config-status`` body (spec 3.17) plus the model; never includes the key."""
    if cfg is None:
        return {"configured": False, "provider": None, "model": None}
    return {"configured": cfg.configured, "provider": cfg.provider, "model": cfg.model}


def missing_provider_message() -> str:
    """Tell an operator exactly which variables make the assistant work."""
    return (
        "No AI provider is configured. Set KAIREON_AI_PROVIDER (anthropic, openai, ollama or "
        "lm_studio) together with ANTHROPIC_API_KEY or OPENAI_API_KEY, or point OLLAMA_BASE_URL / "
        "LM_STUDIO_BASE_URL at a local server; a tenant can also store its own provider settings."
    )
