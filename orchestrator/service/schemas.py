"""Request and response bodies of the HTTP API (they make up the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="what the customer wrote", examples=["I was charged twice for my plan"])
    customer_id: str | None = Field(
        default=None, description="the customer, e.g. C1001; needed on a new conversation"
    )
    jurisdiction: str | None = Field(
        default=None, description="EU, UK, US-CA, US, CN or SG when no customer is known"
    )


class TurnReply(BaseModel):
    """The reply to one customer message and the turn's routing record summary."""

    reply: str
    conversation_id: str
    turn_id: str | None = None
    status: str | None = None
    tasks: list[dict[str, Any]] = []
    unclear: list[Any] = []
    out_of_scope: bool = False
    wants_human: bool = False
    handoff: dict[str, Any] | None = None
    counts: dict[str, Any] = {}
    policy: dict[str, Any] = {}
    latency_ms: float | None = None


class Pending(BaseModel):
    status: str = "pending"
    request: str
    poll: str = Field(description="GET this URL for the reply")


class OperatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: str = Field(description="the operator's name, as the audit log records it", examples=["alice"])


class OperatorReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    operator: str | None = Field(default=None, description="default: whoever took the conversation over")


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: str | None = None


class ErrorOut(BaseModel):
    error: str
