"""What a customer's erasure request does to their transcripts and turn records.

Runs inside the recorder's transaction (policies.turn_audit.audit_turn), so the
erasure commits together with the turn record of the request, or not at all.
For every earlier conversation of the customer:

- a turn record under a legal retention (the longest retention its policy
  decisions set, counted from the turn's time) is kept whole and marked frozen
  until that date, and so are its messages;
- any other turn record is reduced to routing statistics (departments, intents,
  statuses, counts, latency; no text, entities, actions or policy details), and
  its messages' text is replaced by `ERASED_TEXT`;
- messages said during a takeover (no turn) follow the retention of the
  conversation's takeover entries;
- a conversation left with nothing frozen is unlinked from the customer.

Every frozen or erased row gets an `ErasureMark`; what was done is appended to the
audit log as one `transcript_erasure` record. The request's own turn is never
touched: it documents the request. A later request erases what has meanwhile
come out of retention.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, or_
from sqlmodel import Session, col, select

from orchestrator.records import Conversation, ErasureMark, Message, TurnRecord
from policies.audit import ERASURE_LOG_CLASS, ERASURE_LOG_YEARS, append, as_utc, utcnow

ERASED_TEXT = "[erased at the customer's request]"
FROZEN = "frozen"
ERASED = "erased"
# what an erased turn record keeps: routing statistics without personal content
_TURN_KEYS = ("turn_id", "conversation_id", "seq", "status", "fcr", "language", "counts", "latency_ms")
_TASK_KEYS = ("id", "department", "routed_to", "intent", "confidence", "status", "departments_tried")


@dataclass(frozen=True)
class TranscriptErasure:
    frozen_turns: tuple[str, ...]
    erased_turns: tuple[str, ...]
    frozen_messages: tuple[int, ...]
    erased_messages: tuple[int, ...]
    unlinked_conversations: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in self.__dict__.items()}


def retain_until(created_at: datetime, years: float) -> datetime | None:
    return as_utc(created_at) + timedelta(days=365.25 * years) if years > 0 else None


def erased_record(record: dict[str, Any]) -> dict[str, Any]:
    """A turn record without its personal content: what routing statistics still need."""
    out = {k: record.get(k) for k in _TURN_KEYS if k in record}
    out["tasks"] = [
        {**{k: t.get(k) for k in _TASK_KEYS}, "text": "", "actions": [], "knowledge": [], "entities": {}}
        for t in record.get("tasks") or []
    ]
    out.update(unclear=[], handoff=None, policy={}, erased=True)
    return out


def erase_transcripts(
    session: Session,
    *,
    customer_id: str,
    request_turn_id: str,
    request_conversation_id: str,
    now: datetime | None = None,
) -> TranscriptErasure:
    """Freeze or erase the customer's earlier messages and turn records (see the module docstring)."""
    from orchestrator.takeover import TakeoverEntry
    from policies.turn_audit import turn_retention

    when = as_utc(now or utcnow())
    conv_ids = list(session.exec(select(Conversation.id).where(Conversation.customer_id == customer_id)))
    if request_conversation_id not in conv_ids:
        conv_ids.append(request_conversation_id)
    marks = _marks(session, conv_ids)

    frozen_turns: list[str] = []
    erased_turns: list[str] = []
    turn_until: dict[str, datetime | None] = {}
    # rows an earlier request erased stay as they are: they are not even read again
    turns = session.exec(
        select(TurnRecord)
        .where(col(TurnRecord.conversation_id).in_(conv_ids), col(TurnRecord.id) != request_turn_id)
        .where(col(TurnRecord.id).not_in(_erased_ids("turn", conv_ids)))
        .order_by(col(TurnRecord.created_at))
    ).all()
    for turn in turns:
        _cls, years = turn_retention((turn.record or {}).get("policy") or {})
        until = retain_until(turn.created_at, years)
        if until is not None and until > when:
            turn_until[turn.id] = until
            _mark(session, marks, "turn", turn.id, turn.conversation_id, FROZEN, until, request_turn_id)
            frozen_turns.append(turn.id)
        else:
            turn_until[turn.id] = None
            turn.record = erased_record(turn.record or {})
            session.add(turn)
            _mark(session, marks, "turn", turn.id, turn.conversation_id, ERASED, None, request_turn_id)
            erased_turns.append(turn.id)

    # messages said while an operator had the conversation belong to its takeover entries
    takeover_years: dict[str, float] = {}
    for conv_id, years in session.exec(
        select(TakeoverEntry.conversation_id, TakeoverEntry.retention_years).where(
            col(TakeoverEntry.conversation_id).in_(conv_ids)
        )
    ):
        takeover_years[conv_id] = max(takeover_years.get(conv_id, 0.0), float(years or 0.0))

    frozen_messages: list[int] = []
    erased_messages: list[int] = []
    messages = session.exec(
        select(Message)
        .where(col(Message.conversation_id).in_(conv_ids))
        .where(or_(col(Message.turn_id).is_(None), col(Message.turn_id) != request_turn_id))
        .where(cast(col(Message.id), String).not_in(_erased_ids("message", conv_ids)))
        .order_by(col(Message.id))
    ).all()
    for msg in messages:
        assert msg.id is not None
        if msg.turn_id is None:
            until = retain_until(msg.created_at, takeover_years.get(msg.conversation_id, 0.0))
        else:
            until = turn_until.get(msg.turn_id)
        if until is not None and until > when:
            _mark(session, marks, "message", str(msg.id), msg.conversation_id, FROZEN, until, request_turn_id)
            frozen_messages.append(msg.id)
        else:
            msg.text = ERASED_TEXT
            session.add(msg)
            _mark(session, marks, "message", str(msg.id), msg.conversation_id, ERASED, None, request_turn_id)
            erased_messages.append(msg.id)

    still_held = {m.conversation_id for m in marks.values() if m.status == FROZEN}
    unlinked = [c for c in conv_ids if c != request_conversation_id and c not in still_held]
    for conv_id in unlinked:
        conv = session.get(Conversation, conv_id)
        if conv is not None:
            conv.customer_id = None
            session.add(conv)

    result = TranscriptErasure(
        tuple(frozen_turns),
        tuple(erased_turns),
        tuple(frozen_messages),
        tuple(erased_messages),
        tuple(unlinked),
    )
    append(
        session,
        "transcript_erasure",
        actor="compliance",
        payload={"request_turn_id": request_turn_id, **result.as_dict()},
        conversation_id=request_conversation_id,
        customer_id=customer_id,
        retention_class=ERASURE_LOG_CLASS,
        retention_years=ERASURE_LOG_YEARS,
        now=when,
    )
    return result


def _marks(session: Session, conv_ids: Iterable[str]) -> dict[tuple[str, str], ErasureMark]:
    """The marks a request may still change: frozen rows (erased ones are final)."""
    rows = session.exec(
        select(ErasureMark).where(
            col(ErasureMark.conversation_id).in_(list(conv_ids)), col(ErasureMark.status) != ERASED
        )
    )
    return {(m.kind, m.row_id): m for m in rows}


def _erased_ids(kind: str, conv_ids: list[str]) -> Any:
    return select(ErasureMark.row_id).where(
        ErasureMark.kind == kind,
        ErasureMark.status == ERASED,
        col(ErasureMark.conversation_id).in_(conv_ids),
    )


def _mark(
    session: Session,
    marks: dict[tuple[str, str], ErasureMark],
    kind: str,
    row_id: str,
    conversation_id: str,
    status: str,
    until: datetime | None,
    request_turn_id: str,
) -> None:
    mark = marks.get((kind, row_id))
    if mark is None:
        mark = ErasureMark(
            kind=kind,
            row_id=row_id,
            conversation_id=conversation_id,
            status=status,
            request_turn_id=request_turn_id,
        )
        marks[(kind, row_id)] = mark
    mark.status = status
    mark.retain_until = until
    mark.request_turn_id = request_turn_id
    mark.marked_at = utcnow()
    session.add(mark)
