"""PostgreSQL specifics: connection strings for psycopg, start-up locks and the LangGraph checkpointer.

Several workers may start at once against one database; schema creation and the
checkpointer's migrations then run under a session advisory lock so they never race.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection, make_url

log = logging.getLogger(__name__)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string (drops the `+driver` part)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgres"):
        raise ValueError(f"{url!r} is not a PostgreSQL URL")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def lock_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


@contextmanager
def advisory_lock(conn: Connection, name: str) -> Iterator[None]:
    """Hold a transaction-level advisory lock named `name` on `conn` (released at commit)."""
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (lock_key(name),))
    yield


def postgres_checkpointer(url: str, *, max_size: int = 16) -> tuple[Any, Any]:
    """A PostgresSaver on a connection pool, with its tables set up; returns (saver, pool)."""
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    conninfo = libpq_url(url)
    # migrations use CREATE INDEX CONCURRENTLY: autocommit, serialised between starting workers
    with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
        # poll with try-lock: a worker blocked inside pg_advisory_lock is itself an open transaction,
        # and the holder's CREATE INDEX CONCURRENTLY would wait for it: a deadlock
        key = lock_key("crossdesk-checkpointer")
        deadline = time.monotonic() + 120
        while not (conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (key,)).fetchone() or {}).get("ok"):
            if time.monotonic() > deadline:
                raise TimeoutError("another process has held the checkpointer migration lock for 120 s")
            time.sleep(0.05)
        try:
            PostgresSaver(conn).setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key("crossdesk-checkpointer"),))
    pool = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=True,
        check=ConnectionPool.check_connection,
    )
    return _pruning(PostgresSaver)(pool), pool


# the saver's prune is a transaction of several statements (about 5 ms a call, against 3 ms for a
# whole small graph run): run it on one save in PRUNE_EVERY, picked by the new checkpoint's id,
# which keeps about that many checkpoints per conversation
PRUNE_EVERY = 8


def _pruning(saver_class: Any) -> Any:
    """The saver, dropping a conversation's superseded checkpoints now and then as it saves.

    A turn only resumes from the latest checkpoint (nothing replays or forks older ones); kept,
    they grew the database by a whole state per turn. A failed prune loses nothing (a later
    save prunes again), so it is logged, not raised."""

    class PruningPostgresSaver(saver_class):
        def put(self, *args: Any, **kwargs: Any) -> Any:
            saved = super().put(*args, **kwargs)
            if zlib.crc32(str(saved["configurable"]["checkpoint_id"]).encode()) % PRUNE_EVERY:
                return saved
            thread_id = str(saved["configurable"]["thread_id"])
            try:
                self.prune([thread_id], strategy="keep_latest")
            except Exception:
                log.warning("could not prune the checkpoints of conversation %s", thread_id, exc_info=True)
            return saved

    return PruningPostgresSaver
