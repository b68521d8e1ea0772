"""One queue for the writers of a SQLite database, across threads and processes.

SQLite lets one writer in at a time. The others wait in its busy handler, which sleeps
1, 2, 5, 10, ... up to 100 ms between tries, so a writer often sleeps on long after the
database came free: with two worker processes, department runs spent half their time
there. Writers here queue on a lock of ours first, and BEGIN IMMEDIATE then finds the
database free:

- threads of one process on a `threading.Lock`, handed over as soon as it is released;
- processes on an `flock` of `<database>.locks/write.lock`, tried every 0.25 to 2 ms.

The lock is held from BEGIN IMMEDIATE to COMMIT or ROLLBACK (orchestrator.db issues all
three for the application's engines; the LangGraph checkpointer takes it around each
save). A writer that waits longer than `wait_seconds` gets `DatabaseBusy`, as SQLite's own
busy timeout would have failed it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.errors import BusyError

WAIT_SECONDS = 30.0  # as the connections' busy_timeout
_FIRST_POLL = 0.00025
_LONGEST_POLL = 0.002

try:
    import fcntl
except ImportError:  # no flock (Windows): threads still queue, processes fall back to SQLite's wait
    fcntl = None  # type: ignore[assignment]


class DatabaseBusy(BusyError):
    """Another writer kept the database for longer than the wait allowed."""


class WriteQueue:
    """`acquire()` / `release()`, or `with queue.held():`. Not re-entrant: one write transaction
    per thread at a time, as SQLite allows anyway."""

    def __init__(self, lock_file: Path, *, wait_seconds: float = WAIT_SECONDS) -> None:
        self.lock_file = lock_file
        self.wait_seconds = wait_seconds
        self._local = threading.Lock()
        self._fd: int | None = None  # the flock's descriptor while the lock is held
        # the lock file stays open between writes (a turn writes three or four times; creating the
        # folder and opening the file each time cost more than the flock); a forked child opens
        # its own, since an inherited descriptor would share the parent's flock
        self._file: tuple[int, int] | None = None  # (pid, descriptor)

    def acquire(self) -> None:
        started = time.monotonic()
        if not self._local.acquire(timeout=self.wait_seconds):
            raise self._busy()
        try:
            self._fd = self._lock_file(started)
        except BaseException:
            self._local.release()
            raise

    def release(self) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None and fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._local.release()

    def close(self) -> None:
        """Close this process's lock file (a disposed engine gives it back); the next write opens
        it again. Waits for a write of this process that holds the queue, as a writer would."""
        if not self._local.acquire(timeout=self.wait_seconds):
            return  # a stuck writer: leave the file open rather than pull the lock from under it
        try:
            file, self._file = self._file, None
            if file is not None:
                os.close(file[1])
        finally:
            self._local.release()

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def _lock_file(self, started: float) -> int | None:
        if fcntl is None:
            return None
        fd = self._open()
        pause = _FIRST_POLL
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() - started > self.wait_seconds:
                    raise self._busy() from None
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_POLL)

    def _open(self) -> int:
        """This process's descriptor of the lock file (called with the thread lock held)."""
        pid = os.getpid()
        if self._file is not None and self._file[0] == pid:
            return self._file[1]
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._file = (pid, fd)
        return fd

    def _busy(self) -> DatabaseBusy:
        return DatabaseBusy(
            f"the database stayed locked by another writer for {self.wait_seconds:.0f} s "
            f"(lock file {self.lock_file}); try again, and look for a stuck crossdesk process"
        )


_queues: dict[str, WriteQueue] = {}
_queues_guard = threading.Lock()


def queue_for(database: str) -> WriteQueue:
    """The process's one queue for the SQLite database file `database` (engines, the span store
    and the checkpointer of one database share it)."""
    key = os.path.realpath(database)
    with _queues_guard:
        queue = _queues.get(key)
        if queue is None:
            queue = _queues[key] = WriteQueue(Path(key + ".locks") / "write.lock")
        return queue
