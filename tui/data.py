"""The console's read model: plain functions that query the database and return frozen dataclasses.

No Textual here. Pass the read-only engine (`orchestrator.db.reader`): every
read goes through `read_rows` or the trace store on it, so the console never
takes SQLite's write lock and never waits for a turn that is being written.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.engine import Engine

from orchestrator.knowledge.reads import read_rows
from orchestrator.records import CLAIMED, NEEDS_HUMAN, Conversation, Message, TurnRecord
from orchestrator.takeover import OPEN_STATUSES, QUEUED, TakeoverEntry
from policies.audit import as_utc

_CONVERSATION = Conversation.__table__  # type: ignore[attr-defined]
_TURN = TurnRecord.__table__  # type: ignore[attr-defined]
_MESSAGE = Message.__table__  # type: ignore[attr-defined]
_ENTRY = TakeoverEntry.__table__  # type: ignore[attr-defined]

QUEUE_LIMIT = 200  # recent conversations listed besides every one waiting for a person


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- the queue


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


def _queue_row(conv: Mapping[str, Any], entry: Mapping[str, Any] | None) -> QueueRow:
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
    entries = read_rows(engine, select(*_ENTRY.c).where(_ENTRY.c.status.in_(OPEN_STATUSES)))
    by_conv = {e["conversation_id"]: e for e in entries}
    recent = read_rows(
        engine, select(*_CONVERSATION.c).order_by(desc(_CONVERSATION.c.updated_at)).limit(limit)
    )
    seen = {c["id"] for c in recent}
    missing = [cid for cid in by_conv if cid not in seen]
    if missing:
        recent += read_rows(engine, select(*_CONVERSATION.c).where(_CONVERSATION.c.id.in_(missing)))
    return [_queue_row(c, by_conv.get(c["id"])) for c in recent]


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


# ---------------------------------------------------------------- one conversation


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


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(str(value)))


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

    convs = read_rows(engine, select(*_CONVERSATION.c).where(_CONVERSATION.c.id == conversation_id))
    if not convs:
        return None
    conv = convs[0]
    entries = read_rows(
        engine,
        select(*_ENTRY.c)
        .where(_ENTRY.c.conversation_id == conversation_id)
        .order_by(desc(_ENTRY.c.id))
        .limit(1),
    )
    entry = entries[0] if entries else None
    open_entry = entry if entry is not None and entry["status"] in OPEN_STATUSES else None
    findings = {str(f.get("task_id")): f for f in (entry["findings"] if entry else None) or ()}
    messages = tuple(
        MessageView(m["role"], m["author"] or "", m["text"], as_utc(m["created_at"]), m["turn_id"])
        for m in read_rows(
            engine,
            select(*_MESSAGE.c).where(_MESSAGE.c.conversation_id == conversation_id).order_by(_MESSAGE.c.id),
        )
    )
    turns = tuple(
        _turn_view(t, findings)
        for t in read_rows(
            engine, select(*_TURN.c).where(_TURN.c.conversation_id == conversation_id).order_by(_TURN.c.seq)
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
        row=_queue_row(conv, open_entry),
        customer_name=customer_name,
        handover=_handover(entry) if entry is not None else None,
        messages=messages,
        turns=turns,
        notes=notes,
        articles=tuple((a, titles.get(a, "(no longer in the knowledge store)")) for a in cited),
    )


# ---------------------------------------------------------------- knowledge


@dataclass(frozen=True)
class ArticleHitView:
    id: str
    title: str
    department: str
    snippet: str
    score: float | None


@dataclass(frozen=True)
class ArticleView:
    id: str
    title: str
    department: str
    body: str
    jurisdictions: tuple[str, ...]
    tags: tuple[str, ...]
    version: int
    valid_from: str | None
    valid_to: str | None
    source: str


def search_articles(engine: Engine, query: str, *, k: int = 25) -> list[ArticleHitView]:
    """Articles for `query`, best first; an empty query lists the store by department and id.
    `dept:NAME` and `j:CODE` words narrow the search to a department or jurisdiction."""
    from orchestrator.knowledge.models import Article
    from orchestrator.knowledge.store import KnowledgeStore

    department = jurisdiction = None
    words = []
    for word in query.split():
        key, sep, value = word.partition(":")
        if sep and key.lower() in ("d", "dept", "department") and value:
            department = value.lower()
        elif sep and key.lower() in ("j", "jur", "jurisdiction") and value:
            jurisdiction = value.upper()
        else:
            words.append(word)
    text = " ".join(words).strip()
    if text:
        hits = KnowledgeStore(engine).search(text, department=department, jurisdiction=jurisdiction, k=k)
        return [ArticleHitView(h.id, h.title, h.department, h.snippet, h.score) for h in hits]
    table = Article.__table__  # type: ignore[attr-defined]
    stmt = select(table.c.id, table.c.title, table.c.department, table.c.jurisdictions)
    if department:
        stmt = stmt.where(table.c.department == department)
    rows = read_rows(engine, stmt.order_by(table.c.department, table.c.id))
    if jurisdiction:
        from orchestrator.knowledge.store import jurisdiction_scope

        scope = set(jurisdiction_scope(jurisdiction))
        rows = [r for r in rows if scope & set(r["jurisdictions"] or ())]
    return [ArticleHitView(r["id"], r["title"], r["department"], "", None) for r in rows]


def get_article(engine: Engine, article_id: str) -> ArticleView | None:
    from orchestrator.knowledge.models import Article

    table = Article.__table__  # type: ignore[attr-defined]
    rows = read_rows(engine, select(*table.c).where(table.c.id == article_id))
    if not rows:
        return None
    r = rows[0]
    return ArticleView(
        id=r["id"],
        title=r["title"],
        department=r["department"],
        body=r["body"],
        jurisdictions=tuple(r["jurisdictions"] or ()),
        tags=tuple(r["tags"] or ()),
        version=int(r["version"]),
        valid_from=r["valid_from"].isoformat() if r["valid_from"] else None,
        valid_to=r["valid_to"].isoformat() if r["valid_to"] else None,
        source=r["source"] or "",
    )


# ---------------------------------------------------------------- traces


@dataclass(frozen=True)
class TraceTurn:
    trace_id: str
    conversation_id: str | None
    turn_id: str | None
    start: datetime
    duration_ms: float
    status: str | None
    transfers: int
    escalations: int
    error: bool


@dataclass(frozen=True)
class SpanBar:
    """One row of a waterfall: where the span sits in the trace and what it did."""

    depth: int
    name: str
    offset_ms: float
    duration_ms: float
    status: str  # UNSET | OK | ERROR
    kind: str  # turn | plan | handoff | agent | policy | retrieve | takeover | compose | other
    detail: str
    source: str | None = None  # handoffs: who passed the issue on ...
    target: str | None = None  # ... and to whom


@dataclass(frozen=True)
class Waterfall:
    trace_id: str
    conversation_id: str | None
    total_ms: float
    bars: tuple[SpanBar, ...]


def list_traces(engine: Engine, *, conversation_id: str | None = None, limit: int = 200) -> list[TraceTurn]:
    """Traced turns, newest first; only those of one conversation when given."""
    from traces.query import TraceStore

    turns = TraceStore(engine=engine).list_turns(conversation=conversation_id, limit=limit)
    return [
        TraceTurn(
            trace_id=t.trace_id,
            conversation_id=t.conversation_id,
            turn_id=t.turn_id,
            start=t.start,
            duration_ms=t.duration_ms,
            status=t.status,
            transfers=t.transfers,
            escalations=t.escalations,
            error=t.error,
        )
        for t in turns
    ]


def _span_kind(name: str, is_root: bool) -> str:
    from traces import names as N

    if is_root:
        return "turn"
    for prefix, kind in (
        (N.SPAN_TRANSFER_PREFIX, "handoff"),
        (N.SPAN_AGENT_PREFIX, "agent"),
        (N.SPAN_POLICY_PREFIX, "policy"),
    ):
        if name.startswith(prefix):
            return kind
    return {
        N.SPAN_PLAN: "plan",
        N.SPAN_RETRIEVE: "retrieve",
        N.SPAN_TAKEOVER: "takeover",
        N.SPAN_COMPOSE: "compose",
    }.get(name, "other")


def trace_waterfall(engine: Engine, trace_id: str) -> Waterfall | None:
    """One trace as waterfall rows in tree order (children by start time), or None when unknown."""
    from traces import names as N
    from traces.query import TraceStore, build_tree, describe

    spans = TraceStore(engine=engine).get_trace(trace_id)
    if not spans:
        return None
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    bars: list[SpanBar] = []

    def walk(node: Any, depth: int) -> None:
        s = node.span
        kind = _span_kind(s.name, s.is_root)
        bars.append(
            SpanBar(
                depth=depth,
                name=s.name,
                offset_ms=(s.start_ns - start) / 1e6,
                duration_ms=s.duration_ms,
                status=s.status,
                kind=kind,
                detail=describe(s),
                source=s.get(N.GEN_AI_TRANSFER_SOURCE_NAME) if kind == "handoff" else None,
                target=s.get(N.GEN_AI_TRANSFER_TARGET_NAME) if kind == "handoff" else None,
            )
        )
        for child in node.children:
            walk(child, depth + 1)

    for root in build_tree(spans):
        walk(root, 0)
    conversation = next((s.conversation_id for s in spans if s.conversation_id), None)
    return Waterfall(
        trace_id=trace_id, conversation_id=conversation, total_ms=(end - start) / 1e6, bars=tuple(bars)
    )


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class DepartmentLatency:
    name: str
    runs: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class Series:
    """A value per time bucket, oldest first; None where the bucket had nothing to measure."""

    label: str
    values: tuple[float | None, ...]
    unit: str = ""

    @property
    def last(self) -> float | None:
        return next((v for v in reversed(self.values) if v is not None), None)

    def filled(self) -> list[float]:
        return [0.0 if v is None else v for v in self.values]


@dataclass(frozen=True)
class MetricsView:
    window: timedelta
    bucket: timedelta
    now: datetime
    # from the turn records (every turn, whatever the telemetry settings)
    turns: int
    fcr_rate: float | None  # turns resolved on first contact
    escalation_rate: float | None  # turns handed (in part) to a person
    turn_latency_p50_ms: float | None
    turn_latency_p95_ms: float | None
    statuses: tuple[tuple[str, int], ...]
    # from the operator queue
    takeovers: int
    sla_breaches: int  # claimed late, or still waiting past the deadline
    waiting_now: int
    overdue_now: int
    takeover_p50_ms: float | None
    # from the span store (traces.query stats): empty when no turn in the window was traced
    traced_turns: int
    fcr_issue_rate: float | None
    transfers_per_issue: tuple[tuple[str, int], ...]
    transfers_mean: float | None
    department_latency: tuple[DepartmentLatency, ...]
    series: tuple[Series, ...] = field(default=())

    def series_named(self, label: str) -> Series:
        return next(s for s in self.series if s.label == label)


def _pct(values: Sequence[float], q: float) -> float | None:
    from traces.query import percentile

    return percentile(values, q)


def metrics(
    engine: Engine,
    *,
    now: datetime | None = None,
    window: timedelta = timedelta(minutes=15),
    buckets: int = 30,
) -> MetricsView:
    """Service metrics over the last `window`, in total and per bucket (for sparklines)."""
    from traces.query import TraceStore

    now = as_utc(now or utcnow())
    since = now - window
    size = window / buckets

    def bucket_of(when: datetime) -> int | None:
        i = math.floor((when - since) / size)
        return i if 0 <= i < buckets else None

    turn_rows = read_rows(
        engine,
        select(
            _TURN.c.created_at,
            _TURN.c.status,
            _TURN.c.latency_ms,
            _TURN.c.escalations,
            _TURN.c.seq,
        ).where(_TURN.c.created_at >= since),
    )
    per_turns: list[list[Mapping[str, Any]]] = [[] for _ in range(buckets)]
    for r in turn_rows:
        i = bucket_of(as_utc(r["created_at"]))
        if i is not None:
            per_turns[i].append(r)
    counted = [r for b in per_turns for r in b]

    def fcr(rows: Sequence[Mapping[str, Any]]) -> float | None:
        # the record's own definition: resolved in the conversation's first turn
        first = [r for r in rows if r["seq"] == 1]
        return sum(1 for r in first if r["status"] == "resolved") / len(first) if first else None

    def escalated(rows: Sequence[Mapping[str, Any]]) -> float | None:
        return sum(1 for r in rows if r["escalations"]) / len(rows) if rows else None

    latencies = [float(r["latency_ms"] or 0.0) for r in counted]

    entries = read_rows(
        engine,
        select(
            _ENTRY.c.flagged_at,
            _ENTRY.c.status,
            _ENTRY.c.sla_deadline,
            _ENTRY.c.sla_breached,
            _ENTRY.c.takeover_latency_ms,
        ).where((_ENTRY.c.flagged_at >= since) | _ENTRY.c.status.in_(OPEN_STATUSES)),
    )
    breach_buckets = [0.0] * buckets
    breaches = waiting = overdue = takeovers = 0
    takeover_ms: list[float] = []
    for e in entries:
        late = e["status"] == QUEUED and as_utc(e["sla_deadline"]) < now
        if e["status"] == QUEUED:
            waiting += 1
            overdue += late
        flagged = as_utc(e["flagged_at"])
        if flagged < since:
            continue
        takeovers += 1
        if e["takeover_latency_ms"] is not None:
            takeover_ms.append(float(e["takeover_latency_ms"]))
        if e["sla_breached"] or late:
            breaches += 1
            i = bucket_of(flagged)
            if i is not None:
                breach_buckets[i] += 1

    store = TraceStore(engine=engine)
    since_ns = int(since.timestamp() * 1_000_000_000)
    stats = store.stats(since_ns=since_ns)
    dist = stats["transfers_per_issue"]["distribution"] if stats["turns"] else {}
    merged: Counter[str] = Counter()
    for k, v in dist.items():
        merged["3+" if int(k) >= 3 else str(k)] += v
    order = ["0", "1", "2", "3+"]

    series = (
        Series("turns", tuple(float(len(b)) for b in per_turns), "/bucket"),
        Series("first-contact resolution", tuple(fcr(b) for b in per_turns), "%"),
        Series("escalation rate", tuple(escalated(b) for b in per_turns), "%"),
        Series(
            "turn latency p50",
            tuple(_pct([float(r["latency_ms"] or 0.0) for r in b], 50) for b in per_turns),
            "ms",
        ),
        Series("SLA breaches", tuple(breach_buckets), "/bucket"),
    )
    return MetricsView(
        window=window,
        bucket=size,
        now=now,
        turns=len(counted),
        fcr_rate=fcr(counted),
        escalation_rate=escalated(counted),
        turn_latency_p50_ms=_pct(latencies, 50),
        turn_latency_p95_ms=_pct(latencies, 95),
        statuses=tuple(sorted(Counter(r["status"] for r in counted).items())),
        takeovers=takeovers,
        sla_breaches=breaches,
        waiting_now=waiting,
        overdue_now=overdue,
        takeover_p50_ms=_pct(takeover_ms, 50),
        traced_turns=int(stats["turns"]),
        fcr_issue_rate=stats["fcr"]["issue_rate"],
        transfers_per_issue=tuple((k, merged.get(k, 0)) for k in order) if merged else (),
        transfers_mean=stats["transfers_per_issue"]["mean"],
        department_latency=tuple(
            DepartmentLatency(name, d["runs"], d["errors"], d["p50"], d["p95"])
            for name, d in stats["department_latency_ms"].items()
        ),
        series=series,
    )


# ---------------------------------------------------------------- departments


@dataclass(frozen=True)
class IntentView:
    name: str
    description: str
    examples: int


@dataclass(frozen=True)
class DepartmentView:
    name: str
    description: str
    intents: tuple[IntentView, ...]
    actions: tuple[str, ...]
    plugin: str  # entry-point name
    module: str  # what the entry point points at
    package: str  # the installed distribution it came from
    version: str
    builtin: bool


@dataclass(frozen=True)
class PluginProblem:
    name: str
    package: str
    reason: str


@dataclass(frozen=True)
class DepartmentsView:
    departments: tuple[DepartmentView, ...]
    problems: tuple[PluginProblem, ...]


def departments(plugins: Any) -> DepartmentsView:
    """The loaded departments with their intents and origin, and plugins that failed to load."""
    out = []
    for name, dep in sorted(plugins.departments.items()):
        info = plugins.origin.get(name)
        out.append(
            DepartmentView(
                name=name,
                description=str(dep.description),
                intents=tuple(IntentView(i.name, i.description, len(i.examples)) for i in dep.intents),
                actions=tuple(a.name for a in dep.actions),
                plugin=info.name if info else name,
                module=info.value if info else "",
                package=info.distribution if info else "?",
                version=info.version if info else "?",
                builtin=bool(info and info.value.startswith("plugins.builtin")),
            )
        )
    problems = tuple(PluginProblem(p.name, p.distribution, p.reason) for p in plugins.plugins if not p.loaded)
    return DepartmentsView(tuple(out), problems)
