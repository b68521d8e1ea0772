"""Span helpers the supervisor graph calls: one trace per turn.

Every helper takes the `Telemetry` first (None means off) and returns a handle
whose span has already started. Use it as a context manager (the span becomes
current in this thread, an exception is recorded, the span ends) or call
`.end()` yourself.

Parenting across threads: pass ``parent=`` explicitly. A parent is a handle, an
OpenTelemetry `Context` (``handle.context``), or a W3C carrier dict
(``handle.carrier``, JSON-able, safe to keep in graph state or a database).
Without ``parent`` the span's parent is this thread's current span.

Transfers and agent results are tallied on the turn they belong to (found by
trace id, from any thread), and the turn writes its counts to the root span and
records the turn metrics when it ends.

No free text reaches a span unless content capture is on; then it goes only
into the content attributes, masked by `policies.pii.mask`.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from traces import names as N
from traces.metrics import IssueOutcome
from traces.safe import warn_limited

if TYPE_CHECKING:
    from traces.setup import Telemetry

_propagator = TraceContextTextMapPropagator()
_turns: dict[int, TurnHandle] = {}  # trace id -> open turn, for tallies from worker threads
_turns_lock = threading.Lock()
_carrier_cache: dict[str, Context] = {}


# -- parents and context ----------------------------------------------------------------

_OFF_CONTEXT = trace.set_span_in_context(trace.INVALID_SPAN, Context())


def parent_context(parent: Any) -> Context | None:
    """Turn any accepted parent form into an OpenTelemetry Context (None: current)."""
    if parent is None:
        return None
    if isinstance(parent, SpanHandle):
        return parent.context
    if isinstance(parent, Context):
        return parent
    if isinstance(parent, Mapping) and len(parent) == 1 and "traceparent" in parent:
        parent = parent["traceparent"]
    if isinstance(parent, str):
        # graph nodes pass the same carrier for every span of a turn: parse it once
        ctx = _carrier_cache.get(parent)
        if ctx is None:
            if len(_carrier_cache) > 4096:
                _carrier_cache.clear()
            ctx = _carrier_cache[parent] = _propagator.extract({"traceparent": parent})
        return ctx
    if isinstance(parent, Mapping):
        return _propagator.extract(parent)
    raise TypeError(
        f"parent must be a span handle, a Context or a traceparent carrier, not {type(parent).__name__}"
    )


class attach:
    """Make `parent` the current span in this thread, e.g. first thing in a worker.

    ``with attach(state["trace"]): ...`` lets code that calls helpers without
    ``parent=`` (a department's knowledge search, say) land in the right trace.
    """

    def __init__(self, parent: Any) -> None:
        self._ctx = parent_context(parent)
        self._token: object | None = None

    def __enter__(self) -> None:
        if self._ctx is not None:
            self._token = otel_context.attach(self._ctx)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]


def make_current_in(ctx: contextvars.Context, handle: SpanHandle) -> None:
    """Make `handle`'s span the current one inside `ctx`, a private context copy another thread runs."""
    if handle.recording:
        ctx.run(otel_context.attach, handle.context)


def turn_for(parent: Any = None) -> TurnHandle | None:
    """The open turn whose trace `parent` (default: the current span) belongs to."""
    ctx = parent_context(parent)
    trace_id = trace.get_current_span(ctx).get_span_context().trace_id
    return _turns.get(trace_id) if trace_id else None


# -- content capture ---------------------------------------------------------------------

_mask_fn: Any = None


def _mask(text: str) -> str | None:
    """Masked text, or None when masking is unavailable (then nothing is captured)."""
    global _mask_fn
    if _mask_fn is None:
        try:
            from policies.pii import mask
        except ImportError as exc:
            warn_limited(
                "mask-import", "telemetry: content capture is on but policies.pii is missing (%r)", exc
            )
            return None
        _mask_fn = mask
    try:
        return str(_mask_fn(text))
    except Exception as exc:
        warn_limited("mask-call", "telemetry: masking failed (%r); content dropped", exc)
        return None


def _messages(role: str, text: str) -> str | None:
    masked = _mask(text)
    if masked is None:
        return None
    msg: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": masked}]}
    return json.dumps([msg], ensure_ascii=False)


_SIMPLE = (str, bool, int, float)


def _attr_value(value: Any) -> Any:
    if type(value) in _SIMPLE:
        return value
    if isinstance(value, _SIMPLE):
        return value
    if isinstance(value, Iterable):
        items = list(value)
        if all(isinstance(v, bool) for v in items):
            return items
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
            return [float(v) for v in items] if any(isinstance(v, float) for v in items) else items
        return [str(v) for v in items]
    return str(value)


# -- handles -------------------------------------------------------------------------------


class SpanHandle:
    """A started span. `context` and `carrier` are what you hand to other threads."""

    def __init__(
        self,
        tel: Telemetry | None,
        name: str,
        attributes: Mapping[str, Any],
        parent: Any,
        *,
        start_ns: int | None = None,
    ) -> None:
        self._tel = tel
        self._token: object | None = None
        self._ended = False
        self.span: Span = trace.INVALID_SPAN
        self.turn: TurnHandle | None = None
        self._parent_ctx: Context | None = None
        self._context: Context | None = _OFF_CONTEXT
        self._t0 = 0.0
        if tel is None or not tel.enabled:
            # telemetry off: no parent parsing, no span, nothing to attach
            self.capture = False
            self.recording = False
            return
        self.capture = tel.capture_content
        ctx = parent_context(parent)
        tracer = tel.tracer
        self.turn = _turns.get(trace.get_current_span(ctx).get_span_context().trace_id)
        attrs = dict(attributes)
        if self.turn is not None and self.turn.conversation_id is not None:
            attrs.setdefault(N.GEN_AI_CONVERSATION_ID, self.turn.conversation_id)
        try:
            self.span = tracer.start_span(
                name,
                context=ctx,
                attributes={k: _attr_value(v) for k, v in attrs.items() if v is not None},
                start_time=start_ns,
                record_exception=False,  # we record exceptions ourselves, without message text
                set_status_on_exception=False,
            )
        except Exception as exc:
            warn_limited("start-span", "telemetry: could not start span %s: %r", name, exc)
            self.span = trace.INVALID_SPAN
        self.recording = self.span.is_recording()
        self._parent_ctx = ctx
        self._context = None  # built on first use: most transfer spans never need it
        self._t0 = time.perf_counter()

    @property
    def context(self) -> Context:
        """The OpenTelemetry Context with this span current: the parent for spans in other threads."""
        if self._context is None:
            self._context = trace.set_span_in_context(self.span, self._parent_ctx)
        return self._context

    @property
    def carrier(self) -> dict[str, str]:
        """W3C trace context ({"traceparent": ...}) for graph state, queues or another process."""
        carrier: dict[str, str] = {}
        _propagator.inject(carrier, context=self.context)
        return carrier

    @property
    def trace_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    def set(self, key: str, value: Any) -> None:
        """Set one attribute (None is skipped). Never put free text here: use the content setters."""
        if not self.recording or value is None:
            return
        try:
            self.span.set_attribute(key, _attr_value(value))
        except Exception as exc:
            warn_limited("set-attr", "telemetry: could not set %s: %r", key, exc)

    def set_many(self, attributes: Mapping[str, Any]) -> None:
        if not self.recording:
            return
        try:
            self.span.set_attributes({k: _attr_value(v) for k, v in attributes.items() if v is not None})
        except Exception as exc:
            warn_limited("set-attrs", "telemetry: could not set attributes: %r", exc)

    def event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        if not self.recording:
            return
        try:
            attrs = {k: _attr_value(v) for k, v in (attributes or {}).items() if v is not None}
            self.span.add_event(name, attrs)
        except Exception as exc:
            warn_limited("event", "telemetry: could not add event %s: %r", name, exc)

    def set_content(self, key: str, text: str | None, *, role: str | None = None) -> None:
        """Captured text: only with content capture on, always masked. `role` wraps it as GenAI messages."""
        if not self.recording or not self.capture or not text:
            return
        value = _messages(role, text) if role else _mask(text)
        if value is not None:
            self.set(key, value)

    def record_error(self, exc: BaseException) -> None:
        """Record an exception: its type and stack; its message only masked under content capture."""
        if not self.recording:
            return
        try:
            kind = type(exc).__qualname__
            attrs: dict[str, Any] = {
                "exception.type": f"{type(exc).__module__}.{kind}",
                # frames only: the last line of a formatted exception repeats its message
                "exception.stacktrace": "".join(traceback.format_tb(exc.__traceback__))[-8000:],
            }
            if self.capture:
                masked = _mask(str(exc))
                if masked is not None:
                    attrs["exception.message"] = masked
            self.span.add_event("exception", attrs)
            self.span.set_attribute(N.ERROR_TYPE, kind)
            self.span.set_status(Status(StatusCode.ERROR, kind))
        except Exception as err:
            warn_limited("record-error", "telemetry: could not record an exception: %r", err)

    def fail(self, reason: str) -> None:
        """Mark the span failed without an exception; `reason` is a short code, not free text."""
        if self.recording:
            self.span.set_attribute(N.ERROR_TYPE, reason)
            self.span.set_status(Status(StatusCode.ERROR, reason))

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self._t0

    def _on_end(self) -> None:
        """Subclasses write their summary attributes here, just before the span ends."""

    def end(self, end_ns: int | None = None) -> None:
        """End the span now, or at `end_ns` (time.time_ns()) for work that finished earlier."""
        if self._ended:
            return
        self._ended = True
        try:
            self._on_end()
        except Exception as exc:
            warn_limited("on-end", "telemetry: could not finish span attributes: %r", exc)
        try:
            self.span.end(end_time=end_ns)
        except Exception as exc:
            warn_limited("end-span", "telemetry: could not end a span: %r", exc)

    def __enter__(self) -> Any:
        if self.recording:
            self._token = otel_context.attach(self.context)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            try:
                otel_context.detach(self._token)  # type: ignore[arg-type]
            except Exception:  # detaching in another thread than attached: harmless here
                pass
            self._token = None
        if exc is not None:
            if _is_control_flow(exc):
                self.set("crossdesk.interrupted", True)
            elif isinstance(exc, Exception):
                self.record_error(exc)
        self.end()  # returning None: the original exception propagates


def _is_control_flow(exc: BaseException) -> bool:
    # LangGraph's interrupt() and Command(graph=PARENT) travel as exceptions; they are not failures
    return any(
        cls.__name__ in ("GraphBubbleUp", "GraphInterrupt", "ParentCommand") for cls in type(exc).__mro__
    )


class TurnHandle(SpanHandle):
    """The root span of a turn; collects the turn's transfer tallies from every thread."""

    def __init__(
        self,
        tel: Telemetry | None,
        *,
        conversation_id: str,
        turn_id: str | None,
        message: str | None,
        parent: Any,
    ) -> None:
        attrs = {
            N.GEN_AI_OPERATION_NAME: N.OP_INVOKE_WORKFLOW,
            N.GEN_AI_CONVERSATION_ID: conversation_id,
            N.TURN_ID: turn_id,
        }
        self.conversation_id = conversation_id
        super().__init__(tel, N.SPAN_TURN, attrs, parent)
        self.turn = self
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # dispatch / reroute / escalation / customer_transfer
        self.issues: dict[str, IssueOutcome] = {}
        self.status: str | None = None
        self._failed = False
        self._fcr: bool | None = None
        self._overrides: dict[str, int] = {}
        self._trace_key = self.span.get_span_context().trace_id if self.recording else 0
        if self._trace_key:
            with _turns_lock:
                _turns[self._trace_key] = self
        self.set_content(N.GEN_AI_INPUT_MESSAGES, message, role="user")

    def _issue(self, task_id: str) -> IssueOutcome:
        issue = self.issues.get(task_id)
        if issue is None:
            issue = self.issues[task_id] = IssueOutcome(task_id=task_id)
        return issue

    def add_issue(self, task_id: str, department: str | None = None) -> None:
        with self._lock:
            issue = self._issue(task_id)
            if department:
                issue.department = department

    def count_transfer(self, kind: str, *, task_id: str | None, target: str, to_human: bool) -> None:
        with self._lock:
            self.counts[kind] += 1
            if to_human:
                self.counts["customer_transfer"] += 1
            if task_id is not None:
                issue = self._issue(task_id)
                issue.transfers[kind] = issue.transfers.get(kind, 0) + 1
                if not to_human:
                    issue.department = target

    def task_result(self, task_id: str, department: str, status: str | None) -> None:
        with self._lock:
            issue = self._issue(task_id)
            issue.department = department
            issue.status = status

    def set_counts(
        self,
        *,
        dispatches: int | None = None,
        reroutes: int | None = None,
        escalations: int | None = None,
        customer_transfers: int | None = None,
    ) -> None:
        """Override the tallies collected from transfer spans (e.g. from the graph's own state)."""
        pairs = (
            (N.TURN_DISPATCHES, dispatches),
            (N.TURN_REROUTES, reroutes),
            (N.TURN_ESCALATIONS, escalations),
            (N.TURN_CUSTOMER_TRANSFERS, customer_transfers),
        )
        with self._lock:
            self._overrides.update({k: v for k, v in pairs if v is not None})

    def set_status(self, status: str, *, fcr: bool | None = None) -> None:
        """The turn's outcome: resolved, partial, needs_human, out_of_scope or unclear.

        `fcr` defaults to: resolved, no escalation, every sub-issue resolved.
        """
        self.status = status
        self._fcr = fcr
        self.set(N.TURN_STATUS, status)

    def set_reply(self, reply: str | None) -> None:
        self.set_content(N.GEN_AI_OUTPUT_MESSAGES, reply, role="assistant")

    def _on_end(self) -> None:
        with _turns_lock:
            if self._trace_key:
                _turns.pop(self._trace_key, None)
        if not self.recording:
            return
        with self._lock:
            issues = list(self.issues.values())
            totals = {
                # every handoff to a department, first dispatch or reroute: the routing record's count
                N.TURN_DISPATCHES: self.counts[N.KIND_DISPATCH] + self.counts[N.KIND_REROUTE],
                N.TURN_REROUTES: self.counts[N.KIND_REROUTE],
                N.TURN_ESCALATIONS: self.counts[N.KIND_ESCALATION],
                N.TURN_CUSTOMER_TRANSFERS: self.counts["customer_transfer"],
            }
            totals.update(self._overrides)
        fcr_issues = sum(1 for i in issues if i.first_contact_resolved)
        fcr = self._fcr
        if fcr is None:
            fcr = (
                self.status == "resolved"
                and totals[N.TURN_ESCALATIONS] == 0
                and all(i.first_contact_resolved for i in issues)
            )
        self.set_many(totals)
        self.set_many({N.TURN_ISSUES: len(issues), N.TURN_FCR_ISSUES: fcr_issues, N.TURN_FCR: fcr})
        if self._tel is not None:
            self._tel.metrics.record_turn(
                status=self.status or ("error" if self._failed else "unknown"),
                issues=issues,
                escalations=totals[N.TURN_ESCALATIONS],
                reroutes=totals[N.TURN_REROUTES],
            )

    def __enter__(self) -> TurnHandle:
        super().__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and isinstance(exc, Exception) and not _is_control_flow(exc):
            self._failed = True
        super().__exit__(exc_type, exc, tb)


class PlanHandle(SpanHandle):
    def set_plan(self, decomposition: Any) -> None:
        """Record a `Decomposition` (duck-typed: tasks, unclear, out_of_scope, wants_human, language)."""
        tasks = list(getattr(decomposition, "tasks", ()) or ())
        for task in tasks:
            if self.turn is not None:
                self.turn.add_issue(task.id, task.department)
        if not self.recording:
            return
        self.set_many(
            {
                N.PLAN_SUB_ISSUES: len(tasks),
                N.PLAN_DEPARTMENTS: [t.department for t in tasks],
                N.PLAN_INTENTS: [t.intent for t in tasks],
                N.PLAN_CONFIDENCES: [round(float(t.confidence), 4) for t in tasks],
                N.PLAN_UNCLEAR: len(getattr(decomposition, "unclear", ()) or ()),
                N.PLAN_OUT_OF_SCOPE: bool(getattr(decomposition, "out_of_scope", False)),
                N.PLAN_WANTS_HUMAN: bool(getattr(decomposition, "wants_human", False)),
                N.PLAN_LANGUAGE: getattr(decomposition, "language", None),
            }
        )

    def __enter__(self) -> PlanHandle:
        super().__enter__()
        return self


class AgentHandle(SpanHandle):
    def __init__(self, tel: Telemetry | None, department: str, attrs: dict[str, Any], parent: Any) -> None:
        self.department = department
        self.task_id: str | None = attrs.get(N.TASK_ID)
        super().__init__(tel, N.agent_span_name(department), attrs, parent)

    def set_result(self, result: Any) -> None:
        """Record a `DepartmentResult` (duck-typed): status, actions, citations; the reply only as content."""
        status = getattr(result, "status", None)
        if self.turn is not None and self.task_id is not None:
            self.turn.task_result(self.task_id, self.department, status)
        if not self.recording:
            return
        actions = list(getattr(result, "actions", ()) or ())
        self.set_many(
            {
                N.TASK_STATUS: status,
                N.TASK_SUGGEST: getattr(result, "suggest", None),
                N.TASK_ACTIONS: [a.name for a in actions] if actions else None,
                N.TASK_ACTIONS_BLOCKED: sum(1 for a in actions if getattr(a, "blocked_by", None)) or None,
                N.TASK_KNOWLEDGE: list(getattr(result, "knowledge", ()) or ()) or None,
            }
        )
        if getattr(result, "error", None):
            self.fail("department_error")
            self.set_content(N.TASK_ERROR, result.error)
        self.set_content(N.GEN_AI_OUTPUT_MESSAGES, getattr(result, "reply", None), role="assistant")

    def set_status(self, status: str) -> None:
        """The task status when there is no DepartmentResult (e.g. the run timed out)."""
        if self.turn is not None and self.task_id is not None:
            self.turn.task_result(self.task_id, self.department, status)
        self.set(N.TASK_STATUS, status)

    def _on_end(self) -> None:
        if self._tel is not None and self.recording:
            self._tel.metrics.record_department(self.department, self.elapsed_s)

    def __enter__(self) -> AgentHandle:
        super().__enter__()
        return self


class PolicyHandle(SpanHandle):
    def set_decision(self, decision: str, rule_ids: Sequence[str] = (), *, action: str | None = None) -> None:
        """The policy outcome (allow, deny, escalate, ...) and the ids of the rules that matched."""
        self.set_many(
            {
                N.POLICY_DECISION: decision,
                N.POLICY_RULE_IDS: list(rule_ids),
                N.POLICY_ACTION: action,
            }
        )

    def __enter__(self) -> PolicyHandle:
        super().__enter__()
        return self


class RetrieveHandle(SpanHandle):
    def set_hits(self, hits: Sequence[Any]) -> None:
        """Record hits: `ArticleHit`s or article ids."""
        if not self.recording:
            return
        ids = [h if isinstance(h, str) else str(getattr(h, "id", h)) for h in hits]
        self.set_many({N.RETRIEVAL_HITS: len(ids), N.RETRIEVAL_ARTICLE_IDS: ids})

    def __enter__(self) -> RetrieveHandle:
        super().__enter__()
        return self


class TakeoverHandle(SpanHandle):
    def __init__(
        self, tel: Telemetry | None, attrs: dict[str, Any], parent: Any, start_ns: int | None
    ) -> None:
        self.sla_s = float(attrs[N.TAKEOVER_SLA_S])
        super().__init__(tel, N.SPAN_TAKEOVER, attrs, parent, start_ns=start_ns)

    def set_latency(
        self,
        *,
        takeover_latency_ms: float,
        queue_wait_ms: float | None = None,
        sla_breached: bool | None = None,
    ) -> bool:
        """Record how long the customer waited for a human; returns whether the SLA was breached.

        `sla_breached` defaults to latency > SLA; pass the queue's own verdict so both agree.
        """
        breached = takeover_latency_ms / 1000.0 > self.sla_s if sla_breached is None else sla_breached
        self.set_many(
            {
                N.TAKEOVER_LATENCY_MS: round(float(takeover_latency_ms), 3),
                N.TAKEOVER_QUEUE_WAIT_MS: round(float(queue_wait_ms), 3)
                if queue_wait_ms is not None
                else None,
                N.TAKEOVER_SLA_BREACHED: breached,
            }
        )
        if self._tel is not None and self.recording:
            self._tel.metrics.record_takeover(takeover_latency_ms / 1000.0, sla_breached=breached)
        return breached

    def __enter__(self) -> TakeoverHandle:
        super().__enter__()
        return self


class ComposeHandle(SpanHandle):
    def set_reply(self, reply: str, *, fragments: int | None = None) -> None:
        self.set_many({N.COMPOSE_FRAGMENTS: fragments, N.COMPOSE_CHARS: len(reply)})
        self.set_content(N.GEN_AI_OUTPUT_MESSAGES, reply, role="assistant")
        if self.turn is not None:
            self.turn.set_reply(reply)

    def __enter__(self) -> ComposeHandle:
        super().__enter__()
        return self


# -- the helpers -------------------------------------------------------------------------------


def turn_span(
    tel: Telemetry | None,
    *,
    conversation_id: str,
    turn_id: str | None,
    message: str | None = None,
    parent: Any = None,
) -> TurnHandle:
    """Root span `invoke_workflow` of one turn. `message` is captured only with content capture on.

    `turn_id` may be None when the id is made later; then set it with ``.set(N.TURN_ID, ...)``.
    """
    return TurnHandle(tel, conversation_id=conversation_id, turn_id=turn_id, message=message, parent=parent)


def plan_span(tel: Telemetry | None, *, parent: Any = None) -> PlanHandle:
    """The supervisor's decomposition; call `.set_plan(decomposition)`."""
    return PlanHandle(tel, N.SPAN_PLAN, {}, parent)


def transfer_span(
    tel: Telemetry | None,
    target: str,
    *,
    source: str,
    kind: str,
    target_type: str = N.TARGET_AGENT,
    task_id: str | None = None,
    reason: str | None = None,
    parent: Any = None,
) -> SpanHandle:
    """A handoff `execute_tool transfer_to_<target>`; tallied on the turn (kind: dispatch/reroute/escalation).

    A transfer to a human (target_type "human") also counts as a customer transfer.
    """
    if kind not in N.TRANSFER_KINDS:
        raise ValueError(f"transfer kind must be one of {', '.join(N.TRANSFER_KINDS)}, not {kind!r}")
    if target_type not in N.TARGET_TYPES:
        raise ValueError(
            f"transfer target_type must be one of {', '.join(N.TARGET_TYPES)}, not {target_type!r}"
        )
    tool = f"transfer_to_{target}"
    attrs = {
        N.GEN_AI_OPERATION_NAME: N.OP_EXECUTE_TOOL,
        N.GEN_AI_TOOL_NAME: tool,
        N.GEN_AI_TOOL_TYPE: "function",
        N.GEN_AI_TRANSFER_TARGET_NAME: target,
        N.GEN_AI_TRANSFER_TARGET_TYPE: target_type,
        N.GEN_AI_TRANSFER_SOURCE_NAME: source,
        N.TRANSFER_KIND: kind,
        N.TRANSFER_REASON: reason,
        N.TASK_ID: task_id,
    }
    handle = SpanHandle(tel, N.transfer_span_name(target), attrs, parent)
    if handle.turn is not None:
        handle.turn.count_transfer(
            kind, task_id=task_id, target=target, to_human=target_type == N.TARGET_HUMAN
        )
    return handle


def record_transfer(
    tel: Telemetry | None,
    target: str,
    *,
    source: str,
    kind: str,
    target_type: str = N.TARGET_AGENT,
    task_id: str | None = None,
    reason: str | None = None,
    parent: Any = None,
) -> None:
    """A transfer span that starts and ends at once: the handoff decision itself."""
    transfer_span(
        tel,
        target,
        source=source,
        kind=kind,
        target_type=target_type,
        task_id=task_id,
        reason=reason,
        parent=parent,
    ).end()


def agent_span(
    tel: Telemetry | None,
    department: str,
    *,
    task: Any = None,
    task_id: str | None = None,
    intent: str | None = None,
    parent: Any = None,
) -> AgentHandle:
    """`invoke_agent <department>` for one department run on one task (a `Task`, or task_id/intent)."""
    attrs: dict[str, Any] = {
        N.GEN_AI_OPERATION_NAME: N.OP_INVOKE_AGENT,
        N.GEN_AI_AGENT_NAME: department,
        N.TASK_ID: task_id if task_id is not None else getattr(task, "id", None),
        N.TASK_INTENT: intent if intent is not None else getattr(task, "intent", None),
    }
    if task is not None:
        attrs[N.TASK_CONFIDENCE] = round(float(task.confidence), 4)
        attrs[N.TASK_ATTEMPT] = int(getattr(task, "attempt", 0))
    handle = AgentHandle(tel, department, attrs, parent)
    if task is not None:
        handle.set_content(N.GEN_AI_INPUT_MESSAGES, getattr(task, "text", None), role="user")
    return handle


def policy_span(
    tel: Telemetry | None,
    stage: str,
    *,
    jurisdiction: str | None = None,
    action: str | None = None,
    parent: Any = None,
) -> PolicyHandle:
    """`check_policy <stage>`; call `.set_decision(decision, rule_ids)`."""
    attrs = {N.POLICY_STAGE: stage, N.POLICY_JURISDICTION: jurisdiction, N.POLICY_ACTION: action}
    return PolicyHandle(tel, N.policy_span_name(stage), attrs, parent)


def retrieve_span(
    tel: Telemetry | None,
    *,
    department: str | None = None,
    query: str | None = None,
    parent: Any = None,
) -> RetrieveHandle:
    """A knowledge search; call `.set_hits(hits)`. `query` is captured only with content capture on."""
    attrs = {N.GEN_AI_OPERATION_NAME: N.OP_RETRIEVE, N.GEN_AI_AGENT_NAME: department}
    handle = RetrieveHandle(tel, N.SPAN_RETRIEVE, attrs, parent)
    handle.set_content(N.RETRIEVAL_QUERY, query)
    return handle


def takeover_span(
    tel: Telemetry | None,
    *,
    queue: str,
    sla_s: float,
    task_id: str | None = None,
    reason: str | None = None,
    start_ns: int | None = None,
    parent: Any = None,
) -> TakeoverHandle:
    """`human_takeover`; call `.set_latency(takeover_latency_ms=..., queue_wait_ms=...)`.

    `start_ns` (time.time_ns()) back-dates the span to when the customer was queued,
    and a stored `carrier` as parent puts a takeover in a later process into the turn's trace.
    """
    attrs = {
        N.TAKEOVER_QUEUE: queue,
        N.TAKEOVER_SLA_S: float(sla_s),
        N.TASK_ID: task_id,
        N.TAKEOVER_REASON: reason,
    }
    return TakeoverHandle(tel, attrs, parent, start_ns)


def compose_span(tel: Telemetry | None, *, parent: Any = None) -> ComposeHandle:
    """Composing the reply; call `.set_reply(reply, fragments=n)` (the text only as content)."""
    return ComposeHandle(tel, N.SPAN_COMPOSE, {}, parent)
