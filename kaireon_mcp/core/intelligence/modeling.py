"""Model intelligence: analyzeModelHealth, explainModelScoring, suggestModelImprovements,
detectModelDrift.

Scores always come from the model type's registered scorer (``core.models.MODEL_TYPES``) on
the features the engine would pass it (enriched customer attributes without schema-prefixed
keys), and drift uses the shared metrics (``psi``, ``psi_from_samples``, ``ks_statistic``,
``calibration_bins``) with the spec's bands: PSI < 0.1 stable, 0.1-0.25 monitor, > 0.25 alert.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import distinct, func, select

from kaireon_mcp.core.intelligence.common import (
    any_row,
    as_utc,
    customer_context,
    customer_rows,
    find_model,
    impressions_only,
    iter_customers,
    require_customer,
)
from kaireon_mcp.core.models import MODEL_TYPES, get_model_spec
from kaireon_mcp.core.models.base import predictor_fields, to_number
from kaireon_mcp.core.models.metrics import (
    calibration_bins,
    ks_statistic,
    psi,
    psi_band,
    psi_from_samples,
)
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    DataSchema,
    DecisionFlow,
    DecisionFlowVersion,
    Interaction,
    Predictor,
    SchemaField,
)
from kaireon_mcp.storage.types import utcnow

NEAR_RANDOM_AUC = 0.55
WEAK_AUC = 0.65
STALE_DAYS = 90
PERCENTILE_SAMPLE = 1000
DRIFT_SAMPLE = 5000
DRIFT_WINDOW_DAYS = 30
BANDIT_TYPES = frozenset({"thompson_bandit", "epsilon_greedy"})
BAND_VERDICT = {"stable": "none", "monitor": "monitor", "alert": "alert"}


class ModelHealthResult(BaseModel):
    modelId: str
    modelKey: str
    modelType: str
    status: str
    registryStatus: str
    verdict: str = Field(description="healthy | warning | critical | unknown")
    reasons: list[str]
    metrics: dict[str, Any]
    trend: list[dict[str, Any]]
    featureImportance: list[dict[str, Any]]
    freshness: dict[str, Any]
    usedByFlows: list[str]
    hint: str | None = None


class ScoringExplanation(BaseModel):
    modelId: str
    modelKey: str
    modelType: str
    customerId: str
    score: float
    rawScore: float
    confidence: float | None = None
    percentile: float | None = Field(None, description="% of sampled customers scoring lower")
    sampleSize: int
    contributions: list[dict[str, Any]]
    missingPredictors: list[str]
    summary: str
    hint: str | None = None


class ImprovementsResult(BaseModel):
    modelId: str
    modelKey: str
    modelType: str
    recommendedModelType: str
    labelledOutcomes: dict[str, int]
    predictors: list[str]
    missingPredictors: list[str]
    unusedPredictors: list[str]
    suggestions: list[dict[str, Any]]
    summary: str
    hint: str | None = None


class DriftResult(BaseModel):
    modelId: str
    modelKey: str
    windows: dict[str, str]
    referenceSize: int
    recentSize: int
    features: list[dict[str, Any]]
    scoreDrift: dict[str, Any] | None
    driftDetected: bool
    verdict: str = Field(description="none | monitor | alert (PSI bands 0.1 / 0.25)")
    calibration: dict[str, Any] | None
    recommendedAction: str
    hint: str | None = None


# ---- shared ---------------------------------------------------------------------------------
def engine_features(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """What ``Engine.model_score`` hands a scorer: attributes without schema-prefixed keys."""
    return {k: v for k, v in attributes.items() if "." not in k and k != "propensityScores"}


def _score(model: AlgorithmModel, features: Mapping[str, Any], seed: int = 0) -> Any:
    spec = get_model_spec(model.model_type)
    return spec.score(model.config or {}, model.model_state or {}, features, None, random.Random(seed))


def _require_feature_model(model: AlgorithmModel, tool: str) -> None:
    spec = MODEL_TYPES.get(model.model_type)
    if model.model_type in BANDIT_TYPES:
        raise ValidationError(
            f"{model.model_type} scores per offer arm, not per customer features; {tool} needs a "
            "feature model (scorecard, bayesian, logistic_regression, gradient_boosted, online_learner)",
            field="modelId",
        )
    if spec is None or not spec.runnable:
        raise ValidationError(f"{model.model_type} models are scored outside the platform", field="modelId")


async def model_predictors(repo: Repository, model: AlgorithmModel) -> list[Predictor]:
    return await repo.all(Predictor, Predictor.model_id == model.id, order_by=Predictor.field)


async def flows_using_models(repo: Repository) -> dict[str, list[str]]:
    """Model key -> keys of active, published flows whose latest version scores with it."""
    flows = await repo.all(DecisionFlow, DecisionFlow.status.in_(("active", "published")))
    out: dict[str, list[str]] = {}
    for flow in flows:
        stmt = (
            select(DecisionFlowVersion.config_snapshot)
            .where(repo.tenant_filter(DecisionFlowVersion), DecisionFlowVersion.flow_id == flow.id)
            .order_by(DecisionFlowVersion.version.desc())
            .limit(1)
        )
        snapshot = (await repo.session.execute(stmt)).scalar_one_or_none()
        for key in _node_model_keys((snapshot or {}).get("nodes") or []):
            out.setdefault(key, []).append(flow.key)
    return out


def _node_model_keys(nodes: Iterable[Mapping[str, Any]]) -> set[str]:
    keys: set[str] = set()
    for node in nodes:
        if node.get("type") != "score":
            continue
        config = node.get("config") or {}
        cc = config.get("championChallenger") or {}
        candidates = [config.get("modelKey"), (cc.get("champion") or {}).get("modelKey")]
        candidates += [c.get("modelKey") for c in cc.get("challengers") or []]
        candidates += [
            v if isinstance(v, str) else (v or {}).get("modelKey")
            for v in (config.get("channelOverrides") or {}).values()
        ]
        keys.update(str(k) for k in candidates if k)
    return keys


def _days_since(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round((now - moment).total_seconds() / 86400, 1)


# ---- health ---------------------------------------------------------------------------------
def feature_importance(model: AlgorithmModel, predictors: Sequence[Predictor]) -> list[dict[str, Any]]:
    """Stored importances, else |weights| of linear models, else |points| per scorecard field."""
    stored = {p.field: p.importance for p in predictors if p.importance is not None}
    if not stored:
        state, config = model.model_state or {}, model.config or {}
        weights = state.get("weights") if isinstance(state.get("weights"), Mapping) else {}
        if weights:
            stored = {str(k): abs(to_number(v) or 0.0) for k, v in weights.items()}
        elif model.model_type == "scorecard":
            points: dict[str, float] = {}
            for rule in config.get("rules") or []:
                name = str(rule.get("field"))
                points[name] = points.get(name, 0.0) + abs(to_number(rule.get("points")) or 0.0)
            stored = dict(points)
    total = sum(float(v or 0) for v in stored.values()) or 1.0
    ranked = sorted(stored.items(), key=lambda kv: (-float(kv[1] or 0), kv[0]))
    return [
        {"feature": f, "importance": round(float(v or 0), 6), "share": round(100 * float(v or 0) / total, 2)}
        for f, v in ranked
    ]


def _trend(model: AlgorithmModel) -> list[dict[str, Any]]:
    return [
        {
            "version": h.get("version"),
            "trainedAt": h.get("trainedAt"),
            "auc": (h.get("metrics") or {}).get("auc"),
        }
        for h in (model.metrics_history or [])[-10:]
        if isinstance(h, Mapping)
    ]


def health_verdict(
    model: AlgorithmModel, trend: list[dict[str, Any]], age: float | None, used: bool
) -> tuple[str, list[str]]:
    """critical: near-random AUC; warning: weak AUC, AUC decay, staleness, thin training data."""
    reasons: list[tuple[str, str]] = []
    auc = to_number((model.metrics or {}).get("auc"))
    if model.model_type in BANDIT_TYPES:
        arms = (model.model_state or {}).get("arms") or {}
        reasons.append(("healthy" if arms else "warning", f"{len(arms)} arms with learned state"))
    elif auc is None:
        reasons.append(("unknown", "no AUC recorded: train the model or attach evaluation metrics"))
    elif auc < NEAR_RANDOM_AUC:
        reasons.append(
            (
                "critical",
                f"AUC {auc:.3f} is near random (< {NEAR_RANDOM_AUC})"
                + ("; it is used by a published flow" if used else ""),
            )
        )
    elif auc < WEAK_AUC:
        reasons.append(("warning", f"AUC {auc:.3f} is weak (< {WEAK_AUC})"))
    aucs = [to_number(t["auc"]) for t in trend if to_number(t["auc"]) is not None]
    if len(aucs) >= 2 and aucs[-2] is not None and aucs[-1] is not None and aucs[-2] - aucs[-1] > 0.05:
        reasons.append(("warning", f"AUC fell from {aucs[-2]:.3f} to {aucs[-1]:.3f} at the last training"))
    if age is not None and age > STALE_DAYS and not MODEL_TYPES[model.model_type].online:
        reasons.append(("warning", f"last trained {age:.0f} days ago (> {STALE_DAYS})"))
    trainable = MODEL_TYPES[model.model_type].trainable
    if trainable and model.last_trained_at is not None and model.training_samples < 100:
        reasons.append(("warning", f"trained on only {model.training_samples} samples"))
    order = ["critical", "warning", "unknown", "healthy"]
    verdict = min((r[0] for r in reasons), key=order.index, default="healthy")
    return verdict, [r[1] for r in reasons] or ["metrics within normal ranges"]


async def _last_contact(repo: Repository) -> datetime | None:
    stmt = select(func.max(Interaction.timestamp)).where(Interaction.tenant_id == repo.ctx.tenant_id)
    value = (await repo.session.execute(stmt)).scalar_one_or_none()
    return None if value is None else as_utc(value)


async def analyze_model_health(
    repo: Repository, model_ref: str, *, now: datetime | None = None
) -> ModelHealthResult:
    model = await find_model(repo, model_ref)
    now = now or utcnow()
    predictors = await model_predictors(repo, model)
    flows = (await flows_using_models(repo)).get(model.key, [])
    trend = _trend(model)
    age = _days_since(model.last_trained_at, now)
    verdict, reasons = health_verdict(model, trend, age, bool(flows))
    last = await _last_contact(repo)
    return ModelHealthResult(
        modelId=model.id,
        modelKey=model.key,
        modelType=model.model_type,
        status=model.status,
        registryStatus=model.registry_status,
        verdict=verdict,
        reasons=reasons,
        metrics={**(model.metrics or {}), "trainingSamples": model.training_samples},
        trend=trend,
        featureImportance=feature_importance(model, predictors),
        freshness={
            "lastTrainedAt": model.last_trained_at.isoformat() if model.last_trained_at else None,
            "daysSinceTraining": age,
            "updatedAt": model.updated_at.isoformat(),
            "lastInteractionAt": last.isoformat() if last else None,
            "learnMode": model.learn_mode,
            "autoLearn": model.auto_learn,
        },
        usedByFlows=flows,
        hint=None
        if model.metrics or model.model_type in BANDIT_TYPES
        else "No metrics yet: train the model (trainModel) to get AUC and a meaningful verdict.",
    )


# ---- scoring explanation --------------------------------------------------------------------
def percentile_of(value: float, sample: Sequence[float]) -> float | None:
    """Share of the sample strictly below ``value`` plus half the ties, in %."""
    if not sample:
        return None
    below = sum(1 for s in sample if s < value)
    ties = sum(1 for s in sample if s == value)
    return round(100.0 * (below + ties / 2) / len(sample), 2)


async def sample_scores(repo: Repository, model: AlgorithmModel, limit: int) -> list[float]:
    scores = []
    async for batch in iter_customers(repo, limit=limit, with_metrics=True):
        scores += [_score(model, engine_features(c.attributes)).score for c in batch]
    return scores


def _contribution(item: Mapping[str, Any]) -> dict[str, Any]:
    value = float(item.get("contribution") or 0.0)
    direction = "increases" if value > 0 else "decreases" if value < 0 else "neutral"
    return {
        "feature": item.get("field"),
        "value": item.get("value"),
        "contribution": round(value, 6),
        "direction": direction,
    }


async def explain_model_scoring(
    repo: Repository, model_ref: str, customer_id: str, *, sample: int = PERCENTILE_SAMPLE
) -> ScoringExplanation:
    model = await find_model(repo, model_ref)
    await require_customer(repo, customer_id)
    _require_feature_model(model, "explainModelScoring")
    features = engine_features((await customer_context(repo, customer_id)).attributes)
    result = _score(model, features)
    scores = await sample_scores(repo, model, sample)
    wanted = predictor_fields([p.field for p in await model_predictors(repo, model) if p.selected])
    contributions = [_contribution(e) for e in result.explanations]
    percentile = percentile_of(result.score, scores)
    return ScoringExplanation(
        modelId=model.id,
        modelKey=model.key,
        modelType=model.model_type,
        customerId=customer_id,
        score=round(result.score, 6),
        rawScore=round(result.raw_score, 6),
        confidence=result.confidence,
        percentile=percentile,
        sampleSize=len(scores),
        contributions=contributions,
        missingPredictors=[f for f in wanted if features.get(f) is None],
        summary=_scoring_summary(customer_id, model, result.score, percentile, contributions),
        hint=None if features else "No customer attributes found: the score is the model's baseline.",
    )


def _scoring_summary(
    customer_id: str,
    model: AlgorithmModel,
    score: float,
    percentile: float | None,
    contributions: list[dict[str, Any]],
) -> str:
    where = f" ({percentile}th percentile)" if percentile is not None else ""
    ups = [c["feature"] for c in contributions if c["direction"] == "increases"][:3]
    downs = [c["feature"] for c in contributions if c["direction"] == "decreases"][:3]
    text = f"{model.key} scores {customer_id} {score:.3f}{where}"
    if ups:
        text += "; raised by " + ", ".join(ups)
    if downs:
        text += "; lowered by " + ", ".join(downs)
    return text + "."


# ---- improvement suggestions ----------------------------------------------------------------
async def schema_predictors(repo: Repository) -> list[str]:
    stmt = (
        select(SchemaField.name)
        .join(DataSchema, DataSchema.id == SchemaField.schema_id)
        .where(
            repo.tenant_filter(SchemaField),
            SchemaField.is_predictor,
            DataSchema.deleted_at.is_(None),
            DataSchema.entity_type == "customer",
        )
        .order_by(SchemaField.ordinal)
    )
    return list(dict.fromkeys(str(n) for n in (await repo.session.execute(stmt)).scalars().all()))


async def labelled_outcomes(repo: Repository) -> dict[str, int]:
    stmt = (
        select(Interaction.classification, func.count(), func.count(distinct(Interaction.customer_id)))
        .where(
            Interaction.tenant_id == repo.ctx.tenant_id,
            any_row(),
            Interaction.classification.in_(("positive", "negative")),
        )
        .group_by(Interaction.classification)
    )
    out = {"positive": 0, "negative": 0, "customers": 0}
    for kind, n, customers in (await repo.session.execute(stmt)).all():
        out[str(kind)] = int(n)
        out["customers"] += int(customers)
    return out


def recommended_type(outcomes: int, current: str) -> tuple[str, str]:
    """The selection guide of decisioning-core.md section 6.7, by labelled outcome volume."""
    if current in BANDIT_TYPES | {"online_learner"}:
        return current, "online learners adapt from every response; keep it while arms/features are few"
    if outcomes >= 10_000:
        return "gradient_boosted", f"{outcomes} labelled outcomes support a gradient-boosted model"
    if outcomes >= 1_000:
        keep = current if current in {"logistic_regression", "bayesian"} else "logistic_regression"
        return keep, f"{outcomes} labelled outcomes support a logistic regression or naive Bayes model"
    if outcomes >= 100:
        return "bayesian", f"{outcomes} labelled outcomes: a naive Bayes challenger is the next step"
    return "scorecard", f"only {outcomes} labelled outcomes: a hand-built scorecard is the safe choice"


def unused_predictors(
    model: AlgorithmModel, fields: list[str], importance: list[dict[str, Any]]
) -> list[str]:
    known = {i["feature"]: i["importance"] for i in importance}
    if not known:
        return []
    return [f for f in fields if not known.get(f)]


def _hyperparameters(model: AlgorithmModel) -> list[str]:
    config = model.config or {}
    out = []
    if model.model_type == "logistic_regression" and not config.get("l2"):
        out.append("set l2 regularisation (e.g. 0.01) to keep weights stable on correlated predictors")
    if model.model_type == "epsilon_greedy":
        eps = to_number(config.get("epsilon", 0.1)) or 0.1
        if not 0.05 <= eps <= 0.1:
            out.append(f"epsilon {eps} is outside the recommended 0.05-0.10")
    if model.model_type == "online_learner":
        lr = (
            to_number(config.get("learningRate", (model.model_state or {}).get("learningRate", 0.01))) or 0.01
        )
        if not 0.01 <= lr <= 0.1:
            out.append(f"learning rate {lr} is outside the recommended 0.01-0.1")
    if model.model_type == "bayesian" and not config.get("binEdges"):
        out.append("define binEdges for numeric predictors; raw values make every value its own bin")
    if model.model_type == "gradient_boosted" and model.training_samples and model.training_samples < 5000:
        out.append(
            "gradient boosting needs 5k-10k outcomes; fewer overfits (raise minDataInLeaf or switch type)"
        )
    return out


def _suggestion(category: str, priority: str, title: str, detail: str) -> dict[str, Any]:
    return {"category": category, "priority": priority, "title": title, "detail": detail}


async def suggest_model_improvements(repo: Repository, model_ref: str) -> ImprovementsResult:
    model = await find_model(repo, model_ref)
    predictors = await model_predictors(repo, model)
    fields = [p.field for p in predictors if p.selected]
    candidates = [f for f in await schema_predictors(repo) if f not in fields and f != model.target_field]
    outcomes = await labelled_outcomes(repo)
    labelled = outcomes["positive"] + outcomes["negative"]
    recommended, why = recommended_type(labelled, model.model_type)
    unused = unused_predictors(model, fields, feature_importance(model, predictors))
    suggestions = [
        _suggestion(
            "predictors",
            "high",
            f"Add predictor '{f}'",
            "flagged isPredictor on the customer schema but not used by this model",
        )
        for f in candidates
    ]
    suggestions += [
        _suggestion("predictors", "medium", f"Drop or fix '{f}'", "selected but carries no weight")
        for f in unused
    ]
    if recommended != model.model_type:
        suggestions.append(_suggestion("model_type", "medium", f"Try a {recommended} challenger", why))
    suggestions += [
        _suggestion("hyperparameters", "low", "Tune hyperparameters", h) for h in _hyperparameters(model)
    ]
    if MODEL_TYPES[model.model_type].trainable and model.last_trained_at is None:
        suggestions.append(_suggestion("training", "high", "Train the model", "it has never been trained"))
    return ImprovementsResult(
        modelId=model.id,
        modelKey=model.key,
        modelType=model.model_type,
        recommendedModelType=recommended,
        labelledOutcomes=outcomes,
        predictors=fields,
        missingPredictors=candidates,
        unusedPredictors=unused,
        suggestions=suggestions,
        summary=f"{len(suggestions)} suggestion(s) for {model.key}; {why}.",
        hint=None if labelled else "No labelled outcomes yet; record clicks/conversions to train on.",
    )


# ---- drift ----------------------------------------------------------------------------------
def categorical_psi(reference: Iterable[Any], recent: Iterable[Any]) -> float:
    """PSI over category frequencies (categories of both samples, aligned)."""
    ref, rec = Counter(str(v) for v in reference), Counter(str(v) for v in recent)
    keys = sorted(set(ref) | set(rec))
    return psi([ref[k] for k in keys], [rec[k] for k in keys])


def _numeric(values: list[Any]) -> list[float] | None:
    nums = [to_number(v) for v in values]
    kept = [n for n in nums if n is not None and not isinstance(n, bool)]
    return kept if len(kept) >= 0.8 * len(values) and kept else None


def feature_drift(name: str, reference: list[Any], recent: list[Any]) -> dict[str, Any] | None:
    """PSI (and KS for numeric features) of one feature between the two windows."""
    ref = [v for v in reference if v is not None]
    rec = [v for v in recent if v is not None]
    if not ref or not rec:
        return None
    ref_n, rec_n = _numeric(ref), _numeric(rec)
    if ref_n is not None and rec_n is not None and len(set(ref_n)) > 10:
        value, ks, kind = psi_from_samples(ref_n, rec_n), ks_statistic(ref_n, rec_n), "numeric"
    else:
        value, ks, kind = categorical_psi(ref, rec), None, "categorical"
    return {
        "feature": name,
        "kind": kind,
        "psi": round(value, 6),
        "band": psi_band(value),
        "ks": None if ks is None else round(ks, 6),
    }


def drift_windows(model: AlgorithmModel, now: datetime) -> tuple[datetime, datetime, datetime]:
    """(reference start, split, now): the 30 days before the last training (or before the most
    recent 30 days when untrained or trained too recently) against everything since."""
    split = now - timedelta(days=DRIFT_WINDOW_DAYS)
    trained = model.last_trained_at
    if trained is not None and now - timedelta(days=2 * DRIFT_WINDOW_DAYS) < trained < now - timedelta(
        days=1
    ):
        split = trained
    return split - timedelta(days=DRIFT_WINDOW_DAYS), split, now


async def active_customers(repo: Repository, start: datetime, end: datetime, limit: int) -> list[str]:
    stmt = (
        select(Interaction.customer_id)
        .where(
            Interaction.tenant_id == repo.ctx.tenant_id,
            impressions_only(),
            Interaction.timestamp >= start,
            Interaction.timestamp < end,
        )
        .group_by(Interaction.customer_id)
        .order_by(Interaction.customer_id)
        .limit(limit)
    )
    return [str(x) for x in (await repo.session.execute(stmt)).scalars().all()]


async def converted(repo: Repository, start: datetime, end: datetime) -> set[str]:
    stmt = (
        select(Interaction.customer_id)
        .where(
            Interaction.tenant_id == repo.ctx.tenant_id,
            any_row(),
            Interaction.classification == "positive",
            Interaction.timestamp >= start,
            Interaction.timestamp < end,
        )
        .distinct()
    )
    return {str(x) for x in (await repo.session.execute(stmt)).scalars().all()}


async def features_of(repo: Repository, customers: list[str]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(customers), 1000):
        rows.update(await customer_rows(repo, customers[start : start + 1000]))
    return [engine_features(rows.get(c, {})) for c in customers]


def calibration(labels: list[int], scores: list[float]) -> dict[str, Any] | None:
    """Expected (mean score) vs observed (positive rate) per decile and the expected calibration error."""
    if len(labels) < 20 or len(set(labels)) < 2:
        return None
    bins = calibration_bins(labels, scores, n_bins=10)
    total = sum(b["count"] for b in bins)
    ece = sum(b["count"] * abs(b["expected"] - b["observed"]) for b in bins) / total
    mean, observed = sum(scores) / len(scores), sum(labels) / len(labels)
    status = "calibrated" if ece < 0.05 else "over-predicts" if mean > observed else "under-predicts"
    return {
        "ece": round(ece, 6),
        "meanScore": round(mean, 6),
        "observedRate": round(observed, 6),
        "status": status,
        "bins": [{k: round(v, 4) if isinstance(v, float) else v for k, v in b.items()} for b in bins],
    }


def _action(verdict: str, calib: dict[str, Any] | None) -> str:
    action = {
        "alert": "Retrain now: at least one input has shifted beyond PSI 0.25.",
        "monitor": "Monitor: moderate shift (PSI 0.1-0.25); schedule a retrain if it persists.",
        "none": "No action: inputs and scores are stable.",
    }[verdict]
    if calib and calib["status"] != "calibrated" and calib["ece"] > 0.1:
        action += f" Recalibrate: the model {calib['status']} (ECE {calib['ece']:.3f})."
    return action


async def detect_model_drift(
    repo: Repository, model_ref: str, *, now: datetime | None = None, sample: int = DRIFT_SAMPLE
) -> DriftResult:
    model = await find_model(repo, model_ref)
    _require_feature_model(model, "detectModelDrift")
    start, split, end = drift_windows(model, now or utcnow())
    ref_ids = await active_customers(repo, start, split, sample)
    rec_ids = await active_customers(repo, split, end, sample)
    ref_rows, rec_rows = await features_of(repo, ref_ids), await features_of(repo, rec_ids)
    names = [p.field for p in await model_predictors(repo, model) if p.selected]
    names = names or sorted({k for row in ref_rows[:50] for k in row})
    features = [
        d
        for n in names
        if (d := feature_drift(n, [r.get(n) for r in ref_rows], [r.get(n) for r in rec_rows])) is not None
    ]
    ref_scores = [_score(model, r).score for r in ref_rows]
    rec_scores = [_score(model, r).score for r in rec_rows]
    score_drift = feature_drift("score", ref_scores, rec_scores) if ref_scores and rec_scores else None
    worst = max([f["psi"] for f in features] + ([score_drift["psi"]] if score_drift else []), default=0.0)
    verdict = BAND_VERDICT[psi_band(worst)]
    positives = await converted(repo, split, end)
    calib = calibration([int(c in positives) for c in rec_ids], rec_scores)
    return DriftResult(
        modelId=model.id,
        modelKey=model.key,
        windows={
            "referenceStart": start.isoformat(),
            "referenceEnd": split.isoformat(),
            "recentStart": split.isoformat(),
            "recentEnd": end.isoformat(),
        },
        referenceSize=len(ref_rows),
        recentSize=len(rec_rows),
        features=sorted(features, key=lambda f: -f["psi"]),
        scoreDrift=score_drift,
        driftDetected=verdict != "none",
        verdict=verdict,
        calibration=calib,
        recommendedAction=_action(verdict, calib),
        hint=None
        if ref_rows and rec_rows
        else "Not enough active customers in both windows "
        f"(reference {len(ref_rows)}, recent {len(rec_rows)}) to compare distributions.",
    )
