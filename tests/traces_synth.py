"""Synthetic turns for the tracing tests, recorded through the real instrument API.

They take the shape a supervisor turn has: root -> intake policy, plan,
dispatch transfers, department runs in parallel threads (each with a knowledge
search and an action policy check), reroutes, escalations with a human
takeover, and the composed reply.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator.nlu.types import Decomposition
from plugins.contracts import ActionRecord, ArticleHit, DepartmentResult, Task
from traces import instrument as ti
from traces import names as N


@dataclass
class Issue:
    department: str
    intent: str
    text: str
    confidence: float = 0.9
    status: str = "resolved"  # what the first department returns
    reroute_to: str | None = None  # first department says not_mine, this one resolves it
    escalate: bool = False  # handed to a human after the department run
    takeover_ms: float = 30_000.0
    fail: bool = False  # the department raises
    actions: tuple[str, ...] = ()


@dataclass
class TurnSpec:
    conversation_id: str
    turn_id: str
    issues: Sequence[Issue]
    status: str = "resolved"
    sla_s: float = 60.0
    sleep_s: float = 0.0  # inside each department run, so parallel runs overlap
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return " ".join(i.text for i in self.issues)


def _run_department(tel: Any, department: str, task: Task, issue: Issue, parent: Any, sleep_s: float) -> str:
    with ti.agent_span(tel, department, task=task, parent=parent) as agent:
        with ti.retrieve_span(tel, department=department, query=task.text) as ret:
            ret.set_hits(
                [
                    ArticleHit(
                        id=f"{department}-kb-1", title="t", department=department, snippet="s", score=1.0
                    )
                ]
            )
        with ti.policy_span(tel, "pre_action", jurisdiction="EU", action="lookup") as pol:
            pol.set_decision("allow", ["EU-GEN-1"], action="lookup")
        if sleep_s:
            time.sleep(sleep_s)
        if issue.fail and department == issue.department:
            raise RuntimeError(f"backend failed while handling: {task.text}")
        if issue.reroute_to and department == issue.department:
            result = DepartmentResult(
                department=department, task_id=task.id, status="not_mine", suggest=issue.reroute_to
            )
        else:
            status = "resolved" if issue.reroute_to else issue.status
            result = DepartmentResult(
                department=department,
                task_id=task.id,
                status=status,  # type: ignore[arg-type]
                reply=f"About your request ({task.text}): done.",
                actions=tuple(ActionRecord(name=a, args={}, ok=True) for a in issue.actions),
                knowledge=(f"{department}-kb-1",),
            )
        agent.set_result(result)
        return result.status


def run_turn(tel: Any, spec: TurnSpec) -> str:
    """Record one turn; returns the trace id (hex)."""
    message = spec.message
    with ti.turn_span(
        tel, conversation_id=spec.conversation_id, turn_id=spec.turn_id, message=message
    ) as turn:
        with ti.policy_span(tel, "intake") as pol:
            pol.set_decision("allow")
        tasks = []
        pos = 0
        for n, issue in enumerate(spec.issues):
            start = message.index(issue.text, pos)
            pos = start + len(issue.text)
            tasks.append(
                Task(
                    id=f"{spec.turn_id}-{n + 1}",
                    text=issue.text,
                    span=(start, pos),
                    department=issue.department,
                    intent=issue.intent,
                    confidence=issue.confidence,
                )
            )
        with ti.plan_span(tel) as plan:
            plan.set_plan(Decomposition(text=message, tasks=tuple(tasks)))
        carrier = turn.carrier  # what the graph keeps in its state
        for task in tasks:
            ti.record_transfer(
                tel, task.department, source=N.SUPERVISOR, kind="dispatch", task_id=task.id, parent=carrier
            )

        def work(pair: tuple[Task, Issue]) -> None:
            task, issue = pair
            try:
                status = _run_department(tel, task.department, task, issue, carrier, spec.sleep_s)
            except RuntimeError:
                return
            if status == "not_mine" and issue.reroute_to:
                ti.record_transfer(
                    tel,
                    issue.reroute_to,
                    source=task.department,
                    kind="reroute",
                    task_id=task.id,
                    parent=carrier,
                )
                moved = task.model_copy(
                    update={
                        "department": issue.reroute_to,
                        "attempt": 1,
                        "previous_departments": (task.department,),
                    }
                )
                _run_department(tel, issue.reroute_to, moved, issue, carrier, spec.sleep_s)
            if issue.escalate:
                last = issue.reroute_to or task.department
                ti.record_transfer(
                    tel,
                    "human",
                    source=last,
                    kind="escalation",
                    target_type="human",
                    task_id=task.id,
                    reason="customer_request",
                    parent=carrier,
                )
                with ti.takeover_span(
                    tel, queue=last, sla_s=spec.sla_s, task_id=task.id, parent=carrier
                ) as tk:
                    tk.set_latency(
                        takeover_latency_ms=issue.takeover_ms, queue_wait_ms=issue.takeover_ms * 0.8
                    )

        with ThreadPoolExecutor(max_workers=max(1, len(tasks))) as pool:
            list(pool.map(work, zip(tasks, spec.issues, strict=True)))
        with ti.compose_span(tel) as comp:
            comp.set_reply(f"Thanks for your message: {message}", fragments=len(tasks))
        turn.set_status(spec.status)
        return turn.trace_id


OTEL_VARS = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_TRACES_SAMPLER",
    "CROSSDESK_CAPTURE_CONTENT",
)


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not pick up a developer's or CI's OTEL_* settings (conftest isolates CROSSDESK_HOME)."""
    for name in OTEL_VARS:
        if name in os.environ:
            monkeypatch.delenv(name)


def standard_turns(tel: Any) -> dict[str, str]:
    """Four turns covering every case the SRE views distinguish; returns name -> trace id."""
    specs = {
        "simple": TurnSpec("conv-a", "turn-1", [Issue("billing", "refund_status", "Where is my refund?")]),
        "busy": TurnSpec(
            "conv-a",
            "turn-2",
            [
                Issue("billing", "card_declined", "My card was declined.", reroute_to="technical"),
                Issue("compliance", "complaint", "I want a person.", escalate=True, takeover_ms=90_000),
                Issue("technical", "login_problem", "I cannot log in."),
            ],
            status="partial",
            sla_s=60,
        ),
        "human": TurnSpec(
            "conv-b",
            "turn-1",
            [
                Issue(
                    "compliance", "kyc_status", "Why is my account frozen?", escalate=True, takeover_ms=30_000
                )
            ],
            status="needs_human",
            sla_s=60,
        ),
        "failed": TurnSpec(
            "conv-c", "turn-1", [Issue("billing", "fees", "Why this fee?", fail=True)], status="partial"
        ),
    }
    return {name: run_turn(tel, spec) for name, spec in specs.items()}
