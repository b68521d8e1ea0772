"""Run one department on one task, isolated: its own transaction, a time budget, validated output.

A department that raises, hangs past its budget or returns something invalid
affects only its own task: the task is handed to a human and the failure is
recorded in the result and the log, while every other task goes on.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from orchestrator.db import ReadFirstSession
from plugins.contracts import (
    NO_POLICY,
    ActionRecord,
    ActionSpec,
    CaseNote,
    CustomerView,
    Department,
    DepartmentResult,
    KnowledgeAPI,
    NotesAPI,
    Task,
)
from plugins.manager import PluginSet

log = logging.getLogger(__name__)

# (ctx, action spec, validated args) -> (allowed, rule id, message); the policy node provides it
ActionGuard = Callable[["RunContext", ActionSpec, BaseModel], tuple[bool, str | None, str]]

_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="crossdesk-dept")


class _Abandoned(Exception):
    """The run outlived its time budget; its writes must not commit."""


@dataclass
class DispatchEnv:
    """What every department run shares: the database, the knowledge store and the guards."""

    engine: Engine
    plugins: PluginSet
    knowledge: KnowledgeAPI
    timeout_s: float = 10.0
    action_guard: ActionGuard | None = None
    # how many runs may hold the engine's connections at once (orchestrator.db.runs_admitted);
    # None: no limit
    run_slots: threading.BoundedSemaphore | None = None


@dataclass
class RunContext:
    """The DepartmentContext of one run (see plugins.contracts.DepartmentContext)."""

    env: DispatchEnv
    department: Department
    conversation_id: str
    turn_id: str
    customer: CustomerView | None
    jurisdiction: str
    history: Sequence[dict[str, Any]]
    db: Session
    notes: NotesAPI
    abandoned: threading.Event = field(default_factory=threading.Event)
    actions_taken: list[ActionRecord] = field(default_factory=list)
    # read-only: what the jurisdiction's rules set for this turn (policies.department_view)
    policy: Mapping[str, Any] = field(default_factory=lambda: NO_POLICY)

    @property
    def knowledge(self) -> KnowledgeAPI:
        return self.env.knowledge

    def act(self, name: str, **args: Any) -> ActionRecord:
        """Validate, check against policy, then run an action of this department."""
        if self.abandoned.is_set():
            raise _Abandoned()
        spec = next((a for a in self.department.actions if a.name == name), None)
        if spec is None:
            record = ActionRecord(name=name, args=args, ok=False, message=f"unknown action {name!r}")
            self.actions_taken.append(record)
            return record
        try:
            parsed = spec.args.model_validate(args)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "args"
            record = ActionRecord(
                name=name, args=_jsonable(args), ok=False, message=f"{where}: {first['msg']}"
            )
            self.actions_taken.append(record)
            return record
        if self.env.action_guard is not None:
            from orchestrator.tracing import guard_action

            allowed, rule_id, message = guard_action(self.env.action_guard, self, spec, parsed)
            if not allowed:
                record = ActionRecord(
                    name=name,
                    args=parsed.model_dump(mode="json"),
                    ok=False,
                    message=message,
                    blocked_by=rule_id,
                )
                self.actions_taken.append(record)
                return record
        if isinstance(self.db, ReadFirstSession):
            # the action's checks and writes see current rows, under the write lock
            self.db.begin_writing()
        try:
            # a savepoint: a failed action must not poison the rest of the run's transaction
            with self.db.begin_nested():
                result = spec.run(self, parsed)
        except (SQLAlchemyError, ValueError) as exc:
            record = ActionRecord(
                name=name,
                args=parsed.model_dump(mode="json"),
                ok=False,
                message=f"{type(exc).__name__}: {exc}",
            )
        else:
            record = ActionRecord(
                name=name, args=parsed.model_dump(mode="json"), ok=True, result=_jsonable(result)
            )
        self.actions_taken.append(record)
        return record


def frozen(value: Any) -> Any:
    """A read-only deep copy: mappings become MappingProxyType, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def failed_result(task: Task, department: str, error: str) -> DepartmentResult:
    return DepartmentResult(
        department=department,
        task_id=task.id,
        status="needs_human",
        reason="the department could not complete this automatically",
        error=error,
    )


def run_department(env: DispatchEnv, department_name: str, task: Task, **options: Any) -> DepartmentResult:
    """Run one department on one task and wait for the result; `options` as for `start_department`
    (conversation_id, turn_id, customer, jurisdiction, history, policy)."""
    return start_department(env, department_name, task, **options).result()


@dataclass
class PendingRun:
    """A department run started on the shared pool; `result()` waits for it within its budget."""

    department: str
    task: Task
    timeout_s: float
    started: float
    future: Future[DepartmentResult] | None = None
    abandoned: threading.Event = field(default_factory=threading.Event)
    failed: DepartmentResult | None = None  # known before the run started (department not loaded)

    def result(self) -> DepartmentResult:
        """The validated result, or a `needs_human` result saying why there is none (never raises)."""
        if self.failed is not None or self.future is None:
            return self.failed or failed_result(self.task, self.department, "the run did not start")
        left = max(0.0, self.started + self.timeout_s - time.monotonic())
        try:
            return self.future.result(timeout=left)
        except FutureTimeout:
            self.abandoned.set()
            log.warning(
                "department %s timed out on task %s after %.1fs",
                self.department,
                self.task.id,
                self.timeout_s,
            )
            return failed_result(self.task, self.department, f"timed out after {self.timeout_s:g}s")
        except _InvalidOutput as exc:
            log.warning(
                "department %s returned invalid output for task %s: %s", self.department, self.task.id, exc
            )
            return failed_result(self.task, self.department, f"invalid output: {exc}")
        except Exception as exc:
            log.warning(
                "department %s failed on task %s: %s: %s",
                self.department,
                self.task.id,
                type(exc).__name__,
                exc,
            )
            return failed_result(self.task, self.department, f"{type(exc).__name__}: {exc}")


def as_finished(runs: Sequence[PendingRun]) -> Iterator[tuple[int, DepartmentResult]]:
    """(index, result) of each run as it finishes; a run past its budget comes as its timeout result."""
    waiting: dict[Future[DepartmentResult], int] = {}
    for i, run in enumerate(runs):
        if run.future is None:
            yield i, run.result()
        else:
            waiting[run.future] = i
    while waiting:
        deadline = min(runs[i].started + runs[i].timeout_s for i in waiting.values())
        done, _ = wait(waiting, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
        if not done:  # the earliest budget ran out: those runs are reported as timed out
            now = time.monotonic()
            done = {f for f, i in waiting.items() if runs[i].started + runs[i].timeout_s <= now}
        for future in done:
            i = waiting.pop(future)
            yield i, runs[i].result()


def start_department(
    env: DispatchEnv,
    department_name: str,
    task: Task,
    *,
    conversation_id: str,
    turn_id: str,
    customer: CustomerView | None,
    jurisdiction: str,
    history: Sequence[dict[str, Any]] = (),
    policy: Mapping[str, Any] | None = None,
    context: contextvars.Context | None = None,
) -> PendingRun:
    """Start one run on the shared pool and return at once: several started together run in parallel.

    `policy`: the plan decision's view for departments (None or {}: no policy applies).
    `context`: what the run sees as current (span, telemetry); default a copy of the caller's.
    Each call needs its own context: a Context cannot run in two threads at once.
    """
    pending = PendingRun(department_name, task, env.timeout_s, time.monotonic())
    department = env.plugins.departments.get(department_name)
    if department is None:
        pending.failed = failed_result(task, department_name, f"department {department_name!r} is not loaded")
        return pending
    view = frozen(policy) if policy else NO_POLICY
    abandoned = pending.abandoned
    slots = env.run_slots

    def work() -> DepartmentResult:
        if slots is None:
            return run()
        # a slot first: runs that hold part of the pool must not wait on each other for the rest
        # (see orchestrator.db.runs_admitted); a run whose budget ran out while it waited never starts
        while not slots.acquire(timeout=0.05):
            if abandoned.is_set():
                raise _Abandoned()
        try:
            return run()
        finally:
            slots.release()

    def run() -> DepartmentResult:
        from orchestrator.knowledge.notes import Notes

        # reads take no write lock until the run writes: runs that only read never wait for writers
        with ReadFirstSession(env.engine) as session:
            notes = Notes(
                session,
                conversation_id=conversation_id,
                department=department_name,
                customer_id=customer.id if customer else None,
            )
            ctx = RunContext(
                env=env,
                department=department,
                conversation_id=conversation_id,
                turn_id=turn_id,
                customer=customer,
                jurisdiction=jurisdiction,
                history=history,
                db=session,
                notes=notes,
                abandoned=abandoned,
                policy=view,
            )
            output = department.handle(task, ctx)
            result = _validate(output, department_name, task)
            if abandoned.is_set():
                session.rollback()
                raise _Abandoned()
            written: list[CaseNote] = list(getattr(notes, "written", []))
            session.commit()
            return result.model_copy(update={"actions": tuple(ctx.actions_taken), "notes": tuple(written)})

    # the worker runs in this context (current span, current telemetry): its spans join the turn's trace
    run_in = context if context is not None else contextvars.copy_context()
    pending.future = _pool.submit(run_in.run, work)
    return pending


class _InvalidOutput(Exception):
    pass


def _validate(output: Any, department: str, task: Task) -> DepartmentResult:
    if isinstance(output, dict):
        try:
            output = DepartmentResult.model_validate(output)
        except ValidationError as exc:
            raise _InvalidOutput(str(exc.errors()[0]["msg"])) from exc
    if not isinstance(output, DepartmentResult):
        raise _InvalidOutput(f"handle() returned {type(output).__name__}, expected DepartmentResult")
    if output.task_id != task.id:
        output = output.model_copy(update={"task_id": task.id})
    if output.department != department:
        output = output.model_copy(update={"department": department})
    if output.status == "resolved" and not output.reply.strip():
        raise _InvalidOutput("status resolved with an empty reply")
    return output
