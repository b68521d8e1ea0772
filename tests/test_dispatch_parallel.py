"""Department runs started together finish in parallel, each within its own budget (orchestrator.dispatch)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator.dispatch import PendingRun, as_finished, failed_result
from plugins.contracts import DepartmentResult, Task


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def task(name: str) -> Task:
    return Task(id=name, text=f"text of {name}", span=(0, 5), department=name, intent="x", confidence=0.9)


def started(
    pool: ThreadPoolExecutor, name: str, wait: threading.Event | float, timeout_s: float
) -> PendingRun:
    def work() -> DepartmentResult:
        if isinstance(wait, threading.Event):
            wait.wait(10)
        else:
            time.sleep(wait)
        return DepartmentResult(department=name, task_id=name, status="resolved", reply=f"{name} done")

    run = PendingRun(name, task(name), timeout_s, time.monotonic())
    run.future = pool.submit(work)
    return run


def test_runs_come_back_as_they_finish_and_a_hung_one_as_its_timeout(pool: ThreadPoolExecutor) -> None:
    hang = threading.Event()
    runs = [
        started(pool, "slow", 0.3, timeout_s=5),
        started(pool, "fast", 0.01, timeout_s=5),
        started(pool, "hung", hang, timeout_s=0.5),
    ]
    t0 = time.monotonic()
    order = [(i, r.status, r.error) for i, r in as_finished(runs)]
    elapsed = time.monotonic() - t0
    hang.set()
    assert order == [
        (1, "resolved", None),
        (0, "resolved", None),
        (2, "needs_human", "timed out after 0.5s"),
    ]
    # the hung run was given up at its own budget, not waited for; the others ran side by side
    assert 0.5 <= elapsed < 2.0


def test_a_run_that_never_started_comes_first_with_its_reason(pool: ThreadPoolExecutor) -> None:
    missing = PendingRun("vouchers", task("vouchers"), 5, time.monotonic())
    missing.failed = failed_result(task("vouchers"), "vouchers", "department 'vouchers' is not loaded")
    runs = [started(pool, "billing", 0.01, timeout_s=5), missing]
    got = list(as_finished(runs))
    assert [i for i, _ in got] == [1, 0]
    assert got[0][1].error == "department 'vouchers' is not loaded"
    assert got[1][1].status == "resolved"


def test_an_exception_in_a_run_becomes_its_own_needs_human_result(pool: ThreadPoolExecutor) -> None:
    def boom() -> DepartmentResult:
        raise RuntimeError("backend down")

    broken = PendingRun("billing", task("billing"), 5, time.monotonic())
    broken.future = pool.submit(boom)
    ((i, result),) = list(as_finished([broken]))
    assert (i, result.status, result.error) == (0, "needs_human", "RuntimeError: backend down")
