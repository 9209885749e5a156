"""Flow tools (tool-catalog.md §2.2): IR-native pipelines, runs, DLQ, connector test-fire, scoring."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kaireon_mcp.core import flow_pipelines as flow
from kaireon_mcp.tools.common import EntityOut, PageOut, entity_out, repo_for
from kaireon_mcp.tools.data import probes_may_reach_public
from kaireon_mcp.tools.registry import ToolContext, ToolInput, tool


class PipelineRef(ToolInput):
    pipelineId: str


class CreateFlowPipelineIn(ToolInput):
    name: str
    connectorId: str
    schemaId: str = Field(description="target schema")
    ir: dict[str, Any] = Field(
        description='{kind:"pipeline", irVersion:"1.0", nodes:[{id, kind, op?, config}], edges:[{from,to}]}'
    )
    description: str | None = None


@tool(
    "createFlowPipeline",
    title="Create pipeline",
    description="Create an IR-native pipeline; the IR is validated first.",
    module="flow",
    write=True,
    routes=("FP",),
)
async def create_flow_pipeline(ctx: ToolContext, args: CreateFlowPipelineIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        created = await flow.create_pipeline(
            repo,
            name=args.name,
            connector_id=args.connectorId,
            schema_id=args.schemaId,
            ir=args.ir,
            description=args.description or "",
        )
    return entity_out(created)


class GetIrIn(PipelineRef):
    version: int | None = Field(None, ge=1)


@tool(
    "getFlowPipelineIr",
    title="Pipeline IR",
    description="A pipeline's IR document (latest or given version); CONFLICT if legacy.",
    module="flow",
)
async def get_flow_pipeline_ir(ctx: ToolContext, args: GetIrIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.get_ir(repo, args.pipelineId, args.version))


class UpdateFlowPipelineIn(PipelineRef):
    ir: dict[str, Any] = Field(description="full IR")
    comment: str | None = None


@tool(
    "updateFlowPipeline",
    title="Update pipeline",
    description="Save a new IR version (promotes a legacy pipeline).",
    module="flow",
    write=True,
    routes=("FP",),
)
async def update_flow_pipeline(ctx: ToolContext, args: UpdateFlowPipelineIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.update_pipeline(repo, args.pipelineId, args.ir, args.comment or ""))


@tool(
    "listFlowPipelineVersions",
    title="Pipeline versions",
    description="IR version history of a pipeline, newest first.",
    module="flow",
)
async def list_flow_pipeline_versions(ctx: ToolContext, args: PipelineRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.list_versions(repo, args.pipelineId))


class RunIn(PipelineRef):
    replayDlqOnly: bool | None = Field(None, description="only rerun quarantined rows")


@tool(
    "runFlowPipeline",
    title="Run pipeline",
    description="Run a pipeline now; returns the run with counts and first errors.",
    module="flow",
    write=True,
)
async def run_flow_pipeline(ctx: ToolContext, args: RunIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(
            await flow.run_pipeline(repo, args.pipelineId, replay_dlq_only=bool(args.replayDlqOnly))
        )


class ListRunsIn(ToolInput):
    pipelineId: str | None = None
    status: Literal["pending", "running", "completed", "failed", "completed_with_errors"] | None = None
    limit: int | None = Field(None, ge=1, le=100)


@tool(
    "listFlowRuns",
    title="Pipeline runs",
    description="Pipeline run history with status and row counts.",
    module="flow",
)
async def list_flow_runs(ctx: ToolContext, args: ListRunsIn) -> PageOut:
    async with repo_for(ctx) as repo:
        return PageOut.model_validate(
            await flow.list_runs(repo, args.pipelineId, args.status, args.limit or 20)
        )


class RunRef(ToolInput):
    runId: str


class ProgressIn(PipelineRef, RunRef):
    pass


@tool(
    "getFlowRunProgress",
    title="Run progress",
    description="Run progress: counts, partitions, ETA, first 20 errors, node log.",
    module="flow",
)
async def get_flow_run_progress(ctx: ToolContext, args: ProgressIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.run_progress(repo, args.pipelineId, args.runId))


class RunErrorsIn(RunRef):
    nodeId: str | None = None
    limit: int | None = Field(None, ge=1, le=500)


@tool(
    "getFlowRunErrors",
    title="Run errors",
    description="A run's failures by node and rule with sample quarantined (DLQ) rows.",
    module="flow",
)
async def get_flow_run_errors(ctx: ToolContext, args: RunErrorsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.run_errors(repo, args.runId, args.nodeId, args.limit or 50))


@tool(
    "replayFlowRun",
    title="Replay run",
    description="Re-execute an earlier run (same IR version) as a new run.",
    module="flow",
    write=True,
)
async def replay_flow_run(ctx: ToolContext, args: RunRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.replay_run(repo, args.runId))


class TestFlowConnectorIn(ToolInput):
    connectorId: str
    endpointId: str | None = None
    params: dict[str, Any] | None = None


@tool(
    "testFlowConnector",
    title="Test-fire connector",
    description="GET a connector endpoint: reachability, latency, sample records.",
    module="flow",
    write=True,
    open_world=True,
)
async def test_flow_connector(ctx: ToolContext, args: TestFlowConnectorIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        result = await flow.test_flow_connector(
            repo, args.connectorId, args.endpointId, args.params, probes_may_reach_public()
        )
    return entity_out(result)


class ScoreCustomerIn(ToolInput):
    modelId: str
    customerId: str | None = None
    attributes: dict[str, Any] | None = Field(None, description="override features")
    offerId: str | None = Field(None, description="for per-offer models")


@tool(
    "scoreCustomer",
    title="Score customer",
    description="Score one customer with a model: score and feature explanations.",
    module="flow",
    write=True,
)
async def score_customer(ctx: ToolContext, args: ScoreCustomerIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        result = await flow.score_customer(repo, args.modelId, args.customerId, args.attributes, args.offerId)
    return entity_out(result)
