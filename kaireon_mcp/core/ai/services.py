"""What the AI services need from outside: the environment, a model-client factory, the ML worker.

The edges (bridge, MCP tools) build one ``AiServices`` and pass it down, so the core
never reads ``os.environ`` itself and never imports a provider SDK; tests inject their
own environment pointing at loopback fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kaireon_mcp.core.ai._rows import tenant_settings
from kaireon_mcp.core.ai.ml_worker import MLWorkerClient
from kaireon_mcp.llm.base import LLMClient
from kaireon_mcp.llm.providers import ProviderConfig, resolve_provider
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database

__all__ = ["AiServices", "ClientFactory", "tenant_ai_provider"]

ClientFactory = Callable[[ProviderConfig], LLMClient]


def tenant_ai_provider(db: Database, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The tenant's stored ``aiProvider`` block with its key decrypted (never returned to clients).

    The key is stored either encrypted (``apiKeyEncrypted``, written by the settings
    tools) or, for hand-edited rows, as plain ``apiKey``.
    """
    raw = settings.get("aiProvider")
    if not isinstance(raw, Mapping):
        return {}
    block = {k: v for k, v in raw.items() if k != "apiKeyEncrypted"}
    token = raw.get("apiKeyEncrypted")
    if isinstance(token, str) and token:
        block["apiKey"] = db.box.decrypt_json(token).get("apiKey")
    return block


@dataclass
class AiServices:
    """Per-process collaborators of the AI layer; cheap to share across requests."""

    env: Mapping[str, str]
    client_factory: ClientFactory | None = None
    ml_worker: MLWorkerClient = field(default_factory=lambda: MLWorkerClient(None))
    llm_timeout: float = 45.0

    async def provider(self, db: Database, principal: TenantContext) -> ProviderConfig | None:
        """Tenant settings over environment over defaults (http-bridge.md 4.2)."""
        async with db.tenant(principal) as repo:
            stored = tenant_ai_provider(db, await tenant_settings(repo))
        return resolve_provider(stored, self.env)

    async def open_client(self, db: Database, principal: TenantContext) -> LLMClient | None:
        """A model client, or None when no usable provider is configured (callers fall back)."""
        cfg = await self.provider(db, principal)
        if cfg is None or not cfg.configured or self.client_factory is None:
            return None
        return self.client_factory(cfg)
