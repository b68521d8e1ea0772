"""Service metrics over a time window, in total and per bucket."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from orchestrator.knowledge.reads import read_rows
from orchestrator.takeover import OPEN_STATUSES, QUEUED
from policies.audit import as_utc
from tui.data.tables import ENTRY, TURN, utcnow


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
            TURN.c.created_at,
            TURN.c.status,
            TURN.c.latency_ms,
            TURN.c.escalations,
            TURN.c.seq,
        ).where(TURN.c.created_at >= since),
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
            ENTRY.c.flagged_at,
            ENTRY.c.status,
            ENTRY.c.sla_deadline,
            ENTRY.c.sla_breached,
            ENTRY.c.takeover_latency_ms,
        ).where((ENTRY.c.flagged_at >= since) | ENTRY.c.status.in_(OPEN_STATUSES)),
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
