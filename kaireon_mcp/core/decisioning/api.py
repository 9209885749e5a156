"""Request and response models of Recommend and Respond (decisioning-core.md 3.15-3.16).

Shared by the ``recommend``/``recordOutcome`` tools, the HTTP bridge and its OpenAPI document.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PlacementRequest(Strict):
    placementId: str = Field(description="placement id or key")
    limit: int | None = Field(None, ge=1, le=50)


class RecommendRequest(Strict):
    customerId: str | None = Field(
        None, max_length=128, description="customer id; omit or 'anonymous' for a session id"
    )
    channel: str | None = Field(None, description="channel type, name or id (e.g. email)")
    channelId: str | None = None
    placement: str | None = Field(None, description="placement key, e.g. hero_banner")
    limit: int = Field(5, ge=1, le=50)
    sessionId: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    context: dict[str, Any] = Field(default_factory=dict)
    segments: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="override/extend customer attributes"
    )
    locale: str | None = None
    currency: str | None = None
    placements: list[PlacementRequest] = Field(default_factory=list)
    deduplicate: bool = False
    excludeOffers: list[str] = Field(default_factory=list)
    excludeCreatives: list[str] = Field(default_factory=list)
    decisionFlowKey: str | None = Field(None, alias="decisionFlowKey")
    debug: bool = False


class CreativeOut(BaseModel):
    id: str
    name: str
    templateType: str | None = None
    content: dict[str, Any] = Field(default_factory=dict)


class DecisionOut(BaseModel):
    rank: int
    interactionId: str
    recommendationId: str
    offerId: str
    offerName: str
    category: str | None = None
    subCategory: str | None = None
    score: float
    scores: dict[str, float] = Field(default_factory=dict)
    creative: CreativeOut | None = None
    channelId: str | None = None
    placementId: str | None = None
    personalization: dict[str, Any] = Field(default_factory=dict)
    mandatory: bool = False


class PlacementDecisions(BaseModel):
    placementId: str
    decisions: list[DecisionOut]


class RecommendResponse(BaseModel):
    recommendationId: str
    customerId: str
    decisions: list[DecisionOut] = Field(default_factory=list)
    placements: list[PlacementDecisions] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    controlGroup: bool = False
    degradedScoring: bool = False
    traceId: str | None = None


class RespondRequest(Strict):
    customerId: str = Field(min_length=1, max_length=128)
    outcome: str | None = Field(None, description="outcome-type key, e.g. impression, click, conversion")
    interactionType: SkipJsonSchema[str | None] = Field(None, description="legacy alias of outcome")
    idempotencyKey: str = Field(min_length=1, max_length=255)
    recommendationId: str | None = None
    rank: int | None = Field(None, ge=1)
    offerId: str | None = None
    creativeId: str | None = None
    treatmentId: SkipJsonSchema[str | None] = None
    channelId: str | None = None
    placementId: str | None = None
    interactionId: SkipJsonSchema[str | None] = None
    direction: Literal["inbound", "outbound"] | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    outcomeDetails: dict[str, Any] = Field(default_factory=dict)
    attributes: dict[str, Any] = Field(default_factory=dict)
    timestamp: str | None = None
    conversionValue: float | None = None


class RespondResponse(BaseModel):
    interactionId: str
    recommendationId: str | None = None
    customerId: str
    outcome: str
    classification: str
    rank: int | None = None
    offerName: str | None = None
    creativeName: str | None = None
    channelName: str | None = None
    categoryName: str | None = None
    status: str = "recorded"
    timestamp: str
    replayed: bool = False
