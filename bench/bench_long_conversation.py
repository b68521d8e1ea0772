"""One long conversation: does a turn cost more, and does the database grow faster, as it goes on?

Whole turns through the real Orchestrator on the embedded defaults (as bench_pipeline.py), all
in one conversation of one customer, with bench_turns.py's messages. Reports the median latency
of each block of turns and, at the end, the conversation's checkpoints: how many rows and how
many bytes the SQLite checkpointer holds for it. The turn records are aged by 31 days every
25 turns (outside the timing), as `bench_pipeline.py --history months` does, so the
repeat-contact rule does not hand every turn to a person.

    .venv/bin/python bench/bench_long_conversation.py [--turns 400] [--block 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import _age, _orchestrator, clean_environment, fresh_home, python_speed
from bench_turns import workload

CONVERSATION = "long-1"


def run(turns: int, block: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="crossdesk-bench-long-"))
    try:
        home = fresh_home(root)
        orch = _orchestrator(home)
        work = workload(turns, seed=3)
        customer = work[0][1]
        lat: list[float] = []
        for i, (_, _, message) in enumerate(work):
            if i and i % 25 == 0:
                _age(home / "crossdesk.db")
            started = time.perf_counter()
            orch.ask(message, conversation_id=CONVERSATION, customer_id=customer)
            lat.append((time.perf_counter() - started) * 1000)
        orch.close()
        conn = sqlite3.connect(home / "crossdesk.db")
        rows, size = conn.execute(
            "SELECT count(*), coalesce(sum(length(checkpoint)), 0) FROM checkpoints WHERE thread_id = ?",
            (CONVERSATION,),
        ).fetchone()
        conn.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    blocks = [
        {
            "turns": f"{b + 1}-{min(b + block, turns)}",
            "p50_ms": round(statistics.median(lat[b : b + block]), 2),
        }
        for b in range(0, turns, block)
    ]
    return {"blocks": blocks, "checkpoint_rows": rows, "checkpoint_bytes": size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--block", type=int, default=50, help="turns per reported median")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.turns < 1 or args.block < 1:
        parser.error("--turns and --block must be at least 1")
    logging.basicConfig(level=logging.ERROR)
    clean_environment()
    speed = python_speed()
    report = {
        "command": "python bench/bench_long_conversation.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "python_loop_s": speed,
        **run(args.turns, args.block),
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"10M-step Python loop {speed} s; one conversation of {args.turns} turns")
    for b in report["blocks"]:
        print(f"turns {b['turns']:>9}  p50 {b['p50_ms']:6.2f} ms")
    print(
        f"checkpoints kept for the conversation: {report['checkpoint_rows']} ({report['checkpoint_bytes']:,} bytes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
