"""`crossdesk worker`: answers the messages of the partitions it leases, in order, exactly once.

SIGTERM (or SIGINT) stops it gracefully: the turns it is running finish and are
acknowledged, its leases are released, and other workers take its partitions at
once. A second signal exits straight away; whatever was unacknowledged is then
answered by the worker that takes the partition over.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orchestrator.service.broker import GROUP, Keys, Leases, claim_orphans, connect, ensure_group, notify_done
from orchestrator.service.config import ServiceSettings

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


class Worker:
    def __init__(self, orch: Any, svc: ServiceSettings, *, name: str | None = None, threads: int = 4) -> None:
        from orchestrator.service.requests import TurnRunner

        self.orch = orch
        self.svc = svc
        self.name = name or worker_name()
        self.runner = TurnRunner(orch, self.name)
        self.client = connect(svc.redis_url)
        self.keys = Keys(svc.stream_prefix)
        self.leases = Leases(self.client, self.keys, svc.partitions, self.name, svc.lease_seconds)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="turn")
        self.stopping = threading.Event()
        self.cursor: dict[int, str] = {}  # partition -> "0" (own pending first) or ">" (new entries)
        self.answered = 0
        self._beat_stop = threading.Event()

    # ---------------------------------------------------------------- signals and heartbeat

    def install_signals(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            if self.stopping.is_set():
                log.warning("second signal: exiting now; unacknowledged messages go to another worker")
                os._exit(1)
            log.info("signal %s: finishing the turns in flight, then stopping", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _heartbeat(self) -> None:
        every = max(0.2, self.svc.lease_seconds / 4)
        while not self._beat_stop.wait(every):
            try:
                lost = self.leases.heartbeat()
                for p in lost:
                    log.warning("lease of partition %s was lost; another worker serves it now", p)
                    self.cursor.pop(p, None)
            except Exception as exc:  # the broker may be restarting: the main loop reports it
                log.warning("heartbeat failed: %r", exc)

    # ---------------------------------------------------------------- main loop

    def run(self) -> int:
        log.info(
            "worker %s started (%s partitions, lease %ss)",
            self.name,
            self.svc.partitions,
            self.svc.lease_seconds,
        )
        self.leases.heartbeat()
        beat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        beat.start()
        last_balance = 0.0
        try:
            while not self.stopping.is_set():
                if time.monotonic() - last_balance > 1.0:
                    self._balance()
                    last_balance = time.monotonic()
                batch = self._read()
                if batch:
                    self._process(batch)
        finally:
            self._beat_stop.set()
            beat.join(timeout=5)
            self.pool.shutdown(wait=True)
            self.leases.release_all()
            log.info("worker %s stopped after answering %s messages", self.name, self.answered)
        return 0

    def _balance(self) -> None:
        for p in self.leases.rebalance():
            stream = self.keys.stream(p)
            ensure_group(self.client, stream)
            orphans = claim_orphans(self.client, stream, self.name)
            if orphans:
                log.info("partition %s: took over %s unacknowledged messages", p, orphans)
            self.cursor[p] = "0"
        for p in list(self.cursor):
            if p not in self.leases.owned:
                self.cursor.pop(p)

    def _read(self) -> list[tuple[int, str, str]]:
        """At most one entry per owned partition: (partition, entry id, request id)."""
        if not self.cursor:
            self.stopping.wait(0.2)
            return []
        streams = {self.keys.stream(p): c for p, c in self.cursor.items()}
        block = None if "0" in streams.values() else 500
        res = self.client.xreadgroup(GROUP, self.name, streams, count=1, block=block)
        batch = []
        for stream, entries in res or []:
            p = int(stream.rsplit(":", 1)[1])
            if not entries:
                self.cursor[p] = ">"  # own pending history is empty: read new entries now
                continue
            entry_id, fields = entries[0]
            if fields is None:  # deleted while pending: nothing to answer
                self.client.xack(stream, GROUP, entry_id)
                continue
            batch.append((p, entry_id, fields["rid"]))
        return batch

    def _process(self, batch: list[tuple[int, str, str]]) -> None:
        futures = [(p, entry_id, rid, self.pool.submit(self.runner.run, rid)) for p, entry_id, rid in batch]
        for p, entry_id, rid, future in futures:
            stream = self.keys.stream(p)
            try:
                future.result()
            except Exception as exc:
                attempts = self._attempts(rid)
                if attempts < self.svc.max_attempts:
                    log.warning("request %s failed (attempt %s): %r; it will be retried", rid, attempts, exc)
                    self.cursor[p] = "0"  # retry it before anything newer of this partition
                    time.sleep(min(2.0, 0.1 * 2**attempts))
                    continue
                log.error(
                    "request %s failed %s times: answering it with an error", rid, attempts, exc_info=exc
                )
                self.runner.give_up(rid, exc)
            pipe = self.client.pipeline()
            pipe.xack(stream, GROUP, entry_id)
            pipe.xdel(stream, entry_id)
            pipe.execute()
            notify_done(self.client, self.keys, rid)
            self.answered += 1

    def _attempts(self, rid: str) -> int:
        from orchestrator.service.requests import get_request

        try:
            row = get_request(self.orch.engine, rid)
        except Exception:
            return 0
        return int(row["attempts"]) if row else 0
