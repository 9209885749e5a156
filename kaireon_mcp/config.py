"""Runtime configuration read from the environment (interface.md section 3)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _env(name: str, *aliases: str, default: str | None = None) -> str | None:
    for key in (name, *aliases):
        value = os.environ.get(key)
        if value:
            return value
    return default


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """A snapshot of the environment; built once per process entry point."""

    home: Path
    database_url: str
    tenant_id: str
    api_key: str | None
    api_url: str | None
    route: str
    env: str
    allow_writes: bool
    read_only: bool
    redis_url: str | None
    ml_worker_url: str | None
    #: SINGLE_TENANT_MODE (http-bridge.md 1.1): every credential acts on ``tenant_id``
    single_tenant: bool = False

    @property
    def production(self) -> bool:
        return self.env.lower() == "production"

    @property
    def writes_enabled(self) -> bool:
        """Write gating: production needs MCP_ALLOW_WRITES=true, elsewhere writes are on."""
        return self.allow_writes or not self.production

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings() -> Settings:
    home = Path(_env("KAIREON_HOME", default=str(Path.home() / ".kaireon")) or "").expanduser()
    default_db = f"sqlite+aiosqlite:///{home / 'kaireon.db'}"
    return Settings(
        home=home,
        database_url=_env("KAIREON_DATABASE_URL", default=default_db) or default_db,
        tenant_id=_env("KAIREON_TENANT_ID", "KAIREONAI_TENANT_ID", default="demo") or "demo",
        api_key=_env("KAIREON_API_KEY", "KAIREONAI_API_KEY"),
        api_url=_env("KAIREON_API_URL"),
        route=_env("KAIREON_ROUTE", default="/") or "/",
        env=_env("KAIREON_ENV", default="development") or "development",
        allow_writes=_truthy(_env("MCP_ALLOW_WRITES")),
        read_only=_truthy(_env("KAIREON_READ_ONLY")),
        redis_url=_env("KAIREON_REDIS_URL"),
        ml_worker_url=_env("ML_WORKER_URL"),
        single_tenant=_truthy(_env("SINGLE_TENANT_MODE", "KAIREON_SINGLE_TENANT_MODE")),
    )
