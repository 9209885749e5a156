"""``respond()``: record an outcome against a recommendation and close the learning loop.

One transaction writes the interaction row, adaptive-learning evidence, online model
state, stock/budget consumption and trigger side effects (section 3.16).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from kaireon_mcp.core.decisioning.api import RespondRequest, RespondResponse
from kaireon_mcp.core.decisioning.profile import load_schema_attributes
from kaireon_mcp.core.models import MODEL_TYPES
from kaireon_mcp.core.operators import evaluate_tree
from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    Category,
    Channel,
    Creative,
    Interaction,
    JourneyEnrollment,
    ModelAdaptation,
    Offer,
    OutcomeType,
    TriggerRule,
)
from kaireon_mcp.storage.types import new_id, utcnow

IMPRESSION_CATEGORY = "impression"


async def respond(repo: Repository, request: RespondRequest) -> dict[str, Any]:
    outcome_key = request.outcome or request.interactionType
    if not outcome_key:
        raise ValidationError("outcome is required", field="outcome")
    replay = await _replay(repo, request, outcome_key)
    if replay is not None:
        return replay
    outcome = await repo.find(OutcomeType, key=outcome_key)
    if outcome is None:
        raise ValidationError(
            f"unknown outcome {outcome_key!r}; register it as an outcome type first", field="outcome"
        )
    link = await _linked_recommendation(repo, request)
    offer_id = request.offerId or (link.offer_id if link else None)
    if offer_id is None:
        raise ValidationError("give recommendationId + rank, or offerId", field="recommendationId")
    offer = await repo.get(Offer, offer_id)
    creative = await _creative(
        repo, request.creativeId or request.treatmentId or (link.creative_id if link else None)
    )
    channel_id = (
        (creative.channel_id if creative else None)
        or request.channelId
        or (link.channel_id if link else None)
    )
    is_impression = outcome.category == IMPRESSION_CATEGORY
    when = _timestamp(request.timestamp)
    row = Interaction(
        id=new_id("ih"),
        tenant_id=repo.ctx.tenant_id,
        customer_id=request.customerId,
        offer_id=offer.id,
        creative_id=creative.id if creative else None,
        channel_id=channel_id,
        placement_id=request.placementId or (link.placement_id if link else None),
        category_id=offer.category_id,
        decision_flow_id=link.decision_flow_id if link else None,
        recommendation_id=request.recommendationId,
        rank=request.rank or (link.rank if link else None),
        interaction_type=outcome.key,
        classification=outcome.classification,
        is_impression=is_impression,
        direction=request.direction or ("outbound" if is_impression else "inbound"),
        conversion_value=request.conversionValue,
        context=request.context,
        outcome_details={
            **request.outcomeDetails,
            **({"attributes": request.attributes} if request.attributes else {}),
        },
        idempotency_key=request.idempotencyKey,
        timestamp=when,
    )
    try:
        async with repo.session.begin_nested():  # a savepoint: losing the race must not end the txn
            repo.session.add(row)
    except IntegrityError:
        # a concurrent call with the same key committed first (PostgreSQL; SQLite's single
        # writer never gets here): answer as its retry, or CONFLICT if it was another event
        replay = await _replay(repo, request, outcome_key)
        if replay is None:
            raise
        return replay
    await _adapt(repo, row, channel_id)
    await _learn(repo, row, request)
    if outcome.classification == "positive":
        await _consume(repo, offer, request.conversionValue)
    await _fire_triggers(repo, row)
    return await _response(repo, row, offer, creative)


async def _replay(repo: Repository, request: RespondRequest, outcome_key: str) -> dict[str, Any] | None:
    """Idempotency: a retry (same key, same event) returns the original result instead of writing
    twice. The same key on a different event is a client bug that a silent replay would hide
    (the second outcome would be lost while reported as recorded): CONFLICT."""
    key = request.idempotencyKey
    existing = await repo.session.execute(repo.scoped(Interaction).where(Interaction.idempotency_key == key))
    row = existing.scalar_one_or_none()
    if row is None:
        return None
    mismatch = _other_event(row, request, outcome_key)
    if mismatch is not None:
        raise ConflictError(
            f"idempotencyKey {key!r} was already used for another event ({mismatch}); "
            "use a new key for a new outcome",
            field="idempotencyKey",
        )
    offer = await repo.find(Offer, include_deleted=True, id=row.offer_id) if row.offer_id else None
    creative = await _creative(repo, row.creative_id)
    body = await _response(repo, row, offer, creative)
    body["replayed"] = True
    return body


def _other_event(row: Interaction, request: RespondRequest, outcome_key: str) -> str | None:
    """What differs between the recorded event and this request, for the fields that name it."""
    checks: list[tuple[str, Any, Any]] = [
        ("customerId", row.customer_id, request.customerId),
        ("outcome", row.interaction_type, outcome_key),
        ("recommendationId", row.recommendation_id, request.recommendationId),
    ]
    if request.rank is not None:
        checks.append(("rank", row.rank, request.rank))
    if request.offerId:
        checks.append(("offerId", row.offer_id, request.offerId))
    for name, recorded, asked in checks:
        if recorded != asked:
            return f"{name} {recorded!r}, not {asked!r}"
    return None


async def _linked_recommendation(repo: Repository, request: RespondRequest) -> Interaction | None:
    if not request.recommendationId:
        return None
    stmt = repo.scoped(Interaction).where(
        Interaction.recommendation_id == request.recommendationId,
        Interaction.interaction_type == "recommendation",
        Interaction.customer_id == request.customerId,
    )
    if request.rank is not None:
        stmt = stmt.where(Interaction.rank == request.rank)
    elif not request.offerId:
        raise ValidationError("rank is required with recommendationId", field="rank")
    else:
        stmt = stmt.where(Interaction.offer_id == request.offerId)
    row: Interaction | None = (await repo.session.execute(stmt.limit(1))).scalar_one_or_none()
    if row is None:
        raise NotFoundError(
            f"recommendation {request.recommendationId!r} rank {request.rank} not found for "
            f"customer {request.customerId!r}",
            field="recommendationId",
        )
    return row


async def _creative(repo: Repository, creative_id: str | None) -> Creative | None:
    if not creative_id:
        return None
    return await repo.get(Creative, creative_id, include_deleted=True)


def _timestamp(value: str | None) -> datetime:
    if not value:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError("timestamp must be ISO-8601", field="timestamp") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _adapt(repo: Repository, row: Interaction, channel_id: str | None) -> None:
    """Evidence per impression; positives/negatives per classified response (matches the seed)."""
    deltas = {
        "evidence": int(row.is_impression),
        "positives": int(row.classification == "positive"),
        "negatives": int(row.classification == "negative"),
    }
    if not any(deltas.values()):
        return
    for scope, scope_id in (
        ("offer", row.offer_id),
        ("category", row.category_id),
        ("channel", channel_id),
        ("direction", row.direction),
        ("global", "global"),
    ):
        if not scope_id:
            continue
        stmt = repo.scoped(ModelAdaptation).where(
            ModelAdaptation.scope == scope, ModelAdaptation.scope_id == scope_id
        )
        adaptation = (await repo.session.execute(stmt.with_for_update())).scalar_one_or_none()
        if adaptation is None:
            adaptation = ModelAdaptation(
                id=new_id("adp"),
                tenant_id=repo.ctx.tenant_id,
                scope=scope,
                scope_id=scope_id,
                evidence=0,
                positives=0,
                negatives=0,
            )
            repo.session.add(adaptation)
        adaptation.evidence += deltas["evidence"]
        adaptation.positives += deltas["positives"]
        adaptation.negatives += deltas["negatives"]


def _reward(model: AlgorithmModel, outcome: str, classification: str) -> float | None:
    if model.outcome_weights and outcome in model.outcome_weights:
        return float(model.outcome_weights[outcome])
    return {"positive": 1.0, "negative": 0.0}.get(classification)


async def _learn(repo: Repository, row: Interaction, request: RespondRequest) -> None:
    """Online models (bandits, online learner, Bayesian) learn from every classified response."""
    if row.classification not in {"positive", "negative"}:
        return
    models = [
        m
        for m in await repo.all(AlgorithmModel)
        if m.status == "active"
        and MODEL_TYPES.get(m.model_type) is not None
        and MODEL_TYPES[m.model_type].online
    ]
    if not models:
        return
    features = {**(await load_schema_attributes(repo, row.customer_id)), **request.attributes}
    features = {k: v for k, v in features.items() if "." not in k}
    for model in models:
        spec = MODEL_TYPES[model.model_type]
        assert spec.learn is not None
        state = spec.learn(
            model.config or {},
            model.model_state or {},
            features,
            row.offer_id,
            _reward(model, row.interaction_type, row.classification),
            row.classification,
        )
        model.model_state = state
        model.training_samples = (model.training_samples or 0) + 1


async def _consume(repo: Repository, offer: Offer, value: float | None) -> None:
    """Positive outcomes decrement tracked stock and consume budget (spend = conversion value)."""
    inventory = dict(offer.inventory or {})
    budget = dict(offer.budget or {})
    changed: dict[str, Any] = {}
    if isinstance(inventory.get("remainingStock"), int | float):
        inventory["remainingStock"] = max(0, inventory["remainingStock"] - 1)
        changed["inventory"] = inventory
    cents = int(round((value or 0) * 100))
    if cents and ("dailyCapCents" in budget or "lifetimeCapCents" in budget):
        today = utcnow().date().isoformat()
        daily = budget.get("currentDailySpentCents", 0) if budget.get("lastDailyResetDate") == today else 0
        budget.update(
            {
                "currentDailySpentCents": daily + cents,
                "lastDailyResetDate": today,
                "currentLifetimeSpentCents": budget.get("currentLifetimeSpentCents", 0) + cents,
            }
        )
        changed["budget"] = budget
    if changed:
        offer.inventory, offer.budget = (
            changed.get("inventory", offer.inventory),
            changed.get("budget", offer.budget),
        )


async def _fire_triggers(repo: Repository, row: Interaction) -> None:
    """`outcome.recorded` triggers: condition, per-customer cooldown, then enroll or update."""
    triggers = await repo.all(
        TriggerRule,
        TriggerRule.event_type == "outcome.recorded",
        TriggerRule.status == "active",
        order_by=TriggerRule.priority.desc(),
    )
    event = {
        "outcome": row.interaction_type,
        "classification": row.classification,
        "offerId": row.offer_id,
        "channelId": row.channel_id,
        "conversionValue": row.conversion_value,
        "customerId": row.customer_id,
    }
    for trigger in triggers:
        if trigger.condition and not evaluate_tree(trigger.condition, {"event": event}, "event"):
            continue
        fired = dict(trigger.last_fired or {})
        last = fired.get(row.customer_id)
        now_ms = int(row.timestamp.timestamp() * 1000)
        if last is not None and trigger.cooldown_ms and now_ms - int(last) < trigger.cooldown_ms:
            continue
        if trigger.action_type == "enroll_journey":
            await _enroll(repo, trigger, row.customer_id)
        fired[row.customer_id] = now_ms
        trigger.last_fired = fired


async def _enroll(repo: Repository, trigger: TriggerRule, customer_id: str) -> None:
    journey_id = (trigger.action_config or {}).get("journeyId")
    if not journey_id:
        return
    mode = (trigger.action_config or {}).get("deduplication", "skip_if_active")
    active = (
        (
            await repo.session.execute(
                repo.scoped(JourneyEnrollment).where(
                    JourneyEnrollment.journey_id == journey_id,
                    JourneyEnrollment.customer_id == customer_id,
                    JourneyEnrollment.status == "active",
                )
            )
        )
        .scalars()
        .all()
    )
    if active and mode == "skip_if_active":
        return
    for enrollment in active if mode == "restart" else []:
        enrollment.status = "exited"
    repo.session.add(
        JourneyEnrollment(
            id=new_id("enr"),
            tenant_id=repo.ctx.tenant_id,
            journey_id=journey_id,
            customer_id=customer_id,
            status="active",
        )
    )


async def _response(
    repo: Repository, row: Interaction, offer: Offer | None, creative: Creative | None
) -> dict[str, Any]:
    channel = await repo.find(Channel, include_deleted=True, id=row.channel_id) if row.channel_id else None
    category = (
        await repo.find(Category, include_deleted=True, id=row.category_id) if row.category_id else None
    )
    return RespondResponse(
        interactionId=row.id,
        recommendationId=row.recommendation_id,
        customerId=row.customer_id,
        outcome=row.interaction_type,
        classification=row.classification,
        rank=row.rank,
        offerName=offer.name if offer else None,
        creativeName=creative.name if creative else None,
        channelName=channel.name if channel else None,
        categoryName=category.name if category else None,
        timestamp=row.timestamp.isoformat().replace("+00:00", "Z"),
    ).model_dump()
