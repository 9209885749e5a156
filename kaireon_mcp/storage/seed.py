"""The deterministic demo tenant (interface.md section 6): the Starbucks example.

Everything random comes from one ``random.Random(random_seed)`` and every timestamp is an
offset from an anchor (now by default), so the same seed gives the same ids and values
on every machine. Re-running with the same parameters is a no-op; other parameters wipe
and rebuild the tenant in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, text

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    BehavioralMetric,
    Category,
    Channel,
    ContactPolicy,
    Creative,
    DataSchema,
    DecisionFlow,
    DecisionFlowNode,
    DecisionFlowVersion,
    Experiment,
    FlowRoute,
    Interaction,
    Journey,
    ModelAdaptation,
    Offer,
    OutcomeType,
    Placement,
    Predictor,
    QualificationRule,
    RankingProfile,
    SchemaField,
    SchemaRow,
    Segment,
    SubCategory,
    Tenant,
    TriggerRule,
)
from kaireon_mcp.storage.types import utcnow

SYSTEM_OUTCOMES = [
    ("impression", "Impression", "neutral", "impression"),
    ("click", "Click", "positive", "response"),
    ("conversion", "Conversion", "positive", "response"),
    ("not_interested", "Not interested", "negative", "response"),
    ("opt_out", "Opt out", "negative", "response"),
    ("defer", "Defer", "neutral", "response"),
    ("dismiss", "Dismiss", "negative", "response"),
    ("share", "Share", "positive", "response"),
    ("save", "Save", "positive", "response"),
    ("complaint", "Complaint", "negative", "response"),
]

CATEGORIES = [
    ("Acquisition", "BOGO", "Buy-one-get-one offers that win new visits", "#16a34a"),
    ("Retention", "Discount", "Discounts that keep regulars coming back", "#2563eb"),
    ("Engagement", "Informational", "Brand stories and menu news", "#f59e0b"),
]

# name, category, min spend, reward, priority, business value, product type, base ctr
OFFERS = [
    ("BOGO - 5 Day Easy", "Acquisition", 5, 5, 80, 60, "bogo", 0.16),
    ("BOGO - 7 Day Medium", "Acquisition", 10, 10, 75, 70, "bogo", 0.12),
    ("BOGO - 5 Day Hard", "Acquisition", 20, 10, 70, 85, "bogo", 0.08),
    ("BOGO - 7 Day Extra", "Acquisition", 0, 5, 65, 55, "bogo", 0.10),
    ("Discount - 10 Day $20", "Retention", 20, 5, 60, 75, "discount", 0.09),
    ("Discount - 7 Day $7", "Retention", 7, 3, 62, 60, "discount", 0.11),
    ("Discount - 10 Day $10", "Retention", 10, 2, 58, 50, "discount", 0.07),
    ("Discount - 7 Day $10", "Retention", 10, 2, 55, 45, "discount", 0.06),
    ("Info - 4 Day Brand Story", "Engagement", 0, 0, 50, 30, "informational", 0.05),
    ("Info - 3 Day New Menu", "Engagement", 0, 0, 50, 35, "informational", 0.06),
]

# name, type, impression mode, placements (key, slot type, max slots), share of history
CHANNELS = [
    (
        "Mobile App",
        "in_app",
        "explicit",
        [("home_carousel", "card", 5), ("order_screen_upsell", "banner", 1)],
        0.25,
    ),
    (
        "Starbucks Email",
        "email",
        "implicit",
        [("header_offer", "banner", 1), ("body_cross_sell", "card", 3)],
        0.40,
    ),
    (
        "Push Notifications",
        "push",
        "implicit",
        [("morning_digest", "notification", 1), ("happy_hour_alert", "notification", 1)],
        0.20,
    ),
    ("Web", "web", "explicit", [("hero_banner", "banner", 1), ("sidebar_widget", "card", 3)], 0.15),
]

TEMPLATE_BY_CHANNEL = {
    "in_app": "in_app_card",
    "email": "email_html",
    "push": "push_notification",
    "web": "web_banner",
}
FIRST_NAMES = [
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farah",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wes",
    "Yuki",
]
CITIES = ["Seattle", "Portland", "Austin", "Denver", "Chicago", "Boston", "Miami", "Phoenix"]
TIERS = [("green", 0.55), ("gold", 0.35), ("platinum", 0.10)]
DEMO_EMAIL_CAP = 3


@dataclass(frozen=True)
class SeedParams:
    tenant: str = "demo"
    customers: int = 2000
    days: int = 90
    random_seed: int = 42
    #: average contact events per customer over the whole window
    contacts_per_customer: float = 12.0

    def fingerprint(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "days": self.days,
            "randomSeed": self.random_seed,
            "contactsPerCustomer": self.contacts_per_customer,
        }


@dataclass
class SeedResult:
    tenant: str
    created: bool
    counts: dict[str, int] = field(default_factory=dict)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def customer_id(n: int) -> str:
    return f"C-{n:04d}"


class Ids:
    """Deterministic, tenant-qualified primary keys (`off_demo_bogo_5_day_easy`)."""

    def __init__(self, tenant: str) -> None:
        self.tenant = slug(tenant)

    def __call__(self, prefix: str, name: str) -> str:
        return f"{prefix}_{self.tenant}_{slug(name)}"


ProgressFn = Callable[[str, int, int], None]


def terminal_progress(label: str, done: int, total: int) -> None:
    """A one-line progress bar on stderr, drawn only on a terminal."""
    if not sys.stderr.isatty() or total <= 0:
        return
    width = 30
    filled = int(width * done / total)
    sys.stderr.write(f"\r{label:<14} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def seed_demo(
    db: Database, params: SeedParams, *, anchor: datetime | None = None, progress: ProgressFn | None = None
) -> SeedResult:
    """Create (or keep) the demo tenant; identical parameters make this a no-op."""
    anchor = anchor or utcnow()
    async with db.session() as session:
        tenant = (
            await session.execute(select(Tenant).where(Tenant.id == params.tenant))
        ).scalar_one_or_none()
        if tenant and tenant.settings.get("demoSeed") == params.fingerprint():
            return SeedResult(params.tenant, False)
        if tenant:
            await session.execute(delete(Tenant).where(Tenant.id == params.tenant))
            await session.flush()
        session.add(Tenant(id=params.tenant, name="Starbucks demo", settings=_tenant_settings(params)))
    ctx = TenantContext(tenant_id=params.tenant, role="admin", auth_kind="seed", user_name="seed")
    counts: dict[str, int] = {}
    async with db.tenant(ctx) as repo:
        builder = DemoBuilder(repo, params, anchor, progress or (lambda *_: None))
        counts = await builder.build()
    await _refresh_statistics(db)
    return SeedResult(params.tenant, True, counts)


async def _refresh_statistics(db: Database) -> None:
    """PostgreSQL plans a freshly bulk-loaded table from stale statistics until autovacuum
    runs: a customer's contact history then scanned the whole tenant's time range (35 ms
    instead of under 1 ms per decision). ANALYZE right after the load.
    """
    if db.dialect != "postgresql":
        return
    async with db.session() as session:
        for table in ("interactions", "schema_rows", "metric_values"):
            await session.execute(text(f"ANALYZE {table}"))


def _tenant_settings(params: SeedParams) -> dict[str, Any]:
    return {
        "demoSeed": params.fingerprint(),
        "decisionTraceEnabled": True,
        "decisionTraceSampleRate": 1.0,
        "holdoutPercentage": 0,
        "maxOffersPerDecision": 10,
        "enableExperiments": True,
        "enableJourneys": True,
        "enableBehavioralMetrics": True,
        "timezone": "UTC",
        "defaultRankingProfileId": Ids(params.tenant)("rp", "balanced"),
    }


class DemoBuilder:
    """Builds the catalogue through the audited repository, then bulk-loads customers and history."""

    def __init__(self, repo: Repository, params: SeedParams, anchor: datetime, progress: ProgressFn) -> None:
        self.repo = repo
        self.p = params
        self.anchor = anchor
        self.progress = progress
        self.rng = random.Random(params.random_seed)
        self.id = Ids(params.tenant)
        self.offers: list[dict[str, Any]] = []
        self.channels: list[dict[str, Any]] = []
        self.creatives: dict[tuple[str, str], dict[str, Any]] = {}

    async def build(self) -> dict[str, int]:
        await self._outcome_types()
        await self._catalogue()
        await self._channels_and_creatives()
        await self._rules_and_policies()
        flow_id = await self._decision_flow()
        await self._routes(flow_id)
        await self._models_and_experiment()
        schema_id = await self._schema()
        await self._extras()
        customers = await self._customers(schema_id)
        interactions = await self._history(customers)
        return {
            "offers": len(self.offers),
            "channels": len(self.channels),
            "creatives": len(self.creatives),
            "customers": len(customers),
            "interactions": interactions,
        }

    async def _create(self, model: Any, values: dict[str, Any]) -> Any:
        return await self.repo.create(model, values, audit_action="seed")

    async def _outcome_types(self) -> None:
        for key, name, classification, category in SYSTEM_OUTCOMES:
            await self._create(
                OutcomeType,
                {
                    "id": self.id("out", key),
                    "key": key,
                    "name": name,
                    "classification": classification,
                    "category": category,
                    "is_system": True,
                },
            )

    async def _catalogue(self) -> None:
        cat_ids: dict[str, tuple[str, str]] = {}
        for ordinal, (name, sub_name, description, color) in enumerate(CATEGORIES):
            cat = await self._create(
                Category,
                {
                    "id": self.id("cat", name),
                    "name": name,
                    "description": description,
                    "color": color,
                    "ordinal": ordinal,
                    "custom_fields": [
                        {"key": "min_spend", "label": "Minimum spend", "type": "number"},
                        {"key": "reward", "label": "Reward", "type": "number"},
                        {
                            "key": "personalized_reward",
                            "label": "Personalized reward",
                            "type": "computed",
                            "outputType": "number",
                            "formula": "round(reward * (1 + customer.visit_frequency * 0.05), 2)",
                        },
                    ],
                },
            )
            sub = await self._create(
                SubCategory, {"id": self.id("sub", sub_name), "category_id": cat.id, "name": sub_name}
            )
            cat_ids[name] = (cat.id, sub.id)
        for name, cat_name, min_spend, reward, priority, value, product, ctr in OFFERS:
            cat_id, sub_id = cat_ids[cat_name]
            offer = await self._create(
                Offer,
                {
                    "id": self.id("off", name),
                    "key": slug(name),
                    "name": name,
                    "status": "active",
                    "description": f"{name}: spend ${min_spend}, earn ${reward} reward."
                    if min_spend
                    else name,
                    "short_desc": name,
                    "category_id": cat_id,
                    "sub_category_id": sub_id,
                    "priority": priority,
                    "business_value": value,
                    "product_type": product,
                    "revenue_value": float(max(min_spend, 3)),
                    "custom_fields": {"min_spend": min_spend, "reward": reward},
                    "tags": [product, cat_name.lower()],
                    "metadata": {"baseCtr": ctr},
                },
            )
            self.offers.append(
                {
                    "id": offer.id,
                    "name": name,
                    "category_id": cat_id,
                    "ctr": ctr,
                    "priority": priority,
                    "value": float(max(min_spend, 3)),
                }
            )

    async def _channels_and_creatives(self) -> None:
        for name, ctype, mode, placements, share in CHANNELS:
            channel = await self._create(
                Channel,
                {
                    "id": self.id("chn", name),
                    "name": name,
                    "channel_type": ctype,
                    "status": "active",
                    "impression_mode": mode,
                    "delivery_mode": "api" if ctype in {"in_app", "web"} else "integration",
                    "description": f"{name} ({ctype})",
                },
            )
            plc_ids = []
            for key, slot, max_slots in placements:
                plc = await self._create(
                    Placement,
                    {
                        "id": self.id("plc", f"{ctype}_{key}"),
                        "channel_id": channel.id,
                        "name": key,
                        "key": key,
                        "slot_type": slot,
                        "max_slots": max_slots,
                    },
                )
                plc_ids.append(plc.id)
            self.channels.append({"id": channel.id, "type": ctype, "share": share, "placements": plc_ids})
            for index, offer in enumerate(self.offers):
                placement = plc_ids[index % len(plc_ids)]
                creative = await self._create(
                    Creative,
                    {
                        "id": self.id("crv", f"{offer['name']}_{ctype}"),
                        "name": f"{offer['name']} / {name}",
                        "offer_id": offer["id"],
                        "channel_id": channel.id,
                        "placement_id": placement,
                        "status": "active",
                        "template_type": TEMPLATE_BY_CHANNEL[ctype],
                        "content": {
                            "headline": offer["name"],
                            "body": f"Hi {{{{first_name}}}}, {offer['name']} is yours.",
                            "ctaText": "Redeem",
                        },
                        "personalization": [
                            {"variable": "first_name", "source": "customer.first_name", "fallback": "friend"}
                        ],
                    },
                )
                self.creatives[(offer["id"], channel.id)] = {"id": creative.id, "placement_id": placement}

    def _channel_id(self, ctype: str) -> str:
        return next(c["id"] for c in self.channels if c["type"] == ctype)

    async def _rules_and_policies(self) -> None:
        hard_bogo = self.id("off", "BOGO - 5 Day Hard")
        rules = [
            (
                "Min Age 18",
                "attribute_condition",
                {"attribute": "customer.age", "operator": "gte", "value": 18},
                "global",
                None,
                90,
                "eligibility",
            ),
            (
                "Min Income $30k",
                "attribute_condition",
                {"attribute": "customer.income", "operator": "gte", "value": 30000},
                "global",
                None,
                80,
                "eligibility",
            ),
            (
                "High income for Hard BOGO",
                "attribute_condition",
                {"attribute": "customer.income", "operator": "gte", "value": 70000},
                "offer",
                hard_bogo,
                70,
                "eligibility",
            ),
            (
                "Loyalty members for Retention",
                "segment_required",
                {"requiredSegments": ["rewards_member"]},
                "category",
                self.id("cat", "Retention"),
                60,
                "eligibility",
            ),
            (
                "Recently seen penalty",
                "recency_check",
                {"minDaysSinceLastImpression": 3, "multiplier": 0.6},
                "global",
                None,
                40,
                "match",
            ),
        ]
        for name, rtype, config, scope, scope_id, priority, stage in rules:
            await self._create(
                QualificationRule,
                {
                    "id": self.id("qr", name),
                    "name": name,
                    "rule_type": rtype,
                    "config": config,
                    "scope": scope,
                    "scope_id": scope_id,
                    "priority": priority,
                    "stage": stage,
                    "status": "active",
                },
            )
        email = self._channel_id("email")
        policies = [
            ("Email 3 per week", "frequency_cap", {"maxPerWeek": DEMO_EMAIL_CAP}, "channel", email, 90),
            ("Max 3 per day", "frequency_cap", {"maxPerDay": 3}, "global", None, 80),
            ("Push 24h cooldown", "cooldown", {"cooldownHours": 24}, "channel", self._channel_id("push"), 70),
            (
                "Post-conversion pause",
                "outcome_based",
                {"afterOutcome": ["conversion"], "suppressForDays": 3},
                "global",
                None,
                60,
            ),
            (
                "Adverse outcomes",
                "outcome_based",
                {
                    "afterOutcome": ["complaint", "opt_out", "unsubscribe", "hard_bounce", "spam_report"],
                    "suppressForDays": 90,
                    "bypassable": False,
                },
                "global",
                None,
                95,
            ),
            (
                "Acquisition suppression after dismiss",
                "category_suppression",
                {"suppressionDays": 14},
                "category",
                self.id("cat", "Acquisition"),
                50,
            ),
            (
                "BOGO easy vs medium",
                "mutual_exclusion",
                {"excludeOfferIds": [self.id("off", "BOGO - 7 Day Medium")], "windowDays": 7},
                "offer",
                self.id("off", "BOGO - 5 Day Easy"),
                40,
            ),
        ]
        for name, rtype, config, scope, scope_id, priority in policies:
            await self._create(
                ContactPolicy,
                {
                    "id": self.id("cp", name),
                    "name": name,
                    "rule_type": rtype,
                    "config": config,
                    "scope": scope,
                    "scope_id": scope_id,
                    "priority": priority,
                    "status": "active",
                },
            )

    async def _decision_flow(self) -> str:
        nodes = demo_flow_nodes()
        flow = await self._create(
            DecisionFlow,
            {
                "id": self.id("flow", "starbucks_nba"),
                "key": "starbucks-nba",
                "name": "Starbucks NBA",
                "description": "Inventory, qualification, contact policy, PRIE scoring, diversity ranking.",
                "status": "active",
                "is_default": True,
                "protected": True,
                "published_version": 1,
                "flow_config": {"scoringMethod": "formula"},
            },
        )
        for position, node in enumerate(nodes):
            await self._create(
                DecisionFlowNode,
                {
                    "id": self.id("node", f"{flow.key}_{node['id']}"),
                    "flow_id": flow.id,
                    "node_key": node["id"],
                    "position": position,
                    "type": node["type"],
                    "config": node["config"],
                },
            )
        await self._create(
            DecisionFlowVersion,
            {
                "id": self.id("fver", f"{flow.key}_1"),
                "flow_id": flow.id,
                "version": 1,
                "notes": "Demo launch",
                "published_at": self.anchor - timedelta(days=self.p.days),
                "config_snapshot": {"version": 2, "nodes": nodes, "flowConfig": flow.flow_config},
            },
        )
        return str(flow.id)

    async def _routes(self, flow_id: str) -> None:
        for channel in self.channels:
            await self._create(
                FlowRoute,
                {
                    "id": self.id("route", channel["id"]),
                    "decision_flow_id": flow_id,
                    "channel_id": channel["id"],
                    "placement_id": None,
                },
            )
            for plc in channel["placements"]:
                await self._create(
                    FlowRoute,
                    {
                        "id": self.id("route", plc),
                        "decision_flow_id": flow_id,
                        "channel_id": channel["id"],
                        "placement_id": plc,
                    },
                )
        await self._create(
            RankingProfile,
            {
                "id": self.id("rp", "balanced"),
                "key": "balanced",
                "name": "Balanced",
                "description": "Default PRIE weights",
                "weights": {"propensity": 0.4, "relevance": 0.2, "impact": 0.3, "emphasis": 0.1},
            },
        )

    async def _models_and_experiment(self) -> None:
        scorecard = await self._create(
            AlgorithmModel,
            {
                "id": self.id("mdl", "offer_scorecard"),
                "key": "offer-scorecard",
                "name": "Offer Propensity Scorecard",
                "model_type": "scorecard",
                "status": "active",
                "registry_status": "champion",
                "family": "propensity",
                "config": {
                    "baseScore": 50,
                    "normalization": "sigmoid",
                    "rules": [
                        {"field": "tier", "operator": "eq", "value": "gold", "points": 20},
                        {"field": "visit_frequency", "operator": "gte", "value": 3, "points": 15},
                        {"field": "age", "operator": "gte", "value": 25, "points": 10},
                        {"field": "income", "operator": "gte", "value": 70000, "points": 10},
                        {"field": "membership_days", "operator": "lt", "value": 90, "points": -10},
                    ],
                },
                "metrics": {"auc": 0.71, "accuracy": 0.68},
                "target_field": "converted",
            },
        )
        bayes = await self._create(
            AlgorithmModel,
            {
                "id": self.id("mdl", "naive_bayes"),
                "key": "naive-bayes",
                "name": "Naive Bayes Propensity",
                "model_type": "bayesian",
                "status": "active",
                "registry_status": "challenger",
                "family": "propensity",
                "config": {
                    "binEdges": {
                        "age": [25, 35, 50],
                        "income": [40000, 70000, 100000],
                        "visit_frequency": [1, 3, 5],
                    }
                },
                "metrics": {"auc": 0.66, "accuracy": 0.64},
                "target_field": "converted",
            },
        )
        await self._create(
            AlgorithmModel,
            {
                "id": self.id("mdl", "offer_bandit"),
                "key": "offer-bandit",
                "name": "Offer Thompson Bandit",
                "model_type": "thompson_bandit",
                "status": "active",
                "registry_status": "shadow",
                "family": "bandit",
                "config": {},
                "model_state": {"arms": {}},
            },
        )
        for model_id, fields in (
            (scorecard.id, ["tier", "visit_frequency", "age", "income", "membership_days"]),
            (bayes.id, ["age", "income", "visit_frequency"]),
        ):
            for fld in fields:
                await self._create(
                    Predictor,
                    {
                        "id": self.id("prd", f"{model_id}_{fld}"),
                        "model_id": model_id,
                        "field": fld,
                        "data_type": "categorical" if fld == "tier" else "numeric",
                    },
                )
        await self._create(
            Experiment,
            {
                "id": self.id("exp", "scorecard_vs_bayesian"),
                "key": "scorecard-vs-bayesian",
                "name": "Scorecard vs Bayesian",
                "status": "active",
                "champion_model_id": scorecard.id,
                "traffic_split": {"championPct": 80},
                "challengers": [{"modelId": bayes.id, "trafficPct": 20}],
                "started_at": self.anchor - timedelta(days=30),
            },
        )

    async def _schema(self) -> str:
        schema = await self._create(
            DataSchema,
            {
                "id": self.id("sch", "starbucks_customers"),
                "name": "starbucks_customers",
                "display_name": "Starbucks customers",
                "table_name": "ds_starbucks_customers",
                "entity_type": "customer",
                "schema_type": "customer",
                "primary_key": "customer_id",
            },
        )
        fields = [
            ("customer_id", "varchar", True, False),
            ("first_name", "varchar", False, False),
            ("email", "varchar", False, False),
            ("age", "integer", False, True),
            ("gender", "varchar", False, True),
            ("income", "integer", False, True),
            ("membership_days", "integer", False, True),
            ("tier", "varchar", False, True),
            ("visit_frequency", "integer", False, True),
            ("city", "varchar", False, False),
            ("segment", "json", False, False),
            ("loyalty_score", "integer", False, True),
        ]
        for ordinal, (name, dtype, pk, predictor) in enumerate(fields):
            await self._create(
                SchemaField,
                {
                    "id": self.id("fld", f"customers_{name}"),
                    "schema_id": schema.id,
                    "name": name,
                    "display_name": name.replace("_", " ").title(),
                    "data_type": dtype,
                    "is_primary_key": pk,
                    "is_nullable": not pk,
                    "is_predictor": predictor,
                    "ordinal": ordinal,
                },
            )
        return str(schema.id)

    async def _extras(self) -> None:
        await self._create(
            Segment,
            {
                "id": self.id("seg", "high_income"),
                "name": "High-Income Members",
                "status": "active",
                "base_schema_id": self.id("sch", "starbucks_customers"),
                "filters": [
                    {"field": "income", "operator": "gt", "value": 70000},
                    {"field": "membership_days", "operator": "gt", "value": 365},
                ],
            },
        )
        await self._create(
            BehavioralMetric,
            {
                "id": self.id("bm", "impressions_30d"),
                "name": "impression_count_30d",
                "aggregate_function": "count",
                "source_field": "impressions",
                "window_days": 30,
                "description": "Impressions in the last 30 days",
            },
        )
        journey = await self._create(
            Journey,
            {
                "id": self.id("jrn", "welcome"),
                "name": "Welcome series",
                "status": "active",
                "entry_condition": {"event": "customer.created"},
                "definition": {
                    "nodes": [
                        {"id": "entry", "type": "entry_trigger", "config": {"eventType": "customer.created"}},
                        {"id": "wait", "type": "wait", "config": {"delayHours": 48}},
                        {
                            "id": "decide",
                            "type": "nba_decision",
                            "config": {"decisionFlowKey": "starbucks-nba"},
                        },
                        {"id": "exit", "type": "exit", "config": {"reason": "done"}},
                    ],
                    "edges": [
                        {"from": "entry", "to": "wait"},
                        {"from": "wait", "to": "decide"},
                        {"from": "decide", "to": "exit"},
                    ],
                },
            },
        )
        await self._create(
            TriggerRule,
            {
                "id": self.id("trg", "welcome"),
                "name": "Enroll new members",
                "event_type": "customer.created",
                "action_type": "enroll_journey",
                "action_config": {"journeyId": journey.id, "deduplication": "skip_if_active"},
            },
        )

    async def _customers(self, schema_id: str) -> list[dict[str, Any]]:
        customers = [self._customer(n) for n in range(1, self.p.customers + 1)]
        rows = [
            {
                "id": f"row_{self.id.tenant}_{c['customer_id']}",
                "tenant_id": self.p.tenant,
                "schema_id": schema_id,
                "row_key": c["customer_id"],
                "data": c,
                "created_at": self.anchor,
                "updated_at": self.anchor,
            }
            for c in customers
        ]
        await self._bulk(SchemaRow, rows, "customers")
        return customers

    def _customer(self, n: int) -> dict[str, Any]:
        rng = self.rng
        tier = rng.choices([t for t, _ in TIERS], [w for _, w in TIERS])[0]
        income = int(rng.lognormvariate(math.log(55000), 0.45) // 1000 * 1000)
        age = rng.randint(16, 75)
        visits = rng.randint(0, 7)
        customer = {
            "customer_id": customer_id(n),
            "first_name": rng.choice(FIRST_NAMES),
            "email": f"customer{n:04d}@example.com",
            "age": age,
            "gender": rng.choice(["F", "M", "O"]),
            "income": income,
            "membership_days": rng.randint(1, 1500),
            "tier": tier,
            "visit_frequency": visits,
            "city": rng.choice(CITIES),
            "loyalty_score": rng.randint(0, 100),
        }
        segments = ["rewards_member"] if rng.random() < 0.7 else []
        if income > 70000:
            segments.append("high_income")
        customer["segment"] = segments
        if n == 1:  # the documented answer: C-0001 qualifies and is capped on email this week
            customer.update(
                {
                    "age": 34,
                    "income": 85000,
                    "tier": "gold",
                    "visit_frequency": 4,
                    "membership_days": 640,
                    "segment": ["rewards_member", "high_income"],
                }
            )
        return customer

    async def _history(self, customers: list[dict[str, Any]]) -> int:
        adaptation: Counter[tuple[str, str, str]] = Counter()
        total = 0
        batch: list[dict[str, Any]] = []
        for index, customer in enumerate(customers):
            for row in self._customer_history(customer, index):
                batch.append(row)
                _count_adaptation(adaptation, row)
                if len(batch) >= 20000:
                    total += await self._insert(Interaction, batch)
                    batch = []
            if index % 500 == 0 or index == len(customers) - 1:
                self.progress("interactions", index + 1, len(customers))
        total += await self._insert(Interaction, batch)
        await self._adaptations(adaptation)
        return total

    def _customer_history(self, customer: dict[str, Any], index: int) -> Iterator[dict[str, Any]]:
        rng = self.rng
        cid = customer["customer_id"]
        rate = rng.gammavariate(2.0, self.p.contacts_per_customer / 2.0)
        events = min(int(rate), 200)
        window = timedelta(days=self.p.days)
        week_start = _week_start(self.anchor)
        email = self._channel_id("email")
        for _ in range(events):
            channel = rng.choices(self.channels, [c["share"] for c in self.channels])[0]
            offer = rng.choice(self.offers)
            when = self.anchor - window * rng.random()
            if cid == customer_id(1) and channel["id"] == email and when >= week_start:
                continue  # C-0001's email week is written explicitly below
            yield from self._contact(cid, channel, offer, when)
        if cid == customer_id(1):
            span = self.anchor - week_start
            for k in range(1, DEMO_EMAIL_CAP + 1):
                offer = self.offers[(k * 3) % len(self.offers)]
                channel = next(c for c in self.channels if c["id"] == email)
                yield from self._contact(
                    cid, channel, offer, week_start + span * k / (DEMO_EMAIL_CAP + 1), outcomes=False
                )

    def _contact(
        self, cid: str, channel: dict[str, Any], offer: dict[str, Any], when: datetime, outcomes: bool = True
    ) -> Iterator[dict[str, Any]]:
        creative = self.creatives[(offer["id"], channel["id"])]
        base = {
            "tenant_id": self.p.tenant,
            "customer_id": cid,
            "offer_id": offer["id"],
            "creative_id": creative["id"],
            "channel_id": channel["id"],
            "placement_id": creative["placement_id"],
            "category_id": offer["category_id"],
            "direction": "outbound",
            "context": {},
            "outcome_details": {},
        }
        yield self._row(base, "impression", "neutral", when, is_impression=True)
        if not outcomes:
            return
        rng = self.rng
        roll = rng.random()
        if roll < offer["ctr"]:
            yield self._row(base, "click", "positive", when + timedelta(minutes=rng.randint(1, 600)))
            if rng.random() < 0.35:
                yield self._row(
                    base,
                    "conversion",
                    "positive",
                    when + timedelta(hours=rng.randint(1, 48)),
                    value=offer["value"],
                )
        elif roll > 0.96:
            yield self._row(base, "dismiss", "negative", when + timedelta(minutes=rng.randint(1, 300)))
        elif roll > 0.9985:
            yield self._row(base, "complaint", "negative", when + timedelta(hours=1))

    def _row(
        self,
        base: dict[str, Any],
        outcome: str,
        classification: str,
        when: datetime,
        *,
        is_impression: bool = False,
        value: float | None = None,
    ) -> dict[str, Any]:
        self._seq = getattr(self, "_seq", 0) + 1
        when = min(when, self.anchor)
        return {
            **base,
            "id": f"ih_{self.id.tenant}_{self._seq:08d}",
            "interaction_type": outcome,
            "classification": classification,
            "is_impression": is_impression,
            "direction": "outbound" if is_impression else "inbound",
            "conversion_value": value,
            "timestamp": when,
            "idempotency_key": None,
        }

    async def _adaptations(self, counts: Counter[tuple[str, str, str]]) -> None:
        keys = sorted({(scope, scope_id) for scope, scope_id, _ in counts})
        rows = [
            {
                "id": f"adp_{self.id.tenant}_{scope}_{slug(scope_id)}",
                "tenant_id": self.p.tenant,
                "scope": scope,
                "scope_id": scope_id,
                "evidence": counts[(scope, scope_id, "evidence")],
                "positives": counts[(scope, scope_id, "positive")],
                "negatives": counts[(scope, scope_id, "negative")],
                "created_at": self.anchor,
                "updated_at": self.anchor,
            }
            for scope, scope_id in keys
        ]
        await self._insert(ModelAdaptation, rows)

    async def _bulk(self, model: Any, rows: list[dict[str, Any]], label: str) -> None:
        for start in range(0, len(rows), 5000):
            await self._insert(model, rows[start : start + 5000])
            self.progress(label, min(start + 5000, len(rows)), len(rows))
        await self.repo.audit.record("seed", model.__entity__, None, label, changes={"rows": len(rows)})

    async def _insert(self, model: Any, rows: list[dict[str, Any]]) -> int:
        if rows:
            await self.repo.session.execute(insert(model), rows)
        return len(rows)


def _count_adaptation(counter: Counter[tuple[str, str, str]], row: dict[str, Any]) -> None:
    """Evidence per impression, positives/negatives per response (the Respond learning rule)."""
    kinds = ["evidence"] if row["is_impression"] else []
    if row["classification"] in {"positive", "negative"}:
        kinds.append(row["classification"])
    for scope, key in (("offer", "offer_id"), ("category", "category_id"), ("channel", "channel_id")):
        for kind in kinds:
            counter[(scope, row[key], kind)] += 1
    for kind in kinds:
        counter[("global", "global", kind)] += 1


def _week_start(moment: datetime) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def demo_flow_nodes() -> list[dict[str, Any]]:
    """The demo's published pipeline (v2 composable flow)."""
    return [
        {"id": "inventory", "type": "inventory", "config": {"scope": "all", "includeStatuses": ["active"]}},
        {
            "id": "match",
            "type": "match_creatives",
            "config": {"placementMatchMode": "any", "requireCreative": True},
        },
        {
            "id": "enrich",
            "type": "enrich",
            "config": {"schemas": ["starbucks_customers"], "lookupKey": "customer_id"},
        },
        {"id": "qualify", "type": "qualify", "config": {"mode": "all"}},
        {"id": "contact", "type": "contact_policy", "config": {"mode": "all"}},
        {"id": "score", "type": "score", "config": {"method": "formula", "modelKey": "offer-scorecard"}},
        {"id": "rank", "type": "rank", "config": {"method": "diversity", "maxCandidates": 3}},
        {"id": "compute", "type": "compute", "config": {}},
        {"id": "response", "type": "response", "config": {"responseFormat": "standard"}},
    ]


async def dataset_digest(db: Database, tenant: str, anchor: datetime) -> str:
    """SHA-256 over offers, customers and interactions (timestamps as offsets from the anchor)."""
    digest = hashlib.sha256()
    async with db.session() as session:
        for model, order in (
            (Offer, Offer.id),
            (SchemaRow, SchemaRow.row_key),
            (Interaction, Interaction.id),
        ):
            rows = (
                await session.execute(select(model).where(model.tenant_id == tenant).order_by(order))
            ).scalars()
            for row in rows:
                data = row.to_dict()
                for key in ("createdAt", "updatedAt"):
                    data.pop(key, None)
                if isinstance(row, Interaction):
                    data["timestamp"] = round((row.timestamp - anchor).total_seconds(), 3)
                digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    return digest.hexdigest()
