"""Journey runtime (decisioning-core.md 7.2): move active enrollments through their steps.

Enrollments are created by triggers (see respond); ``advance_journeys`` is the scheduler pass a
server runs periodically: waits resume when due, ``nba_decision`` steps run the real
recommend(), condition splits pick an edge, ``exit`` completes, and overdue journeys expire.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kaireon_mcp.core.decisioning import consent
from kaireon_mcp.core.decisioning.api import RecommendRequest
from kaireon_mcp.core.decisioning.engine import Engine
from kaireon_mcp.core.decisioning.recommend import recommend
from kaireon_mcp.core.operators import evaluate_tree
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import Journey, JourneyEnrollment
from kaireon_mcp.storage.types import utcnow

MAX_STEPS_PER_PASS = 20


def _nodes(journey: Journey) -> dict[str, dict[str, Any]]:
    return {str(n.get("id")): n for n in (journey.definition or {}).get("nodes") or []}


def _next(journey: Journey, node_id: str, label: str | None = None) -> str | None:
    edges = [e for e in (journey.definition or {}).get("edges") or [] if e.get("from") == node_id]
    if label is not None:
        edges = [e for e in edges if str(e.get("label", "")).lower() == label] or edges[:0]
    return str(edges[0]["to"]) if edges else None


def _entry(journey: Journey) -> str | None:
    nodes = list(_nodes(journey).values())
    first = next((n for n in nodes if n.get("type") == "entry_trigger"), nodes[0] if nodes else None)
    return str(first["id"]) if first else None


async def advance_journeys(repo: Repository, now: datetime | None = None) -> dict[str, int]:
    """One scheduler pass over the tenant's active enrollments; returns what happened."""
    now = now or utcnow()
    stats = {"advanced": 0, "waiting": 0, "completed": 0, "expired": 0, "decisions": 0}
    journeys = {j.id: j for j in await repo.all(Journey)}
    for enrollment in await repo.all(JourneyEnrollment, JourneyEnrollment.status == "active"):
        journey = journeys.get(enrollment.journey_id)
        if journey is None or journey.status != "active":
            continue
        if enrollment.entered_at + timedelta(days=journey.max_duration_days) <= now:
            await repo.update(JourneyEnrollment, enrollment, {"status": "expired"})
            stats["expired"] += 1
            continue
        outcome = await _walk(repo, journey, enrollment, now, stats)
        stats[outcome] += 1
    return stats


async def _walk(
    repo: Repository, journey: Journey, enrollment: JourneyEnrollment, now: datetime, stats: dict[str, int]
) -> str:
    nodes = _nodes(journey)
    current = enrollment.current_node_id or _entry(journey)
    context = dict(enrollment.context or {})
    resume = enrollment.resume_at
    for _ in range(MAX_STEPS_PER_PASS):
        node = nodes.get(current or "")
        if node is None:
            return await _finish(repo, enrollment, "completed", current, context)
        kind, config = node.get("type"), dict(node.get("config") or {})
        if kind == "exit":
            context["exitReason"] = config.get("reason", "exit")
            return await _finish(repo, enrollment, "completed", current, context)
        if kind == "wait":
            if resume is None:
                resume = now + timedelta(hours=float(config.get("delayHours", 0)))
            if resume > now:
                await repo.update(
                    JourneyEnrollment,
                    enrollment,
                    {"current_node_id": current, "resume_at": resume, "context": context},
                )
                return "waiting"
            resume = None
        elif kind == "nba_decision":
            request = RecommendRequest.model_validate(
                {
                    "customerId": enrollment.customer_id,
                    "decisionFlowKey": config.get("decisionFlowKey"),
                    "channel": config.get("channel"),
                    "limit": int(config.get("maxOffers", 3)),
                }
            )
            result = await recommend(repo, request, now=now)
            context.setdefault("decisions", {})[str(current)] = {
                "recommendationId": result["recommendationId"],
                "offerIds": [d["offerId"] for d in result["decisions"]],
            }
            stats["decisions"] += 1
        elif kind == "condition_split":
            passed = evaluate_tree(
                {"conditions": config.get("conditions") or [], "combinator": config.get("combinator", "AND")},
                {"context": context},
                "context",
            )
            current = _next(journey, str(current), "true" if passed else "false") or _next(
                journey, str(current)
            )
            continue
        elif kind == "channel_action":
            action = {"node": current, "channel": config.get("channel"), "at": now.isoformat()}
            refusal = await _consent_refusal(repo, enrollment.customer_id, config.get("channel"), now)
            if refusal is not None:  # not sent: the step is logged as skipped, the journey goes on
                action.update(skipped=True, reason=refusal.reason(), consent=refusal.detail())
            context.setdefault("actions", []).append(action)
        current = _next(journey, str(current))
    await repo.update(
        JourneyEnrollment, enrollment, {"current_node_id": current, "resume_at": None, "context": context}
    )
    return "advanced"


async def _consent_refusal(
    repo: Repository, customer_id: str, channel: Any, now: datetime
) -> consent.ConsentStatus | None:
    """Consent binds direct sends as it binds decisions (decisioning-core 2.27)."""
    engine = await Engine.load(repo)
    state = await engine.new_state({"customerId": customer_id}, now)
    return await consent.refusal_for_channel(engine, state, str(channel) if channel else None)


async def _finish(
    repo: Repository, enrollment: JourneyEnrollment, status: str, node: str | None, context: dict[str, Any]
) -> str:
    await repo.update(
        JourneyEnrollment,
        enrollment,
        {"status": status, "current_node_id": node, "resume_at": None, "context": context},
    )
    return "completed"
