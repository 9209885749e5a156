"""OpenAPI 3.1 document generated from the operation table and its pydantic models.

Request and response schemas come from pydantic's JSON Schema; their ``$defs`` become
``components/schemas``, so the document cannot drift from what the handlers validate.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from kaireon_mcp import __version__
from kaireon_mcp.bridge.operations import Operation
from kaireon_mcp.bridge.schemas import ErrorResponse, Health

__all__ = ["COMMON_ERRORS", "openapi_document"]

REF = "#/components/schemas/{model}"
COMMON_ERRORS = (400, 401, 403, 429)
ERROR_TEXT = {
    400: "Invalid JSON or validation failure",
    401: "Missing or invalid API key",
    403: "Role, scope or tenant not allowed",
    404: "Unknown id (or another tenant's)",
    409: "Conflict",
    422: "Rolled back",
    429: "Rate limited (see Retry-After)",
    503: "A dependency (AI provider, ML worker) is unavailable",
}
PUBLIC = [
    ("/healthz", "healthz", "Liveness probe", Health),
]


def _models(ops: list[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (ErrorResponse, "serialization"),
        (Health, "serialization"),
    ]
    for op in ops:
        if op.body is not None and op.body_kind != "none":
            keys.append((op.body, "validation"))
        keys += [(m, "serialization") for m in op.responses.values() if m is not None]
    return list(dict.fromkeys(keys))


def _params(op: Operation) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    if op.query is not None:
        schema = op.query.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            clean = {k: v for k, v in prop.items() if k != "title"}
            params.append({"name": name, "in": "query", "required": name in required, "schema": clean})
    return params


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _request_body(op: Operation, refs: dict[Any, Any]) -> dict[str, Any] | None:
    if op.body is None or op.body_kind == "none":
        return None
    content = _json(refs[(op.body, "validation")])
    if op.body_kind == "upload":
        content["multipart/form-data"] = {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "contentMediaType": "application/octet-stream"},
                    "conversationId": {"type": "string"},
                },
            }
        }
    return {"required": True, "content": content}


def _responses(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    error = {"$ref": REF.format(model="ErrorResponse")}
    out: dict[str, Any] = {}
    for status, model in sorted(op.responses.items()):
        if op.stream and status == 200:
            out["200"] = {
                "description": "SSE stream",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        elif model is None:
            out[str(status)] = {"description": ERROR_TEXT.get(status, "Error"), "content": _json(error)}
        else:
            out[str(status)] = {"description": "OK", "content": _json(refs[(model, "serialization")])}
    for status in COMMON_ERRORS:
        out.setdefault(str(status), {"description": ERROR_TEXT[status], "content": _json(error)})
    return out


def _operation(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    roles = {"viewer": "admin, editor, viewer", "editor": "admin, editor", "admin": "admin"}[op.min_role]
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": f"Roles: {roles}.",
        "tags": list(op.tags),
        "parameters": _params(op),
        "responses": _responses(op, refs),
    }
    body = _request_body(op, refs)
    if body is not None:
        spec["requestBody"] = body
    return spec


def openapi_document(ops: list[Operation]) -> dict[str, Any]:
    """The whole document; ``ops`` is the same list the router is built from."""
    refs, defs = models_json_schema(_models(ops), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    for path, op_id, summary, model in PUBLIC:
        paths[path] = {
            "get": {
                "operationId": op_id,
                "summary": summary,
                "security": [],
                "responses": {"200": {"description": "OK", "content": _json(refs[(model, "serialization")])}},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "kaireon-mcp HTTP bridge", "version": __version__},
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Authorization: Bearer krn_...",
                },
            },
        },
    }
