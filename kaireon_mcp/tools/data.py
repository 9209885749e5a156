"""Data tools (tool-catalog.md §2.1): schemas, rows, connectors, transform catalog, pipelines."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field

from kaireon_mcp.core import data
from kaireon_mcp.tools.common import DataPage, EntityOut, PageOut, entity_out, repo_for
from kaireon_mcp.tools.registry import NoArgs, ToolContext, ToolInput, tool


class FieldSpec(ToolInput):
    name: str = Field(description="column name")
    displayName: str | None = None
    dataType: str = Field("varchar", description="varchar|text|integer|decimal|boolean|date|timestamp|json")
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    isNullable: bool = True
    isPrimaryKey: bool = False
    isUnique: bool = False
    isPredictor: bool = False
    defaultValue: str | None = None
    description: str = ""


class SchemaRef(ToolInput):
    schemaId: str = Field(description="schema id")


def _page(result: dict[str, Any]) -> PageOut:
    return PageOut.model_validate(result)


def probes_may_reach_public() -> bool:
    """Connector probes stay on loopback/private networks unless the operator opts in."""
    return os.environ.get("KAIREON_PROBE_PUBLIC", "").strip().lower() in {"1", "true", "yes"}


@tool(
    "listSchemas",
    title="List data schemas",
    description="List the tenant's data schemas with their fields; use to find schemaIds and column names.",
    module="data",
    routes=("all",),
)
async def list_schemas(ctx: ToolContext, args: DataPage) -> PageOut:
    async with repo_for(ctx) as repo:
        return _page(await data.list_schemas(repo, args.limit, args.cursor))


class GetSchemaFieldsIn(ToolInput):
    schemaId: str | None = Field(None, description="schema id")
    schemaName: str | None = Field(None, description="alternative lookup by name")


@tool(
    "getSchemaFields",
    title="Get schema fields",
    description="Return one schema's columns with types and primary-key/unique/predictor flags.",
    module="data",
    routes=("DS", "FP"),
)
async def get_schema_fields(ctx: ToolContext, args: GetSchemaFieldsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.describe_schema(repo, args.schemaId, args.schemaName))


class CreateSchemaIn(ToolInput):
    name: str = Field(description="lower-cased; non-alphanumerics become _")
    displayName: str
    description: str = ""
    entityType: Literal["customer", "account", "custom"] = "custom"
    schemaType: str = "customer"
    linkedSchemaId: str | None = None
    joinMapping: dict[str, Any] | None = None
    fields: list[FieldSpec] = Field(default_factory=list, description="columns; isPrimaryKey marks the key")


@tool(
    "createSchema",
    title="Create a data schema",
    description="Register a schema (table ds_<name>) with its fields; returns the schema with fields.",
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
            description=args.description,
            entity_type=args.entityType,
            schema_type=args.schemaType,
            linked_schema_id=args.linkedSchemaId,
            join_mapping=args.joinMapping,
            fields=[f.model_dump() for f in args.fields],
        )
    return entity_out(created)


class AddSchemaFieldIn(ToolInput):
    schemaId: str
    field: FieldSpec


@tool(
    "addSchemaField",
    title="Add a schema field",
    description="Add one column to an existing schema; refused if existing rows cannot satisfy it.",
    module="data",
    write=True,
    routes=("DS",),
)
async def add_schema_field(ctx: ToolContext, args: AddSchemaFieldIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.add_schema_field(repo, args.schemaId, args.field.model_dump()))


@tool(
    "getSchemaInboundReferences",
    title="Schema inbound references",
    description="List linked schemas, pipelines and segments that point at a schema; check before deleting.",
    module="data",
)
async def get_schema_inbound_references(ctx: ToolContext, args: SchemaRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.inbound_references(repo, args.schemaId))


@tool(
    "deleteSchema",
    title="Delete a schema",
    description="Delete a schema, its fields and rows; refused (CONFLICT) while anything references it.",
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
    offset: int = Field(0, ge=0)


@tool(
    "previewSchemaData",
    title="Preview schema rows",
    description="Return sample rows of a schema ordered by key (empty if not loaded yet).",
    module="data",
)
async def preview_schema_data(ctx: ToolContext, args: PreviewIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.preview_rows(repo, args.schemaId, args.limit, args.offset))


class InsertRowsIn(ToolInput):
    schemaId: str
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=5000, description="keys = column names")


@tool(
    "insertSchemaRows",
    title="Insert schema rows",
    description="Insert typed rows into a schema; rows whose key already exists are skipped and counted.",
    module="data",
    write=True,
)
async def insert_schema_rows(ctx: ToolContext, args: InsertRowsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.insert_rows(repo, args.schemaId, args.rows))


@tool(
    "getSchemaStats",
    title="Schema statistics",
    description="Per-field row statistics of a schema: nulls, distinct count, min/max/avg.",
    module="data",
)
async def get_schema_stats(ctx: ToolContext, args: SchemaRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await data.schema_stats(repo, args.schemaId))


@tool(
    "listConnectors",
    title="List connectors",
    description="List data connectors with type and last test status; credentials are never returned.",
    module="data",
    routes=("all",),
)
async def list_connectors(ctx: ToolContext, args: DataPage) -> PageOut:
    async with repo_for(ctx) as repo:
        return _page(await data.list_connectors(repo, args.limit, args.cursor))


class ConnectorFields(ToolInput):
    description: str | None = None
    config: dict[str, Any] | None = Field(
        None, validation_alias=AliasChoices("config", "connectionConfig"), description="host/port/url etc."
    )
    authMethod: str | None = None
    authConfig: dict[str, Any] | None = Field(None, description="credentials; stored encrypted")


class CreateConnectorIn(ConnectorFields):
    name: str
    type: str = Field(description="e.g. postgresql, mysql, snowflake, aws_s3, kafka, rest_api, webhook")


@tool(
    "createConnector",
    title="Create a connector",
    description="Register a connection to an external data source; secrets are encrypted and never echoed.",
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
    title="Test a connector",
    description="Probe a saved connector (TCP or HTTP, 3 s timeout) and record status and latency.",
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
    title="Update a connector",
    description="Edit a connector's name, type, config or credentials (a new authConfig replaces the old).",
    module="data",
    write=True,
    idempotent=True,
)
async def update_connector(ctx: ToolContext, args: UpdateConnectorIn) -> EntityOut:
    changes = args.model_dump(exclude_unset=True, exclude={"connectorId"})
    async with repo_for(ctx) as repo:
        return entity_out(await data.update_connector(repo, args.connectorId, changes))


class YamlConnectorIn(ToolInput):
    yaml: str = Field(description="spec with name, baseUrl, endpoints[{id, path, method}], auth?")


@tool(
    "createYamlConnector",
    title="Create a YAML connector",
    description="Validate a declarative YAML HTTP connector spec and register it if valid.",
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
    title="List transform types",
    description="Catalog of the 19 pipeline transform ops with their config shape.",
    module="data",
    routes=("all",),
)
async def list_transform_types(ctx: ToolContext, args: NoArgs) -> TransformTypesOut:
    return TransformTypesOut.model_validate(data.list_transform_types())


@tool(
    "listPipelines",
    title="List pipelines",
    description="List data pipelines with connector/schema names and last-run status.",
    module="data",
    routes=("all",),
)
async def list_pipelines(ctx: ToolContext, args: DataPage) -> PageOut:
    async with repo_for(ctx) as repo:
        return _page(await data.list_pipelines(repo, args.limit, args.cursor))
