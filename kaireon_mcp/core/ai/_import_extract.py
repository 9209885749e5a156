"""Deterministic proposal extraction from CSV, JSON and Markdown uploads.

Each proposal cites where it came from (``sourcePageNumber`` = 1-based line or row,
``sourceQuote`` = the raw text), like the model-based extractor of spec 3.18.0 does.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kaireon_mcp.errors import ValidationError

__all__ = ["RawProposal", "entity_type_of", "extract_proposals", "file_kind"]

ENTITY_ALIASES: dict[str, str] = {
    "offer": "offer",
    "category": "category",
    "categorie": "category",
    "channel": "channel",
    "creative": "creative",
    "treatment": "creative",
    "contact_policy": "contact_policy",
    "contactpolicy": "contact_policy",
    "policy": "contact_policy",
    "policie": "contact_policy",
    "qualification_rule": "qualification_rule",
    "qualificationrule": "qualification_rule",
    "rule": "qualification_rule",
    "segment": "segment",
    "behavioral_metric": "behavioral_metric",
    "behavioralmetric": "behavioral_metric",
    "metric": "behavioral_metric",
}
TYPE_KEYS = ("entityType", "entity_type", "type")
MAX_QUOTE = 500


@dataclass(frozen=True)
class RawProposal:
    entity_type: str
    payload: dict[str, Any]
    source_line: int
    source_quote: str


def entity_type_of(word: str | None) -> str | None:
    """Map "Offers", "contact policies", "treatment" ... to an entity type."""
    if not word:
        return None
    key = re.sub(r"[\s\-]+", "_", word.strip().lower())
    key = key[:-1] if key.endswith("s") else key
    return ENTITY_ALIASES.get(key) or ENTITY_ALIASES.get(key.replace("_", ""))


def file_kind(filename: str, data: bytes) -> str:
    """csv | json | markdown, from the extension checked against the bytes."""
    lower = filename.lower()
    if data.startswith(b"%PDF-") or data.startswith(b"PK\x03\x04"):
        raise ValidationError(
            "PDF and PPTX extraction needs the model-based extractor, which this build does not "
            "ship; upload CSV, JSON or Markdown",
            field="file",
        )
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".json"):
        return "json"
    if lower.endswith((".md", ".markdown", ".txt")):
        return "markdown"
    raise ValidationError("unsupported file type; upload .csv, .json or .md", field="filename")


def _infer(fields: Iterable[str], fallback: str | None) -> str:
    names = {f.lower() for f in fields}
    if {"offerid", "channelid"} <= names or "templatetype" in names:
        return "creative"
    if "aggregatefunction" in names or "aggregation" in names:
        return "behavioral_metric"
    if "ruletype" in names and ({"maxperweek", "maxperday", "config"} & names):
        return "contact_policy"
    if "conditions" in names or "ruletype" in names:
        return "qualification_rule"
    if "filters" in names or "filterrules" in names:
        return "segment"
    if "channeltype" in names:
        return "channel"
    return fallback or "offer"


def _clean(row: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    declared = next((row[k] for k in TYPE_KEYS if isinstance(row.get(k), str) and row.get(k)), None)
    payload = {k: v for k, v in row.items() if k not in TYPE_KEYS and v not in (None, "")}
    return entity_type_of(declared) if declared else None, payload


def _row_proposal(row: dict[str, Any], line: int, quote: str, fallback: str | None) -> RawProposal | None:
    declared, payload = _clean(row)
    if not payload:
        return None
    kind = declared or _infer(payload, fallback)
    return RawProposal(kind, payload, line, quote[:MAX_QUOTE])


def _csv(text: str, fallback: str | None) -> list[RawProposal]:
    lines = text.splitlines()
    reader = csv.DictReader(io.StringIO(text))
    out = []
    for row in reader:
        line = reader.line_num
        quote = lines[line - 1] if 0 < line <= len(lines) else ""
        cells = {str(k).strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        proposal = _row_proposal(cells, line, quote, fallback)
        if proposal:
            out.append(proposal)
    return out


def _json_items(data: Any, fallback: str | None) -> list[tuple[dict[str, Any], str | None]]:
    if isinstance(data, list):
        return [(item, fallback) for item in data if isinstance(item, dict)]
    if isinstance(data, dict):
        if isinstance(data.get("entities"), list):
            return _json_items(data["entities"], fallback)
        items: list[tuple[dict[str, Any], str | None]] = []
        for key, value in data.items():
            kind = entity_type_of(key)
            if kind and isinstance(value, list):
                items += [(item, kind) for item in value if isinstance(item, dict)]
        return items or [(data, fallback)]
    raise ValidationError("JSON upload must be an object or an array of objects", field="content")


def _json(text: str, fallback: str | None) -> list[RawProposal]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"invalid JSON upload: {exc.msg} at line {exc.lineno}", field="content"
        ) from exc
    out = []
    for index, (item, kind) in enumerate(_json_items(data, fallback), start=1):
        proposal = _row_proposal(item, index, json.dumps(item, ensure_ascii=False), kind)
        if proposal:
            out.append(proposal)
    return out


HEADING = re.compile(r"^#{1,6}\s+(.*)$")
BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
LABELLED = re.compile(r"^(?:\*\*)?([A-Za-z][A-Za-z _-]{1,40}?)(?:\*\*)?\s*:\s*(.+)$")
SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _bullet(text: str, line: int, raw: str, section: str | None) -> RawProposal | None:
    """``- Offer: Name - description`` or, under a typed heading, ``- Name - description``."""
    labelled = LABELLED.match(text)
    kind = entity_type_of(labelled.group(1)) if labelled else None
    body = labelled.group(2) if labelled and kind else text
    kind = kind or section
    if kind is None:
        return None
    parts = re.split(r"\s+[\u2014\u2013-]\s+", body, maxsplit=1)
    payload: dict[str, Any] = {"name": parts[0].strip().strip("*").strip()}
    if len(parts) > 1:
        payload["description"] = parts[1].strip()
    return RawProposal(kind, payload, line, raw.strip()[:MAX_QUOTE])


def _markdown(text: str, fallback: str | None) -> list[RawProposal]:
    out: list[RawProposal] = []
    section: str | None = fallback
    header: list[str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        heading = HEADING.match(line)
        if heading:
            section, header = entity_type_of(heading.group(1)) or fallback, None
        elif line.startswith("|"):
            if header is None:
                header = _cells(line)
            elif not SEPARATOR.match(line):
                row = dict(zip(header, _cells(line), strict=False))
                proposal = _row_proposal(row, number, line, section)
                if proposal:
                    out.append(proposal)
        else:
            header = None
            bullet = BULLET.match(raw)
            proposal = _bullet(bullet.group(1), number, raw, section) if bullet else None
            if proposal:
                out.append(proposal)
    return out


def extract_proposals(filename: str, data: bytes) -> list[RawProposal]:
    """Every entity the file describes, in file order.

    Raises:
        ValidationError: unsupported type, undecodable text or malformed JSON.
    """
    kind = file_kind(filename, data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("the upload is not UTF-8 text", field="file") from exc
    stem = re.split(r"[./\\]", filename)[-2] if "." in filename else filename
    fallback = entity_type_of(stem)
    if kind == "csv":
        return _csv(text, fallback)
    if kind == "json":
        return _json(text, fallback)
    return _markdown(text, fallback)
