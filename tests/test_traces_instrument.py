"""The span helpers: tree shape across threads, turn tallies, errors, metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from traces_synth import Issue, TurnSpec, clean_env, run_turn

from orchestrator.config import Settings
from traces import instrument as ti
from traces import names as N
from traces.setup import Telemetry, configure_telemetry


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def tel(tmp_path: Path, exporter: InMemorySpanExporter, reader: InMemoryMetricReader) -> Iterator[Telemetry]:
    t = configure_telemetry(Settings(home=tmp_path), exporter=exporter, metric_reader=reader)
    yield t
    t.shutdown()


def tree(spans: tuple[ReadableSpan, ...]) -> dict[str, Any]:
    """{name: [child trees]} keyed from the single root, children sorted by name."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    for s in spans:
        by_parent.setdefault(s.parent.span_id if s.parent else None, []).append(s)

    def node(span: ReadableSpan) -> Any:
        kids = sorted(by_parent.get(span.context.span_id, []), key=lambda k: k.name)
        return (span.name, [node(k) for k in kids])

    (root,) = by_parent[None]
    return node(root)


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def agent_subtree(department: str) -> tuple[str, list[Any]]:
    return (
        f"invoke_agent {department}",
        [("check_policy pre_action", []), ("retrieve", [])],
    )


def test_three_departments_in_parallel_are_siblings_under_the_root(
    tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    spec = TurnSpec(
        "conv-3",
        "turn-1",
        [
            Issue("billing", "refund_status", "Where is my refund for the shoes?"),
            Issue("technical", "login_problem", "The app logs me out."),
            Issue("compliance", "kyc_status", "Why is my account on hold?"),
        ],
        sleep_s=0.05,
    )
    run_turn(tel, spec)
    spans = exporter.get_finished_spans()
    assert tree(spans) == (
        "invoke_workflow",
        [
            ("check_policy intake", []),
            ("compose_reply", []),
            ("execute_tool transfer_to_billing", []),
            ("execute_tool transfer_to_compliance", []),
            ("execute_tool transfer_to_technical", []),
            agent_subtree("billing"),
            agent_subtree("compliance"),
            agent_subtree("technical"),
            ("plan", []),
        ],
    )
    agents = [s for s in spans if s.name.startswith("invoke_agent ")]
    # they really ran at the same time, in different threads, yet share one parent
    assert max(a.start_time for a in agents) < min(a.end_time for a in agents)
    assert len({a.parent.span_id for a in agents}) == 1
    assert len({s.context.trace_id for s in spans}) == 1

    (root,) = by_name(spans, "invoke_workflow")
    a = root.attributes
    assert a[N.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert a[N.GEN_AI_CONVERSATION_ID] == "conv-3"
    assert a[N.TURN_ID] == "turn-1"
    assert (
        a[N.TURN_DISPATCHES],
        a[N.TURN_REROUTES],
        a[N.TURN_ESCALATIONS],
        a[N.TURN_CUSTOMER_TRANSFERS],
    ) == (3, 0, 0, 0)
    assert (a[N.TURN_STATUS], a[N.TURN_FCR], a[N.TURN_ISSUES], a[N.TURN_FCR_ISSUES]) == (
        "resolved",
        True,
        3,
        3,
    )

    (plan,) = by_name(spans, "plan")
    assert plan.attributes[N.PLAN_SUB_ISSUES] == 3
    assert plan.attributes[N.PLAN_DEPARTMENTS] == ("billing", "technical", "compliance")
    assert plan.attributes[N.PLAN_CONFIDENCES] == (0.9, 0.9, 0.9)

    (transfer,) = by_name(spans, "execute_tool transfer_to_billing")
    t = transfer.attributes
    assert t[N.GEN_AI_TOOL_NAME] == "transfer_to_billing"
    assert (t[N.GEN_AI_TRANSFER_SOURCE_NAME], t[N.GEN_AI_TRANSFER_TARGET_NAME]) == ("supervisor", "billing")
    assert (t[N.GEN_AI_TRANSFER_TARGET_TYPE], t[N.TRANSFER_KIND], t[N.TASK_ID]) == (
        "agent",
        "dispatch",
        "turn-1-1",
    )

    (billing,) = by_name(spans, "invoke_agent billing")
    b = billing.attributes
    assert (b[N.GEN_AI_AGENT_NAME], b[N.TASK_ID], b[N.TASK_INTENT], b[N.TASK_STATUS]) == (
        "billing",
        "turn-1-1",
        "refund_status",
        "resolved",
    )
    assert b[N.GEN_AI_CONVERSATION_ID] == "conv-3"  # children carry the conversation too
    (ret,) = [s for s in by_name(spans, "retrieve") if s.parent.span_id == billing.context.span_id]
    assert ret.attributes[N.RETRIEVAL_HITS] == 1
    assert ret.attributes[N.RETRIEVAL_ARTICLE_IDS] == ("billing-kb-1",)
    (pol,) = [
        s for s in by_name(spans, "check_policy pre_action") if s.parent.span_id == billing.context.span_id
    ]
    assert (pol.attributes[N.POLICY_DECISION], pol.attributes[N.POLICY_RULE_IDS]) == ("allow", ("EU-GEN-1",))


def test_one_department(tel: Telemetry, exporter: InMemorySpanExporter) -> None:
    run_turn(
        tel, TurnSpec("conv-1", "turn-1", [Issue("billing", "refund_status", "Refund?", actions=("refund",))])
    )
    spans = exporter.get_finished_spans()
    assert tree(spans) == (
        "invoke_workflow",
        [
            ("check_policy intake", []),
            ("compose_reply", []),
            ("execute_tool transfer_to_billing", []),
            agent_subtree("billing"),
            ("plan", []),
        ],
    )
    (billing,) = by_name(spans, "invoke_agent billing")
    assert billing.attributes[N.TASK_ACTIONS] == ("refund",)


def test_reroute_is_a_transfer_from_department_to_department(
    tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    run_turn(
        tel,
        TurnSpec(
            "conv-r",
            "turn-1",
            [Issue("billing", "card_declined", "My card was declined.", reroute_to="technical")],
        ),
    )
    spans = exporter.get_finished_spans()
    assert tree(spans) == (
        "invoke_workflow",
        [
            ("check_policy intake", []),
            ("compose_reply", []),
            ("execute_tool transfer_to_billing", []),
            ("execute_tool transfer_to_technical", []),
            agent_subtree("billing"),
            agent_subtree("technical"),
            ("plan", []),
        ],
    )
    (reroute,) = by_name(spans, "execute_tool transfer_to_technical")
    r = reroute.attributes
    assert (r[N.GEN_AI_TRANSFER_SOURCE_NAME], r[N.GEN_AI_TRANSFER_TARGET_NAME], r[N.TRANSFER_KIND]) == (
        "billing",
        "technical",
        "reroute",
    )
    (billing,) = by_name(spans, "invoke_agent billing")
    assert (billing.attributes[N.TASK_STATUS], billing.attributes[N.TASK_SUGGEST]) == (
        "not_mine",
        "technical",
    )
    (technical,) = by_name(spans, "invoke_agent technical")
    assert technical.attributes[N.TASK_ATTEMPT] == 1
    assert reroute.start_time >= billing.end_time and technical.start_time >= reroute.end_time
    (root,) = by_name(spans, "invoke_workflow")
    assert (root.attributes[N.TURN_DISPATCHES], root.attributes[N.TURN_REROUTES]) == (2, 1)
    # a reroute inside the turn still resolves on first contact
    assert (root.attributes[N.TURN_FCR], root.attributes[N.TURN_FCR_ISSUES]) == (True, 1)


def test_human_takeover(tel: Telemetry, exporter: InMemorySpanExporter) -> None:
    spec = TurnSpec(
        "conv-h",
        "turn-1",
        [Issue("compliance", "complaint", "I want to speak to a person.", escalate=True, takeover_ms=90_000)],
        status="needs_human",
        sla_s=60,
    )
    run_turn(tel, spec)
    spans = exporter.get_finished_spans()
    assert tree(spans) == (
        "invoke_workflow",
        [
            ("check_policy intake", []),
            ("compose_reply", []),
            ("execute_tool transfer_to_compliance", []),
            ("execute_tool transfer_to_human", []),
            ("human_takeover", []),
            agent_subtree("compliance"),
            ("plan", []),
        ],
    )
    (esc,) = by_name(spans, "execute_tool transfer_to_human")
    assert (esc.attributes[N.GEN_AI_TRANSFER_TARGET_TYPE], esc.attributes[N.TRANSFER_KIND]) == (
        "human",
        "escalation",
    )
    assert esc.attributes[N.GEN_AI_TRANSFER_SOURCE_NAME] == "compliance"
    (tk,) = by_name(spans, "human_takeover")
    k = tk.attributes
    assert (k[N.TAKEOVER_LATENCY_MS], k[N.TAKEOVER_QUEUE_WAIT_MS], k[N.TAKEOVER_SLA_S]) == (
        90_000.0,
        72_000.0,
        60.0,
    )
    assert k[N.TAKEOVER_SLA_BREACHED] is True
    (root,) = by_name(spans, "invoke_workflow")
    r = root.attributes
    assert (r[N.TURN_ESCALATIONS], r[N.TURN_CUSTOMER_TRANSFERS], r[N.TURN_STATUS]) == (1, 1, "needs_human")
    assert (r[N.TURN_FCR], r[N.TURN_FCR_ISSUES]) == (False, 0)


def test_exception_is_recorded_and_the_original_reraised(
    tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    boom = KeyError("acct-991")
    with pytest.raises(KeyError) as caught:
        with ti.turn_span(tel, conversation_id="c", turn_id="t") as turn:
            with ti.agent_span(tel, "billing", task_id="t-1", parent=turn):
                raise boom
    assert caught.value is boom
    spans = exporter.get_finished_spans()
    for name in ("invoke_agent billing", "invoke_workflow"):
        (span,) = by_name(spans, name)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes[N.ERROR_TYPE] == "KeyError"
        (event,) = [e for e in span.events if e.name == "exception"]
        assert event.attributes["exception.type"] == "builtins.KeyError"
        assert "exception.message" not in event.attributes  # content capture is off
        assert "raise boom" in event.attributes["exception.stacktrace"]


def test_langgraph_interrupt_is_not_an_error(tel: Telemetry, exporter: InMemorySpanExporter) -> None:
    class GraphBubbleUp(Exception):
        pass

    class GraphInterrupt(GraphBubbleUp):
        pass

    with pytest.raises(GraphInterrupt):
        with ti.turn_span(tel, conversation_id="c", turn_id="t"):
            raise GraphInterrupt()
    (root,) = exporter.get_finished_spans()
    assert root.status.status_code is StatusCode.UNSET
    assert root.attributes["crossdesk.interrupted"] is True


def test_parent_forms_and_attach_across_threads(tel: Telemetry, exporter: InMemorySpanExporter) -> None:
    with ti.turn_span(tel, conversation_id="c", turn_id="t") as turn:
        traceparent = turn.carrier["traceparent"]
        parents = {
            "handle": turn,
            "context": turn.context,
            "carrier": dict(turn.carrier),
            "string": traceparent,
        }

        def work(kind: str) -> None:
            with ti.agent_span(tel, kind, task_id=kind, parent=parents[kind]):
                pass
            with ti.attach(parents[kind]):
                # code without explicit parents (a knowledge search, say) lands in the turn too
                with ti.retrieve_span(tel, department=kind) as r:
                    r.set_hits(["a", "b"])

        threads = [threading.Thread(target=work, args=(k,)) for k in parents]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        turn.set_status("resolved")
    spans = exporter.get_finished_spans()
    (root,) = by_name(spans, "invoke_workflow")
    children = [s for s in spans if s is not root]
    assert len(children) == 8
    assert all(s.parent.span_id == root.context.span_id for s in children)
    assert all(s.attributes[N.GEN_AI_CONVERSATION_ID] == "c" for s in children)


def test_turn_for_finds_the_turn_from_a_carrier(tel: Telemetry, exporter: InMemorySpanExporter) -> None:
    turn = ti.turn_span(tel, conversation_id="c", turn_id="t")
    carrier = turn.carrier
    # e.g. a "finish" node that only has the graph state
    found = ti.turn_for(carrier)
    assert found is turn
    found.set_counts(dispatches=5)
    found.set_status("partial", fcr=False)
    turn.end()
    assert ti.turn_for(carrier) is None  # ended turns are forgotten
    (root,) = exporter.get_finished_spans()
    assert (root.attributes[N.TURN_DISPATCHES], root.attributes[N.TURN_STATUS]) == (5, "partial")


def test_takeover_in_a_later_process_joins_the_turn_trace(
    tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    with ti.turn_span(tel, conversation_id="c", turn_id="t") as turn:
        stored = turn.carrier["traceparent"]  # e.g. saved with the handoff record
        queued_at = turn.span.start_time
    with ti.takeover_span(tel, queue="compliance", sla_s=300, parent=stored, start_ns=queued_at) as tk:
        assert tk.set_latency(takeover_latency_ms=12_000) is False
    root, takeover = exporter.get_finished_spans()
    assert takeover.context.trace_id == root.context.trace_id
    assert takeover.parent.span_id == root.context.span_id
    assert takeover.start_time == queued_at
    assert takeover.attributes[N.TAKEOVER_SLA_BREACHED] is False


def test_bad_transfer_kind_is_a_clear_error(tel: Telemetry) -> None:
    with pytest.raises(ValueError, match="dispatch, reroute, escalation"):
        ti.record_transfer(tel, "billing", source="supervisor", kind="handoff")
    with pytest.raises(ValueError, match="agent, human, workflow"):
        ti.record_transfer(tel, "billing", source="supervisor", kind="dispatch", target_type="robot")


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out[m.name] = list(m.data.data_points)
    return out


def test_metrics_follow_the_turns(tel: Telemetry, reader: InMemoryMetricReader) -> None:
    run_turn(
        tel,
        TurnSpec(
            "conv-m",
            "turn-1",
            [
                Issue("billing", "card_declined", "Card declined.", reroute_to="technical"),
                Issue("compliance", "complaint", "Get me a human.", escalate=True, takeover_ms=120_000),
                Issue("technical", "login_problem", "Cannot log in."),
            ],
            status="partial",
            sla_s=60,
        ),
    )
    run_turn(tel, TurnSpec("conv-m", "turn-2", [Issue("billing", "refund_status", "Refund?")]))
    points = metric_points(reader)

    turns = {dict(p.attributes)["status"]: p.value for p in points[N.METRIC_TURNS]}
    assert turns == {"partial": 1, "resolved": 1}
    assert [p.value for p in points[N.METRIC_FCR_ISSUES]] == [3]  # rerouted + plain + turn-2's refund
    assert [p.value for p in points[N.METRIC_REROUTES]] == [1]
    assert [p.value for p in points[N.METRIC_ESCALATIONS]] == [1]

    per_kind = {dict(p.attributes)["kind"]: p for p in points[N.METRIC_TRANSFERS_PER_ISSUE]}
    assert (per_kind["dispatch"].count, per_kind["dispatch"].sum) == (4, 4)  # 4 issues, 1 dispatch each
    assert (per_kind["reroute"].count, per_kind["reroute"].sum) == (4, 1)
    assert (per_kind["escalation"].count, per_kind["escalation"].sum) == (4, 1)

    (takeover,) = points[N.METRIC_TAKEOVER_LATENCY]
    assert dict(takeover.attributes) == {"sla_breached": True}
    assert takeover.sum == 120.0

    depts = {dict(p.attributes)["department"]: p.count for p in points[N.METRIC_DEPARTMENT_LATENCY]}
    assert depts == {"billing": 2, "technical": 2, "compliance": 1}
