"""Handlers of /api/v1/ai/imports: upload (multipart or JSON), proposals, apply, revert."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from kaireon_mcp.bridge import schemas as s
from kaireon_mcp.bridge.operations import Call, Operation, json_body, validation_error
from kaireon_mcp.core.ai import import_revert, imports
from kaireon_mcp.errors import ValidationError

__all__ = ["IMPORT_OPERATIONS"]

BASE = "/api/v1/ai/imports"


async def _multipart(request: Request) -> tuple[str, bytes, str, str | None]:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # the edge: python-multipart raises several unrelated types on bad input
        raise ValidationError(f"malformed multipart body ({exc.__class__.__name__})") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationError("multipart upload needs a 'file' part", field="file")
    data = await upload.read(imports.MAX_UPLOAD_BYTES + 1)
    conversation = form.get("conversationId")
    return (
        upload.filename or "upload",
        data,
        upload.content_type or "application/octet-stream",
        conversation if isinstance(conversation, str) and conversation else None,
    )


async def _json_upload(request: Request) -> tuple[str, bytes, str, str | None]:
    data = await json_body(request)
    if not isinstance(data, dict):
        raise ValidationError("the JSON body must be an object")
    try:
        body = s.ImportUpload.model_validate(data)
    except PydanticValidationError as exc:
        raise validation_error(exc) from None
    return body.filename, body.content.encode(), "text/plain", body.conversationId


async def _upload(call: Call) -> Any:
    content_type = call.request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        filename, data, ctype, conversation = await _multipart(call.request)
    else:
        filename, data, ctype, conversation = await _json_upload(call.request)
    result = await imports.upload(call.state.db, call.principal, filename, data, ctype, conversation)
    return (201 if result["created"] else 200), result


async def _proposals(call: Call) -> Any:
    return await imports.list_proposals(call.state.db, call.principal, call.path("id"))


async def _apply(call: Call) -> Any:
    result = await imports.apply_import(call.state.db, call.principal, call.path("id"), call.body)
    if not result["ok"]:
        return JSONResponse(result, status_code=422)
    return 201, result


async def _revert(call: Call) -> Any:
    return await import_revert.revert_import(call.state.db, call.principal, call.path("id"))


IMPORT_OPERATIONS: list[Operation] = [
    Operation("POST", BASE, _upload, "Upload a CSV, JSON or Markdown document and extract proposals",
              min_role="editor", body_kind="upload", body=s.ImportUpload, success=201,
              responses={201: s.UploadResult, 200: s.UploadResult}),
    Operation("GET", BASE + "/{id}/proposals", _proposals, "Proposals extracted from one attachment",
              min_role="editor", body_kind="none", responses={200: s.ProposalList, 404: None}),
    Operation("POST", BASE + "/{id}/apply", _apply, "Apply verdicts atomically (201) or roll back (422)",
              min_role="editor", body=s.ApplyRequest, success=201,
              responses={201: s.ApplyOk, 422: s.ApplyFail, 404: None}),
    Operation("POST", BASE + "/{id}/revert", _revert, "Revert one apply (delete created rows, keep merges)",
              min_role="editor", body_kind="none", responses={200: s.RevertResult, 404: None, 409: None}),
]  # fmt: skip
