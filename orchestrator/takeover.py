"""Human takeover: the operator queue, and claiming, answering and releasing a conversation.

A turn that needs a person (a department says so, the customer asks, or policy
requires it) is queued in the same transaction as its turn record (`enqueue`,
run by the recorder) and the graph pauses in its `human` node. Operators then:

    claim(...)    take the conversation; stores the takeover latency and any SLA breach
    reply(...)    answer the customer; the text joins the transcript and the audit log
    release(...)  hand it back: the graph resumes from its checkpoint, automation answers again

While a conversation is claimed, customer messages go to the transcript for the
operator instead of automation (`before_turn`). A message that arrives while the
conversation is still waiting unclaimed is answered automatically: the pending
pause is resumed as "superseded" first (a new input would otherwise drop it
silently), and the queue entry stays open with its original flag time and SLA
deadline, so writing again never resets the clock. If that turn needs a person
too, its reasons and findings join the same entry and the graph pauses again.

The CLI (`crossdesk queue|takeover|reply|release`), the console and the HTTP API
all call these functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, Index, bindparam, text
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.errors import CrossdeskError, InputError, NotFoundError
from orchestrator.graph import DURABILITY
from orchestrator.records import AUTOMATED, CLAIMED, NEEDS_HUMAN, Conversation, Message, utcnow

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from orchestrator.runtime import Orchestrator, TurnOutcome

QUEUED = "queued"
TAKEN = "claimed"
RELEASED = "released"
OPEN_STATUSES = (QUEUED, TAKEN)
DEFAULT_SLA_SECONDS = 30
SUMMARY_MAX_CHARS = 300
_OPERATOR = re.compile(r"^[\w][\w .@'-]{0,63}$")


class TakeoverError(CrossdeskError):
    """The conversation is not in a state that allows this step; the message says what to do."""

    exit_code = 4


class TakeoverEntry(SQLModel, table=True):
    """One stay of a conversation in the operator queue, from flag to release."""

    __tablename__ = "cd_takeover"
    # at most one open entry per conversation, even with concurrent writers
    __table_args__ = (
        Index(
            "uq_takeover_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("status != 'released'"),
            postgresql_where=text("status != 'released'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(index=True)
    customer_id: str | None = Field(default=None, index=True)
    jurisdiction: str = ""
    status: str = Field(default=QUEUED, index=True)  # queued | claimed | released
    turn_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    flagged_at: datetime = Field(default_factory=utcnow, index=True)
    sla_seconds: int = DEFAULT_SLA_SECONDS
    sla_deadline: datetime
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    rule_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    summary: str = ""  # at most 300 characters
    findings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    task_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    takeover_latency_ms: float | None = None  # claimed_at - flagged_at
    sla_breached: bool = False
    released_at: datetime | None = None
    released_by: str | None = None
    # the audit retention of the flagging turn; takeover, reply and release records inherit it
    retention_class: str = "standard"
    retention_years: float = 0.0


# ---------------------------------------------------------------- what the operator gets


def handoff_findings(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per sub-issue: what the customer asked, which department looked at it and what it found or did."""
    from orchestrator.compose import final_results
    from policies.pii import mask_data

    final = final_results(state.get("results") or [])
    out = []
    for task in state.get("plan") or []:
        result = final.get(task["id"])
        item: dict[str, Any] = {
            "task_id": task["id"],
            "asked": task.get("text", ""),
            "intent": task["intent"],
        }
        if result is not None:
            item.update(
                department=result["department"],
                status=result["status"],
                reply=result.get("reply") or "",
                reason=result.get("reason") or result.get("error"),
                question=result.get("question"),
                actions=[
                    {k: a.get(k) for k in ("name", "ok", "message", "blocked_by")}
                    for a in result.get("actions", [])
                ],
                knowledge=list(result.get("knowledge") or []),
            )
        elif task.get("blocked"):
            blocked = task["blocked"]
            item.update(
                department=task["department"],
                status="denied" if blocked.get("kind") == "deny" else "needs_human",
                reason=f"{blocked.get('rule_id')}: {blocked.get('message')}",
            )
        else:
            item.update(department=task["department"], status="not_dispatched")
        out.append(item)
    # card numbers never rest in the queue in full (PCI DSS); the rest the operator needs
    return list(mask_data(out, ["card_number"]))


def handoff_payload(state: Mapping[str, Any]) -> dict[str, Any]:
    """What the graph's `human` node hands over: history, findings, policy reasons and the summary."""
    customer = state.get("customer") or {}
    handoff = state.get("handoff") or {}
    return {
        "conversation_id": state.get("conversation_id"),
        "turn_id": state.get("turn_id"),
        "customer_id": customer.get("id"),
        "jurisdiction": state.get("jurisdiction"),
        "summary": handoff.get("summary", ""),
        "reasons": handoff.get("reasons") or [handoff.get("reason", "")],
        "sla_seconds": handoff.get("sla_seconds", DEFAULT_SLA_SECONDS),
        "findings": handoff_findings(state),
        "history": [
            {"seq": h.get("seq"), "message": h.get("message"), "reply": h.get("reply")}
            for h in state.get("history") or []
        ],
    }


# ---------------------------------------------------------------- queueing (inside the turn's transaction)


def _as_utc(value: datetime) -> datetime:
    from policies.audit import as_utc

    return as_utc(value)


_ENTRIES = TakeoverEntry.__table__  # type: ignore[attr-defined]
# built once: every turn runs it
_OPEN_ENTRY_ID = select(_ENTRIES.c.id).where(
    _ENTRIES.c.conversation_id == bindparam("cid"), _ENTRIES.c.status.in_(OPEN_STATUSES)
)


def open_entry(session: Session, conversation_id: str) -> TakeoverEntry | None:
    stmt = (
        select(TakeoverEntry)
        .where(TakeoverEntry.conversation_id == conversation_id)
        .where(col(TakeoverEntry.status).in_(OPEN_STATUSES))
        .with_for_update()
    )
    return session.exec(stmt).first()


def _audit(session: Session, entry: TakeoverEntry, kind: str, actor: str, payload: dict[str, Any]) -> None:
    from policies.audit import append
    from policies.pii import mask_data

    append(
        session,
        kind,
        actor=actor,
        payload=mask_data(payload),
        conversation_id=entry.conversation_id,
        customer_id=entry.customer_id,
        retention_class=entry.retention_class,
        retention_years=entry.retention_years,
    )


def enqueue(session: Session, state: Mapping[str, Any], record: Mapping[str, Any]) -> TakeoverEntry | None:
    """Queue the conversation when the turn needs a person (a recorder writer: same transaction
    as the turn record). An open entry is updated, never duplicated, and keeps its SLA deadline."""
    conversation_id = state["conversation_id"]
    handoff = record.get("handoff")
    if not handoff and state.get("queued") is False:
        return None  # nothing was open when the turn began, and the turn's lock kept it so
    entry = open_entry(session, conversation_id)
    conv = session.get(Conversation, conversation_id)
    if not handoff:
        if entry is not None and conv is not None:
            conv.status = NEEDS_HUMAN  # an earlier request for a person is still waiting
            session.add(conv)
        return entry
    now = utcnow()
    sla = int(handoff.get("sla_seconds") or DEFAULT_SLA_SECONDS)
    reasons = list(handoff.get("reasons") or [handoff.get("reason", "")])
    findings = handoff_findings(state)
    summary = str(handoff.get("summary", ""))[:SUMMARY_MAX_CHARS]
    customer = state.get("customer") or {}
    if entry is None:
        from policies.turn_audit import turn_retention

        retention_class, retention_years = turn_retention(state.get("policy") or {})
        entry = TakeoverEntry(
            conversation_id=conversation_id,
            customer_id=customer.get("id"),
            jurisdiction=state.get("jurisdiction") or "",
            turn_ids=[state["turn_id"]],
            flagged_at=now,
            sla_seconds=sla,
            sla_deadline=now + timedelta(seconds=sla),
            reasons=reasons,
            rule_ids=list(handoff.get("rule_ids") or []),
            summary=summary,
            findings=findings,
            task_ids=list(handoff.get("task_ids") or []),
            retention_class=retention_class,
            retention_years=retention_years,
        )
        event = "flagged"
    else:
        # the customer wrote again before anyone claimed it: same entry, same clock
        entry.turn_ids = [*entry.turn_ids, state["turn_id"]]
        entry.reasons = list(dict.fromkeys([*entry.reasons, *reasons]))
        entry.rule_ids = list(dict.fromkeys([*entry.rule_ids, *(handoff.get("rule_ids") or [])]))
        entry.findings = [*entry.findings, *findings]
        entry.task_ids = list(dict.fromkeys([*entry.task_ids, *(handoff.get("task_ids") or [])]))
        entry.summary = summary
        entry.sla_deadline = min(_as_utc(entry.sla_deadline), now + timedelta(seconds=sla))
        event = "updated"
    session.add(entry)
    if conv is not None:
        conv.status = NEEDS_HUMAN
        session.add(conv)
    _audit(
        session,
        entry,
        "takeover",
        "orchestrator",
        {
            "event": event,
            "turn_id": state["turn_id"],
            "sla_seconds": sla,
            "sla_deadline": _as_utc(entry.sla_deadline).isoformat(),
            "reasons": reasons,
            "rule_ids": list(handoff.get("rule_ids") or []),
            "summary": summary,
        },
    )
    return entry


# ---------------------------------------------------------------- reading the queue


def entry_view(entry: TakeoverEntry, now: datetime | None = None) -> dict[str, Any]:
    """The entry as JSON-ready data; `overdue` says an unclaimed entry is past its SLA deadline."""
    now = _as_utc(now or utcnow())
    deadline = _as_utc(entry.sla_deadline)

    def iso(value: datetime | None) -> str | None:
        return None if value is None else _as_utc(value).isoformat(timespec="milliseconds")

    waiting = entry.status == QUEUED
    return {
        "id": entry.id,
        "conversation_id": entry.conversation_id,
        "customer_id": entry.customer_id,
        "jurisdiction": entry.jurisdiction,
        "status": entry.status,
        "flagged_at": iso(entry.flagged_at),
        "sla_seconds": entry.sla_seconds,
        "sla_deadline": iso(deadline),
        "seconds_left": round((deadline - now).total_seconds(), 1) if waiting else None,
        "overdue": waiting and now > deadline,
        "sla_breached": entry.sla_breached or (waiting and now > deadline),
        "reasons": list(entry.reasons),
        "rule_ids": list(entry.rule_ids),
        "summary": entry.summary,
        "findings": list(entry.findings),
        "task_ids": list(entry.task_ids),
        "turn_ids": list(entry.turn_ids),
        "claimed_by": entry.claimed_by,
        "claimed_at": iso(entry.claimed_at),
        "takeover_latency_ms": entry.takeover_latency_ms,
        "released_at": iso(entry.released_at),
        "released_by": entry.released_by,
    }


def _engine(target: Any) -> Engine:
    """An Orchestrator (or anything with `.engine`) or an Engine."""
    return getattr(target, "engine", target)


def queue(target: Any, *, include_closed: bool = False, now: datetime | None = None) -> list[dict[str, Any]]:
    """Open entries, the most urgent (earliest SLA deadline) first; `include_closed` adds released ones."""
    stmt = select(TakeoverEntry)
    if not include_closed:
        stmt = stmt.where(col(TakeoverEntry.status).in_(OPEN_STATUSES))
    stmt = stmt.order_by(
        col(TakeoverEntry.status).desc(), col(TakeoverEntry.sla_deadline), col(TakeoverEntry.id)
    )
    with Session(_engine(target)) as session:
        return [entry_view(e, now) for e in session.exec(stmt)]


def transcript(session: Session, conversation_id: str) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.id))
    )
    return [
        {
            "role": m.role,
            "author": m.author,
            "text": m.text,
            "turn_id": m.turn_id,
            "at": _as_utc(m.created_at).isoformat(timespec="seconds"),
        }
        for m in rows
    ]


def _latest_entry(session: Session, conversation_id: str) -> TakeoverEntry | None:
    stmt = (
        select(TakeoverEntry)
        .where(TakeoverEntry.conversation_id == conversation_id)
        .order_by(col(TakeoverEntry.id).desc())
    )
    return session.exec(stmt).first()


def show(target: Any, conversation_id: str) -> dict[str, Any]:
    """The conversation's current (or last) queue entry with the full transcript."""
    with Session(_engine(target)) as session:
        entry = open_entry(session, conversation_id) or _latest_entry(session, conversation_id)
        if entry is None:
            raise NotFoundError(
                f"conversation {conversation_id!r} was never queued for a person; {_LIST_HINT}"
            )
        return {**entry_view(entry), "transcript": transcript(session, conversation_id)}


_LIST_HINT = "`crossdesk queue` lists the conversations waiting for an operator"


# ---------------------------------------------------------------- operator actions


def check_operator(operator: str | None) -> str:
    """The operator's name, trimmed; a clear InputError when it is empty or odd."""
    name = (operator or "").strip()
    if not _OPERATOR.match(name):
        raise InputError(
            f"operator name {operator!r} is not valid; use 1-64 letters, digits, spaces or . @ ' - "
            "(e.g. --operator alice)"
        )
    return name


def _open_or_fail(session: Session, conversation_id: str) -> TakeoverEntry:
    entry = open_entry(session, conversation_id)
    if entry is None:
        last = _latest_entry(session, conversation_id)
        if last is not None:
            raise NotFoundError(
                f"conversation {conversation_id!r} is not waiting for an operator: it was released"
                f"{' by ' + last.released_by if last.released_by else ''}; {_LIST_HINT}"
            )
        raise NotFoundError(f"conversation {conversation_id!r} is not in the operator queue; {_LIST_HINT}")
    return entry


def claim(target: Any, conversation_id: str, operator: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Take a queued conversation. Stores the takeover latency (claimed - flagged) and marks an SLA
    breach. Claiming again as the same operator changes nothing; another operator is refused."""
    name = check_operator(operator)
    with Session(_engine(target)) as session:
        entry = _open_or_fail(session, conversation_id)
        if entry.status == TAKEN:
            if entry.claimed_by == name:
                return {**entry_view(entry, now), "transcript": transcript(session, conversation_id)}
            raise TakeoverError(
                f"conversation {conversation_id} is already taken over by {entry.claimed_by}; "
                f"they can release it with `crossdesk release {conversation_id}`"
            )
        when = _as_utc(now or utcnow())
        latency_ms = round((when - _as_utc(entry.flagged_at)).total_seconds() * 1000, 3)
        entry.status = TAKEN
        entry.claimed_by = name
        entry.claimed_at = when
        entry.takeover_latency_ms = latency_ms
        entry.sla_breached = when > _as_utc(entry.sla_deadline)
        session.add(entry)
        conv = session.get(Conversation, conversation_id)
        if conv is not None:
            conv.status = CLAIMED
            conv.updated_at = when
            session.add(conv)
        _audit(
            session,
            entry,
            "takeover",
            f"operator:{name}",
            {
                "event": "claimed",
                "operator": name,
                "takeover_latency_ms": latency_ms,
                "sla_seconds": entry.sla_seconds,
                "sla_breached": entry.sla_breached,
            },
        )
        session.commit()
        session.refresh(entry)
        view = {**entry_view(entry, when), "transcript": transcript(session, conversation_id)}
    from orchestrator.tracing import trace_claim

    trace_claim(target, entry)  # after the transaction: the span store may live in this database
    return view


def _claimed_by(entry: TakeoverEntry, operator: str | None, what: str) -> str:
    if entry.status != TAKEN or not entry.claimed_by:
        raise TakeoverError(
            f"conversation {entry.conversation_id} is waiting in the queue and nobody has taken it over; "
            f"take it over before you {what}: crossdesk takeover {entry.conversation_id} --operator NAME"
        )
    if operator is not None and check_operator(operator) != entry.claimed_by:
        raise TakeoverError(
            f"conversation {entry.conversation_id} is taken over by {entry.claimed_by}, not {operator.strip()}; "
            f"only {entry.claimed_by} can {what}"
        )
    return entry.claimed_by


def reply(
    target: Any, conversation_id: str, text: str, *, operator: str | None = None, max_chars: int = 20_000
) -> dict[str, Any]:
    """An operator's answer: it joins the transcript and the audit log. Refused unless claimed."""
    from orchestrator.runtime import clean_message

    if not text.strip():
        raise InputError(
            f'the reply is empty; pass the text to send: crossdesk reply {conversation_id} "..."'
        )
    body = clean_message(text, max_chars)
    with Session(_engine(target)) as session:
        entry = _open_or_fail(session, conversation_id)
        name = _claimed_by(entry, operator, "reply")
        message = Message(conversation_id=conversation_id, role="operator", author=name, text=body)
        session.add(message)
        conv = session.get(Conversation, conversation_id)
        if conv is not None:
            conv.updated_at = utcnow()
            session.add(conv)
        session.flush()
        _audit(
            session,
            entry,
            "operator_reply",
            f"operator:{name}",
            {"operator": name, "message_id": message.id, "text": body},
        )
        session.commit()
        return {"conversation_id": conversation_id, "operator": name, "message_id": message.id, "text": body}


def _since_claim(session: Session, entry: TakeoverEntry) -> dict[str, int]:
    rows = session.exec(
        select(Message.role).where(
            Message.conversation_id == entry.conversation_id,
            col(Message.created_at) >= entry.claimed_at,
        )
    ).all()
    return {
        "operator_replies": sum(1 for r in rows if r == "operator"),
        "customer_messages": sum(1 for r in rows if r == "customer"),
    }


def release(orch: Orchestrator, conversation_id: str, *, operator: str | None = None) -> dict[str, Any]:
    """Hand the conversation back to automation: the paused graph resumes from its checkpoint
    (`Command(resume=...)`), the entry closes and the conversation is automated again."""
    from langgraph.types import Command

    with orch.conversation_lock(conversation_id):
        with Session(orch.engine) as session:
            entry = _open_or_fail(session, conversation_id)
            name = _claimed_by(entry, operator, "release it")
            counts = _since_claim(session, entry)
        config: RunnableConfig = {"configurable": {"thread_id": conversation_id}}
        resumed = False
        if orch.graph.get_state(config).interrupts:
            resolution = {"action": "released", "operator": name, **counts}
            orch.graph.invoke(Command(resume=resolution), config, durability=DURABILITY)
            resumed = True
        with Session(orch.engine) as session:
            entry = _open_or_fail(session, conversation_id)
            when = utcnow()
            entry.status = RELEASED
            entry.released_at = when
            entry.released_by = name
            session.add(entry)
            conv = session.get(Conversation, conversation_id)
            if conv is not None:
                conv.status = AUTOMATED
                conv.updated_at = when
                session.add(conv)
            _audit(
                session,
                entry,
                "release",
                f"operator:{name}",
                {"operator": name, "resumed": resumed, **counts},
            )
            session.commit()
            session.refresh(entry)
            return {**entry_view(entry, when), "resumed": resumed, **counts}


# ---------------------------------------------------------------- customer messages during a takeover


def is_queued(session: Session, conversation_id: str) -> bool:
    """An operator queue entry is open. Pass a session on the reader engine: most turns find none,
    and on SQLite the check then takes no write lock."""
    return session.execute(_OPEN_ENTRY_ID, {"cid": conversation_id}).first() is not None


def before_turn(orch: Orchestrator, conversation_id: str, message: str) -> TurnOutcome | None:
    """Route a customer message of a queued conversation. Claimed: it goes to the operator (the
    transcript) and an outcome without an automated reply is returned. Waiting unclaimed: the
    pending pause is resumed as superseded and None says "run the turn as usual".
    Call it holding the conversation's lock, after `is_queued` said an entry is open."""
    with Session(orch.engine) as session:
        entry = open_entry(session, conversation_id)
        if entry is None:
            return None
        if entry.status == TAKEN:
            session.add(Message(conversation_id=conversation_id, role="customer", text=message))
            conv = session.get(Conversation, conversation_id)
            if conv is not None:
                conv.updated_at = utcnow()
                session.add(conv)
            session.commit()
            session.refresh(entry)
            return _with_operator(entry, conv.turns if conv is not None else 0)
    config: RunnableConfig = {"configurable": {"thread_id": conversation_id}}
    if orch.graph.get_state(config).interrupts:
        from langgraph.types import Command

        resolution = {
            "action": "superseded",
            "reason": "the customer wrote again before an operator took over",
        }
        orch.graph.invoke(Command(resume=resolution), config, durability=DURABILITY)
    return None


def _with_operator(entry: TakeoverEntry, turns: int) -> TurnOutcome:
    from orchestrator.runtime import TurnOutcome

    view = entry_view(entry)
    record: dict[str, Any] = {
        "turn_id": None,
        "conversation_id": entry.conversation_id,
        "seq": turns,
        "status": "with_operator",
        "tasks": [],
        "unclear": [],
        "counts": {"dispatches": 0, "reroutes": 0, "escalations": 0, "customer_transfers": 0},
        "handoff": {
            "summary": view["summary"],
            "reasons": view["reasons"],
            "claimed_by": view["claimed_by"],
            "sla_seconds": view["sla_seconds"],
        },
        "policy": {},
        "latency_ms": 0.0,
    }
    return TurnOutcome(conversation_id=entry.conversation_id, reply="", record=record)


_check_operator = check_operator  # the name the console first imported
