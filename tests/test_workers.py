"""Broker mode: the API queues messages on Redis Streams and workers answer them, exactly once and in
order per conversation, even when a worker is killed in the middle of a load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("redis")
pytest.importorskip("fastapi")

REDIS_URL = os.environ.get("CROSSDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHANNEL = "channel-token-0123456789"
# my own phrasings: cheap turns that touch billing, technical and compliance
QUESTIONS = [
    "How do I reset my password?",
    "What does it cost to send money to another country?",
    "My card got declined at the supermarket",
    "When will my refund show up?",
    "Can I switch to a different plan?",
    "Thanks, that answers it",
]


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh stream prefix on the test Redis; skips when no Redis answers."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis server answers at {REDIS_URL} ({exc}); set CROSSDESK_TEST_REDIS_URL")
    name = f"cdtest-{uuid.uuid4().hex[:8]}"
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)
    client.close()


def service_settings(prefix: str, **extra: Any) -> Any:
    from orchestrator.service.config import ServiceSettings, parse_tokens_env

    return ServiceSettings(
        tokens=parse_tokens_env(f"{CHANNEL}:channel"),
        mode="broker",
        redis_url=REDIS_URL,
        stream_prefix=prefix,
        **extra,
    )


def test_api_in_broker_mode_waits_for_a_worker(seeded_home: Path, prefix: str) -> None:
    from fastapi.testclient import TestClient

    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator
    from orchestrator.service.app import create_app
    from orchestrator.service.worker import Worker

    svc = service_settings(prefix, partitions=4, lease_seconds=2, wait_seconds=20)
    orch = Orchestrator(load_settings())
    worker = Worker(orch, svc, name="w-test")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        with TestClient(create_app(load_settings(), service=svc)) as client:
            headers = {"Authorization": f"Bearer {CHANNEL}", "Idempotency-Key": "b1"}
            body = {"text": "I was charged twice", "customer_id": "C1001"}
            res = client.post("/v1/conversations/conv-b/messages", json=body, headers=headers)
            assert res.status_code == 200, res.text
            assert res.json()["tasks"][0]["department"] == "billing"
            again = client.post("/v1/conversations/conv-b/messages", json=body, headers=headers)
            assert again.json() == res.json() and again.headers["Idempotent-Replayed"] == "true"
            ready = client.get("/readyz", headers={"Authorization": f"Bearer {CHANNEL}"}).json()
            assert ready["checks"]["broker"] == "ok"
    finally:
        worker.stopping.set()
        thread.join(timeout=20)
        orch.close()
    assert not thread.is_alive()
    assert worker.answered == 1
    from orchestrator.db import make_engine
    from orchestrator.service.requests import get_request

    engine = make_engine(load_settings().database_url)
    assert get_request(engine, "/b1")["worker"] == "w-test"  # type: ignore[index]
    engine.dispose()


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "crossdesk"
    return subprocess.Popen(
        [str(exe), "worker", "--threads", "3"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


@pytest.mark.slow
def test_killing_a_worker_mid_load_loses_nothing_and_answers_nothing_twice(
    prefix: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pgtest import pg_database

    # workers in production share PostgreSQL: so do these, whatever CROSSDESK_TEST_DB says
    for url in pg_database(request.getfixturevalue("seeded_pg_template")):
        monkeypatch.setenv("CROSSDESK_DB_URL", url)
        _kill_test(prefix, tmp_path)


def _kill_test(prefix: str, tmp_path: Path) -> None:
    from sqlmodel import Session, col, select

    from orchestrator.config import load_settings
    from orchestrator.db import make_engine
    from orchestrator.records import Message, TurnRecord
    from orchestrator.service.broker import Keys, connect, enqueue
    from orchestrator.service.requests import open_request, request_id
    from orchestrator.service.tables import ServiceRequest

    settings = load_settings()
    cfg = tmp_path / "crossdesk.toml"
    cfg.write_text(
        f'[service]\nredis_url = "{REDIS_URL}"\nstream_prefix = "{prefix}"\npartitions = 8\nlease_seconds = 2\n',
        encoding="utf-8",
    )
    env = {**os.environ, "CROSSDESK_CONFIG": str(cfg), "CROSSDESK_DB_URL": settings.database_url}
    workers = [_start_worker(env, tmp_path / f"worker{i}.log") for i in range(3)]
    engine = make_engine(settings.database_url)
    client = connect(REDIS_URL)
    keys = Keys(prefix)
    conversations = [f"load-{i:02d}" for i in range(30)]
    sent: dict[str, list[str]] = {c: [] for c in conversations}
    try:
        # every conversation's messages are queued in order, round after round
        for round_no, question in enumerate(QUESTIONS):
            for i, conv in enumerate(conversations):
                text = f"{question} (round {round_no + 1})"
                payload = {
                    "conversation_id": conv,
                    "text": text,
                    "customer_id": f"C{1001 + i}" if round_no == 0 else None,
                    "jurisdiction": None,
                }
                rid = request_id(None, f"{conv}-{round_no}")
                open_request(engine, rid, payload)
                enqueue(client, keys, 8, rid, conv)
                sent[conv].append(text)
        total = len(conversations) * len(QUESTIONS)

        def answered() -> int:
            with Session(engine) as s:
                return len(s.exec(select(ServiceRequest.id).where(ServiceRequest.status != "pending")).all())

        deadline = time.monotonic() + 120
        while answered() < total // 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        at_kill = answered()
        assert 0 < at_kill < total, "the kill must land in the middle of the load"
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        while answered() < total and time.monotonic() < deadline:
            time.sleep(0.3)
        assert answered() == total, f"messages lost: {total - answered()} of {total} never answered"
    finally:
        for w in workers[1:]:
            w.send_signal(signal.SIGTERM)
        for w in workers[1:]:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
        client.close()
    logs = "\n".join((tmp_path / f"worker{i}.log").read_text(errors="replace") for i in range(3))
    # the survivors stopped gracefully on SIGTERM
    assert [w.returncode for w in workers[1:]] == [0, 0], logs[-3000:]
    with Session(engine) as s:
        rows = s.exec(select(ServiceRequest)).all()
        assert {r.status for r in rows} == {"done"}
        assert len({r.worker for r in rows}) >= 2
        for conv in conversations:
            records = s.exec(
                select(TurnRecord).where(TurnRecord.conversation_id == conv).order_by(col(TurnRecord.seq))
            ).all()
            # none answered twice: exactly one turn per message, numbered 1..n
            assert [r.seq for r in records] == list(range(1, len(QUESTIONS) + 1)), conv
            said = s.exec(
                select(Message.text)
                .where(Message.conversation_id == conv, Message.role == "customer")
                .order_by(col(Message.id))
            ).all()
            assert list(said) == sent[conv], f"{conv}: order not kept"
            # each request's reply is the turn of its own message
            for n, r in enumerate(sorted((r for r in rows if r.conversation_id == conv), key=lambda r: r.id)):
                assert r.response is not None and r.response["turn_id"] == records[n].id
    engine.dispose()


def test_a_checkpoint_behind_the_database_is_caught_up_before_the_next_turn(
    orch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed after its turn committed but before the graph's last checkpoint: the next
    turn still gets the next number and sees the lost turn in its history."""
    from sqlalchemy import text
    from sqlmodel import Session, col, select

    from orchestrator import pgsql

    monkeypatch.setattr(pgsql, "PRUNE_EVERY", 1)  # PostgreSQL: prune at every save, as SQLite does

    from orchestrator.records import TurnRecord
    from orchestrator.service.requests import TurnRunner, open_request

    runner = TurnRunner(orch, "w1")
    texts = ["I was charged twice", "How do I reset my password?", "What are your transfer fees?"]
    config = {"configurable": {"thread_id": "cu"}}
    writes = "writes" if orch.settings.is_sqlite else "checkpoint_writes"
    # PostgreSQL keeps channel values apart from the checkpoints, one row per version
    tables = (
        ("checkpoints", writes) if orch.settings.is_sqlite else ("checkpoints", writes, "checkpoint_blobs")
    )
    for n, said in enumerate(texts[:2]):
        payload = {
            "conversation_id": "cu",
            "text": said,
            "customer_id": "C1001" if n == 0 else None,
            "jurisdiction": None,
        }
        open_request(orch.engine, f"/cu-{n}", payload)
        assert runner.run(f"/cu-{n}")["status"] == "done"
        if n == 0:  # what the graph saved when turn 1's run ended (graph.DURABILITY: at its end)
            with orch.engine.begin() as conn:
                for table in tables:
                    conn.execute(
                        text(f"CREATE TABLE saved_{table} AS SELECT * FROM {table} WHERE thread_id = 'cu'")
                    )
    with orch.engine.begin() as conn:  # put back turn 1's checkpoint: as if killed before turn 2's
        # the superseded checkpoint was dropped when turn 2's was saved
        assert conn.execute(text("SELECT count(*) FROM checkpoints WHERE thread_id = 'cu'")).scalar() == 1
        for table in tables:
            conn.execute(text(f"DELETE FROM {table} WHERE thread_id = 'cu'"))
            conn.execute(text(f"INSERT INTO {table} SELECT * FROM saved_{table}"))
            conn.execute(text(f"DROP TABLE saved_{table}"))
    assert len(orch.graph.get_state(config).values["history"]) == 1
    open_request(
        orch.engine,
        "/cu-2",
        {"conversation_id": "cu", "text": texts[2], "customer_id": None, "jurisdiction": None},
    )
    assert runner.run("/cu-2")["status"] == "done"
    history = orch.graph.get_state(config).values["history"]
    assert [h["message"] for h in history] == texts
    with Session(orch.engine) as s:
        seqs = s.exec(
            select(TurnRecord.seq).where(TurnRecord.conversation_id == "cu").order_by(col(TurnRecord.seq))
        )
        assert list(seqs) == [1, 2, 3]
