"""Helpers for the console tests: the conversations they run, freezing times, driving the app."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from orchestrator.knowledge.models import CaseNoteRow
from orchestrator.records import Conversation, Message, TurnRecord
from orchestrator.takeover import TakeoverEntry
from traces.models import TraceSpan

# (conversation id, customer, message): one resolved with two departments, two handed to a person
# (an explicit request; a structuring question policy refuses), one waiting for a detail
TURNS = (
    ("conv-resolved", "C1001", "My card keeps getting declined at the shop and the app won't let me log in"),
    ("conv-person", "C1002", "I want to talk to a person please. Also my new card still hasn't arrived"),
    ("conv-split", "C1005", "I'm going to report you to the regulator if my transfer isn't sorted today"),
    (
        "conv-claims",
        "C1006",
        "Why do you need to verify my identity again? Also what's the status of my insurance claim",
    ),
)
WAITING = ("conv-person", "conv-split")
FROZEN_NOW = datetime(2025, 3, 14, 9, 30, 0, tzinfo=UTC)


def span_count(engine: Any, conversation_id: str) -> int:
    """Spans of the conversation's turns (root spans carry the conversation id)."""
    with Session(engine) as s:
        roots = s.exec(select(TraceSpan.trace_id).where(TraceSpan.conversation_id == conversation_id)).all()
        return len(s.exec(select(TraceSpan.span_id).where(col(TraceSpan.trace_id).in_(roots))).all())


def freeze_spans(engine: Any, base_ns: int) -> None:
    """Pin span times and trace ids. Times are laid out from the tree (parallel department runs
    start and end in any order): children one after another, each span 1 ms plus its children;
    trace ids become 1111…, 2222… in start order."""
    with Session(engine) as s:
        spans = list(s.exec(select(TraceSpan)))
        traces: dict[str, list[TraceSpan]] = {}
        for span in spans:
            traces.setdefault(span.trace_id, []).append(span)
        ordered = sorted(traces, key=lambda tid: min(sp.start_ns for sp in traces[tid]))
        renamed = {}
        for n, trace_id in enumerate(ordered, start=1):
            group = traces[trace_id]
            children: dict[str | None, list[TraceSpan]] = {}
            ids = {sp.span_id for sp in group}
            for sp in group:
                children.setdefault(sp.parent_id if sp.parent_id in ids else None, []).append(sp)

            def siblings(kids: list[TraceSpan]) -> list[TraceSpan]:
                # steps keep their order; department runs started together are ordered by name
                runs = [k for k in kids if k.name.startswith("invoke_agent ")]
                first = min((k.start_ns for k in runs), default=0)

                def key(k: TraceSpan) -> tuple[int, str, str]:
                    if k in runs:
                        return (first, k.name, json.dumps(k.attributes, sort_keys=True, default=str))
                    return (k.start_ns, "", "")

                return sorted(kids, key=key)

            def place(sp: TraceSpan, start: int, children: dict[str | None, list[TraceSpan]]) -> int:
                cursor = start + 500_000
                for child in siblings(children.get(sp.span_id, [])):
                    cursor = place(child, cursor, children) + 500_000
                sp.start_ns, sp.end_ns = start, max(cursor, start + 1_000_000)
                s.add(sp)
                return sp.end_ns

            cursor = base_ns + n * 60_000_000_000
            for root in siblings(children.get(None, [])):
                cursor = place(root, cursor, children)
            renamed[trace_id] = f"{n:x}" * 32
        s.commit()
        for old, new in renamed.items():
            s.execute(update(TraceSpan).where(col(TraceSpan.trace_id) == old).values(trace_id=new))
            s.execute(update(TurnRecord).where(col(TurnRecord.trace_id) == old).values(trace_id=new))
        s.commit()


def freeze(engine: Any, now: datetime = FROZEN_NOW) -> None:
    """Pin every time the console shows: turns a minute apart ending shortly before `now`,
    hand-overs flagged so their SLA countdown reads the same on every run."""
    with Session(engine) as s:
        convs = list(s.exec(select(Conversation).order_by(Conversation.id)))
        for i, conv in enumerate(convs):
            at = now - timedelta(minutes=len(convs) - i, seconds=10)
            conv.created_at = conv.updated_at = at
            for turn in s.exec(select(TurnRecord).where(TurnRecord.conversation_id == conv.id)):
                turn.created_at = at
                turn.latency_ms = 20.0 + 7.5 * i
                s.add(turn)
            for m in s.exec(select(Message).where(Message.conversation_id == conv.id)):
                m.created_at = at
                s.add(m)
            s.add(conv)
        for n, entry in enumerate(s.exec(select(TakeoverEntry).order_by(col(TakeoverEntry.id)))):
            entry.flagged_at = now - timedelta(seconds=12 + 25 * n)  # one within the SLA, one past it
            entry.sla_deadline = entry.flagged_at + timedelta(seconds=entry.sla_seconds)
            s.add(entry)
        s.commit()
        s.execute(update(CaseNoteRow).values(created_at=now - timedelta(days=2)))
        s.commit()
    freeze_spans(engine, int((now - timedelta(minutes=10)).timestamp() * 1e9))


def make_app(desk: Any, **kwargs: Any) -> Any:
    from tui.app import CrossdeskApp

    kwargs.setdefault("refresh_s", 0.2)
    kwargs.setdefault("cursor_blink", False)
    return CrossdeskApp(desk, **kwargs)


async def until(pilot: Any, check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Let the app run until `check()` is truthy; fail naming `what` otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def plain(widget: Any, width: int = 200) -> str:
    """What a Static shows, as plain text (its Rich renderable rendered without colour)."""
    from rich.console import Console
    from textual.content import Content

    content = widget.content
    if isinstance(content, Content):
        return content.plain
    if isinstance(content, str):
        return Content.from_markup(content).plain
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()
