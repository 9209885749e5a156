"""Property-based check of the whole bridge against its own OpenAPI document (schemathesis).

Every operation gets a bounded number of generated requests, authenticated as an admin
of a small seeded tenant; a 5xx or a response that breaks its documented schema fails.
The app runs on schemathesis' in-process ASGI client (its own event loop), so the
database is prepared in a separate loop first and the app gets a fresh engine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.seed import SeedParams, seed_demo
from tests.bridge.conftest import build_app, mint_keys
from tests.conftest import SECRET

MAX_EXAMPLES = 6


def _prepare(url: str) -> str:
    async def run() -> str:
        db = Database(url, SECRET)
        try:
            await db.migrate()
            await seed_demo(db, SeedParams(customers=20, days=7))
            return (await mint_keys(db, ("demo",)))[("demo", "admin")]
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_every_operation_honours_its_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'schemathesis.db'}"
    key = _prepare(url)
    app = build_app(Database(url, SECRET))
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    statuses: list[int] = []
    with asgi.get_client(app) as client:
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def check(case: schemathesis.Case) -> None:
                response = case.call_and_validate(
                    session=client,
                    headers={"X-API-Key": key},
                    checks=[not_a_server_error, response_schema_conformance],
                )
                statuses.append(response.status_code)

            try:
                check()
            except Exception as exc:  # collect every operation's failure, then report them together
                failures.append(f"{operation.label}: {str(exc)[:800]}")
    assert not failures, "\n\n".join(failures)
    assert len(statuses) >= 40
    assert any(200 <= code < 300 for code in statuses) and any(400 <= code < 500 for code in statuses)
