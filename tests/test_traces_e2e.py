"""Tracing through the real pipeline: the Orchestrator on a seeded database, spans in memory.

Each test sends real customer messages through `Orchestrator.ask` and checks the
exact span tree of the turn, that the root span's counts are the routing
record's, and that no personal data reaches an exported attribute.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import Session

from orchestrator import takeover
from orchestrator.records import TurnRecord
from orchestrator.runtime import Orchestrator
from plugins import hookimpl
from plugins.contracts import (
    ActionSpec,
    Department,
    DepartmentContext,
    DepartmentResult,
    Intent,
    Task,
)
from traces import names as N

Tree = tuple[str, tuple[Any, ...]]


def tree(spans: Iterable[ReadableSpan]) -> list[Tree]:
    """Each trace as (name, children); siblings sorted by name, so parallel runs compare exactly."""
    spans = list(spans)
    ids = {s.context.span_id for s in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        children.setdefault(parent, []).append(s)

    def node(span: ReadableSpan) -> Tree:
        kids = sorted((node(c) for c in children.get(span.context.span_id, [])), key=repr)
        return (span.name, tuple(kids))

    return [node(root) for root in children.get(None, [])]


def leaf(name: str) -> Tree:
    return (name, ())


def by_name(spans: Iterable[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def root_of(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    (root,) = by_name(spans, N.SPAN_TURN)
    return root


def children_in_order(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[str]:
    kids = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return [s.name for s in sorted(kids, key=lambda s: s.start_time or 0)]


def assert_counts_match_record(root: ReadableSpan, orch: Orchestrator, record: dict[str, Any]) -> None:
    """The root span's counts, status and trace id are the routing record's, as stored."""
    a = root.attributes or {}
    counts = record["counts"]
    assert (
        a[N.TURN_DISPATCHES],
        a[N.TURN_REROUTES],
        a[N.TURN_ESCALATIONS],
        a[N.TURN_CUSTOMER_TRANSFERS],
    ) == (counts["dispatches"], counts["reroutes"], counts["escalations"], counts["customer_transfers"])
    assert (a[N.TURN_STATUS], a[N.TURN_ID], a[N.TURN_FCR]) == (
        record["status"],
        record["turn_id"],
        record["fcr"],
    )
    trace_id = format(root.context.trace_id, "032x")
    assert record["trace_id"] == trace_id
    with Session(orch.engine) as session:
        row = session.get(TurnRecord, record["turn_id"])
        assert row is not None
        assert row.trace_id == trace_id
        assert (row.dispatches, row.reroutes, row.escalations, row.customer_transfers) == (
            a[N.TURN_DISPATCHES],
            a[N.TURN_REROUTES],
            a[N.TURN_ESCALATIONS],
            a[N.TURN_CUSTOMER_TRANSFERS],
        )


# -- one department, three in parallel ---------------------------------------------------------------


def test_one_department(traced_orch: Orchestrator, span_exporter: InMemorySpanExporter) -> None:
    out = traced_orch.ask("I was charged twice", customer_id="C1001")
    assert [t["departments_tried"] for t in out.record["tasks"]] == [["billing"]]
    spans = span_exporter.get_finished_spans()
    assert tree(spans) == [
        (
            "invoke_workflow",
            (
                leaf("check_policy outcome"),
                leaf("check_policy plan"),
                leaf("compose_reply"),
                leaf("execute_tool transfer_to_billing"),
                ("invoke_agent billing", (leaf("check_policy action"), leaf("retrieve"))),
                leaf("plan"),
            ),
        )
    ]
    root = root_of(spans)
    assert children_in_order(spans, root) == [
        "plan",
        "check_policy plan",
        "execute_tool transfer_to_billing",
        "invoke_agent billing",
        "compose_reply",
        "check_policy outcome",
    ]
    assert_counts_match_record(root, traced_orch, out.record)
    assert out.as_json()["trace_id"] == out.record["trace_id"]
    assert root.attributes[N.GEN_AI_CONVERSATION_ID] == out.conversation_id

    (transfer,) = by_name(spans, "execute_tool transfer_to_billing")
    t = transfer.attributes
    assert (
        t[N.GEN_AI_TRANSFER_SOURCE_NAME],
        t[N.GEN_AI_TRANSFER_TARGET_NAME],
        t[N.GEN_AI_TRANSFER_TARGET_TYPE],
        t[N.TRANSFER_KIND],
        t[N.TASK_ID],
    ) == ("supervisor", "billing", "agent", "dispatch", out.record["tasks"][0]["id"])
    (agent,) = by_name(spans, "invoke_agent billing")
    assert agent.attributes[N.TASK_STATUS] == "resolved"
    assert agent.attributes[N.GEN_AI_AGENT_NAME] == "billing"
    (retrieve,) = by_name(spans, "retrieve")
    assert retrieve.attributes[N.RETRIEVAL_HITS] == len(retrieve.attributes[N.RETRIEVAL_ARTICLE_IDS]) > 0
    assert set(out.record["tasks"][0]["knowledge"]) <= set(retrieve.attributes[N.RETRIEVAL_ARTICLE_IDS])

    # policy spans carry the decision and the rules that matched, as the record keeps them
    (plan_check,) = by_name(spans, "check_policy plan")
    (outcome_check,) = by_name(spans, "check_policy outcome")
    for span, stage in ((plan_check, "plan"), (outcome_check, "outcome")):
        decision = out.record["policy"][stage]
        assert span.attributes[N.POLICY_DECISION] == decision["effect"]
        assert list(span.attributes[N.POLICY_RULE_IDS]) == [m["id"] for m in decision["matched"]]
        assert span.attributes[N.POLICY_JURISDICTION] == "EU"
    (action_check,) = by_name(spans, "check_policy action")
    (action,) = out.record["tasks"][0]["actions"]
    assert action_check.attributes[N.POLICY_ACTION] == action["name"]
    assert action_check.attributes[N.POLICY_DECISION] == ("allow" if action["ok"] else "deny")


THREE = "I can't log in and I was charged a fee I don't recognise and I want to close my account"


class ThreadRecorder(SpanProcessor):
    """Remembers the thread each span started on."""

    def __init__(self) -> None:
        self.threads: dict[int, str] = {}

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.threads[span.context.span_id] = threading.current_thread().name


def test_three_departments_in_parallel(
    traced_orch: Orchestrator, span_exporter: InMemorySpanExporter
) -> None:
    thread_recorder = ThreadRecorder()
    traced_orch.telemetry.tracer_provider.add_span_processor(thread_recorder)
    out = traced_orch.ask(THREE, customer_id="C1001")
    tried = sorted(d for t in out.record["tasks"] for d in t["departments_tried"])
    assert tried == ["billing", "compliance", "technical"]
    spans = span_exporter.get_finished_spans()
    assert tree(spans) == [
        (
            "invoke_workflow",
            (
                leaf("check_policy outcome"),
                leaf("check_policy plan"),
                leaf("compose_reply"),
                leaf("execute_tool transfer_to_billing"),
                leaf("execute_tool transfer_to_compliance"),
                leaf("execute_tool transfer_to_technical"),
                ("invoke_agent billing", (leaf("retrieve"),)),
                ("invoke_agent compliance", (leaf("check_policy action"), leaf("retrieve"))),
                ("invoke_agent technical", (leaf("check_policy action"), leaf("retrieve"))),
                leaf("plan"),
            ),
        )
    ]
    root = root_of(spans)
    agents = [s for s in spans if s.name.startswith("invoke_agent ")]
    # one action check per action a department took, under that department's run
    for task in out.record["tasks"]:
        (agent,) = by_name(spans, f"invoke_agent {task['department']}")
        checks = [
            s for s in by_name(spans, "check_policy action") if s.parent.span_id == agent.context.span_id
        ]
        assert [c.attributes[N.POLICY_ACTION] for c in checks] == [a["name"] for a in task["actions"]]
    # siblings under one parent, and their searches ran on the dispatcher's threads: the trace
    # context crossed the thread hop into each run
    assert {a.parent.span_id for a in agents if a.parent} == {root.context.span_id}
    assert len({s.context.trace_id for s in spans}) == 1
    threads = thread_recorder.threads
    for r in by_name(spans, "retrieve"):
        assert r.parent is not None
        assert threads[r.context.span_id].startswith("crossdesk-dept")
        assert threads[r.context.span_id] != threads[r.parent.span_id]
    # each department's search sits under its own run, not a neighbour's
    for agent in agents:
        for r in by_name(spans, "retrieve"):
            if r.parent is not None and r.parent.span_id == agent.context.span_id:
                assert agent.start_time <= r.start_time and r.end_time <= agent.end_time
    order = children_in_order(spans, root)
    assert order[:2] == ["plan", "check_policy plan"] and order[-2:] == [
        "compose_reply",
        "check_policy outcome",
    ]
    assert_counts_match_record(root, traced_orch, out.record)
    (plan,) = by_name(spans, "plan")
    assert plan.attributes[N.PLAN_SUB_ISSUES] == 3
    assert list(plan.attributes[N.PLAN_DEPARTMENTS]) == [t["routed_to"] for t in out.record["tasks"]]
    assert list(plan.attributes[N.PLAN_CONFIDENCES]) == [t["confidence"] for t in out.record["tasks"]]


# -- a reroute: an in-process plugin that declines and names the owner ------------------------------

TRACKING = Intent(
    name="parcel_tracking",
    description="Tracking a parcel sent to a pick-up locker",
    examples=(
        "track my parcel",
        "can you track my parcel please",
        "where is my parcel right now",
        "what is the tracking status of my parcel",
        "my parcel tracking has not moved for a week",
        "has my parcel left the depot",
        "parcel tracking number does not work",
        "show me where my parcel is",
    ),
)
LOCKER = Intent(
    name="locker_opening",
    description="Opening a pick-up locker door",
    examples=(
        "the locker door will not open",
        "I need the code to open the locker",
        "my locker code is rejected",
        "the pick-up locker stays shut",
        "how do I open the locker",
        "the locker screen is frozen",
        "locker door jammed",
        "the locker gave me the wrong door",
    ),
)


class Tracking:
    """Declines every task and says the locker desk owns it."""

    name = "tracking"
    description = "Parcel tracking"
    intents: Sequence[Intent] = (TRACKING,)
    actions: Sequence[ActionSpec] = ()

    def handle(self, task: Task, ctx: DepartmentContext) -> DepartmentResult:
        return DepartmentResult(department=self.name, task_id=task.id, status="not_mine", suggest="lockers")


class Lockers:
    """Answers whatever it is handed, after looking in the shared knowledge."""

    name = "lockers"
    description = "Pick-up lockers"
    intents: Sequence[Intent] = (LOCKER,)
    actions: Sequence[ActionSpec] = ()

    def handle(self, task: Task, ctx: DepartmentContext) -> DepartmentResult:
        hits = ctx.knowledge.search(task.text, k=2)
        return DepartmentResult(
            department=self.name,
            task_id=task.id,
            status="resolved",
            reply="Your parcel is waiting in locker 12; the code is in the app.",
            knowledge=tuple(h.id for h in hits),
        )


class ParcelPlugin:
    @hookimpl
    def crossdesk_departments(self) -> list[Department]:
        return [Tracking(), Lockers()]


@pytest.fixture
def rerouting_orch(seeded_home: Path, span_exporter: InMemorySpanExporter) -> Iterator[Orchestrator]:
    from orchestrator.config import load_settings
    from plugins.manager import load_plugins

    orch = Orchestrator(
        load_settings(),
        plugins=load_plugins(extra=[("parcels", ParcelPlugin())]),
        exporter=span_exporter,
    )
    yield orch
    orch.close()


def test_reroute(rerouting_orch: Orchestrator, span_exporter: InMemorySpanExporter) -> None:
    out = rerouting_orch.ask("Can you track my parcel please?", jurisdiction="EU")
    (task,) = out.record["tasks"]
    assert (task["departments_tried"], task["status"]) == (["tracking", "lockers"], "resolved")
    spans = span_exporter.get_finished_spans()
    assert tree(spans) == [
        (
            "invoke_workflow",
            (
                leaf("check_policy outcome"),
                leaf("check_policy plan"),
                leaf("compose_reply"),
                leaf("execute_tool transfer_to_lockers"),
                leaf("execute_tool transfer_to_tracking"),
                ("invoke_agent lockers", (leaf("retrieve"),)),
                leaf("invoke_agent tracking"),
                leaf("plan"),
            ),
        )
    ]
    root = root_of(spans)
    assert children_in_order(spans, root) == [
        "plan",
        "check_policy plan",
        "execute_tool transfer_to_tracking",
        "invoke_agent tracking",
        "execute_tool transfer_to_lockers",
        "invoke_agent lockers",
        "compose_reply",
        "check_policy outcome",
    ]
    (reroute,) = by_name(spans, "execute_tool transfer_to_lockers")
    r = reroute.attributes
    assert (
        r[N.GEN_AI_TRANSFER_SOURCE_NAME],
        r[N.GEN_AI_TRANSFER_TARGET_NAME],
        r[N.GEN_AI_TRANSFER_TARGET_TYPE],
        r[N.TRANSFER_KIND],
        r[N.TRANSFER_REASON],
        r[N.TASK_ID],
    ) == ("tracking", "lockers", "agent", "reroute", "not_mine", task["id"])
    (declined,) = by_name(spans, "invoke_agent tracking")
    assert (declined.attributes[N.TASK_STATUS], declined.attributes[N.TASK_SUGGEST]) == (
        "not_mine",
        "lockers",
    )
    (lockers,) = by_name(spans, "invoke_agent lockers")
    assert (lockers.attributes[N.TASK_STATUS], lockers.attributes[N.TASK_ATTEMPT]) == ("resolved", 1)
    assert_counts_match_record(root, rerouting_orch, out.record)
    assert (root.attributes[N.TURN_DISPATCHES], root.attributes[N.TURN_REROUTES]) == (2, 1)


# -- a human takeover ----------------------------------------------------------------------------------


def test_human_takeover(traced_orch: Orchestrator, span_exporter: InMemorySpanExporter) -> None:
    out = traced_orch.ask("I want to talk to a person please", customer_id="C1001", conversation_id="conv-tk")
    assert out.record["status"] == "needs_human"
    spans = span_exporter.get_finished_spans()
    turn_tree = (
        "invoke_workflow",
        (
            leaf("check_policy outcome"),
            leaf("check_policy plan"),
            leaf("compose_reply"),
            leaf("execute_tool transfer_to_human"),
            leaf("plan"),
        ),
    )
    assert tree(spans) == [turn_tree]
    root = root_of(spans)
    assert_counts_match_record(root, traced_orch, out.record)
    (escalation,) = by_name(spans, "execute_tool transfer_to_human")
    e = escalation.attributes
    assert (
        e[N.GEN_AI_TRANSFER_SOURCE_NAME],
        e[N.GEN_AI_TRANSFER_TARGET_TYPE],
        e[N.TRANSFER_KIND],
        e[N.TRANSFER_REASON],
    ) == ("supervisor", "human", "escalation", "policy")

    time.sleep(0.02)  # the operator takes a moment
    claimed = takeover.claim(traced_orch, "conv-tk", "alice")
    spans = span_exporter.get_finished_spans()
    # the takeover joins the trace of the turn that queued the conversation
    (_, kids) = turn_tree
    assert tree(spans) == [("invoke_workflow", tuple(sorted((*kids, leaf("human_takeover")), key=repr)))]
    (tk,) = by_name(spans, "human_takeover")
    assert tk.parent is not None and tk.parent.span_id == root.context.span_id
    a = tk.attributes
    assert a[N.TAKEOVER_LATENCY_MS] == claimed["takeover_latency_ms"] > 0
    assert a[N.TAKEOVER_SLA_BREACHED] is claimed["sla_breached"] is False
    assert a[N.TAKEOVER_SLA_S] == claimed["sla_seconds"]
    # the queue wait counts from the turn's decision that a person is needed, before the entry was written
    assert a[N.TAKEOVER_QUEUE_WAIT_MS] > a[N.TAKEOVER_LATENCY_MS]
    claimed_s = datetime.fromisoformat(claimed["claimed_at"]).timestamp()
    requested_s = out.record["handoff"]["requested_at"]
    assert a[N.TAKEOVER_QUEUE_WAIT_MS] == pytest.approx((claimed_s - requested_s) * 1000, abs=2)
    # the span runs from the flag to the claim
    assert (tk.end_time - tk.start_time) / 1e6 == pytest.approx(claimed["takeover_latency_ms"], abs=1)
    assert a[N.TAKEOVER_REASON] == "policy"

    # claiming again as the same operator changes nothing, and records nothing new
    takeover.claim(traced_orch, "conv-tk", "alice")
    assert len(by_name(span_exporter.get_finished_spans(), "human_takeover")) == 1


# -- personal data ----------------------------------------------------------------------------------------

CARD = "4111 1111 1111 1111"
CARD_DIGITS = CARD.replace(" ", "")
IBAN = "DE89 3704 0044 0532 0130 00"
IBAN_COMPACT = IBAN.replace(" ", "")
EMAIL = "mira.okafor@example.org"
PHONE = "+44 20 7946 0958"
PHONE_US = "415-555-0132"
SECRETS = (CARD, CARD_DIGITS, IBAN, IBAN_COMPACT, EMAIL, PHONE, PHONE_US, "7946 0958", "5550132")
PII_MESSAGES = (
    f"I was charged twice on card {CARD}, refund it to {IBAN} and mail me at {EMAIL}",
    f"My card {CARD_DIGITS} was declined, call me on {PHONE}",
    f"Delete my data: my email is {EMAIL} and my phone {PHONE_US}. Also my login fails.",
    f"I want to talk to a person, ring {PHONE} or write to {EMAIL}; the IBAN is {IBAN_COMPACT}",
)


def exported_values(spans: Iterable[ReadableSpan]) -> list[str]:
    """Every attribute value of every span, event and resource, as text."""
    out: list[str] = []

    def add(attrs: Any) -> None:
        for key, value in (attrs or {}).items():
            out.append(f"{key}={json.dumps(value, default=str) if not isinstance(value, str) else value}")

    for s in spans:
        out.append(s.name)
        add(s.attributes)
        add(s.resource.attributes)
        for ev in s.events:
            out.append(ev.name)
            add(ev.attributes)
        if s.status.description:
            out.append(s.status.description)
    return out


def run_pii_turns(orch: Orchestrator) -> list[str]:
    replies = []
    for n, message in enumerate(PII_MESSAGES):
        replies.append(orch.ask(message, customer_id="C1001", conversation_id=f"conv-pii-{n}").reply)
    return replies


@pytest.mark.parametrize("capture", [False, True], ids=["capture-off", "capture-on"])
def test_no_personal_data_in_any_exported_attribute(
    seeded_home: Path, monkeypatch: pytest.MonkeyPatch, capture: bool
) -> None:
    from orchestrator.config import load_settings

    if capture:
        monkeypatch.setenv("CROSSDESK_CAPTURE_CONTENT", "1")
    exporter = InMemorySpanExporter()
    orch = Orchestrator(load_settings(), exporter=exporter)
    try:
        replies = run_pii_turns(orch)
    finally:
        orch.close()
    spans = exporter.get_finished_spans()
    assert {s.name for s in spans} >= {
        "invoke_workflow",
        "plan",
        "retrieve",
        "execute_tool transfer_to_human",
    }
    text = "\n".join(exported_values(spans))
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} reached a span"
    contents = [
        v
        for s in spans
        for k, v in (s.attributes or {}).items()
        if k in (N.GEN_AI_INPUT_MESSAGES, N.GEN_AI_OUTPUT_MESSAGES, N.RETRIEVAL_QUERY)
    ]
    if not capture:
        assert contents == []
        assert not any(r in text for r in replies if r)
    else:
        # the text is there, masked: the labels and the last four digits stand in for the data
        roots = by_name(spans, "invoke_workflow")
        inputs = [json.loads(str(r.attributes[N.GEN_AI_INPUT_MESSAGES]))[0] for r in roots]
        assert [m["role"] for m in inputs] == ["user"] * len(PII_MESSAGES)
        joined = " ".join(p["content"] for m in inputs for p in m["parts"])
        assert "[email]" in joined and "[phone]" in joined and "****1111" in joined
        assert all(N.GEN_AI_OUTPUT_MESSAGES in r.attributes for r in roots)
        assert any(N.RETRIEVAL_QUERY in (s.attributes or {}) for s in by_name(spans, "retrieve"))


# -- a dead collector never fails a turn -------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nobody listens there


def test_dead_collector_does_not_fail_a_turn(seeded_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    from orchestrator.config import load_settings

    port = closed_port()
    settings = load_settings(
        extra={
            "telemetry": {
                "exporters": ["otlp"],
                "otlp_endpoint": f"http://127.0.0.1:{port}",
                "otlp_timeout_s": 1,
            }
        }
    )
    orch = Orchestrator(settings)
    try:
        assert orch.telemetry.enabled
        out = orch.ask("I was charged twice", customer_id="C1001")
        again = orch.ask(THREE, customer_id="C1001")
        orch.telemetry.force_flush(5_000)  # export happens off the turn's path; here it meets the dead port
    finally:
        started = time.monotonic()
        orch.close()
    assert time.monotonic() - started < 5  # bounded by the export timeout, not hung
    assert out.record["status"] == "resolved" and out.record["trace_id"]
    assert again.record["counts"]["dispatches"] == 3
    assert "otlp exporter failed" in caplog.text  # reported (rate-limited), never raised


# -- the SRE's CLI over real turns, local span store ------------------------------------------------------


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    from orchestrator.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_traces_cli_agrees_with_the_routing_records(
    seeded_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlmodel import select

    from orchestrator.config import load_settings
    from plugins.manager import load_plugins

    # real turns through `crossdesk ask`: every process writes its spans to the local store
    asked = [
        cli_json(capsys, "ask", "--customer", "C1001", "--json", "I was charged twice"),
        cli_json(capsys, "ask", "--customer", "C1001", "--json", THREE),
        cli_json(
            capsys,
            "ask",
            "--customer",
            "C1001",
            "--conversation",
            "conv-cli-h",
            "--json",
            "I want a person please",
        ),
    ]
    # a reroute needs the in-process plugin: the same pipeline, with the default (local) telemetry
    orch = Orchestrator(load_settings(), plugins=load_plugins(extra=[("parcels", ParcelPlugin())]))
    try:
        rerouted = orch.ask("Can you track my parcel please?", jurisdiction="EU")
    finally:
        orch.close()
    assert rerouted.record["counts"]["reroutes"] == 1
    claimed = cli_json(capsys, "takeover", "conv-cli-h", "--operator", "bob", "--json")
    assert all(a["trace_id"] for a in asked)

    with Session(_engine()) as session:
        records = list(session.exec(select(TurnRecord)))
    assert len(records) == 4
    listed = {t["trace_id"]: t for t in cli_json(capsys, "traces", "list", "--json")}
    assert set(listed) == {r.trace_id for r in records}
    for r in records:
        t = listed[r.trace_id]
        assert (t["turn_id"], t["conversation_id"], t["status"]) == (r.id, r.conversation_id, r.status)
        assert (t["dispatches"], t["reroutes"], t["escalations"], t["customer_transfers"]) == (
            r.dispatches,
            r.reroutes,
            r.escalations,
            r.customer_transfers,
        )
        assert t["transfers"] == r.dispatches + r.escalations
        assert t["issues"] == len(r.record["tasks"])

    # the reroute's tree, as an SRE reads it
    doc = cli_json(capsys, "traces", "show", rerouted.record["trace_id"][:12], "--json")
    (root,) = doc["spans"]
    names = [c["name"] for c in root["children"]]
    assert names == [
        "plan",
        "check_policy plan",
        "execute_tool transfer_to_tracking",
        "invoke_agent tracking",
        "execute_tool transfer_to_lockers",
        "invoke_agent lockers",
        "compose_reply",
        "check_policy outcome",
    ]
    from orchestrator.cli import main

    assert main(["traces", "show", rerouted.record["trace_id"]]) == 0
    text = capsys.readouterr().out
    assert "tracking -> lockers (reroute, task" in text and "supervisor -> tracking (dispatch" in text
    assert "dispatches=2 reroutes=1 escalations=0 customer_transfers=0" in text

    # the takeover, claimed through the CLI, joined the trace of the turn that asked for a person
    human = cli_json(capsys, "traces", "show", asked[2]["trace_id"], "--json")
    (root,) = human["spans"]
    (tk,) = [c for c in root["children"] if c["name"] == "human_takeover"]
    assert tk["attributes"][N.TAKEOVER_LATENCY_MS] == claimed["takeover_latency_ms"]
    assert "supervisor -> human (escalation, human, policy)" in _render(capsys, asked[2]["trace_id"])

    stats = cli_json(capsys, "traces", "stats", "--json")
    assert stats["turns"] == len(records)
    assert stats["issues"] == sum(len(r.record["tasks"]) for r in records)
    assert stats["escalation"]["escalations"] == sum(r.escalations for r in records)
    assert stats["reroutes"] == sum(r.reroutes for r in records)
    assert stats["customer_transfers"] == sum(r.customer_transfers for r in records)
    assert stats["status"] == {
        s: sum(1 for r in records if r.status == s) for s in sorted({r.status for r in records})
    }
    assert stats["takeover"]["count"] == 1 and stats["takeover"]["sla_breaches"] == 0
    runs = sum(r.dispatches for r in records)
    assert sum(d["runs"] for d in stats["department_latency_ms"].values()) == runs
    # per issue: first dispatch + reroutes + escalations bound to it
    assert stats["transfers_per_issue"]["by_kind"]["reroute"]["distribution"] == {
        "0": stats["issues"] - 1,
        "1": 1,
    }


def _engine() -> Any:
    from orchestrator.config import load_settings
    from orchestrator.db import make_engine

    return make_engine(load_settings().database_url)


def _render(capsys: pytest.CaptureFixture[str], trace_id: str) -> str:
    from orchestrator.cli import main

    assert main(["traces", "show", trace_id]) == 0
    return capsys.readouterr().out
