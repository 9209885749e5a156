"""SQLAlchemy 2 tables for the whole entity model of decisioning-core.md section 2.

Every business table carries ``tenant_id``; repositories add the tenant filter,
so no query is built without one. Attribute names are snake_case; the wire
(camelCase) names come from ``to_dict``.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kaireon_mcp.storage.types import JsonType, UTCDateTime, utcnow

STATUSES = ("draft", "active", "paused", "archived")
ROLES = ("admin", "editor", "viewer")


@functools.cache
def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Base(DeclarativeBase):
    """Declarative base with camelCase serialisation shared by every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JsonType,
        list[Any]: JsonType,
        datetime: UTCDateTime(),
    }
    #: columns never serialised (secrets, hashes, internal blobs)
    __hidden__: ClassVar[frozenset[str]] = frozenset()
    #: id prefix used by ``new_id`` for this table
    __prefix__: ClassVar[str] = "id"
    #: entity type name used in audit logs and errors
    __entity__: ClassVar[str] = "entity"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, name in _serialised_columns(type(self)):
            value = getattr(self, key)
            if isinstance(value, datetime):
                value = value.isoformat().replace("+00:00", "Z")
            out[name] = value
        return out


@functools.cache
def _serialised_columns(table: type[Base]) -> tuple[tuple[str, str], ...]:
    """(attribute, camelCase name) of every visible column: worked out once per class, since list
    tools serialise hundreds of rows per call."""
    mapper = sa_inspect(table)
    out = []
    for column in table.__table__.columns:  # type: ignore[attr-defined]
        # the attribute may differ from the column (``metadata_`` maps column "metadata", since
        # ``metadata`` is SQLAlchemy's own): read the attribute, name it after the column
        attribute = mapper.get_property_by_column(column).key
        if attribute not in table.__hidden__:
            out.append((attribute, camel(column.key)))
    return tuple(out)


class Tenant(Base):
    __tablename__ = "tenants"
    __entity__ = "tenant"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantRow:
    """Mixin: id, tenant and timestamps shared by every tenant-owned table."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Versioned:
    """Mixin: optimistic version counter and soft delete."""

    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiKey(TenantRow, Base):
    __tablename__ = "api_keys"
    __prefix__ = "key"
    __entity__ = "api_key"
    __hidden__ = frozenset({"key_hash"})
    name: Mapped[str] = mapped_column(String(255), default="")
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class Category(TenantRow, Versioned, Base):
    __tablename__ = "categories"
    __prefix__ = "cat"
    __entity__ = "category"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[str] = mapped_column(String(64), default="")
    color: Mapped[str] = mapped_column(String(32), default="blue")
    status: Mapped[str] = mapped_column(String(16), default="active")
    ordinal: Mapped[int] = mapped_column(Integer, default=0)
    custom_fields: Mapped[list[Any]] = mapped_column(default=list)


class SubCategory(TenantRow, Versioned, Base):
    __tablename__ = "sub_categories"
    __prefix__ = "sub"
    __entity__ = "sub_category"
    __table_args__ = (UniqueConstraint("tenant_id", "category_id", "name"),)
    category_id: Mapped[str] = mapped_column(String(64), ForeignKey("categories.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    ordinal: Mapped[int] = mapped_column(Integer, default=0)
    custom_fields: Mapped[list[Any]] = mapped_column(default=list)


class Offer(TenantRow, Versioned, Base):
    __tablename__ = "offers"
    __prefix__ = "off"
    __entity__ = "offer"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("ix_offers_tenant_status", "tenant_id", "status"),
    )
    key: Mapped[str | None] = mapped_column(String(255), default=None)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    short_desc: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    category_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("categories.id"), default=None)
    sub_category_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("sub_categories.id"), default=None
    )
    priority: Mapped[int] = mapped_column(Integer, default=50)
    business_value: Mapped[int] = mapped_column(Integer, default=50)
    margin: Mapped[float | None] = mapped_column(Float, default=None)
    revenue_value: Mapped[float | None] = mapped_column(Float, default=None)
    product_type: Mapped[str | None] = mapped_column(String(128), default=None)
    weight: Mapped[int] = mapped_column(Integer, default=100)
    mandatory: Mapped[bool] = mapped_column(Boolean, default=False)
    mandatory_reason: Mapped[str | None] = mapped_column(Text, default=None)
    mandatory_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    mandatory_approved_by: Mapped[str | None] = mapped_column(String(128), default=None)
    emergency_excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    eligibility: Mapped[dict[str, Any]] = mapped_column(default=dict)
    budget: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inventory: Mapped[dict[str, Any]] = mapped_column(default=dict)
    frequency_caps: Mapped[dict[str, Any]] = mapped_column(default=dict)
    schedule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class Channel(TenantRow, Versioned, Base):
    __tablename__ = "channels"
    __prefix__ = "chn"
    __entity__ = "channel"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    __hidden__ = frozenset({"provider_config_encrypted"})
    name: Mapped[str] = mapped_column(String(255))
    channel_type: Mapped[str] = mapped_column(String(32), default="email")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    description: Mapped[str] = mapped_column(Text, default="")
    delivery_mode: Mapped[str] = mapped_column(String(16), default="api")
    impression_mode: Mapped[str] = mapped_column(String(16), default="explicit")
    coupling_mode: Mapped[str] = mapped_column(String(16), default="partial")
    provider_name: Mapped[str | None] = mapped_column(String(64), default=None)
    provider_config_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    file_config: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Placement(TenantRow, Versioned, Base):
    __tablename__ = "placements"
    __prefix__ = "plc"
    __entity__ = "placement"
    __table_args__ = (UniqueConstraint("tenant_id", "channel_id", "key"),)
    channel_id: Mapped[str] = mapped_column(String(64), ForeignKey("channels.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    slot_type: Mapped[str] = mapped_column(String(32), default="banner")
    max_slots: Mapped[int] = mapped_column(Integer, default=1)
    schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    targeting: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")


class Creative(TenantRow, Versioned, Base):
    __tablename__ = "creatives"
    __prefix__ = "crv"
    __entity__ = "creative"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    offer_id: Mapped[str] = mapped_column(String(64), ForeignKey("offers.id"), index=True)
    channel_id: Mapped[str] = mapped_column(String(64), ForeignKey("channels.id"), index=True)
    placement_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("placements.id"), default=None)
    content_item_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    template_type: Mapped[str] = mapped_column(String(32), default="email_html")
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    personalization: Mapped[list[Any]] = mapped_column(default=list)
    constraints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ab_test_variant: Mapped[str | None] = mapped_column(String(64), default=None)
    weight: Mapped[int] = mapped_column(Integer, default=100)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutcomeType(TenantRow, Versioned, Base):
    __tablename__ = "outcome_types"
    __prefix__ = "out"
    __entity__ = "outcome_type"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)


class RuleColumns(TenantRow, Versioned):
    """Shared shape of qualification rules and contact policies."""

    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    scope: Mapped[str] = mapped_column(String(32), default="global")
    scope_id: Mapped[str | None] = mapped_column(String(64), default=None)
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    rule_type: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=50)


class QualificationRule(RuleColumns, Base):
    __tablename__ = "qualification_rules"
    __prefix__ = "qr"
    __entity__ = "qualification_rule"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    stage: Mapped[str | None] = mapped_column(String(32), default=None)


class ContactPolicy(RuleColumns, Base):
    __tablename__ = "contact_policies"
    __prefix__ = "cp"
    __entity__ = "contact_policy"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class Guardrail(TenantRow, Versioned, Base):
    __tablename__ = "guardrails"
    __prefix__ = "grd"
    __entity__ = "guardrail"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    key: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(8), default="hard")
    expression_ast: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")


class DecisionFlow(TenantRow, Versioned, Base):
    __tablename__ = "decision_flows"
    __prefix__ = "flow"
    __entity__ = "decision_flow"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    auto_assembly: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    coupling_override: Mapped[str | None] = mapped_column(String(16), default=None)
    flow_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    published_version: Mapped[int] = mapped_column(Integer, default=0)


class DecisionFlowNode(TenantRow, Base):
    """One node of a flow's draft pipeline; ``position`` orders execution."""

    __tablename__ = "decision_flow_nodes"
    __prefix__ = "node"
    __entity__ = "decision_flow_node"
    __table_args__ = (UniqueConstraint("flow_id", "node_key"),)
    flow_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("decision_flows.id", ondelete="CASCADE"), index=True
    )
    node_key: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DecisionFlowVersion(TenantRow, Base):
    """Immutable published snapshot; the engine runs the latest one."""

    __tablename__ = "decision_flow_versions"
    __prefix__ = "fver"
    __entity__ = "decision_flow_version"
    __table_args__ = (UniqueConstraint("flow_id", "version"),)
    flow_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("decision_flows.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(128), default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    config_snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)


class FlowRoute(TenantRow, Base):
    __tablename__ = "flow_routes"
    __prefix__ = "route"
    __entity__ = "flow_route"
    __table_args__ = (UniqueConstraint("tenant_id", "channel_id", "placement_id"),)
    decision_flow_id: Mapped[str] = mapped_column(String(64), ForeignKey("decision_flows.id"), index=True)
    channel_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("channels.id"), default=None)
    placement_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("placements.id"), default=None)
    priority: Mapped[int] = mapped_column(Integer, default=0)


class RankingProfile(TenantRow, Versioned, Base):
    __tablename__ = "ranking_profiles"
    __prefix__ = "rp"
    __entity__ = "ranking_profile"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    weights: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AlgorithmModel(TenantRow, Versioned, Base):
    __tablename__ = "algorithm_models"
    __prefix__ = "mdl"
    __entity__ = "algorithm_model"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    model_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    registry_status: Mapped[str] = mapped_column(String(16), default="draft")
    family: Mapped[str | None] = mapped_column(String(255), default=None)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    target_field: Mapped[str | None] = mapped_column(String(255), default=None)
    target_schema_key: Mapped[str | None] = mapped_column(String(255), default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics_history: Mapped[list[Any]] = mapped_column(default=list)
    model_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    learning_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    auto_learn: Mapped[bool] = mapped_column(Boolean, default=False)
    learn_mode: Mapped[str] = mapped_column(String(16), default="none")
    learn_schedule: Mapped[str | None] = mapped_column(String(128), default=None)
    outcome_weights: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)
    training_samples: Mapped[int] = mapped_column(Integer, default=0)
    last_trained_at: Mapped[datetime | None] = mapped_column(default=None)


class Predictor(TenantRow, Base):
    __tablename__ = "predictors"
    __prefix__ = "prd"
    __entity__ = "predictor"
    __table_args__ = (UniqueConstraint("model_id", "field"),)
    model_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("algorithm_models.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(255))
    data_type: Mapped[str] = mapped_column(String(32), default="numeric")
    selected: Mapped[bool] = mapped_column(Boolean, default=True)
    importance: Mapped[float | None] = mapped_column(Float, default=None)


class ModelVersion(TenantRow, Base):
    __tablename__ = "model_versions"
    __prefix__ = "mver"
    __entity__ = "model_version"
    model_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("algorithm_models.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")


class ModelAdaptation(TenantRow, Base):
    """Adaptive-learning evidence per scope (offer, category, channel, direction, global)."""

    __tablename__ = "model_adaptations"
    __prefix__ = "adp"
    __entity__ = "model_adaptation"
    __table_args__ = (UniqueConstraint("tenant_id", "scope", "scope_id"),)
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[int] = mapped_column(Integer, default=0)
    positives: Mapped[int] = mapped_column(Integer, default=0)
    negatives: Mapped[int] = mapped_column(Integer, default=0)


class Experiment(TenantRow, Versioned, Base):
    __tablename__ = "experiments"
    __prefix__ = "exp"
    __entity__ = "experiment"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    champion_model_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("algorithm_models.id"), default=None
    )
    traffic_split: Mapped[dict[str, Any]] = mapped_column(default=lambda: {"championPct": 80})
    challengers: Mapped[list[Any]] = mapped_column(default=list)
    holdout_percent: Mapped[float] = mapped_column(Float, default=0.0)
    auto_promote: Mapped[bool] = mapped_column(Boolean, default=False)
    promote_threshold: Mapped[float] = mapped_column(Float, default=0.02)
    promote_after_days: Mapped[int] = mapped_column(Integer, default=14)
    started_at: Mapped[datetime | None] = mapped_column(default=None)


class VariantAssignment(TenantRow, Base):
    __tablename__ = "variant_assignments"
    __prefix__ = "va"
    __entity__ = "variant_assignment"
    __table_args__ = (UniqueConstraint("experiment_id", "customer_id"),)
    experiment_id: Mapped[str] = mapped_column(String(64), ForeignKey("experiments.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    variant: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str | None] = mapped_column(String(64), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class Journey(TenantRow, Versioned, Base):
    __tablename__ = "journeys"
    __prefix__ = "jrn"
    __entity__ = "journey"
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    max_duration_days: Mapped[int] = mapped_column(Integer, default=30)
    entry_condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    definition: Mapped[dict[str, Any]] = mapped_column(default=lambda: {"nodes": [], "edges": []})


class JourneyEnrollment(TenantRow, Base):
    __tablename__ = "journey_enrollments"
    __prefix__ = "enr"
    __entity__ = "journey_enrollment"
    journey_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("journeys.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    current_node_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    resume_at: Mapped[datetime | None] = mapped_column(default=None)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TriggerRule(TenantRow, Versioned, Base):
    __tablename__ = "trigger_rules"
    __prefix__ = "trg"
    __entity__ = "trigger_rule"
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    event_type: Mapped[str] = mapped_column(String(64))
    condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    action_type: Mapped[str] = mapped_column(String(32))
    action_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    cooldown_ms: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    last_fired: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DataSchema(TenantRow, Versioned, Base):
    __tablename__ = "schemas"
    __prefix__ = "sch"
    __entity__ = "schema"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    table_name: Mapped[str] = mapped_column(String(255))
    entity_type: Mapped[str] = mapped_column(String(16), default="custom")
    schema_type: Mapped[str] = mapped_column(String(32), default="customer")
    status: Mapped[str] = mapped_column(String(16), default="active")
    linked_schema_id: Mapped[str | None] = mapped_column(String(64), default=None)
    join_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    auto_enrich: Mapped[bool] = mapped_column(Boolean, default=True)
    primary_key: Mapped[str] = mapped_column(String(255), default="customer_id")


class SchemaField(TenantRow, Base):
    __tablename__ = "schema_fields"
    __prefix__ = "fld"
    __entity__ = "schema_field"
    __table_args__ = (UniqueConstraint("schema_id", "name"),)
    schema_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("schemas.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    data_type: Mapped[str] = mapped_column(String(32), default="varchar")
    length: Mapped[int | None] = mapped_column(Integer, default=None)
    precision: Mapped[int | None] = mapped_column(Integer, default=None)
    scale: Mapped[int | None] = mapped_column(Integer, default=None)
    is_nullable: Mapped[bool] = mapped_column(Boolean, default=True)
    is_primary_key: Mapped[bool] = mapped_column(Boolean, default=False)
    is_unique: Mapped[bool] = mapped_column(Boolean, default=False)
    is_predictor: Mapped[bool] = mapped_column(Boolean, default=False)
    default_value: Mapped[str | None] = mapped_column(Text, default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    ordinal: Mapped[int] = mapped_column(Integer, default=0)


class SchemaRow(TenantRow, Base):
    """A data row of a schema (customer rows live here, keyed by the schema's primary key)."""

    __tablename__ = "schema_rows"
    __prefix__ = "row"
    __entity__ = "schema_row"
    __table_args__ = (
        UniqueConstraint("schema_id", "row_key"),
        Index("ix_schema_rows_key", "tenant_id", "row_key"),
    )
    schema_id: Mapped[str] = mapped_column(String(64), ForeignKey("schemas.id", ondelete="CASCADE"))
    row_key: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Segment(TenantRow, Versioned, Base):
    __tablename__ = "segments"
    __prefix__ = "seg"
    __entity__ = "segment"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    entity_type: Mapped[str] = mapped_column(String(32), default="customer")
    base_schema_id: Mapped[str | None] = mapped_column(String(64), default=None)
    filters: Mapped[list[Any]] = mapped_column(default=list)
    customer_count: Mapped[int] = mapped_column(Integer, default=0)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(default=None)


class BehavioralMetric(TenantRow, Versioned, Base):
    __tablename__ = "behavioral_metrics"
    __prefix__ = "bm"
    __entity__ = "behavioral_metric"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    aggregate_function: Mapped[str] = mapped_column(String(16))
    source_field: Mapped[str] = mapped_column(String(64))
    window_days: Mapped[int | None] = mapped_column(Integer, default=None)
    group_by_dimensions: Mapped[list[Any]] = mapped_column(default=list)
    filter_conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sql_filter: Mapped[str | None] = mapped_column(Text, default=None)
    compute_mode: Mapped[str] = mapped_column(String(16), default="batch")
    batch_interval_min: Mapped[int] = mapped_column(Integer, default=60)
    status: Mapped[str] = mapped_column(String(16), default="active")
    last_computed_at: Mapped[datetime | None] = mapped_column(default=None)


class MetricValue(TenantRow, Base):
    __tablename__ = "metric_values"
    __prefix__ = "mv"
    __entity__ = "metric_value"
    __table_args__ = (UniqueConstraint("metric_id", "customer_id"),)
    metric_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("behavioral_metrics.id", ondelete="CASCADE")
    )
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Interaction(Base):
    """Interaction history: one row per recommendation, impression and outcome (append-only)."""

    __tablename__ = "interactions"
    __prefix__ = "ih"
    __entity__ = "interaction"
    __table_args__ = (
        Index("ix_ih_customer_time", "tenant_id", "customer_id", "timestamp"),
        Index("ix_ih_tenant_time", "tenant_id", "timestamp"),
        Index("ix_ih_offer_time", "tenant_id", "offer_id", "timestamp"),
        Index("ix_ih_recommendation", "tenant_id", "recommendation_id", "rank"),
        UniqueConstraint("tenant_id", "idempotency_key"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(128))
    offer_id: Mapped[str | None] = mapped_column(String(64), default=None)
    creative_id: Mapped[str | None] = mapped_column(String(64), default=None)
    channel_id: Mapped[str | None] = mapped_column(String(64), default=None)
    placement_id: Mapped[str | None] = mapped_column(String(64), default=None)
    category_id: Mapped[str | None] = mapped_column(String(64), default=None)
    decision_flow_id: Mapped[str | None] = mapped_column(String(64), default=None)
    recommendation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    rank: Mapped[int | None] = mapped_column(Integer, default=None)
    interaction_type: Mapped[str] = mapped_column(String(64))
    classification: Mapped[str] = mapped_column(String(16), default="neutral")
    is_impression: Mapped[bool] = mapped_column(Boolean, default=False)
    direction: Mapped[str] = mapped_column(String(16), default="outbound")
    conversion_value: Mapped[float | None] = mapped_column(Float, default=None)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class DecisionTrace(TenantRow, Base):
    __tablename__ = "decision_traces"
    __prefix__ = "trc"
    __entity__ = "decision_trace"
    __table_args__ = (Index("ix_trace_customer", "tenant_id", "customer_id", "created_at"),)
    customer_id: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    decision_flow_id: Mapped[str | None] = mapped_column(String(64), default=None)
    decision_flow_key: Mapped[str | None] = mapped_column(String(255), default=None)
    flow_version: Mapped[int | None] = mapped_column(Integer, default=None)
    channel_id: Mapped[str | None] = mapped_column(String(64), default=None)
    placement_id: Mapped[str | None] = mapped_column(String(64), default=None)
    input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pipeline: Mapped[list[Any]] = mapped_column(default=list)
    funnel: Mapped[dict[str, Any]] = mapped_column(default=dict)
    qualification_results: Mapped[list[Any]] = mapped_column(default=list)
    contact_policy_results: Mapped[list[Any]] = mapped_column(default=list)
    scoring_results: Mapped[list[Any]] = mapped_column(default=list)
    dropped: Mapped[list[Any]] = mapped_column(default=list)
    selected_offers: Mapped[list[Any]] = mapped_column(default=list)
    channel_coupling: Mapped[list[Any]] = mapped_column(default=list)
    experiment_assignment: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)
    degraded_scoring: Mapped[bool] = mapped_column(Boolean, default=False)
    total_duration_ms: Mapped[float] = mapped_column(Float, default=0.0)


class AuditLog(Base):
    """Append-only, hash-chained audit trail with field-level diffs."""

    __tablename__ = "audit_logs"
    __prefix__ = "aud"
    __entity__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "tenant_id", "entity_type", "entity_id"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64), default=None)
    entity_name: Mapped[str | None] = mapped_column(String(255), default=None)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)
    entity_version: Mapped[int | None] = mapped_column(Integer, default=None)
    user_id: Mapped[str | None] = mapped_column(String(128), default=None)
    user_name: Mapped[str | None] = mapped_column(String(255), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    integrity_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class ApprovalRequest(TenantRow, Base):
    __tablename__ = "approval_requests"
    __prefix__ = "apr"
    __entity__ = "approval_request"
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64), default=None)
    entity_name: Mapped[str | None] = mapped_column(String(255), default=None)
    action: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stages: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requester_id: Mapped[str | None] = mapped_column(String(128), default=None)
    requester_name: Mapped[str | None] = mapped_column(String(255), default=None)
    decisions: Mapped[list[Any]] = mapped_column(default=list)


class AlertRule(TenantRow, Versioned, Base):
    __tablename__ = "alert_rules"
    __prefix__ = "alr"
    __entity__ = "alert_rule"
    name: Mapped[str] = mapped_column(String(255))
    metric: Mapped[str] = mapped_column(String(64))
    operator: Mapped[str] = mapped_column(String(8))
    threshold: Mapped[float] = mapped_column(Float)
    window_minutes: Mapped[int] = mapped_column(Integer, default=5)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    cooldown_minutes: Mapped[int] = mapped_column(Integer, default=60)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    last_value: Mapped[float | None] = mapped_column(Float, default=None)
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)


class ConsentRecord(TenantRow, Base):
    __tablename__ = "consent_records"
    __prefix__ = "cns"
    __entity__ = "consent_record"
    __table_args__ = (UniqueConstraint("tenant_id", "subject_id", "purpose"),)
    subject_id: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="granted")
    source: Mapped[str] = mapped_column(String(16), default="manual")
    granted_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Connector(TenantRow, Versioned, Base):
    __tablename__ = "connectors"
    __prefix__ = "con"
    __entity__ = "connector"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    __hidden__ = frozenset({"auth_config_encrypted"})
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    auth_method: Mapped[str] = mapped_column(String(32), default="access_key")
    auth_config_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")
    last_test_status: Mapped[str | None] = mapped_column(String(16), default=None)
    last_test_at: Mapped[datetime | None] = mapped_column(default=None)
    last_test_latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Pipeline(TenantRow, Versioned, Base):
    __tablename__ = "pipelines"
    __prefix__ = "pipe"
    __entity__ = "pipeline"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    connector_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("connectors.id"), default=None)
    schema_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("schemas.id"), default=None)
    ir_native: Mapped[bool] = mapped_column(Boolean, default=True)
    ir: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ir_version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="active")
    last_run_status: Mapped[str | None] = mapped_column(String(32), default=None)


class PipelineVersion(TenantRow, Base):
    __tablename__ = "pipeline_versions"
    __prefix__ = "pver"
    __entity__ = "pipeline_version"
    pipeline_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    ir: Mapped[dict[str, Any]] = mapped_column(default=dict)
    authored_by: Mapped[str | None] = mapped_column(String(128), default=None)
    comment: Mapped[str] = mapped_column(Text, default="")


class PipelineRun(TenantRow, Base):
    __tablename__ = "pipeline_runs"
    __prefix__ = "run"
    __entity__ = "pipeline_run"
    pipeline_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(32), default="pending")
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    log: Mapped[list[Any]] = mapped_column(default=list)
    replay_of: Mapped[str | None] = mapped_column(String(64), default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ContentItem(TenantRow, Versioned, Base):
    __tablename__ = "content_items"
    __prefix__ = "ci"
    __entity__ = "content_item"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    channel_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    blocks: Mapped[list[Any]] = mapped_column(default=list)
    personalization: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parent_template_id: Mapped[str | None] = mapped_column(String(64), default=None)
    is_template: Mapped[bool] = mapped_column(Boolean, default=False)
    category: Mapped[str | None] = mapped_column(String(64), default=None)
    variables: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    source_type: Mapped[str] = mapped_column(String(32), default="native")
    source_id: Mapped[str | None] = mapped_column(String(64), default=None)


class ContentItemVersion(TenantRow, Base):
    __tablename__ = "content_item_versions"
    __prefix__ = "civ"
    __entity__ = "content_item_version"
    content_item_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("content_items.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ContentSource(TenantRow, Versioned, Base):
    __tablename__ = "content_sources"
    __prefix__ = "cs"
    __entity__ = "content_source"
    name: Mapped[str] = mapped_column(String(255))
    source_type: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    items: Mapped[list[Any]] = mapped_column(default=list)
    last_synced_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")


class AiConversation(TenantRow, Base):
    __tablename__ = "ai_conversations"
    __prefix__ = "conv"
    __entity__ = "ai_conversation"
    user_id: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    title: Mapped[str] = mapped_column(String(255), default="New conversation")
    route: Mapped[str] = mapped_column(String(255), default="/")


class AiMessage(TenantRow, Base):
    __tablename__ = "ai_messages"
    __prefix__ = "msg"
    __entity__ = "ai_message"
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("ai_conversations.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer, default=0)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    parts: Mapped[list[Any] | None] = mapped_column(JsonType, default=None)
    tool_invocations: Mapped[list[Any] | None] = mapped_column(JsonType, default=None)


class AiRecommendation(TenantRow, Base):
    __tablename__ = "ai_recommendations"
    __prefix__ = "airec"
    __entity__ = "ai_recommendation"
    type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    confidence: Mapped[str] = mapped_column(String(8), default="medium")
    source: Mapped[str] = mapped_column(String(16), default="llm")
    status: Mapped[str] = mapped_column(String(16), default="new")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    applied_entity_id: Mapped[str | None] = mapped_column(String(64), default=None)


class AnalyzerSettings(Base):
    """Per-tenant analyzer settings (segmentation, policy, content, ruleBuilder)."""

    __tablename__ = "analyzer_settings"
    __entity__ = "analyzer_settings"
    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiAttachment(TenantRow, Base):
    __tablename__ = "ai_attachments"
    __prefix__ = "att"
    __entity__ = "ai_attachment"
    __table_args__ = (UniqueConstraint("tenant_id", "sha256"),)
    __hidden__ = frozenset({"data"})
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    conversation_id: Mapped[str | None] = mapped_column(String(64), default=None)


class AiImportProposal(TenantRow, Base):
    __tablename__ = "ai_import_proposals"
    __prefix__ = "prop"
    __entity__ = "ai_import_proposal"
    attachment_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("ai_attachments.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    entity_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_page_number: Mapped[int | None] = mapped_column(Integer, default=None)
    source_quote: Mapped[str] = mapped_column(Text, default="")
    dedupe_match: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)


class AiImportApply(TenantRow, Base):
    __tablename__ = "ai_import_applies"
    __prefix__ = "apply"
    __entity__ = "ai_import_apply"
    attachment_id: Mapped[str] = mapped_column(String(64), ForeignKey("ai_attachments.id"))
    conversation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_entity_ids: Mapped[list[Any]] = mapped_column(default=list)
    merged: Mapped[list[Any]] = mapped_column(default=list)
    skipped: Mapped[list[Any]] = mapped_column(default=list)
    reverted_at: Mapped[datetime | None] = mapped_column(default=None)
    revert_summary: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)


class SkipDigest(TenantRow, Base):
    __tablename__ = "skip_digests"
    __prefix__ = "skip"
    __entity__ = "skip_digest"
    __table_args__ = (UniqueConstraint("tenant_id", "digest"),)
    digest: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64), default="")
    apply_id: Mapped[str | None] = mapped_column(String(64), default=None)


class BatchRun(TenantRow, Base):
    """A batch decisioning run (flow x customer list), e.g. file delivery."""

    __tablename__ = "batch_runs"
    __prefix__ = "brun"
    __entity__ = "batch_run"
    decision_flow_id: Mapped[str | None] = mapped_column(String(64), default=None)
    channel_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    output_path: Mapped[str | None] = mapped_column(Text, default=None)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


ENTITY_TABLES: dict[str, type[Base]] = {
    cls.__entity__: cls  # type: ignore[misc]
    for cls in Base.__subclasses__()
    if hasattr(cls, "__tablename__")
}
