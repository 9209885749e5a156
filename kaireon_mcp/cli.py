"""The `kaireon-mcp` command: one-line errors, exit code 2 on bad input, no tracebacks without --debug."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from kaireon_mcp.config import load_settings
from kaireon_mcp.errors import KaireonError

EXIT_USAGE = 2
EXIT_FAILURE = 1


class CliError(Exception):
    """A user-facing failure: printed as one line on stderr."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: {message}", EXIT_USAGE)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _port(value: str) -> int:
    number = _positive(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {number}")
    return number


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> Parser:
    parser = Parser(prog="kaireon-mcp", description="Next-best-action decisioning over MCP, HTTP and a CLI.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    stdio = sub.add_parser("stdio", help="MCP server over stdio (Claude Desktop)")
    _add_scope_args(stdio)
    stdio.add_argument("--tenant", help="tenant id (default KAIREON_TENANT_ID or demo)")
    stdio.add_argument("--remote", metavar="URL", help="execute tools on a remote `kaireon-mcp serve`")

    serve = sub.add_parser("serve", help="MCP Streamable HTTP + HTTP bridge")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument(
        "--workers",
        type=_positive,
        default=int(os.environ.get("KAIREON_WORKERS") or 1),
        help="server processes sharing the port (default KAIREON_WORKERS or 1); with more than one, "
        "MCP over HTTP is stateless and rate limits are per process unless KAIREON_REDIS_URL is set",
    )
    serve.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    _add_scope_args(serve)

    seed = sub.add_parser("seed", help="load the deterministic demo tenant")
    seed.add_argument("--tenant", default="demo")
    seed.add_argument("--customers", type=_positive, default=2000)
    seed.add_argument("--days", type=_positive, default=90)
    seed.add_argument("--random-seed", type=int, default=42)
    seed.add_argument("--contacts-per-customer", type=float, default=12.0, help=argparse.SUPPRESS)

    keys = sub.add_parser("keys", help="manage API keys")
    key_sub = keys.add_subparsers(dest="keys_command", required=True, parser_class=Parser)
    create = key_sub.add_parser("create", help="mint a key (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--role", required=True, choices=["admin", "editor", "viewer"])
    create.add_argument("--name", default="")
    listing = key_sub.add_parser("list", help="list a tenant's keys")
    listing.add_argument("--tenant", required=True)
    revoke = key_sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")

    tools = sub.add_parser("tools", help="list the tools a route exposes")
    tools.add_argument("--route", default=None)
    tools.add_argument("--json", action="store_true")

    sub.add_parser("migrate", help="apply database migrations")
    worker = sub.add_parser("ml-worker", help="the ML worker service")
    worker.add_argument("--host", default="127.0.0.1")
    worker.add_argument("--port", type=_port, default=8090)
    return parser


def _add_scope_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--route", default=None, help="UI route that scopes the tool set (default /)")
    parser.add_argument("--read-only", action="store_true", help="hide and refuse every write tool")
    parser.add_argument("--tools", type=_csv, default=[], help="add single tools (comma separated)")
    parser.add_argument("--exclude-tools", type=_csv, default=[], help="remove tools (wins over everything)")


def _run(coro: Coroutine[Any, Any, int], *, fast_loop: bool = False) -> int:
    """Run a command; ``fast_loop`` uses uvloop when installed (the HTTP server's loop)."""
    if fast_loop and os.environ.get("KAIREON_UVLOOP", "1") != "0":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(coro)
    return asyncio.run(coro)


async def cmd_migrate(_: argparse.Namespace) -> int:
    from kaireon_mcp.runtime import open_database

    db = open_database()
    try:
        await db.migrate()
    finally:
        await db.dispose()
    print(f"migrations applied ({db.safe_url})")
    return 0


async def cmd_seed(args: argparse.Namespace) -> int:
    from kaireon_mcp.runtime import open_database
    from kaireon_mcp.storage.seed import SeedParams, seed_demo, terminal_progress

    db = open_database()
    try:
        await db.migrate()
        params = SeedParams(
            tenant=args.tenant,
            customers=args.customers,
            days=args.days,
            random_seed=args.random_seed,
            contacts_per_customer=args.contacts_per_customer,
        )
        result = await seed_demo(db, params, progress=terminal_progress)
    finally:
        await db.dispose()
    if result.created:
        summary = ", ".join(f"{v} {k}" for k, v in result.counts.items())
        print(f"seeded tenant {result.tenant}: {summary}")
    else:
        print(f"tenant {result.tenant} already holds this seed; nothing changed")
    return 0


async def cmd_keys(args: argparse.Namespace) -> int:
    from kaireon_mcp.runtime import open_database
    from kaireon_mcp.storage import keys

    db = open_database()
    try:
        await db.migrate()
        if args.keys_command == "create":
            minted = await keys.create_key(db, args.tenant, args.role, args.name)
            print(minted.plaintext)
            print(
                f"key {minted.id} ({minted.role}) for tenant {minted.tenant_id}; it is shown only once",
                file=sys.stderr,
            )
        elif args.keys_command == "list":
            for row in await keys.list_keys(db, args.tenant):
                state = "revoked" if row["revokedAt"] else "active"
                print(f"{row['id']}\t{row['prefix']}\t{row['role']}\t{state}\t{row['name']}")
        else:
            row = await keys.revoke_key(db, args.key_id)
            print(f"revoked {row['id']}")
    finally:
        await db.dispose()
    return 0


_ROUTE_SHAPE = r"^/?[A-Za-z0-9_./-]*$"


def _route_arg(value: str | None, fallback: str) -> str:
    """A route like /algorithms/models; anything else is a usage error (exit 2)."""
    import re

    from kaireon_mcp.tools.registry import normalize_route

    route = value if value is not None else fallback
    if len(route) > 200 or not re.match(_ROUTE_SHAPE, route):
        raise CliError(
            f"kaireon-mcp: invalid route {route!r} (expected a path such as /algorithms/models)", EXIT_USAGE
        )
    return normalize_route(route)


def _scope_flags(args: argparse.Namespace, *, check_names: bool = True) -> Any:
    """The server's ScopePolicy from --route/--read-only/--tools/--exclude-tools and the environment."""
    from kaireon_mcp.server.scope import policy_from_flags

    settings = load_settings()
    if check_names:
        from kaireon_mcp.tools import load_all

        known = load_all()
        unknown = sorted(name for name in [*args.tools, *args.exclude_tools] if name not in known)
        if unknown:
            raise CliError(f"kaireon-mcp: unknown tool(s): {', '.join(unknown)}", EXIT_USAGE)
    route = _route_arg(args.route, settings.route)
    return policy_from_flags(route, args.read_only or settings.read_only, args.tools, args.exclude_tools)


async def cmd_stdio(args: argparse.Namespace) -> int:
    settings = load_settings()
    remote = args.remote or settings.api_url
    flags = _scope_flags(args, check_names=not remote)
    if remote:
        from kaireon_mcp.server.remote import run_remote_stdio

        if not remote.startswith(("http://", "https://")):
            raise CliError(f"kaireon-mcp stdio: --remote must be an http(s) URL, got {remote!r}", EXIT_USAGE)
        if not settings.api_key:
            raise CliError(
                "kaireon-mcp stdio --remote: set KAIREON_API_KEY to a krn_ key of the server", EXIT_USAGE
            )
        await run_remote_stdio(remote, settings.api_key, flags)
        return 0
    from kaireon_mcp.server.stdio import run_stdio

    await run_stdio(settings, flags, tenant=args.tenant)
    return 0


async def cmd_tools(args: argparse.Namespace) -> int:
    import json

    from kaireon_mcp.tools import load_all
    from kaireon_mcp.tools.registry import ScopePolicy, route_module

    route = _route_arg(args.route, load_settings().route)
    tools = ScopePolicy(route=route).visible(load_all())
    rows = [
        {"name": t.name, "rw": "W" if t.write else "R", "title": t.title, "module": t.module} for t in tools
    ]
    if args.json:
        detailed = [
            {
                **row,
                "description": t.description,
                "annotations": t.annotations(),
                "inputSchema": t.input_schema(),
                "outputSchema": t.documented_output_schema(),
            }
            for row, t in zip(rows, tools, strict=True)
        ]
        print(json.dumps(detailed, indent=2))
        return 0
    width = max((len(row["name"]) for row in rows), default=4)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['rw']}  {row['title']}")
    print(f"{len(rows)} tools on route {route} ({route_module(route)})", file=sys.stderr)
    return 0


async def cmd_serve(args: argparse.Namespace) -> int:
    """MCP Streamable HTTP + the HTTP bridge in one ASGI app (interface.md section 2)."""
    from kaireon_mcp.runtime import prepare

    settings = load_settings()
    scope = _scope_flags(args, check_names=True)
    if args.worker_fd is not None:
        return await _serve_worker(args, settings, scope)
    db = await prepare(settings, inline_reads=False)
    if args.workers > 1:
        await db.dispose()
        return await _supervise_workers(args)
    try:
        await _serve_app(args, db, settings, scope, background_jobs=True, stateless=False)
    finally:
        await db.dispose()
    return 0


async def _serve_app(
    args: argparse.Namespace,
    db: Any,
    settings: Any,
    scope: Any,
    *,
    background_jobs: bool,
    stateless: bool,
    sock: socket.socket | None = None,
) -> None:
    import uvicorn

    from kaireon_mcp.bridge import create_app

    app = create_app(
        db,
        settings,
        scope=scope,
        mcp_host=args.host,
        background_jobs=background_jobs,
        mcp_stateless=stateless,
    )
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", lifespan="on")
    # everything built so far (modules, tool registry, schemas) lives as long as the server:
    # keep it out of the collector's full passes, whose pauses otherwise land in request tails
    gc.collect()
    gc.freeze()
    if sock is None:
        print(f"kaireon-mcp: serving http://{args.host}:{args.port} (MCP /mcp, /api/v1)", file=sys.stderr)
    await uvicorn.Server(config).serve(sockets=[sock] if sock is not None else None)


async def _supervise_workers(args: argparse.Namespace) -> int:
    from kaireon_mcp.bridge.workers import bind_sockets, supervise

    try:
        sockets = bind_sockets(args.host, args.port, args.workers)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}", EXIT_USAGE) from None
    port = sockets[0].getsockname()[1]
    print(
        f"kaireon-mcp: serving http://{args.host}:{port} with {args.workers} workers (MCP /mcp, /api/v1)",
        file=sys.stderr,
    )
    return await supervise(getattr(args, "argv", sys.argv[1:]), sockets)


async def _serve_worker(args: argparse.Namespace, settings: Any, scope: Any) -> int:
    """One worker of ``serve --workers N``: the supervisor already migrated and bound the port."""
    from kaireon_mcp.runtime import open_database

    sock = socket.socket(fileno=args.worker_fd)
    db = open_database(settings, inline_reads=False)
    try:
        await _serve_app(
            args, db, settings, scope, background_jobs=args.worker_index == 0, stateless=True, sock=sock
        )
    finally:
        await db.dispose()
    return 0


async def cmd_ml_worker(args: argparse.Namespace) -> int:
    """The ML worker service (GET /health, POST /jobs, GET /jobs/{id})."""
    import uvicorn

    from kaireon_mcp.mlworker import create_worker_app

    config = uvicorn.Config(create_worker_app(), host=args.host, port=args.port, log_level="warning")
    print(f"kaireon-mcp: ML worker on http://{args.host}:{args.port}", file=sys.stderr)
    await uvicorn.Server(config).serve()
    return 0


def _not_built(name: str) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int]]:
    async def handler(_: argparse.Namespace) -> int:
        raise CliError(f"kaireon-mcp {name}: not built yet", EXIT_USAGE)

    return handler


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "migrate": cmd_migrate,
    "seed": cmd_seed,
    "keys": cmd_keys,
    "stdio": cmd_stdio,
    "serve": cmd_serve,
    "tools": cmd_tools,
    "ml-worker": cmd_ml_worker,
}


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the console script: `stdio` takes its wire before the heavy imports
        from kaireon_mcp.server.front import start_front

        start_front(sys.argv[1:])
    parser = build_parser()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        args = parser.parse_args(argv)
        args.argv = list(argv if argv is not None else sys.argv[1:])
        load_settings()
        return _run(COMMANDS[args.command](args), fast_loop=args.command == "serve")
    except CliError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KaireonError as exc:
        if debug:
            raise
        print(f"kaireon-mcp: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.code in {"VALIDATION", "NOT_FOUND"} else EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `kaireon-mcp tools | head`
        return 0
    except Exception as exc:  # noqa: BLE001 - the CLI edge maps every fault to one line
        if debug:
            raise
        print(f"kaireon-mcp: {exc.__class__.__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
