"""Algorithm tools (tool-catalog §2.8): models, predictors, training, promotion, attributions, experiments.

Thin adapters over :mod:`kaireon_mcp.core.algorithms`: validate argument types, open one tenant
transaction, call the core and wrap the result. ``listModels`` and ``listExperiments`` are in
the base set on every route; the rest belong to ``/algorithms/*`` (and the general route).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kaireon_mcp.core import algorithms as core
from kaireon_mcp.tools.common import DataPage, EntityOut, PageOut, entity_out, repo_for
from kaireon_mcp.tools.registry import ToolContext, ToolInput, tool
from kaireon_mcp.tools.studio_catalog import dump_changes, dump_create, lean_properties, patch_properties

ModelType = Literal[
    "scorecard", "bayesian", "logistic_regression", "gradient_boosted", "thompson_bandit",
    "epsilon_greedy", "neural_cf", "online_learner", "external_endpoint",
]  # fmt: skip
Status = Literal["draft", "active", "paused", "archived"]
RegistryStatus = Literal["draft", "shadow", "challenger", "champion", "archived"]
ExperimentStatus = Literal["draft", "active", "paused", "completed"]
Obj = dict[str, Any]
PredictorList = list[Obj | str]
MODULE = "algorithms"
AL = ("AL",)


class AlgoInput(ToolInput):
    """Strict inputs with lean advertised schemas (the tools/list has a size budget)."""

    model_config = ConfigDict(json_schema_extra=lean_properties)


class AlgoPatch(AlgoInput):
    """Update inputs: only the fields the caller sends change; an explicit null clears."""

    model_config = ConfigDict(json_schema_extra=patch_properties)


class ModelIdIn(AlgoInput):
    modelId: str = Field(min_length=1)


# ---- outputs --------------------------------------------------------------------------------
class TrainOut(BaseModel):
    """Result of a training run."""

    modelId: str
    modelKey: str
    modelType: str
    version: int
    schemaName: str
    predictors: list[str]
    labelledRows: int
    labelSources: dict[str, int]
    trainingSamples: int
    metrics: Obj


class PromoteOut(BaseModel):
    """Result of a registry move."""

    model: Obj
    fromStatus: str
    toStatus: str
    archived: list[Obj]
    rollbackGuardBreaches: list[Obj]
    bypassedRollbackGuard: bool


class ResetOut(BaseModel):
    model: Obj
    snapshotVersion: int


class PredictorsOut(BaseModel):
    modelId: str
    modelKey: str
    targetSchemaKey: str | None
    predictors: list[Obj]
    warnings: list[str] = Field(default_factory=list)


class ShapOut(BaseModel):
    """Per-feature contributions in the model's raw units (log-odds, or points for scorecards)."""

    traceId: str
    customerId: str
    modelId: str
    modelKey: str
    modelType: str
    offerId: str
    method: str
    baseline: float
    rawMargin: float
    score: float
    contributions: list[Obj]
    sumContributions: float
    additivityResidual: float
    traceScore: float | None
    offerInTrace: bool


class ExperimentResultsOut(BaseModel):
    experimentId: str
    key: str
    name: str
    status: str
    baseline: str
    alpha: float
    totalCustomers: int
    arms: list[Obj]
    comparisons: list[Obj]
    hint: str | None


# ---- models ---------------------------------------------------------------------------------
class ListModelsIn(AlgoInput, DataPage):
    status: str | None = Field(
        None, description="operational (active, paused…) or registry (champion…) status"
    )


@tool(
    "listModels",
    title="List models",
    module=MODULE,
    routes=("all",),
    description="List algorithm models (type, status, registry status, version, metrics); use ids "
    "with getModel.",
)
async def list_models(ctx: ToolContext, args: ListModelsIn) -> PageOut:
    async with repo_for(ctx) as repo:
        page = await core.list_models(repo, limit=args.limit, cursor=args.cursor, status=args.status)
    return PageOut.model_validate(page)


@tool(
    "getModel",
    title="Get model",
    module=MODULE,
    routes=AL,
    description="One model: config, learned state summary, metrics, predictors and version history.",
)
async def get_model(ctx: ToolContext, args: ModelIdIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await core.get_model(repo, args.modelId))


class CreateModelIn(AlgoInput):
    key: str = Field(min_length=1, max_length=255, description="unique; Score nodes reference it as modelKey")
    name: str = Field(min_length=1, max_length=255)
    modelType: ModelType
    description: str = ""
    status: Status = "draft"
    family: str | None = Field(None, description="champion group; defaults to key")
    config: Obj | None = Field(None, description="hyper-parameters (scorecard: rules, baseScore); ≤100 keys")
    targetField: str | None = Field(None, description="label column in the customer rows")
    targetSchemaKey: str | None = Field(
        None, description="training schema name; default first customer schema"
    )
    predictors: PredictorList | None = Field(None, description="field names or {field, selected, importance}")
    learningConfig: Obj | None = None


@tool(
    "createModel",
    title="Create model",
    module=MODULE,
    write=True,
    routes=AL,
    description="Register a scoring model (draft) with optional config and predictors.",
)
async def create_model(ctx: ToolContext, args: CreateModelIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await core.create_model(repo, dump_create(args)))


class UpdateModelIn(AlgoPatch):
    modelId: str = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    status: Status | None = None
    config: Obj | None = None
    targetField: str | None = None
    learningConfig: Obj | None = None
    autoLearn: bool | None = None
    learnMode: Literal["none", "scheduled"] | None = None
    learnSchedule: str | None = None
    outcomeWeights: dict[str, float] | None = None


@tool(
    "updateModelConfig",
    title="Update model config",
    module=MODULE,
    write=True,
    idempotent=True,
    routes=AL,
    description="Change a model's name, status, config, target or learning cadence; only fields sent "
    "are changed.",
)
async def update_model_config(ctx: ToolContext, args: UpdateModelIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await core.update_model(repo, args.modelId, dump_changes(args, "modelId")))


class TrainIn(AlgoInput):
    modelId: str = Field(min_length=1)
    schemaId: str | None = Field(
        None, description="training schema; default targetSchemaKey or first customer schema"
    )
    sampleLimit: int | None = Field(None, ge=1, le=100_000, description="max rows (default 50000)")


@tool(
    "trainModel",
    title="Train model",
    module=MODULE,
    write=True,
    routes=AL,
    description=(
        "Retrain a bayesian/logistic/GBM model on customer rows labelled by outcomes; hold-out metrics."
    ),
)
async def train_model(ctx: ToolContext, args: TrainIn) -> TrainOut:
    async with repo_for(ctx) as repo:
        result = await core.train_model(
            repo, args.modelId, schema_id=args.schemaId, sample_limit=args.sampleLimit
        )
    return TrainOut.model_validate(result)


class PromoteIn(AlgoInput):
    modelId: str = Field(min_length=1)
    targetStatus: RegistryStatus
    reason: str | None = None
    bypassRollbackGuard: bool = Field(
        False, description="force past AUC/PSI/error guards (breaches recorded)"
    )
    rollbackThresholds: dict[str, float] | None = Field(None, description="maxAucDrop, maxPsi, maxErrorRate")


@tool(
    "promoteModel",
    title="Promote model",
    module=MODULE,
    write=True,
    routes=AL,
    description="Move a model along draft/shadow/challenger/champion/archived; a new champion "
    "archives the old one.",
)
async def promote_model(ctx: ToolContext, args: PromoteIn) -> PromoteOut:
    async with repo_for(ctx) as repo:
        result = await core.promote_model(
            repo,
            args.modelId,
            args.targetStatus,
            reason=args.reason,
            bypass_rollback_guard=args.bypassRollbackGuard,
            rollback_thresholds=args.rollbackThresholds,
        )
    return PromoteOut.model_validate(result)


@tool(
    "resetModelLearning",
    title="Reset model learning",
    module=MODULE,
    write=True,
    destructive=True,
    routes=AL,
    description="Snapshot, then clear a model's learned state and metrics; back to draft (not scorecards).",
)
async def reset_model_learning(ctx: ToolContext, args: ModelIdIn) -> ResetOut:
    async with repo_for(ctx) as repo:
        return ResetOut.model_validate(await core.reset_model_learning(repo, args.modelId))


@tool(
    "listPredictors",
    title="List predictors",
    module=MODULE,
    routes=AL,
    description="List a model's predictor features with data type, selected flag and importance.",
)
async def list_predictors(ctx: ToolContext, args: ModelIdIn) -> PredictorsOut:
    async with repo_for(ctx) as repo:
        return PredictorsOut.model_validate(await core.list_predictors(repo, args.modelId))


class UpdatePredictorsIn(AlgoInput):
    modelId: str = Field(min_length=1)
    predictors: PredictorList = Field(
        description="the complete new set: field names or {field, selected, importance}"
    )


@tool(
    "updatePredictors",
    title="Update predictors",
    module=MODULE,
    write=True,
    idempotent=True,
    routes=AL,
    description="Replace a model's predictor set (full replacement); fields are checked against its "
    "training schema.",
)
async def update_predictors(ctx: ToolContext, args: UpdatePredictorsIn) -> PredictorsOut:
    async with repo_for(ctx) as repo:
        return PredictorsOut.model_validate(await core.update_predictors(repo, args.modelId, args.predictors))


class ShapIn(AlgoInput):
    traceId: str = Field(min_length=1, description="decision trace id (or its requestId)")
    modelId: str = Field(min_length=1)
    offerId: str = Field(min_length=1)
    attributes: Obj | None = Field(None, description="override customer attributes (what-if)")


@tool(
    "computeShapValues",
    title="Compute SHAP values",
    module=MODULE,
    routes=AL,
    description=(
        "Per-feature contributions of one decision's model score, with baseline and additivity residual."
    ),
)
async def compute_shap_values(ctx: ToolContext, args: ShapIn) -> ShapOut:
    async with repo_for(ctx) as repo:
        result = await core.compute_shap_values(
            repo, args.traceId, args.modelId, args.offerId, args.attributes
        )
    return ShapOut.model_validate(result)


# ---- experiments ----------------------------------------------------------------------------
@tool(
    "listExperiments",
    title="List experiments",
    module=MODULE,
    routes=("all",),
    description="List champion/challenger experiments with status, models, traffic split and holdout.",
)
async def list_experiments(ctx: ToolContext, args: DataPage) -> PageOut:
    async with repo_for(ctx) as repo:
        page = await core.list_experiments(repo, limit=args.limit, cursor=args.cursor)
    return PageOut.model_validate(page)


class TrafficSplitIn(AlgoInput):
    championPct: float = Field(80, ge=0, le=100)


class ChallengerIn(AlgoInput):
    modelId: str = Field(min_length=1)
    trafficPct: float = Field(ge=0, le=100)


class CreateExperimentIn(AlgoInput):
    key: str = Field(min_length=1, max_length=255)
    name: str = Field(min_length=1, max_length=255)
    description: str = ""
    status: ExperimentStatus = "draft"
    championModelId: str | None = None
    trafficSplit: TrafficSplitIn = Field(default_factory=lambda: TrafficSplitIn(championPct=80))
    challengers: list[ChallengerIn] = Field(
        default_factory=list, description="championPct + Σ trafficPct = 100"
    )
    autoPromote: bool = False
    promoteThreshold: float = Field(0.02, ge=0)
    promoteAfterDays: int = Field(14, ge=0)
    holdoutPercent: float | None = Field(
        None, ge=0, le=100, description="control share, carved from the champion"
    )


@tool(
    "createExperiment",
    title="Create experiment",
    module=MODULE,
    write=True,
    routes=AL,
    description="Create a champion/challenger experiment; champion + challenger percentages must "
    "total exactly 100.",
)
async def create_experiment(ctx: ToolContext, args: CreateExperimentIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await core.create_experiment(repo, dump_create(args)))


class ExperimentIdIn(AlgoInput):
    experimentId: str = Field(min_length=1)


@tool(
    "getExperimentResults",
    title="Get experiment results",
    module=MODULE,
    routes=AL,
    description="Per-arm conversion with Wilson 95% intervals, uplift vs holdout/champion, z-test, p-value.",
)
async def get_experiment_results(ctx: ToolContext, args: ExperimentIdIn) -> ExperimentResultsOut:
    async with repo_for(ctx) as repo:
        return ExperimentResultsOut.model_validate(await core.experiment_results(repo, args.experimentId))
