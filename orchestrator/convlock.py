"""One turn at a time per conversation, within a process and across processes.

A worker answering a customer, an operator releasing the same conversation from the API
or the console, and a CLI chat may all live in different processes. Each holds the
conversation's lock for the whole of its graph run:

- in the process: one `threading.Lock` per conversation, kept only while someone holds or
  waits for it, so a long-lived server does not keep a lock for every conversation it saw;
- across processes on PostgreSQL: a session advisory lock on a connection of its own
  (autocommit, so waiting never holds a transaction open);
- across processes on SQLite: an exclusive `flock` on one of `STRIPES` lock files beside
  the database (two conversations may share a stripe; they then take turns, never deadlock,
  as a turn holds one conversation lock only).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.errors import BusyError

STRIPES = 256
POLL_SECONDS = 0.02  # the longest pause between two tries; the first tries come sooner


class ConversationBusy(BusyError):
    """Another process kept the conversation's lock for longer than the wait allowed."""


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0  # holders and waiters


class KeyedLocks:
    """A lock per key, created on first use and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._guard = threading.Lock()

    def __len__(self) -> int:
        with self._guard:
            return len(self._entries)

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._guard:
                entry.users -= 1
                if entry.users == 0:
                    del self._entries[key]


class ConversationLocks:
    """`hold(conversation_id)`: the in-process lock, then the database-wide one."""

    def __init__(self, engine: Engine | None = None, *, wait_seconds: float = 300.0) -> None:
        self.local = KeyedLocks()
        self.engine = engine
        self.wait_seconds = wait_seconds
        self._lock_dir: Path | None = None
        self._pg: Engine | None = None
        if engine is not None and engine.dialect.name == "postgresql":
            from sqlalchemy import create_engine

            # a pool of its own: a turn holds its lock's connection from start to end, and must not
            # take it from the pool its own work (and the department runs) draw from
            self._pg = create_engine(engine.url, pool_size=2, max_overflow=64, pool_pre_ping=True)
        if engine is not None and engine.dialect.name == "sqlite":
            database = engine.url.database
            if database and database != ":memory:":
                self._lock_dir = Path(database + ".locks")

    def close(self) -> None:
        if self._pg is not None:
            self._pg.dispose()

    @contextmanager
    def hold(self, conversation_id: str) -> Iterator[None]:
        with self.local.hold(conversation_id), self._shared(conversation_id):
            yield

    def _shared(self, conversation_id: str) -> AbstractContextManager[None]:
        if self._pg is not None:
            return self._advisory(conversation_id)
        if self._lock_dir is not None:
            return self._flock(conversation_id)
        return nullcontext()

    def _wait(self, started: float, tries: int, conversation_id: str) -> None:
        if time.monotonic() - started > self.wait_seconds:
            raise ConversationBusy(
                f"conversation {conversation_id} stayed busy in another process for {self.wait_seconds:.0f} s; "
                "try again when its current turn has finished"
            )
        time.sleep(min(POLL_SECONDS, 0.001 * 2**tries))

    @contextmanager
    def _advisory(self, conversation_id: str) -> Iterator[None]:
        assert self._pg is not None
        key = zlib.crc32(f"crossdesk-conversation:{conversation_id}".encode())
        with self._pg.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            started, tries = time.monotonic(), 0
            # try-lock polling rather than pg_advisory_lock: a blocked waiter would tie up a backend
            # that the holder's own work may need from the same pool
            while not conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (key,)).scalar():
                self._wait(started, tries, conversation_id)
                tries += 1
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))

    @contextmanager
    def _flock(self, conversation_id: str) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): one process per SQLite database
            yield
            return
        assert self._lock_dir is not None
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        stripe = zlib.crc32(conversation_id.encode()) % STRIPES
        # a descriptor of its own per holder: flock conflicts between descriptors, even in one process
        fd: Any = open(self._lock_dir / f"{stripe:03d}.lock", "a+b")
        try:
            started, tries = time.monotonic(), 0
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    self._wait(started, tries, conversation_id)
                    tries += 1
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            fd.close()
