"""Tables of service mode: incoming requests (the idempotency record) and conversation tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from orchestrator.records import utcnow

PENDING = "pending"
DONE = "done"
FAILED = "failed"


class ServiceRequest(SQLModel, table=True):
    """One customer message posted with an Idempotency-Key: the same key always gets this reply.

    The row becomes `done` in the same transaction as the turn record, so a turn that
    committed is never run again, whichever worker receives the message next."""

    __tablename__ = "svc_request"

    id: str = Field(primary_key=True, max_length=300)  # "<tenant>/<idempotency key>"
    conversation_id: str = Field(index=True, max_length=128)
    request_hash: str = Field(max_length=64)  # sha256 of the request body: a reused key must match
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=PENDING, index=True, max_length=16)
    http_status: int | None = None
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    attempts: int = 0
    worker: str | None = Field(default=None, max_length=200)  # who answered it
    created_at: datetime = Field(default_factory=utcnow, index=True)
    enqueued_at: datetime | None = None
    finished_at: datetime | None = None


class ConversationTenant(SQLModel, table=True):
    """Which tenant a conversation belongs to: the tenant of the channel that opened it."""

    __tablename__ = "svc_conversation_tenant"

    conversation_id: str = Field(primary_key=True, max_length=128)
    tenant: str = Field(index=True, max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
