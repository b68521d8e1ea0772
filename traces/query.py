"""Read the local span store: turns, one trace as a tree, and SRE statistics.

Everything here is computed from the `trace_span` table alone, so it works
with no collector or backend running.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from traces import names as N

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from orchestrator.config import Settings


class TraceQueryError(ValueError):
    """Bad query input; the message says what to pass instead."""


class TraceNotFound(LookupError):
    pass


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, *, now: datetime | None = None) -> int:
    """`30m`, `2h`, `7d` (ago) or an ISO time (naive means UTC) -> epoch nanoseconds."""
    now = now or datetime.now(UTC)
    raw = text.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", raw.lower())
    if match:
        when = now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    else:
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise TraceQueryError(
                f"--since {text!r} is neither a duration like 30m, 2h, 7d nor an ISO time like 2025-01-31T09:00"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1_000_000_000)


def store_url(settings: Settings) -> str:
    return str(settings.section("telemetry").get("store_url") or settings.database_url)


@dataclass
class SpanRow:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    conversation_id: str | None
    is_root: bool

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    def get(self, key: str, default: Any = None) -> Any:
        return self.attributes.get(key, default)


@dataclass
class TurnSummary:
    trace_id: str
    conversation_id: str | None
    turn_id: str | None
    start: datetime
    duration_ms: float
    status: str | None
    dispatches: int
    reroutes: int
    escalations: int
    customer_transfers: int
    issues: int
    fcr: bool | None
    error: bool

    @property
    def transfers(self) -> int:
        """Every handoff: to departments (dispatches, reroutes included) and to humans (escalations)."""
        return self.dispatches + self.escalations

    def to_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "conversation_id": self.conversation_id,
            "turn_id": self.turn_id,
            "start": self.start.isoformat(),
            "duration_ms": round(self.duration_ms, 3),
            "status": self.status,
            "transfers": self.transfers,
            "dispatches": self.dispatches,
            "reroutes": self.reroutes,
            "escalations": self.escalations,
            "customer_transfers": self.customer_transfers,
            "issues": self.issues,
            "fcr": self.fcr,
            "error": self.error,
        }

    @classmethod
    def from_row(cls, row: SpanRow) -> TurnSummary:
        a = row.attributes
        fcr = a.get(N.TURN_FCR)
        return cls(
            trace_id=row.trace_id,
            conversation_id=row.conversation_id,
            turn_id=a.get(N.TURN_ID),
            start=datetime.fromtimestamp(row.start_ns / 1e9, UTC),
            duration_ms=row.duration_ms,
            status=a.get(N.TURN_STATUS),
            dispatches=int(a.get(N.TURN_DISPATCHES, 0)),
            reroutes=int(a.get(N.TURN_REROUTES, 0)),
            escalations=int(a.get(N.TURN_ESCALATIONS, 0)),
            customer_transfers=int(a.get(N.TURN_CUSTOMER_TRANSFERS, 0)),
            issues=int(a.get(N.TURN_ISSUES, 0)),
            fcr=bool(fcr) if fcr is not None else None,
            error=row.status == "ERROR",
        )


@dataclass
class SpanNode:
    span: SpanRow
    children: list[SpanNode] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        s = self.span
        return {
            "span_id": s.span_id,
            "parent_id": s.parent_id,
            "name": s.name,
            "start_ns": s.start_ns,
            "duration_ms": round(s.duration_ms, 3),
            "status": s.status,
            "attributes": s.attributes,
            "events": s.events,
            "children": [c.to_json() for c in self.children],
        }


def build_tree(spans: Iterable[SpanRow]) -> list[SpanNode]:
    """Spans of one trace as trees, children in start order; spans whose parent is missing become roots."""
    nodes = {s.span_id: SpanNode(s) for s in spans}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.span.parent_id) if node.span.parent_id else None
        (parent.children if parent is not None else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: (n.span.start_ns, n.span.name))
    roots.sort(key=lambda n: (not n.span.is_root, n.span.start_ns))
    return roots


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class TraceStore:
    """Read access to `trace_span` at a SQLAlchemy URL (or an existing engine)."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        if engine is None:
            if url is None:
                raise ValueError("TraceStore needs a database URL or an engine")
            from orchestrator.db import make_engine

            engine = make_engine(url)
        self.engine = engine

    @classmethod
    def exists_at(cls, url: str) -> bool:
        """False when a SQLite store file was never created (no turn traced yet)."""
        if not url.startswith("sqlite"):
            return True
        path = url.split("///", 1)[-1]
        if not path or path == ":memory:":
            return True
        from pathlib import Path

        return Path(path).exists()

    def _table(self) -> Any:
        from sqlalchemy import inspect

        from traces.models import TraceSpan

        if not inspect(self.engine).has_table("trace_span"):
            return None
        return TraceSpan.__table__  # type: ignore[attr-defined]

    def _rows(self, where: Sequence[Any] = (), order: Any = None, limit: int | None = None) -> list[SpanRow]:
        from sqlalchemy import select

        table = self._table()
        if table is None:
            return []
        stmt = select(table)
        for clause in where:
            stmt = stmt.where(clause(table))
        if order is not None:
            stmt = stmt.order_by(order(table))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [SpanRow(**dict(r._mapping)) for r in conn.execute(stmt)]

    def list_turns(
        self,
        *,
        since_ns: int | None = None,
        conversation: str | None = None,
        min_transfers: int | None = None,
        status: str | None = None,
        limit: int | None = 50,
    ) -> list[TurnSummary]:
        """Turns, newest first."""
        where: list[Any] = [lambda t: t.c.is_root.is_(True)]
        if since_ns is not None:
            where.append(lambda t: t.c.start_ns >= since_ns)
        if conversation is not None:
            where.append(lambda t: t.c.conversation_id == conversation)
        # the transfer and status filters read JSON attributes: applied after loading
        post = min_transfers is not None or status is not None
        rows = self._rows(where, order=lambda t: t.c.start_ns.desc(), limit=None if post else limit)
        turns = [TurnSummary.from_row(r) for r in rows]
        if min_transfers is not None:
            turns = [t for t in turns if t.transfers >= min_transfers]
        if status is not None:
            turns = [t for t in turns if t.status == status]
        return turns[:limit] if limit is not None else turns

    def resolve_trace_id(self, prefix: str) -> str:
        """The one trace id starting with `prefix`; TraceNotFound or TraceQueryError otherwise."""
        from sqlalchemy import select

        prefix = prefix.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{1,32}", prefix):
            raise TraceQueryError(
                f"{prefix!r} is not a trace id: use the hex id (or its start) from `crossdesk traces list`"
            )
        table = self._table()
        if table is None:
            raise TraceNotFound(f"no trace starts with {prefix}: no traces have been recorded yet")
        stmt = select(table.c.trace_id).where(table.c.trace_id.startswith(prefix)).distinct().limit(6)
        with self.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(stmt)]
        if not ids:
            raise TraceNotFound(
                f"no trace starts with {prefix}; list recent ones with `crossdesk traces list`"
            )
        if len(ids) > 1:
            shown = ", ".join(i[: len(prefix) + 4] + "…" for i in ids[:5])
            raise TraceQueryError(f"{prefix} matches several traces ({shown}); give more of the id")
        return str(ids[0])

    def get_trace(self, trace_id: str) -> list[SpanRow]:
        return self._rows([lambda t: t.c.trace_id == trace_id], order=lambda t: t.c.start_ns)

    def stats(self, *, since_ns: int | None = None) -> dict[str, Any]:
        from sqlalchemy import or_

        where: list[Any] = [
            lambda t: or_(
                t.c.is_root.is_(True),
                t.c.name.startswith(N.SPAN_TRANSFER_PREFIX, autoescape=True),
                t.c.name.startswith(N.SPAN_AGENT_PREFIX, autoescape=True),
                t.c.name == N.SPAN_TAKEOVER,
            )
        ]
        if since_ns is not None:
            where.append(lambda t: t.c.start_ns >= since_ns)
        return compute_stats(self._rows(where))


def compute_stats(spans: Iterable[SpanRow]) -> dict[str, Any]:
    """FCR, transfers per issue, escalation rate, latencies and SLA breaches from stored spans."""
    roots: list[SpanRow] = []
    transfers: list[SpanRow] = []
    agents: list[SpanRow] = []
    takeovers: list[SpanRow] = []
    for s in spans:
        if s.is_root:
            roots.append(s)
        elif s.name.startswith(N.SPAN_TRANSFER_PREFIX):
            transfers.append(s)
        elif s.name.startswith(N.SPAN_AGENT_PREFIX):
            agents.append(s)
        elif s.name == N.SPAN_TAKEOVER:
            takeovers.append(s)
    turns = [TurnSummary.from_row(r) for r in roots]
    n_turns = len(turns)

    # transfers per issue: group handoffs by (trace, task); issues with none count as zero
    per_issue: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for t in transfers:
        task = t.get(N.TASK_ID)
        if task is not None:
            per_issue[(t.trace_id, str(task))][str(t.get(N.TRANSFER_KIND, "unknown"))] += 1
    issues_total = sum(t.issues for t in turns)
    untouched = max(0, issues_total - len(per_issue))
    totals = [sum(c.values()) for c in per_issue.values()] + [0] * untouched
    distribution = Counter(totals)
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in N.TRANSFER_KINDS:
        counts = [c.get(kind, 0) for c in per_issue.values()] + [0] * untouched
        by_kind[kind] = {
            "mean": round(sum(counts) / len(counts), 4) if counts else None,
            "distribution": {str(k): v for k, v in sorted(Counter(counts).items())},
        }

    fcr_turns = [t for t in turns if t.fcr is not None]
    fcr_issues = sum(int(r.get(N.TURN_FCR_ISSUES, 0)) for r in roots)

    dept_ms: dict[str, list[float]] = defaultdict(list)
    dept_errors: Counter[str] = Counter()
    for a in agents:
        name = str(a.get(N.GEN_AI_AGENT_NAME) or a.name.removeprefix(N.SPAN_AGENT_PREFIX))
        dept_ms[name].append(a.duration_ms)
        if a.status == "ERROR":
            dept_errors[name] += 1

    takeover_ms = [
        float(t.get(N.TAKEOVER_LATENCY_MS)) for t in takeovers if t.get(N.TAKEOVER_LATENCY_MS) is not None
    ]
    breaches = sum(1 for t in takeovers if t.get(N.TAKEOVER_SLA_BREACHED) is True)

    def rate(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    def pct(values: Sequence[float], q: float) -> float | None:
        p = percentile(values, q)
        return round(p, 3) if p is not None else None

    turn_ms = [t.duration_ms for t in turns]
    return {
        "turns": n_turns,
        "issues": issues_total,
        "status": dict(sorted(Counter(t.status or "unknown" for t in turns).items())),
        "errors": sum(1 for t in turns if t.error),
        "fcr": {
            "turn_rate": rate(sum(1 for t in fcr_turns if t.fcr), len(fcr_turns)),
            "issue_rate": rate(fcr_issues, issues_total),
            "issues_resolved_first_contact": fcr_issues,
        },
        "transfers_per_issue": {
            "mean": round(sum(totals) / len(totals), 4) if totals else None,
            "p95": pct([float(x) for x in totals], 95),
            "distribution": {str(k): v for k, v in sorted(distribution.items())},
            "by_kind": by_kind,
        },
        "escalation": {
            "turn_rate": rate(sum(1 for t in turns if t.escalations), n_turns),
            "escalations": sum(t.escalations for t in turns),
            "per_issue": rate(sum(t.escalations for t in turns), issues_total),
        },
        "reroutes": sum(t.reroutes for t in turns),
        "customer_transfers": sum(t.customer_transfers for t in turns),
        "turn_latency_ms": {"p50": pct(turn_ms, 50), "p95": pct(turn_ms, 95)},
        "department_latency_ms": {
            name: {
                "runs": len(values),
                "errors": dept_errors[name],
                "p50": pct(values, 50),
                "p95": pct(values, 95),
                "max": round(max(values), 3),
            }
            for name, values in sorted(dept_ms.items())
        },
        "takeover": {
            "count": len(takeovers),
            "sla_breaches": breaches,
            "breach_rate": rate(breaches, len(takeovers)),
            "latency_ms": {"p50": pct(takeover_ms, 50), "p95": pct(takeover_ms, 95)},
        },
    }


# -- text rendering -------------------------------------------------------------------------------


def fmt_ms(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def describe(span: SpanRow) -> str:
    """A one-line summary of what a span did: handoff arrows, decisions, outcomes."""
    a = span.attributes
    name = span.name
    parts: list[str] = []
    if span.is_root:
        parts.append(f"status={a.get(N.TURN_STATUS, '?')}")
        if a.get(N.TURN_FCR) is not None:
            parts.append(f"fcr={'yes' if a.get(N.TURN_FCR) else 'no'}")
        counts = (
            ("dispatches", N.TURN_DISPATCHES),
            ("reroutes", N.TURN_REROUTES),
            ("escalations", N.TURN_ESCALATIONS),
            ("customer_transfers", N.TURN_CUSTOMER_TRANSFERS),
        )
        parts.append(" ".join(f"{label}={a.get(key, 0)}" for label, key in counts))
    elif name == N.SPAN_PLAN:
        depts = a.get(N.PLAN_DEPARTMENTS) or []
        confs = a.get(N.PLAN_CONFIDENCES) or []
        plan = ", ".join(f"{d} {c:.2f}" for d, c in zip(depts, confs, strict=False))
        parts.append(f"{a.get(N.PLAN_SUB_ISSUES, 0)} sub-issue(s)" + (f": {plan}" if plan else ""))
        if a.get(N.PLAN_UNCLEAR):
            parts.append(f"unclear={a[N.PLAN_UNCLEAR]}")
        if a.get(N.PLAN_OUT_OF_SCOPE):
            parts.append("out of scope")
    elif name.startswith(N.SPAN_TRANSFER_PREFIX):
        arrow = f"{a.get(N.GEN_AI_TRANSFER_SOURCE_NAME, '?')} -> {a.get(N.GEN_AI_TRANSFER_TARGET_NAME, '?')}"
        detail = [str(a.get(N.TRANSFER_KIND, "?"))]
        if a.get(N.GEN_AI_TRANSFER_TARGET_TYPE) not in (None, N.TARGET_AGENT):
            detail.append(str(a[N.GEN_AI_TRANSFER_TARGET_TYPE]))
        if a.get(N.TASK_ID) is not None:
            detail.append(f"task {a[N.TASK_ID]}")
        if a.get(N.TRANSFER_REASON):
            detail.append(str(a[N.TRANSFER_REASON]))
        parts.append(f"{arrow} ({', '.join(detail)})")
    elif name.startswith(N.SPAN_AGENT_PREFIX):
        task = f"task {a.get(N.TASK_ID, '?')}"
        if a.get(N.TASK_INTENT):
            task += f" {a[N.TASK_INTENT]}"
        parts.append(f"{task} -> {a.get(N.TASK_STATUS, '?')}")
        if a.get(N.TASK_SUGGEST):
            parts.append(f"suggests {a[N.TASK_SUGGEST]}")
        if a.get(N.TASK_ACTIONS):
            parts.append("actions: " + ", ".join(a[N.TASK_ACTIONS]))
    elif name.startswith(N.SPAN_POLICY_PREFIX):
        rules = a.get(N.POLICY_RULE_IDS) or []
        parts.append(str(a.get(N.POLICY_DECISION, "?")) + (f" [{', '.join(rules)}]" if rules else ""))
        if a.get(N.POLICY_ACTION):
            parts.append(f"action {a[N.POLICY_ACTION]}")
    elif name == N.SPAN_RETRIEVE:
        ids = a.get(N.RETRIEVAL_ARTICLE_IDS) or []
        parts.append(f"{a.get(N.RETRIEVAL_HITS, 0)} hit(s)" + (f": {', '.join(ids)}" if ids else ""))
    elif name == N.SPAN_TAKEOVER:
        parts.append(f"queue {a.get(N.TAKEOVER_QUEUE, '?')}")
        if a.get(N.TAKEOVER_LATENCY_MS) is not None:
            parts.append(f"took over after {fmt_ms(float(a[N.TAKEOVER_LATENCY_MS]))}")
        if a.get(N.TAKEOVER_SLA_S) is not None:
            breached = a.get(N.TAKEOVER_SLA_BREACHED)
            parts.append(f"SLA {a[N.TAKEOVER_SLA_S]:g} s" + (" BREACHED" if breached else ""))
    elif name == N.SPAN_COMPOSE:
        if a.get(N.COMPOSE_FRAGMENTS) is not None:
            parts.append(f"{a[N.COMPOSE_FRAGMENTS]} fragment(s)")
        if a.get(N.COMPOSE_CHARS) is not None:
            parts.append(f"{a[N.COMPOSE_CHARS]} chars")
    if span.status == "ERROR":
        parts.append(f"ERROR {a.get(N.ERROR_TYPE) or span.status_message}".rstrip())
    return "  ".join(parts)


def render_tree(roots: Sequence[SpanNode]) -> list[str]:
    lines: list[str] = []

    def walk(node: SpanNode, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        label = f"{prefix}{branch}{node.span.name}"
        info = describe(node.span)
        lines.append(f"{label:<48} {fmt_ms(node.span.duration_ms):>10}  {info}".rstrip())
        child_prefix = prefix if top else prefix + ("   " if last else "│  ")
        for i, child in enumerate(node.children):
            walk(child, child_prefix, i == len(node.children) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return lines
