"""The queue: every live conversation, with its stay in the operator queue; filter and sort."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.engine import Engine

from orchestrator.knowledge.reads import read_rows
from orchestrator.records import CLAIMED, NEEDS_HUMAN
from orchestrator.takeover import OPEN_STATUSES, QUEUED
from policies.audit import as_utc
from tui.data.tables import CONVERSATION, ENTRY

QUEUE_LIMIT = 200  # recent conversations listed besides every one waiting for a person


@dataclass(frozen=True)
class QueueRow:
    """One conversation as the queue lists it; the takeover fields are set while it is queued or claimed."""

    conversation_id: str
    customer_id: str | None
    jurisdiction: str
    status: str  # automated | resolved | needs_human | claimed | closed
    departments: tuple[str, ...]
    transfers: int
    turns: int
    updated_at: datetime
    summary: str = ""
    sla_deadline: datetime | None = None
    sla_seconds: int | None = None
    sla_breached: bool = False  # stored when claimed late; an overdue wait is computed from the clock
    claimed_by: str | None = None
    takeover_latency_ms: float | None = None

    @property
    def waiting(self) -> bool:
        """Queued for a person and nobody has claimed it yet."""
        return self.status == NEEDS_HUMAN and self.sla_deadline is not None and self.claimed_by is None

    def seconds_left(self, now: datetime) -> float | None:
        if not self.waiting or self.sla_deadline is None:
            return None
        return (self.sla_deadline - now).total_seconds()

    def overdue(self, now: datetime) -> bool:
        left = self.seconds_left(now)
        return left is not None and left < 0

    def search_text(self) -> str:
        return " ".join(
            [
                self.conversation_id,
                self.customer_id or "",
                self.jurisdiction,
                self.status,
                self.status.replace("_", " "),
                *self.departments,
                self.claimed_by or "",
                self.summary,
            ]
        ).lower()


def _entry_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "summary": entry["summary"] or "",
        "sla_deadline": as_utc(entry["sla_deadline"]),
        "sla_seconds": entry["sla_seconds"],
        "sla_breached": bool(entry["sla_breached"]),
        "claimed_by": entry["claimed_by"] if entry["status"] != QUEUED else None,
        "takeover_latency_ms": entry["takeover_latency_ms"],
    }


def queue_row(conv: Mapping[str, Any], entry: Mapping[str, Any] | None) -> QueueRow:
    return QueueRow(
        conversation_id=conv["id"],
        customer_id=conv["customer_id"],
        jurisdiction=conv["jurisdiction"] or "",
        status=conv["status"],
        departments=tuple(conv["departments"] or ()),
        transfers=int(conv["transfers"] or 0),
        turns=int(conv["turns"] or 0),
        updated_at=as_utc(conv["updated_at"]),
        **(_entry_fields(entry) if entry is not None else {}),
    )


def list_conversations(engine: Engine, *, limit: int = QUEUE_LIMIT) -> list[QueueRow]:
    """Every conversation waiting for or held by a person, plus the `limit` most recently updated."""
    entries = read_rows(engine, select(*ENTRY.c).where(ENTRY.c.status.in_(OPEN_STATUSES)))
    by_conv = {e["conversation_id"]: e for e in entries}
    recent = read_rows(engine, select(*CONVERSATION.c).order_by(desc(CONVERSATION.c.updated_at)).limit(limit))
    seen = {c["id"] for c in recent}
    missing = [cid for cid in by_conv if cid not in seen]
    if missing:
        recent += read_rows(engine, select(*CONVERSATION.c).where(CONVERSATION.c.id.in_(missing)))
    return [queue_row(c, by_conv.get(c["id"])) for c in recent]


# sort orders the queue offers, in the order `s` cycles through them
SORTS = ("attention", "updated", "customer", "transfers")


def attention_rank(row: QueueRow, operator: str | None) -> int:
    """What needs the operator first: unclaimed waits, then their own claims, then others' claims."""
    if row.waiting:
        return 0
    if row.status == CLAIMED and row.claimed_by == operator:
        return 1
    if row.status in (CLAIMED, NEEDS_HUMAN):
        return 2
    return 3


def sort_rows(rows: Iterable[QueueRow], how: str, operator: str | None) -> list[QueueRow]:
    epoch = datetime.min.replace(tzinfo=UTC)
    newest_first = sorted(rows, key=lambda r: (r.updated_at, r.conversation_id), reverse=True)
    if how == "updated":
        return newest_first
    if how == "customer":
        return sorted(newest_first, key=lambda r: r.customer_id or "~")
    if how == "transfers":
        return sorted(newest_first, key=lambda r: -r.transfers)
    if how != "attention":
        raise ValueError(f"unknown sort {how!r}; use one of {', '.join(SORTS)}")
    # most urgent SLA first among the waiting ones; the rest newest first
    return sorted(
        newest_first,
        key=lambda r: (
            attention_rank(r, operator),
            r.sla_deadline if r.waiting and r.sla_deadline else epoch,
        ),
    )


_FILTER_KEYS = {
    "status": "status",
    "s": "status",
    "j": "jurisdiction",
    "jur": "jurisdiction",
    "jurisdiction": "jurisdiction",
    "d": "department",
    "dept": "department",
    "department": "department",
    "c": "customer",
    "customer": "customer",
    "op": "operator",
    "operator": "operator",
}


def filter_rows(rows: Iterable[QueueRow], query: str) -> list[QueueRow]:
    """Keep rows matching every word of `query`. A word is free text, or `key:value` with key
    status (s), jurisdiction (j), department (d), customer (c) or operator (op)."""
    terms: list[tuple[str | None, str]] = []
    for word in query.lower().split():
        key, sep, value = word.partition(":")
        if sep and key in _FILTER_KEYS and value:
            terms.append((_FILTER_KEYS[key], value))
        else:
            terms.append((None, word))

    def matches(row: QueueRow, field_name: str | None, value: str) -> bool:
        if field_name is None:
            return value in row.search_text()
        if field_name == "status":
            return row.status.startswith(value) or row.status.replace("_", "") == value.replace("_", "")
        if field_name == "jurisdiction":
            return row.jurisdiction.lower() == value
        if field_name == "department":
            return any(d.startswith(value) for d in row.departments)
        if field_name == "customer":
            return (row.customer_id or "").lower().startswith(value)
        return (row.claimed_by or "").lower() == value

    return [r for r in rows if all(matches(r, f, v) for f, v in terms)]
