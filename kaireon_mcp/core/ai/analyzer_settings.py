"""Analyzer settings: defaults, read with defaults filled, per-section partial update (spec 3.7, 3.8).

Each section is validated on its own, so one bad section never blocks the good ones
in the same request; rejected sections are reported in ``validationErrors`` with the
offending field paths and left unchanged.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AnalyzerSettings
from kaireon_mcp.storage.types import utcnow

__all__ = ["DEFAULTS", "OPERATORS", "SECTIONS", "get_settings", "merged", "update_settings"]

OPERATORS: tuple[str, ...] = ("equals", "gt", "lt", "gte", "lte", "contains", "in")
Operator = Literal["equals", "gt", "lt", "gte", "lte", "contains", "in"]

DEFAULTS: dict[str, dict[str, Any]] = {
    "segmentation": {"minClusters": 2, "maxClusters": 8, "algorithm": "kmeans", "includedFeatures": None},
    "policy": {"dailyCap": 3, "weeklyCap": 10, "monthlyCap": 30, "lookbackDays": 90, "minSampleSize": 100},
    "content": {
        "minImpressions": 100,
        "metricWeights": {"ctr": 0.33, "cvr": 0.34, "revenue": 0.33},
        "confidenceLevel": 0.95,
    },
    "ruleBuilder": {"maxConditions": 5, "allowedOperators": list(OPERATORS), "fieldTypeConstraints": None},
    "ranking": {},
}
SECTIONS: tuple[str, ...] = tuple(DEFAULTS)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Segmentation(_Section):
    minClusters: int = Field(ge=2, le=20)
    maxClusters: int = Field(ge=2, le=50)
    algorithm: Literal["kmeans", "dbscan"]
    includedFeatures: list[str] | None

    @model_validator(mode="after")
    def _bounds(self) -> Segmentation:
        if self.maxClusters < self.minClusters:
            raise ValueError("maxClusters must be >= minClusters")
        return self


class Policy(_Section):
    dailyCap: int = Field(ge=1)
    weeklyCap: int = Field(ge=1)
    monthlyCap: int = Field(ge=1)
    lookbackDays: int = Field(ge=1, le=365)
    minSampleSize: int = Field(ge=1)

    @model_validator(mode="after")
    def _caps(self) -> Policy:
        if not self.dailyCap <= self.weeklyCap <= self.monthlyCap:
            raise ValueError("caps must satisfy dailyCap <= weeklyCap <= monthlyCap")
        return self


class Weights(_Section):
    ctr: float = Field(ge=0, le=1)
    cvr: float = Field(ge=0, le=1)
    revenue: float = Field(ge=0, le=1)


class Content(_Section):
    minImpressions: int = Field(ge=0)
    metricWeights: Weights
    confidenceLevel: float = Field(gt=0.5, le=0.999)


class RuleBuilder(_Section):
    maxConditions: int = Field(ge=1, le=20)
    allowedOperators: list[Operator] = Field(min_length=1)
    fieldTypeConstraints: dict[str, Any] | None


class Ranking(BaseModel):
    """Keys undocumented upstream: any object is accepted until they are known."""

    model_config = ConfigDict(extra="allow")


MODELS: dict[str, type[BaseModel]] = {
    "segmentation": Segmentation,
    "policy": Policy,
    "content": Content,
    "ruleBuilder": RuleBuilder,
    "ranking": Ranking,
}


def merged(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults with the stored values laid over them, section by section."""
    out = copy.deepcopy(DEFAULTS)
    for section, values in (stored or {}).items():
        if section in out and isinstance(values, dict):
            out[section] = _merge_section(out[section], values)
    return out


def _merge_section(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Key-level merge; ``metricWeights`` merges one level deeper."""
    out = dict(base)
    for key, value in patch.items():
        if key == "metricWeights" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _errors(exc: PydanticValidationError, section: str) -> list[str]:
    messages = []
    for err in exc.errors():
        path = ".".join(str(p) for p in (section, *err.get("loc", ())))
        messages.append(f"{path}: {err.get('msg', 'invalid value')}")
    return messages


def _validated(section: str, current: dict[str, Any], patch: Any) -> tuple[dict[str, Any] | None, list[str]]:
    if not isinstance(patch, dict):
        return None, [f"{section}: must be an object"]
    candidate = _merge_section(current, patch)
    try:
        model = MODELS[section].model_validate(candidate)
    except PydanticValidationError as exc:
        return None, _errors(exc, section)
    return model.model_dump(mode="json"), []


async def _row(repo: Repository) -> AnalyzerSettings | None:
    stmt = select(AnalyzerSettings).where(AnalyzerSettings.tenant_id == repo.ctx.tenant_id)
    return (await repo.session.execute(stmt)).scalar_one_or_none()


async def get_settings(db: Database, principal: TenantContext) -> dict[str, Any]:
    """Every section, missing values filled from defaults; never writes."""
    async with db.tenant(principal) as repo:
        row = await _row(repo)
        return merged(row.settings if row else None)


async def update_settings(db: Database, principal: TenantContext, body: Any) -> dict[str, Any]:
    """Apply a partial update; returns the full merged settings (+ ``validationErrors``).

    Raises:
        ValidationError: the body is not a JSON object.
    """
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object of settings sections")
    principal.require_role("admin", "updating analyzer settings")
    async with db.tenant(principal) as repo:
        row = await _row(repo)
        before = merged(row.settings if row else None)
        after, problems = _apply_sections(before, body)
        if after != before:
            if row is None:
                repo.session.add(AnalyzerSettings(tenant_id=principal.tenant_id, settings=after))
            else:
                row.settings = after
                row.updated_at = utcnow()
            await repo.session.flush()
            await repo.audit.record(
                "update",
                "tenant_settings",
                principal.tenant_id,
                "aiAnalyzerSettings",
                {"aiAnalyzerSettings": before},
                {"aiAnalyzerSettings": after},
            )
    result: dict[str, Any] = dict(after)
    if problems:
        result["validationErrors"] = problems
    return result


def _apply_sections(
    current: dict[str, Any], body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    out = copy.deepcopy(current)
    problems: dict[str, list[str]] = {}
    for section, patch in body.items():
        if section not in MODELS:
            problems[section] = [f"{section}: unknown section (expected one of {', '.join(SECTIONS)})"]
            continue
        value, errors = _validated(section, out[section], patch)
        if errors:
            problems[section] = errors
        elif value is not None:
            out[section] = value
    return out, problems
