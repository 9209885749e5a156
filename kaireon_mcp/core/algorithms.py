"""Algorithm model and experiment services (decisioning-core §6, §7.1).

Models: create/update with their predictors, batch training on tenant data, the registry
ladder with its rollback guard, learning reset and per-decision feature attributions.
Experiments: champion/challenger set-up and the per-arm results report. Each function runs
inside the caller's single ``Repository`` transaction, so a multi-row change (a promotion that
archives the old champion, a training run that also writes a version snapshot) commits or
rolls back whole.

Training set (spec §6.5 leaves the source open; this is the rule):

* rows are the ``SchemaRow`` data of the training schema: the ``schemaId`` argument, else the
  model's ``targetSchemaKey`` (schema name or id), else the tenant's first customer schema;
  rows are taken in ``row_key`` order up to ``sampleLimit`` so a re-run sees the same sample;
* the label of a row is its ``targetField`` value when the row carries that field (0/1,
  true/false, yes/no); otherwise it comes from interaction history: 1 when the customer has
  any outcome classified ``positive`` (on any offer), 0 when the customer has history but no
  positive outcome; a customer with no history at all was never exposed and is left out;
* features are the model's selected predictors, else the schema fields flagged
  ``isPredictor``.

Audit: every write goes through the audited repository or :func:`_save`, which records a
compact diff (learned state and history are digested, not copied into the audit log).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import case, func, select

from kaireon_mcp.core.decisioning.profile import load_schema_attributes
from kaireon_mcp.core.experiments import CHAMPION, HOLDOUT, compare_arms, validate_split, wilson_interval
from kaireon_mcp.core.models import MODEL_TYPES, TrainFn, get_model_spec
from kaireon_mcp.core.models.base import to_label, to_number
from kaireon_mcp.core.models.encoding import source_field
from kaireon_mcp.core.models.gradient_boosted import raw_margin_and_contributions
from kaireon_mcp.core.models.lifecycle import REGISTRY_STATUSES, check_rollback_guard, check_transition
from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.audit import field_diff
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    DataSchema,
    DecisionTrace,
    Experiment,
    Interaction,
    ModelVersion,
    Predictor,
    SchemaField,
    SchemaRow,
    VariantAssignment,
)
from kaireon_mcp.storage.types import utcnow

Row = dict[str, Any]
Fields = Mapping[str, Any]

MODEL_STATUSES: Final = ("draft", "active", "paused", "archived")
LEARN_MODES: Final = ("none", "scheduled")
EXPERIMENT_STATUSES: Final = ("draft", "active", "paused", "completed")
PREDICTOR_TYPES: Final = ("numeric", "categorical")
NUMERIC_FIELD_TYPES: Final = frozenset(
    {"integer", "int", "bigint", "smallint", "float", "double", "decimal", "numeric", "number", "real"}
)
ONLINE_ONLY: Final = ("thompson_bandit", "epsilon_greedy", "online_learner")
MAX_KEYS: Final = 100
MAX_TEXT: Final = 255
MAX_PREDICTORS: Final = 200
MAX_HISTORY: Final = 50
MAX_VERSIONS_SHOWN: Final = 20
MAX_INLINE_STATE: Final = 4000
DEFAULT_SAMPLE_LIMIT: Final = 50_000
MIN_ARM_SAMPLE: Final = 30
ALPHA: Final = 0.05
#: synthetic label column, named so it cannot collide with a customer attribute
LABEL: Final = "__kaireon_label__"


# ---- small validators -----------------------------------------------------------------------
def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    if len(value.strip()) > MAX_TEXT:
        raise ValidationError(f"{field} must be at most {MAX_TEXT} characters", field=field)
    return value.strip()


def _optional_text(value: Any, field: str) -> str | None:
    return None if value is None or value == "" else _text(value, field)


def _choice(value: Any, options: Sequence[str], field: str) -> str:
    if value not in options:
        raise ValidationError(f"{field} must be one of {', '.join(options)}", field=field)
    return str(value)


def _object(value: Any, field: str) -> dict[str, Any]:
    """Spec §6.1 caps config, metrics and state objects at 100 keys."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{field} must be an object", field=field)
    if len(value) > MAX_KEYS:
        raise ValidationError(f"{field} may hold at most {MAX_KEYS} keys", field=field)
    return dict(value)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be true or false", field=field)
    return value


def _number(value: Any, field: str, low: float, high: float | None = None) -> float:
    num = None if isinstance(value, bool) else to_number(value)
    if num is None or num < low or (high is not None and num > high):
        bound = (
            f" between {low:g} and {high:g}"
            if high is not None
            else f" >= {low:g}"
            if low > -math.inf
            else ""
        )
        raise ValidationError(f"{field} must be a number{bound}", field=field)
    return num


def _outcome_weights(value: Any) -> dict[str, float] | None:
    """``null`` restores the default +1 / −1 per classification (spec §6.1)."""
    if value is None:
        return None
    weights = _object(value, "outcomeWeights")
    out: dict[str, float] = {}
    for key, raw in weights.items():
        num = None if isinstance(raw, bool) else to_number(raw)
        if num is None:
            raise ValidationError("outcome weights must be numbers", field=f"outcomeWeights.{key}")
        out[str(key)] = num
    return out


def _digest(value: Any) -> str:
    body = json.dumps(value, sort_keys=True, default=str)
    return f"sha256:{hashlib.sha256(body.encode()).hexdigest()[:16]} ({len(body)} chars)"


def _iso(moment: datetime | None) -> str | None:
    """Wire form of a timestamp, matching ``Base.to_dict`` (UTC with a ``Z``)."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


# ---- serialisation --------------------------------------------------------------------------
def _state_view(state: Mapping[str, Any] | None) -> Any:
    """Learned state inline when small; a GBM's trees would swamp an LLM context, so summarise."""
    state = state or {}
    size = len(json.dumps(state, default=str))
    if size <= MAX_INLINE_STATE:
        return dict(state)
    return {"omitted": True, "keys": sorted(state)[:MAX_KEYS], "sizeChars": size}


def model_summary(row: AlgorithmModel) -> Row:
    """The list view: identity, type, both statuses, version and the latest metrics."""
    return {
        "id": row.id,
        "key": row.key,
        "name": row.name,
        "modelType": row.model_type,
        "status": row.status,
        "registryStatus": row.registry_status,
        "family": row.family,
        "version": row.version,
        "metrics": row.metrics,
        "trainingSamples": row.training_samples,
        "lastTrainedAt": _iso(row.last_trained_at),
        "updatedAt": _iso(row.updated_at),
    }


def _predictor_out(row: Predictor) -> Row:
    return {
        "field": row.field,
        "dataType": row.data_type,
        "selected": row.selected,
        "importance": row.importance,
    }


async def _predictor_rows(repo: Repository, model_id: str) -> list[Predictor]:
    return await repo.all(
        Predictor, Predictor.model_id == model_id, order_by=[Predictor.created_at, Predictor.field]
    )


async def _versions(repo: Repository, model_id: str) -> list[Row]:
    stmt = (
        repo.scoped(ModelVersion)
        .where(ModelVersion.model_id == model_id)
        .order_by(ModelVersion.created_at.desc(), ModelVersion.version.desc())
        .limit(MAX_VERSIONS_SHOWN)
    )
    rows = (await repo.session.execute(stmt)).scalars().all()
    return [
        {
            "id": v.id,
            "version": v.version,
            "reason": v.reason,
            "registryStatus": (v.snapshot or {}).get("registryStatus"),
            "metrics": (v.snapshot or {}).get("metrics") or {},
            "createdAt": _iso(v.created_at),
        }
        for v in rows
    ]


async def model_detail(repo: Repository, row: AlgorithmModel) -> Row:
    """Everything about one model, with predictors and the newest version snapshots."""
    out = row.to_dict()
    out["modelState"] = _state_view(row.model_state)
    out["predictors"] = [_predictor_out(p) for p in await _predictor_rows(repo, row.id)]
    out["versions"] = await _versions(repo, row.id)
    return out


# ---- audited writes -------------------------------------------------------------------------
_BULKY: Final = ("modelState", "metricsHistory")


def _compact(data: Row) -> Row:
    return {k: (_digest(v) if k in _BULKY else v) for k, v in data.items()}


async def _save(
    repo: Repository, row: AlgorithmModel, changes: Fields, action: str, note: Fields | None = None
) -> None:
    """Apply column changes, bump the version and audit a compact diff plus ``note``.

    ``Repository.update`` would copy a whole GBM state into the audit row twice; here learned
    state and history appear as digests so the trail stays readable and small.
    """
    before = _compact(row.to_dict())
    for key, value in changes.items():
        setattr(row, key, value)
    row.version = (row.version or 0) + 1
    row.updated_at = utcnow()
    await repo.session.flush()
    diff = {**field_diff(before, _compact(row.to_dict())), **dict(note or {})}
    await repo.audit.record(
        action, AlgorithmModel.__entity__, row.id, row.name, changes=diff, entity_version=row.version
    )


async def _snapshot(repo: Repository, row: AlgorithmModel, reason: str, extra: Fields | None = None) -> None:
    """A ModelVersion row: enough to audit or restore the model as it stands now."""
    snapshot = {
        "key": row.key,
        "modelType": row.model_type,
        "status": row.status,
        "registryStatus": row.registry_status,
        "config": row.config,
        "modelState": row.model_state,
        "metrics": row.metrics,
        "trainingSamples": row.training_samples,
        "predictors": [_predictor_out(p) for p in await _predictor_rows(repo, row.id)],
        **dict(extra or {}),
    }
    await repo.create(
        ModelVersion, {"model_id": row.id, "version": row.version, "snapshot": snapshot, "reason": reason}
    )


# ---- predictors -----------------------------------------------------------------------------
_PREDICTOR_KEYS: Final = frozenset({"field", "name", "selected", "importance", "dataType"})


def _predictor_spec(raw: Any, index: int) -> Row:
    where = f"predictors[{index}]"
    item: Mapping[str, Any] = {"field": raw} if isinstance(raw, str) else raw
    if not isinstance(item, Mapping):
        raise ValidationError(
            "predictors must be field names or {field, selected, importance} objects", field=where
        )
    unknown = set(item) - _PREDICTOR_KEYS
    if unknown:
        raise ValidationError(f"unknown predictor keys: {', '.join(sorted(unknown))}", field=where)
    importance = item.get("importance")
    data_type = item.get("dataType")
    return {
        "field": _text(item.get("field") or item.get("name"), f"{where}.field"),
        "selected": _bool(item.get("selected", True), f"{where}.selected"),
        "importance": None if importance is None else _number(importance, f"{where}.importance", -math.inf),
        "dataType": None if data_type is None else _choice(data_type, PREDICTOR_TYPES, f"{where}.dataType"),
    }


def predictor_specs(raw: Any) -> list[Row]:
    """Validate a predictor list (strings or objects); duplicates are refused, not merged."""
    if not isinstance(raw, list):
        raise ValidationError("predictors must be a list", field="predictors")
    if len(raw) > MAX_PREDICTORS:
        raise ValidationError(f"at most {MAX_PREDICTORS} predictors", field="predictors")
    specs = [_predictor_spec(p, i) for i, p in enumerate(raw)]
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec["field"] in seen:
            raise ValidationError(f"duplicate predictor {spec['field']!r}", field=f"predictors[{i}].field")
        seen.add(spec["field"])
    return specs


async def _schema_by_ref(repo: Repository, ref: str) -> DataSchema | None:
    return await repo.find(DataSchema, name=ref) or await repo.find(DataSchema, id=ref)


async def _first_customer_schema(repo: Repository) -> DataSchema | None:
    stmt = (
        repo.scoped(DataSchema)
        .where(DataSchema.entity_type == "customer")
        .order_by(DataSchema.created_at, DataSchema.id)
        .limit(1)
    )
    found: DataSchema | None = (await repo.session.execute(stmt)).scalar_one_or_none()
    return found


async def training_schema(
    repo: Repository, model: AlgorithmModel, schema_id: str | None = None
) -> DataSchema | None:
    """``schemaId``, else ``targetSchemaKey`` (name or id), else the first customer schema."""
    if schema_id:
        return await repo.get(DataSchema, schema_id)
    if model.target_schema_key:
        schema = await _schema_by_ref(repo, model.target_schema_key)
        if schema is None:
            raise NotFoundError(
                f"target schema {model.target_schema_key!r} not found", field="targetSchemaKey"
            )
        return schema
    return await _first_customer_schema(repo)


async def _schema_fields(repo: Repository, schema: DataSchema) -> dict[str, SchemaField]:
    rows = await repo.all(SchemaField, SchemaField.schema_id == schema.id, order_by=SchemaField.ordinal)
    return {f.name: f for f in rows}


async def _check_predictor_fields(
    repo: Repository, model: AlgorithmModel, specs: list[Row]
) -> tuple[dict[str, SchemaField], list[str]]:
    """An explicit target schema must hold every predictor (VALIDATION); the fallback schema only warns.

    Without ``targetSchemaKey`` training picks the first customer schema, which may change as
    schemas are added, so a mismatch there is worth a warning but not a refusal.
    """
    if model.target_schema_key:
        schema = await _schema_by_ref(repo, model.target_schema_key)
        if schema is None:
            return {}, [f"target schema {model.target_schema_key!r} not found; predictor fields not checked"]
        fields = await _schema_fields(repo, schema)
        missing = [s["field"] for s in specs if s["field"] not in fields]
        if missing:
            raise ValidationError(
                f"fields not in schema {schema.name!r}: {', '.join(missing)}; available: {', '.join(fields)}",
                field="predictors",
            )
        return fields, []
    schema = await _first_customer_schema(repo)
    if schema is None:
        return {}, ["no customer schema exists yet; predictor fields not checked"]
    fields = await _schema_fields(repo, schema)
    return fields, [
        f"predictor {s['field']!r} is not a field of {schema.name!r} (the default training schema)"
        for s in specs
        if s["field"] not in fields
    ]


def _data_type(spec: Row, fields: Mapping[str, SchemaField]) -> str:
    if spec["dataType"]:
        return str(spec["dataType"])
    field = fields.get(spec["field"])
    if field is None:
        return "numeric"
    return "numeric" if field.data_type.lower() in NUMERIC_FIELD_TYPES else "categorical"


async def _write_predictors(
    repo: Repository, model: AlgorithmModel, specs: list[Row], fields: Mapping[str, SchemaField]
) -> None:
    """Make the model's predictor rows equal ``specs``: update kept ones, add new, delete the rest."""
    existing = {p.field: p for p in await _predictor_rows(repo, model.id)}
    wanted = {s["field"] for s in specs}
    for name, row in existing.items():
        if name not in wanted:
            await repo.delete(Predictor, row)
    for spec in specs:
        values = {
            "data_type": _data_type(spec, fields),
            "selected": spec["selected"],
            "importance": spec["importance"],
        }
        current = existing.get(spec["field"])
        if current is None:
            await repo.create(Predictor, {"model_id": model.id, "field": spec["field"], **values})
        elif any(getattr(current, k) != v for k, v in values.items()):
            await repo.update(Predictor, current, values)


async def list_predictors(repo: Repository, model_id: str) -> Row:
    model = await repo.get(AlgorithmModel, model_id)
    rows = await _predictor_rows(repo, model.id)
    return {
        "modelId": model.id,
        "modelKey": model.key,
        "targetSchemaKey": model.target_schema_key,
        "predictors": [_predictor_out(p) for p in rows],
    }


async def update_predictors(repo: Repository, model_id: str, predictors: Any) -> Row:
    """Full replacement of the predictor set (an empty list clears it)."""
    model = await repo.get(AlgorithmModel, model_id)
    specs = predictor_specs(predictors)
    fields, warnings = await _check_predictor_fields(repo, model, specs)
    if model.target_field and model.target_field in {s["field"] for s in specs}:
        raise ValidationError(
            f"the target field {model.target_field!r} cannot be a predictor", field="predictors"
        )
    await _write_predictors(repo, model, specs, fields)
    return {**await list_predictors(repo, model.id), "warnings": warnings}


# ---- models ---------------------------------------------------------------------------------
_CREATE_KEYS: Final = frozenset(
    {
        "key", "name", "modelType", "description", "status", "family", "config", "targetField",
        "targetSchemaKey", "predictors", "learningConfig",
    }
)  # fmt: skip
_UPDATE_KEYS: Final = frozenset(
    {
        "name", "description", "status", "config", "targetField", "learningConfig", "autoLearn",
        "learnMode", "learnSchedule", "outcomeWeights",
    }
)  # fmt: skip


def _known(fields: Fields, allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError(f"unknown model fields: {', '.join(unknown)}", field=unknown[0])


def _check_config(model_type: str, config: Mapping[str, Any]) -> None:
    """Scorecards are fully described by their config, so a bad rule is caught on save, not at score time."""
    if model_type == "scorecard":
        MODEL_TYPES["scorecard"].score(config, {}, {})


async def list_models(
    repo: Repository, *, limit: int = 20, cursor: str | None = None, status: str | None = None
) -> Row:
    """``status`` matches either the operational or the registry status."""
    where = []
    if status:
        where.append((AlgorithmModel.status == status) | (AlgorithmModel.registry_status == status))
    page = await repo.page(AlgorithmModel, *where, limit=limit, cursor=cursor)
    return page.to_dict([model_summary(r) for r in page.items])


async def get_model(repo: Repository, model_id: str) -> Row:
    return await model_detail(repo, await repo.get(AlgorithmModel, model_id))


async def create_model(repo: Repository, fields: Fields) -> Row:
    _known(fields, _CREATE_KEYS)
    key = _text(fields.get("key"), "key")
    model_type = _choice(fields.get("modelType"), tuple(MODEL_TYPES), "modelType")
    config = _object(fields.get("config"), "config")
    _check_config(model_type, config)
    if await repo.find(AlgorithmModel, key=key):
        raise ConflictError(f"a model with key {key!r} already exists", field="key")
    row = await repo.create(
        AlgorithmModel,
        {
            "key": key,
            "name": _text(fields.get("name"), "name"),
            "model_type": model_type,
            "description": str(fields.get("description") or ""),
            "status": _choice(fields.get("status") or "draft", MODEL_STATUSES, "status"),
            "family": _optional_text(fields.get("family"), "family") or key,
            "config": config,
            "target_field": _optional_text(fields.get("targetField"), "targetField"),
            "target_schema_key": _optional_text(fields.get("targetSchemaKey"), "targetSchemaKey"),
            "learning_config": _object(fields.get("learningConfig"), "learningConfig"),
        },
    )
    warnings: list[str] = []
    if fields.get("predictors"):
        warnings = (await update_predictors(repo, row.id, fields["predictors"]))["warnings"]
    return {**await model_detail(repo, row), "warnings": warnings}


def _update_values(model: AlgorithmModel, changes: Fields) -> dict[str, Any]:
    readers: dict[str, tuple[str, Any]] = {
        "name": ("name", lambda v: _text(v, "name")),
        "description": ("description", lambda v: str(v or "")),
        "status": ("status", lambda v: _choice(v, MODEL_STATUSES, "status")),
        "config": ("config", lambda v: _object(v, "config")),
        "targetField": ("target_field", lambda v: _optional_text(v, "targetField")),
        "learningConfig": ("learning_config", lambda v: _object(v, "learningConfig")),
        "autoLearn": ("auto_learn", lambda v: _bool(v, "autoLearn")),
        "learnMode": ("learn_mode", lambda v: _choice(v, LEARN_MODES, "learnMode")),
        "learnSchedule": ("learn_schedule", lambda v: _optional_text(v, "learnSchedule")),
        "outcomeWeights": ("outcome_weights", _outcome_weights),
    }
    values = {readers[k][0]: readers[k][1](v) for k, v in changes.items()}
    if "config" in values:
        _check_config(model.model_type, values["config"])
    return values


async def update_model(repo: Repository, model_id: str, changes: Fields) -> Row:
    """Partial update; an explicit ``None`` clears targetField, learnSchedule and outcomeWeights."""
    _known(changes, _UPDATE_KEYS)
    model = await repo.get(AlgorithmModel, model_id)
    values = _update_values(model, changes)
    if values:
        await repo.update(AlgorithmModel, model, values)
    return await model_detail(repo, model)


# ---- training -------------------------------------------------------------------------------
def _trainable(model: AlgorithmModel) -> TrainFn:
    """The type's ``train`` function, or the reason this type has none."""
    spec = get_model_spec(model.model_type)
    if model.model_type == "scorecard":
        raise ValidationError(
            "scorecards are rule-based; edit rules instead", field="modelType", reason="not_trainable"
        )
    if model.model_type in ONLINE_ONLY:
        raise ValidationError(
            f"{model.model_type} learns online from every respond; it has no batch training",
            field="modelType",
            reason="not_trainable",
        )
    if spec.train is None:
        raise ValidationError(
            f"{model.model_type} models are trained outside the platform",
            field="modelType",
            reason="not_trainable",
        )
    return spec.train


async def _feature_fields(repo: Repository, model: AlgorithmModel, schema: DataSchema) -> list[str]:
    selected = [p.field for p in await _predictor_rows(repo, model.id) if p.selected]
    if not selected:
        selected = [f.name for f in (await _schema_fields(repo, schema)).values() if f.is_predictor]
    fields = [f for f in selected if f != model.target_field]
    if not fields:
        raise ValidationError(
            "no predictors: select some with updatePredictors or flag schema fields isPredictor",
            field="predictors",
        )
    return fields


async def _labelled_sample(
    repo: Repository, schema: DataSchema, target_field: str | None, limit: int
) -> tuple[list[Row], dict[str, int]]:
    """Schema rows with a label (module doc); also counts where the labels came from."""
    history = select(Interaction.id).where(
        Interaction.tenant_id == repo.ctx.tenant_id, Interaction.customer_id == SchemaRow.row_key
    )
    positive = history.where(Interaction.classification == "positive").exists()
    stmt = (
        select(SchemaRow.data, positive.label("positive"), history.exists().label("seen"))
        .where(repo.tenant_filter(SchemaRow), SchemaRow.schema_id == schema.id)
        .order_by(SchemaRow.row_key)
        .limit(limit)
    )
    rows: list[Row] = []
    sources = {"targetField": 0, "interactions": 0, "unlabelled": 0}
    for data, has_positive, seen in (await repo.session.execute(stmt)).all():
        data = dict(data or {})
        if target_field and data.get(target_field) is not None:
            label, source = to_label(data[target_field], target_field), "targetField"
        elif seen:
            label, source = int(bool(has_positive)), "interactions"
        else:
            label, source = None, "unlabelled"
        sources[source] += 1
        if label is not None:
            rows.append({**data, LABEL: label})
    return rows, sources


async def train_model(
    repo: Repository, model_id: str, *, schema_id: str | None = None, sample_limit: int | None = None
) -> Row:
    """Fit the model on tenant data and store state, metrics, history and a version snapshot."""
    model = await repo.get(AlgorithmModel, model_id)
    train = _trainable(model)
    schema = await training_schema(repo, model, schema_id)
    if schema is None:
        raise ValidationError("no customer schema to train on; create one or pass schemaId", field="schemaId")
    fields = await _feature_fields(repo, model, schema)
    if sample_limit is not None and sample_limit < 1:
        raise ValidationError("sampleLimit must be at least 1", field="sampleLimit")
    limit = sample_limit or DEFAULT_SAMPLE_LIMIT
    rows, sources = await _labelled_sample(repo, schema, model.target_field, limit)
    # CPU-bound fitting (numpy / scikit-learn) must not stall the event loop serving other calls
    state, metrics = await asyncio.to_thread(train, dict(model.config or {}), rows, LABEL, fields)
    now = utcnow()
    entry = {
        "version": model.version + 1,
        "trainedAt": now.isoformat(),
        "schema": schema.name,
        "metrics": metrics,
    }
    await _save(
        repo,
        model,
        {
            "model_state": state,
            "metrics": metrics,
            "metrics_history": [*(model.metrics_history or []), entry][-MAX_HISTORY:],
            "training_samples": int(metrics.get("trainingSamples", len(rows))),
            "last_trained_at": now,
        },
        "train",
        {"schema": schema.name, "labelSources": sources},
    )
    await _snapshot(repo, model, f"trained on {len(rows)} labelled rows of {schema.name}")
    return {
        "modelId": model.id,
        "modelKey": model.key,
        "modelType": model.model_type,
        "version": model.version,
        "schemaName": schema.name,
        "predictors": fields,
        "labelledRows": len(rows),
        "labelSources": sources,
        "trainingSamples": model.training_samples,
        "metrics": metrics,
    }


# ---- registry lifecycle ---------------------------------------------------------------------
async def _incumbents(repo: Repository, model: AlgorithmModel) -> list[AlgorithmModel]:
    """Current champions of the model's family (normally one), most recently changed first."""
    return await repo.all(
        AlgorithmModel,
        AlgorithmModel.family == (model.family or model.key),
        AlgorithmModel.registry_status == "champion",
        AlgorithmModel.id != model.id,
        order_by=[AlgorithmModel.updated_at.desc(), AlgorithmModel.id],
    )


def _check_operational(model: AlgorithmModel, target: str) -> None:
    """Spec §6.3: the promote endpoint refuses draft-status models.

    Retiring (``archived``) or sending back to ``draft`` deploys nothing, so those stay open.
    """
    if model.status == "draft" and target not in ("archived", "draft"):
        raise ValidationError(
            "model_not_active: the model's status is draft; set status to active before promoting",
            field="status",
            reason="model_status_draft",
        )


async def promote_model(
    repo: Repository,
    model_id: str,
    target_status: str,
    *,
    reason: str | None = None,
    bypass_rollback_guard: bool = False,
    rollback_thresholds: Mapping[str, Any] | None = None,
) -> Row:
    """Move a model along the registry ladder; a new champion archives the family's old one."""
    model = await repo.get(AlgorithmModel, model_id)
    target = _choice(target_status, REGISTRY_STATUSES, "targetStatus")
    check_transition(model.registry_status, target)
    _check_operational(model, target)
    incumbents = await _incumbents(repo, model) if target == "champion" else []
    breaches: list[Any] = []
    if incumbents and model.metrics:
        breaches = list(
            check_rollback_guard(
                model.metrics,
                incumbents[0].metrics,
                thresholds=rollback_thresholds,
                bypass=bypass_rollback_guard,
            )
        )
    for old in incumbents:
        await _save(
            repo, old, {"registry_status": "archived"}, "promote", {"reason": f"replaced by {model.key}"}
        )
    previous = model.registry_status
    note = {
        "reason": reason or "",
        "bypassRollbackGuard": bypass_rollback_guard,
        "rollbackGuardBreaches": breaches,
    }
    await _save(repo, model, {"registry_status": target}, "promote", note)
    await _snapshot(repo, model, f"promoted {previous} -> {target}" + (f": {reason}" if reason else ""), note)
    return {
        "model": model_summary(model),
        "fromStatus": previous,
        "toStatus": target,
        "archived": [{"id": m.id, "key": m.key} for m in incumbents],
        "rollbackGuardBreaches": breaches,
        "bypassedRollbackGuard": bool(breaches) and bypass_rollback_guard,
    }


async def reset_model_learning(repo: Repository, model_id: str) -> Row:
    """Snapshot, then clear learned state, metrics and history; the model goes back to draft status."""
    model = await repo.get(AlgorithmModel, model_id)
    if model.model_type == "scorecard":
        raise ValidationError(
            "scorecards are rule-based and hold no learned state; edit rules instead", field="modelType"
        )
    await _snapshot(repo, model, "before learning reset")
    snapshot_version = model.version
    await _save(
        repo,
        model,
        {
            "model_state": {},
            "metrics": {},
            "metrics_history": [],
            "training_samples": 0,
            "last_trained_at": None,
            "status": "draft",
        },
        "reset_learning",
    )
    return {"model": model_summary(model), "snapshotVersion": snapshot_version}


# ---- attributions ---------------------------------------------------------------------------
async def _decision_features(
    repo: Repository, trace: DecisionTrace, attributes: Fields | None
) -> dict[str, Any]:
    """What the Score node saw: schema rows, under the request's attributes, under overrides."""
    loaded = await load_schema_attributes(repo, trace.customer_id)
    requested = dict((trace.input or {}).get("attributes") or {})
    merged = {**loaded, **requested, **dict(attributes or {})}
    merged.pop("propensityScores", None)
    return {k: v for k, v in merged.items() if "." not in k}


def _attribution(
    model: AlgorithmModel, features: Mapping[str, Any], offer_id: str
) -> tuple[str, float, float, dict[str, float]]:
    """(method, baseline, rawMargin, per-field contributions) in the model's raw units."""
    config, state = model.config or {}, model.model_state or {}
    model_type = model.model_type
    if model_type == "gradient_boosted":
        margin, bias, columns = raw_margin_and_contributions(state, features)
        per_field: dict[str, float] = {}
        for column, value in columns.items():
            name = source_field(column, features)
            per_field[name] = per_field.get(name, 0.0) + value
        return "saabas", bias, margin, per_field
    spec = get_model_spec(model_type)
    if model_type in ("thompson_bandit", "epsilon_greedy"):
        raise ValidationError(
            f"{model_type} scores per offer arm; it has no feature attributions", field="modelId"
        )
    result = spec.score(config, state, features, offer_id)
    contributions = {e["field"]: e["contribution"] for e in result.explanations}
    if model_type in ("logistic_regression", "online_learner"):
        return "linear", to_number(state.get("bias", 0.0)) or 0.0, result.raw_score, contributions
    if model_type == "bayesian":
        return (
            "log_likelihood_ratio",
            spec.score(config, state, {}).raw_score,
            result.raw_score,
            contributions,
        )
    if model_type == "scorecard":
        return "points", to_number(config.get("baseScore", 50.0)) or 0.0, result.raw_score, contributions
    raise ValidationError(f"{model_type} has no attribution method", field="modelId")


async def _trace(repo: Repository, trace_id: str) -> DecisionTrace:
    found = await repo.find(DecisionTrace, id=trace_id) or await repo.find(DecisionTrace, request_id=trace_id)
    if found is None:
        raise NotFoundError(f"decision trace {trace_id!r} not found", field="traceId")
    return found


async def compute_shap_values(
    repo: Repository, trace_id: str, model_id: str, offer_id: str, attributes: Fields | None = None
) -> Row:
    """Per-feature contributions to one decision's raw score, with an additivity check.

    Exact path attributions stand in for SHAP: Saabas for trees, wᵢ·xᵢ for linear models,
    log-likelihood ratios for Naive Bayes, points for scorecards. In each case
    ``rawMargin = baseline + Σ contributions`` (the residual shows any rounding drift).
    """
    trace = await _trace(repo, trace_id)
    model = await repo.get(AlgorithmModel, model_id)
    features = await _decision_features(repo, trace, attributes)
    method, baseline, margin, contributions = _attribution(model, features, offer_id)
    ordered = sorted(contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    scored = next((s for s in trace.scoring_results or [] if s.get("offerId") == offer_id), None)
    total = sum(contributions.values())
    return {
        "traceId": trace.id,
        "customerId": trace.customer_id,
        "modelId": model.id,
        "modelKey": model.key,
        "modelType": model.model_type,
        "offerId": offer_id,
        "method": method,
        "baseline": baseline,
        "rawMargin": margin,
        "score": get_model_spec(model.model_type)
        .score(model.config or {}, model.model_state or {}, features, offer_id)
        .score,
        "contributions": [{"feature": f, "value": features.get(f), "contribution": c} for f, c in ordered],
        "sumContributions": total,
        "additivityResidual": margin - (baseline + total),
        "traceScore": None if scored is None else scored.get("score"),
        "offerInTrace": scored is not None,
    }


# ---- experiments ----------------------------------------------------------------------------
_EXPERIMENT_KEYS: Final = frozenset(
    {
        "key", "name", "description", "status", "championModelId", "trafficSplit", "challengers",
        "autoPromote", "promoteThreshold", "promoteAfterDays", "holdoutPercent",
    }
)  # fmt: skip


async def _existing_model(repo: Repository, model_id: Any, field: str) -> AlgorithmModel:
    if not isinstance(model_id, str) or not model_id:
        raise ValidationError(f"{field} must be a model id", field=field)
    model = await repo.find(AlgorithmModel, id=model_id)
    if model is None:
        raise NotFoundError(f"model {model_id!r} not found", field=field)
    return model


async def _experiment_models(repo: Repository, champion_id: Any, challengers: list[Any]) -> None:
    if champion_id is not None:
        await _existing_model(repo, champion_id, "championModelId")
    for i, ch in enumerate(challengers):
        model_id = ch.get("modelId") if isinstance(ch, Mapping) else None
        await _existing_model(repo, model_id, f"challengers[{i}].modelId")
        if model_id == champion_id:
            raise ValidationError(
                "the champion cannot also be a challenger", field=f"challengers[{i}].modelId"
            )


async def list_experiments(repo: Repository, *, limit: int = 20, cursor: str | None = None) -> Row:
    page = await repo.page(Experiment, limit=limit, cursor=cursor)
    return page.to_dict()


async def create_experiment(repo: Repository, fields: Fields) -> Row:
    """Champion + challenger percentages must total 100; the holdout is carved from that split."""
    _known(fields, _EXPERIMENT_KEYS)
    key = _text(fields.get("key"), "key")
    split = _object(fields.get("trafficSplit") or {"championPct": 80}, "trafficSplit")
    challengers = fields.get("challengers") or []
    if not isinstance(challengers, list) or not all(isinstance(c, Mapping) for c in challengers):
        raise ValidationError("challengers must be a list of {modelId, trafficPct}", field="challengers")
    validate_split(split.get("championPct", 80), challengers)
    holdout = _number(fields.get("holdoutPercent") or 0, "holdoutPercent", 0, 100)
    if holdout + sum(float(c["trafficPct"]) for c in challengers) > 100:
        raise ValidationError("holdoutPercent plus challenger traffic exceeds 100", field="holdoutPercent")
    await _experiment_models(repo, fields.get("championModelId"), challengers)
    if await repo.find(Experiment, key=key):
        raise ConflictError(f"an experiment with key {key!r} already exists", field="key")
    status = _choice(fields.get("status") or "draft", EXPERIMENT_STATUSES, "status")
    row = await repo.create(
        Experiment,
        {
            "key": key,
            "name": _text(fields.get("name"), "name"),
            "description": str(fields.get("description") or ""),
            "status": status,
            "champion_model_id": fields.get("championModelId"),
            "traffic_split": {"championPct": float(split.get("championPct", 80))},
            "challengers": [
                {"modelId": c["modelId"], "trafficPct": float(c["trafficPct"])} for c in challengers
            ],
            "holdout_percent": holdout,
            "auto_promote": _bool(fields.get("autoPromote", False), "autoPromote"),
            "promote_threshold": _number(fields.get("promoteThreshold", 0.02), "promoteThreshold", 0),
            "promote_after_days": int(_number(fields.get("promoteAfterDays", 14), "promoteAfterDays", 0)),
            "started_at": utcnow() if status == "active" else None,
        },
    )
    return row.to_dict()


async def _arm_counts(repo: Repository, experiment_id: str) -> dict[str, tuple[int, int]]:
    """variant → (customers, customers with a positive outcome at or after their assignment)."""
    converted = (
        select(Interaction.id)
        .where(
            Interaction.tenant_id == repo.ctx.tenant_id,
            Interaction.customer_id == VariantAssignment.customer_id,
            Interaction.classification == "positive",
            Interaction.timestamp >= VariantAssignment.created_at,
        )
        .exists()
    )
    stmt = (
        select(VariantAssignment.variant, func.count(), func.sum(case((converted, 1), else_=0)))
        .where(repo.tenant_filter(VariantAssignment), VariantAssignment.experiment_id == experiment_id)
        .group_by(VariantAssignment.variant)
    )
    return {str(v): (int(n), int(c or 0)) for v, n, c in (await repo.session.execute(stmt)).all()}


def _arm_layout(exp: Experiment, observed: Mapping[str, Any]) -> list[tuple[str, str, str | None, float]]:
    """(arm, variant, modelId, trafficPct) for every configured or observed arm."""
    champion_pct = float((exp.traffic_split or {}).get("championPct", 80))
    arms = [("champion", CHAMPION, exp.champion_model_id, champion_pct - (exp.holdout_percent or 0))]
    arms += [
        ("challenger", str(c["modelId"]), str(c["modelId"]), float(c["trafficPct"]))
        for c in exp.challengers or []
    ]
    if exp.holdout_percent or HOLDOUT in observed:
        arms.append(("holdout", HOLDOUT, None, float(exp.holdout_percent or 0)))
    known = {variant for _, variant, _, _ in arms}
    arms += [("challenger", v, v, 0.0) for v in sorted(observed) if v not in known]
    return arms


def _arm_stats(n: int, conversions: int) -> Row:
    low, high = wilson_interval(conversions, n) if n else (0.0, 0.0)
    return {
        "customers": n,
        "conversions": conversions,
        "conversionRate": conversions / n if n else 0.0,
        "ci95Low": low,
        "ci95High": high,
    }


def _comparison(arm: Row, base: Row) -> Row:
    """Two-proportion z-test of ``arm`` against ``base``; no data on either side reads as no evidence."""
    out: Row = {"arm": arm["variant"], "modelId": arm["modelId"], "against": base["variant"]}
    if not arm["customers"] or not base["customers"]:
        return {
            **out,
            "absoluteUplift": 0.0,
            "relativeUplift": None,
            "z": 0.0,
            "pValue": 1.0,
            "significant": False,
        }
    result = compare_arms(
        {"conversions": arm["conversions"], "n": arm["customers"]},
        {"conversions": base["conversions"], "n": base["customers"]},
        ALPHA,
    )
    keys = ("absoluteUplift", "relativeUplift", "z", "pValue", "significant")
    return {**out, **{k: result[k] for k in keys}}


def _comparisons(arms: list[Row]) -> tuple[str, list[Row]]:
    """Every arm against the holdout when it has customers, else against the champion.

    With a holdout, challengers are also compared with the champion: that is the promotion question.
    """
    by_arm = {a["variant"]: a for a in arms}
    holdout, champion = by_arm.get(HOLDOUT), by_arm[CHAMPION]
    base = holdout if holdout and holdout["customers"] else champion
    out = [_comparison(a, base) for a in arms if a is not base]
    if base is holdout:
        out += [_comparison(a, champion) for a in arms if a["arm"] == "challenger"]
    return ("holdout" if base is holdout else "champion"), out


def _hint(arms: list[Row]) -> str | None:
    if not any(a["customers"] for a in arms):
        return (
            "no customers assigned yet: activate the experiment and reference its champion model in a "
            "Score node so /recommend assigns arms; all figures are zero until then"
        )
    small = [a["variant"] for a in arms if a["customers"] < MIN_ARM_SAMPLE]
    if small:
        return (
            f"arms with fewer than {MIN_ARM_SAMPLE} customers ({', '.join(small)}): the z-test is unreliable"
        )
    return None


async def _model_keys(repo: Repository, ids: list[str]) -> dict[str, str]:
    stmt = select(AlgorithmModel.id, AlgorithmModel.key).where(
        repo.tenant_filter(AlgorithmModel), AlgorithmModel.id.in_(ids)
    )
    return {str(i): str(k) for i, k in (await repo.session.execute(stmt)).all()}


async def experiment_results(repo: Repository, experiment_id: str) -> Row:
    """Per-arm conversion, Wilson 95 % intervals, uplift and pooled two-proportion z-tests."""
    exp = await repo.get(Experiment, experiment_id)
    observed = await _arm_counts(repo, exp.id)
    layout = _arm_layout(exp, observed)
    keys = await _model_keys(repo, [model_id for _, _, model_id, _ in layout if model_id])
    arms = [
        {
            "arm": arm,
            "variant": variant,
            "modelId": model_id,
            "modelKey": keys.get(model_id or ""),
            "trafficPct": pct,
            **_arm_stats(*observed.get(variant, (0, 0))),
        }
        for arm, variant, model_id, pct in layout
    ]
    baseline, comparisons = _comparisons(arms)
    return {
        "experimentId": exp.id,
        "key": exp.key,
        "name": exp.name,
        "status": exp.status,
        "baseline": baseline,
        "alpha": ALPHA,
        "totalCustomers": sum(a["customers"] for a in arms),
        "arms": arms,
        "comparisons": comparisons,
        "hint": _hint(arms),
    }


__all__ = [
    "compute_shap_values",
    "create_experiment",
    "create_model",
    "experiment_results",
    "get_model",
    "list_experiments",
    "list_models",
    "list_predictors",
    "model_detail",
    "model_summary",
    "predictor_specs",
    "promote_model",
    "reset_model_learning",
    "train_model",
    "training_schema",
    "update_model",
    "update_predictors",
]
