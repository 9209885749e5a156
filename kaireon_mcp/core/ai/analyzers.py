"""Segment, policy and content analyzers with LLM / ML-worker routing (http-bridge.md 3.6).

Routing: datasets over 5,000 rows go to the ML worker when it is connected; otherwise
the caller must confirm the (costed) LLM run first. The LLM path binds the model's
answer to a schema and falls back to the deterministic heuristics on any failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from kaireon_mcp.core.ai import analysis_data as data
from kaireon_mcp.core.ai import heuristics
from kaireon_mcp.core.ai._llm_answers import ContentAnswer, PolicyAnswer, SegmentAnswer, structured
from kaireon_mcp.core.ai._rows import tenant_settings
from kaireon_mcp.core.ai.analyzer_settings import get_settings
from kaireon_mcp.core.ai.ml_worker import MLWorkerUnavailable, worker_url
from kaireon_mcp.core.ai.recommendations import RecommendationIn, insert_recommendation
from kaireon_mcp.core.ai.services import AiServices
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.llm.base import LLMClient
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Creative

__all__ = ["ANALYSIS_TYPES", "ML_ROW_THRESHOLD", "AnalysisRequest", "confirmation", "run_analysis"]

M = TypeVar("M", bound=BaseModel)

ANALYSIS_TYPES: tuple[str, ...] = ("segments", "policies", "content")
ML_ROW_THRESHOLD = 5000
ML_MAX_ROWS = 100_000
TOKENS_PER_ROW = 75
TOKENS_BASE = 500
USD_PER_MILLION_TOKENS = 0.15
SYSTEM = (
    "You are the analytics engine of a next-best-action decisioning platform. Answer only with "
    "the JSON object the schema describes; base every number on the statistics given."
)


def confirmation(row_count: int) -> dict[str, Any]:
    """The large-dataset confirmation body, strings exactly as documented (spec 3.6.3)."""
    tokens = TOKENS_PER_ROW * row_count + TOKENS_BASE
    usd = tokens * USD_PER_MILLION_TOKENS / 1_000_000
    return {
        "requiresConfirmation": True,
        "tier": "ml_worker",
        "warning": (
            f"Dataset has {row_count:,} rows. For datasets over 5,000 rows, enable the ML Worker "
            "for faster and cheaper analysis."
        ),
        "confirmationMeta": {
            "rowCount": row_count,
            "accuracy": (
                "ML Worker uses K-Means clustering, logistic regression, and TF-IDF -- more accurate "
                "than LLM pattern matching for large datasets."
            ),
            "costEstimate": f"Proceeding with LLM will use approximately {tokens:,} tokens (~${usd:.2f}).",
            "speedComparison": "ML Worker processes locally in seconds vs LLM round-trip latency.",
        },
    }


@dataclass(frozen=True)
class AnalysisRequest:
    analysis_type: str
    schema_id: str | None = None
    confirmed: bool = False
    preferred_tier: str | None = None


def _validate(req: AnalysisRequest) -> None:
    if req.analysis_type not in ANALYSIS_TYPES:
        raise ValidationError(f"analysis type must be one of {', '.join(ANALYSIS_TYPES)}", field="type")
    if req.preferred_tier not in (None, "llm", "ml_worker"):
        raise ValidationError("preferredTier must be llm or ml_worker", field="preferredTier")
    if req.analysis_type == "segments" and not req.schema_id:
        raise ValidationError("schemaId is required for segment analysis", field="schemaId")


async def _row_count(
    db: Database, principal: TenantContext, req: AnalysisRequest, settings: dict[str, Any]
) -> int:
    async with db.tenant(principal) as repo:
        if req.analysis_type == "segments":
            assert req.schema_id is not None  # checked by _validate
            seg = await data.load_segment_data(repo, req.schema_id, None, limit=0)
            return seg.row_count
        if req.analysis_type == "policies":
            return await data.count_interactions(repo, int(settings["policy"]["lookbackDays"]))
        return await data.count_creatives(repo)


async def run_analysis(
    db: Database, principal: TenantContext, services: AiServices, req: AnalysisRequest
) -> dict[str, Any]:
    """Route one analysis request; returns a confirmation, a job receipt or the results.

    Raises:
        ValidationError: unknown type / tier, or a segment request without schemaId.
        NotFoundError: the schema is unknown for this tenant.
        MLWorkerUnavailable: ``preferredTier: ml_worker`` but no worker is connected (503).
    """
    _validate(req)
    settings = await get_settings(db, principal)
    rows = await _row_count(db, principal, req, settings)
    large = rows > ML_ROW_THRESHOLD
    url = (
        await _connected_worker(db, principal, services)
        if large or req.preferred_tier == "ml_worker"
        else None
    )
    if req.preferred_tier == "ml_worker":
        if url is None:
            raise MLWorkerUnavailable(
                "ML Worker is not connected; set ML_WORKER_URL or use preferredTier llm"
            )
        return await _submit_job(db, principal, services, req, settings, url)
    if req.preferred_tier is None and large and url is not None:
        return await _submit_job(db, principal, services, req, settings, url)
    if large and req.confirmed is not True:
        return confirmation(rows)
    return await _llm_analysis(db, principal, services, req, settings)


async def _connected_worker(db: Database, principal: TenantContext, services: AiServices) -> str | None:
    async with db.tenant(principal) as repo:
        url = worker_url(await tenant_settings(repo), services.ml_worker.default_url)
    health = await services.ml_worker.health(url)
    return url if health.connected else None


async def _job_rows(
    db: Database, principal: TenantContext, req: AnalysisRequest, settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """The dataset the worker analyses (it has no database access of its own)."""
    async with db.tenant(principal) as repo:
        if req.analysis_type == "segments":
            assert req.schema_id is not None
            included = settings["segmentation"]["includedFeatures"]
            seg = await data.load_segment_data(repo, req.schema_id, included, limit=ML_MAX_ROWS)
            names = [f.name for f in seg.numeric]
            return [{n: r.get(n) for n in names} for r in seg.rows]
        if req.analysis_type == "policies":
            weeks = await data.customer_weeks(repo, int(settings["policy"]["lookbackDays"]))
            return [{"contacts": n, "converted": c} for n, c in weeks]
        stats, creatives = await data.creative_stats(repo)
        return [_creative_row(s, creatives[s.creative_id]) for s in stats]


def _creative_row(stats: heuristics.CreativeStats, creative: Creative) -> dict[str, Any]:
    text = " ".join(str(v) for v in (creative.content or {}).values() if isinstance(v, str))
    return {
        "creativeId": stats.creative_id,
        "name": stats.name,
        "text": text,
        "impressions": stats.impressions,
        "clicks": stats.clicks,
        "conversions": stats.conversions,
        "revenue": stats.revenue,
    }


async def _submit_job(
    db: Database,
    principal: TenantContext,
    services: AiServices,
    req: AnalysisRequest,
    settings: dict[str, Any],
    url: str,
) -> dict[str, Any]:
    job = {
        "type": req.analysis_type,
        "tenantId": principal.tenant_id,
        "schemaId": req.schema_id,
        "settings": settings,
        "rows": await _job_rows(db, principal, req, settings),
    }
    job_id = await services.ml_worker.submit(url, job)
    return {"jobId": job_id, "source": "ml_worker", "analysisType": req.analysis_type}


@dataclass
class _Run:
    """One LLM-tier analysis: who asks, with which model client and settings."""

    db: Database
    principal: TenantContext
    services: AiServices
    client: LLMClient | None
    req: AnalysisRequest
    settings: dict[str, Any]

    async def ask(self, prompt: dict[str, Any], answer: type[M]) -> M | None:
        return await structured(self.client, SYSTEM, prompt, answer, self.services.llm_timeout)


Outcome = tuple[list[dict[str, Any]], list[str], bool]


async def _llm_analysis(
    db: Database,
    principal: TenantContext,
    services: AiServices,
    req: AnalysisRequest,
    settings: dict[str, Any],
) -> dict[str, Any]:
    client = await services.open_client(db, principal)
    run = _Run(db, principal, services, client, req, settings)
    try:
        results, warnings, fallback = await _ANALYZERS[req.analysis_type](run)
    finally:
        if client is not None:
            await client.aclose()
    ids = await _persist(db, principal, req, results, fallback)
    body: dict[str, Any] = {"results": results, "source": "llm", "analysisType": req.analysis_type}
    if fallback:
        body["fallback"] = True
    if warnings:
        body["warnings"] = warnings
    body["recommendationIds"] = ids
    return body


async def _segments(run: _Run) -> Outcome:
    seg_settings = run.settings["segmentation"]
    assert run.req.schema_id is not None  # checked by _validate
    async with run.db.tenant(run.principal) as repo:
        seg = await data.load_segment_data(repo, run.req.schema_id, seg_settings["includedFeatures"])
    prompt = {
        "task": "Propose customer segments from these field statistics.",
        "rowCount": seg.row_count,
        "sampleSize": len(seg.rows),
        "fields": data.field_statistics(seg),
        "segmentCount": {"min": seg_settings["minClusters"], "max": seg_settings["maxClusters"]},
    }
    answer = await run.ask(prompt, SegmentAnswer)
    if answer is not None:
        return [r.model_dump(mode="json") for r in answer.results], [], False
    results, warnings = heuristics.segments_heuristic(seg.numeric, seg.rows)
    return results, warnings, True


async def _policies(run: _Run) -> Outcome:
    policy = run.settings["policy"]
    days = int(policy["lookbackDays"])
    async with run.db.tenant(run.principal) as repo:
        weeks = await data.customer_weeks(repo, days)
        count = await data.count_interactions(repo, days)
        channels = await data.channel_breakdown(repo, days)
    bands = heuristics.band_rates(weeks)
    prompt = {
        "task": "Recommend contact-frequency policies from this interaction history.",
        "interactions": count,
        "channels": channels,
        "frequencyBands": [
            {"contactsPerWeek": b, "samples": n, "conversionRate": r} for b, (n, r) in bands.items()
        ],
        "currentCaps": {k: policy[k] for k in ("dailyCap", "weeklyCap", "monthlyCap")},
        "lookbackDays": days,
        "minSampleSize": policy["minSampleSize"],
    }
    answer = await run.ask(prompt, PolicyAnswer)
    if answer is not None:
        results = [{"type": "policy", **r.model_dump(mode="json"), "source": "llm"} for r in answer.results]
        return results, [], False
    results, warnings = heuristics.policies_heuristic(weeks, count, policy)
    return results, warnings, True


async def _content(run: _Run) -> Outcome:
    content = run.settings["content"]
    async with run.db.tenant(run.principal) as repo:
        stats, creatives = await data.creative_stats(repo)
    prompt = {
        "task": "Classify these creatives as top_performer, underperformer or average and explain why.",
        "creatives": [
            {**_creative_row(s, creatives[s.creative_id]), "channelId": s.channel_id} for s in stats
        ],
        "minImpressions": content["minImpressions"],
        "metricWeights": content["metricWeights"],
        "confidenceLevel": content["confidenceLevel"],
    }
    answer = await run.ask(prompt, ContentAnswer)
    if answer is not None:
        return [r.model_dump(mode="json") for r in answer.results], [], False
    results, warnings = heuristics.content_heuristic(stats, int(content["minImpressions"]))
    return results, warnings, True


_ANALYZERS: dict[str, Callable[[_Run], Awaitable[Outcome]]] = {
    "segments": _segments,
    "policies": _policies,
    "content": _content,
}


def _recommendations(
    req: AnalysisRequest, results: list[dict[str, Any]], creatives: dict[str, Creative]
) -> list[RecommendationIn]:
    out: list[RecommendationIn] = []
    for r in results:
        if req.analysis_type == "policies":
            out.append(RecommendationIn.model_validate(r))
        elif req.analysis_type == "segments":
            out.append(_segment_rec(req, r))
        elif r.get("classification") == "underperformer" and r.get("creativeId") in creatives:
            out.append(_content_rec(r, creatives[r["creativeId"]]))
    return out


def _segment_rec(req: AnalysisRequest, r: dict[str, Any]) -> RecommendationIn:
    meta = {k: r.get(k) for k in ("size", "percentage", "characteristics", "suggestedUse")}
    return RecommendationIn(
        type="segment",
        title=str(r["name"])[:255],
        description=str(r.get("description", "")),
        payload={"schemaId": req.schema_id, "filterRules": r.get("filterRules", [])},
        metadata=meta,
    )


def _content_rec(r: dict[str, Any], creative: Creative) -> RecommendationIn:
    return RecommendationIn(
        type="content",
        title=f"New variant for {creative.name}"[:255],
        description=f"{r.get('suggestion', '')} Findings: {'; '.join(r.get('findings', []))}",
        payload={
            "creativeId": creative.id,
            "offerId": creative.offer_id,
            "channelId": creative.channel_id,
            "placementId": creative.placement_id,
            "templateType": creative.template_type,
            "content": creative.content,
        },
        metadata={"metrics": r.get("metrics"), "findings": r.get("findings")},
    )


async def _persist(
    db: Database,
    principal: TenantContext,
    req: AnalysisRequest,
    results: list[dict[str, Any]],
    fallback: bool,
) -> list[str]:
    """Store results as ``new`` recommendations so they can be reviewed and applied later."""
    async with db.tenant(principal) as repo:
        creatives = {c.id: c for c in await repo.all(Creative)} if req.analysis_type == "content" else {}
        ids = []
        for rec in _recommendations(req, results, creatives):
            if fallback:
                rec.metadata = {**rec.metadata, "fallback": True}
            ids.append(str((await insert_recommendation(repo, rec)).id))
        return ids
