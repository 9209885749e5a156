"""Request and response models of the bridge; the OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from kaireon_mcp.core.ai.imports import ApplyRequest, Verdict
from kaireon_mcp.core.ai.recommendations import RecommendationIn

__all__ = [
    "AnalyzeRequest",
    "AppliedEntity",
    "ApplyFail",
    "ApplyOk",
    "ApplyRequest",
    "ApplyResult",
    "ChatMessageIn",
    "ChatRequest",
    "ConfigStatus",
    "Conversation",
    "ConversationCreate",
    "ConversationList",
    "ConversationSummary",
    "ConversationWithMessages",
    "Deleted",
    "ErrorBody",
    "ErrorResponse",
    "Health",
    "ImportUpload",
    "IntelligenceRequest",
    "MLWorkerStatus",
    "OpenObject",
    "ParseRuleRequest",
    "ParseRuleResponse",
    "ProposalList",
    "RecommendationEnvelope",
    "RecommendationIn",
    "RecommendationList",
    "RecommendationPatch",
    "RecommendationQuery",
    "RevertResult",
    "UploadResult",
    "Verdict",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class OpenObject(_Open):
    """Any JSON object (tool results, analyzer answers)."""


class ErrorBody(_Open):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class ChatMessageIn(_Open):
    """AI SDK message: ``content`` (string or parts) or ``parts``."""

    id: str | None = None
    role: Literal["user", "assistant", "tool", "system"]
    content: str | list[Any] | None = None
    parts: list[Any] | None = None


class ChatRequest(BaseModel):
    messages: list[ChatMessageIn] = Field(min_length=1)
    route: str = Field("/", max_length=500)
    conversationId: str | None = Field(None, max_length=64)


class ConversationCreate(BaseModel):
    title: str | None = Field(None, description="default 'New conversation'; 1-200 characters")


class UserRef(BaseModel):
    name: str | None
    image: str | None


class ConversationSummary(BaseModel):
    id: str
    title: str
    userId: str | None
    createdAt: str
    updatedAt: str
    user: UserRef | None


class ConversationList(RootModel[list[ConversationSummary]]):
    """A bare array, as documented."""


class Conversation(BaseModel):
    id: str
    title: str
    tenantId: str
    userId: str | None
    createdAt: str
    updatedAt: str


class StoredMessage(_Open):
    id: str
    role: str
    content: str
    createdAt: str
    parts: list[Any] | None = None
    toolInvocations: list[Any] | None = None


class ConversationWithMessages(Conversation):
    messages: list[StoredMessage]


class Deleted(BaseModel):
    success: bool


class AnalyzeRequest(_Open):
    schemaId: str | None = None
    confirmed: bool = False
    preferredTier: Literal["llm", "ml_worker"] | None = None


class IntelligenceRequest(BaseModel):
    tool: str = Field(min_length=1)
    params: dict[str, Any]


class ParseRuleRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class ParsedEntity(BaseModel):
    type: Literal["qualification_rule", "contact_policy", "behavioral_metric"]
    name: str
    payload: dict[str, Any]


class ParseRuleResponse(BaseModel):
    entities: list[ParsedEntity]
    warnings: list[str]
    source: Literal["llm", "heuristic"]


class Recommendation(_Open):
    id: str
    tenantId: str
    type: Literal["policy", "rule", "segment", "content"]
    title: str
    description: str
    payload: dict[str, Any]
    confidence: Literal["high", "medium", "low"]
    source: Literal["llm", "ml_worker"]
    status: Literal["new", "reviewed", "applied", "dismissed"]
    metadata: dict[str, Any]
    appliedEntityId: str | None
    createdAt: str
    updatedAt: str


class RecommendationList(BaseModel):
    recommendations: list[Recommendation]


class RecommendationEnvelope(BaseModel):
    recommendation: Recommendation


class RecommendationQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["policy", "rule", "segment", "content"] | None = None
    status: Literal["new", "reviewed", "applied", "dismissed"] | None = None
    limit: int = Field(100, ge=1, le=500)


class RecommendationPatch(BaseModel):
    status: Literal["reviewed", "applied", "dismissed"]


class AppliedEntity(BaseModel):
    entityId: str
    entityType: Literal["policy", "rule", "segment", "content"]


class MLWorkerStatus(_Open):
    connected: bool
    url: str | None
    error: str | None = None
    capabilities: list[str] | None = None


class ConfigStatus(_Open):
    configured: bool
    provider: str | None


class ImportUpload(BaseModel):
    """JSON form of an upload (multipart/form-data with a ``file`` part is accepted too)."""

    filename: str = Field(min_length=1, max_length=255)
    content: str = Field(min_length=1)
    conversationId: str | None = None


class Attachment(_Open):
    id: str
    sha256: str
    filename: str
    contentType: str
    sizeBytes: int


class Proposal(_Open):
    id: str
    attachmentId: str
    entityType: str
    payload: dict[str, Any]
    sourcePageNumber: int | None
    sourceQuote: str
    dedupeMatch: dict[str, Any] | None


class UploadResult(_Open):
    attachment: Attachment
    proposals: list[Proposal]
    created: bool


class ProposalList(BaseModel):
    attachmentId: str
    proposals: list[Proposal]


class EntityRef(BaseModel):
    entityType: str
    entityId: str


class ApplyOk(BaseModel):
    ok: Literal[True]
    applyId: str
    createdEntityIds: list[EntityRef]
    mergedEntityIds: list[EntityRef]
    skippedProposalIds: list[str]


class ApplyFail(BaseModel):
    ok: Literal[False]
    status: Literal["rolled_back"]
    failedProposalId: str
    errorMessage: str
    errorField: str | None


class Refusal(EntityRef):
    reason: str


class RevertResult(BaseModel):
    ok: Literal[True]
    applyId: str
    deletedEntityIds: list[EntityRef]
    skippedMerges: list[EntityRef]
    orphanedRefusals: list[Refusal]


ApplyResult = ApplyOk
