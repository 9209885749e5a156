"""Data tools (tool-catalog.md §2.1): schemas, rows, connectors, transform catalog, pipelines."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field

from kaireon_mcp.core import data
from kaireon_mcp.tools.common import DataPage, EntityOut, PageOut, entity_out, repo_for
from kaireon_mcp.tools.registry import NoArgs, ToolContext, ToolInput, tool


class FieldSpec(ToolInput):
    name: str
    displayName: str | None = None
    dataType: str | None = Field(None, description="varchar|integer|decimal|boolean|date|timestamp|json")
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    isNullable: bool | None = None
    isPrimaryKey: bool | None = None
    isUnique: bool | None = None
    isPredictor: bool | None = None
    defaultValue: str | None = None
    description: str | None = None


class SchemaRef(ToolInput):
    schemaId: str


def _page(result: dict[str, Any]) -> PageOut:
    return PageOut.model_validate(result)


def probes_may_reach_public() -> bool:
    """Connector probes stay on loopback/private networks unless the operator opts in."""
    return os.environ.get("KAIREON_PROBE_PUBLIC", "").strip().lower() in {"1", "true", "yes"}


@tool(
    "listSchemas",
    title="List schemas",
    description="List data schemas with their fields (ids and column names).",
    module="data",
    routes=("all",),
)
async def list_schemas(ctx: ToolContext, args: DataPage) -> PageOut:
    async with repo_for(ctx) as repo:
        return _page(await data.list_schemas(repo, args.limit, args.cursor))


class GetSchemaFieldsIn(ToolInput):
    schemaId: str | None = None
    schemaName: str | None = None


@tool(
    "getSchemaFields",
    title="Schema fields",
    description="One schema's columns with types and key/unique/predictor flags (by id or name).",
    module="data",
    routes=("DS", "FP"),
)
async def get_schema_fields(ctx: ToolContext, args: GetSchemaFieldsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.describe_schema(repo, args.schemaId, args.schemaName))


class CreateSchemaIn(ToolInput):
    name: str
    displayName: str
    description: str | None = None
    entityType: Literal["customer", "account", "custom"] | None = None
    schemaType: str | None = None
    linkedSchemaId: str | None = None
    joinMapping: dict[str, Any] | None = None
    fields: list[FieldSpec] | None = None


@tool(
    "createSchema",
    title="Create schema",
    description="Create a data schema (table ds_<name>, name sanitised) with its fields.",
    module="data",
    write=True,
    routes=("DS",),
)
async def create_schema(ctx: ToolContext, args: CreateSchemaIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        created = await data.create_schema(
            repo,
            name=args.name,
            display_name=args.displayName,
            description=args.description or "",
            entity_type=args.entityType or "custom",
            schema_type=args.schemaType or "customer",
            linked_schema_id=args.linkedSchemaId,
            join_mapping=args.joinMapping,
            fields=[f.model_dump(exclude_none=True) for f in args.fields or []],
        )
    return entity_out(created)


class AddSchemaFieldIn(ToolInput):
    schemaId: str
    # validated as a FieldSpec in the handler; advertising it again would repeat createSchema's $defs
    field: dict[str, Any] = Field(description="FieldSpec as in createSchema: {name, dataType?, ...}")


@tool(
    "addSchemaField",
    title="Add schema field",
    description="Add a column to a schema; refused if existing rows cannot satisfy it.",
    module="data",
    write=True,
    routes=("DS",),
)
async def add_schema_field(ctx: ToolContext, args: AddSchemaFieldIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(
            await data.add_schema_field(
                repo, args.schemaId, FieldSpec.model_validate(args.field).model_dump(exclude_none=True)
            )
        )


@tool(
    "getSchemaInboundReferences",
    title="Schema references",
    description="Linked schemas, pipelines and segments pointing at a schema (check before deleting).",
    module="data",
)
async def get_schema_inbound_references(ctx: ToolContext, args: SchemaRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.inbound_references(repo, args.schemaId))


@tool(
    "deleteSchema",
    title="Delete schema",
    description="Delete a schema with its rows; CONFLICT while anything references it.",
    module="data",
    write=True,
    destructive=True,
)
async def delete_schema(ctx: ToolContext, args: SchemaRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.delete_schema(repo, args.schemaId))


class PreviewIn(ToolInput):
    schemaId: str
    limit: int = Field(50, ge=1, le=500)
    offset: int | None = Field(None, ge=0)


@tool(
    "previewSchemaData",
    title="Preview rows",
    description="Sample rows of a schema, ordered by key.",
    module="data",
)
async def preview_schema_data(ctx: ToolContext, args: PreviewIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.preview_rows(repo, args.schemaId, args.limit, args.offset or 0))


class InsertRowsIn(ToolInput):
    schemaId: str
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=5000)


@tool(
    "insertSchemaRows",
    title="Insert rows",
    description="Insert rows (keys = column names); rows with an existing key are skipped.",
    module="data",
    write=True,
)
async def insert_schema_rows(ctx: ToolContext, args: InsertRowsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.insert_rows(repo, args.schemaId, args.rows))


@tool(
    "getSchemaStats",
    title="Schema stats",
    description="Per-field statistics of a schema's rows: nulls, distinct, min/max/avg.",
    module="data",
)
async def get_schema_stats(ctx: ToolContext, args: SchemaRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.schema_stats(repo, args.schemaId))


@tool(
    "listConnectors",
    title="List connectors",
    description="List data connectors with type and last test status (no credentials).",
    module="data",
    routes=("all",),
)
async def list_connectors(ctx: ToolContext, args: DataPage) -> PageOut:
    async with repo_for(ctx) as repo:
        return _page(await data.list_connectors(repo, args.limit, args.cursor))


class ConnectorFields(ToolInput):
    description: str | None = None
    config: dict[str, Any] | None = Field(None, validation_alias=AliasChoices("config", "connectionConfig"))
    authMethod: str | None = None
    authConfig: dict[str, Any] | None = Field(None, description="credentials (stored encrypted)")


class CreateConnectorIn(ConnectorFields):
    name: str
    type: str = Field(description="e.g. postgresql, snowflake, aws_s3, kafka, rest_api, webhook")


@tool(
    "createConnector",
    title="Create connector",
    description="Register an external data source; secrets are encrypted, never echoed.",
    module="data",
    write=True,
    routes=("DX",),
)
async def create_connector(ctx: ToolContext, args: CreateConnectorIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        created = await data.create_connector(
            repo,
            name=args.name,
            type=args.type,
            description=args.description or "",
            config=args.config,
            auth_method=args.authMethod or "access_key",
            auth_config=args.authConfig,
        )
    return entity_out(created)


class ConnectorRef(ToolInput):
    connectorId: str


@tool(
    "testConnector",
    title="Test connector",
    description="Probe a connector (TCP/HTTP, 3 s) and record status and latency.",
    module="data",
    write=True,
    routes=("DX",),
    open_world=True,
)
async def test_connector(ctx: ToolContext, args: ConnectorRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.test_connector(repo, args.connectorId, probes_may_reach_public()))


class UpdateConnectorIn(ConnectorFields):
    connectorId: str
    name: str | None = None
    type: str | None = None


@tool(
    "updateConnector",
    title="Update connector",
    description="Edit a connector; a new authConfig replaces the stored credentials.",
    module="data",
    write=True,
    idempotent=True,
)
async def update_connector(ctx: ToolContext, args: UpdateConnectorIn) -> EntityOut:
    changes = args.model_dump(exclude_unset=True, exclude={"connectorId"})
    async with repo_for(ctx) as repo:
        return entity_out(await data.update_connector(repo, args.connectorId, changes))


class YamlConnectorIn(ToolInput):
    yaml: str = Field(description="name, baseUrl, endpoints[{id, path, method}], auth?")


@tool(
    "createYamlConnector",
    title="YAML connector",
    description="Validate a declarative YAML HTTP connector and register it.",
    module="data",
    write=True,
)
async def create_yaml_connector(ctx: ToolContext, args: YamlConnectorIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.create_yaml_connector(repo, args.yaml))


class TransformTypesOut(BaseModel):
    items: list[dict[str, Any]]
    total: int


@tool(
    "listTransformTypes",
    title="Transform types",
    description="The 19 pipeline transform ops with their config shape.",
    module="data",
    routes=("all",),
)
async def list_transform_types(ctx: ToolContext, args: NoArgs) -> TransformTypesOut:
    return TransformTypesOut.model_validate(data.list_transform_types())


@tool(
    "listPipelines",
    title="List pipelines",
    description="List pipelines with connector/schema names and last-run status.",
    module="data",
    routes=("all",),
)
async def list_pipelines(ctx: ToolContext, args: DataPage) -> PageOut:
    async with repo_for(ctx) as repo:
        return _page(await data.list_pipelines(repo, args.limit, args.cursor))
