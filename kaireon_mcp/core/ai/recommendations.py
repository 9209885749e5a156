"""AI recommendations: list, create, read, status changes and apply-as-draft (spec 3.11-3.15)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kaireon_mcp.core.ai import _apply
from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AiRecommendation
from kaireon_mcp.storage.types import utcnow

__all__ = [
    "CONFIDENCES",
    "RECOMMENDATION_TYPES",
    "SOURCES",
    "STATUSES",
    "AlreadyAppliedError",
    "RecommendationIn",
    "apply_recommendation",
    "create_recommendation",
    "get_recommendation",
    "list_recommendations",
    "set_status",
]

RecType = Literal["policy", "rule", "segment", "content"]
Status = Literal["new", "reviewed", "applied", "dismissed"]
Confidence = Literal["high", "medium", "low"]
Source = Literal["llm", "ml_worker"]
RECOMMENDATION_TYPES: tuple[str, ...] = ("policy", "rule", "segment", "content")
STATUSES: tuple[str, ...] = ("new", "reviewed", "applied", "dismissed")
CONFIDENCES: tuple[str, ...] = ("high", "medium", "low")
SOURCES: tuple[str, ...] = ("llm", "ml_worker")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class AlreadyAppliedError(ConflictError):
    """A second apply: code CONFLICT, but HTTP 400 because the reference documents 400."""

    @property
    def http_status(self) -> int:
        return 400


class RecommendationIn(BaseModel):
    """Manual creation body (POST /recommendations); ``status`` is always ``new``."""

    model_config = ConfigDict(extra="ignore")
    type: RecType
    title: str = Field(min_length=1, max_length=255)
    description: str
    payload: dict[str, Any] = Field(default_factory=dict)
    confidence: Confidence = "medium"
    source: Source = "llm"
    metadata: dict[str, Any] = Field(default_factory=dict)


def _check(value: str | None, allowed: tuple[str, ...], name: str) -> None:
    if value is not None and value not in allowed:
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}", field=name)


async def list_recommendations(
    db: Database,
    principal: TenantContext,
    type: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Newest first, optionally filtered by type and status, at most ``limit`` rows."""
    _check(type, RECOMMENDATION_TYPES, "type")
    _check(status, STATUSES, "status")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    async with db.tenant(principal) as repo:
        stmt = repo.scoped(AiRecommendation)
        if type is not None:
            stmt = stmt.where(AiRecommendation.type == type)
        if status is not None:
            stmt = stmt.where(AiRecommendation.status == status)
        stmt = stmt.order_by(AiRecommendation.created_at.desc(), AiRecommendation.id.desc()).limit(limit)
        rows = (await repo.session.execute(stmt)).scalars().all()
        return {"recommendations": [row.to_dict() for row in rows]}


async def insert_recommendation(repo: Repository, data: RecommendationIn) -> AiRecommendation:
    """Insert one ``new`` recommendation inside an open transaction (analyzers reuse this)."""
    return await repo.create(
        AiRecommendation,
        {
            "type": data.type,
            "title": data.title,
            "description": data.description,
            "payload": data.payload,
            "confidence": data.confidence,
            "source": data.source,
            "status": "new",
            "metadata_": data.metadata,
        },
    )


async def create_recommendation(
    db: Database, principal: TenantContext, data: RecommendationIn
) -> dict[str, Any]:
    async with db.tenant(principal) as repo:
        row = await insert_recommendation(repo, data)
        return row.to_dict()


async def _load(repo: Repository, rec_id: str) -> AiRecommendation:
    row = await repo.find(AiRecommendation, id=rec_id)
    if row is None:
        raise NotFoundError(f"recommendation {rec_id!r} not found", field="recommendationId")
    return row


async def get_recommendation(db: Database, principal: TenantContext, rec_id: str) -> dict[str, Any]:
    async with db.tenant(principal) as repo:
        return (await _load(repo, rec_id)).to_dict()


async def set_status(db: Database, principal: TenantContext, rec_id: str, status: str) -> dict[str, Any]:
    """PATCH: reviewed / applied / dismissed; ``applied`` here creates nothing."""
    if status not in ("reviewed", "applied", "dismissed"):
        raise ValidationError("status must be one of reviewed, applied, dismissed", field="status")
    async with db.tenant(principal) as repo:
        row = await _load(repo, rec_id)
        row = await repo.update(AiRecommendation, row, {"status": status})
        return row.to_dict()


async def apply_recommendation(db: Database, principal: TenantContext, rec_id: str) -> dict[str, Any]:
    """Create the described entity as a draft and mark the recommendation applied, atomically.

    Raises:
        NotFoundError: unknown or foreign recommendation.
        AlreadyAppliedError: the recommendation was applied before (HTTP 400).
        ValidationError: the payload cannot become a valid entity.
    """
    principal.require_role("admin", "applying an AI recommendation")
    async with db.tenant(principal) as repo:
        # Row lock (PostgreSQL) so two concurrent applies cannot both create an entity.
        stmt = repo.scoped(AiRecommendation).where(AiRecommendation.id == rec_id).with_for_update()
        row = (await repo.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"recommendation {rec_id!r} not found", field="recommendationId")
        if row.status == "applied":
            raise AlreadyAppliedError(
                f"recommendation {rec_id!r} was already applied (entity {row.applied_entity_id})",
                field="status",
            )
        entity_id = await _apply.create_entity(repo, row.type, row.title, row.description, row.payload)
        await repo.update(
            AiRecommendation,
            row,
            {"status": "applied", "applied_entity_id": entity_id, "updated_at": utcnow()},
            audit_action="apply",
        )
    return {"entityId": entity_id, "entityType": row.type}
