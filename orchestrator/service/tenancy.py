"""Which tenant owns a conversation, and who may see it.

A conversation belongs to the tenant of the channel token that opened it. Tokens
without a tenant see every tenant; a tenant-bound token sees its own tenant's
conversations only, and others look as if they did not exist (404, never 403).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.errors import NotFoundError
from orchestrator.service.config import Principal
from orchestrator.service.tables import ConversationTenant


def owner(engine: Any, conversation_id: str) -> str | None:
    with Session(engine) as session:
        row = session.get(ConversationTenant, conversation_id)
        return row.tenant if row is not None else None


def _hidden(conversation_id: str) -> NotFoundError:
    return NotFoundError(f"conversation {conversation_id!r} not found")


def check_access(engine: Any, principal: Principal, conversation_id: str) -> None:
    if principal.tenant is None:
        return
    if owner(engine, conversation_id) != principal.tenant:
        raise _hidden(conversation_id)


def claim_for_channel(engine: Any, principal: Principal, conversation_id: str) -> None:
    """Record the channel's tenant on a new conversation; refuse another tenant's conversation."""
    if principal.tenant is None:
        return
    from orchestrator.records import Conversation

    try:
        with Session(engine) as session:
            if session.get(ConversationTenant, conversation_id) is None:
                if session.get(Conversation, conversation_id) is not None:
                    # started outside the API (CLI, console): no tenant may take it over
                    raise _hidden(conversation_id)
                session.add(ConversationTenant(conversation_id=conversation_id, tenant=principal.tenant))
                session.commit()
    except IntegrityError:
        pass  # another request created it first; checked below
    check_access(engine, principal, conversation_id)


def visible(engine: Any, principal: Principal, conversation_ids: list[str]) -> set[str]:
    if principal.tenant is None:
        return set(conversation_ids)
    with Session(engine) as session:
        rows = session.exec(
            select(ConversationTenant.conversation_id).where(
                col(ConversationTenant.conversation_id).in_(conversation_ids),
                ConversationTenant.tenant == principal.tenant,
            )
        )
        return set(rows)
