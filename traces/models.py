"""The `trace_span` table: finished spans kept in the project's own database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index
from sqlmodel import Field, SQLModel


class TraceSpan(SQLModel, table=True):
    __tablename__ = "trace_span"
    __table_args__ = (
        # `traces list --since` and `traces stats` scan turn roots by start time
        Index("ix_trace_span_root_start", "is_root", "start_ns"),
        Index("ix_trace_span_name_start", "name", "start_ns"),
    )

    trace_id: str = Field(primary_key=True, max_length=32)  # 32 lowercase hex digits
    span_id: str = Field(primary_key=True, max_length=16)
    parent_id: str | None = Field(default=None, max_length=16)
    name: str = Field(max_length=200)
    kind: str = Field(default="INTERNAL", max_length=16)
    start_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="UNSET", max_length=8)  # UNSET | OK | ERROR
    status_message: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    events: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    conversation_id: str | None = Field(default=None, index=True, max_length=200)
    is_root: bool = False  # the turn's root span (invoke_workflow)
