"""Provider credentials are encrypted at rest and never serialised back."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from kaireon_mcp.errors import KaireonError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.crypto import SecretBox, load_secret, masked
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Channel

SECRET_TOKEN = "twilio-auth-token-SUPERSECRET-123"


async def test_channel_credentials_never_readable_in_plain_text(db: Database) -> None:
    await db.ensure_tenant("acme")
    ctx = TenantContext(tenant_id="acme")
    cipher = db.box.encrypt_json({"provider": "twilio", "authToken": SECRET_TOKEN})
    async with db.tenant(ctx) as repo:
        channel = await repo.create(
            Channel,
            {
                "name": "SMS",
                "channel_type": "sms",
                "provider_name": "twilio",
                "provider_config_encrypted": cipher,
            },
        )
        body = channel.to_dict()
    assert "providerConfigEncrypted" not in body and SECRET_TOKEN not in repr(body)
    async with db.session() as session:
        raw = (await session.execute(text("SELECT provider_config_encrypted FROM channels"))).scalar_one()
        audit = (await session.execute(text("SELECT CAST(after AS TEXT) FROM audit_logs"))).scalar_one()
    assert SECRET_TOKEN not in raw and SECRET_TOKEN not in audit
    assert db.box.decrypt_json(raw)["authToken"] == SECRET_TOKEN


def test_wrong_key_cannot_decrypt() -> None:
    token = SecretBox("key-one").encrypt_json({"apiKey": "x"})
    with pytest.raises(KaireonError):
        SecretBox("key-two").decrypt_json(token)


def test_masked_keeps_only_provider_name() -> None:
    assert masked({"provider": "sendgrid", "apiKey": "SG.xyz"}) == {
        "provider": "sendgrid",
        "apiKey": "••••••••",
    }


def test_generated_secret_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAIREON_SECRET_KEY", raising=False)
    first = load_secret(tmp_path)
    assert load_secret(tmp_path) == first
    mode = stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode)
    assert mode == 0o600
