"""The stdio front: owns the JSON-RPC wire from the first milliseconds of ``kaireon-mcp stdio``.

Why: importing the MCP SDK, SQLAlchemy and 146 tool modules takes seconds, and a desktop host waits
for ``initialize`` and ``tools/list`` before it shows the server. Those answers never depend on the
database: for one package build, command line and environment they are the same bytes every time.
So the front records the server's own answers to them in a *replay cache* (the user's cache
folder, or ``KAIREON_CACHE_DIR``; the answers hold no tenant data, so every home shares them, a
fresh one included) and, on later starts, answers them from it while the server loads in the
main thread.

The front is stdlib-only on purpose (it runs before anything heavy is imported) and it never
invents an answer: every cached result is one the real server gave for the same request, and
every message, answered early or not, is still forwarded to the server in order (the duplicate
response is dropped), so the server's session state is exactly what it would have been.

Answering from the cache stops for good at the first request that is not a pure listing
(``tools/call`` may run ``setRoute``, after which ``tools/list`` differs), when the server is ready,
or when ``KAIREON_API_KEY`` makes the principal's role a database question.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ReplayCache", "StdioFront", "active_front", "claim_front", "replay_key", "start_front"]

#: requests whose result is a pure function of package, command line and environment
CACHEABLE = frozenset(
    {
        "initialize",
        "server/discover",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "ping",
    }
)
PROTOCOL_META = "io.modelcontextprotocol/protocolVersion"
#: request ``_meta`` keys that cannot change a listing's answer
_VOLATILE_META = ("io.modelcontextprotocol/clientInfo", "progressToken")
CACHE_FORMAT = 1
KEEP_CACHE_FILES = 20
_ENV_PREFIXES = ("KAIREON_", "KAIREONAI_", "MCP_")
#: settings that say where data lives or which tenant acts, never what a listing contains; leaving
#: them out of the key lets every home (a fresh one too) share the answers
_NOT_LISTING = frozenset(
    {
        "KAIREON_HOME",
        "KAIREON_DATABASE_URL",
        "KAIREON_SECRET_KEY",
        "KAIREON_TENANT_ID",
        "KAIREONAI_TENANT_ID",
        "KAIREON_CACHE_DIR",
        "KAIREON_REDIS_URL",
        "KAIREON_WORKERS",
        "KAIREON_UVLOOP",
        "KAIREON_SINGLE_TENANT_MODE",
    }
)

_ACTIVE: StdioFront | None = None


def replay_key(message: dict[str, Any], session_version: str | None) -> str | None:
    """The cache key of a listing request, or None when the request is not cacheable.

    Client identity (``clientInfo``) is dropped; the protocol version (from ``_meta`` on the
    2026-07-28 wire, from the handshake on the legacy one) and everything else in the params stay.
    """
    method = message.get("method")
    if method not in CACHEABLE or "id" not in message:
        return None
    params = message.get("params")
    params = dict(params) if isinstance(params, dict) else {}
    meta = params.pop("_meta", None)
    meta = {k: v for k, v in meta.items() if k not in _VOLATILE_META} if isinstance(meta, dict) else {}
    params.pop("clientInfo", None)
    version = meta.get(PROTOCOL_META) or (None if method == "initialize" else session_version)
    return json.dumps([method, version, params, meta], sort_keys=True, separators=(",", ":"))


def _package_fingerprint(root: Path) -> list[Any]:
    """Every file of the package (and the SDK's version files) by size and mtime: any edit or
    upgrade moves the cache to a new file."""
    marks: list[Any] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            stat = os.stat(os.path.join(folder, name))
            marks.append([os.path.relpath(os.path.join(folder, name), root), stat.st_size, stat.st_mtime_ns])
    for entry in sys.path:
        for sdk in ("mcp", "mcp_types", "pydantic", "pydantic_core"):
            init = os.path.join(entry or ".", sdk, "__init__.py")
            if os.path.exists(init):
                stat = os.stat(init)
                marks.append([init, stat.st_size, stat.st_mtime_ns])
    return marks


def _listing_argv(argv: Sequence[str]) -> list[str]:
    """The command line minus what only picks the tenant or the log level."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--tenant":
            skip = True
        elif not arg.startswith("--tenant=") and arg != "--debug":
            kept.append(arg)
    return kept


def cache_dir(environ: dict[str, str]) -> Path:
    """``KAIREON_CACHE_DIR``, else the user's cache folder: answers hold no tenant data."""
    if environ.get("KAIREON_CACHE_DIR"):
        return Path(environ["KAIREON_CACHE_DIR"]).expanduser()
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "kaireon-mcp"


def cache_path(argv: Sequence[str], environ: dict[str, str]) -> Path:
    """Where this package build, command line and listing-relevant environment keep their answers."""
    env = sorted((k, v) for k, v in environ.items() if k.startswith(_ENV_PREFIXES) and k not in _NOT_LISTING)
    basis = [
        CACHE_FORMAT,
        sys.version,
        _listing_argv(argv),
        env,
        _package_fingerprint(Path(__file__).resolve().parents[1]),
    ]
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir(environ) / f"stdio-{digest}.json"


class ReplayCache:
    """Recorded results (raw JSON text) by :func:`replay_key`, saved atomically on each addition."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, str] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("format") == CACHE_FORMAT:
                self.entries = {str(k): str(v) for k, v in data.get("entries", {}).items()}
        except (OSError, ValueError):
            self.entries = {}

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def put(self, key: str, result_json: str) -> None:
        if self.entries.get(key) == result_json:
            return
        self.entries[key] = result_json
        try:
            self._save()
        except OSError:  # an unwritable cache folder only costs the next start its speed
            pass

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "entries": self.entries}), encoding="utf-8")
        os.replace(tmp, self.path)
        self._prune()

    def _prune(self) -> None:
        files = sorted(self.path.parent.glob("stdio-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in files[KEEP_CACHE_FILES:]:
            try:
                stale.unlink()
            except OSError:
                pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class StdioFront:
    """Reads the wire on its own thread; answers cached listings until the server attaches.

    ``wire_in``/``wire_out`` are private duplicates of fds 0 and 1; the standard descriptors are
    pointed at the null device and stderr, so stray reads see EOF and stray prints miss the wire.
    """

    def __init__(self, wire_in: int, wire_out: int, cache: ReplayCache | None) -> None:
        self.wire_out = wire_out
        self.cache = cache
        self._reader = os.fdopen(wire_in, "rb", closefd=False)
        self._lock = threading.Lock()
        self._backlog: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._sink: Callable[[bytes | None], None] | None = None
        self._answering = cache is not None and bool(cache.entries)
        self._recording = cache is not None
        self._session_version: str | None = None
        self._answered: set[Any] = set()
        self._pending: dict[Any, str] = {}
        self._thread = threading.Thread(target=self._pump, name="kaireon-stdio-front", daemon=True)
        self._thread.start()

    # -- the wire side (front thread) ------------------------------------------------------
    def _pump(self) -> None:
        while True:
            try:
                line = self._reader.readline()
            except (OSError, ValueError):
                line = b""
            if not line:
                self._forward(None)
                return
            if self._recording or self._answering:
                self._inspect(line)
            self._forward(line)

    def _inspect(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict) or "method" not in message:
            return
        with self._lock:
            if message["method"] == "initialize":
                self._session_version = _requested_version(message)
            key = replay_key(message, self._session_version)
            if key is None:
                if "id" in message:  # a request with effects: nothing later is a pure listing
                    self._answering = self._recording = False
                return
            if self._answering and self.cache is not None and (result := self.cache.get(key)) is not None:
                self._answer(message, result)
            elif self._recording:
                self._pending[_id_key(message["id"])] = key

    def _answer(self, message: dict[str, Any], result: str) -> None:
        request_id = message["id"]
        self._answered.add(_id_key(request_id))
        frame = f'{{"jsonrpc":"2.0","id":{json.dumps(request_id)},"result":{result}}}\n'
        _write_all(self.wire_out, frame.encode("utf-8"))

    def _forward(self, line: bytes | None) -> None:
        with self._lock:
            if self._sink is None:
                self._backlog.put(line)
                return
            sink = self._sink
        sink(line)

    # -- the server side (main thread) ------------------------------------------------------
    def attach(self, sink: Callable[[bytes | None], None]) -> None:
        """Hand the wire to the server: the backlog first, in order, then every new line."""
        with self._lock:
            while True:
                try:
                    sink(self._backlog.get_nowait())
                except queue.Empty:
                    break
            self._sink = sink
            self._answering = False

    def send(self, frame: str, response_id: Any = None) -> None:
        """Write one server frame, unless it duplicates an answer the front already gave."""
        with self._lock:
            if response_id is not None:
                key = _id_key(response_id)
                if key in self._answered:
                    self._answered.discard(key)
                    return
                pending = self._pending.pop(key, None)
                if pending is not None:
                    self._record(pending, frame)
            _write_all(self.wire_out, frame.encode("utf-8") + b"\n")

    def _record(self, key: str, frame: str) -> None:
        try:
            result = json.loads(frame).get("result")
        except ValueError:
            return
        if result is None or self.cache is None:
            return
        self.cache.put(key, json.dumps(result, ensure_ascii=False, separators=(",", ":")))


def _id_key(request_id: Any) -> tuple[str, Any]:
    """JSON-RPC ids 1 and "1" are different requests."""
    return (type(request_id).__name__, request_id)


def _requested_version(message: dict[str, Any]) -> str | None:
    """A handshake-era session is named by the version its client asked for: negotiation is a
    pure function of it, and it is known before any answer exists."""
    params = message.get("params")
    version = params.get("protocolVersion") if isinstance(params, dict) else None
    return version if isinstance(version, str) else None


def _claim_wire() -> tuple[int, int]:
    """Private duplicates of stdin/stdout; fd 0 becomes the null device and fd 1 stderr."""
    wire_in, wire_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        os.dup2(2, 1)
    except OSError:  # a host that started us without stderr: stray prints go nowhere
        sink = os.open(os.devnull, os.O_WRONLY)
        os.dup2(sink, 1)
        os.close(sink)
    return wire_in, wire_out


def _wants_front(argv: Sequence[str]) -> bool:
    """``stdio`` as the command, not remote mode (that proxy has no local server to wait for)."""
    words = [a for a in argv if not a.startswith("-")]
    if not words or words[0] != "stdio" or {"-h", "--help"} & set(argv):
        return False
    return not any(a == "--remote" or a.startswith("--remote=") for a in argv) and not os.environ.get(
        "KAIREON_API_URL"
    )


def _replay_cache(argv: Sequence[str]) -> ReplayCache | None:
    """The cache for this start, or None when replay is off or the cache cannot be located (a
    start without replay is slower, never wrong)."""
    disabled = os.environ.get("KAIREON_STDIO_CACHE", "1").strip().lower() in {"0", "false", "no", "off"}
    if disabled or os.environ.get("KAIREON_API_KEY") or os.environ.get("KAIREONAI_API_KEY"):
        return None
    try:
        return ReplayCache(cache_path(argv, dict(os.environ)))
    except (OSError, RuntimeError, ValueError):
        return None


def start_front(argv: Sequence[str]) -> StdioFront | None:
    """Start the front for ``kaireon-mcp stdio`` (idempotent); None for every other command."""
    global _ACTIVE
    if _ACTIVE is None and _wants_front(argv):
        _ACTIVE = StdioFront(*_claim_wire(), _replay_cache(argv))
    return _ACTIVE


def active_front() -> StdioFront | None:
    return _ACTIVE


def claim_front() -> StdioFront:
    """The running front, or a cache-less one when stdio was started some other way."""
    global _ACTIVE
    if _ACTIVE is None:
        _ACTIVE = StdioFront(*_claim_wire(), None)
    return _ACTIVE
