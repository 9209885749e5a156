"""The stdio front (``kaireon_mcp.server.front``): handshake answers replayed from the server's own.

Driven over raw pipes so the exact frames are visible. The proof that an answer came from the
replay cache and not from a loaded server: the second start runs on a database file that is no
longer a database, so the server itself can only fail (exit 1) — yet the handshake and the tool
list arrive first, identical to what the healthy server said.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kaireon_mcp.server.front import replay_key
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.registry import route_code
from tests.mcp.conftest import REPO_ROOT, SECRET, Home

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
META = "io.modelcontextprotocol/protocolVersion"
ALGO = "/algorithms/models"


@dataclass
class Run:
    answers: dict[Any, dict[str, Any]]
    code: int | None
    stderr: str


def _request(rid: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        message["params"] = params
    return message


def legacy_opening() -> list[dict[str, Any]]:
    return [
        _request(
            1,
            "initialize",
            {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        ),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        _request(2, "tools/list"),
        _request(3, "tools/list", {"cursor": "100"}),
    ]


def modern(rid: int, method: str, client: str = "t", **params: Any) -> dict[str, Any]:
    meta = {
        META: MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": client, "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return _request(rid, method, {**params, "_meta": meta})


def modern_opening(client: str = "t") -> list[dict[str, Any]]:
    return [
        modern(1, "server/discover", client),
        modern(2, "tools/list", client),
        modern(3, "tools/list", client, cursor="100"),
    ]


def fresh_home(home: Home, tmp_path: Path) -> Path:
    """A private copy of the seeded home: its own cache folder and a database to break."""
    path = tmp_path / "home"
    path.mkdir()
    shutil.copy(home.path / "kaireon.db", path / "kaireon.db")
    return path


async def spawn(path: Path, *args: str, **env: str) -> asyncio.subprocess.Process:
    """``python -m kaireon_mcp stdio`` on the home at ``path``, every pipe ours."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kaireon_mcp",
        "stdio",
        *args,
        env=stdio_env(path, **env),
        cwd=str(REPO_ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=2**22,
    )


async def run_stdio(path: Path, messages: list[dict[str, Any]], *args: str, **env: str) -> Run:
    """Send every message at once, read until each request is answered, then close stdin."""
    proc = await spawn(path, *args, **env)
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    await proc.stdin.drain()
    wanted = {m["id"] for m in messages if "id" in m}
    answers: dict[Any, dict[str, Any]] = {}
    async with asyncio.timeout(90):
        while wanted - answers.keys():
            line = await proc.stdout.readline()
            if not line:
                break
            frame = json.loads(line)
            if "id" in frame and "method" not in frame:
                assert frame["id"] not in answers, f"answered twice: {frame['id']}"
                answers[frame["id"]] = frame
        proc.stdin.close()
        rest = await proc.stdout.read()
        stderr = (await proc.stderr.read()).decode()
        code = await proc.wait()
    assert not rest.strip() or all("method" in json.loads(x) for x in rest.splitlines()), rest[:300]
    return Run(answers, code, stderr)


def stdio_env(path: Path, **env: str) -> dict[str, str]:
    """A home at ``path``; the replay cache beside it, shared by every home of the test."""
    return {
        "KAIREON_HOME": str(path),
        "KAIREON_SECRET_KEY": SECRET,
        "KAIREON_CACHE_DIR": str(path.parent / "replay"),
        **env,
    }


def cache_files(path: Path) -> list[Path]:
    return sorted((path.parent / "replay").glob("stdio-*.json"))


def break_database(path: Path) -> None:
    (path / "kaireon.db").write_bytes(b"this file is no longer a database " * 64)


def names(run: Run, *ids: int) -> set[str]:
    return {tool["name"] for rid in ids for tool in run.answers[rid]["result"]["tools"]}


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_second_start_replays_the_servers_own_answers(home: Home, tmp_path: Path, era: str) -> None:
    path = fresh_home(home, tmp_path)
    opening = legacy_opening() if era == "legacy" else modern_opening()

    first = await run_stdio(path, opening)
    assert first.code == 0, first.stderr
    assert len(cache_files(path)) == 1
    assert names(first, 2, 3) == {t.name for t in load_all().all()}

    break_database(path)
    second = await run_stdio(path, modern_opening("another client") if era == "modern" else opening)

    # The server could not start on the broken file: one line, no traceback, exit 1 ...
    assert second.code == 1
    assert "kaireon-mcp:" in second.stderr and "Traceback" not in second.stderr
    # ... yet every opening request was answered, with exactly the healthy server's results.
    assert {rid: a["result"] for rid, a in second.answers.items()} == {
        rid: a["result"] for rid, a in first.answers.items()
    }


async def test_a_request_with_effects_ends_replay(home: Home, tmp_path: Path) -> None:
    """The forwarded initialize brings the server's session up, so calls after a replayed
    handshake are served; and after setRoute the cached first page must not be replayed."""
    path = fresh_home(home, tmp_path)
    first = await run_stdio(path, legacy_opening())
    assert first.code == 0, first.stderr

    second = await run_stdio(
        path,
        [
            *legacy_opening()[:3],
            _request(4, "tools/call", {"name": "listChannels", "arguments": {"limit": 2}}),
            _request(5, "tools/call", {"name": "setRoute", "arguments": {"route": ALGO}}),
            _request(6, "tools/list"),
        ],
    )

    assert second.code == 0, second.stderr
    assert second.answers[1]["result"] == first.answers[1]["result"]
    assert second.answers[2]["result"] == first.answers[2]["result"]
    page = second.answers[4]["result"]["structuredContent"]
    assert len(page["items"]) == 2 and page["items"][0]["id"].startswith("ch")
    assert second.answers[5]["result"]["structuredContent"]["route"] == ALGO
    expected = {t.name for t in load_all().all() if t.exposed_on(route_code(ALGO))} | {"setRoute"}
    assert names(second, 6) == expected and "nextCursor" not in second.answers[6]["result"]


async def test_scope_flags_get_their_own_answers(home: Home, tmp_path: Path) -> None:
    path = fresh_home(home, tmp_path)
    await run_stdio(path, legacy_opening())
    scoped = await run_stdio(path, legacy_opening()[:3], "--route", ALGO, "--read-only")
    assert scoped.code == 0, scoped.stderr
    assert len(cache_files(path)) == 2
    expected = {t.name for t in load_all().all() if t.exposed_on(route_code(ALGO)) and not t.write} | {
        "setRoute"
    }
    assert names(scoped, 2) == expected


@pytest.mark.parametrize("env", [{"KAIREON_STDIO_CACHE": "0"}, {"KAIREON_API_KEY": "from-the-conftest"}])
async def test_no_cache_when_disabled_or_the_role_is_a_database_question(
    home: Home, tmp_path: Path, env: dict[str, str]
) -> None:
    path = fresh_home(home, tmp_path)
    if "KAIREON_API_KEY" in env:
        env = {"KAIREON_API_KEY": home.keys["demo_viewer"]}
        shutil.copy(home.path / "kaireon.db", path / "kaireon.db")
    run = await run_stdio(path, legacy_opening()[:3], **env)
    assert run.code == 0, run.stderr
    assert cache_files(path) == []
    if "KAIREON_API_KEY" in env:  # a viewer key: read tools only (one page), from the live server
        assert names(run, 2) == {t.name for t in load_all().all() if not t.write} | {"setRoute"}


def test_replay_key_ignores_client_identity_but_not_version_or_params() -> None:
    init = _request(
        1, "initialize", {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "a"}}
    )
    other_client = _request(
        9, "initialize", {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "b"}}
    )
    older = _request(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}})
    assert replay_key(init, None) == replay_key(other_client, None) != replay_key(older, None)

    page1 = _request(2, "tools/list")
    assert replay_key(page1, LEGACY) != replay_key(page1, "2025-06-18")
    assert replay_key(page1, LEGACY) != replay_key(_request(2, "tools/list", {"cursor": "100"}), LEGACY)
    assert replay_key(modern(2, "tools/list", "a"), None) == replay_key(modern(7, "tools/list", "b"), LEGACY)

    assert replay_key(_request(3, "tools/call", {"name": "listOffers"}), LEGACY) is None
    assert replay_key({"jsonrpc": "2.0", "method": "tools/list"}, LEGACY) is None  # a notification


async def test_requests_before_end_of_input_are_still_answered(home: Home, tmp_path: Path) -> None:
    """A script that writes its requests and closes stdin at once gets every answer (the SDK
    alone cancels whatever is in flight when its input ends)."""
    path = fresh_home(home, tmp_path)
    messages = [
        *legacy_opening()[:2],
        _request(2, "tools/call", {"name": "listRankMethods", "arguments": {}}),
        _request(3, "tools/call", {"name": "listChannels", "arguments": {"limit": 1}}),
    ]
    proc = await spawn(path)
    async with asyncio.timeout(90):
        out, err = await proc.communicate(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    frames = {f["id"]: f for f in map(json.loads, out.splitlines())}
    assert proc.returncode == 0, err.decode()
    assert sorted(frames) == [1, 2, 3]
    assert frames[2]["result"]["structuredContent"]["items"][0]["name"] == "score"
    assert len(frames[3]["result"]["structuredContent"]["items"]) == 1


async def test_a_fresh_home_replays_what_another_home_recorded(home: Home, tmp_path: Path) -> None:
    """Answers hold no tenant data: another home with another tenant gets the recorded
    handshake too (its database is unusable, so only the replay can have answered)."""
    path = fresh_home(home, tmp_path)
    first = await run_stdio(path, legacy_opening()[:3])
    assert first.code == 0, first.stderr

    empty = tmp_path / "empty-home"
    empty.mkdir()
    (empty / "kaireon.db").write_bytes(b"not a database, so only the replay can answer " * 64)
    second = await run_stdio(empty, legacy_opening()[:3], KAIREON_TENANT_ID="acme")
    assert second.code == 1  # the broken database, after the handshake
    assert {rid: a["result"] for rid, a in second.answers.items()} == {
        rid: a["result"] for rid, a in first.answers.items()
    }
    assert len(cache_files(path)) == 1
