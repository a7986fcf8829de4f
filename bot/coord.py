"""Coordination between processes: locks, wake-ups / fan-out, rate windows.

Redis when ``redis_url`` is set; in-process otherwise (the embedded single-process default).
Redis coordinates, it owns no data (DESIGN.md §2): losing a message here only delays work that
the SQL store still holds, because every loop also polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)
PREFIX = "bot:"


class LockTimeout(Exception):
    pass


class Subscription:
    """Messages published on one topic, for as long as the subscriber holds it."""

    def __init__(self, coord: Coordinator, topic: str) -> None:
        self.topic = topic
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self._coord = coord

    def _put(self, message: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(message)

    async def get(self, timeout: float | None = None) -> str | None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the queue yields, and a loop that ignores cancellation never stops.
        try:
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None

    async def close(self) -> None:
        await self._coord._unsubscribe(self)


class Coordinator:
    """In-process implementation; :class:`RedisCoordinator` overrides the shared parts."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        #: key → (bucket, count, when the bucket ends); oldest-touched first (see _evict)
        self._windows: dict[str, tuple[int, int, float]] = {}
        self._next_sweep = 0.0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- locks ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lock(self, name: str, ttl: float = 30, timeout: float = 10) -> AsyncIterator[None]:
        lock = self._locks[name]
        try:
            async with asyncio.timeout(timeout):
                await lock.acquire()
        except TimeoutError:
            raise LockTimeout(name) from None
        try:
            yield
        finally:
            lock.release()

    # -- fan-out -------------------------------------------------------------------------
    async def subscribe(self, topic: str) -> Subscription:
        sub = Subscription(self, topic)
        self._subs[topic].add(sub)
        await self._on_first_subscriber(topic)
        return sub

    async def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.topic]

    async def _on_first_subscriber(self, topic: str) -> None:
        return None

    def _deliver(self, topic: str, message: str) -> None:
        for sub in list(self._subs.get(topic, ())):
            sub._put(message)

    async def publish(self, topic: str, message: str = "") -> None:
        self._deliver(topic, message)

    # -- rate windows --------------------------------------------------------------------
    #: most windows kept in memory: public clients (one key per web chat session or address)
    #: must not grow the process without bound
    max_windows = 100_000

    async def window_count(self, key: str, window_s: float) -> int:
        """Count one more event in the current fixed window of ``window_s`` seconds (aligned
        to the wall clock, like Redis's buckets and Zalo's minute)."""
        now = time.time()
        bucket = int(now // window_s)
        start, count, _ = self._windows.pop(key, (bucket, 0, 0.0))
        count = count + 1 if start == bucket else 1
        self._windows[key] = (bucket, count, (bucket + 1) * window_s)  # now the newest
        self._evict(now)
        return count

    async def window_release(self, key: str, window_s: float) -> None:
        """Give back one event counted in the current window (a call that was not made)."""
        bucket = int(time.time() // window_s)
        start, count, ends = self._windows.get(key, (bucket, 0, 0.0))
        if start == bucket and count > 0:
            self._windows[key] = (bucket, count - 1, ends)

    def _evict(self, now: float) -> None:
        """Drop windows that have ended (every 10 s at most), and past ``max_windows`` the
        least recently counted ones — a forgotten window only starts its count afresh."""
        if now >= self._next_sweep or len(self._windows) > self.max_windows:
            self._next_sweep = now + 10.0
            for key in [k for k, (_, _, ends) in self._windows.items() if ends <= now]:
                del self._windows[key]
        excess = len(self._windows) - self.max_windows
        if excess > 0:  # drop a tenth more than needed, so this is not paid on every count
            for key in list(itertools.islice(self._windows, excess + self.max_windows // 10)):
                del self._windows[key]

    async def hold(self, name: str, owner: str, ttl: float) -> bool:
        """Take or keep the leadership ``name`` for ``ttl`` seconds: True while ``owner`` holds
        it. In one process there is nobody to compete with."""
        return True

    @property
    def name(self) -> str:
        return "embedded"


class RedisCoordinator(Coordinator):
    def __init__(self, url: str) -> None:
        super().__init__()
        import redis.asyncio as redis

        self._redis = redis.from_url(url, decode_responses=True)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._token = uuid.uuid4().hex

    async def start(self) -> None:
        await self._redis.ping()
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.psubscribe(PREFIX + "topic:*")
        self._reader = asyncio.create_task(self._read(), name="redis-pubsub")

    async def _read(self) -> None:
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=1.0)
                if msg and msg.get("type") == "pmessage":
                    topic = msg["channel"][len(PREFIX + "topic:"):]
                    self._deliver(topic, msg["data"])
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis blips must not kill the reader
                log.warning("redis pub/sub read failed; retrying", exc_info=True)
                await asyncio.sleep(1)

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._redis.aclose()

    @contextlib.asynccontextmanager
    async def lock(self, name: str, ttl: float = 30, timeout: float = 10) -> AsyncIterator[None]:
        from redis.exceptions import LockError

        from redis.exceptions import RedisError

        lock = self._redis.lock(PREFIX + "lock:" + name, timeout=ttl, blocking_timeout=timeout)
        try:
            acquired = await lock.acquire()
        except RedisError as exc:  # Redis down: the caller waits and tries again
            raise LockTimeout(f"{name}: {exc}") from None
        if not acquired:
            raise LockTimeout(name)
        try:
            yield
        finally:
            with contextlib.suppress(LockError):
                await lock.release()

    async def publish(self, topic: str, message: str = "") -> None:
        try:
            await self._redis.publish(PREFIX + "topic:" + topic, message)
        except Exception:  # noqa: BLE001
            log.warning("redis publish failed; delivering locally only", exc_info=True)
            self._deliver(topic, message)

    async def window_count(self, key: str, window_s: float) -> int:
        bucket = int(time.time() // window_s)
        rkey = f"{PREFIX}win:{key}:{bucket}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(rkey)
                pipe.expire(rkey, int(window_s) + 5)
                count, _ = await pipe.execute()
        except Exception:  # noqa: BLE001 - fail open to this process's own count
            log.warning("redis window count failed; counting locally", exc_info=True)
            return await super().window_count(key, window_s)
        return int(count)

    async def window_release(self, key: str, window_s: float) -> None:
        bucket = int(time.time() // window_s)
        rkey = f"{PREFIX}win:{key}:{bucket}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.decr(rkey)
                pipe.expire(rkey, int(window_s) + 5)  # never a key without an expiry
                await pipe.execute()
        except Exception:  # noqa: BLE001 - the budget is a little tighter for this minute
            log.warning("redis window release failed", exc_info=True)

    async def hold(self, name: str, owner: str, ttl: float) -> bool:
        key = PREFIX + "leader:" + name
        try:
            return bool(await self._redis.eval(_HOLD, 1, key, owner, int(ttl * 1000)))
        except Exception:  # noqa: BLE001 - Redis down: nobody may claim to lead
            log.warning("redis leadership check failed for %s", name, exc_info=True)
            return False

    @property
    def name(self) -> str:
        return "redis"


#: renew if we hold it, else take it if free (atomic)
_HOLD = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""


def create_coordinator(redis_url: str | None) -> Coordinator:
    return RedisCoordinator(redis_url) if redis_url else Coordinator()
