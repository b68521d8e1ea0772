"""One model call with a timeout, retries with exponential backoff and usage accounting.

A call that still fails raises `LlmFailure`; the caller then takes the embedded
path, so a provider outage costs the customer some latency, never an answer.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from orchestrator.llm.config import LlmConfig, ModelRef
from orchestrator.llm.usage import CallUsage, UsageLog, UsageMeter, tokens_of

log = logging.getLogger(__name__)

# the caller gives up at its deadline; the provider's own timeout ends the abandoned request
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="crossdesk-llm")
_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


class LlmFailure(Exception):
    """The model could not be used for this step. `reason` is a short code for records and metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    @property
    def text(self) -> str:
        return f"{self.reason}: {self.detail}"


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def retryable(exc: BaseException) -> bool:
    """Rate limits, overload, server errors, timeouts and dropped connections are worth another try;
    a bad key, a bad request or an unknown model are not."""
    status = status_of(exc)
    if status is not None:
        return status in _RETRY_STATUS
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {"ValidationError", "OutputParserException", "ValueError", "TypeError", "KeyError"}:
        return False
    return True  # connection errors and timeouts of any client library


@dataclass
class Caller:
    cfg: LlmConfig
    meter: UsageMeter
    sleep: Callable[[float], None] = field(default=time.sleep)

    def backoff(self, attempt: int) -> float:
        return float(self.cfg.backoff_s * (2 ** (attempt - 1)) * random.uniform(0.5, 1.0))

    def invoke(
        self,
        runnable: Any,
        messages: Any,
        *,
        ref: ModelRef,
        step: str,
        usage: UsageLog,
        department: str | None = None,
        deadline: float | None = None,
    ) -> Any:
        """`runnable.invoke(messages)` within `deadline` (time.monotonic), retried on transient errors."""
        started = time.monotonic()
        attempts = 0
        span = self.meter.start_span(ref, step, department)
        output: Any = None
        error: LlmFailure | None = None
        try:
            while True:
                attempts += 1
                timeout = self.cfg.timeout_s
                if deadline is not None:
                    timeout = min(timeout, deadline - time.monotonic())
                    if timeout <= 0:
                        error = LlmFailure("timeout", "the step's time budget ran out")
                        raise error
                future = _pool.submit(runnable.invoke, messages)
                try:
                    output = future.result(timeout=timeout)
                    return output
                except FutureTimeout:
                    future.cancel()
                    error, again = LlmFailure("timeout", f"no answer within {timeout:.3g}s"), True
                except Exception as exc:
                    status = status_of(exc)
                    detail = type(exc).__name__ + (f" (HTTP {status})" if status else "")
                    error, again = LlmFailure("provider_error", detail), retryable(exc)
                log.warning("model %s (%s) attempt %d failed: %s", ref.spec, step, attempts, error.detail)
                if not again or attempts > self.cfg.retries:
                    raise error
                delay = self.backoff(attempts)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    raise error
                self.sleep(delay)
        finally:
            raw = output.get("raw") if isinstance(output, dict) else output
            tokens_in, tokens_out = tokens_of(raw) if raw is not None else (0, 0)
            call = CallUsage(
                step=step,
                model=ref.spec,
                department=department,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost_usd=self.cfg.cost_of(ref, tokens_in, tokens_out),
                seconds=round(time.monotonic() - started, 4),
                attempts=attempts,
                ok=output is not None,
                error=None if output is not None else (error.reason if error else "error"),
            )
            usage.add(call)
            self.meter.finish(span, ref, call)
