"""Many turns at once in one process (a worker's threads) share the database without starving each other."""

from __future__ import annotations

import threading
from typing import Any

# three departments a turn: each run holds a read and a write connection, and its searches a third
THREE = "I can't log in and I was charged a fee I don't recognise and I want to close my account"
TURNS_AT_ONCE = 8


def test_eight_three_department_turns_at_once_all_finish_without_a_department_timing_out(orch: Any) -> None:
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
    # a pool smaller than what the turns hold at once used to leave runs waiting for a connection
    # until their 10 s budget ran out
    assert errors == []
    assert len(dispatches) == TURNS_AT_ONCE and min(dispatches) >= 3
