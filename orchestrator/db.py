"""One database for everything: engine creation and schema set-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

_READONLY = "crossdesk_readonly"


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: on SQLite its transactions take no write lock."""
    return engine.execution_options(**{_READONLY: True})


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        from pathlib import Path

        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

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

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front: concurrent writers then wait (busy_timeout)
            # instead of failing with SQLITE_BUSY when a read turns into a write. Read-only work
            # goes through `reader(engine)` and takes no lock.
            if conn.get_execution_options().get(_READONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


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
