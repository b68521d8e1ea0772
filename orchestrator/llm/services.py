"""The graph's LLM seam: per step, may this turn use the model, and if so, run it or fall back.

`orchestrator.graph` calls `decompose` (supervisor), `dispatch_env` and
`department_info` (departments) and `compose` (composer). Every step first asks
the policy engine whether this customer's data may go to the step's provider
(`check_destination`, e.g. the CN rule); when not, or when the model fails, the
step runs on the embedded path and the step's info says why.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.llm.calls import Caller, LlmFailure
from orchestrator.llm.config import LlmConfig, ModelRef
from orchestrator.llm.privacy import Masker
from orchestrator.llm.usage import UsageLog, UsageMeter, step_info
from plugins.contracts import CustomerView

if TYPE_CHECKING:
    from orchestrator.dispatch import DispatchEnv
    from orchestrator.nlu.types import Decomposition
    from plugins.manager import PluginSet
    from policies.engine import PolicyEngine
    from traces.setup import Telemetry

log = logging.getLogger(__name__)

POLICY_ERROR = "policy.error"
_INFO_KEPT = 4096  # department infos waiting for the graph to pick them up


@dataclass(frozen=True)
class Route:
    """Where one step of one turn runs. `model` is None for the embedded path."""

    ref: ModelRef | None
    model: Any = None
    redact: tuple[str, ...] = ()  # personal-data kinds to mask before sending
    policy: dict[str, Any] | None = None  # why policy kept the step local


class LlmServices:
    def __init__(
        self,
        cfg: LlmConfig,
        models: Mapping[str, Any],
        plugins: PluginSet,
        policy_engine: PolicyEngine,
        *,
        threshold: float = 0.45,
        telemetry: Telemetry | None = None,
    ) -> None:
        from orchestrator.llm.decompose import issues_schema

        missing = [r.spec for r in cfg.models() if r.spec not in models]
        if missing:
            raise ValueError(f"no chat model given for {', '.join(missing)}")
        self.cfg = cfg
        self.models = dict(models)
        self.plugins = plugins
        self.policy_engine = policy_engine
        self.threshold = threshold
        self.meter = UsageMeter(telemetry)
        self.caller = Caller(cfg, self.meter)
        self.schema = issues_schema(plugins)
        self._wrapped: PluginSet | None = None
        self._infos: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._bound: dict[tuple[str, str], Any] = {}

    # -- routing -------------------------------------------------------------------------------

    def route(
        self, step: str, customer: CustomerView | Mapping[str, Any] | None, jurisdiction: str | None
    ) -> Route:
        """The step's model if it is configured and policy lets this customer's data go to its provider."""
        ref = self.cfg.step(step)
        if ref is None:
            return Route(None)
        try:
            from policies.facts import TurnFacts

            view = CustomerView.model_validate(customer) if isinstance(customer, Mapping) else customer
            facts = TurnFacts(customer=view, jurisdiction=jurisdiction or "")
            verdict = self.policy_engine.check_destination(facts, ref.destination)
        except Exception as exc:
            log.exception("destination check failed; the %s step stays on the embedded path", step)
            verdict_policy = {
                "rule_id": POLICY_ERROR,
                "message": f"policy check failed: {type(exc).__name__}",
                "destination": ref.destination,
            }
            self.meter.fallback(step, "policy")
            return Route(ref, policy=verdict_policy)
        if not verdict.allowed:
            self.meter.fallback(step, "policy")
            return Route(
                ref,
                policy={
                    "rule_id": verdict.rule_id,
                    "message": verdict.message,
                    "destination": ref.destination,
                },
            )
        return Route(ref, self.models[ref.spec], redact=tuple(verdict.redact))

    # -- supervisor ----------------------------------------------------------------------------

    def decompose(
        self, embedded: Any, state: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
    ) -> tuple[Decomposition, dict[str, Any]]:
        """The model's decomposition, or the embedded decomposer's when the model may not or cannot."""
        from langchain_core.messages import HumanMessage, SystemMessage

        from orchestrator.llm.decompose import system_prompt, to_decomposition, user_prompt

        message = state["message"]
        route = self.route("supervisor", state.get("customer"), state.get("jurisdiction"))
        usage = UsageLog()
        if route.model is None or route.ref is None:
            info = step_info("supervisor", route.ref, usage, path="embedded", policy=route.policy)
            return embedded.decompose(message, history=history), info
        masker = Masker(route.redact)
        try:
            try:
                model = route.model
                runnable = self.bound(
                    route, "supervisor", lambda: model.with_structured_output(self.schema, include_raw=True)
                )
            except Exception as exc:  # e.g. a provider class without structured output
                raise LlmFailure("provider_error", f"no structured output: {type(exc).__name__}") from exc
            out = self.caller.invoke(
                runnable,
                [
                    SystemMessage(system_prompt(self.plugins)),
                    HumanMessage(user_prompt(message, history, masker)),
                ],
                ref=route.ref,
                step="supervisor",
                usage=usage,
                deadline=time.monotonic() + self.cfg.timeout_s * (self.cfg.retries + 1),
            )
            parsed = out.get("parsed") if isinstance(out, dict) else out
            if parsed is None:
                error = out.get("parsing_error") if isinstance(out, dict) else None
                raise LlmFailure("invalid_structure", _parse_problem(error))
            decomposition = to_decomposition(
                parsed, message, self.plugins, self.schema, masker=masker, threshold=self.threshold
            )
        except LlmFailure as exc:
            log.warning("supervisor falls back to the embedded decomposer: %s", exc.text)
            self.meter.fallback("supervisor", exc.reason)
            info = step_info("supervisor", route.ref, usage, path="embedded", fallback=exc.text)
            return embedded.decompose(message, history=history), info
        return decomposition, step_info("supervisor", route.ref, usage, path="llm")

    def bound(self, route: Route, purpose: str, build: Callable[[], Any]) -> Any:
        """`build()` (a model with its tools or output schema bound) made once per model and purpose:
        turning schemas into a provider's format took longer than the rest of a department's set-up."""
        key = (route.ref.spec if route.ref is not None else "", purpose)  # one model per spec
        with self._lock:
            found = self._bound.get(key)
        if found is None:
            found = build()  # outside the lock: two first callers may both build; either result serves
            with self._lock:
                found = self._bound.setdefault(key, found)
        return found

    # -- departments ---------------------------------------------------------------------------

    def dispatch_env(self, env: DispatchEnv) -> DispatchEnv:
        """The dispatcher's environment with every department wrapped by the LLM runner."""
        if self.cfg.departments is None:
            return env
        from orchestrator.llm.agent import LlmDepartment

        with self._lock:
            if self._wrapped is None:
                departments = {n: LlmDepartment(d, self) for n, d in self.plugins.departments.items()}
                self._wrapped = dataclasses.replace(self.plugins, departments=departments)  # type: ignore[arg-type]
            wrapped = self._wrapped
        # the model's budget comes on top of the embedded budget, so a fallback still has its time
        return dataclasses.replace(
            env, plugins=wrapped, timeout_s=env.timeout_s + self.cfg.department_budget_s
        )

    def put_department_info(self, key: tuple[str, str, int], info: dict[str, Any]) -> None:
        with self._lock:
            self._infos[key] = info
            while len(self._infos) > _INFO_KEPT:
                self._infos.pop(next(iter(self._infos)))

    def department_info(self, turn_id: str, task_id: str, attempt: int) -> dict[str, Any] | None:
        """What the department run of this task did on the LLM path (taken once)."""
        with self._lock:
            return self._infos.pop((turn_id, task_id, attempt), None)

    # -- composer ------------------------------------------------------------------------------

    def compose(self, state: Mapping[str, Any], draft: str) -> tuple[str, dict[str, Any]]:
        """The model's rewrite of the embedded reply, or the draft itself when it may not or fails."""
        from langchain_core.messages import HumanMessage, SystemMessage

        from orchestrator.llm.composer import check_rewrite, system_prompt

        route = self.route("composer", state.get("customer"), state.get("jurisdiction"))
        usage = UsageLog()
        if route.model is None or route.ref is None or not draft.strip():
            return draft, step_info("composer", route.ref, usage, path="embedded", policy=route.policy)
        masked = Masker(route.redact).text(draft)
        language = (state.get("decomposition") or {}).get("language") or "en"
        try:
            answer = self.caller.invoke(
                route.model,
                [SystemMessage(system_prompt(language)), HumanMessage(masked)],
                ref=route.ref,
                step="composer",
                usage=usage,
                deadline=time.monotonic() + self.cfg.timeout_s * (self.cfg.retries + 1),
            )
            text = answer.content if isinstance(answer.content, str) else ""
            reply = check_rewrite(masked, text)
        except LlmFailure as exc:
            log.warning("composer falls back to the embedded reply: %s", exc.text)
            self.meter.fallback("composer", exc.reason)
            return draft, step_info("composer", route.ref, usage, path="embedded", fallback=exc.text)
        return reply, step_info("composer", route.ref, usage, path="llm")


def _parse_problem(error: BaseException | None) -> str:
    """Where the structured output broke the schema; never the offending value (it may be personal data)."""
    from pydantic import ValidationError

    cause = error
    while cause is not None and not isinstance(cause, ValidationError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ValidationError):
        first = cause.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "output"
        return f"{where}: {first['msg'][:160]}"
    return type(error).__name__ if error is not None else "no structured output"
