"""The tables the console reads, as SQLAlchemy Core tables, and the clock it reads them by."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.records import Conversation, Message, TurnRecord
from orchestrator.takeover import TakeoverEntry

CONVERSATION = Conversation.__table__  # type: ignore[attr-defined]
TURN = TurnRecord.__table__  # type: ignore[attr-defined]
MESSAGE = Message.__table__  # type: ignore[attr-defined]
ENTRY = TakeoverEntry.__table__  # type: ignore[attr-defined]


def utcnow() -> datetime:
    return datetime.now(UTC)
