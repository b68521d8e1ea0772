"""Conversations and per-turn routing records: who did what, in which order, with which counts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

# conversation status, shared by the CLI, the queue and the console
AUTOMATED = "automated"
RESOLVED = "resolved"
NEEDS_HUMAN = "needs_human"
CLAIMED = "claimed"
CLOSED = "closed"
CONVERSATION_STATUSES = (AUTOMATED, RESOLVED, NEEDS_HUMAN, CLAIMED, CLOSED)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Conversation(SQLModel, table=True):
    __tablename__ = "cd_conversation"

    id: str = Field(primary_key=True)
    customer_id: str | None = Field(default=None, index=True)
    jurisdiction: str = "EU"
    status: str = Field(default=AUTOMATED, index=True)
    turns: int = 0
    departments: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    transfers: int = 0  # customer transfers over the whole conversation
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class TurnRecord(SQLModel, table=True):
    """The routing record of one turn. `record` holds the full JSON the CLI prints."""

    __tablename__ = "cd_turn"

    id: str = Field(primary_key=True)
    conversation_id: str = Field(index=True)
    seq: int  # 1-based turn number within the conversation
    created_at: datetime = Field(default_factory=utcnow, index=True)
    status: str  # resolved | partial | needs_human | needs_info | out_of_scope | greeting
    dispatches: int = 0
    reroutes: int = 0
    escalations: int = 0
    customer_transfers: int = 0
    latency_ms: float = 0.0
    trace_id: str | None = Field(default=None, index=True)
    record: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class Message(SQLModel, table=True):
    """The transcript: what the customer, the assistant and operators said, in order."""

    __tablename__ = "cd_message"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(index=True)
    turn_id: str | None = Field(default=None, index=True)
    role: str  # customer | assistant | operator | system
    author: str = ""  # operator name, department, ...
    text: str
    created_at: datetime = Field(default_factory=utcnow, index=True)


class ErasureMark(SQLModel, table=True):
    """What a customer's erasure request did to one transcript message or turn record
    (see policies.transcript_erasure): `frozen` kept whole under a legal retention until
    `retain_until`, `erased` its content removed. One row per message or turn."""

    __tablename__ = "cd_erasure_mark"
    __table_args__ = (UniqueConstraint("kind", "row_id", name="uq_erasure_mark_row"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # "message" (cd_message) | "turn" (cd_turn)
    row_id: str = Field(index=True)  # the message id (as text) or the turn id
    conversation_id: str = Field(index=True)
    status: str  # frozen | erased
    retain_until: datetime | None = None
    request_turn_id: str  # the turn that carried the erasure request
    marked_at: datetime = Field(default_factory=utcnow)
