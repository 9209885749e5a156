"""Assistant conversations: list, create, read with messages, delete, append a turn (spec 3.2-3.5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select

from kaireon_mcp.core.ai._rows import insert_row
from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AiConversation, AiMessage
from kaireon_mcp.storage.types import utcnow

__all__ = [
    "DEFAULT_TITLE",
    "LIST_LIMIT",
    "append_turn",
    "create_conversation",
    "delete_conversation",
    "get_conversation",
    "list_conversations",
    "stored_messages",
    "title_from_text",
]

DEFAULT_TITLE = "New conversation"
LIST_LIMIT = 50
AUTO_TITLE_CHARS = 100
MAX_TITLE_CHARS = 200


def title_from_text(text: str | None) -> str:
    """Auto-title of a chat-created conversation: the first user message, cut to 100 characters."""
    clean = " ".join((text or "").split())
    return clean[:AUTO_TITLE_CHARS] if clean else DEFAULT_TITLE


def _summary(row: AiConversation) -> dict[str, Any]:
    data = row.to_dict()
    # There is no user directory in this build: the owner's id doubles as the display name.
    user = {"name": row.user_id, "image": None} if row.user_id else None
    return {
        "id": data["id"],
        "title": data["title"],
        "userId": data["userId"],
        "createdAt": data["createdAt"],
        "updatedAt": data["updatedAt"],
        "user": user,
    }


def _full(row: AiConversation) -> dict[str, Any]:
    data = row.to_dict()
    keys = ("id", "title", "tenantId", "userId", "createdAt", "updatedAt")
    return {key: data[key] for key in keys}


def _message(row: AiMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "role": row.role,
        "content": row.content,
        "createdAt": row.to_dict()["createdAt"],
    }
    if row.parts is not None:
        out["parts"] = row.parts
    if row.tool_invocations is not None:
        out["toolInvocations"] = row.tool_invocations
    return out


async def list_conversations(db: Database, principal: TenantContext) -> list[dict[str, Any]]:
    """The tenant's 50 most recently updated conversations (all users), without messages."""
    async with db.tenant(principal) as repo:
        stmt = repo.scoped(AiConversation).order_by(
            AiConversation.updated_at.desc(), AiConversation.id.desc()
        )
        rows = (await repo.session.execute(stmt.limit(LIST_LIMIT))).scalars().all()
        return [_summary(row) for row in rows]


def _checked_title(title: str | None) -> str:
    if title is None:
        return DEFAULT_TITLE
    clean = title.strip()
    if not clean or len(clean) > MAX_TITLE_CHARS:
        raise ValidationError(f"title must be 1-{MAX_TITLE_CHARS} characters", field="title")
    return clean


async def create_conversation(
    db: Database, principal: TenantContext, title: str | None = None, route: str = "/"
) -> dict[str, Any]:
    """Create an empty conversation owned by the principal's user (if any)."""
    async with db.tenant(principal) as repo:
        row = await insert_row(
            repo,
            AiConversation,
            {"title": _checked_title(title), "user_id": principal.user_id, "route": route},
        )
        return _full(row)


async def _load(repo: Repository, conversation_id: str) -> AiConversation:
    row = await repo.find(AiConversation, id=conversation_id)
    if row is None:
        raise NotFoundError(f"conversation {conversation_id!r} not found", field="conversationId")
    return row


async def _messages(repo: Repository, conversation_id: str) -> list[AiMessage]:
    stmt = (
        repo.scoped(AiMessage)
        .where(AiMessage.conversation_id == conversation_id)
        .order_by(AiMessage.seq, AiMessage.created_at, AiMessage.id)
    )
    return list((await repo.session.execute(stmt)).scalars().all())


async def get_conversation(db: Database, principal: TenantContext, conversation_id: str) -> dict[str, Any]:
    """One conversation of the caller's tenant with its messages, oldest first; 404 otherwise."""
    async with db.tenant(principal) as repo:
        row = await _load(repo, conversation_id)
        body = _full(row)
        body["messages"] = [_message(m) for m in await _messages(repo, conversation_id)]
        return body


async def stored_messages(
    db: Database, principal: TenantContext, conversation_id: str
) -> list[dict[str, Any]]:
    """The persisted history of a conversation (404 when absent or foreign)."""
    return list((await get_conversation(db, principal, conversation_id))["messages"])


async def delete_conversation(db: Database, principal: TenantContext, conversation_id: str) -> dict[str, Any]:
    """Delete a conversation and all its messages in one transaction."""
    async with db.tenant(principal) as repo:
        row = await _load(repo, conversation_id)
        await repo.session.execute(
            delete(AiMessage).where(
                repo.tenant_filter(AiMessage), AiMessage.conversation_id == conversation_id
            )
        )
        await repo.delete(AiConversation, row, soft=False)
    return {"success": True}


async def append_turn(
    db: Database,
    principal: TenantContext,
    conversation_id: str,
    messages: Sequence[dict[str, Any]],
) -> int:
    """Persist the messages of one chat turn in order and touch ``updatedAt``; returns the count.

    Each message is ``{role, content, parts?, toolInvocations?, id?}``. The conversation's
    owner is never changed by later turns.
    """
    async with db.tenant(principal) as repo:
        row = await _load(repo, conversation_id)
        stmt = select(func.max(AiMessage.seq)).where(
            repo.tenant_filter(AiMessage), AiMessage.conversation_id == conversation_id
        )
        seq = int((await repo.session.execute(stmt)).scalar_one_or_none() or 0)
        for message in messages:
            seq += 1
            await insert_row(repo, AiMessage, _message_values(conversation_id, seq, message))
        row.updated_at = utcnow()
        await repo.session.flush()
    return len(messages)


def _message_values(conversation_id: str, seq: int, message: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "conversation_id": conversation_id,
        "seq": seq,
        "role": str(message.get("role", "user")),
        "content": str(message.get("content") or ""),
        "parts": message.get("parts"),
        "tool_invocations": message.get("toolInvocations"),
    }
    if message.get("id"):
        values["id"] = str(message["id"])[:64]
    return values
