"""The supervisor graph: supervisor -> policy(plan) -> departments (all tasks in parallel, then the
reroutes) -> compose -> policy(outcome) -> finalize [-> human].

Nodes are small functions `(state, services) -> partial update`; routing
functions are pure and read the state only. `build_graph` binds the services.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from langgraph.graph import END, START, StateGraph
from sqlalchemy.engine import Engine

from orchestrator import tracing
from orchestrator.compose import (
    closing_reply,
    compose_reply,
    final_results,
    greeting_reply,
    out_of_scope_reply,
    topic,
)
from orchestrator.config import Settings
from orchestrator.dispatch import DispatchEnv, PendingRun, as_finished, start_department
from orchestrator.nlu import signals
from orchestrator.state import TurnState
from orchestrator.supervisor import carry_over, reclaim_answer
from plugins.contracts import CustomerView, DepartmentResult, Task
from plugins.manager import PluginSet
from traces import instrument as ti

HISTORY_FOR_DEPARTMENTS = 5
SUMMARY_MAX_CHARS = 300
# checkpoints are written when a run ends (or pauses for a person), not after every step: a turn
# is redone whole, never resumed half-way, so the steps' own checkpoints were never read back
DURABILITY: Literal["exit"] = "exit"
DEFAULT_SLA_SECONDS = 30


class PolicyHook(Protocol):
    """The policy node's seam. Each returns a partial state update."""

    def check_plan(self, state: TurnState) -> dict[str, Any]: ...

    def check_outcome(self, state: TurnState) -> dict[str, Any]: ...


class NoPolicy:
    def check_plan(self, state: TurnState) -> dict[str, Any]:
        return {}

    def check_outcome(self, state: TurnState) -> dict[str, Any]:
        return {}


class Recorder(Protocol):
    """Persists a finished turn (records, conversation row, audit)."""

    def save_turn(self, state: TurnState, record: dict[str, Any]) -> None: ...


@dataclass
class Services:
    settings: Settings
    engine: Engine
    plugins: PluginSet
    decomposer: Any  # orchestrator.nlu.Decomposer
    dispatch: DispatchEnv
    recorder: Recorder
    policy: PolicyHook = field(default_factory=NoPolicy)
    telemetry: Any = None  # traces.setup.Telemetry; spans only for turns that carry a `trace`
    llm: Any = None  # orchestrator.llm.services.LlmServices when a chat model is configured


def _tel(state: Any, svc: Services) -> Any:
    """The telemetry for this turn's spans: None when tracing is off or the turn has no trace."""
    tel = svc.telemetry
    return tel if tel is not None and tel.enabled and state.get("trace") else None


def to_task(data: dict[str, Any]) -> Task:
    return Task.model_validate({k: v for k, v in data.items() if k in Task.model_fields})


# --- nodes -----------------------------------------------------------------------------------------


def next_seq(history: list[dict[str, Any]]) -> int:
    """The number of the turn after `history` (which keeps only the latest turns)."""
    if not history:
        return 1
    return int(history[-1].get("seq") or len(history)) + 1


def start_turn(state: TurnState) -> dict[str, Any]:
    """A new turn: its id and number, and every turn-level key reset (`results: None` empties the reducer)."""
    return {
        "turn_id": uuid.uuid4().hex[:16],
        "seq": next_seq(state.get("history") or []),
        "started_at": time.time(),
        "decomposition": {},
        "plan": [],
        "unclear": [],
        "results": None,  # resets the reducer
        "policy": {},
        "handoff": None,
        "reply": "",
        "record": {},
        "llm": {},
    }


def supervisor(state: TurnState, svc: Services) -> dict[str, Any]:
    """Start the turn, then decompose the message into the plan (tasks) and what stays unclear."""
    start = start_turn(state)
    state = {**state, **start}  # type: ignore[typeddict-item]
    history = state.get("history") or []
    tel = _tel(state, svc)
    with ti.plan_span(tel, parent=state.get("trace")) as span:
        llm: dict[str, Any] = {}
        if svc.llm is not None:
            decomposition, llm["supervisor"] = svc.llm.decompose(
                svc.decomposer, state, history[-HISTORY_FOR_DEPARTMENTS:]
            )
        else:
            decomposition = svc.decomposer.decompose(
                state["message"], history=history[-HISTORY_FOR_DEPARTMENTS:], terms=state.get("terms")
            )
        dumped = reclaim_answer(decomposition.model_dump(mode="json"), history, state["message"])
        plan, unclear = carry_over(dumped, history, state["message"])
        plan.sort(key=lambda t: t["span"][0])
        if tel is not None:
            tracing.describe_plan(span, dumped, plan, unclear)
    return {
        **start,
        "decomposition": dumped,
        "plan": plan,
        "unclear": unclear,
        **({"llm": llm} if llm else {}),
    }


def policy_plan(state: TurnState, svc: Services) -> dict[str, Any]:
    tel = None if isinstance(svc.policy, NoPolicy) else _tel(state, svc)
    return tracing.traced_policy(tel, "plan", state, lambda: svc.policy.check_plan(state))


def departments(state: TurnState, svc: Services) -> dict[str, Any]:
    """Run every task of the plan on its department, all at once, then each task a department declined
    on the next one (a reroute), until every task is answered or has no department left to try.

    The runs share dispatch's long-lived pool: one graph step whatever the number of tasks, and no
    threads started per turn (LangGraph runs a step's parallel tasks on a pool it builds per run).
    """
    env = svc.dispatch if svc.llm is None else svc.llm.dispatch_env(svc.dispatch)
    customer = CustomerView.model_validate(state["customer"]) if state.get("customer") else None
    plan = state.get("plan") or []
    batch = [t for t in plan if not t.get("blocked")]
    results: list[dict[str, Any]] = []
    while batch:
        runs = [_start_run(state, svc, env, customer, data) for data in batch]
        done: dict[int, dict[str, Any]] = {}
        for i, outcome in as_finished([run.pending for run in runs]):
            done[i] = runs[i].finish(outcome, svc)
        results.extend(done[i] for i in range(len(runs)))
        batch = reroutes(plan, results, svc.plugins.departments, svc.settings.max_reroutes)
    return {"results": results}


@dataclass
class _Run:
    """One department run in flight, with its `invoke_agent` span."""

    task: Task
    agent: Any  # traces.instrument.AgentHandle
    pending: PendingRun
    turn_id: str

    def finish(self, result: DepartmentResult, svc: Services) -> dict[str, Any]:
        self.agent.set_result(result)
        self.agent.end()
        dumped: dict[str, Any] = result.model_dump(mode="json")
        dumped["attempt"] = self.task.attempt
        dumped["duration_ms"] = round((time.monotonic() - self.pending.started) * 1000, 3)
        if svc.llm is not None:
            dumped["llm"] = svc.llm.department_info(self.turn_id, self.task.id, self.task.attempt)
        return dumped


def _start_run(
    state: TurnState, svc: Services, env: DispatchEnv, customer: CustomerView | None, data: dict[str, Any]
) -> _Run:
    task = to_task(data)
    tel = _tel(state, svc)
    tracing.transfer_in(tel, task, task.department, state.get("trace"))
    agent = ti.agent_span(tel, task.department, task=task, parent=state.get("trace"))
    pending = start_department(
        env,
        task.department,
        task,
        conversation_id=state["conversation_id"],
        turn_id=state["turn_id"],
        customer=customer,
        jurisdiction=state.get("jurisdiction", "EU"),
        history=(state.get("history") or [])[-HISTORY_FOR_DEPARTMENTS:],
        policy=(state.get("policy") or {}).get("department_view") or {},
        # the agent span is current in the run's thread: its knowledge searches and action checks land under it
        context=tracing.department_context(tel, agent),
    )
    return _Run(task=task, agent=agent, pending=pending, turn_id=state["turn_id"])


def reroutes(
    plan: list[dict[str, Any]],
    results: list[dict[str, Any]],
    loaded: Container[str],
    max_reroutes: int,
) -> list[dict[str, Any]]:
    """The tasks a department declined, each moved to the next department to try (pure).

    Next is the decliner's suggestion, then the router's alternatives, skipping departments already
    tried or not loaded (`loaded`: the department names); a task tried more than `max_reroutes`
    times stays declined.
    """
    final = final_results(results)
    tried: dict[str, list[str]] = {}
    for r in results:
        tried.setdefault(r["task_id"], []).append(r["department"])
    moved = []
    for data in plan:
        result = final.get(data["id"])
        if result is None or result["status"] != "not_mine":
            continue
        task = to_task(data)
        if len(tried[task.id]) > max_reroutes:
            continue
        candidates = [result.get("suggest")] + [alt[0] for alt in task.alternatives]
        nxt = next((c for c in candidates if c and c in loaded and c not in tried[task.id]), None)
        if nxt is None:
            continue
        alt_intent = next((alt[1] for alt in task.alternatives if alt[0] == nxt), task.intent)
        rerouted = task.model_copy(
            update={
                "department": nxt,
                "intent": alt_intent,
                "attempt": len(tried[task.id]),
                "previous_departments": tuple(tried[task.id]),
            }
        )
        moved.append(rerouted.model_dump(mode="json"))
    return moved


def compose(state: TurnState, svc: Services) -> dict[str, Any]:
    customer = state.get("customer") or {}
    name = customer.get("name")
    decomposition = state.get("decomposition") or {}
    plan = state.get("plan") or []
    unclear = state.get("unclear") or []
    handoff = state.get("handoff") or build_handoff(state)
    if not plan and not unclear and handoff is None:
        if decomposition.get("out_of_scope"):
            return {"reply": out_of_scope_reply(), "handoff": None}
        if state.get("seq", 1) > 1 and signals.closing(state.get("message", "")):
            return {"reply": closing_reply(name), "handoff": None}
        return {"reply": greeting_reply(name), "handoff": None}
    with ti.compose_span(_tel(state, svc), parent=state.get("trace")) as span:
        reply = compose_reply(
            plan=plan,
            unclear=unclear,
            results=state.get("results") or [],
            decomposition=decomposition,
            customer_name=name,
            handoff=handoff,
            greet=state.get("seq", 1) == 1,
        )
        if svc.llm is not None:
            reply, composed = svc.llm.compose(state, reply)
            span.set_reply(reply, fragments=len(plan) + len(unclear))
            return {
                "reply": reply,
                "handoff": handoff,
                "llm": {**(state.get("llm") or {}), "composer": composed},
            }
        span.set_reply(reply, fragments=len(plan) + len(unclear))
    return {"reply": reply, "handoff": handoff}


def policy_outcome(state: TurnState, svc: Services) -> dict[str, Any]:
    tel = None if isinstance(svc.policy, NoPolicy) else _tel(state, svc)
    return tracing.traced_policy(tel, "outcome", state, lambda: svc.policy.check_outcome(state))


def finalize(state: TurnState, svc: Services) -> dict[str, Any]:
    record = build_record(state)
    tel = _tel(state, svc)
    if tel is not None:
        # the record names its trace; a later takeover joins the trace through `traceparent`
        record["trace_id"] = tracing.trace_id_of(state.get("trace"))
        record["traceparent"] = (state.get("trace") or {}).get("traceparent")
        tracing.record_escalations(tel, state, record)
    svc.recorder.save_turn(state, record)
    final = final_results(state.get("results") or [])
    entry = {
        "seq": state["seq"],
        "turn_id": state["turn_id"],
        "message": state["message"],
        "reply": state.get("reply", ""),
        "tasks": [
            {
                "id": t["id"],
                "text": t["text"],
                "department": (final.get(t["id"]) or {}).get("department", t["department"]),
                "intent": t["intent"],
                "confidence": t["confidence"],
                "entities": t.get("entities") or {},
                "status": task_status(t, final) or "unclear",
            }
            for t in state.get("plan") or []
        ],
    }
    # what the policy node disclosed stays known after its turn leaves the history
    disclosed = (state.get("policy") or {}).get("disclosed") or []
    return {"record": record, "history": [entry], "disclosed": disclosed}


def human(state: TurnState, svc: Services) -> dict[str, Any]:
    """Pause the conversation for an operator (the turn is already saved and queued).

    `crossdesk release` resumes it with `Command(resume={...})`; the resume value is kept
    in the handoff. Everything before `interrupt` runs again on resume, so it must stay pure.
    """
    from langgraph.types import interrupt

    from orchestrator.takeover import handoff_payload

    resolution = interrupt(handoff_payload(state))
    return {"handoff": {**(state.get("handoff") or {}), "resolution": resolution}}


# --- routing (pure) --------------------------------------------------------------------------------


def route_plan(state: TurnState) -> Literal["departments", "compose"]:
    """To the departments when the policy left any task for them, else straight to the reply."""
    return "departments" if any(not t.get("blocked") for t in state.get("plan") or []) else "compose"


def route_human(state: TurnState) -> str:
    return "human" if state.get("handoff") else END


# --- turn accounting -------------------------------------------------------------------------------


def task_status(task: dict[str, Any], final: dict[str, dict[str, Any]]) -> str | None:
    """A task's final status; a task the policy kept from the departments is denied or needs a human."""
    result = final.get(task["id"])
    if result is not None:
        return str(result["status"])
    blocked = task.get("blocked")
    if blocked:
        return "denied" if blocked.get("kind") == "deny" else "needs_human"
    return None


def build_handoff(state: TurnState) -> dict[str, Any] | None:
    """A human is needed when a department says so, the customer asked for one or policy requires one
    (`state["policy"]["human"]`: reasons, sla_seconds, rule_ids)."""
    final = final_results(state.get("results") or [])
    tasks = [t for t in state.get("plan") or [] if task_status(t, final) == "needs_human"]
    wants_human = bool((state.get("decomposition") or {}).get("wants_human"))
    policy_human = (state.get("policy") or {}).get("human") or {}
    if not tasks and not wants_human and not policy_human:
        return None
    reasons = list(policy_human.get("reasons") or [])
    slas = [int(policy_human["sla_seconds"])] if policy_human.get("sla_seconds") else []
    if wants_human and not policy_human:
        reasons.append("customer asked for a person")
    for t in tasks:
        r = final.get(t["id"])
        if r is not None:
            reasons.append(f"{r['department']}: {r.get('error') or r.get('reason') or 'needs a human'}")
            slas.append(DEFAULT_SLA_SECONDS)
    reasons = list(dict.fromkeys(reasons))
    return {
        "reason": "; ".join(reasons),
        "reasons": reasons,
        "rule_ids": list(policy_human.get("rule_ids") or []),
        "task_ids": [t["id"] for t in tasks],
        "sla_seconds": min(slas, default=DEFAULT_SLA_SECONDS),
        "summary": handoff_summary(state, tasks, reasons),
        "requested_at": time.time(),
    }


def handoff_summary(
    state: TurnState, human_tasks: list[dict[str, Any]], reasons: list[str] | None = None
) -> str:
    """At most 300 characters an operator reads instead of asking the customer to repeat."""
    customer = state.get("customer") or {}
    who = f"{customer.get('id', 'anonymous')} ({state.get('jurisdiction', '?')})"
    final = final_results(state.get("results") or [])
    done = [
        f"{r['department']} {r['status']}"
        for r in final.values()
        if r["task_id"] not in {t["id"] for t in human_tasks}
    ]
    open_ = [f"{t['intent'].replace('_', ' ')}" for t in human_tasks] or [topic(state.get("message", ""))]
    text = f"{who}: needs human for {', '.join(open_)}."
    if done:
        text += f" Done: {', '.join(done)}."
    if reasons:
        text += f" Why: {reasons[0]}."
    return text if len(text) <= SUMMARY_MAX_CHARS else text[: SUMMARY_MAX_CHARS - 1] + "…"


def build_record(state: TurnState) -> dict[str, Any]:
    results = state.get("results") or []
    final = final_results(results)
    plan = state.get("plan") or []
    decomposition = state.get("decomposition") or {}
    handoff = state.get("handoff")
    reroutes = sum(1 for r in results if r.get("attempt", 0) > 0)
    escalations = sum(1 for t in plan if (final.get(t["id"]) or {}).get("status") == "needs_human")
    if handoff is not None and escalations == 0:
        escalations = 1  # the whole session goes to a person (explicit request or policy)
    told_elsewhere = sum(1 for t in plan if (final.get(t["id"]) or {}).get("status") == "not_mine")
    customer_transfers = (1 if handoff is not None else 0) + told_elsewhere
    tasks = []
    for t in plan:
        r = final.get(t["id"]) or {}
        tasks.append(
            {
                "id": t["id"],
                "text": t["text"],
                "span": t["span"],
                "department": r.get("department", t["department"]),
                "routed_to": t["department"],
                "intent": t["intent"],
                "confidence": round(float(t["confidence"]), 4),
                "status": task_status(t, final) or "not_dispatched",
                "departments_tried": [x["department"] for x in results if x["task_id"] == t["id"]],
                "actions": r.get("actions", []),
                "knowledge": r.get("knowledge", []),
                "notes": [n.get("kind") for n in r.get("notes", [])],
                "error": r.get("error"),
                "entities": t.get("entities") or {},
                "blocked": t.get("blocked"),
                "required_by": t.get("required_by"),
            }
        )
    statuses = {t["status"] for t in tasks}
    if handoff is not None:
        status = "needs_human"
    elif not tasks and decomposition.get("out_of_scope"):
        status = "out_of_scope"
    elif not tasks and not state.get("unclear"):
        status = "greeting"
    elif state.get("unclear") or "needs_info" in statuses:
        status = "needs_info"
    elif statuses == {"resolved"}:
        status = "resolved"
    else:
        status = "partial"
    counts = {
        "dispatches": len(results),
        "reroutes": reroutes,
        "escalations": escalations,
        "customer_transfers": customer_transfers,
    }
    record: dict[str, Any] = {
        "turn_id": state["turn_id"],
        "conversation_id": state["conversation_id"],
        "seq": state["seq"],
        "status": status,
        "fcr": status == "resolved" and state["seq"] == 1,
        "language": decomposition.get("language", "en"),
        "out_of_scope": bool(decomposition.get("out_of_scope")),
        "wants_human": bool(decomposition.get("wants_human")),
        "tasks": tasks,
        "unclear": [{"text": u["text"], "best_guess": u["department"]} for u in state.get("unclear") or []],
        "dispatches": [
            {
                "task_id": r["task_id"],
                "department": r["department"],
                "status": r["status"],
                "attempt": r.get("attempt", 0),
                "duration_ms": r.get("duration_ms"),
                "error": r.get("error"),
            }
            for r in results
        ],
        "counts": counts,
        "handoff": handoff,
        "policy": state.get("policy") or {},
        "latency_ms": round((time.time() - state["started_at"]) * 1000, 2),
    }
    if state.get("llm") or any(r.get("llm") for r in results):
        from orchestrator.llm.usage import usage_section

        record["llm"] = usage_section(state)
    return record


# --- assembly --------------------------------------------------------------------------------------


def build_graph(svc: Services) -> StateGraph:
    g = StateGraph(TurnState)
    bind = functools.partial
    g.add_node("supervisor", bind(supervisor, svc=svc))
    g.add_node("policy_plan", bind(policy_plan, svc=svc))
    g.add_node("departments", bind(departments, svc=svc))
    g.add_node("compose", bind(compose, svc=svc))
    g.add_node("policy_outcome", bind(policy_outcome, svc=svc))
    g.add_node("finalize", bind(finalize, svc=svc))
    g.add_node("human", bind(human, svc=svc))
    g.add_edge(START, "supervisor")
    g.add_edge("supervisor", "policy_plan")
    g.add_conditional_edges("policy_plan", route_plan, ["departments", "compose"])
    g.add_edge("departments", "compose")
    g.add_edge("compose", "policy_outcome")
    g.add_edge("policy_outcome", "finalize")
    g.add_conditional_edges("finalize", route_human, ["human", END])
    g.add_edge("human", END)
    return g
