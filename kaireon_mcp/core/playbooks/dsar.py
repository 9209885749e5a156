"""GDPR Art. 15 subject-access bundle for one customer (``playbook_generate_dsar_export``).

Profile data (schema rows keyed by the customer) and consent records are current state and
are always included; time-stamped records (interactions, decision traces, journey
enrollments, experiment assignments) are limited to ``[from, to]`` when given. Each trace
carries a deterministic regulator narrative, which also serves Art. 15(1)(h) (meaningful
information about the logic of automated decisions) without sending the subject's data
to an external model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.sql.elements import ColumnElement

from kaireon_mcp.core.playbooks import narratives
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    ConsentRecord,
    DataSchema,
    DecisionTrace,
    Interaction,
    JourneyEnrollment,
    MetricValue,
    Offer,
    SchemaRow,
    VariantAssignment,
)
from kaireon_mcp.storage.types import utcnow

SECTIONS = (
    "schemaRows",
    "interactions",
    "decisionTraces",
    "consentRecords",
    "journeyEnrollments",
    "experimentAssignments",
    "metricValues",
)


def _window(column: Any, start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if start is not None:
        where.append(column >= start)
    if end is not None:
        where.append(column <= end)
    return where


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("tenantId", None)
    return row


async def _schema_rows(repo: Repository, customer_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(DataSchema.name, SchemaRow)
        .join(SchemaRow, SchemaRow.schema_id == DataSchema.id)
        .where(
            repo.tenant_filter(SchemaRow), SchemaRow.row_key == customer_id, DataSchema.deleted_at.is_(None)
        )
        .order_by(DataSchema.name)
    )
    return [
        {"schema": name, "rowKey": row.row_key, "data": row.data, "updatedAt": row.to_dict()["updatedAt"]}
        for name, row in (await repo.session.execute(stmt)).all()
    ]


async def _rows(
    repo: Repository, model: Any, *where: ColumnElement[bool], order: Any
) -> list[dict[str, Any]]:
    stmt = repo.scoped(model).where(*where).order_by(order, model.id)
    return [_clean(r.to_dict()) for r in (await repo.session.execute(stmt)).scalars().all()]


async def _offer_names(repo: Repository, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    stmt = select(Offer.id, Offer.name).where(repo.tenant_filter(Offer), Offer.id.in_(sorted(ids)))
    return {oid: name for oid, name in (await repo.session.execute(stmt)).all()}


async def _traces(
    repo: Repository, customer_id: str, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    traces = await _rows(
        repo,
        DecisionTrace,
        DecisionTrace.customer_id == customer_id,
        *_window(DecisionTrace.created_at, start, end),
        order=DecisionTrace.created_at,
    )
    ids = {
        str(r.get("offerId"))
        for t in traces
        for r in (t.get("scoringResults") or []) + (t.get("selectedOffers") or [])
    }
    names = await _offer_names(repo, ids)
    for trace in traces:
        trace["regulatorNarrative"] = narratives.template(trace, "regulator", names)["narrative"]
    return traces


async def collect(
    repo: Repository, customer_id: str, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """Every record this tenant holds about ``customer_id``, grouped by kind, with counts."""
    sections: dict[str, list[dict[str, Any]]] = {
        "schemaRows": await _schema_rows(repo, customer_id),
        "interactions": await _rows(
            repo,
            Interaction,
            Interaction.customer_id == customer_id,
            *_window(Interaction.timestamp, start, end),
            order=Interaction.timestamp,
        ),
        "decisionTraces": await _traces(repo, customer_id, start, end),
        "consentRecords": await _rows(
            repo, ConsentRecord, ConsentRecord.subject_id == customer_id, order=ConsentRecord.purpose
        ),
        "journeyEnrollments": await _rows(
            repo,
            JourneyEnrollment,
            JourneyEnrollment.customer_id == customer_id,
            *_window(JourneyEnrollment.entered_at, start, end),
            order=JourneyEnrollment.entered_at,
        ),
        "experimentAssignments": await _rows(
            repo,
            VariantAssignment,
            VariantAssignment.customer_id == customer_id,
            *_window(VariantAssignment.created_at, start, end),
            order=VariantAssignment.created_at,
        ),
        "metricValues": await _rows(
            repo, MetricValue, MetricValue.customer_id == customer_id, order=MetricValue.metric_id
        ),
    }
    return {
        "subjectId": customer_id,
        "legalBasis": "GDPR Art. 15 (right of access by the data subject)",
        "period": {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None},
        "generatedAt": utcnow().isoformat().replace("+00:00", "Z"),
        "counts": {name: len(sections[name]) for name in SECTIONS},
        **sections,
    }
