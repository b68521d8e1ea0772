"""Redis Streams between the API and the workers.

Messages go to one of `partitions` streams, chosen by a hash of the conversation
id, so all messages of a conversation share a stream. Each stream is served by
one worker at a time, the holder of its lease (a Redis key with a time-out that
the worker keeps renewing): that keeps every conversation's messages in order.
Consumers read through one consumer group; an entry is acknowledged (and
deleted) only after its turn committed. When a worker dies its leases run out,
another worker takes the streams over and first claims (XAUTOCLAIM) and answers
the entries the dead one had read but not acknowledged. A stream entry carries
only the request id; the message itself is in the database (`svc_request`).
"""

from __future__ import annotations

import math
import random
import time
import zlib
from typing import Any

GROUP = "workers"
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def partition(conversation_id: str, partitions: int) -> int:
    return zlib.crc32(conversation_id.encode("utf-8")) % partitions


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def stream(self, p: int) -> str:
        return f"{self.prefix}:in:{p}"

    def lease(self, p: int) -> str:
        return f"{self.prefix}:lease:{p}"

    def done(self, rid: str) -> str:
        return f"{self.prefix}:done:{rid}"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"


def connect(url: str) -> Any:
    """A Redis client; fails with a clear message when no server answers."""
    import redis

    from orchestrator.config import ConfigError

    client = redis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=3, health_check_interval=30
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConfigError(
            f"the broker at {url} does not answer ({exc}); start Redis or fix CROSSDESK_REDIS_URL"
        ) from exc
    return client


def enqueue(client: Any, keys: Keys, partitions: int, rid: str, conversation_id: str) -> str:
    return str(client.xadd(keys.stream(partition(conversation_id, partitions)), {"rid": rid}))


def notify_done(client: Any, keys: Keys, rid: str) -> None:
    """Wake the API request waiting for `rid` (it checks the database either way)."""
    pipe = client.pipeline()
    pipe.rpush(keys.done(rid), "1")
    pipe.expire(keys.done(rid), 300)
    pipe.execute()


class Leases:
    """The partitions this worker serves, balanced over the live workers."""

    def __init__(self, client: Any, keys: Keys, partitions: int, worker: str, lease_s: float) -> None:
        self.client = client
        self.keys = keys
        self.partitions = partitions
        self.worker = worker
        self.lease_ms = int(lease_s * 1000)
        self.owned: set[int] = set()
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def heartbeat(self) -> set[int]:
        """Say this worker is alive and renew its leases; returns the partitions it lost."""
        now = time.time()
        self.client.zadd(self.keys.workers, {self.worker: now})
        lost = {
            p
            for p in self.owned
            if not self._renew(keys=[self.keys.lease(p)], args=[self.worker, self.lease_ms])
        }
        self.owned -= lost
        return lost

    def live_workers(self) -> int:
        now = time.time()
        self.client.zremrangebyscore(self.keys.workers, "-inf", now - self.lease_ms / 1000)
        return max(1, int(self.client.zcard(self.keys.workers)))

    def rebalance(self) -> set[int]:
        """Take free partitions up to this worker's share, give back any beyond it; returns new ones."""
        target = math.ceil(self.partitions / self.live_workers())
        while len(self.owned) > target:
            self.release(max(self.owned))
        gained: set[int] = set()
        order = list(range(self.partitions))
        random.shuffle(order)
        for p in order:
            if len(self.owned) >= target:
                break
            if p in self.owned:
                continue
            if self.client.set(self.keys.lease(p), self.worker, nx=True, px=self.lease_ms):
                self.owned.add(p)
                gained.add(p)
        return gained

    def release(self, p: int) -> None:
        self._release(keys=[self.keys.lease(p)], args=[self.worker])
        self.owned.discard(p)

    def release_all(self) -> None:
        for p in sorted(self.owned):
            self.release(p)
        self.client.zrem(self.keys.workers, self.worker)


def ensure_group(client: Any, stream: str) -> None:
    import redis

    try:
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def claim_orphans(client: Any, stream: str, consumer: str) -> int:
    """Take over every entry of `stream` read but not acknowledged by anyone (its lease is ours now)."""
    claimed, cursor = 0, "0-0"
    while True:
        # (redis-py drops the cursor from JUSTID replies, so ask for the entries)
        res = client.xautoclaim(stream, GROUP, consumer, min_idle_time=0, start_id=cursor, count=100)
        cursor, entries = res[0], res[1]
        claimed += len(entries)
        if cursor in ("0-0", b"0-0"):
            return claimed
