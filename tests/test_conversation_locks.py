"""One turn at a time per conversation: across threads, Orchestrators and processes, on both databases."""

from __future__ import annotations

import multiprocessing
import threading
import time
import zlib
from pathlib import Path

import pytest

from orchestrator import takeover
from orchestrator.config import load_settings
from orchestrator.convlock import STRIPES, ConversationBusy, ConversationLocks, KeyedLocks
from orchestrator.runtime import Orchestrator

HOLD = 0.6


def test_keyed_locks_serialise_one_key_and_forget_it_when_free() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with locks.hold("c1"):
            inside.set()
            time.sleep(0.2)
            order.append("first out")

    t = threading.Thread(target=first)
    t.start()
    inside.wait(5)
    with locks.hold("c2"):  # another conversation is not held up
        order.append("other")
    with locks.hold("c1"):
        order.append("second in")
    t.join()
    assert order == ["other", "first out", "second in"]
    # a server that has seen many conversations keeps no lock for any of them
    for i in range(1000):
        with locks.hold(f"conv-{i}"):
            pass
    assert len(locks) == 0


def _other_stripes(a: str) -> str:
    n = 0
    while zlib.crc32(f"b{n}".encode()) % STRIPES == zlib.crc32(a.encode()) % STRIPES:
        n += 1
    return f"b{n}"


def test_two_orchestrators_on_one_database_take_turns(orch: Orchestrator) -> None:
    """A second Orchestrator stands for another process (a worker, the API, the console): its
    in-process locks are its own, so only the database-wide lock can make it wait."""
    other = Orchestrator(load_settings())
    try:
        events: list[str] = []
        held = threading.Event()

        def worker_turn() -> None:
            with orch.conversation_lock("conv-a"):
                held.set()
                time.sleep(HOLD)
                events.append("worker done")

        t = threading.Thread(target=worker_turn)
        t.start()
        assert held.wait(5)
        started = time.monotonic()
        with other.conversation_lock(_other_stripes("conv-a")):
            events.append("other conversation")
        assert time.monotonic() - started < HOLD / 2
        with other.conversation_lock("conv-a"):
            events.append("operator in")
        t.join()
        assert events == ["other conversation", "worker done", "operator in"]
    finally:
        other.close()


def test_a_release_waits_for_the_turn_running_elsewhere(orch: Orchestrator) -> None:
    conv = "conv-lock-release"
    first = orch.ask("I want to talk to a person please", conversation_id=conv, customer_id="C1001")
    assert first.record["status"] == "needs_human"
    takeover.claim(orch.engine, conv, "alice")
    api = Orchestrator(load_settings())  # the API process the operator releases from
    try:
        held = threading.Event()
        finished: list[float] = []

        def worker_turn() -> None:
            with orch.conversation_lock(conv):
                held.set()
                time.sleep(HOLD)
                finished.append(time.monotonic())

        t = threading.Thread(target=worker_turn)
        t.start()
        assert held.wait(5)
        released = takeover.release(api, conv, operator="alice")
        done = time.monotonic()
        t.join()
        assert released["status"] == "released"
        assert finished and done >= finished[0]
    finally:
        api.close()


def test_a_lock_held_too_long_elsewhere_is_a_clear_error(orch: Orchestrator) -> None:
    impatient = ConversationLocks(orch.engine, wait_seconds=0.2)
    holder = ConversationLocks(orch.engine)
    with holder.hold("conv-busy"):
        with pytest.raises(ConversationBusy, match="conv-busy stayed busy"):
            with impatient.hold("conv-busy"):
                pass
    with impatient.hold("conv-busy"):  # free again once the holder is done
        pass


def _hold_in_child(url: str, conversation_id: str, ready: object, seconds: float) -> None:
    from orchestrator.db import make_engine

    engine = make_engine(url)
    with ConversationLocks(engine).hold(conversation_id):
        ready.set()  # type: ignore[attr-defined]
        time.sleep(seconds)
    engine.dispose()


def test_a_lock_held_by_another_process_is_waited_for(orch: Orchestrator, seeded_home: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_hold_in_child, args=(orch.settings.database_url, "conv-proc", ready, HOLD))
    child.start()
    try:
        assert ready.wait(60)
        started = time.monotonic()
        with orch.conversation_lock("conv-proc"):
            waited = time.monotonic() - started
        assert waited > HOLD / 3
    finally:
        child.join(30)
    assert child.exitcode == 0
