"""What the LLM path cost: calls, tokens and estimated USD per step and department.

Every model call is one `chat <model>` span (`gen_ai.request.model`, `gen_ai.usage.*`)
and feeds the GenAI client metrics; a turn's totals go into the routing record's
`llm` section (`usage_section`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, Status, StatusCode

from orchestrator.llm.config import ModelRef
from traces import names as N
from traces.safe import warn_limited

if TYPE_CHECKING:
    from traces.setup import Telemetry

_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)


@dataclass(frozen=True)
class CallUsage:
    """One model call, successful or not (retries included)."""

    step: str  # supervisor | departments | composer
    model: str  # "provider:model"
    department: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    seconds: float = 0.0
    attempts: int = 1
    ok: bool = True
    error: str | None = None


def tokens_of(message: Any) -> tuple[int, int]:
    """(input, output) tokens a provider reported on an AIMessage; (0, 0) when it reported none."""
    meta = getattr(message, "usage_metadata", None)
    if meta:
        return int(meta.get("input_tokens") or 0), int(meta.get("output_tokens") or 0)
    usage = (getattr(message, "response_metadata", None) or {}).get("token_usage") or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def totals(calls: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Calls, tokens and cost of some calls; cost is None when a model has no price configured."""
    items = list(calls)
    costs = [c.get("cost_usd") for c in items]
    return {
        "calls": len(items),
        "input_tokens": sum(int(c.get("input_tokens") or 0) for c in items),
        "output_tokens": sum(int(c.get("output_tokens") or 0) for c in items),
        "cost_usd": None if any(c is None for c in costs) else round(sum(float(c or 0) for c in costs), 6),
    }


class _Instruments:
    def __init__(self, meter: Any) -> None:
        self.tokens = meter.create_histogram(
            N.METRIC_GEN_AI_TOKEN_USAGE,
            unit="{token}",
            description="Tokens used per model call, by token type",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            N.METRIC_GEN_AI_DURATION,
            unit="s",
            description="Duration of one model call, retries included",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.cost = meter.create_counter(
            N.METRIC_LLM_COST, unit="USD", description="Estimated cost of model calls"
        )
        self.fallbacks = meter.create_counter(
            N.METRIC_LLM_FALLBACKS, unit="{fallback}", description="Steps that fell back to the embedded path"
        )


class UsageMeter:
    """Spans and metrics for model calls.

    Spans go to the running turn's telemetry (`traces.current`), under its current span,
    and only when the turn is traced; metrics go to the given telemetry, else the turn's,
    else the global meter provider.
    """

    def __init__(self, telemetry: Telemetry | None = None) -> None:
        self._tel = telemetry
        self._instruments: dict[int, _Instruments] = {}
        self._lock = threading.Lock()

    def _metrics(self) -> _Instruments:
        from traces.current import current_telemetry

        tel = self._tel if self._tel is not None and self._tel.enabled else current_telemetry()
        meter = tel.meter if tel is not None else metrics.get_meter(N.INSTRUMENTATION_SCOPE)
        with self._lock:
            found = self._instruments.get(id(meter))
            if found is None:
                found = self._instruments[id(meter)] = _Instruments(meter)
            return found

    def start_span(self, ref: ModelRef, step: str, department: str | None) -> Span:
        from traces.current import current_telemetry

        tel = current_telemetry()
        if tel is None:
            return trace.INVALID_SPAN
        try:
            return tel.tracer.start_span(
                N.SPAN_CHAT_PREFIX + ref.name,
                attributes={
                    N.GEN_AI_OPERATION_NAME: N.OP_CHAT,
                    N.GEN_AI_PROVIDER_NAME: ref.provider,
                    N.GEN_AI_REQUEST_MODEL: ref.name,
                    N.LLM_STEP: step,
                    **({N.GEN_AI_AGENT_NAME: department} if department else {}),
                },
            )
        except Exception as exc:
            warn_limited("llm:span", "telemetry: could not start a chat span: %r", exc)
            return trace.INVALID_SPAN

    def finish(self, span: Span, ref: ModelRef, call: CallUsage) -> None:
        """End the call's span and record its metrics. Never raises."""
        try:
            if span.is_recording():
                span.set_attributes(
                    {
                        N.GEN_AI_USAGE_INPUT_TOKENS: call.input_tokens,
                        N.GEN_AI_USAGE_OUTPUT_TOKENS: call.output_tokens,
                        N.LLM_ATTEMPTS: call.attempts,
                    }
                )
                if call.cost_usd is not None:
                    span.set_attribute(N.LLM_COST_USD, call.cost_usd)
                if not call.ok:
                    span.set_attribute(N.ERROR_TYPE, call.error or "error")
                    span.set_status(Status(StatusCode.ERROR, call.error or "error"))
            span.end()
            attrs: dict[str, Any] = {
                N.GEN_AI_OPERATION_NAME: N.OP_CHAT,
                N.GEN_AI_PROVIDER_NAME: ref.provider,
                N.GEN_AI_REQUEST_MODEL: ref.name,
            }
            inst = self._metrics()
            inst.duration.record(call.seconds, attrs)
            if call.input_tokens:
                inst.tokens.record(call.input_tokens, {**attrs, N.GEN_AI_TOKEN_TYPE: "input"})
            if call.output_tokens:
                inst.tokens.record(call.output_tokens, {**attrs, N.GEN_AI_TOKEN_TYPE: "output"})
            if call.cost_usd:
                inst.cost.add(
                    call.cost_usd, {**attrs, N.M_STEP: call.step, N.M_DEPARTMENT: call.department or ""}
                )
        except Exception as exc:
            warn_limited("llm:metrics", "telemetry: could not record a model call: %r", exc)

    def fallback(self, step: str, reason: str) -> None:
        try:
            self._metrics().fallbacks.add(1, {N.M_STEP: step, N.M_REASON: reason})
        except Exception as exc:
            warn_limited("llm:fallback", "telemetry: could not count a fallback: %r", exc)


class UsageLog:
    """Collects the calls of one step run (a supervisor pass, one department run, ...). Thread-safe."""

    def __init__(self) -> None:
        self._calls: list[CallUsage] = []
        self._lock = threading.Lock()

    def add(self, call: CallUsage) -> None:
        with self._lock:
            self._calls.append(call)

    @property
    def calls(self) -> list[CallUsage]:
        with self._lock:
            return list(self._calls)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.calls]


def step_info(
    step: str,
    ref: ModelRef | None,
    log: UsageLog,
    *,
    path: str,
    fallback: str | None = None,
    policy: Mapping[str, Any] | None = None,
    department: str | None = None,
) -> dict[str, Any]:
    """What one step did, for the graph state: which path, why, and what it cost."""
    info: dict[str, Any] = {
        "step": step,
        "model": ref.spec if ref else None,
        "path": path,  # llm | embedded
        "fallback": fallback,
        "policy": dict(policy) if policy else None,
        "calls": log.as_dicts(),
    }
    if department is not None:
        info["department"] = department
    return info


def usage_section(state: Mapping[str, Any]) -> dict[str, Any] | None:
    """The routing record's `llm` section; None when no step of this turn was configured for a model."""
    steps: list[dict[str, Any]] = [s for s in (state.get("llm") or {}).values() if isinstance(s, dict)]
    departments: list[dict[str, Any]] = []
    for result in state.get("results") or []:
        info = result.get("llm")
        if isinstance(info, dict):
            departments.append({**info, "task_id": result["task_id"], "attempt": result.get("attempt", 0)})
    everything = steps + departments
    if not everything:
        return None
    calls = [c for s in everything for c in s.get("calls", [])]
    paths = {s["path"] for s in everything}
    by_department: dict[str, dict[str, Any]] = {}
    for d in departments:
        name = d.get("department") or "?"
        mine = [c for x in departments if (x.get("department") or "?") == name for c in x.get("calls", [])]
        by_department[name] = {
            **totals(mine),
            "model": d.get("model"),
            "path": "llm"
            if all(x["path"] == "llm" for x in departments if x.get("department") == name)
            else "embedded",
        }
    fallback = []
    for s in everything:
        if s.get("fallback"):
            item = {"step": s["step"], "reason": s["fallback"]}
            if s.get("department"):
                item.update(department=s["department"], task_id=s.get("task_id"))
            fallback.append(item)
    embedded_only = next((s["policy"] for s in everything if s.get("policy")), None)
    return {
        "path": paths.pop() if len(paths) == 1 else "mixed",
        "models": {s["step"]: s.get("model") for s in steps}
        | ({"departments": departments[0].get("model")} if departments else {}),
        **totals(calls),
        "by_step": {s["step"]: {**totals(s.get("calls", [])), "path": s["path"]} for s in steps},
        "by_department": by_department,
        "fallback": fallback,
        "embedded_only": embedded_only,
    }
