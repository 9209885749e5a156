"""``searchDocs``: ranked full-text search over the product's own documentation.

The index is SQLite FTS5 (porter stemming, BM25 ranking with titles weighted up), built at first
use from ``kaireon_mcp/docs/*.md`` and the README, one row per ``##`` section so a hit points at
the paragraph that answers the question. It lives in ``$KAIREON_HOME/docs-index.sqlite`` and is
rebuilt whenever the docs' fingerprint changes; when the home folder is not writable an in-memory
index is used instead. No network, no model: the answer is the same on every machine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from kaireon_mcp.errors import ValidationError
from kaireon_mcp.tools.registry import ToolContext, ToolInput, tool

__all__ = ["DocHit", "DocsIndex", "SearchDocsIn", "SearchDocsOut", "doc_sections", "index_for", "search_docs"]

log = logging.getLogger("kaireon_mcp.tools.docs")

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DOCS_DIR = PACKAGE_DIR / "docs"
README = PACKAGE_DIR.parent / "README.md"
INDEX_FILE = "docs-index.sqlite"
_MAX_TERMS = 16
_SCHEMA = (
    "CREATE VIRTUAL TABLE sections USING fts5(title, body, path UNINDEXED, tokenize='porter unicode61');"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
)


@dataclass(frozen=True)
class Section:
    title: str
    path: str
    body: str


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _split_page(text: str, path: str) -> list[Section]:
    """One section per ``##`` heading (plus the intro), titled ``Page — Heading``."""
    page_title = path
    current_title, current_path = "", path
    lines: list[str] = []
    sections: list[Section] = []

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            title = f"{page_title} — {current_title}" if current_title else page_title
            sections.append(Section(title, current_path, body))

    for line in text.splitlines():
        if line.startswith("# ") and page_title == path:
            page_title = line[2:].strip()
        elif line.startswith("## "):
            flush()
            current_title = line[3:].strip()
            current_path, lines = f"{path}#{_slug(current_title)}", []
        else:
            lines.append(line)
    flush()
    return sections


def doc_sections() -> list[Section]:
    """Every indexed section, in a stable order (docs pages by name, then the README)."""
    sections: list[Section] = []
    for page in sorted(DOCS_DIR.glob("*.md")):
        sections.extend(_split_page(page.read_text(encoding="utf-8"), f"docs/{page.name}"))
    if README.is_file():
        sections.extend(_split_page(README.read_text(encoding="utf-8"), "README.md"))
    return sections


def _fingerprint(sections: list[Section]) -> str:
    digest = hashlib.sha256()
    for section in sections:
        digest.update(f"{section.path}\0{section.title}\0{section.body}\0".encode())
    return digest.hexdigest()


def _fill(conn: sqlite3.Connection, sections: list[Section], fingerprint: str) -> None:
    conn.executescript(_SCHEMA)
    conn.executemany(
        "INSERT INTO sections (title, body, path) VALUES (?, ?, ?)",
        [(s.title, s.body, s.path) for s in sections],
    )
    conn.execute("INSERT INTO meta (key, value) VALUES ('fingerprint', ?)", (fingerprint,))
    conn.commit()


def _stored_fingerprint(path: Path) -> str | None:
    try:
        with sqlite3.connect(path) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _build_file(path: Path, sections: list[Section], fingerprint: str) -> None:
    """Write the index beside its final name, then swap it in atomically (safe across processes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".docs-index-", dir=path.parent)
    os.close(fd)
    try:
        with sqlite3.connect(tmp) as conn:
            _fill(conn, sections, fingerprint)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class DocHit(BaseModel):
    title: str
    path: str = Field(description="doc file and section anchor, e.g. docs/contact-policies.md#frequency_cap")
    snippet: str
    score: float = Field(description="BM25 relevance; higher is better")


class DocsIndex:
    """A lazily built FTS5 index; one per location, shared by every call in the process."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        sections = doc_sections()
        fingerprint = _fingerprint(sections)
        if self.path is not None:
            try:
                if _stored_fingerprint(self.path) != fingerprint:
                    _build_file(self.path, sections, fingerprint)
                return sqlite3.connect(self.path, check_same_thread=False)
            except (OSError, sqlite3.Error) as exc:
                log.warning("docs index at %s not writable (%s); using memory", self.path, exc)
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        _fill(conn, sections, fingerprint)
        return conn

    def connection(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            return self._conn

    def search(self, query: str, limit: int = 5) -> list[DocHit]:
        match = fts_query(query)
        rows = self.connection().execute(
            "SELECT title, path, snippet(sections, 1, '', '', ' … ', 18), bm25(sections, 8.0, 1.0) "
            "FROM sections WHERE sections MATCH ? ORDER BY bm25(sections, 8.0, 1.0) LIMIT ?",
            (match, limit),
        )
        return [
            DocHit(title=title, path=path, snippet=" ".join(snippet.split()), score=round(-rank, 3))
            for title, path, snippet, rank in rows
        ]


def fts_query(query: str) -> str:
    """Words of the question OR-ed as prefix terms: free text never hits FTS5 syntax errors."""
    terms: list[str] = []
    for word in re.findall(r"[A-Za-z0-9]+", query.lower()):
        if (len(word) > 1 or word.isdigit()) and word not in terms:
            terms.append(word)
    if not terms:
        raise ValidationError("query has no searchable words", field="query")
    return " OR ".join(f'"{term}"*' for term in terms[:_MAX_TERMS])


_INDEXES: dict[str, DocsIndex] = {}
_INDEXES_LOCK = threading.Lock()


def index_for(home: Path | None) -> DocsIndex:
    """The process-wide index stored under ``home`` (``None`` = in memory)."""
    key = str(home) if home is not None else ":memory:"
    with _INDEXES_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = DocsIndex(home / INDEX_FILE if home is not None else None)
        return _INDEXES[key]


class SearchDocsIn(ToolInput):
    query: str = Field(..., min_length=1, max_length=500, description="question or keywords")
    limit: int = Field(5, ge=1, le=20, description="maximum hits")


class SearchDocsOut(BaseModel):
    query: str
    hits: list[DocHit]


@tool(
    "searchDocs",
    title="Search documentation",
    description=(
        "Search the KaireonAI docs (concepts, node and policy types, PRIE scoring, setup, route "
        "scoping, troubleshooting); ranked sections with snippets."
    ),
    module="Docs",
    routes=("all",),
)
async def search_docs(ctx: ToolContext, args: SearchDocsIn) -> SearchDocsOut:
    hits = index_for(ctx.settings.home).search(args.query, args.limit)
    return SearchDocsOut(query=args.query, hits=hits)
