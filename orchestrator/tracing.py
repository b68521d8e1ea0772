"""What the pipeline tells the tracer: the graph's spans, the action guard's and the takeover's.

The graph nodes, the dispatcher and the takeover call these small functions so
their own code stays about routing. Span content follows `traces.names`; the
turn's counts come from the routing record (`orchestrator.graph.build_record`),
so a trace and its record always agree. Tracing must never fail a turn: the
`traces.instrument` helpers guard every OpenTelemetry call, the bookkeeping
here is guarded with a rate-limited warning, and only the application's own
exceptions (a policy check's, the guard's) pass through, unchanged.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from traces import instrument as ti
from traces import names as N
from traces.current import context_with, current_telemetry
from traces.safe import warn_limited

if TYPE_CHECKING:
    from traces.setup import Telemetry

# short codes for transfer reasons: free text (the handoff's reasons) never goes into a span
REASON_NOT_MINE = "not_mine"
REASON_CUSTOMER = "customer_request"
REASON_POLICY = "policy"
REASON_DEPARTMENT = "department"
REASON_DEPARTMENT_ERROR = "department_error"


def trace_id_of(carrier: Any) -> str | None:
    """The hex trace id in a W3C carrier ({"traceparent": "00-<trace>-<span>-01"}), None if absent."""
    if not carrier:
        return None
    parts = str(carrier.get("traceparent", "")).split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    return parts[1]


# -- the graph's nodes -----------------------------------------------------------------------------


def plan_view(
    decomposition: Mapping[str, Any], plan: Sequence[Mapping[str, Any]], unclear: Sequence[Any]
) -> Any:
    """The plan as `PlanHandle.set_plan` reads it: the tasks actually planned (follow-ups resolved)."""
    return SimpleNamespace(
        tasks=[
            SimpleNamespace(
                id=t["id"],
                department=t["department"],
                intent=t["intent"],
                confidence=t.get("confidence", 0.0),
            )
            for t in plan
        ],
        unclear=unclear,
        out_of_scope=bool(decomposition.get("out_of_scope")),
        wants_human=bool(decomposition.get("wants_human")),
        language=decomposition.get("language"),
    )


def describe_plan(
    span: Any, decomposition: Mapping[str, Any], plan: Sequence[Mapping[str, Any]], unclear: Sequence[Any]
) -> None:
    """Write the supervisor's plan on its `plan` span."""
    try:
        span.set_plan(plan_view(decomposition, plan, unclear))
    except Exception as exc:
        warn_limited("trace-plan", "telemetry: could not describe a plan: %r", exc)


def traced_policy(
    tel: Telemetry | None, stage: str, state: Mapping[str, Any], check: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run a policy check inside a `check_policy <stage>` span with its decision and matched rules."""
    if tel is None:
        return check()
    with ti.policy_span(
        tel, stage, jurisdiction=state.get("jurisdiction"), parent=state.get("trace")
    ) as span:
        update = check()
        try:
            decision = ((update.get("policy") or {}).get(stage)) or {}
            if decision:
                rule_ids = [str(m.get("id")) for m in decision.get("matched") or ()]
                span.set_decision(str(decision.get("effect") or "allow"), rule_ids)
            if decision.get("error"):
                span.fail("policy_error")
        except Exception as exc:
            warn_limited("trace-policy", "telemetry: could not describe a policy decision: %r", exc)
        return update


def department_context(tel: Telemetry | None, agent: Any) -> contextvars.Context:
    """What a department run's thread sees as current: the turn's telemetry and the run's agent span."""
    ctx = context_with(tel)
    ti.make_current_in(ctx, agent)
    return ctx


def transfer_in(tel: Telemetry | None, task: Any, department: str, parent: Any) -> None:
    """The handoff that starts a department run: the supervisor's dispatch, or a reroute from the
    department that declined the task (the last one it tried)."""
    if tel is None:
        return
    previous = tuple(getattr(task, "previous_departments", ()) or ())
    if getattr(task, "attempt", 0) and previous:
        ti.record_transfer(
            tel,
            department,
            source=previous[-1],
            kind=N.KIND_REROUTE,
            task_id=task.id,
            reason=REASON_NOT_MINE,
            parent=parent,
        )
    else:
        ti.record_transfer(
            tel, department, source=N.SUPERVISOR, kind=N.KIND_DISPATCH, task_id=task.id, parent=parent
        )


def record_escalations(tel: Telemetry | None, state: Mapping[str, Any], record: Mapping[str, Any]) -> None:
    """Transfers to a human, one per escalation the routing record counts: each sub-issue a
    department handed to a person, else one for the whole turn (the customer or policy asked)."""
    if tel is None or not record.get("counts", {}).get("escalations"):
        return
    try:
        from orchestrator.compose import final_results

        final = final_results(list(state.get("results") or []))
        transfers: list[tuple[str, str | None, str]] = []
        for task in state.get("plan") or []:
            result = final.get(task["id"]) or {}
            if result.get("status") == "needs_human":
                reason = REASON_DEPARTMENT_ERROR if result.get("error") else REASON_DEPARTMENT
                transfers.append((str(result.get("department")), task["id"], reason))
        if not transfers:
            policy_human = (state.get("policy") or {}).get("human")
            reason = REASON_POLICY if policy_human else REASON_CUSTOMER
            transfers.append((N.SUPERVISOR, None, reason))
        for source, task_id, reason in transfers:
            ti.record_transfer(
                tel,
                "human",
                source=source,
                kind=N.KIND_ESCALATION,
                target_type=N.TARGET_HUMAN,
                task_id=task_id,
                reason=reason,
                parent=state.get("trace"),
            )
    except Exception as exc:
        warn_limited("trace-escalation", "telemetry: could not record an escalation: %r", exc)


def finish_turn(turn: Any, record: Mapping[str, Any] | None, reply: str | None) -> None:
    """Write the routing record's id, counts and status on the root span."""
    if not record or not getattr(turn, "recording", False):
        return
    try:
        counts = record.get("counts") or {}
        turn.set(N.TURN_ID, record.get("turn_id"))
        turn.set_counts(
            dispatches=counts.get("dispatches"),
            reroutes=counts.get("reroutes"),
            escalations=counts.get("escalations"),
            customer_transfers=counts.get("customer_transfers"),
        )
        for task in record.get("tasks") or ():
            turn.add_issue(task["id"], task.get("department"))
        turn.set_status(str(record.get("status")), fcr=bool(record.get("fcr")))
        turn.set_reply(reply)
    except Exception as exc:
        warn_limited("trace-finish", "telemetry: could not finish a turn span: %r", exc)


# -- the dispatcher's action guard -------------------------------------------------------------------


def guard_action(
    guard: Callable[..., tuple[bool, str | None, str]], ctx: Any, spec: Any, args: Any
) -> tuple[bool, str | None, str]:
    """Ask the policy guard whether an action may run, inside a `check_policy action` span."""
    tel = current_telemetry()
    if tel is None:
        return guard(ctx, spec, args)
    with ti.policy_span(
        tel, "action", jurisdiction=getattr(ctx, "jurisdiction", None), action=spec.name
    ) as span:
        allowed, rule_id, message = guard(ctx, spec, args)
        span.set_decision("allow" if allowed else "deny", [rule_id] if rule_id else (), action=spec.name)
        return allowed, rule_id, message


# -- the human takeover ---------------------------------------------------------------------------------


def trace_claim(target: Any, entry: Any) -> None:
    """A `human_takeover` span in the trace of the turn that queued the conversation, from the
    flag to the operator's claim: takeover latency (flag -> claim, as `crossdesk queue` shows it
    and the SLA counts it), queue wait (the turn's decision that a person is needed -> claim)
    and the SLA verdict."""
    try:
        tel = getattr(target, "telemetry", None) or current_telemetry()
        if tel is None:
            # a bare engine (the CLI's `takeover`): the project's own telemetry settings
            from orchestrator.config import load_settings
            from traces.setup import configure_telemetry

            tel = configure_telemetry(load_settings())
            flush = True
        else:
            flush = False
        if not tel.enabled:
            return
        carrier, requested = _flagging_turn(target, entry)
        flagged_ns = int(_utc(entry.flagged_at).timestamp() * 1e9)
        claimed = _utc(entry.claimed_at).timestamp()
        task_ids = list(entry.task_ids or ())
        reason = REASON_POLICY if entry.rule_ids else (REASON_DEPARTMENT if task_ids else REASON_CUSTOMER)
        span = ti.takeover_span(
            tel,
            queue="operators",
            sla_s=float(entry.sla_seconds),
            task_id=task_ids[0] if len(task_ids) == 1 else None,
            reason=reason,
            start_ns=flagged_ns,
            parent=carrier,
        )
        span.set_latency(
            takeover_latency_ms=float(entry.takeover_latency_ms or 0.0),
            queue_wait_ms=round((claimed - requested) * 1000, 3) if requested is not None else None,
            sla_breached=bool(entry.sla_breached),
        )
        span.end(end_ns=int(claimed * 1e9))  # the span is the wait itself: flag -> claim
        if flush:
            tel.force_flush(5_000)
    except Exception as exc:
        warn_limited("trace-claim", "telemetry: could not record a takeover: %r", exc)


def _utc(value: Any) -> Any:
    from policies.audit import as_utc

    return as_utc(value)


def _flagging_turn(target: Any, entry: Any) -> tuple[dict[str, str] | None, float | None]:
    """The W3C carrier of the turn that queued the conversation and when it asked for a person."""
    if not entry.turn_ids:
        return None, None
    from sqlmodel import Session

    from orchestrator.db import reader
    from orchestrator.records import TurnRecord

    with Session(reader(getattr(target, "engine", target))) as session:
        row = session.get(TurnRecord, entry.turn_ids[0])
        if row is None:
            return None, None
        record = dict(row.record or {})
    parent = record.get("traceparent")
    requested = (record.get("handoff") or {}).get("requested_at")
    return ({"traceparent": parent} if parent else None), (float(requested) if requested else None)
