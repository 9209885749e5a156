"""The tenant's decisioning inventory, loaded once per decision (or once per batch)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import String, bindparam, func, null, select, type_coerce, union_all

from kaireon_mcp.core.contact_policy import PolicySpec
from kaireon_mcp.core.qualification import RuleSpec
from kaireon_mcp.core.scoring import AdaptationCounts
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    Category,
    Channel,
    ConsentRecord,
    ContactPolicy,
    Creative,
    DecisionFlow,
    DecisionFlowVersion,
    Experiment,
    FlowRoute,
    ModelAdaptation,
    Offer,
    OutcomeType,
    Placement,
    QualificationRule,
    RankingProfile,
    SubCategory,
    Tenant,
)


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
    #: the tenant has at least one ConsentRecord (read with the fingerprint); without any, a
    #: decision reads no consent records at all
    has_consent_records: bool = False
    #: flows resolved per (flow key, channel id, placement id); shared by copies of one load
    resolved_flows: dict[tuple[str | None, str | None, str | None], Any] = field(default_factory=dict)

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


#: per-process cache of a tenant's catalogue, keyed by (database URL, tenant id)
_CACHE: dict[tuple[str, str], _Cached] = {}
CATALOG_TTL_S = 300.0
_STATIC_TABLES: tuple[Any, ...] = (
    Offer,
    Creative,
    Channel,
    Placement,
    Category,
    SubCategory,
    QualificationRule,
    ContactPolicy,
    Experiment,
    RankingProfile,
    OutcomeType,
    DecisionFlow,
    DecisionFlowVersion,
    FlowRoute,
    Tenant,
)
#: learning state: moves with every classified response, so it is versioned on its own
_LEARNING_TABLES: tuple[Any, ...] = (AlgorithmModel, ModelAdaptation)


@dataclass
class _Cached:
    static_version: tuple[Any, ...]
    learning_version: tuple[Any, ...]
    loaded_at: float
    catalog: Catalog


def _fingerprint_statement() -> Any:
    """``count(*), max(updated_at)`` of every catalogue table for one tenant, as one query.

    Built once: the same statement object lets SQLAlchemy reuse its compiled form, which is
    most of what this check costs (building it per decision took longer than running it).
    The newest ``updated_at`` is only compared with the previous check's, so it is read as
    the driver returns it (``type_coerce``, no SQL change) instead of parsed into a datetime.

    The last row says whether the tenant has any consent record (1 or 0: a count over at most
    one row of the ``tenant_id`` index, so it stays cheap however many records there are).
    Only that fact is cached; the records themselves are read per decision, so consent
    changes never reload the catalogue.
    """
    parts = []
    for model in (*_STATIC_TABLES, *_LEARNING_TABLES):
        key = model.id if model is Tenant else model.tenant_id
        newest = type_coerce(func.max(model.updated_at), String)
        parts.append(select(func.count(), newest).where(key == bindparam("tenant")))
    any_consent = (
        select(ConsentRecord.id).where(ConsentRecord.tenant_id == bindparam("tenant")).limit(1).subquery()
    )
    parts.append(select(func.count(), type_coerce(null(), String)).select_from(any_consent))
    return union_all(*parts)


_FINGERPRINT = _fingerprint_statement()


async def catalog_version(repo: Repository) -> tuple[Any, ...]:
    """Row count and newest ``updated_at`` of every catalogue table, in one round trip.

    Any insert, update or (soft) delete moves one of them, whoever wrote it (a tool, a bulk
    load, another process), so a cached catalogue is never served after a change.
    """
    rows = await repo.select_rows(_FINGERPRINT, {"tenant": repo.ctx.tenant_id})
    return tuple((int(count), str(newest)) for count, newest in rows)


async def load_catalog(repo: Repository) -> Catalog:
    """The tenant's catalogue, reloaded only when its fingerprint moved (or after the TTL).

    Configuration and learning state are versioned apart: a response that updates a model
    reloads models and adaptations but not offers, rules, policies and resolved flows. Whether
    the tenant has consent records is a flag on the catalogue, set from the same query.
    """
    version = await catalog_version(repo)
    static_end = len(_STATIC_TABLES)
    learning_end = static_end + len(_LEARNING_TABLES)
    static_version, learning_version = version[:static_end], version[static_end:learning_end]
    has_consent = bool(version[learning_end][0])
    bind: Any = repo.session.bind
    where = (str(getattr(bind, "url", "")), repo.ctx.tenant_id)
    cached = _CACHE.get(where)
    fresh = cached is not None and time.monotonic() - cached.loaded_at < CATALOG_TTL_S
    if cached is not None and fresh and cached.static_version == static_version:
        if cached.learning_version == learning_version:
            if cached.catalog.has_consent_records == has_consent:
                return cached.catalog
            catalog = replace(cached.catalog, has_consent_records=has_consent)
        else:
            learning = await _single_flight(
                (where, "learning", learning_version), lambda: _load_learning(repo)
            )
            catalog = replace(cached.catalog, has_consent_records=has_consent, **learning)
        _CACHE[where] = _Cached(static_version, learning_version, cached.loaded_at, catalog)
        return catalog

    async def load_all() -> Catalog:
        return replace(await _load_static(repo), **await _load_learning(repo))

    loaded = await _single_flight((where, "all", static_version, learning_version), load_all)
    catalog = replace(loaded, has_consent_records=has_consent)
    _CACHE[where] = _Cached(static_version, learning_version, time.monotonic(), catalog)
    return catalog


#: loads under way, per event loop: concurrent decisions that find the same stale catalogue
#: (at start, after a configuration change, after each response for the learning state) wait
#: for one load instead of each running its own
_IN_FLIGHT: dict[tuple[int, Hashable], asyncio.Future[Any]] = {}


class _LeaderFailed(Exception):
    """The load a caller was waiting for failed or was cancelled: the caller loads itself."""


async def _single_flight(key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
    loop = asyncio.get_running_loop()
    flight = (id(loop), key)
    leader = _IN_FLIGHT.get(flight)
    if leader is not None:
        try:
            return await asyncio.shield(leader)
        except _LeaderFailed:
            return await load()
    future: asyncio.Future[Any] = loop.create_future()
    _IN_FLIGHT[flight] = future
    try:
        result = await load()
    except BaseException:
        future.set_exception(_LeaderFailed())
        future.exception()  # retrieved: no "never retrieved" warning when nobody waited
        raise
    finally:
        if _IN_FLIGHT.get(flight) is future:
            del _IN_FLIGHT[flight]
    future.set_result(result)
    return result


async def _load_learning(repo: Repository) -> dict[str, Any]:
    models = {m.key: m.to_dict() for m in await repo.all(AlgorithmModel)}
    adaptation_rows = (
        await repo.session.execute(select(ModelAdaptation).where(repo.tenant_filter(ModelAdaptation)))
    ).scalars()
    adaptations = {(a.scope, a.scope_id): AdaptationCounts(a.evidence, a.positives) for a in adaptation_rows}
    return {"models": models, "adaptations": adaptations}


async def _load_static(repo: Repository) -> Catalog:
    tenant = await repo.session.get(Tenant, repo.ctx.tenant_id)
    categories = {c.id: c.to_dict() for c in await repo.all(Category)}
    subs = {s.id: s.to_dict() for s in await repo.all(SubCategory)}
    offers = {}
    for row in await repo.all(Offer):
        offer = row.to_dict()
        # ``Offer.to_dict`` reads the column key ``metadata`` (the declarative ``MetaData``
        # attribute), not ``metadata_``, so it always yields {}; the catalogue reads the column
        offer["metadata"] = dict(row.metadata_ or {})
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
    experiments = [e.to_dict() for e in await repo.all(Experiment) if e.status in {"active", "running"}]
    profiles = {p.id: p.to_dict() for p in await repo.all(RankingProfile)}
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
        models={},
        experiments=experiments,
        profiles=profiles,
        adaptations={},
        outcomes=outcomes,
    )
