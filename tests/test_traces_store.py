"""The local span store: spans from many threads round-trip through SQLite."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import func, select
from sqlmodel import SQLModel
from traces_synth import Issue, TurnSpec, clean_env, run_turn

from orchestrator.config import Settings
from orchestrator.db import make_engine
from traces import names as N
from traces.query import TraceStore
from traces.setup import configure_telemetry
from traces.store import LocalSpanStore


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)


def test_turns_from_many_threads_round_trip(tmp_path: Path) -> None:
    tel = configure_telemetry(Settings(home=tmp_path))  # default: local store, batch processor
    memory = InMemorySpanExporter()
    mirror = configure_telemetry(Settings(home=tmp_path / "mirror"), exporter=memory)
    ids: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for k in range(5):
            spec = TurnSpec(
                f"conv-{n}",
                f"turn-{k}",
                [Issue("billing", "refund_status", "Refund?"), Issue("technical", "login_problem", "Login?")],
            )
            trace_id = run_turn(tel, spec)
            run_turn(mirror, spec)  # the same shape, kept in memory to compare with
            with lock:
                ids.append(trace_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert tel.force_flush(10_000)

    store = TraceStore(tel.config.store_url)
    turns = store.list_turns(limit=None)
    assert sorted(t.trace_id for t in turns) == sorted(ids)
    assert len(ids) == 30
    spans_per_turn = len(memory.get_finished_spans()) // 30
    for trace_id in ids[:5]:
        spans = store.get_trace(trace_id)
        assert len(spans) == spans_per_turn
        root = [s for s in spans if s.is_root]
        assert len(root) == 1 and root[0].parent_id is None
        # every parent is in the same trace
        span_ids = {s.span_id for s in spans}
        assert all(s.parent_id in span_ids for s in spans if not s.is_root)
        # JSON attributes come back with their lists and types
        (plan,) = [s for s in spans if s.name == "plan"]
        assert plan.attributes[N.PLAN_DEPARTMENTS] == ["billing", "technical"]
        assert plan.attributes[N.PLAN_CONFIDENCES] == [0.9, 0.9]
        assert root[0].attributes[N.TURN_FCR] is True
        assert all(s.conversation_id == root[0].conversation_id for s in spans)
        assert all(s.end_ns >= s.start_ns > 0 for s in spans)
    tel.shutdown()
    mirror.shutdown()


def test_events_and_status_are_kept(tmp_path: Path) -> None:
    tel = configure_telemetry(Settings(home=tmp_path, extra={"telemetry": {"batch": False}}))
    from traces import instrument as ti

    with pytest.raises(ZeroDivisionError):
        with ti.turn_span(tel, conversation_id="c", turn_id="t"):
            1 / 0  # noqa: B018
    (row,) = TraceStore(tel.config.store_url).list_turns()
    (span,) = TraceStore(tel.config.store_url).get_trace(row.trace_id)
    assert span.status == "ERROR" and span.status_message == "ZeroDivisionError"
    (event,) = span.events
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "builtins.ZeroDivisionError"
    assert event["time_ns"] >= span.start_ns
    tel.shutdown()


def test_store_creates_its_table_and_ignores_a_retried_batch(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    tel = configure_telemetry(Settings(home=tmp_path), exporter=memory)
    run_turn(tel, TurnSpec("c", "t", [Issue("billing", "refund_status", "Refund?")]))
    spans = memory.get_finished_spans()

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    store = LocalSpanStore(url)
    assert store.export(spans) is SpanExportResult.SUCCESS
    assert store.export(spans) is SpanExportResult.SUCCESS  # a retry must not fail nor duplicate
    engine = make_engine(url)
    from traces.models import TraceSpan

    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(TraceSpan.__table__)).scalar_one()
    assert count == len(spans)
    store.shutdown()
    assert store.export(spans) is SpanExportResult.FAILURE  # after shutdown: refused, not raised


def test_table_is_part_of_the_project_schema() -> None:
    import traces.models  # noqa: F401  (orchestrator.db.import_models imports it too)

    table = SQLModel.metadata.tables["trace_span"]
    assert {c.name for c in table.columns} >= {
        "trace_id",
        "span_id",
        "parent_id",
        "name",
        "kind",
        "start_ns",
        "end_ns",
        "status",
        "attributes",
        "events",
        "conversation_id",
        "is_root",
    }
    assert any(ix.columns.keys() == ["conversation_id"] for ix in table.indexes)
