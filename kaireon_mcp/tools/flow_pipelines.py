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
    schemaId: str = Field(description="schema the target nodes write to")
    ir: dict[str, Any] = Field(
        description='{kind:"pipeline", irVersion:"1.0", nodes:[{id, kind, op?, config}], edges:[{from, to}]}'
    )
    description: str = ""


@tool(
    "createFlowPipeline",
    title="Create a flow pipeline",
    description="Create an IR-native pipeline; the IR is validated (all problems listed) before saving.",
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
            description=args.description,
        )
    return entity_out(created)


class GetIrIn(PipelineRef):
    version: int | None = Field(None, ge=1, description="IR version (latest when omitted)")


@tool(
    "getFlowPipelineIr",
    title="Get pipeline IR",
    description="Return a pipeline's stored IR document (CONFLICT if it is still a legacy pipeline).",
    module="flow",
)
async def get_flow_pipeline_ir(ctx: ToolContext, args: GetIrIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.get_ir(repo, args.pipelineId, args.version))


class UpdateFlowPipelineIn(PipelineRef):
    ir: dict[str, Any] = Field(description="complete new IR document")
    comment: str = ""


@tool(
    "updateFlowPipeline",
    title="Update a flow pipeline",
    description="Save a new IR version of a pipeline (legacy pipelines are promoted to IR on first save).",
    module="flow",
    write=True,
    routes=("FP",),
)
async def update_flow_pipeline(ctx: ToolContext, args: UpdateFlowPipelineIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.update_pipeline(repo, args.pipelineId, args.ir, args.comment))


@tool(
    "listFlowPipelineVersions",
    title="List pipeline versions",
    description="IR version history of a pipeline, newest first (version, authoredBy, comment, createdAt).",
    module="flow",
)
async def list_flow_pipeline_versions(ctx: ToolContext, args: PipelineRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.list_versions(repo, args.pipelineId))


class RunIn(PipelineRef):
    replayDlqOnly: bool = Field(False, description="re-run only the last run's quarantined rows")


@tool(
    "runFlowPipeline",
    title="Run a flow pipeline",
    description="Run a pipeline now (source rows inline or from a schema) and return the finished run.",
    module="flow",
    write=True,
)
async def run_flow_pipeline(ctx: ToolContext, args: RunIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.run_pipeline(repo, args.pipelineId, replay_dlq_only=args.replayDlqOnly))


class ListRunsIn(ToolInput):
    pipelineId: str | None = None
    status: Literal["pending", "running", "completed", "failed", "completed_with_errors"] | None = None
    limit: int = Field(20, ge=1, le=100)


@tool(
    "listFlowRuns",
    title="List pipeline runs",
    description="Pipeline run history with status and row counts, newest first.",
    module="flow",
)
async def list_flow_runs(ctx: ToolContext, args: ListRunsIn) -> PageOut:
    async with repo_for(ctx) as repo:
        return PageOut.model_validate(await flow.list_runs(repo, args.pipelineId, args.status, args.limit))


class RunRef(ToolInput):
    runId: str


class ProgressIn(PipelineRef, RunRef):
    pass


@tool(
    "getFlowRunProgress",
    title="Pipeline run progress",
    description="Progress of a run: row counts, partitions, ETA, first 20 validation errors, node log.",
    module="flow",
)
async def get_flow_run_progress(ctx: ToolContext, args: ProgressIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.run_progress(repo, args.pipelineId, args.runId))


class RunErrorsIn(RunRef):
    nodeId: str | None = Field(None, description="only rows quarantined by this node")
    limit: int = Field(50, ge=1, le=500)


@tool(
    "getFlowRunErrors",
    title="Pipeline run errors",
    description="Failure summary of a run by node and rule, with sample quarantined (DLQ) rows.",
    module="flow",
)
async def get_flow_run_errors(ctx: ToolContext, args: RunErrorsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.run_errors(repo, args.runId, args.nodeId, args.limit))


@tool(
    "replayFlowRun",
    title="Replay a pipeline run",
    description="Re-execute an earlier run as a new run with the IR version it used.",
    module="flow",
    write=True,
)
async def replay_flow_run(ctx: ToolContext, args: RunRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow.replay_run(repo, args.runId))


class TestFlowConnectorIn(ToolInput):
    connectorId: str
    endpointId: str | None = Field(None, description="YAML connector endpoint (first when omitted)")
    params: dict[str, Any] | None = Field(None, description="query parameters")


@tool(
    "testFlowConnector",
    title="Test-fire a flow connector",
    description="Call a connector endpoint (GET) and report reachability, latency and a sample of records.",
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
    customerId: str | None = Field(None, description="features from the customer's schema rows")
    attributes: dict[str, Any] | None = Field(None, description="features overriding the stored ones")
    offerId: str | None = Field(None, description="needed by per-offer models (bandits, bayesian)")


@tool(
    "scoreCustomer",
    title="Score a customer",
    description="Score one customer with a model; returns score, raw score and feature explanations.",
    module="flow",
    write=True,
)
async def score_customer(ctx: ToolContext, args: ScoreCustomerIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        result = await flow.score_customer(repo, args.modelId, args.customerId, args.attributes, args.offerId)
    return entity_out(result)
