"""Load through the HTTP API in broker mode: N messages over M conversations, two workers, loopback.

    .venv/bin/python bench/bench_service.py [--messages 10000] [--conversations 1000] [--workers 2]
        [--concurrency 64] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Creates a fresh PostgreSQL database (seeded demo fintech + starter knowledge),
starts `crossdesk serve --workers-mode broker` and the workers as separate
processes, then sends every conversation's messages in order (one at a time per
conversation, `--concurrency` conversations at once). Reports throughput, p50 and
p99 latency per message as the channel sees it, messages lost (not answered 200,
or left unanswered in the database: must be 0), turns run twice (must be 0) and
each worker's resident memory at the end. Needs PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

TOKEN = "bench-channel-token-" + uuid.uuid4().hex
# my own phrasings, cycled: billing, technical, compliance and small talk
QUESTIONS = [
    "I think I was charged twice for the same thing",
    "How can I reset my password?",
    "What does an international transfer cost?",
    "My card was declined in a shop today",
    "When will my refund arrive?",
    "Can I change to a cheaper plan?",
    "Why is my account on hold?",
    "How do I get a copy of my data?",
    "The app crashes when I open it",
    "Thanks, that is all",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prepare_database(pg_url: str) -> tuple[str, str]:
    import psycopg
    from sqlalchemy.engine import make_url

    from orchestrator.backend.seed import seed_demo
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.loader import load_paths
    from orchestrator.knowledge.store import KnowledgeStore
    from orchestrator.pgsql import libpq_url
    from plugins.manager import load_plugins

    name = f"crossdesk_bench_{os.getpid()}"
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    create_schema(engine)
    seed_demo(engine)
    load_paths(KnowledgeStore(engine), load_plugins().knowledge_paths())
    engine.dispose()
    return name, url


def drop_database(pg_url: str, name: str) -> None:
    import psycopg

    from orchestrator.pgsql import libpq_url

    with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


async def wait_ready(base: str, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                res = await client.get(f"{base}/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
                if res.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("the API did not become ready; see its log")


async def load(base: str, messages: int, conversations: int, concurrency: int) -> dict[str, Any]:
    import httpx

    per_conv = [
        messages // conversations + (1 if i < messages % conversations else 0) for i in range(conversations)
    ]
    latencies: list[float] = []
    failures: list[str] = []
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def conversation(client: httpx.AsyncClient, i: int) -> None:
        async with sem:
            conv = f"bench-{i:05d}"
            for n in range(per_conv[i]):
                body = {"text": QUESTIONS[(i + n) % len(QUESTIONS)]}
                if n == 0:
                    body["customer_id"] = f"C{1001 + i % 40}"
                headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": f"{conv}-{n}"}
                start = time.perf_counter()
                res = await client.post(
                    f"{base}/v1/conversations/{conv}/messages", json=body, headers=headers
                )
                while res.status_code == 202:  # still being answered: poll
                    await asyncio.sleep(0.5)
                    res = await client.get(f"{base}{res.json()['poll']}", headers=headers)
                latencies.append(time.perf_counter() - start)
                if res.status_code != 200 or not res.json().get("turn_id"):
                    failures.append(f"{conv}#{n}: {res.status_code} {res.text[:200]}")

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        await asyncio.gather(*(conversation(client, i) for i in range(conversations)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "sent": sum(per_conv),
        "elapsed_s": elapsed,
        "throughput": sum(per_conv) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "failures": failures,
    }


def check_database(url: str) -> dict[str, int]:
    from sqlalchemy import func, text
    from sqlmodel import Session, select

    from orchestrator.db import make_engine
    from orchestrator.service.tables import ServiceRequest

    engine = make_engine(url)
    with Session(engine) as s:
        done = s.exec(
            select(func.count()).select_from(ServiceRequest).where(ServiceRequest.status == "done")
        ).one()
        total = s.exec(select(func.count()).select_from(ServiceRequest)).one()
        dup = s.exec(
            text(
                "SELECT count(*) FROM (SELECT conversation_id, seq FROM cd_turn "
                "GROUP BY conversation_id, seq HAVING count(*) > 1) AS d"
            )
        ).one()[0]
        turns = s.exec(text("SELECT count(*) FROM cd_turn")).one()[0]
    engine.dispose()
    return {"requests": int(total), "done": int(done), "turns": int(turns), "duplicate_turns": int(dup)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--conversations", type=int, default=1_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4, help="turns at once per worker")
    ap.add_argument("--concurrency", type=int, default=64, help="conversations sending at once")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("CROSSDESK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = ap.parse_args()

    name, url = prepare_database(args.pg_url)
    home = Path(tempfile.mkdtemp(prefix="crossdesk-bench-"))
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    (home / "crossdesk.toml").write_text(
        f'[service]\nredis_url = "{args.redis_url}"\nstream_prefix = "{prefix}"\npartitions = 16\n'
        "wait_seconds = 120\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "CROSSDESK_HOME": str(home),
        "CROSSDESK_DB_URL": url,
        "CROSSDESK_CONFIG": str(home / "crossdesk.toml"),
        "CROSSDESK_TOKENS": f"{TOKEN}:channel",
    }
    exe = str(Path(sys.executable).parent / "crossdesk")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        api = subprocess.Popen(
            [exe, "serve", "--workers-mode", "broker", "--port", str(args.port), "--log-level", "warning"],
            env=env,
            stdout=(home / "api.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        procs.append(api)
        workers = [
            subprocess.Popen(
                [exe, "worker", "--threads", str(args.threads)],
                env=env,
                stdout=(home / f"worker{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            for i in range(args.workers)
        ]
        procs.extend(workers)
        base = f"http://127.0.0.1:{args.port}"
        asyncio.run(wait_ready(base))
        time.sleep(3)  # let the workers start and share the partitions
        result = asyncio.run(load(base, args.messages, args.conversations, args.concurrency))
        memory = [rss_mb(w.pid) for w in workers]
        api_memory = rss_mb(api.pid)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    db = check_database(url)
    drop_database(args.pg_url, name)
    import redis

    client = redis.Redis.from_url(args.redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()
    lost = len(result["failures"]) + (result["sent"] - db["done"])
    print(
        f"messages {result['sent']} over {args.conversations} conversations, {args.workers} workers x {args.threads} threads"
    )
    print(f"  elapsed     {result['elapsed_s']:.1f} s")
    print(f"  throughput  {result['throughput']:.1f} messages/s")
    print(f"  latency     p50 {result['p50_ms']:.0f} ms   p99 {result['p99_ms']:.0f} ms")
    print(f"  lost        {lost}   (answered in the database: {db['done']} of {db['requests']})")
    print(f"  twice       {db['duplicate_turns']} turns   (turns recorded: {db['turns']})")
    print(
        f"  memory      workers {', '.join(f'{m:.0f} MB' for m in memory)} RSS; API {api_memory:.0f} MB RSS"
    )
    for failure in result["failures"][:5]:
        print(f"  failure: {failure}")
    if lost or db["duplicate_turns"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
