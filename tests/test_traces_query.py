"""Reading the local store: turn lists, span trees and statistics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from traces_synth import clean_env, standard_turns

from orchestrator.config import Settings
from traces import names as N
from traces.query import (
    SpanRow,
    TraceNotFound,
    TraceQueryError,
    TraceStore,
    build_tree,
    compute_stats,
    parse_since,
    percentile,
    render_tree,
)
from traces.setup import Telemetry, configure_telemetry


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)


@pytest.fixture
def tel(tmp_path: Path) -> Iterator[Telemetry]:
    t = configure_telemetry(Settings(home=tmp_path))
    yield t
    t.shutdown()


@pytest.fixture
def recorded(tel: Telemetry) -> tuple[TraceStore, dict[str, str]]:
    ids = standard_turns(tel)
    assert tel.force_flush()
    return TraceStore(tel.config.store_url), ids


def test_list_filters(recorded: tuple[TraceStore, dict[str, str]]) -> None:
    store, ids = recorded
    turns = store.list_turns()
    assert [t.trace_id for t in turns] == [
        ids["failed"],
        ids["human"],
        ids["busy"],
        ids["simple"],
    ]  # newest first
    busy = next(t for t in turns if t.trace_id == ids["busy"])
    assert (busy.dispatches, busy.reroutes, busy.escalations, busy.customer_transfers) == (4, 1, 1, 1)
    assert (busy.transfers, busy.issues, busy.status, busy.fcr) == (5, 3, "partial", False)
    # a failed department is contained: the turn itself did not fail (stats count it per department)
    assert next(t for t in turns if t.trace_id == ids["failed"]).error is False

    assert [t.trace_id for t in store.list_turns(conversation="conv-b")] == [ids["human"]]
    assert [t.trace_id for t in store.list_turns(min_transfers=2)] == [ids["human"], ids["busy"]]
    assert [t.trace_id for t in store.list_turns(min_transfers=4)] == [ids["busy"]]
    assert [t.trace_id for t in store.list_turns(status="needs_human")] == [ids["human"]]
    assert len(store.list_turns(limit=2)) == 2
    assert len(store.list_turns(since_ns=parse_since("1h"))) == 4
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert store.list_turns(since_ns=parse_since(future)) == []


def test_show_renders_the_tree_with_handoffs_and_decisions(
    recorded: tuple[TraceStore, dict[str, str]],
) -> None:
    store, ids = recorded
    trace_id = store.resolve_trace_id(ids["busy"][:10])
    assert trace_id == ids["busy"]
    roots = build_tree(store.get_trace(trace_id))
    assert len(roots) == 1 and roots[0].span.name == "invoke_workflow"
    names = [c.span.name for c in roots[0].children]
    assert names[:3] == ["check_policy intake", "plan", "execute_tool transfer_to_billing"]
    lines = render_tree(roots)
    text = "\n".join(lines)
    assert lines[0].startswith("invoke_workflow")
    assert "status=partial" in lines[0] and "dispatches=4 reroutes=1 escalations=1" in lines[0]
    assert "supervisor -> billing (dispatch, task turn-2-1)" in text
    assert "billing -> technical (reroute, task turn-2-1)" in text
    assert "compliance -> human (escalation, human, task turn-2-2, customer_request)" in text
    assert "3 sub-issue(s): billing 0.90, compliance 0.90, technical 0.90" in text
    assert "allow [EU-GEN-1]" in text
    assert "took over after 90.00 s" in text and "SLA 60 s BREACHED" in text
    assert "task turn-2-1 card_declined -> not_mine" in text
    # children of an agent are drawn under it
    agent_line = next(i for i, line in enumerate(lines) if "invoke_agent technical" in line)
    assert "retrieve" in lines[agent_line + 1] or "check_policy" in lines[agent_line + 1]
    assert lines[agent_line + 1].startswith("│  ") or lines[agent_line + 1].startswith("   ")


def test_stats_from_the_store_alone(recorded: tuple[TraceStore, dict[str, str]]) -> None:
    store, _ = recorded
    s = store.stats()
    assert (s["turns"], s["issues"], s["errors"]) == (4, 6, 0)
    assert s["status"] == {"needs_human": 1, "partial": 2, "resolved": 1}
    assert s["fcr"] == {"turn_rate": 0.25, "issue_rate": 0.5, "issues_resolved_first_contact": 3}
    tpi = s["transfers_per_issue"]
    assert tpi["distribution"] == {"1": 3, "2": 3}
    assert tpi["mean"] == 1.5
    assert tpi["by_kind"]["reroute"]["distribution"] == {"0": 5, "1": 1}
    assert s["escalation"] == {"turn_rate": 0.5, "escalations": 2, "per_issue": round(2 / 6, 4)}
    assert s["reroutes"] == 1 and s["customer_transfers"] == 2
    depts = s["department_latency_ms"]
    assert {k: (v["runs"], v["errors"]) for k, v in depts.items()} == {
        "billing": (3, 1),
        "compliance": (2, 0),
        "technical": (2, 0),
    }
    assert all(v["p50"] <= v["p95"] <= v["max"] for v in depts.values())
    assert s["takeover"] == {
        "count": 2,
        "sla_breaches": 1,
        "breach_rate": 0.5,
        "latency_ms": {"p50": 60_000.0, "p95": 87_000.0},
    }
    assert (
        store.stats(since_ns=parse_since((datetime.now(UTC) + timedelta(minutes=5)).isoformat()))["turns"]
        == 0
    )


def row(trace_id: str, span_id: str, name: str, start: int, end: int, **attrs: Any) -> dict[str, Any]:
    parent = attrs.pop("parent", None)
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_id": parent,
        "name": name,
        "kind": "INTERNAL",
        "start_ns": start,
        "end_ns": end,
        "status": "UNSET",
        "status_message": "",
        "attributes": attrs,
        "events": [],
        "conversation_id": None,
        "is_root": name == N.SPAN_TURN,
    }


def test_department_percentiles_are_exact() -> None:
    ms = 1_000_000
    rows = [row("a" * 32, "r" * 16, N.SPAN_TURN, 0, 100 * ms, **{N.TURN_ISSUES: 0})]
    for i, dur in enumerate([10, 20, 30, 40, 100]):
        rows.append(
            row(
                "a" * 32, f"{i:016x}", "invoke_agent billing", 0, dur * ms, **{N.GEN_AI_AGENT_NAME: "billing"}
            )
        )
    stats = compute_stats([SpanRow(**r) for r in rows])
    assert stats["department_latency_ms"]["billing"] == {
        "runs": 5,
        "errors": 0,
        "p50": 30.0,
        "p95": 88.0,
        "max": 100.0,
    }
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0


def test_trace_id_prefixes(tel: Telemetry) -> None:
    store = TraceStore(tel.config.store_url)
    with pytest.raises(TraceNotFound, match="no traces have been recorded"):
        store.resolve_trace_id("abc")
    from traces.models import TraceSpan
    from traces.store import ensure_table

    ensure_table(store.engine)
    with store.engine.begin() as conn:
        conn.execute(
            insert(TraceSpan.__table__),
            [
                row("abc1" + "0" * 28, "1" * 16, N.SPAN_TURN, 1, 2),
                row("abc2" + "0" * 28, "2" * 16, N.SPAN_TURN, 1, 2),
            ],
        )
    with pytest.raises(TraceQueryError, match="matches several traces"):
        store.resolve_trace_id("abc")
    assert store.resolve_trace_id("ABC2") == "abc2" + "0" * 28
    with pytest.raises(TraceNotFound, match="no trace starts with ffff"):
        store.resolve_trace_id("ffff")
    with pytest.raises(TraceQueryError, match="not a trace id"):
        store.resolve_trace_id("turn-1")


def test_parse_since() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now=now) == int(datetime(2025, 3, 1, 10, 0, tzinfo=UTC).timestamp() * 1e9)
    assert parse_since("30m", now=now) == int(datetime(2025, 3, 1, 11, 30, tzinfo=UTC).timestamp() * 1e9)
    assert parse_since("2025-02-28T09:00", now=now) == int(
        datetime(2025, 2, 28, 9, tzinfo=UTC).timestamp() * 1e9
    )
    assert parse_since("2025-02-28T09:00+01:00") == int(
        datetime(2025, 2, 28, 8, tzinfo=UTC).timestamp() * 1e9
    )
    with pytest.raises(TraceQueryError, match="30m, 2h, 7d"):
        parse_since("yesterday")
