"""MCP prompts and resources handlers (the non-tool half of the server).

Unknown prompts and resources are JSON-RPC -32602 (resources carry ``data: {uri}``), which is
what the spec asks for and what the high-level SDK server gets wrong (see the SDK notes).

``completion/complete`` suggests values for prompt and resource-template arguments that name a
tenant row (offer, channel, policy, model, experiment, decision flow, category): ids or keys that
start with the typed text, or whose row name contains it. Arguments without a catalogue (free
text, trace ids, customer ids) complete to an empty list; an unknown prompt, template or argument
is -32602, as the spec asks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp import MCPError
from mcp.server import ServerRequestContext
from mcp.types import (
    INVALID_PARAMS,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    PaginatedRequestParams,
    Prompt,
    PromptArgument,
    PromptMessage,
    PromptReference,
    ReadResourceRequestParams,
    ReadResourceResult,
    TextContent,
    TextResourceContents,
)

from kaireon_mcp.errors import KaireonError, NotFoundError
from kaireon_mcp.prompts import PromptSpec, get_prompt_spec, list_prompts, render_prompt
from kaireon_mcp.server.resources import JSON, RESOURCES, TEMPLATES, read_view
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    Base,
    Category,
    Channel,
    ContactPolicy,
    DecisionFlow,
    Experiment,
    Offer,
)

if TYPE_CHECKING:
    from kaireon_mcp.server.app import RequestScope, ServerDeps

__all__ = ["handlers", "wire_prompt"]

Resolver = Callable[[ServerRequestContext[Any, Any]], "RequestScope"]

#: completion values per response (the spec's maximum)
MAX_COMPLETIONS = 100
#: argument name -> (table, column whose values complete it); every table has a ``name`` column
COMPLETABLE: dict[str, tuple[type[Base], str]] = {
    "offerId": (Offer, "id"),
    "channelId": (Channel, "id"),
    "policyId": (ContactPolicy, "id"),
    "modelId": (AlgorithmModel, "id"),
    "challengerModelId": (AlgorithmModel, "id"),
    "championModelId": (AlgorithmModel, "id"),
    "experimentId": (Experiment, "id"),
    "flowKey": (DecisionFlow, "key"),
    "decisionFlowKey": (DecisionFlow, "key"),
    "categoryName": (Category, "name"),
}
_TEMPLATE_VARS = re.compile(r"\{(\w+)\}")


def wire_prompt(spec: PromptSpec) -> Prompt:
    return Prompt(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        arguments=[
            PromptArgument(
                name=arg.name,
                description=arg.description + (f" (default: {arg.default})" if arg.default else ""),
                required=arg.required,
            )
            for arg in spec.arguments
        ],
    )


async def list_prompts_handler(
    ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
) -> ListPromptsResult:
    return ListPromptsResult(prompts=[wire_prompt(spec) for spec in list_prompts()])


async def get_prompt_handler(
    ctx: ServerRequestContext[Any, Any], params: GetPromptRequestParams
) -> GetPromptResult:
    try:
        rendered = render_prompt(params.name, params.arguments)
    except KaireonError as exc:
        raise MCPError(code=INVALID_PARAMS, message=exc.message) from None
    return GetPromptResult(
        description=rendered.description,
        messages=[PromptMessage(role="user", content=TextContent(type="text", text=rendered.text))],
    )


async def list_resources_handler(
    ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
) -> ListResourcesResult:
    return ListResourcesResult(resources=RESOURCES)


async def list_templates_handler(
    ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
) -> ListResourceTemplatesResult:
    return ListResourceTemplatesResult(resource_templates=TEMPLATES)


def handlers(deps: ServerDeps, resolve: Resolver) -> dict[str, Any]:
    """The ``on_*`` keyword arguments for prompts and resources."""

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        uri = str(params.uri)
        scope = resolve(ctx)
        try:
            data = await read_view(deps.db, scope.principal, uri)
        except NotFoundError:
            raise MCPError(code=INVALID_PARAMS, message="Resource not found", data={"uri": uri}) from None
        text = json.dumps(data, ensure_ascii=False, default=str)
        return ReadResourceResult(contents=[TextResourceContents(uri=uri, mime_type=JSON, text=text)])

    def completion_arguments(params: CompleteRequestParams) -> set[str]:
        ref = params.ref
        if isinstance(ref, PromptReference):
            try:
                return {arg.name for arg in get_prompt_spec(ref.name).arguments}
            except NotFoundError:
                raise MCPError(code=INVALID_PARAMS, message=f"unknown prompt {ref.name!r}") from None
        for template in TEMPLATES:
            if template.uri_template == ref.uri:
                return set(_TEMPLATE_VARS.findall(template.uri_template))
        raise MCPError(code=INVALID_PARAMS, message="Resource template not found", data={"uri": ref.uri})

    async def complete(ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams) -> CompleteResult:
        name, typed = params.argument.name, params.argument.value
        if name not in completion_arguments(params):
            raise MCPError(code=INVALID_PARAMS, message=f"no argument {name!r} to complete")
        target = COMPLETABLE.get(name)
        if target is None:
            return CompleteResult(completion=Completion(values=[], total=0, has_more=False))
        model, column_name = target
        column = getattr(model, column_name)
        scope = resolve(ctx)
        name_column: Any = getattr(model, "name")  # noqa: B009 - every completable table has a name
        match = column.startswith(typed, autoescape=True) | name_column.icontains(typed, autoescape=True)
        async with deps.db.tenant(scope.principal) as repo:
            rows = await repo.all(model, match, order_by=column)
        values = list(dict.fromkeys(str(getattr(row, column_name)) for row in rows))
        return CompleteResult(
            completion=Completion(
                values=values[:MAX_COMPLETIONS],
                total=len(values),
                has_more=len(values) > MAX_COMPLETIONS,
            )
        )

    return {
        "on_completion": complete,
        "on_list_prompts": list_prompts_handler,
        "on_get_prompt": get_prompt_handler,
        "on_list_resources": list_resources_handler,
        "on_list_resource_templates": list_templates_handler,
        "on_read_resource": read_resource,
    }
