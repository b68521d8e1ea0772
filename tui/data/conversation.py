"""One conversation: transcript, turns (decomposition, results, policy), hand-over, case notes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.engine import Engine

from orchestrator.knowledge.reads import read_rows
from orchestrator.takeover import OPEN_STATUSES
from policies.audit import as_utc
from tui.data.queue import QueueRow, queue_row
from tui.data.tables import CONVERSATION, ENTRY, MESSAGE, TURN


@dataclass(frozen=True)
class MessageView:
    role: str  # customer | assistant | operator | system
    author: str
    text: str
    at: datetime
    turn_id: str | None


@dataclass(frozen=True)
class ActionView:
    name: str
    ok: bool
    message: str
    blocked_by: str | None


@dataclass(frozen=True)
class TaskView:
    """One sub-issue of a turn: where it went, how sure the router was and what came of it."""

    id: str
    text: str
    department: str
    intent: str
    confidence: float
    status: str
    departments_tried: tuple[str, ...]
    actions: tuple[ActionView, ...]
    knowledge: tuple[str, ...]
    notes: tuple[str, ...]
    error: str | None
    blocked: str | None  # "rule id: message" when policy stopped it
    reply: str  # the department's answer, when the hand-over kept it


@dataclass(frozen=True)
class RuleView:
    id: str
    pack: str
    description: str
    effects: tuple[str, ...]
    why: tuple[str, ...]


@dataclass(frozen=True)
class PolicyView:
    stage: str
    effect: str
    rules: tuple[RuleView, ...]
    denials: tuple[str, ...]


@dataclass(frozen=True)
class TurnView:
    seq: int
    turn_id: str
    status: str
    at: datetime
    latency_ms: float
    trace_id: str | None
    dispatches: int
    reroutes: int
    escalations: int
    customer_transfers: int
    tasks: tuple[TaskView, ...]
    unclear: tuple[str, ...]
    policy: tuple[PolicyView, ...]
    handoff_reasons: tuple[str, ...]


@dataclass(frozen=True)
class HandOver:
    """The conversation's current (or last) stay in the operator queue."""

    status: str  # queued | claimed | released
    summary: str
    reasons: tuple[str, ...]
    rule_ids: tuple[str, ...]
    flagged_at: datetime
    sla_deadline: datetime
    sla_seconds: int
    claimed_by: str | None
    claimed_at: datetime | None
    takeover_latency_ms: float | None
    sla_breached: bool
    released_by: str | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class NoteView:
    department: str
    kind: str
    subject: str
    text: str
    at: datetime | None
    conversation_id: str | None


@dataclass(frozen=True)
class ConversationDetail:
    row: QueueRow
    customer_name: str
    handover: HandOver | None
    messages: tuple[MessageView, ...]
    turns: tuple[TurnView, ...]
    notes: tuple[NoteView, ...]
    articles: tuple[tuple[str, str], ...]  # (id, title) of every article cited, in first-cited order

    @property
    def version(self) -> tuple[Any, ...]:
        """Changes whenever anything shown changes; the screen redraws only then."""
        h = self.handover
        return (
            self.row,
            len(self.messages),
            len(self.turns),
            len(self.notes),
            None if h is None else (h.status, h.claimed_by, h.summary, h.sla_deadline),
        )


def _task_view(task: Mapping[str, Any], findings: Mapping[str, Mapping[str, Any]]) -> TaskView:
    blocked = task.get("blocked") or None
    found = findings.get(str(task.get("id"))) or {}
    return TaskView(
        id=str(task.get("id", "")),
        text=str(task.get("text", "")),
        department=str(task.get("department", "")),
        intent=str(task.get("intent", "")),
        confidence=float(task.get("confidence") or 0.0),
        status=str(task.get("status", "")),
        departments_tried=tuple(task.get("departments_tried") or ()),
        actions=tuple(
            ActionView(
                name=str(a.get("name", "")),
                ok=bool(a.get("ok")),
                message=str(a.get("message") or ""),
                blocked_by=a.get("blocked_by"),
            )
            for a in task.get("actions") or ()
        ),
        knowledge=tuple(str(k) for k in task.get("knowledge") or ()),
        notes=tuple(str(n) for n in task.get("notes") or () if n),
        error=task.get("error"),
        blocked=f"{blocked.get('rule_id')}: {blocked.get('message')}"
        if isinstance(blocked, Mapping)
        else None,
        reply=str(found.get("reply") or ""),
    )


def _policy_views(policy: Mapping[str, Any]) -> tuple[PolicyView, ...]:
    out = []
    for value in policy.values():
        # each stage the policy node ran leaves a decision with its matched rules
        if not isinstance(value, Mapping) or "stage" not in value or "matched" not in value:
            continue
        rules = tuple(
            RuleView(
                id=str(m.get("id", "")),
                pack=str(m.get("pack", "")),
                description=str(m.get("description", "")),
                effects=tuple(m.get("effects") or ()),
                why=tuple(str(w) for w in m.get("why") or ()),
            )
            for m in value.get("matched") or ()
        )
        denials = tuple(
            str(d.get("message", d)) if isinstance(d, Mapping) else str(d) for d in value.get("denials") or ()
        )
        out.append(PolicyView(str(value["stage"]), str(value.get("effect") or "none"), rules, denials))
    return tuple(out)


def _turn_view(row: Mapping[str, Any], findings: Mapping[str, Mapping[str, Any]]) -> TurnView:
    record = row["record"] or {}
    handoff = record.get("handoff") or {}
    return TurnView(
        seq=int(row["seq"]),
        turn_id=row["id"],
        status=row["status"],
        at=as_utc(row["created_at"]),
        latency_ms=float(row["latency_ms"] or 0.0),
        trace_id=row["trace_id"],
        dispatches=int(row["dispatches"]),
        reroutes=int(row["reroutes"]),
        escalations=int(row["escalations"]),
        customer_transfers=int(row["customer_transfers"]),
        tasks=tuple(_task_view(t, findings) for t in record.get("tasks") or ()),
        unclear=tuple(str(u.get("text", "")) for u in record.get("unclear") or ()),
        policy=_policy_views(record.get("policy") or {}),
        handoff_reasons=tuple(
            handoff.get("reasons") or ([handoff["reason"]] if handoff.get("reason") else [])
        ),
    )


def _handover(entry: Mapping[str, Any]) -> HandOver:
    return HandOver(
        status=entry["status"],
        summary=entry["summary"] or "",
        reasons=tuple(entry["reasons"] or ()),
        rule_ids=tuple(entry["rule_ids"] or ()),
        flagged_at=as_utc(entry["flagged_at"]),
        sla_deadline=as_utc(entry["sla_deadline"]),
        sla_seconds=int(entry["sla_seconds"]),
        claimed_by=entry["claimed_by"],
        claimed_at=as_utc(entry["claimed_at"]) if entry["claimed_at"] else None,
        takeover_latency_ms=entry["takeover_latency_ms"],
        sla_breached=bool(entry["sla_breached"]),
        released_by=entry["released_by"],
    )


def conversation_detail(
    engine: Engine, conversation_id: str, *, notes_limit: int = 20
) -> ConversationDetail | None:
    """Everything the conversation screen shows, or None when there is no such conversation."""
    from orchestrator.backend.models import Customer
    from orchestrator.knowledge.models import Article
    from orchestrator.knowledge.notes import notes_for_customer

    convs = read_rows(engine, select(*CONVERSATION.c).where(CONVERSATION.c.id == conversation_id))
    if not convs:
        return None
    conv = convs[0]
    entries = read_rows(
        engine,
        select(*ENTRY.c)
        .where(ENTRY.c.conversation_id == conversation_id)
        .order_by(desc(ENTRY.c.id))
        .limit(1),
    )
    entry = entries[0] if entries else None
    open_entry = entry if entry is not None and entry["status"] in OPEN_STATUSES else None
    findings = {str(f.get("task_id")): f for f in (entry["findings"] if entry else None) or ()}
    messages = tuple(
        MessageView(m["role"], m["author"] or "", m["text"], as_utc(m["created_at"]), m["turn_id"])
        for m in read_rows(
            engine,
            select(*MESSAGE.c).where(MESSAGE.c.conversation_id == conversation_id).order_by(MESSAGE.c.id),
        )
    )
    turns = tuple(
        _turn_view(t, findings)
        for t in read_rows(
            engine, select(*TURN.c).where(TURN.c.conversation_id == conversation_id).order_by(TURN.c.seq)
        )
    )
    customer_name = ""
    notes: tuple[NoteView, ...] = ()
    if conv["customer_id"]:
        table = Customer.__table__  # type: ignore[attr-defined]
        found = read_rows(engine, select(table.c.name).where(table.c.id == conv["customer_id"]))
        customer_name = found[0]["name"] if found else ""
        notes = tuple(
            NoteView(
                n.department,
                n.kind,
                n.subject,
                n.text,
                as_utc(n.created_at) if n.created_at else None,
                n.conversation_id,
            )
            for n in notes_for_customer(engine, conv["customer_id"], limit=notes_limit)
        )
    cited = list(dict.fromkeys(k for t in turns for task in t.tasks for k in task.knowledge))
    titles: dict[str, str] = {}
    if cited:
        table = Article.__table__  # type: ignore[attr-defined]
        titles = {
            r["id"]: r["title"]
            for r in read_rows(engine, select(table.c.id, table.c.title).where(table.c.id.in_(cited)))
        }
    return ConversationDetail(
        row=queue_row(conv, open_entry),
        customer_name=customer_name,
        handover=_handover(entry) if entry is not None else None,
        messages=messages,
        turns=turns,
        notes=notes,
        articles=tuple((a, titles.get(a, "(no longer in the knowledge store)")) for a in cited),
    )
