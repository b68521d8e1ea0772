"""Traced turns and one trace as a waterfall, from the span store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine


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
