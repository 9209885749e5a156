"""Offline shadow comparison of two models on recent decisions (run shadow experiment).

For each recent trace, every offer the decision scored or selected becomes one sample:
the customer's profile attributes (customer-entity schema rows, overlaid with the
request's own ``attributes`` exactly as recommend does), the offer, and a label saying
whether that recommendation later got a positive outcome (an Interaction with the trace's
``requestId`` as recommendationId, the same offer and a positive classification). Both
models score every sample with their MODEL_TYPES scorer; the comparison is AUC on those
labels, which is what a shadow period would measure live, obtained from history at once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from kaireon_mcp.core.models import MODEL_TYPES
from kaireon_mcp.core.models.metrics import roc_auc
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AlgorithmModel, DataSchema, DecisionTrace, Interaction, SchemaRow

MIN_SAMPLES = 30
MIN_PER_CLASS = 5
PROMOTE_AUC_GAIN = 0.01
CHUNK = 500


@dataclass(frozen=True)
class Sample:
    trace_id: str
    offer_id: str
    features: dict[str, Any]
    label: int


async def resolve_models(
    repo: Repository, challenger_id: str, champion_id: str | None
) -> tuple[AlgorithmModel, AlgorithmModel]:
    """(champion, challenger); the champion defaults to the challenger's family champion."""
    challenger = await repo.get(AlgorithmModel, challenger_id)
    if champion_id:
        champion = await repo.get(AlgorithmModel, champion_id)
    else:
        family = challenger.family or challenger.key
        found = await repo.all(
            AlgorithmModel,
            AlgorithmModel.family == family,
            AlgorithmModel.registry_status == "champion",
            AlgorithmModel.id != challenger.id,
        )
        if not found:
            raise ValidationError(
                f"family {family!r} has no champion; pass championModelId", field="championModelId"
            )
        champion = found[0]
    if champion.id == challenger.id:
        raise ValidationError("champion and challenger must be different models", field="championModelId")
    for model in (champion, challenger):
        if not MODEL_TYPES[model.model_type].runnable:
            raise ValidationError(
                f"{model.key} ({model.model_type}) cannot be scored in-process", field="challengerModelId"
            )
    return champion, challenger


async def _profiles(repo: Repository, customer_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(customer_ids), CHUNK):
        stmt = (
            select(SchemaRow.row_key, SchemaRow.data)
            .join(DataSchema, DataSchema.id == SchemaRow.schema_id)
            .where(
                repo.tenant_filter(SchemaRow),
                DataSchema.entity_type == "customer",
                DataSchema.deleted_at.is_(None),
                SchemaRow.row_key.in_(list(customer_ids[start : start + CHUNK])),
            )
            .order_by(DataSchema.created_at)
        )
        for key, data in (await repo.session.execute(stmt)).all():
            profile = out.setdefault(key, {})
            for name, value in (data or {}).items():
                profile.setdefault(name, value)
    return out


async def _positives(repo: Repository, request_ids: Sequence[str]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for start in range(0, len(request_ids), CHUNK):
        stmt = select(Interaction.recommendation_id, Interaction.offer_id).where(
            Interaction.tenant_id == repo.ctx.tenant_id,
            Interaction.recommendation_id.in_(list(request_ids[start : start + CHUNK])),
            Interaction.classification == "positive",
        )
        found |= {(str(r), str(o)) for r, o in (await repo.session.execute(stmt)).all()}
    return found


def _offers(trace: DecisionTrace) -> list[str]:
    rows = (trace.selected_offers or []) + (trace.scoring_results or [])
    return list(dict.fromkeys(str(r["offerId"]) for r in rows if r.get("offerId")))


def _features(profile: Mapping[str, Any], trace: DecisionTrace) -> dict[str, Any]:
    supplied = (trace.input or {}).get("attributes") or {}
    merged = {**profile, **{k: v for k, v in supplied.items() if k != "propensityScores"}}
    return {k: v for k, v in merged.items() if "." not in k}


async def load_samples(repo: Repository, trace_limit: int) -> tuple[list[Sample], int]:
    """(samples from the newest ``trace_limit`` traces, number of traces read)."""
    stmt = (
        repo.scoped(DecisionTrace)
        .order_by(DecisionTrace.created_at.desc(), DecisionTrace.id)
        .limit(trace_limit)
    )
    traces = list((await repo.session.execute(stmt)).scalars().all())
    profiles = await _profiles(repo, sorted({t.customer_id for t in traces}))
    positives = await _positives(repo, sorted({t.request_id for t in traces}))
    samples = [
        Sample(
            t.id,
            offer,
            _features(profiles.get(t.customer_id, {}), t),
            int((t.request_id, offer) in positives),
        )
        for t in traces
        for offer in _offers(t)
    ]
    return samples, len(traces)


def score_all(model: AlgorithmModel, samples: Sequence[Sample]) -> list[float | None]:
    """Each sample's score; None where the scorer failed (counted, never fatal)."""
    spec = MODEL_TYPES[model.model_type]
    out: list[float | None] = []
    for s in samples:
        try:
            result = spec.score(
                model.config or {},
                model.model_state or {},
                s.features,
                s.offer_id,
                random.Random(f"{s.trace_id}:{s.offer_id}"),
            )
            out.append(float(result.score))
        except Exception:  # noqa: BLE001 - one bad row must not sink the comparison
            out.append(None)
    return out


def _model_report(
    model: AlgorithmModel, scores: Sequence[float], labels: Sequence[int], errors: int
) -> dict[str, Any]:
    auc = roc_auc(labels, scores) if 0 < sum(labels) < len(labels) else None
    return {
        "modelId": model.id,
        "key": model.key,
        "modelType": model.model_type,
        "registryStatus": model.registry_status,
        "scored": len(scores),
        "errors": errors,
        "meanScore": round(sum(scores) / len(scores), 6) if scores else None,
        "auc": None if auc is None else round(auc, 6),
    }


def compare(
    champion: AlgorithmModel, challenger: AlgorithmModel, samples: Sequence[Sample]
) -> dict[str, Any]:
    """Per-model AUC and mean score on the samples both could score, the uplift and a verdict."""
    champ, chall = score_all(champion, samples), score_all(challenger, samples)
    both = [
        (a, b, s.label)
        for a, b, s in zip(champ, chall, samples, strict=True)
        if a is not None and b is not None
    ]
    labels = [y for _, _, y in both]
    reports = [
        _model_report(champion, [a for a, _, _ in both], labels, champ.count(None)),
        _model_report(challenger, [b for _, b, _ in both], labels, chall.count(None)),
    ]
    positives = sum(labels)
    out: dict[str, Any] = {
        "samples": len(both),
        "positives": positives,
        "champion": reports[0],
        "challenger": reports[1],
    }
    if len(both) < MIN_SAMPLES or min(positives, len(both) - positives) < MIN_PER_CLASS:
        return {
            **out,
            "uplift": None,
            "verdict": "insufficient_data",
            "reason": f"needs {MIN_SAMPLES}+ scored samples with {MIN_PER_CLASS}+ of each outcome",
        }
    gain = reports[1]["auc"] - reports[0]["auc"]
    verdict = "promote" if gain >= PROMOTE_AUC_GAIN else "keep_champion"
    return {
        **out,
        "uplift": {
            "aucDelta": round(gain, 6),
            "relative": round(gain / reports[0]["auc"], 6) if reports[0]["auc"] else None,
        },
        "verdict": verdict,
        "reason": f"challenger AUC {'beats' if verdict == 'promote' else 'does not beat'} the champion by "
        f"{PROMOTE_AUC_GAIN}+",
    }
