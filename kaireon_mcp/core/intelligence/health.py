"""Tenant-wide views: runHealthCheck (cached 5 minutes per tenant) and analyzeCrossModule.

The health check is the one intelligence result that is cached: dashboards call it on load and
every 5 minutes. The cache key is ``t:{tenantId}:ai:healthcheck``; Redis holds it when
``KAIREON_REDIS_URL`` is set (shared by every replica), otherwise an in-process dict does. A
Redis failure never fails the tool: it falls back to the in-process cache.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from kaireon_mcp.core.contact_policy import cap_windows, window_bounds
from kaireon_mcp.core.decisioning.catalog import load_catalog
from kaireon_mcp.core.intelligence.common import as_utc, count_customers, impressions_only, pct
from kaireon_mcp.core.intelligence.conflicts import analyze_policy_conflicts
from kaireon_mcp.core.intelligence.contacts import CAP_TYPES, cap_filters, cap_series, channel_label
from kaireon_mcp.core.intelligence.modeling import NEAR_RANDOM_AUC, WEAK_AUC, flows_using_models
from kaireon_mcp.core.intelligence.performance import MIN_IMPRESSIONS, TOP_FACTOR, offer_kpis
from kaireon_mcp.core.models import MODEL_TYPES
from kaireon_mcp.core.operators import to_number
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AlgorithmModel, DecisionFlow, Experiment, Interaction, Offer
from kaireon_mcp.storage.types import utcnow

log = logging.getLogger("kaireon_mcp.intelligence")

CACHE_TTL_SECONDS = 300
ZERO_CVR_MIN_IMPRESSIONS = 100
CROSS_MODULE_DAYS = 30
STALE_DAYS = 30
STATUS_ORDER = ("critical", "warning", "info", "healthy")


class HealthCheck(BaseModel):
    name: str
    status: str = Field(description="healthy | info | warning | critical")
    value: float | int | None = None
    message: str


class HealthCheckResult(BaseModel):
    tenantId: str
    checkedAt: str
    cached: bool = False
    status: str
    score: int = Field(description="100 minus 25 per critical and 10 per warning check")
    checks: list[HealthCheck]
    hint: str | None = None


class Insight(BaseModel):
    id: str
    type: str
    severity: str
    title: str
    description: str
    impact: str
    action: dict[str, Any] = Field(description="{label, type: navigate|api, href, method?, body?}")
    entities: list[dict[str, Any]]


class CrossModuleResult(BaseModel):
    tenantId: str
    analyzedAt: str
    insights: list[Insight]
    summary: dict[str, int]
    hint: str | None = None


# ---- cache ----------------------------------------------------------------------------------
def cache_key(tenant_id: str) -> str:
    return f"t:{tenant_id}:ai:healthcheck"


class HealthCache:
    """Five-minute result cache: Redis when configured, else this process's memory."""

    def __init__(self, ttl: float = CACHE_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._memory: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get(self, tenant_id: str, redis_url: str | None) -> dict[str, Any] | None:
        key = cache_key(tenant_id)
        if redis_url:
            try:
                raw = await self._redis(redis_url, lambda r: r.get(key))
                return json.loads(raw) if raw else None
            except Exception as exc:  # noqa: BLE001 - a cache outage must not fail the health check
                log.warning("health-check cache read failed (%s); using the in-process cache", exc)
        entry = self._memory.get(key)
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    async def put(self, tenant_id: str, value: dict[str, Any], redis_url: str | None) -> None:
        key = cache_key(tenant_id)
        self._memory[key] = (self.clock() + self.ttl, value)
        if redis_url:
            try:
                payload = json.dumps(value, default=str)
                await self._redis(redis_url, lambda r: r.set(key, payload, ex=int(self.ttl)))
            except Exception as exc:  # noqa: BLE001
                log.warning("health-check cache write failed (%s)", exc)

    def clear(self) -> None:
        self._memory.clear()

    @staticmethod
    async def _redis(url: str, op: Callable[[Any], Any]) -> Any:
        import redis.asyncio as redis_asyncio

        client = redis_asyncio.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return await op(client)
        finally:
            await client.aclose()


HEALTH_CACHE = HealthCache()


# ---- health checks --------------------------------------------------------------------------
def _check(name: str, status: str, value: float | int | None, message: str) -> HealthCheck:
    return HealthCheck(name=name, status=status, value=value, message=message)


def _model_check(models: list[AlgorithmModel], used: dict[str, list[str]]) -> HealthCheck:
    active = [m for m in models if m.status == "active" and m.registry_status != "archived"]
    weak, random_ = [], []
    for model in active:
        auc = to_number((model.metrics or {}).get("auc"))
        if auc is not None and auc < NEAR_RANDOM_AUC:
            random_.append(model.key)
        elif auc is not None and auc < WEAK_AUC:
            weak.append(model.key)
    untrained = [m.key for m in active if MODEL_TYPES[m.model_type].trainable and not m.metrics]
    if random_:
        in_flows = [k for k in random_ if k in used]
        status = "critical" if in_flows else "warning"
        return _check(
            "models",
            status,
            len(random_),
            f"near-random AUC: {', '.join(random_)}"
            + (f" (used by published flows: {', '.join(in_flows)})" if in_flows else ""),
        )
    if weak or untrained:
        return _check(
            "models",
            "warning",
            len(weak) + len(untrained),
            "; ".join(
                filter(
                    None,
                    [
                        f"weak AUC: {', '.join(weak)}" if weak else "",
                        f"never trained: {', '.join(untrained)}" if untrained else "",
                    ],
                )
            ),
        )
    return _check("models", "healthy", len(active), f"{len(active)} active models within normal ranges")


def _conflict_check(summary: dict[str, int]) -> HealthCheck:
    status = "critical" if summary.get("critical") else "warning" if summary.get("warning") else "healthy"
    return _check(
        "conflicts",
        status,
        summary.get("total", 0),
        f"{summary.get('critical', 0)} critical, {summary.get('warning', 0)} warning, "
        f"{summary.get('info', 0)} info findings (analyzePolicyConflicts)",
    )


def _budget_check(offers: list[Offer]) -> HealthCheck:
    burning = []
    for offer in offers:
        budget = offer.budget or {}
        for used, cap in (
            ("currentDailySpentCents", "dailyCapCents"),
            ("currentLifetimeSpentCents", "lifetimeCapCents"),
        ):
            spent, limit = to_number(budget.get(used)), to_number(budget.get(cap))
            if spent is not None and limit and spent / limit >= 0.9:
                burning.append(f"{offer.name} {pct(spent, limit, 0):g}% of {cap}")
    if burning:
        return _check("budget", "warning", len(burning), "budgets at >= 90%: " + "; ".join(burning[:5]))
    return _check("budget", "healthy", 0, "no offer budget above 90% burn")


async def _suppression_check(repo: Repository, now: datetime) -> HealthCheck:
    """Share of this week's active customers held at a cap, per cap policy (current window only)."""
    catalog = await load_catalog(repo)
    worst: tuple[float, str] = (0.0, "")
    for policy in (p for p in catalog.policies if p.rule_type in CAP_TYPES):
        for cap in cap_windows(policy.config):
            if cap.period is None:
                continue
            start, end = window_bounds(cap.period, now)
            series = await cap_series(
                repo,
                cap_filters(catalog, policy),
                cap.period,
                cap.period,
                cap.limit,
                start,
                min(end, now + timedelta(microseconds=1)),
            )
            for row in series:
                if row["rate"] > worst[0]:
                    worst = (
                        row["rate"],
                        f"'{policy.name}' ({channel_label(catalog, policy)}) holds "
                        f"{row['capped']} of {row['customers']} active customers at {cap.limit}/{cap.period}",
                    )
    rate_value, message = worst
    status = "warning" if rate_value >= 25 else "healthy"
    return _check(
        "suppression", status, rate_value, message or "no customer is at a frequency cap this period"
    )


async def _staleness_check(repo: Repository, now: datetime) -> HealthCheck:
    since = now - timedelta(days=STALE_DAYS)
    stmt = (
        select(Interaction.offer_id)
        .where(
            Interaction.tenant_id == repo.ctx.tenant_id,
            Interaction.timestamp >= since,
            impressions_only(),
        )
        .group_by(Interaction.offer_id)
    )
    shown = {str(x) for x in (await repo.session.execute(stmt)).scalars().all()}
    active = await repo.all(Offer, Offer.status == "active")
    idle = [o.name for o in active if o.id not in shown]
    flows = [f.key for f in await repo.all(DecisionFlow) if f.status == "draft" and f.updated_at < since]
    parts = []
    if idle:
        parts.append(f"active offers without impressions in {STALE_DAYS} days: {', '.join(idle[:5])}")
    if flows:
        parts.append(f"draft flows untouched for {STALE_DAYS} days: {', '.join(flows[:5])}")
    return _check(
        "stale_entities",
        "warning" if idle else "info" if flows else "healthy",
        len(idle) + len(flows),
        "; ".join(parts) or "every active offer was shown recently",
    )


def _experiment_check(experiments: list[Experiment], now: datetime) -> HealthCheck:
    running = [e for e in experiments if e.status in {"active", "running"}]
    due = [
        e.name for e in running if e.started_at and now - e.started_at > timedelta(days=e.promote_after_days)
    ]
    if due:
        return _check(
            "experiments",
            "info",
            len(due),
            f"running past promoteAfterDays, ready for a decision: {', '.join(due)}",
        )
    return _check("experiments", "healthy", len(running), f"{len(running)} running experiments")


async def _freshness_check(repo: Repository, now: datetime) -> HealthCheck:
    stmt = select(func.max(Interaction.timestamp)).where(Interaction.tenant_id == repo.ctx.tenant_id)
    last = (await repo.session.execute(stmt)).scalar_one_or_none()
    if last is None:
        return _check("data_freshness", "warning", None, "no interactions recorded yet")
    age = (now - as_utc(last)).total_seconds() / 86400
    status = "warning" if age > 7 else "healthy"
    return _check("data_freshness", status, round(age, 2), f"last interaction {age:.1f} days ago")


def _overall(checks: list[HealthCheck]) -> tuple[str, int]:
    statuses = [c.status for c in checks]
    worst = min(statuses, key=STATUS_ORDER.index, default="healthy")
    score = 100 - 25 * statuses.count("critical") - 10 * statuses.count("warning")
    return ("healthy" if worst == "info" else worst), max(0, score)


async def compute_health(repo: Repository, now: datetime | None = None) -> HealthCheckResult:
    now = now or utcnow()
    models = await repo.all(AlgorithmModel)
    conflicts = await analyze_policy_conflicts(repo)
    checks = [
        _model_check(models, await flows_using_models(repo)),
        _conflict_check(conflicts.summary),
        _budget_check(await repo.all(Offer)),
        await _suppression_check(repo, now),
        await _staleness_check(repo, now),
        _experiment_check(await repo.all(Experiment), now),
        await _freshness_check(repo, now),
    ]
    status, score = _overall(checks)
    empty = not models and not conflicts.checked.get("offers") and not await count_customers(repo)
    return HealthCheckResult(
        tenantId=repo.ctx.tenant_id,
        checkedAt=now.isoformat(),
        status=status,
        score=score,
        checks=checks,
        hint="The tenant is empty: create offers, channels and a flow (or seed the demo)." if empty else None,
    )


async def run_health_check(
    repo: Repository, *, redis_url: str | None = None, cache: HealthCache | None = None
) -> HealthCheckResult:
    cache = cache or HEALTH_CACHE
    hit = await cache.get(repo.ctx.tenant_id, redis_url)
    if hit is not None:
        return HealthCheckResult.model_validate({**hit, "cached": True})
    result = await compute_health(repo)
    await cache.put(repo.ctx.tenant_id, result.model_dump(mode="json"), redis_url)
    return result


# ---- cross-module correlations --------------------------------------------------------------
def _entity(kind: str, item_id: str, name: str | None) -> dict[str, Any]:
    return {"type": kind, "id": item_id, "name": name}


def _cvr(values: dict[str, list[float]]) -> tuple[float, float, float]:
    imps, _, convs, _ = values["cur"]
    return imps, convs, (100.0 * convs / imps if imps else 0.0)


def _offer_policies(catalog: Any, offer: dict[str, Any]) -> list[Any]:
    """Policies aimed specifically at this offer (its id, creative, category or sub-category)."""
    targets = {
        "offer": {offer["id"]},
        "category": {offer.get("categoryId")},
        "subcategory": {offer.get("subCategoryId")},
        "creative": {c["id"] for c in catalog.creatives_by_offer.get(offer["id"], [])},
    }
    out = []
    for policy in catalog.policies:
        if policy.rule_type == "allow_override":
            continue
        entries = policy.scopes or [{"scope": policy.scope, "scopeId": policy.scope_id}]
        if any(e.get("scopeId") in targets.get(str(e.get("scope")), set()) for e in entries):
            out.append(policy)
    return out


def policy_blocks_top_offer(catalog: Any, kpis: dict[str, dict[str, list[float]]]) -> list[Insight]:
    imps = sum(v["cur"][0] for v in kpis.values())
    average = 100.0 * sum(v["cur"][2] for v in kpis.values()) / imps if imps else 0.0
    found = []
    for offer_id, values in kpis.items():
        offer = catalog.offers.get(offer_id)
        n, _, cvr = _cvr(values)
        if offer is None or n < MIN_IMPRESSIONS or not average or cvr < TOP_FACTOR * average:
            continue
        for policy in _offer_policies(catalog, offer):
            label = policy.rule_type.replace("_", " ").capitalize()
            found.append(
                Insight(
                    id=f"policy-blocks-{offer_id}-{policy.id}",
                    type="policy_blocks_top_offer",
                    severity="warning",
                    title=f'{label} may limit "{offer["name"]}"',
                    description=f'"{offer["name"]}" has a {cvr:.1f}% CVR (top performer, average '
                    f"{average:.1f}%) but "
                    f'"{policy.name}" ({policy.rule_type}) may be blocking repeat impressions.',
                    impact="Potential revenue loss: relaxing this policy for high-value customers could lift "
                    "conversions on the best offer.",
                    action={"label": "Review Policy", "type": "navigate", "href": "/studio/contact-policies"},
                    entities=[
                        _entity("offer", offer_id, offer["name"]),
                        _entity("contactPolicy", policy.id, policy.name),
                    ],
                )
            )
    return found


def low_auc_in_active_flow(models: list[AlgorithmModel], used: dict[str, list[str]]) -> list[Insight]:
    found = []
    for model in models:
        auc = to_number((model.metrics or {}).get("auc"))
        flows = used.get(model.key, [])
        if auc is None or auc >= NEAR_RANDOM_AUC or not flows or model.status == "archived":
            continue
        found.append(
            Insight(
                id=f"low-auc-{model.id}",
                type="low_auc_model_in_active_flow",
                severity="critical",
                title=f'Near-random model "{model.name}" scores a published flow',
                description=f'"{model.key}" has AUC {auc:.3f} (random is 0.5) and is used by '
                f"{', '.join(flows)}.",
                impact="Scores are close to coin flips, so ranking ignores who is likely to respond.",
                action={"label": "Open Model", "type": "navigate", "href": f"/algorithms/models/{model.id}"},
                entities=[_entity("model", model.id, model.name)]
                + [_entity("decisionFlow", f, f) for f in flows],
            )
        )
    return found


def zero_cvr_high_spend(catalog: Any, kpis: dict[str, dict[str, list[float]]]) -> list[Insight]:
    found = []
    for offer_id, values in kpis.items():
        offer = catalog.offers.get(offer_id)
        n, convs, _ = _cvr(values)
        if offer is None or n < ZERO_CVR_MIN_IMPRESSIONS or convs:
            continue
        found.append(
            Insight(
                id=f"zero-cvr-{offer_id}",
                type="zero_cvr_high_spend",
                severity="warning",
                title=f'"{offer["name"]}" converts nobody',
                description=f"{int(n)} impressions in {CROSS_MODULE_DAYS} days and zero conversions.",
                impact="Those impressions could go to offers that convert; each also spends contact budget.",
                action={
                    "label": "Pause Offer",
                    "type": "api",
                    "method": "PUT",
                    "href": "/api/v1/offers",
                    "body": {"id": offer_id, "status": "paused"},
                },
                entities=[_entity("offer", offer_id, offer["name"])],
            )
        )
    return found


async def analyze_cross_module(repo: Repository, *, now: datetime | None = None) -> CrossModuleResult:
    now = now or utcnow()
    catalog = await load_catalog(repo)
    kpis = await offer_kpis(repo, now, CROSS_MODULE_DAYS)
    models = await repo.all(AlgorithmModel)
    insights = (
        low_auc_in_active_flow(models, await flows_using_models(repo))
        + policy_blocks_top_offer(catalog, kpis)
        + zero_cvr_high_spend(catalog, kpis)
    )
    insights.sort(key=lambda i: (i.severity != "critical", i.type, i.id))
    return CrossModuleResult(
        tenantId=repo.ctx.tenant_id,
        analyzedAt=now.isoformat(),
        insights=insights,
        summary={
            "total": len(insights),
            "critical": sum(i.severity == "critical" for i in insights),
            "warning": sum(i.severity == "warning" for i in insights),
        },
        hint=None if kpis or models else "No interactions or models yet: nothing to correlate.",
    )
