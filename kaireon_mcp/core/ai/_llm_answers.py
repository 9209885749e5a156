"""Schemas the analyzers bind model output to, and the safe structured-call wrapper."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from kaireon_mcp.errors import KaireonError
from kaireon_mcp.llm.base import LLMClient

__all__ = ["ContentAnswer", "PolicyAnswer", "SegmentAnswer", "structured"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class FilterRule(BaseModel):
    field: str
    operator: str
    value: Any


class SegmentOut(BaseModel):
    name: str
    description: str
    size: int = Field(ge=0)
    percentage: int = Field(ge=0, le=100)
    filterRules: list[FilterRule]
    characteristics: list[str]
    suggestedUse: str


class SegmentAnswer(BaseModel):
    results: list[SegmentOut]


class Band(BaseModel):
    contactsPerWeek: int
    conversionRate: float


class PolicyMeta(BaseModel):
    frequencyBands: list[Band] = Field(default_factory=list)
    estimatedImpact: str = ""


class PolicyOut(BaseModel):
    title: str
    description: str
    payload: dict[str, Any]
    confidence: Literal["high", "medium", "low"]
    metadata: PolicyMeta


class PolicyAnswer(BaseModel):
    results: list[PolicyOut]


class ContentMetrics(BaseModel):
    impressions: int
    clicks: int
    conversions: int
    revenue: float
    ctr: float
    cvr: float
    rpi: float


class ContentOut(BaseModel):
    creativeId: str
    creativeName: str
    channelId: str | None
    metrics: ContentMetrics
    classification: Literal["top_performer", "underperformer", "average"]
    findings: list[str]
    suggestion: str


class ContentAnswer(BaseModel):
    results: list[ContentOut]


async def structured(
    client: LLMClient | None, system: str, prompt: dict[str, Any], answer: type[M], timeout: float
) -> M | None:
    """One schema-bound model call; None on any failure so the caller can fall back.

    Failures covered: no client, provider errors (already ``KaireonError``), the timeout,
    and output that does not satisfy the schema.
    """
    if client is None:
        return None
    text = json.dumps(prompt, ensure_ascii=False, default=str)
    try:
        async with asyncio.timeout(timeout):
            raw = await client.complete_json(system, text, answer.model_json_schema())
        return answer.model_validate(raw)
    except (KaireonError, TimeoutError, PydanticValidationError, ValueError, TypeError) as exc:
        log.info("structured model call failed, using the heuristic: %s", exc.__class__.__name__)
        return None
