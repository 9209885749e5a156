"""Provider resolution: tenant settings over environment over defaults, field by field."""

from __future__ import annotations

import pytest

from kaireon_mcp.errors import ProviderUnavailableError, ValidationError
from kaireon_mcp.llm.client import AnthropicClient, OpenAIClient, make_client
from kaireon_mcp.llm.providers import (
    ProviderConfig,
    config_status,
    missing_provider_message,
    resolve_provider,
)


def test_nothing_configured_resolves_to_none() -> None:
    assert resolve_provider(None, {}) is None
    assert resolve_provider({}, {"KAIREON_AI_MODEL": "x"}) is None


def test_an_anthropic_key_alone_selects_anthropic_with_its_default_model() -> None:
    cfg = resolve_provider(None, {"ANTHROPIC_API_KEY": "sk-ant"})
    assert cfg == ProviderConfig("anthropic", "claude-sonnet-4-5", "sk-ant", None)


def test_an_openai_key_alone_selects_openai_with_its_default_model() -> None:
    cfg = resolve_provider(None, {"OPENAI_API_KEY": "sk-oa", "OPENAI_BASE_URL": "http://proxy/v1"})
    assert cfg == ProviderConfig("openai", "gpt-4o-mini", "sk-oa", "http://proxy/v1")


def test_anthropic_wins_when_both_keys_are_present_and_no_provider_is_named() -> None:
    cfg = resolve_provider(None, {"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"})
    assert cfg is not None and cfg.provider == "anthropic"


def test_the_named_provider_wins_over_key_inference() -> None:
    env = {"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o", "KAIREON_AI_PROVIDER": "openai"}
    cfg = resolve_provider(None, env)
    assert cfg == ProviderConfig("openai", "gpt-4o-mini", "o", None)


def test_env_model_and_base_url_apply_to_the_env_provider() -> None:
    env = {
        "KAIREON_AI_PROVIDER": "anthropic",
        "KAIREON_AI_MODEL": "claude-opus-4-1",
        "ANTHROPIC_API_KEY": "a",
        "ANTHROPIC_BASE_URL": "http://gateway",
    }
    assert resolve_provider(None, env) == ProviderConfig(
        "anthropic", "claude-opus-4-1", "a", "http://gateway"
    )


def test_tenant_settings_override_every_environment_field() -> None:
    env = {"KAIREON_AI_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "env-key", "KAIREON_AI_MODEL": "claude-x"}
    tenant = {"provider": "openai", "model": "gpt-4.1", "apiKey": "tenant-key", "baseUrl": "http://t/v1"}
    assert resolve_provider(tenant, env) == ProviderConfig("openai", "gpt-4.1", "tenant-key", "http://t/v1")


def test_a_tenant_that_sets_only_the_model_inherits_provider_and_key() -> None:
    env = {"KAIREON_AI_PROVIDER": "openai", "OPENAI_API_KEY": "env-key"}
    assert resolve_provider({"model": "gpt-4.1"}, env) == ProviderConfig("openai", "gpt-4.1", "env-key", None)


def test_env_model_is_dropped_when_the_tenant_switches_provider() -> None:
    env = {"KAIREON_AI_PROVIDER": "anthropic", "KAIREON_AI_MODEL": "claude-x", "OPENAI_API_KEY": "o"}
    cfg = resolve_provider({"provider": "openai"}, env)
    assert cfg == ProviderConfig("openai", "gpt-4o-mini", "o", None)


def test_blank_tenant_fields_do_not_hide_the_environment() -> None:
    env = {"OPENAI_API_KEY": "o"}
    tenant = {"provider": " ", "model": "", "apiKey": None, "baseUrl": ""}
    assert resolve_provider(tenant, env) == ProviderConfig("openai", "gpt-4o-mini", "o", None)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"KAIREON_AI_PROVIDER": "ollama"},
            ProviderConfig("ollama", "llama3.1", "not-needed", "http://127.0.0.1:11434/v1"),
        ),
        (
            {
                "KAIREON_AI_PROVIDER": "ollama",
                "OLLAMA_BASE_URL": "http://gpu:11434/v1",
                "KAIREON_AI_MODEL": "qwen3",
            },
            ProviderConfig("ollama", "qwen3", "not-needed", "http://gpu:11434/v1"),
        ),
        (
            {"KAIREON_AI_PROVIDER": "LM-Studio"},
            ProviderConfig("lm_studio", "local-model", "not-needed", "http://127.0.0.1:1234/v1"),
        ),
        (
            {"KAIREON_AI_PROVIDER": "lm_studio", "LM_STUDIO_BASE_URL": "http://box:1234/v1"},
            ProviderConfig("lm_studio", "local-model", "not-needed", "http://box:1234/v1"),
        ),
    ],
)
def test_local_providers_need_no_key_and_default_their_base_url(
    env: dict[str, str], expected: ProviderConfig
) -> None:
    cfg = resolve_provider(None, env)
    assert cfg == expected
    assert cfg.configured


def test_an_unsupported_provider_is_a_validation_error_naming_the_choices() -> None:
    with pytest.raises(ValidationError, match="anthropic, openai, ollama, lm_studio"):
        resolve_provider({"provider": "gemini"}, {})


def test_config_status_reports_a_hosted_provider_without_key_as_unconfigured() -> None:
    cfg = resolve_provider(None, {"KAIREON_AI_PROVIDER": "openai"})
    assert config_status(cfg) == {"configured": False, "provider": "openai", "model": "gpt-4o-mini"}


def test_config_status_of_a_keyed_provider_never_contains_the_key() -> None:
    cfg = resolve_provider(None, {"ANTHROPIC_API_KEY": "sk-ant-secret"})
    status = config_status(cfg)
    assert status == {"configured": True, "provider": "anthropic", "model": "claude-sonnet-4-5"}
    assert "sk-ant-secret" not in repr(cfg)


def test_config_status_without_any_provider() -> None:
    assert config_status(None) == {"configured": False, "provider": None, "model": None}


def test_missing_provider_message_names_the_variables_to_set() -> None:
    message = missing_provider_message()
    for name in (
        "KAIREON_AI_PROVIDER",
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "OLLAMA_BASE_URL",
        "LM_STUDIO_BASE_URL",
    ):
        assert name in message


def test_make_client_picks_the_sdk_by_provider() -> None:
    assert isinstance(make_client(ProviderConfig("anthropic", "m", "k")), AnthropicClient)
    assert isinstance(make_client(ProviderConfig("openai", "m", "k")), OpenAIClient)
    local = resolve_provider(None, {"KAIREON_AI_PROVIDER": "ollama"})
    assert local is not None and isinstance(make_client(local), OpenAIClient)


def test_make_client_refuses_a_config_without_its_key() -> None:
    with pytest.raises(ProviderUnavailableError, match="KAIREON_AI_PROVIDER"):
        make_client(ProviderConfig("openai", "gpt-4o-mini", None))
