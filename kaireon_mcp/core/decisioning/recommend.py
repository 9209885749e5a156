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

from sqlalchemy import select

from kaireon_mcp.core.decisioning.api import DecisionOut, RecommendRequest, RecommendResponse
from kaireon_mcp.core.decisioning.engine import Engine
from kaireon_mcp.core.decisioning.state import Candidate, DecisionState
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
    """The Recommend API: one decision (or one per requested placement), persisted."""
    body = request.model_dump(by_alias=True)
    if not request.customerId or request.customerId == "anonymous":
        body["customerId"] = anonymous_id(request)
    now = now or utcnow()
    engine = await Engine.load(repo)
    recommendation_id = new_id("rec")
    if request.placements:
        return await _multi_placement(repo, engine, body, recommendation_id, now)
    decision = await decide(engine, body, now=now, create_base=True)
    decisions = await persist(repo, engine, decision, recommendation_id)
    return _response(engine, decision, recommendation_id, decisions, body).model_dump()


async def _multi_placement(
    repo: Repository, engine: Engine, body: dict[str, Any], recommendation_id: str, now: datetime
) -> dict[str, Any]:
    groups, excluded, last = [], list(body.get("excludeOffers") or []), None
    for item in body["placements"]:
        sub = {
            **body,
            "placements": [],
            "placement": item["placementId"],
            "limit": item.get("limit") or body["limit"],
            "excludeOffers": list(excluded),
        }
        decision = await decide(engine, sub, now=now, create_base=True)
        decisions = await persist(repo, engine, decision, recommendation_id)
        if body.get("deduplicate"):
            excluded += [d["offerId"] for d in decisions]
        groups.append(
            {
                "placementId": (decision.state.placement or {}).get("id", item["placementId"]),
                "decisions": decisions,
            }
        )
        last = decision
    assert last is not None
    response = _response(engine, last, recommendation_id, [], body).model_dump()
    response["placements"] = groups
    response["decisions"] = [d for g in groups for d in g["decisions"]]
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
    return RecommendResponse(
        recommendationId=recommendation_id,
        customerId=state.customer.customer_id,
        decisions=[DecisionOut.model_validate(d) for d in decisions],
        meta=meta,
        controlGroup=state.control_group,
        degradedScoring=state.degraded,
        traceId=state.flow.get("traceId"),
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
    """Recommendation rows, implicit impressions, variant assignment and the sampled trace."""
    state = decision.state
    decisions = decision_rows(engine, state, recommendation_id)
    rows = []
    for out, cand in zip(decisions, state.candidates, strict=True):
        base = {
            "tenant_id": repo.ctx.tenant_id,
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
        }
        rows.append(
            {
                **base,
                "id": out["interactionId"],
                "interaction_type": "recommendation",
                "classification": "neutral",
                "is_impression": False,
                "direction": "outbound",
            }
        )
        channel = engine.catalog.channels.get(out["channelId"] or "", {})
        if channel.get("impressionMode") == "implicit":
            rows.append(
                {
                    **base,
                    "id": new_id("ih"),
                    "interaction_type": "impression",
                    "classification": "neutral",
                    "is_impression": True,
                    "direction": "outbound",
                }
            )
    if rows:
        from sqlalchemy import insert

        await repo.session.execute(insert(Interaction), rows)
    await _record_assignment(repo, state)
    trace_id = await write_trace(repo, engine, decision, recommendation_id, decisions)
    state.flow["traceId"] = trace_id
    return decisions


async def _record_assignment(repo: Repository, state: DecisionState) -> None:
    assignment = state.experiment_assignment
    if not assignment:
        return
    stmt = select(VariantAssignment).where(
        repo.tenant_filter(VariantAssignment),
        VariantAssignment.experiment_id == assignment["experimentId"],
        VariantAssignment.customer_id == state.customer.customer_id,
    )
    existing = (await repo.session.execute(stmt)).scalar_one_or_none()
    expires = state.now + timedelta(days=ASSIGNMENT_TTL_DAYS)
    if existing is None:
        repo.session.add(
            VariantAssignment(
                id=new_id("va"),
                tenant_id=repo.ctx.tenant_id,
                experiment_id=assignment["experimentId"],
                customer_id=state.customer.customer_id,
                variant=assignment["variant"],
                model_id=assignment.get("modelId"),
                expires_at=expires,
            )
        )
    else:
        existing.expires_at = expires


def _sampled(engine: Engine, state: DecisionState) -> bool:
    settings = engine.catalog.settings
    if settings.get("decisionTraceEnabled") is False:
        return False
    rate = float(settings.get("decisionTraceSampleRate", 1.0))
    return rate >= 1.0 or state.rng.random() < rate


async def write_trace(
    repo: Repository, engine: Engine, decision: Decision, request_id: str, decisions: list[dict[str, Any]]
) -> str | None:
    state = decision.state
    if not _sampled(engine, state):
        return None
    trace = DecisionTrace(
        **trace_values(engine, decision, request_id, decisions),
        id=new_id("trc"),
        tenant_id=repo.ctx.tenant_id,
    )
    repo.session.add(trace)
    return trace.id


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
