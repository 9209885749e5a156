"""Encryption at rest for provider credentials (Fernet keyed by KAIREON_SECRET_KEY)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from kaireon_mcp.errors import KaireonError

MASK = "••••••••"


def _secret_file(home: Path) -> Path:
    return home / "secret.key"


def load_secret(home: Path) -> str:
    """KAIREON_SECRET_KEY, else a key generated once into $KAIREON_HOME/secret.key (0600)."""
    env = os.environ.get("KAIREON_SECRET_KEY")
    if env:
        return env
    path = _secret_file(home)
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


class SecretBox:
    """Any secret string is stretched to a Fernet key so operators can pick their own."""

    def __init__(self, secret: str) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
        self._fernet = Fernet(key)

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode()).decode()

    def decrypt_json(self, token: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise KaireonError("stored credentials cannot be decrypted with this KAIREON_SECRET_KEY") from exc
        return data


def masked(config: dict[str, Any]) -> dict[str, Any]:
    """What reads show instead of secrets: the provider name and masked values."""
    return {key: (value if key == "provider" else MASK) for key, value in config.items()}
