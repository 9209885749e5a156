"""``recommend()``: resolve, run, answer, and persist interaction rows and the decision trace.

``decide()`` is the side-effect-free part that explanations and simulations reuse, so an
explanation is always the same computation as the real decision.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table

from kaireon_mcp.core.decisioning.api import RecommendRequest, RecommendResponse
from kaireon_mcp.core.decisioning.engine import Engine
from kaireon_mcp.core.decisioning.state import Candidate, DecisionState
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.group_commit import Upsert, Writes, apply_writes
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import DecisionTrace, Interaction, VariantAssignment
from kaireon_mcp.storage.types import new_id, utcnow

ASSIGNMENT_TTL_DAYS = 30


@dataclass
class Decision:
    state: DecisionState
    duration_ms: float


def anonymous_id(request: RecommendRequest) -> str:
    """Stable id for anonymous callers, derived from the session id (section 3.1)."""
    basis = request.sessionId or "anonymous"
    return "anon_" + hashlib.sha256(basis.encode()).hexdigest()[:16]


async def decide(
    engine: Engine, request: dict[str, Any], *, now: datetime | None = None, create_base: bool = False
) -> Decision:
    """Run the resolved flow for one customer; no rows are written here."""
    started = time.perf_counter()
    state = await engine.new_state(request, now or utcnow())
    resolved = await engine.resolve(state, create_base=create_base)
    await engine.run(state, resolved.nodes)
    if not any(stage["type"] == "rank" for stage in state.stages):
        _default_order(engine, state)
    return Decision(state, round((time.perf_counter() - started) * 1000, 3))


def _default_order(engine: Engine, state: DecisionState) -> None:
    ordered = sorted(state.candidates, key=lambda c: (not c.mandatory, -c.score, -c.priority, c.name))
    limit = engine.limit(state, len(ordered))
    for position, cand in enumerate(ordered[:limit], 1):
        cand.rank = position
    state.candidates = ordered[:limit]


async def recommend(
    repo: Repository, request: RecommendRequest, *, now: datetime | None = None
) -> dict[str, Any]:
    """The Recommend API in one transaction: decide (creating the Base flow if needed), persist."""
    body, now = _request_body(request), now or utcnow()
    engine = await Engine.load(repo)
    planned = await _plan(engine, body, now, create_base=True)
    assert planned is not None
    recommendation_id, rows, writes = _plan_writes(engine, planned, repo.ctx.tenant_id)
    await apply_writes(repo.session, engine.dialect, writes)
    return _answer(engine, body, planned, recommendation_id, rows)


async def recommend_with(
    db: Database, ctx: TenantContext, request: RecommendRequest, *, now: datetime | None = None
) -> dict[str, Any]:
    """The Recommend API as the transports call it: decide on a snapshot, then persist briefly.

    The decision only reads, so it runs in a read-only transaction (on SQLite beside the
    writer instead of queueing for the write lock); the write transaction then holds the
    lock only for the inserts. The first decision of a tenant without any flow falls back
    to ``recommend`` so the Base NBA Flow is created in the same transaction.
    """
    body, now = _request_body(request), now or utcnow()
    async with db.reader(ctx) as reader:
        engine = await Engine.load(reader)
        planned = await _plan(engine, body, now, create_base=False)
    if planned is None:
        async with db.tenant(ctx) as repo:
            return await recommend(repo, request, now=now)
    recommendation_id, rows, writes = _plan_writes(engine, planned, ctx.tenant_id)
    await db.group_commit(writes)
    return _answer(engine, body, planned, recommendation_id, rows)


def _request_body(request: RecommendRequest) -> dict[str, Any]:
    body = request.model_dump(by_alias=True)
    if not request.customerId or request.customerId == "anonymous":
        body["customerId"] = anonymous_id(request)
    return body


@dataclass
class _Planned:
    """One decision per requested placement (or a single one), not yet persisted."""

    decisions: list[Decision]
    placement_refs: list[str | None]


async def _plan(engine: Engine, body: dict[str, Any], now: datetime, *, create_base: bool) -> _Planned | None:
    """Decide every placement; None when no flow exists yet and ``create_base`` is off."""
    if not body.get("placements"):
        decision = await decide(engine, body, now=now, create_base=create_base)
        return None if _needs_base_flow(decision) else _Planned([decision], [None])
    planned = _Planned([], [])
    excluded = list(body.get("excludeOffers") or [])
    for item in body["placements"]:
        sub = {
            **body,
            "placements": [],
            "placement": item["placementId"],
            "limit": item.get("limit") or body["limit"],
            "excludeOffers": list(excluded),
        }
        decision = await decide(engine, sub, now=now, create_base=create_base)
        if _needs_base_flow(decision):
            return None
        if body.get("deduplicate"):
            excluded += [c.offer_id for c in decision.state.candidates]
        planned.decisions.append(decision)
        planned.placement_refs.append(item["placementId"])
    return planned


def _needs_base_flow(decision: Decision) -> bool:
    return decision.state.flow.get("id") is None


def _plan_writes(
    engine: Engine, planned: _Planned, tenant_id: str
) -> tuple[str, list[list[dict[str, Any]]], Writes]:
    """The recommendation id, the response rows per decision and every row to commit."""
    recommendation_id = new_id("rec")
    writes = Writes()
    rows = []
    for decision in planned.decisions:
        decisions, more = decision_writes(engine, decision, recommendation_id, tenant_id)
        rows.append(decisions)
        writes.extend(more)
    return recommendation_id, rows, writes


def _answer(
    engine: Engine,
    body: dict[str, Any],
    planned: _Planned,
    recommendation_id: str,
    rows: list[list[dict[str, Any]]],
) -> dict[str, Any]:
    """The response: one decision list, or one group per requested placement."""
    if not body.get("placements"):
        return _response(engine, planned.decisions[0], recommendation_id, rows[0], body).model_dump()
    groups = [
        {"placementId": (decision.state.placement or {}).get("id", ref), "decisions": decisions}
        for decision, ref, decisions in zip(planned.decisions, planned.placement_refs, rows, strict=True)
    ]
    response = _response(engine, planned.decisions[-1], recommendation_id, [], body).model_dump()
    response["placements"] = groups
    response["decisions"] = [d for group_rows in rows for d in group_rows]
    return RecommendResponse.model_validate(response).model_dump()


def _response(
    engine: Engine,
    decision: Decision,
    recommendation_id: str,
    decisions: list[dict[str, Any]],
    body: dict[str, Any],
) -> RecommendResponse:
    state = decision.state
    meta: dict[str, Any] = {
        "decisionFlowKey": state.flow.get("key"),
        "flowVersion": state.flow.get("version"),
        "durationMs": decision.duration_ms,
        "funnel": state.funnel,
    }
    if body.get("debug"):
        meta["stages"] = state.stages
        meta["dropped"] = state.dropped
        meta["experimentAssignment"] = state.experiment_assignment
    # one validation pass for the envelope and its decisions (not one call per decision)
    return RecommendResponse.model_validate(
        {
            "recommendationId": recommendation_id,
            "customerId": state.customer.customer_id,
            "decisions": decisions,
            "meta": meta,
            "controlGroup": state.control_group,
            "degradedScoring": state.degraded,
            "traceId": state.flow.get("traceId"),
        }
    )


def decision_rows(engine: Engine, state: DecisionState, recommendation_id: str) -> list[dict[str, Any]]:
    """The response's ``decisions`` (interaction ids are assigned here)."""
    out = []
    channel = state.channel or {}
    for cand in state.candidates:
        creative = cand.creative
        out.append(
            {
                "rank": cand.rank,
                "interactionId": new_id("ih"),
                "recommendationId": recommendation_id,
                "offerId": cand.offer_id,
                "offerName": cand.name,
                "category": cand.offer.get("categoryName"),
                "subCategory": cand.offer.get("subCategoryName"),
                "score": round(cand.score, 6),
                "scores": {
                    k: round(float(v), 6) for k, v in cand.factors.items() if k in {"P", "R", "I", "E"}
                },
                "creative": _creative(creative, state, cand) if creative else None,
                "channelId": (creative or {}).get("channelId") or channel.get("id"),
                "placementId": cand.placement_id,
                "personalization": cand.personalization,
                "mandatory": cand.mandatory,
            }
        )
    return out


def _creative(creative: dict[str, Any], state: DecisionState, cand: Candidate) -> dict[str, Any]:
    return {
        "id": creative["id"],
        "name": creative["name"],
        "templateType": creative.get("templateType"),
        "content": render_content(creative, state.customer.attributes, cand.personalization),
    }


def render_content(
    creative: dict[str, Any], attributes: Any, personalization: dict[str, Any]
) -> dict[str, Any]:
    """Resolve ``{{var}}`` tokens from the creative's personalization map, attributes and computed fields."""
    values: dict[str, Any] = {}
    for item in creative.get("personalization") or []:
        name = item.get("variable") or item.get("key")
        source = str(item.get("source") or "")
        if source.startswith("personalization."):
            value = personalization.get(source.split(".", 1)[1])
        else:
            value = attributes.get(source.split(".", 1)[1] if source.startswith("customer.") else source)
        values[str(name)] = value if value is not None else item.get("fallback", "")
    values.update({k: v for k, v in personalization.items() if k not in values})
    return {key: _fill(value, values) for key, value in (creative.get("content") or {}).items()}


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    for name, replacement in values.items():
        value = value.replace("{{" + name + "}}", str(replacement)).replace(
            "{" + name + "}", str(replacement)
        )
    return value


async def persist(
    repo: Repository, engine: Engine, decision: Decision, recommendation_id: str
) -> list[dict[str, Any]]:
    """Write one decision's rows inside the repository's transaction; returns the response rows."""
    decisions, writes = decision_writes(engine, decision, recommendation_id, repo.ctx.tenant_id)
    await apply_writes(repo.session, engine.dialect, writes)
    return decisions


def decision_writes(
    engine: Engine, decision: Decision, recommendation_id: str, tenant_id: str
) -> tuple[list[dict[str, Any]], Writes]:
    """Recommendation rows, implicit impressions, variant assignment and the sampled trace.

    Pure: the rows are built here and written by the caller, either in its own transaction
    or through the database's group commit.
    """
    state = decision.state
    decisions = decision_rows(engine, state, recommendation_id)
    writes = Writes()
    for out, cand in zip(decisions, state.candidates, strict=True):
        base = {
            "tenant_id": tenant_id,
            "customer_id": state.customer.customer_id,
            "offer_id": cand.offer_id,
            "creative_id": (cand.creative or {}).get("id"),
            "channel_id": out["channelId"],
            "placement_id": cand.placement_id,
            "category_id": cand.category_id,
            "decision_flow_id": state.flow.get("id"),
            "recommendation_id": recommendation_id,
            "rank": cand.rank,
            "context": state.request.get("context") or {},
            "outcome_details": {},
            "timestamp": state.now,
            "conversion_value": None,
            "idempotency_key": None,
            "classification": "neutral",
            "direction": "outbound",
        }
        rows = [
            {**base, "id": out["interactionId"], "interaction_type": "recommendation", "is_impression": False}
        ]
        channel = engine.catalog.channels.get(out["channelId"] or "", {})
        if channel.get("impressionMode") == "implicit":
            rows.append({**base, "id": new_id("ih"), "interaction_type": "impression", "is_impression": True})
        writes.add(INTERACTIONS, *rows)
    assignment = _assignment(state, tenant_id)
    if assignment is not None:
        writes.upserts.append(assignment)
    state.flow["traceId"] = None
    if _sampled(engine, state):
        trace_id = new_id("trc")
        values = trace_values(engine, decision, recommendation_id, decisions)
        writes.add(TRACES, {**values, "id": trace_id, "tenant_id": tenant_id})
        state.flow["traceId"] = trace_id
    return decisions, writes


INTERACTIONS: Table = Interaction.__table__  # type: ignore[assignment]
TRACES: Table = DecisionTrace.__table__  # type: ignore[assignment]
ASSIGNMENTS: Table = VariantAssignment.__table__  # type: ignore[assignment]


def _assignment(state: DecisionState, tenant_id: str) -> Upsert | None:
    """The customer's experiment variant, kept sticky: a repeat only extends its expiry."""
    assignment = state.experiment_assignment
    if not assignment:
        return None
    now = utcnow()
    return Upsert(
        ASSIGNMENTS,
        conflict=("experiment_id", "customer_id"),
        update=("expires_at", "updated_at"),
        row={
            "id": new_id("va"),
            "tenant_id": tenant_id,
            "experiment_id": assignment["experimentId"],
            "customer_id": state.customer.customer_id,
            "variant": assignment["variant"],
            "model_id": assignment.get("modelId"),
            "expires_at": state.now + timedelta(days=ASSIGNMENT_TTL_DAYS),
            "created_at": now,
            "updated_at": now,
        },
    )


def _sampled(engine: Engine, state: DecisionState) -> bool:
    settings = engine.catalog.settings
    if settings.get("decisionTraceEnabled") is False:
        return False
    rate = float(settings.get("decisionTraceSampleRate", 1.0))
    return rate >= 1.0 or state.rng.random() < rate


def trace_values(
    engine: Engine, decision: Decision, request_id: str, decisions: list[dict[str, Any]]
) -> dict[str, Any]:
    state = decision.state
    scoring = [
        {
            "offerId": c.offer_id,
            "score": c.score,
            "method": c.score_method,
            "modelKey": c.model_key,
            "factors": c.factors,
            "fitMultiplier": c.fit_multiplier,
            "shadowScores": c.shadow_scores,
            "explanations": c.explanations[:10],
        }
        for c in state.candidates
    ]
    return {
        "customer_id": state.customer.customer_id,
        "request_id": request_id,
        "decision_flow_id": state.flow.get("id"),
        "decision_flow_key": state.flow.get("key"),
        "flow_version": state.flow.get("version"),
        "channel_id": (state.channel or {}).get("id"),
        "placement_id": (state.placement or {}).get("id"),
        "input": {
            k: state.request.get(k)
            for k in (
                "channel",
                "channelId",
                "placement",
                "limit",
                "segments",
                "attributes",
                "context",
                "decisionFlowKey",
            )
        },
        "pipeline": state.stages,
        "funnel": state.funnel,
        "qualification_results": state.qualification_results,
        "contact_policy_results": [r for r in state.contact_policy_results if r.get("blocked")]
        + [r for r in state.contact_policy_results if not r.get("blocked")][:200],
        "scoring_results": scoring,
        "dropped": state.dropped,
        "selected_offers": [
            {"offerId": d["offerId"], "rank": d["rank"], "score": d["score"], "placementId": d["placementId"]}
            for d in decisions
        ],
        "channel_coupling": state.coupling,
        "experiment_assignment": state.experiment_assignment,
        "degraded_scoring": state.degraded,
        "total_duration_ms": decision.duration_ms,
    }
