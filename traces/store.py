"""The embedded span store: an exporter writing finished spans to `trace_span`.

It is the default exporter so an SRE can read traces (`crossdesk traces ...`)
with no backend running. Each export call is one transaction; the batch span
processor in front of it decides the batch size.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from traces import names as N
from traces.safe import warn_limited

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


_PLAIN = (str, int, float, bool, type(None))


def _jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def span_to_row(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    attrs = {k: _jsonable(v) for k, v in (span.attributes or {}).items()}
    events = [
        {
            "name": ev.name,
            "time_ns": ev.timestamp,
            "attributes": {k: _jsonable(v) for k, v in (ev.attributes or {}).items()},
        }
        for ev in span.events
    ]
    conversation = attrs.get(N.GEN_AI_CONVERSATION_ID)
    return {
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_id": format(span.parent.span_id, "016x") if span.parent is not None else None,
        "name": span.name[:200],
        "kind": span.kind.name,
        "start_ns": int(span.start_time or 0),
        "end_ns": int(span.end_time or span.start_time or 0),
        "status": span.status.status_code.name,
        "status_message": span.status.description or "",
        "attributes": attrs,
        "events": events,
        "conversation_id": str(conversation)[:200] if conversation is not None else None,
        "is_root": span.name == N.SPAN_TURN,
    }


def ensure_table(engine: Engine) -> None:
    from traces.models import TraceSpan

    TraceSpan.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]


class LocalSpanStore(SpanExporter):
    """Writes spans to the `trace_span` table of `url` (any SQLAlchemy URL).

    The engine is created on the first export, so configuring telemetry costs
    nothing until a span ends; failures are logged and reported as FAILURE.
    """

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self._engine = engine
        self._own_engine = engine is None
        self._ready = False
        self._lock = threading.Lock()
        self._shutdown = False

    def _get_engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                from orchestrator.db import make_engine

                self._engine = make_engine(self.url)
            if not self._ready:
                ensure_table(self._engine)
                self._ready = True
            return self._engine

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            rows = [span_to_row(s) for s in spans]
            engine = self._get_engine()
            with engine.begin() as conn:
                conn.execute(_insert_ignoring_duplicates(engine), rows)
        except Exception as exc:
            warn_limited(
                "local-store", "telemetry: could not write %d spans to the local store: %r", len(spans), exc
            )
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._shutdown = True
        with self._lock:
            if self._engine is not None and self._own_engine:
                self._engine.dispose()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # nothing buffered here: each export is committed before it returns


def _insert_ignoring_duplicates(engine: Engine) -> Any:
    from traces.models import TraceSpan

    table = TraceSpan.__table__  # type: ignore[attr-defined]
    # a retried batch must not fail on spans it already wrote
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    return table.insert()
