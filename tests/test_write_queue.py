"""SQLite writers queue on orchestrator.writequeue, across threads and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator.db import make_engine, reader
from orchestrator.writequeue import DatabaseBusy, WriteQueue, queue_for

pytest.importorskip("fcntl")

HOLD = textwrap.dedent(
    """
    import sys, time
    from orchestrator.writequeue import queue_for
    queue = queue_for(sys.argv[1])
    queue.acquire()
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    queue.release()
    """
)

WRITE = textwrap.dedent(
    """
    import sys
    from sqlalchemy import text
    from orchestrator.db import make_engine
    engine = make_engine("sqlite:///" + sys.argv[1])
    for i in range(int(sys.argv[3])):
        with engine.begin() as conn:
            n = conn.execute(text("SELECT n FROM counter")).scalar_one()
            conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
            conn.execute(text("INSERT INTO seen (who) VALUES (:who)"), {"who": sys.argv[2]})
    """
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
        conn.execute(text("CREATE TABLE seen (who TEXT)"))
    engine.dispose()
    return path


def count(path: Path) -> int:
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT n FROM counter")).scalar_one())
    engine.dispose()
    return n


def test_writers_in_two_processes_and_two_threads_lose_no_update(db: Path) -> None:
    # read-then-write increments: without one writer at a time, updates would be lost
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITE, str(db), f"p{i}", "150"], stderr=subprocess.PIPE)
        for i in range(2)
    ]
    engine = make_engine(f"sqlite:///{db}")
    errors: list[BaseException] = []

    def bump(who: str) -> None:
        try:
            for _ in range(100):
                with engine.begin() as conn:
                    n = conn.execute(text("SELECT n FROM counter")).scalar_one()
                    conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
                    conn.execute(text("INSERT INTO seen (who) VALUES (:who)"), {"who": who})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(f"t{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    engine.dispose()
    assert not errors
    assert count(db) == 2 * 150 + 2 * 100
    assert (db.parent / "app.db.locks" / "write.lock").exists()


def test_a_write_waits_for_a_writer_in_another_process_and_reads_do_not(db: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db), "2.0"], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    engine = make_engine(f"sqlite:///{db}")
    started = time.monotonic()
    with reader(engine).connect() as conn:  # a read takes no place in the queue
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 0
    read_done = time.monotonic() - started
    with engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = 1"))
    write_done = time.monotonic() - started
    holder.wait(timeout=30)
    engine.dispose()
    assert read_done < 0.5 <= write_done  # the holder kept the queue for two seconds
    assert count(db) == 1


def test_a_writer_that_waits_too_long_gets_a_clear_error_and_the_queue_is_free_after(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "1.5"], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    impatient = WriteQueue(queue_for(str(path)).lock_file, wait_seconds=0.2)
    with pytest.raises(DatabaseBusy, match=r"locked by another writer for 0 s .*write\.lock"):
        impatient.acquire()
    holder.wait(timeout=30)
    with impatient.held():  # the failed wait left nothing behind
        pass


def test_a_transaction_dropped_without_commit_gives_the_queue_back(db: Path) -> None:
    engine = make_engine(f"sqlite:///{db}")
    conn = engine.connect()
    conn.begin()
    conn.execute(text("UPDATE counter SET n = 5"))
    conn.close()  # no commit: rolled back, and the next writer is not kept waiting
    with pytest.raises(ZeroDivisionError), engine.begin() as failing:
        failing.execute(text("UPDATE counter SET n = 7"))
        _ = 1 / 0  # an error inside the transaction: rolled back, the queue given back

    def write() -> None:
        with engine.begin() as c:
            c.execute(text("UPDATE counter SET n = n + 1"))

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(timeout=10)  # a queue left held would keep it for 30 s
    assert not writer.is_alive()
    engine.dispose()
    assert count(db) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_queues_behind_its_parent(tmp_path: Path) -> None:
    # the lock file stays open between writes: a child forked after the parent's first write
    # must open its own, or it would share the parent's flock and write alongside it
    queue = WriteQueue(tmp_path / "x.db.locks" / "write.lock", wait_seconds=0.3)
    with queue.held():
        pass
    held_r, held_w = os.pipe()
    verdict_r, verdict_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child, with a copy of the parent's queue
        os.read(held_r, 1)
        try:
            queue.acquire()
            verdict = b"acquired"
        except DatabaseBusy:
            verdict = b"busy"
        os.write(verdict_w, verdict)
        os._exit(0)
    with queue.held():
        os.write(held_w, b"x")
        verdict = os.read(verdict_r, 16)
    os.waitpid(pid, 0)
    for fd in (held_r, held_w, verdict_r, verdict_w):
        os.close(fd)
    assert verdict == b"busy"
    with queue.held():  # and the parent goes on writing
        pass


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_disposed_engines_give_their_lock_files_back(tmp_path: Path) -> None:
    def open_descriptors() -> int:
        return len(list(Path("/proc/self/fd").iterdir()))

    before = open_descriptors()
    for i in range(40):  # what a test run or a tool going through many databases does
        engine = make_engine(f"sqlite:///{tmp_path / f'db{i}.db'}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
        engine.dispose()
    assert open_descriptors() - before < 10
    again = make_engine(f"sqlite:///{tmp_path / 'db0.db'}")  # the queue opens its file again
    with again.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    again.dispose()
