"""Many turns at once in one process (a worker's threads) share the database without starving each other."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# three departments a turn: each run holds a read and a write connection, and its searches a third
THREE = "I can't log in and I was charged a fee I don't recognise and I want to close my account"
TURNS_AT_ONCE = 8


def _eight_turns_at_once(orch: Any) -> tuple[list[int], list[str]]:
    errors: list[str] = []
    dispatches: list[int] = []
    failures: list[BaseException] = []

    def turn(n: int) -> None:
        try:
            out = orch.ask(THREE, conversation_id=f"together-{n}", customer_id=f"C10{n + 1:02d}")
        except BaseException as exc:  # the assertion below reports it
            failures.append(exc)
            return
        dispatches.append(len(out.record["dispatches"]))
        errors.extend(d["error"] for d in out.record["dispatches"] if d.get("error"))

    threads = [threading.Thread(target=turn, args=(n,)) for n in range(TURNS_AT_ONCE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    return dispatches, errors


def test_eight_three_department_turns_at_once_all_finish_without_a_department_timing_out(orch: Any) -> None:
    dispatches, errors = _eight_turns_at_once(orch)
    # a pool smaller than what the turns hold at once used to leave runs waiting for a connection
    # until their 10 s budget ran out
    assert errors == []
    assert len(dispatches) == TURNS_AT_ONCE and min(dispatches) >= 3


@pytest.fixture
def small_pool_orch(seeded_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator

    monkeypatch.setenv("CROSSDESK_DB_POOL", "6")
    # this is about waiting forever, not speed: runs queued for the pool's one run slot must not
    # time out on a slow machine
    monkeypatch.setenv("CROSSDESK_DEPARTMENT_TIMEOUT", "60")
    o = Orchestrator(load_settings())
    yield o
    o.close()


def test_a_pool_far_smaller_than_the_runs_want_queues_them_instead_of_deadlocking(
    small_pool_orch: Any,
) -> None:
    slots = small_pool_orch.services.dispatch.run_slots
    assert slots is not None
    # 24 runs want up to 72 connections from a pool of 6: before runs waited for a slot, each took
    # a connection and waited for a second until the pool's own 30 s timeout failed them all
    dispatches, errors = _eight_turns_at_once(small_pool_orch)
    assert errors == []
    assert len(dispatches) == TURNS_AT_ONCE and min(dispatches) >= 3
    # the slot (this pool has one) was given back
    assert slots.acquire(blocking=False)
    slots.release()


def test_a_pool_too_small_for_one_run_is_refused_with_the_setting_to_change(
    crossdesk_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.config import ConfigError, load_settings

    monkeypatch.setenv("CROSSDESK_DB_POOL", "2")
    with pytest.raises(ConfigError, match=r"CROSSDESK_DB_POOL to at least 4"):
        load_settings()
    monkeypatch.setenv("CROSSDESK_DB_POOL", "many")
    with pytest.raises(ConfigError, match=r"CROSSDESK_DB_POOL='many' is not a valid int"):
        load_settings()
