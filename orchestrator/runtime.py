"""The Orchestrator: builds the services once and runs turns through the compiled graph."""

from __future__ import annotations

import gc
import logging
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlmodel import Session

from orchestrator.config import ConfigError, Settings, load_settings
from orchestrator.convlock import ConversationLocks
from orchestrator.errors import InputError, NotFoundError
from orchestrator.graph import DURABILITY, PolicyHook, Services, build_graph
from orchestrator.records import AUTOMATED, NEEDS_HUMAN, RESOLVED, Conversation, Message, TurnRecord, utcnow
from orchestrator.state import TurnState
from plugins.contracts import CustomerView
from plugins.manager import PluginSet, load_plugins

log = logging.getLogger(__name__)

_CONVERSATION: Table = Conversation.__table__  # type: ignore[attr-defined]
# built once: SQLAlchemy then reuses their compiled form without rebuilding them every turn
_CONVERSATION_TOTALS = select(_CONVERSATION.c.departments, _CONVERSATION.c.transfers).where(
    _CONVERSATION.c.id == bindparam("cid")
)
_CONVERSATION_OWNER = select(_CONVERSATION.c.customer_id, _CONVERSATION.c.jurisdiction).where(
    _CONVERSATION.c.id == bindparam("cid")
)
_INSERT_CONVERSATION = insert(_CONVERSATION)
_UPDATE_CONVERSATION = update(_CONVERSATION).where(_CONVERSATION.c.id == bindparam("cid"))
_INSERT_TURN = insert(TurnRecord.__table__)  # type: ignore[attr-defined]
_INSERT_MESSAGE = insert(Message.__table__)  # type: ignore[attr-defined]

JURISDICTIONS = ("EU", "UK", "US-CA", "US", "CN", "SG")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\ufeff]")
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass(frozen=True)
class TurnOutcome:
    conversation_id: str
    reply: str
    record: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "reply": self.reply,
            "conversation_id": self.conversation_id,
            "turn_id": self.record.get("turn_id"),
            "status": self.record.get("status"),
            "tasks": self.record.get("tasks", []),
            "unclear": self.record.get("unclear", []),
            "out_of_scope": self.record.get("out_of_scope", False),
            "wants_human": self.record.get("wants_human", False),
            "handoff": self.record.get("handoff"),
            "counts": self.record.get("counts", {}),
            "policy": self.record.get("policy", {}),
            "latency_ms": self.record.get("latency_ms"),
            "trace_id": self.record.get("trace_id"),
        }


def clean_message(text: str, max_chars: int) -> str:
    """Strip control characters and surrounding space; refuse empty or oversized messages."""
    cleaned = _CONTROL.sub("", text.replace("\r\n", "\n")).strip()
    if not cleaned:
        raise InputError(
            'the message is empty; type what the customer wrote, e.g. crossdesk ask "I was charged twice"'
        )
    if len(cleaned) > max_chars:
        raise InputError(
            f"the message has {len(cleaned):,} characters, more than the limit of {max_chars:,}; "
            "split it into several messages or raise max_message_chars in crossdesk.toml"
        )
    return cleaned


# configure_telemetry returns one Telemetry per configuration: orchestrators that share it
# shut it down only when the last of them closes
_telemetry_users: dict[int, int] = {}
_telemetry_lock = threading.Lock()


def _open_telemetry(settings: Settings, given: Any, exporter: Any) -> tuple[Any, bool]:
    """(telemetry, owned). A bad [telemetry] setting is an error; any other failure turns tracing off."""
    from traces.setup import Telemetry, configure_telemetry

    if given is not None:
        return given, False
    try:
        tel = configure_telemetry(settings, exporter=exporter)
    except ConfigError:
        raise
    except Exception as exc:
        log.warning("telemetry could not be set up, tracing is off: %r", exc)
        return Telemetry.disabled(), False
    with _telemetry_lock:
        _telemetry_users[id(tel)] = _telemetry_users.get(id(tel), 0) + 1
    return tel, True


def _release_telemetry(tel: Any) -> bool:
    """True when no other orchestrator uses `tel` any more."""
    with _telemetry_lock:
        left = _telemetry_users.get(id(tel), 1) - 1
        if left > 0:
            _telemetry_users[id(tel)] = left
            return False
        _telemetry_users.pop(id(tel), None)
        return True


# (session, state, record) -> None: writes more of the turn inside the recorder's transaction
TurnWriter = Callable[[Session, TurnState, dict[str, Any]], Any]


def default_writers() -> list[TurnWriter]:
    """The audit log (policy decisions, actions, erasure) and the operator queue."""
    from orchestrator.takeover import enqueue
    from policies.turn_audit import audit_turn

    return [audit_turn, enqueue]


# a turn allocates thousands of containers that reference counting frees; at CPython's default
# of 700 the young generation was still collected about once a turn (0.33 ms of a 19 ms turn in
# bench/bench_pipeline.py), at this threshold about once in fifty turns (0.09 ms a turn)
YOUNG_COLLECTION_THRESHOLD = 10_000


def freeze_startup_heap() -> None:
    """For a long-running process, once its Orchestrator is built: what start-up loaded (router,
    plugins, policy packs, indexes) leaves the cyclic collector's sight, so a full collection walks
    only what turns create (a 113 ms pause became 6 ms in bench/bench_pipeline.py), and the young
    generation is collected less often (YOUNG_COLLECTION_THRESHOLD)."""
    gc.collect()
    gc.freeze()
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_THRESHOLD), older, oldest)


_SUPERSEDED = "DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id < ?"


def _drop_superseded(saver: Any, saved: Mapping[str, Any]) -> None:
    """Delete a conversation's checkpoints older than the one just saved, and their writes.

    A turn only ever resumes from the latest checkpoint (nothing replays or forks older ones),
    and each holds the whole state: kept, they made the file grow by a state per turn. A
    failure here loses nothing (the next save retries), so it is logged, not raised."""
    key = (str(saved["thread_id"]), saved.get("checkpoint_ns", ""), saved["checkpoint_id"])
    try:
        with saver.cursor() as cur:
            cur.execute(_SUPERSEDED.format(table="writes"), key)
            cur.execute(_SUPERSEDED.format(table="checkpoints"), key)
    except sqlite3.Error:
        log.warning("could not drop the superseded checkpoints of conversation %s", key[0], exc_info=True)


def _queued_saver(saver_class: Any, conn: sqlite3.Connection, path: str) -> Any:
    """A SqliteSaver whose saves queue with the application's other writers of the same database
    (orchestrator.writequeue) instead of waiting in SQLite's busy handler."""
    from orchestrator.writequeue import queue_for

    queue = queue_for(path)

    class QueuedSqliteSaver(saver_class):
        def put(self, *args: Any, **kwargs: Any) -> Any:
            with queue.held():
                saved = super().put(*args, **kwargs)
                _drop_superseded(self, saved["configurable"])
                return saved

        def put_writes(self, *args: Any, **kwargs: Any) -> Any:
            with queue.held():
                return super().put_writes(*args, **kwargs)

        def delete_thread(self, *args: Any, **kwargs: Any) -> Any:
            with queue.held():
                return super().delete_thread(*args, **kwargs)

    return QueuedSqliteSaver(conn)


class DbRecorder:
    """Writes the turn record, updates the conversation row and runs the `writers` (audit log,
    operator queue) in one transaction: all of it is saved, or none."""

    def __init__(self, engine: Any, writers: Sequence[TurnWriter] | None = None) -> None:
        self.engine = engine
        self.writers = list(writers) if writers is not None else default_writers()

    def save_turn(self, state: TurnState, record: dict[str, Any]) -> None:
        # prepared Core statements, not ORM objects: the unit of work and building each statement
        # anew cost more than the writes themselves
        conversation_id = state["conversation_id"]
        now = utcnow()
        c = record["counts"]
        status = {"needs_human": NEEDS_HUMAN, "resolved": RESOLVED}.get(record["status"], AUTOMATED)
        with Session(self.engine) as session:
            row = session.execute(_CONVERSATION_TOTALS, {"cid": conversation_id}).first()
            departments = list((row.departments if row is not None else None) or [])
            for t in record["tasks"]:
                for d in t["departments_tried"]:
                    if d not in departments:
                        departments.append(d)
            values = {
                "departments": departments,
                "turns": record["seq"],
                "transfers": (row.transfers if row is not None else 0) + c["customer_transfers"],
                "status": status,
                "updated_at": now,
            }
            if row is None:
                customer = state.get("customer") or {}
                values.update(
                    id=conversation_id,
                    customer_id=customer.get("id"),
                    jurisdiction=state.get("jurisdiction", "EU"),
                    created_at=now,
                )
                session.execute(_INSERT_CONVERSATION, values)
            else:
                session.execute(_UPDATE_CONVERSATION, {"cid": conversation_id, **values})
            turn = {
                "id": record["turn_id"],
                "conversation_id": conversation_id,
                "seq": record["seq"],
                "created_at": now,
                "status": record["status"],
                "dispatches": c["dispatches"],
                "reroutes": c["reroutes"],
                "escalations": c["escalations"],
                "customer_transfers": c["customer_transfers"],
                "latency_ms": record["latency_ms"],
                "trace_id": record.get("trace_id"),
                "record": record,
            }
            session.execute(_INSERT_TURN, turn)
            messages = [("customer", state["message"])]
            if state.get("reply"):
                messages.append(("assistant", state["reply"]))
            session.execute(
                _INSERT_MESSAGE,
                [
                    {
                        "conversation_id": conversation_id,
                        "turn_id": record["turn_id"],
                        "role": role,
                        "author": "",
                        "text": text,
                        "created_at": now,
                    }
                    for role, text in messages
                ],
            )
            for write in self.writers:
                write(session, state, record)
            session.commit()


class Orchestrator:
    """One per process. Thread-safe for concurrent turns on different conversations."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        plugins: PluginSet | None = None,
        policy: PolicyHook | None = None,
        decomposer: Any = None,
        telemetry: Any = None,
        exporter: Any = None,
        llm_models: Mapping[str, Any] | None = None,
    ) -> None:
        """`telemetry` (a traces.setup.Telemetry, kept open by its owner) or `exporter` (a span
        exporter, e.g. in-memory for tests) replace the telemetry configured in the settings.
        `llm_models` ("provider:model" -> chat model) replaces building the configured models."""
        from orchestrator.db import create_schema, make_engine, pool_connections, reader, runs_admitted
        from orchestrator.dispatch import DispatchEnv
        from orchestrator.knowledge.store import KnowledgeStore

        self.settings = settings or load_settings()
        self.engine = make_engine(self.settings.database_url, pool=self.settings.db_pool)
        self.reader = reader(self.engine)  # read-only work: no write lock on SQLite
        create_schema(self.engine)
        self.plugins = plugins or load_plugins(disabled=self.settings.disabled_plugins)
        if not self.plugins.departments:
            from orchestrator.errors import CrossdeskError

            raise CrossdeskError(
                "no department plugins are loaded; run `crossdesk plugins list` to see why "
                "(and check CROSSDESK_DISABLE_PLUGINS)"
            )
        self.knowledge = KnowledgeStore(self.engine)
        self.decomposer = decomposer or self._decomposer()
        self.telemetry, self._owns_telemetry = _open_telemetry(self.settings, telemetry, exporter)
        dispatch = DispatchEnv(
            engine=self.engine,
            plugins=self.plugins,
            knowledge=self.knowledge,
            timeout_s=self.settings.department_timeout_s,
            run_slots=threading.BoundedSemaphore(
                runs_admitted(pool_connections(self.settings.database_url, self.settings.db_pool))
            ),
        )
        self.services = Services(
            settings=self.settings,
            engine=self.engine,
            plugins=self.plugins,
            decomposer=self.decomposer,
            dispatch=dispatch,
            recorder=DbRecorder(self.engine),
            telemetry=self.telemetry,
        )
        if policy is None:
            from policies.node import PolicyNode

            policy = PolicyNode.from_settings(self.settings, self.plugins, db=self.engine)
        self.services.policy = policy
        # the policy node also decides, before any action runs, whether it may
        guard = getattr(policy, "action_guard", None)
        if guard is not None:
            dispatch.action_guard = guard
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoint_pool: Any = None
        try:
            from orchestrator.llm import build_llm

            # a chat model for the steps [llm] (or CROSSDESK_LLM_MODEL) names; None keeps the embedded path
            self.services.llm = build_llm(
                self.settings, self.plugins, policy, models=llm_models, telemetry=self.telemetry
            )
        except Exception:
            self.close()
            raise
        self.graph = build_graph(self.services).compile(checkpointer=self._checkpointer())
        # one turn at a time per conversation, across this process and any other on the database
        self.conversation_locks = ConversationLocks(self.engine)

    def _decomposer(self) -> Any:
        from orchestrator.nlu import Decomposer, load_router

        # the router `crossdesk train` fitted on the user's history, if any; else the plugins'
        router = load_router(self.settings, self.plugins)
        return Decomposer(
            router,
            threshold=self.settings.confidence_threshold,
            standalone=self.plugins.standalone_intents(),
        )

    def _checkpointer(self) -> Any:
        if self.settings.is_sqlite:
            from langgraph.checkpoint.sqlite import SqliteSaver

            path = self.settings.database_url.split("///", 1)[-1]
            conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            # as the application engine (orchestrator.db): in WAL mode NORMAL survives a crash of the
            # process and skips an fsync per checkpoint write, which was most of a turn's latency
            conn.execute("PRAGMA synchronous=NORMAL")
            self._checkpoint_conn = conn
            return _queued_saver(SqliteSaver, conn, path)
        from orchestrator.pgsql import is_postgres, postgres_checkpointer

        if is_postgres(self.settings.database_url):
            saver, self._checkpoint_pool = postgres_checkpointer(self.settings.database_url)
            return saver
        raise InputError(
            f"no checkpointer for {self.settings.database_url.split(':', 1)[0]}; "
            "use a sqlite:/// or postgresql+psycopg:// URL"
        )

    def customer(self, customer_id: str) -> CustomerView:
        with Session(self.reader) as session:
            return self._customer(session, customer_id)

    @staticmethod
    def _customer(session: Session, customer_id: str) -> CustomerView:
        from orchestrator.backend.queries import find_customer_view

        view = find_customer_view(session, customer_id.strip())
        if view is None:
            raise NotFoundError(
                f"customer {customer_id!r} not found; `crossdesk demo customers` lists the demo customers "
                "(run `crossdesk demo seed` first on a new database)"
            )
        return view

    def conversation_lock(self, conversation_id: str) -> AbstractContextManager[None]:
        """Held for a whole graph run on the conversation (a turn, a release)."""
        return self.conversation_locks.hold(conversation_id)

    def ask(
        self,
        text: str,
        *,
        conversation_id: str | None = None,
        customer_id: str | None = None,
        jurisdiction: str | None = None,
    ) -> TurnOutcome:
        message = clean_message(text, self.settings.max_message_chars)
        if jurisdiction is not None and jurisdiction.upper() not in JURISDICTIONS:
            raise InputError(f"unknown jurisdiction {jurisdiction!r}; use one of {', '.join(JURISDICTIONS)}")
        if conversation_id is not None and not _CONVERSATION_ID.match(conversation_id):
            raise InputError(
                f"conversation id {conversation_id!r} is not valid; use letters, digits and . _ : - (max 128)"
            )
        conversation_id = conversation_id or f"conv-{uuid.uuid4().hex[:12]}"
        config = {"configurable": {"thread_id": conversation_id}}
        with self.conversation_lock(conversation_id):
            from orchestrator.backend.queries import customer_terms
            from orchestrator.takeover import before_turn, is_queued

            with Session(self.reader) as session:  # one read for all of it, no write lock
                customer = self._customer(session, customer_id) if customer_id else None
                # two columns, not the ORM object: loading that cost more than the rest of the read
                existing = session.execute(_CONVERSATION_OWNER, {"cid": conversation_id}).first()
                # a conversation an operator has taken over is theirs; see orchestrator.takeover. A
                # graph run pauses for a person only with an entry open, so most turns skip the rest.
                queued = is_queued(session, conversation_id)
                terms = customer_terms(session, customer.id) if customer is not None else {}
            if (
                existing is not None
                and customer is not None
                and existing.customer_id not in (None, customer.id)
            ):
                raise InputError(
                    f"conversation {conversation_id} belongs to customer {existing.customer_id}, "
                    f"not {customer.id}; start a new conversation (omit --conversation)"
                )
            if customer is None and existing is not None and existing.customer_id:
                with Session(self.reader) as session:
                    customer = self._customer(session, existing.customer_id)
                    terms = customer_terms(session, customer.id)
            juris = (
                (customer.jurisdiction if customer else None)
                or (jurisdiction or "").upper()
                or (existing.jurisdiction if existing else "EU")
            )
            payload: dict[str, Any] = {
                "conversation_id": conversation_id,
                "message": message,
                "customer": customer.model_dump(mode="json") if customer else None,
                "terms": terms,
                "jurisdiction": juris,
                "queued": queued,
            }
            if queued:
                routed = before_turn(self, conversation_id, message)
                if routed is not None:
                    return routed
            state = self._run_turn(payload, config)
        return TurnOutcome(
            conversation_id=conversation_id, reply=state.get("reply", ""), record=state["record"]
        )

    def _run_turn(self, payload: dict[str, Any], config: Any) -> dict[str, Any]:
        """One graph run inside the turn's root span; the span takes its counts from the record."""
        from orchestrator.tracing import finish_turn
        from traces.current import using_telemetry
        from traces.instrument import turn_span

        tel = self.telemetry
        with (
            using_telemetry(tel),
            turn_span(
                tel, conversation_id=payload["conversation_id"], turn_id=None, message=payload["message"]
            ) as turn,
        ):
            payload["trace"] = turn.carrier if turn.recording else None
            state: dict[str, Any] = self.graph.invoke(payload, config, durability=DURABILITY)
            finish_turn(turn, state.get("record"), state.get("reply"))
        return state

    def close(self) -> None:
        # buffered spans are written before the process ends; shared telemetry stays open for others
        if self._owns_telemetry and _release_telemetry(self.telemetry):
            self.telemetry.shutdown()
        elif not self.telemetry.closed:
            self.telemetry.force_flush()
        self._owns_telemetry = False
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
        if self._checkpoint_pool is not None:
            self._checkpoint_pool.close()
        locks = getattr(self, "conversation_locks", None)  # absent when __init__ failed early
        if locks is not None:
            locks.close()
        self.engine.dispose()
