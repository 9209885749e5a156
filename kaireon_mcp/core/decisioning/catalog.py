"""The tenant's decisioning inventory, loaded once per decision (or once per batch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from kaireon_mcp.core.contact_policy import PolicySpec
from kaireon_mcp.core.qualification import RuleSpec
from kaireon_mcp.core.scoring import AdaptationCounts
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    Category,
    Channel,
    ContactPolicy,
    Creative,
    Experiment,
    ModelAdaptation,
    Offer,
    OutcomeType,
    Placement,
    QualificationRule,
    RankingProfile,
    SubCategory,
    Tenant,
)


def rule_spec(row: QualificationRule) -> RuleSpec:
    return RuleSpec.from_dict(row.to_dict())


@dataclass
class Catalog:
    """Everything the pipeline reads that does not depend on the customer."""

    settings: dict[str, Any]
    offers: dict[str, dict[str, Any]]
    creatives_by_offer: dict[str, list[dict[str, Any]]]
    channels: dict[str, dict[str, Any]]
    placements: dict[str, dict[str, Any]]
    categories: dict[str, dict[str, Any]]
    rules: list[RuleSpec]
    policies: list[PolicySpec]
    models: dict[str, dict[str, Any]]
    experiments: list[dict[str, Any]]
    profiles: dict[str, dict[str, Any]]
    adaptations: dict[tuple[str, str], AdaptationCounts]
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def channel_by_ref(self, ref: str | None) -> dict[str, Any] | None:
        """A channel by id, name or type (the API accepts all three)."""
        if not ref:
            return None
        if ref in self.channels:
            return self.channels[ref]
        active = sorted(self.channels.values(), key=lambda c: (c["status"] != "active", c["createdAt"]))
        for key in ("name", "channelType"):
            for channel in active:
                if str(channel.get(key, "")).lower() == ref.lower():
                    return channel
        return None

    def placement_by_ref(self, channel: dict[str, Any] | None, ref: str | None) -> dict[str, Any] | None:
        if not ref:
            return None
        if ref in self.placements:
            return self.placements[ref]
        for plc in self.placements.values():
            if (channel is None or plc["channelId"] == channel["id"]) and ref in (plc["key"], plc["name"]):
                return plc
        return None

    def channel_placements(self, channel_id: str) -> list[dict[str, Any]]:
        return [
            p for p in self.placements.values() if p["channelId"] == channel_id and p["status"] == "active"
        ]

    def adaptation(self, scope: str, scope_id: str | None) -> AdaptationCounts | None:
        return self.adaptations.get((scope, scope_id or ""))


async def load_catalog(repo: Repository) -> Catalog:
    tenant = await repo.session.get(Tenant, repo.ctx.tenant_id)
    categories = {c.id: c.to_dict() for c in await repo.all(Category)}
    subs = {s.id: s.to_dict() for s in await repo.all(SubCategory)}
    offers = {}
    for row in await repo.all(Offer):
        offer = row.to_dict()
        offer["categoryName"] = categories.get(row.category_id or "", {}).get("name")
        offer["subCategoryName"] = subs.get(row.sub_category_id or "", {}).get("name")
        offers[row.id] = offer
    creatives: dict[str, list[dict[str, Any]]] = {}
    for creative in await repo.all(Creative, order_by=[Creative.name]):
        creatives.setdefault(creative.offer_id, []).append(creative.to_dict())
    channels = {c.id: c.to_dict() for c in await repo.all(Channel)}
    placements = {p.id: p.to_dict() for p in await repo.all(Placement)}
    rules = [
        RuleSpec.from_dict(r.to_dict()) for r in await repo.all(QualificationRule) if r.status == "active"
    ]
    policies = [
        PolicySpec.from_dict(p.to_dict()) for p in await repo.all(ContactPolicy) if p.status == "active"
    ]
    models = {m.key: m.to_dict() for m in await repo.all(AlgorithmModel)}
    experiments = [e.to_dict() for e in await repo.all(Experiment) if e.status in {"active", "running"}]
    profiles = {p.id: p.to_dict() for p in await repo.all(RankingProfile)}
    adaptation_rows = (
        await repo.session.execute(select(ModelAdaptation).where(repo.tenant_filter(ModelAdaptation)))
    ).scalars()
    adaptations = {(a.scope, a.scope_id): AdaptationCounts(a.evidence, a.positives) for a in adaptation_rows}
    outcomes = {o.key: o.to_dict() for o in await repo.all(OutcomeType)}
    return Catalog(
        settings=dict(tenant.settings or {}) if tenant else {},
        offers=offers,
        creatives_by_offer=creatives,
        channels=channels,
        placements=placements,
        categories=categories,
        rules=rules,
        policies=policies,
        models=models,
        experiments=experiments,
        profiles=profiles,
        adaptations=adaptations,
        outcomes=outcomes,
    )
