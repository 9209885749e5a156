"""Recommendation payload -> draft entity (spec 3.15 mapping), through the audited repository."""

from __future__ import annotations

from typing import Any

from kaireon_mcp.core.qualification import RULE_TYPES
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    Base,
    Channel,
    ContactPolicy,
    Creative,
    Offer,
    QualificationRule,
    Segment,
)

__all__ = ["create_entity", "entity_values"]

NAME_SUFFIX = " (AI)"


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


async def _resolve_channel(repo: Repository, ref: str) -> str:
    """A channel given by id or (case-insensitive) name."""
    found = await repo.find(Channel, id=ref)
    if found is None:
        for channel in await repo.all(Channel):
            if channel.name.lower() == ref.lower():
                found = channel
                break
    if found is None:
        raise ValidationError(f"channel {ref!r} not found", field="payload.channel")
    return found.id


async def _policy(repo: Repository, title: str, description: str, p: dict[str, Any]) -> dict[str, Any]:
    config = p.get("config")
    if not isinstance(config, dict):
        config = _drop_none(
            {
                "maxPerDay": p.get("maxContactsPerDay"),
                "maxPerWeek": p.get("maxContactsPerWeek"),
                "maxPerMonth": p.get("maxContactsPerMonth"),
            }
        )
    scope, scope_id = p.get("scope") or "global", p.get("scopeId")
    if p.get("channel") and not scope_id:
        scope, scope_id = "channel", await _resolve_channel(repo, str(p["channel"]))
    return {
        "name": title,
        "description": description,
        "status": "draft",
        "rule_type": p.get("ruleType") or "frequency_cap",
        "scope": scope,
        "scope_id": scope_id,
        "config": config,
        "priority": 50,
    }


def _rule(title: str, description: str, p: dict[str, Any]) -> dict[str, Any]:
    """parse-rule's ``ruleType: "hard"`` is an eligibility-stage attribute condition (core section 4)."""
    conditions = p.get("conditions")
    if not isinstance(conditions, list) or not conditions or not isinstance(conditions[0], dict):
        raise ValidationError("a rule recommendation needs payload.conditions", field="payload.conditions")
    rule_type = p.get("ruleType")
    rule_type = rule_type if rule_type in RULE_TYPES else "attribute_condition"
    first = conditions[0]
    config = {
        "attribute": first.get("field"),
        "operator": first.get("operator", "eq"),
        "value": first.get("value"),
        "conditions": conditions,
    }
    return {
        "name": title,
        "description": description,
        "status": "draft",
        "rule_type": rule_type,
        "stage": "eligibility" if p.get("ruleType") in (None, "hard") else None,
        "scope": p.get("scope") or "global",
        "scope_id": p.get("scopeId"),
        "config": config,
    }


def _segment(title: str, description: str, p: dict[str, Any]) -> dict[str, Any]:
    filters = p.get("filterRules", p.get("filters", []))
    if not isinstance(filters, list):
        raise ValidationError("payload.filterRules must be a list", field="payload.filterRules")
    return {
        "name": title,
        "description": description,
        "status": "draft",
        "base_schema_id": p.get("schemaId"),
        "filters": filters,
    }


async def _creative(repo: Repository, title: str, p: dict[str, Any]) -> dict[str, Any]:
    for key in ("offerId", "channelId"):
        if not p.get(key):
            raise ValidationError(f"a content recommendation needs payload.{key}", field=f"payload.{key}")
    if await repo.find(Offer, id=p["offerId"]) is None:
        raise ValidationError(f"offer {p['offerId']!r} not found", field="payload.offerId")
    return _drop_none(
        {
            "name": title,
            "status": "draft",
            "offer_id": p["offerId"],
            "channel_id": await _resolve_channel(repo, str(p["channelId"])),
            "placement_id": p.get("placementId"),
            "template_type": p.get("templateType"),
            "content": p.get("content") if isinstance(p.get("content"), dict) else None,
        }
    )


MODELS: dict[str, type[Base]] = {
    "policy": ContactPolicy,
    "rule": QualificationRule,
    "segment": Segment,
    "content": Creative,
}


async def entity_values(
    repo: Repository, rec_type: str, title: str, description: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """The draft entity's column values for one recommendation."""
    if rec_type == "policy":
        return await _policy(repo, title, description, payload)
    if rec_type == "rule":
        return _rule(title, description, payload)
    if rec_type == "segment":
        return _segment(title, description, payload)
    if rec_type == "content":
        return await _creative(repo, title, payload)
    raise ValidationError(f"cannot apply a recommendation of type {rec_type!r}", field="type")


async def create_entity(
    repo: Repository, rec_type: str, title: str, description: str, payload: dict[str, Any]
) -> str:
    """Create the draft; a taken name (live or soft-deleted) gets the suffix " (AI)".

    The name is checked up front rather than by catching the unique violation, because a
    failed flush leaves the pending row in the session and spoils the transaction.
    """
    values = await entity_values(repo, rec_type, title, description, payload or {})
    model = MODELS[rec_type]
    if await repo.find(model, include_deleted=True, name=values["name"]) is not None:
        values["name"] = (title[: 255 - len(NAME_SUFFIX)] + NAME_SUFFIX).strip()
    row = await repo.create(model, values)
    return str(row.id)  # type: ignore[attr-defined]  # every entity table has an id column
