"""MCP prompts and resources handlers (the non-tool half of the server).

Unknown prompts and resources are JSON-RPC -32602 (resources carry ``data: {uri}``), which is
what the spec asks for and what the high-level SDK server gets wrong (see the SDK notes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp import MCPError
from mcp.server import ServerRequestContext
from mcp.types import (
    INVALID_PARAMS,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    PaginatedRequestParams,
    Prompt,
    PromptArgument,
    PromptMessage,
    ReadResourceRequestParams,
    ReadResourceResult,
    TextContent,
    TextResourceContents,
)

from kaireon_mcp.errors import KaireonError, NotFoundError
from kaireon_mcp.prompts import PromptSpec, list_prompts, render_prompt
from kaireon_mcp.server.resources import JSON, RESOURCES, TEMPLATES, read_view

if TYPE_CHECKING:
    from kaireon_mcp.server.app import RequestScope, ServerDeps

__all__ = ["handlers", "wire_prompt"]

Resolver = Callable[[ServerRequestContext[Any, Any]], "RequestScope"]


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

    return {
        "on_list_prompts": list_prompts_handler,
        "on_get_prompt": get_prompt_handler,
        "on_list_resources": list_resources_handler,
        "on_list_resource_templates": list_templates_handler,
        "on_read_resource": read_resource,
    }
