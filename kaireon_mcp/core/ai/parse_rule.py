"""Natural language -> proposed rules, policies and metrics (http-bridge.md 3.10). Creates nothing.

The model path is tried first; on any failure the regex families of 3.10.1 answer.
Field warnings are computed here for both paths, against the tenant's schema fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from kaireon_mcp.core.ai._llm_answers import structured
from kaireon_mcp.core.ai._rule_patterns import extract
from kaireon_mcp.core.ai.analyzer_settings import get_settings
from kaireon_mcp.core.ai.services import AiServices
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import Category, SchemaField

__all__ = ["MAX_TEXT", "parse_rule"]

MAX_TEXT = 2000
NOTHING = "Could not extract any rule from the text."
_MISSING_TAIL = "The rule may not work until the field is added."
SYSTEM = (
    "You turn a marketer's plain-language targeting rule into qualification_rule, contact_policy and "
    "behavioral_metric entities. Use only the listed operators and fields where possible; answer with "
    "the JSON object the schema describes."
)


class Condition(BaseModel):
    field: str
    operator: str
    value: Any


class EntityOut(BaseModel):
    type: Literal["qualification_rule", "contact_policy", "behavioral_metric"]
    name: str = Field(min_length=1)
    payload: dict[str, Any]


class ParseAnswer(BaseModel):
    entities: list[EntityOut]
    warnings: list[str] = Field(default_factory=list)


def _checked_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("text is required", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"text must be at most {MAX_TEXT} characters", field="text")
    return text.strip()


async def _field_names(repo: Repository) -> set[str]:
    stmt = repo.scoped(SchemaField)
    return {f.name.lower() for f in (await repo.session.execute(stmt)).scalars().all()}


def _conditions(entity: dict[str, Any]) -> list[dict[str, Any]]:
    conditions = entity.get("payload", {}).get("conditions")
    return [c for c in conditions if isinstance(c, dict)] if isinstance(conditions, list) else []


def field_warnings(entities: list[dict[str, Any]], schema_fields: set[str]) -> list[str]:
    """One warning per condition field unknown to every schema and not a metric of this answer."""
    metrics = {e["name"].lower() for e in entities if e.get("type") == "behavioral_metric"}
    warnings: list[str] = []
    for entity in entities:
        for condition in _conditions(entity):
            name = str(condition.get("field", ""))
            bare = name[len("customer.") :] if name.lower().startswith("customer.") else name
            if bare.lower() in schema_fields or bare.lower() in metrics:
                continue
            text = f"No '{bare}' field found in available schemas. {_MISSING_TAIL}"
            if text not in warnings:
                warnings.append(text)
    return warnings


def _post_validate(entities: list[dict[str, Any]], rules: dict[str, Any]) -> list[str]:
    """Drop conditions with disallowed operators and cap the total count, warning for each."""
    allowed = set(rules["allowedOperators"])
    budget = int(rules["maxConditions"])
    warnings: list[str] = []
    for entity in entities:
        kept = []
        for condition in _conditions(entity):
            if condition.get("operator") not in allowed:
                warnings.append(
                    f"Dropped a condition on '{condition.get('field')}': operator "
                    f"'{condition.get('operator')}' is not allowed."
                )
            elif budget <= 0:
                warnings.append(
                    f"Dropped a condition on '{condition.get('field')}': more than "
                    f"{rules['maxConditions']} conditions."
                )
            else:
                kept.append(condition)
                budget -= 1
        if "conditions" in entity.get("payload", {}):
            entity["payload"]["conditions"] = kept
    return warnings


async def _resolve_categories(repo: Repository, extraction: Any) -> list[str]:
    by_name = {c.name.lower(): c for c in await repo.all(Category)}
    warnings = []
    for ref in extraction.categories:
        policy = extraction.entities[ref.entity_index]
        candidates = (ref.name, ref.name.rstrip("s"), ref.name + "s")
        found = next((by_name[n] for n in candidates if n in by_name), None)
        payload = policy["payload"]
        payload["scope"] = "category"
        if found is not None:
            payload["scopeId"] = found.id
            payload["scopeName"] = found.name
            policy["name"] += f" \u2013 {found.name} offers"
        else:
            payload["scopeName"] = ref.name
            policy["name"] += f" \u2013 {ref.name.title()} offers"
            warnings.append(f"No category named '{ref.name}' found.")
    return warnings


async def parse_rule(
    db: Database, principal: TenantContext, services: AiServices, text: Any
) -> dict[str, Any]:
    """Parse one rule description; ``source`` says which path answered.

    Raises:
        ValidationError: empty or over-long text.
    """
    clean = _checked_text(text)
    settings = await get_settings(db, principal)
    async with db.tenant(principal) as repo:
        fields = await _field_names(repo)
    answer = await _ask_model(db, principal, services, clean, fields, settings["ruleBuilder"])
    if answer is not None:
        entities = [e.model_dump(mode="json") for e in answer.entities]
        warnings = list(answer.warnings) + _post_validate(entities, settings["ruleBuilder"])
        source = "llm"
    else:
        extraction = extract(clean, int(settings["policy"]["lookbackDays"]))
        async with db.tenant(principal) as repo:
            warnings = await _resolve_categories(repo, extraction)
        entities, source = extraction.entities, "heuristic"
    warnings = field_warnings(entities, fields) + warnings
    if not entities:
        warnings.append(NOTHING)
    return {"entities": entities, "warnings": warnings, "source": source}


async def _ask_model(
    db: Database,
    principal: TenantContext,
    services: AiServices,
    text: str,
    fields: set[str],
    rules: dict[str, Any],
) -> ParseAnswer | None:
    client = await services.open_client(db, principal)
    if client is None:
        return None
    prompt = {
        "text": text,
        "schemaFields": sorted(fields),
        "maxConditions": rules["maxConditions"],
        "allowedOperators": rules["allowedOperators"],
    }
    try:
        return await structured(client, SYSTEM, prompt, ParseAnswer, services.llm_timeout)
    finally:
        await client.aclose()
