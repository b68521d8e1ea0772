"""The idempotency record of incoming messages, and running a turn for one of them exactly once.

A request row is created when a message arrives (`open_request`). Whoever runs the
turn (the API in inline mode, a worker in broker mode) goes through `TurnRunner`,
whose recorder writer marks the row `done` with its reply inside the turn's own
transaction. A second run of the same message (a redelivery after a crash, a
duplicate POST) finds the row done and only reads the stored reply; if two runs
race, the later commit fails and is rolled back whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, col

from orchestrator.errors import BusyError, CrossdeskError, InputError, NotFoundError
from orchestrator.records import utcnow
from orchestrator.service.tables import DONE, FAILED, PENDING, ServiceRequest

if TYPE_CHECKING:
    from orchestrator.runtime import Orchestrator

log = logging.getLogger(__name__)
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
T = TypeVar("T")


class IdempotencyConflict(CrossdeskError):
    """The Idempotency-Key was used before for a different request."""


class AlreadyAnswered(Exception):
    """Raised inside a turn's transaction when another run answered the message first: rolls it back."""


def check_key(key: str | None) -> str:
    if not key or not _KEY.match(key):
        raise InputError(
            "send an Idempotency-Key header (1-200 printable ASCII characters, e.g. a UUID) so a retried "
            "request is answered once"
        )
    return key


def request_id(tenant: str | None, key: str) -> str:
    return f"{tenant or ''}/{key}"


def body_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def view(row: ServiceRequest) -> dict[str, Any]:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "status": row.status,
        "http_status": row.http_status,
        "response": row.response,
        "attempts": row.attempts,
        "worker": row.worker,
        "payload": dict(row.payload),
        "enqueued_at": row.enqueued_at,
    }


def get_request(engine: Any, rid: str) -> dict[str, Any] | None:
    with Session(engine) as session:
        row = session.get(ServiceRequest, rid)
        return view(row) if row is not None else None


def open_request(engine: Any, rid: str, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The request row for `rid`, created if new; (row, created). A reused key with another body fails."""
    digest = body_hash(payload)
    try:
        with Session(engine) as session:
            session.add(
                ServiceRequest(
                    id=rid, conversation_id=payload["conversation_id"], request_hash=digest, payload=payload
                )
            )
            session.commit()
        created = True
    except IntegrityError:
        created = False
    with Session(engine) as session:
        row = session.get(ServiceRequest, rid)
        if row is None:  # pragma: no cover - a row cannot vanish; it is never deleted
            raise CrossdeskError(f"request {rid} disappeared while being opened; retry it")
        if row.request_hash != digest:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used for a different message or conversation; "
                "use a new key for a new message"
            )
        return view(row), created


def mark_enqueued(engine: Any, rid: str) -> None:
    with Session(engine) as session:
        session.exec(update(ServiceRequest).where(col(ServiceRequest.id) == rid).values(enqueued_at=utcnow()))
        session.commit()


def finish(
    engine: Any, rid: str, status: str, http_status: int, response: dict[str, Any], worker: str
) -> bool:
    """Close a pending request; False when it was closed already (the first answer stands)."""
    with Session(engine) as session:
        res = session.exec(
            update(ServiceRequest)
            .where(col(ServiceRequest.id) == rid, col(ServiceRequest.status) == PENDING)
            .values(
                status=status, http_status=http_status, response=response, worker=worker, finished_at=utcnow()
            )
        )
        session.commit()
        return bool(res.rowcount)


def http_status_of(exc: CrossdeskError) -> int:
    from orchestrator.takeover import TakeoverError

    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, TakeoverError | IdempotencyConflict | BusyError):
        return 409
    if isinstance(exc, InputError):
        return 422
    return 400


def transient(exc: BaseException) -> bool:
    """A database error worth retrying: a dropped connection, a serialisation failure, a deadlock."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is only needed on PostgreSQL
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.errors.SerializationFailure)


def with_retries(fn: Callable[[], T], *, attempts: int = 3, delay_s: float = 0.2) -> T:
    """Run `fn`, retrying on transient database errors with a growing pause."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not transient(exc):
                raise
            log.warning("transient database error (attempt %s of %s): %r; retrying", attempt, attempts, exc)
            time.sleep(delay_s * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class _Running:
    rid: str
    conversation_id: str
    message: str
    worker: str
    answered: bool = False


_running: ContextVar[_Running | None] = ContextVar("crossdesk_service_request", default=None)


def catch_up_checkpoint(orch: Orchestrator, conversation_id: str) -> int:
    """Add turns the database has but the checkpoint lacks to the conversation's history; returns how many.

    The turn record commits before the graph writes its last checkpoint, so a worker killed
    between the two leaves a checkpoint one turn behind: without this, the next turn would
    reuse that turn's number and miss it from the conversation's context."""
    from sqlmodel import select

    from orchestrator.records import Conversation, Message, TurnRecord

    with Session(orch.reader) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None or not conv.turns:
            return 0
        config: Any = {"configurable": {"thread_id": conversation_id}}
        history = orch.graph.get_state(config).values.get("history") or []
        last = int(history[-1].get("seq", 0)) if history else 0
        if conv.turns <= last:
            return 0
        records = session.exec(
            select(TurnRecord)
            .where(TurnRecord.conversation_id == conversation_id, col(TurnRecord.seq) > last)
            .order_by(col(TurnRecord.seq))
        ).all()
        entries = []
        for rec in records:
            said = {
                m.role: m.text
                for m in session.exec(
                    select(Message).where(Message.turn_id == rec.id).order_by(col(Message.id))
                )
            }
            entries.append(
                {
                    "seq": rec.seq,
                    "turn_id": rec.id,
                    "message": said.get("customer", ""),
                    "reply": said.get("assistant", ""),
                    "tasks": [
                        {
                            k: t.get(k)
                            for k in (
                                "id",
                                "text",
                                "department",
                                "intent",
                                "confidence",
                                "entities",
                                "status",
                            )
                        }
                        for t in rec.record.get("tasks", [])
                    ],
                }
            )
    if entries:
        log.warning(
            "conversation %s: checkpoint was %s turn(s) behind the database; caught up",
            conversation_id,
            len(entries),
        )
        orch.graph.update_state(config, {"history": entries}, as_node="finalize")
    return len(entries)


def record_answer(session: Session, state: Any, record: dict[str, Any]) -> None:
    """Recorder writer: mark the running request answered, in the turn's own transaction."""
    run = _running.get()
    if (
        run is None
        or state.get("conversation_id") != run.conversation_id
        or state.get("message") != run.message
    ):
        return  # not a turn started by a TurnRunner (a CLI turn, a resume after release)
    from orchestrator.runtime import TurnOutcome

    outcome = TurnOutcome(run.conversation_id, state.get("reply", ""), record).as_json()
    res = session.exec(
        update(ServiceRequest)
        .where(col(ServiceRequest.id) == run.rid, col(ServiceRequest.status) == PENDING)
        .values(status=DONE, http_status=200, response=outcome, worker=run.worker, finished_at=utcnow())
    )
    if res.rowcount != 1:
        raise AlreadyAnswered(run.rid)
    run.answered = True


class TurnRunner:
    """Runs the turn of a request row once. Installs `record_answer` in the orchestrator's recorder."""

    def __init__(self, orch: Orchestrator, worker: str) -> None:
        self.orch = orch
        self.worker = worker
        writers = orch.services.recorder.writers  # type: ignore[attr-defined]
        if record_answer not in writers:
            writers.append(record_answer)

    def run(self, rid: str) -> dict[str, Any]:
        """Answer request `rid` (unless it was answered already) and return its row."""
        row = with_retries(lambda: get_request(self.orch.engine, rid))
        if row is None:
            raise NotFoundError(f"request {rid} does not exist")
        if row["status"] != PENDING:
            return row
        with_retries(lambda: self._count_attempt(rid))
        return with_retries(lambda: self._run_once(rid, row["payload"]))

    def _count_attempt(self, rid: str) -> None:
        with Session(self.orch.engine) as session:
            session.exec(
                update(ServiceRequest)
                .where(col(ServiceRequest.id) == rid)
                .values(attempts=col(ServiceRequest.attempts) + 1)
            )
            session.commit()

    def _run_once(self, rid: str, payload: dict[str, Any]) -> dict[str, Any]:
        engine = self.orch.engine
        current = get_request(engine, rid)
        if current is None or current["status"] != PENDING:
            return current or {}
        catch_up_checkpoint(self.orch, payload["conversation_id"])
        run = _Running(rid, payload["conversation_id"], payload["text"], self.worker)
        token = _running.set(run)
        try:
            outcome = self.orch.ask(
                payload["text"],
                conversation_id=payload["conversation_id"],
                customer_id=payload.get("customer_id"),
                jurisdiction=payload.get("jurisdiction"),
            )
            if not run.answered:
                # no turn record was written (the conversation is with an operator): close it here
                finish(engine, rid, DONE, 200, outcome.as_json(), self.worker)
        except AlreadyAnswered:
            log.info("request %s was answered by another run; its turn was rolled back", rid)
        except CrossdeskError as exc:
            finish(engine, rid, FAILED, http_status_of(exc), {"error": str(exc)}, self.worker)
        finally:
            _running.reset(token)
        return get_request(engine, rid) or {}

    def give_up(self, rid: str, exc: BaseException) -> None:
        """Answer a request that keeps failing with an error instead of retrying it for ever."""
        finish(
            self.orch.engine,
            rid,
            FAILED,
            500,
            {"error": f"the message could not be processed ({type(exc).__name__}); it was not answered"},
            self.worker,
        )
