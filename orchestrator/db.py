"""One database for everything: engine creation and schema set-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from orchestrator.writequeue import queue_for

_READONLY = "crossdesk_readonly"
_QUEUED = "crossdesk_write_queue"  # in a connection's info while it holds its database's write queue

# A department run holds up to this many of its engine's connections at once: its reads, its writes
# and a knowledge search on SQLite; its session, a search and an LLM agent's reads elsewhere.
CONNECTIONS_PER_RUN = 3
# connections per engine when the settings name none (CROSSDESK_DB_POOL). SQLite connections are
# cheap; each PostgreSQL one is a server process, and the server allows 100 by default.
DEFAULT_POOL = {"sqlite": 128, "postgresql": 48}
MIN_POOL = CONNECTIONS_PER_RUN + 1  # one run and one turn-level session


def pool_connections(url: str, pool: int = 0) -> int:
    """The connections an engine for `url` may open: `pool`, or DEFAULT_POOL for its database."""
    if pool:
        return pool
    return DEFAULT_POOL["sqlite"] if url.startswith("sqlite") else DEFAULT_POOL["postgresql"]


def runs_admitted(connections: int) -> int:
    """How many department runs a pool of `connections` serves in full at once.

    Runs that each hold one connection and wait for a second can take the whole pool and wait on
    each other until their budgets run out (8 three-department turns did on a loaded machine), so
    only this many run at once, a fifth of the pool kept for the turns' own short sessions (which
    never wait on a run while they hold a connection)."""
    return max(1, (connections - max(1, connections // 5)) // CONNECTIONS_PER_RUN)


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: on SQLite its transactions take no write lock."""
    return engine.execution_options(**{_READONLY: True})


class ReadFirstSession(Session):
    """A session that reads without SQLite's write lock until it writes (a department run's session).

    Its SELECTs run in a read transaction (a WAL snapshot, no lock) until the first write: a flush, an
    INSERT/UPDATE/DELETE, `connection()` or `begin_writing()`. From then on every statement uses one
    write transaction (queued, BEGIN IMMEDIATE), so the run reads its own writes. Runs that only read
    never queue behind other writers. `begin_writing()` also expires what was loaded, so a
    read-modify-write after it works on current rows, not on the earlier snapshot.
    On other databases it is a plain Session.
    """

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._read_bind: Engine | None = reader(engine) if engine.dialect.name == "sqlite" else None
        self.writing = self._read_bind is None

    def get_bind(self, mapper: Any = None, *, clause: Any = None, **kwargs: Any) -> Any:
        if not self.writing:
            if isinstance(clause, Select) and self._read_bind is not None:
                return self._read_bind
            if mapper is not None or clause is not None:  # a flush, or a statement that may write
                self.writing = True
        return super().get_bind(mapper, clause=clause, **kwargs)

    def connection(self, *args: Any, **kwargs: Any) -> Connection:
        self.writing = True  # raw SQL on it may write
        return super().connection(*args, **kwargs)

    def begin_writing(self) -> None:
        """Switch to the write transaction now; objects loaded before are reloaded on next access."""
        if self.writing:
            return
        self.writing = True
        self.flush()
        self.expire_all()


def _end_queued(dbapi_conn: Any, info: dict[str, Any]) -> None:
    queue = info.pop(_QUEUED, None)
    if queue is None:
        return
    try:
        if dbapi_conn is not None and dbapi_conn.in_transaction:
            dbapi_conn.execute("ROLLBACK")
    finally:
        queue.release()


def make_engine(url: str, *, pool: int = 0, **kwargs: Any) -> Engine:
    """An engine for `url` with at most `pool` connections (0: DEFAULT_POOL for its database)."""
    if pool and pool < MIN_POOL:
        raise ValueError(
            f"a pool of {pool} connections is too small: a department run alone holds "
            f"{CONNECTIONS_PER_RUN}; use at least {MIN_POOL}"
        )
    if url.startswith("sqlite"):
        from pathlib import Path

        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # a file database keeps a quarter of its connections open between turns
        connections = pool_connections(url, pool)
        sizing = {"pool_size": connections // 4, "max_overflow": connections - connections // 4}
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **{**(sizing if path and path != ":memory:" else {}), **kwargs},
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # we issue BEGIN ourselves (below), so turn off pysqlite's own transaction handling
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            # WAL lets parallel department runs read while one writes
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        queue = queue_for(path) if path and path != ":memory:" else None
        if queue is not None:

            @event.listens_for(engine, "engine_disposed")
            def _disposed(_engine: Any) -> None:
                # the queue keeps its lock file open between writes; a process that opens and
                # disposes many databases (tests, tools) would otherwise run out of descriptors
                queue.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front: concurrent writers then wait instead of
            # failing with SQLITE_BUSY when a read turns into a write. They wait in our queue
            # (orchestrator.writequeue), not in SQLite's sleeping busy handler. Read-only work goes
            # through `reader(engine)` and takes no lock.
            if conn.get_execution_options().get(_READONLY):
                conn.exec_driver_sql("BEGIN")
                return
            if queue is None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            queue.acquire()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                queue.release()
                raise
            conn.info[_QUEUED] = queue

        @event.listens_for(engine, "commit")
        def _commit(conn: Any) -> None:
            # SQLAlchemy's own commit comes after this event: commit here, so the queue is
            # released when the data is in, then its commit finds nothing left to do. A failed
            # COMMIT keeps the lock until the rollback that follows it.
            queue = conn.info.get(_QUEUED)
            if queue is not None:
                conn.connection.dbapi_connection.execute("COMMIT")
                del conn.info[_QUEUED]
                queue.release()

        @event.listens_for(engine, "rollback")
        def _rollback(conn: Any) -> None:
            info = conn.info
            if _QUEUED not in info:
                return
            try:
                dbapi_conn = conn.connection.dbapi_connection
            except Exception:  # an invalidated connection: nothing left to roll back on it
                dbapi_conn = None
            _end_queued(dbapi_conn, info)

        @event.listens_for(engine.pool, "checkin")
        def _checkin(dbapi_conn: Any, record: Any) -> None:
            # a connection given back with its transaction still open (it was dropped) ends it here
            if dbapi_conn is not None:
                _end_queued(dbapi_conn, record.info)

        return engine
    connections = pool_connections(url, pool)
    sizing = {"pool_size": connections // 3, "max_overflow": connections - connections // 3}
    return create_engine(url, pool_pre_ping=True, **{**sizing, **kwargs})


def import_models() -> None:
    """Import every module that defines tables so SQLModel.metadata knows them."""
    import orchestrator.backend.models
    import orchestrator.knowledge.models
    import orchestrator.records
    import orchestrator.service.tables
    import orchestrator.takeover  # noqa: F401
    import policies.audit  # noqa: F401
    import traces.models  # noqa: F401


def create_schema(engine: Engine) -> None:
    import_models()
    if engine.dialect.name == "postgresql":
        from orchestrator.pgsql import advisory_lock

        # workers starting together would otherwise race on CREATE TABLE
        with engine.begin() as conn, advisory_lock(conn, "crossdesk-schema"):
            SQLModel.metadata.create_all(conn)
    else:
        SQLModel.metadata.create_all(engine)
    from orchestrator.knowledge.store import ensure_search_index

    ensure_search_index(engine)
