"""The CLI as a user runs it: real subprocesses, one-line errors, exit code 2 on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAIREON_HOME": str(home), "KAIREON_SECRET_KEY": "cli-test"}
    env.pop("KAIREON_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "kaireon_mcp", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    "args",
    [
        ["seed", "--customers", "abc"],
        ["seed", "--customers", "0"],
        ["keys", "create", "--tenant", "demo", "--role", "boss"],
        ["keys"],
        ["frobnicate"],
        ["serve", "--port", "99999"],
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = run(tmp_path, *args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_seed_keys_lifecycle(tmp_path: Path) -> None:
    seeded = run(tmp_path, "seed", "--customers", "30", "--days", "14")
    assert seeded.returncode == 0 and "30 customers" in seeded.stdout
    again = run(tmp_path, "seed", "--customers", "30", "--days", "14")
    assert again.returncode == 0 and "nothing changed" in again.stdout
    created = run(tmp_path, "keys", "create", "--tenant", "demo", "--role", "editor", "--name", "ci")
    assert created.returncode == 0
    key = created.stdout.strip()
    assert key.startswith("krn_") and len(key) > 30
    listed = run(tmp_path, "keys", "list", "--tenant", "demo")
    key_id, prefix, role, state, name = listed.stdout.strip().split("\t")
    assert (prefix, role, state, name) == (key[:12], "editor", "active", "ci")
    assert key not in listed.stdout
    revoked = run(tmp_path, "keys", "revoke", key_id)
    assert revoked.returncode == 0
    assert "revoked" in run(tmp_path, "keys", "list", "--tenant", "demo").stdout
    missing = run(tmp_path, "keys", "revoke", "key_nope")
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KAIREON_HOME": str(tmp_path),
        "KAIREON_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none",
    }
    result = subprocess.run(
        [sys.executable, "-m", "kaireon_mcp", "migrate"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "unreachable" in result.stderr
