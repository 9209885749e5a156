"""searchDocs: a real FTS5 index over the shipped docs, built once under KAIREON_HOME."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.db import Database
from kaireon_mcp.tools.docs import INDEX_FILE, DocsIndex, doc_sections, fts_query
from kaireon_mcp.tools.registry import ToolContext, execute
from tests.conftest import make_tool_ctx


@pytest.mark.parametrize(
    ("question", "page"),
    [
        ("why did C-0001 not get an email offer", "docs/troubleshooting.md"),
        ("contact policy cooldown hours", "docs/contact-policies.md"),
        ("PRIE weights propensity relevance impact emphasis", "docs/prie-scoring.md"),
        ("which node types exist in a decision flow", "docs/decision-flows.md"),
        ("Claude Desktop mcpServers config", "docs/mcp-setup.md"),
        ("MCP_ALLOW_WRITES production", "docs/write-gating.md"),
        ("champion challenger traffic split holdout", "docs/experiments.md"),
    ],
)
def test_questions_find_the_page_that_answers_them(tmp_path: Path, question: str, page: str) -> None:
    hits = DocsIndex(tmp_path / INDEX_FILE).search(question, 3)
    assert hits and hits[0].path.startswith(page), [h.path for h in hits]
    assert hits[0].score >= hits[-1].score and hits[0].snippet


def test_the_index_covers_at_least_fifteen_pages_and_the_readme() -> None:
    pages = {s.path.split("#")[0] for s in doc_sections()}
    assert len([p for p in pages if p.startswith("docs/")]) >= 15 and "README.md" in pages


def test_a_stale_index_file_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / INDEX_FILE
    DocsIndex(path).search("offers", 1)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = 'stale' WHERE key = 'fingerprint'")
    assert DocsIndex(path).search("offers", 1)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone()[0] != "stale"


def test_free_text_never_breaks_the_query_syntax() -> None:
    assert fts_query('what "is" NEAR(a b) OR *?') == '"what"* OR "is"* OR "near"* OR "or"*'
    with pytest.raises(ValidationError):
        fts_query("?? ! -")


async def test_search_docs_tool_through_the_registry(db: Database, tmp_path: Path) -> None:
    import dataclasses

    ctx: ToolContext = make_tool_ctx(db)
    ctx.settings = dataclasses.replace(ctx.settings, home=tmp_path)
    out = await execute("searchDocs", {"query": "frequency cap", "limit": 2}, ctx)
    assert len(out["hits"]) == 2 and set(out["hits"][0]) == {"title", "path", "snippet", "score"}
    assert (tmp_path / INDEX_FILE).exists()
