"""The embedded pipeline alone: latency of a turn and turns per second on the machine's cores.

Whole turns through the real Orchestrator on the embedded defaults: SQLite database and
checkpointer, the seeded demo, the starter knowledge, tracing on to the local span store.
The messages are bench_turns.py's (realistic multi-part messages of the demo's customers,
a fifth of them follow-ups in the same conversation).

    one-at-a-time   one process, one turn after another: p50, p99, CPU per turn
    N processes     `--procs` worker processes on the same database (what `crossdesk worker`
                    does on a machine of N cores), each running its own conversations as fast
                    as it can: turns per second in all, and the latency under that load

History: the demo has 40 customers, so a few hundred turns make every customer repeat the
same complaint many times in a day, and the repeat-contact rule (three contacts about one
issue go to a person) then hands most turns to a person. A real day's turns come from many
more customers. `--history months` (the default) ages the turn records by 31 days between
blocks of `--block` turns (outside the timing), so the rule sees what it would see with a
larger customer base; `--history piled` keeps every turn within the window (the pessimistic
workload the earlier numbers in docs/benchmarks.md used).
Targets (issue 6): p50 <= 10 ms, p99 <= 30 ms, >= 100 turns/s on 2 cores.

    .venv/bin/python bench/bench_pipeline.py [--turns 600] [--procs 2] [--history months|piled] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_turns import build_template, pct, workload

AGE_SQL = "UPDATE cd_turn SET created_at = datetime(created_at, '-31 days')"


def _orchestrator(home: Path) -> Any:
    from orchestrator.config import Settings
    from orchestrator.runtime import Orchestrator, freeze_startup_heap

    orch = Orchestrator(Settings(home=home, extra={"telemetry": {"exporters": ["local"]}}))
    freeze_startup_heap()  # as `crossdesk worker` and `crossdesk serve` do after start-up
    return orch


def clean_environment() -> None:
    """No exporter, capture or database settings of the caller's shell leak into the run."""
    for name in [n for n in os.environ if n.startswith("OTEL_") or n == "CROSSDESK_CAPTURE_CONTENT"]:
        del os.environ[name]
    os.environ.pop("CROSSDESK_DB_URL", None)


def fresh_home(root: Path) -> Path:
    """`root`/run: a copy of the seeded template's database (built under `root`), its router shared."""
    template = build_template(root)
    home = root / "run"
    home.mkdir()
    shutil.copy(template / "crossdesk.db", home / "crossdesk.db")
    (home / "router").symlink_to(template / "router", target_is_directory=True)
    return home


def _age(db: Path) -> None:
    conn = sqlite3.connect(db, timeout=30)
    with conn:
        conn.execute(AGE_SQL)
    conn.close()


def run_turns(
    home: Path, turns: list[tuple[str, str, str]], history: str, block: int, age_lock: Any = None
) -> dict[str, Any]:
    """Latencies (ms), wall and CPU seconds and statuses of `turns` through one Orchestrator."""
    logging.basicConfig(level=logging.ERROR)
    orch = _orchestrator(home)
    lat: list[float] = []
    statuses: dict[str, int] = {}
    wall = cpu = 0.0
    for b in range(0, len(turns), block):
        if history == "months" and b:
            if age_lock is not None:
                with age_lock:
                    _age(home / "crossdesk.db")
            else:
                _age(home / "crossdesk.db")
        started, cpu0 = time.perf_counter(), time.process_time()
        for conversation, customer, message in turns[b : b + block]:
            t0 = time.perf_counter()
            out = orch.ask(message, conversation_id=conversation, customer_id=customer)
            lat.append((time.perf_counter() - t0) * 1000)
            statuses[out.record["status"]] = statuses.get(out.record["status"], 0) + 1
        wall += time.perf_counter() - started
        cpu += time.process_time() - cpu0
    t0, cpu0 = time.perf_counter(), time.process_time()
    orch.close()  # the spans still buffered are part of the work
    wall += time.perf_counter() - t0
    cpu += time.process_time() - cpu0
    return {"lat": lat, "wall": wall, "cpu": cpu, "statuses": statuses}


def _worker(
    home: str, turns: list[tuple[str, str, str]], history: str, block: int, barrier: Any, lock: Any, out: Any
) -> None:
    logging.basicConfig(level=logging.ERROR)
    orch = _orchestrator(Path(home))  # loads the router and plugins before the clock starts
    orch.close()
    barrier.wait()
    started = time.perf_counter()
    res = run_turns(Path(home), turns, history, block, lock)
    res["span"] = (started, time.perf_counter())
    out.put(res)


def python_speed() -> float:
    """Seconds for ten million additions in a Python loop: how fast this machine is right now
    (shared virtual machines vary by 2x or more from hour to hour; compare runs through this)."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - started, 3)


def summarise(lat: list[float], wall: float, cpu: float, n: int) -> dict[str, float]:
    return {
        "turns": n,
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": round(pct(lat, 99), 2),
        "mean_ms": round(statistics.fmean(lat), 2),
        "turns_per_s": round(n / wall, 1),
        "cpu_ms_per_turn": round(1000 * cpu / n, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--turns", type=int, default=600, help="measured turns, one at a time and per process"
    )
    parser.add_argument("--procs", type=int, default=2, help="worker processes of the throughput run")
    parser.add_argument("--history", choices=("months", "piled"), default="months")
    parser.add_argument("--block", type=int, default=25, help="turns between two agings of the history")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    clean_environment()
    root = Path(tempfile.mkdtemp(prefix="crossdesk-bench-pipeline-"))
    speed = [python_speed()]
    try:
        home = fresh_home(root)
        run_turns(home, workload(args.warmup, seed=10_000 + args.seed), args.history, args.block)

        seq = run_turns(home, workload(args.turns, seed=args.seed), args.history, args.block)
        one = summarise(seq["lat"], seq["wall"], seq["cpu"], len(seq["lat"]))
        one["statuses"] = seq["statuses"]  # type: ignore[assignment]

        ctx = multiprocessing.get_context("spawn")
        barrier, lock, out = ctx.Barrier(args.procs), ctx.Lock(), ctx.Queue()
        procs = []
        for p in range(args.procs):
            turns = [(f"{c}-p{p}", cu, m) for c, cu, m in workload(args.turns, seed=args.seed * 100 + p)]
            proc = ctx.Process(
                target=_worker, args=(str(home), turns, args.history, args.block, barrier, lock, out)
            )
            proc.start()
            procs.append(proc)
        results = [out.get(timeout=3600) for _ in procs]
        for proc in procs:
            proc.join()
        lat = [x for r in results for x in r["lat"]]
        wall = max(r["span"][1] for r in results) - min(r["span"][0] for r in results)
        many = summarise(lat, wall, sum(r["cpu"] for r in results), len(lat))
        speed.append(python_speed())
    finally:
        shutil.rmtree(root, ignore_errors=True)

    report = {
        "command": "python bench/bench_pipeline.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
        },
        "history": args.history,
        "python_loop_s": speed,  # before and after the run
        "one_at_a_time": one,
        f"{args.procs}_processes": many,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(
        f"history: {args.history}; {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"10M-step Python loop {speed[0]} s before, {speed[-1]} s after"
    )
    print(f"{'run':<16} {'turns':>6} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'turns/s':>8} {'CPU ms':>7}")
    for name, m in (("one at a time", one), (f"{args.procs} processes", many)):
        print(
            f"{name:<16} {m['turns']:>6} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} {m['mean_ms']:>8.2f} "
            f"{m['turns_per_s']:>8.1f} {m['cpu_ms_per_turn']:>7.2f}"
        )
    print("statuses (one at a time):", ", ".join(f"{k} {v}" for k, v in sorted(seq["statuses"].items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
