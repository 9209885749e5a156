"""Content library and creative copy generation (tool-catalog.md §2.7).

Copy generation asks the model for one schema-bound JSON object through the provider
layer's ``complete_json`` and checks it before returning; nothing is persisted. Content
items carry a version snapshot per change and move draft → in_review → approved →
published. External CMS fetches are out of reach of this server, so a source syncs from
an inline ``config.items`` payload or from a loopback ``config.url`` that serves the same
JSON (a list, or ``{"items": [...]}``); the source's ``items`` column keeps the
external-id → content-item map that makes re-syncs update instead of duplicate.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from kaireon_mcp.core import data
from kaireon_mcp.errors import ConflictError, KaireonError, ValidationError
from kaireon_mcp.llm.base import LLMClient
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    ContentItem,
    ContentItemVersion,
    ContentSource,
    Creative,
    Offer,
)
from kaireon_mcp.storage.types import utcnow

COPY_FIELDS: Final = ("subject", "headline", "body", "ctaText")
CHANNEL_LIMITS: Final[Mapping[str, Mapping[str, int]]] = {
    "sms": {"body": 160},
    "push": {"headline": 50, "body": 120},
    "email": {"subject": 78},
    "web": {"headline": 60},
    "banner": {"headline": 40, "ctaText": 20},
}
DEFAULT_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "email": ("subject", "headline", "body", "ctaText"),
    "sms": ("body",),
    "push": ("headline", "body"),
}
VARIABLE: Final = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
TRANSITIONS: Final[Mapping[str, tuple[str, str]]] = {
    "submit": ("draft", "in_review"),
    "approve": ("in_review", "approved"),
    "publish": ("approved", "published"),
}
SYSTEM_PROMPT: Final = (
    "You are a senior CRM copywriter. Write concise, compliant marketing copy. Never invent prices, "
    "rates or terms that the offer does not state. Personalisation placeholders like {{first_name}} "
    "are allowed. Answer only with the requested JSON object."
)


class GenerationError(KaireonError):
    """The model answered, but not with usable copy (a 422, not a provider outage)."""

    code = "UNPROCESSABLE"


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


def _text_schema(fields: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f: {"type": "string"} for f in fields},
        "required": list(fields),
        "additionalProperties": False,
    }


def _limit_warnings(channel: str | None, copy: Mapping[str, str]) -> list[str]:
    limits = CHANNEL_LIMITS.get((channel or "").lower(), {})
    return [
        f"{name} is {len(copy[name])} characters; {channel} allows about {limit}"
        for name, limit in limits.items()
        if name in copy and len(copy[name]) > limit
    ]


def _strings(answer: Any, fields: Sequence[str], what: str) -> dict[str, str]:
    if not isinstance(answer, Mapping):
        raise GenerationError(f"the model did not return a JSON object for {what}")
    missing = [f for f in fields if not isinstance(answer.get(f), str) or not answer[f].strip()]
    if missing:
        raise GenerationError(f"the model left {', '.join(missing)} empty in {what}; try again")
    return {f: str(answer[f]).strip() for f in fields}


def _offer_brief(offer: Offer) -> dict[str, Any]:
    return {
        "name": offer.name,
        "description": offer.description,
        "shortDescription": offer.short_desc,
        "productType": offer.product_type,
        "tags": offer.tags,
        "customFields": offer.custom_fields,
    }


async def generate_copy(
    repo: Repository,
    client: LLMClient,
    *,
    offer_id: str,
    channel_type: str | None = None,
    template_type: str | None = None,
    tone: str | None = None,
    audience: str | None = None,
    language: str = "en",
    fields: Sequence[str] | None = None,
) -> dict[str, Any]:
    offer = await repo.get(Offer, offer_id)
    wanted = list(fields or DEFAULT_FIELDS.get((channel_type or "").lower(), COPY_FIELDS))
    unknown = [f for f in wanted if f not in COPY_FIELDS]
    if unknown:
        raise ValidationError(f"fields must be among {', '.join(COPY_FIELDS)}", field="fields")
    brief = {
        "offer": _offer_brief(offer),
        "channelType": channel_type,
        "templateType": template_type,
        "tone": tone or "friendly",
        "audience": audience,
        "language": language,
        "lengthLimits": CHANNEL_LIMITS.get((channel_type or "").lower(), {}),
        "write": wanted,
    }
    prompt = "Write copy for this offer. Brief (JSON):\n" + json.dumps(brief, ensure_ascii=False, default=str)
    answer = await client.complete_json(SYSTEM_PROMPT, prompt, _text_schema(wanted))
    copy = _strings(answer, wanted, "the copy")
    return {
        "offerId": offer.id,
        "channelType": channel_type,
        "tone": brief["tone"],
        "language": language,
        "copy": copy,
        "warnings": _limit_warnings(channel_type, copy),
        "provider": client.provider,
        "model": client.model,
    }


def _variant_schema(keys: Sequence[str], count: int) -> dict[str, Any]:
    variant = {
        "type": "object",
        "properties": {
            "label": {"type": "string"},
            "content": _text_schema(keys),
            "rationale": {"type": "string"},
        },
        "required": ["label", "content", "rationale"],
    }
    return {
        "type": "object",
        "properties": {"variants": {"type": "array", "items": variant, "minItems": count, "maxItems": count}},
        "required": ["variants"],
    }


async def generate_variants(
    repo: Repository, client: LLMClient, *, creative_id: str, count: int = 3, tone: str | None = None
) -> dict[str, Any]:
    if not 1 <= count <= 10:
        raise ValidationError("count must be 1-10", field="count")
    creative = await repo.get(Creative, creative_id)
    keys = [k for k, v in (creative.content or {}).items() if isinstance(v, str) and v.strip()]
    if not keys:
        raise ValidationError(f"creative {creative.name} has no text content to vary", field="creativeId")
    original = {k: creative.content[k] for k in keys}
    brief = {"templateType": creative.template_type, "original": original, "count": count, "tone": tone}
    prompt = (
        f"Write {count} A/B test variants of this creative, each testing a different angle, keeping the same "
        "fields and placeholders. Brief (JSON):\n" + json.dumps(brief, ensure_ascii=False)
    )
    answer = await client.complete_json(SYSTEM_PROMPT, prompt, _variant_schema(keys, count))
    raw = answer.get("variants") if isinstance(answer, Mapping) else None
    if not isinstance(raw, list) or len(raw) < count:
        raise GenerationError(
            f"the model returned {0 if not isinstance(raw, list) else len(raw)} of {count} variants"
        )
    variants = []
    for i, item in enumerate(raw[:count]):
        item = item if isinstance(item, Mapping) else {}
        variants.append(
            {
                "label": str(item.get("label") or f"Variant {chr(65 + i)}"),
                "content": _strings(item.get("content"), keys, f"variant {i + 1}"),
                "rationale": str(item.get("rationale") or ""),
            }
        )
    return {
        "creativeId": creative.id,
        "original": original,
        "variants": variants,
        "provider": client.provider,
        "model": client.model,
    }


# ---------------------------------------------------------------------------------------------
# Content items
# ---------------------------------------------------------------------------------------------


def _walk_strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from _walk_strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk_strings(inner)


def extract_variables(*values: Any) -> list[str]:
    """Sorted unique ``{{name}}`` placeholders found anywhere in the content."""
    return sorted({m for v in values for text in _walk_strings(v) for m in VARIABLE.findall(text)})


def item_out(item: ContentItem) -> dict[str, Any]:
    out = item.to_dict()
    out.pop("tenantId", None)
    out.pop("deletedAt", None)
    return out


async def _snapshot(repo: Repository, item: ContentItem) -> None:
    snapshot = {k: v for k, v in item_out(item).items() if k not in ("createdAt", "updatedAt")}
    await repo.create(
        ContentItemVersion, {"content_item_id": item.id, "version": item.version, "snapshot": snapshot}
    )


async def list_items(
    repo: Repository,
    *,
    status: str | None = None,
    channel_type: str | None = None,
    is_template: bool | None = None,
    source_type: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> dict[str, Any]:
    where = []
    if status:
        where.append(ContentItem.status == status)
    if channel_type:
        where.append(ContentItem.channel_type == channel_type)
    if is_template is not None:
        where.append(ContentItem.is_template.is_(is_template))
    if source_type:
        where.append(ContentItem.source_type == source_type)
    page = await repo.page(ContentItem, *where, limit=limit, cursor=cursor)
    return page.to_dict([item_out(i) for i in page.items])


async def get_item(repo: Repository, item_id: str, include_versions: bool = False) -> dict[str, Any]:
    item = await repo.get(ContentItem, item_id)
    out = item_out(item)
    if include_versions:
        versions = await repo.all(
            ContentItemVersion,
            ContentItemVersion.content_item_id == item.id,
            order_by=ContentItemVersion.version.desc(),
        )
        out["versions"] = [
            {"version": v.version, "createdAt": v.to_dict()["createdAt"], "snapshot": v.snapshot}
            for v in versions
        ]
    return out


async def _check_parent(repo: Repository, parent_id: str | None) -> None:
    if not parent_id:
        return
    parent = await repo.get(ContentItem, parent_id)
    if not parent.is_template:
        raise ValidationError(f"content item {parent.name} is not a template", field="parentTemplateId")


ITEM_FIELDS: Final[Mapping[str, str]] = {
    "name": "name",
    "channelType": "channel_type",
    "description": "description",
    "content": "content",
    "blocks": "blocks",
    "personalization": "personalization",
    "parentTemplateId": "parent_template_id",
    "isTemplate": "is_template",
}


async def create_item(repo: Repository, fields: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """Draft at version 1 with its first snapshot; ``extra`` carries sync provenance."""
    if await repo.find(ContentItem, name=fields["name"]) is not None:
        raise ConflictError(f"a content item named {fields['name']!r} already exists", field="name")
    await _check_parent(repo, fields.get("parentTemplateId"))
    values = {ITEM_FIELDS[k]: v for k, v in fields.items() if k in ITEM_FIELDS and v is not None}
    values.setdefault("category", values["channel_type"])
    values["variables"] = extract_variables(values.get("content"), values.get("blocks"))
    item = await repo.create(ContentItem, {**values, **extra, "status": "draft", "version": 1})
    await _snapshot(repo, item)
    return item_out(item)


async def update_item(repo: Repository, item_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Edit and snapshot a new version; an edit sends reviewed or published content back to draft."""
    item = await repo.get(ContentItem, item_id)
    changes = {ITEM_FIELDS[k]: v for k, v in fields.items() if k in ITEM_FIELDS}
    if not changes:
        raise ValidationError("nothing to update", field="contentItemId")
    if (
        "name" in changes
        and changes["name"] != item.name
        and await repo.find(ContentItem, name=changes["name"])
    ):
        raise ConflictError(f"a content item named {changes['name']!r} already exists", field="name")
    await _check_parent(repo, changes.get("parent_template_id"))
    content = changes.get("content", item.content)
    blocks = changes.get("blocks", item.blocks)
    changes["variables"] = extract_variables(content, blocks)
    if item.status != "draft":
        changes["status"] = "draft"
    item = await repo.update(ContentItem, item, changes)
    await _snapshot(repo, item)
    return item_out(item)


async def transition_item(repo: Repository, item_id: str, action: str = "publish") -> dict[str, Any]:
    item = await repo.get(ContentItem, item_id)
    if action not in TRANSITIONS:
        raise ValidationError(f"action must be one of {', '.join(TRANSITIONS)}", field="action")
    source, target = TRANSITIONS[action]
    if item.status != source:
        allowed = [a for a, (s, _) in TRANSITIONS.items() if s == item.status]
        hint = f"; allowed now: {', '.join(allowed)}" if allowed else ""
        raise ValidationError(
            f"cannot {action} a content item in status {item.status} (needs {source}){hint}", field="action"
        )
    item = await repo.update(ContentItem, item, {"status": target}, audit_action=action)
    return item_out(item)


async def list_templates(repo: Repository, category: str | None = None) -> dict[str, Any]:
    where = [ContentItem.is_template.is_(True)]
    rows = await repo.all(ContentItem, *where, order_by=[ContentItem.name])
    if category:
        rows = [r for r in rows if category in (r.category, r.channel_type)]
    items = [
        {
            "id": r.id,
            "name": r.name,
            "category": r.category or r.channel_type,
            "channelType": r.channel_type,
            "description": r.description,
            "status": r.status,
            "variables": extract_variables(r.content, r.blocks),
        }
        for r in rows
    ]
    return {"items": items, "total": len(items)}


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def source_out(source: ContentSource) -> dict[str, Any]:
    out = source.to_dict()
    out.pop("tenantId", None)
    out.pop("deletedAt", None)
    plain, secrets = data.split_secrets(source.config or {})
    out["config"] = {**plain, **dict.fromkeys(secrets, "••••••••")}
    out.pop("items", None)
    out["syncedItems"] = len(source.items or [])
    return out


async def list_sources(repo: Repository) -> dict[str, Any]:
    rows = await repo.all(ContentSource, order_by=[ContentSource.name])
    return {"items": [source_out(s) for s in rows], "total": len(rows)}


async def _fetch_items(source: ContentSource) -> list[Any]:
    config = source.config or {}
    if isinstance(config.get("items"), list):
        return list(config["items"])
    url = config.get("url")
    if not isinstance(url, str):
        raise ValidationError(
            f"{source.source_type} APIs are not reachable from this server; give the source config.items "
            "(inline payload) or config.url on 127.0.0.1 serving the items as JSON",
            field="sourceId",
        )
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValidationError(
            "config.url must point at a loopback address (127.0.0.1/localhost)", field="sourceId"
        )
    outcome, response = await data.http_request("GET", url)
    if response is None or response.status_code >= 400:
        raise ValidationError(f"fetching {url} failed: {outcome['message']}", field="sourceId")
    try:
        body = response.json()
    except ValueError:
        raise ValidationError(f"{url} did not return JSON", field="sourceId") from None
    items = body.get("items") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ValidationError(f"{url} must return a list or {{items: [...]}}", field="sourceId")
    return items


def _external_item(raw: Any, default_channel: str) -> tuple[str, dict[str, Any]] | str:
    """``(externalId, createContentItem fields)`` or the reason the item is skipped."""
    if not isinstance(raw, Mapping):
        return "not an object"
    external = raw.get("externalId") or raw.get("id") or raw.get("slug")
    name = raw.get("name") or raw.get("title")
    if not external or not isinstance(name, str) or not name.strip():
        return "needs an id and a name/title"
    content = raw.get("content")
    if not isinstance(content, Mapping):
        content = {k: raw[k] for k in (*COPY_FIELDS, "imageUrl") if k in raw}
    return str(external), {
        "name": name.strip(),
        "channelType": str(raw.get("channelType") or default_channel),
        "description": str(raw.get("description") or ""),
        "content": dict(content),
        "isTemplate": bool(raw.get("isTemplate", False)),
    }


async def _sync_one(
    repo: Repository, source: ContentSource, mapping: dict[str, str], external: str, fields: dict[str, Any]
) -> str:
    """Create, update or leave one item; returns created | updated | unchanged | a skip reason."""
    current = await repo.find(ContentItem, id=mapping[external]) if external in mapping else None
    if current is not None:
        changed = {k: v for k, v in fields.items() if getattr(current, ITEM_FIELDS[k]) != v}
        if not changed:
            return "unchanged"
        await update_item(repo, current.id, changed)
        return "updated"
    if await repo.find(ContentItem, name=fields["name"]) is not None:
        return f"a content item named {fields['name']!r} already exists"
    created = await create_item(repo, fields, source_type=source.source_type, source_id=source.id)
    mapping[external] = created["id"]
    return "created"


async def sync_source(repo: Repository, source_id: str) -> dict[str, Any]:
    """Import the source's items as content items in one transaction (all or nothing)."""
    source = await repo.get(ContentSource, source_id)
    raw_items = await _fetch_items(source)
    default_channel = str((source.config or {}).get("defaultChannelType") or "email")
    mapping = {
        str(m["externalId"]): str(m["contentItemId"]) for m in source.items or [] if isinstance(m, dict)
    }
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    skipped = []
    for index, raw in enumerate(raw_items):
        parsed = _external_item(raw, default_channel)
        outcome = parsed if isinstance(parsed, str) else await _sync_one(repo, source, mapping, *parsed)
        if outcome in counts:
            counts[outcome] += 1
        else:
            skipped.append({"index": index, "reason": outcome})
    items_map = [{"externalId": k, "contentItemId": v} for k, v in sorted(mapping.items())]
    await repo.update(
        ContentSource, source, {"items": items_map, "last_synced_at": utcnow()}, audit_action="sync"
    )
    seen = {p[0] for raw in raw_items if not isinstance(p := _external_item(raw, default_channel), str)}
    return {
        "sourceId": source.id,
        **counts,
        "skipped": skipped,
        "missingUpstream": len(set(mapping) - seen),
        "syncedAt": source.to_dict()["lastSyncedAt"],
    }
