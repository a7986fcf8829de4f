"""Coordination between processes: locks, wake-ups / fan-out, rate windows.

Redis when ``redis_url`` is set; in-process otherwise (the embedded single-process default),
and in-process too while a configured Redis cannot be reached (``RedisCoordinator``). Redis
coordinates, it owns no data (DESIGN.md §2): losing a message here only delays work that the
SQL store still holds, because every loop also polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
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

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        #: epoch seconds; the rate windows are buckets of it (tests pass a manual clock)
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        #: key → (bucket, count, when the bucket ends); oldest-touched first (see _evict)
        self._windows: dict[str, tuple[int, int, float]] = {}
        self._next_sweep = 0.0
        #: key → (value, when it lapses): ``claim``'s one-time keys
        self._claims: dict[str, tuple[str, float]] = {}

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
        now = self.clock()
        bucket = int(now // window_s)
        start, count, _ = self._windows.pop(key, (bucket, 0, 0.0))
        count = count + 1 if start == bucket else 1
        self._windows[key] = (bucket, count, (bucket + 1) * window_s)  # now the newest
        self._evict(now)
        return count

    async def window_release(self, key: str, window_s: float) -> None:
        """Give back one event counted in the current window (a call that was not made)."""
        bucket = int(self.clock() // window_s)
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

    async def claim(self, key: str, value: str, ttl: float) -> str | None:
        """Claim the one-time ``key`` for ``value`` (``ttl`` seconds, a Redis SET NX): None
        when this call claimed it, else the value of whoever claimed it first (a form sent
        twice finds the notice the first sending made)."""
        now = self.clock()
        for stale in [k for k, (_v, until) in self._claims.items() if until <= now]:
            del self._claims[stale]
        held = self._claims.get(key)
        if held is not None:
            return held[0]
        self._claims[key] = (value, now + ttl)
        return None

    async def hold(self, name: str, owner: str, ttl: float) -> bool:
        """Take or keep the leadership ``name`` for ``ttl`` seconds: True while ``owner`` holds
        it. In one process there is nobody to compete with."""
        return True

    @property
    def name(self) -> str:
        return "embedded"


class RedisCoordinator(Coordinator):
    """Redis, and the in-process implementation while Redis cannot be reached.

    The service starts whether or not Redis answers: unreachable, it coordinates in-process
    (``name`` says so, and so does ``/healthz``), tries again with backoff (1 s doubling to
    30 s) and switches back when Redis answers. Each change is logged once, as a warning
    without a traceback. What that costs while Redis is down: wake-ups reach this process only
    (the others poll every second), rate budgets are counted per process, nobody leads the
    scheduler (``hold`` is False: two leaders would fire recurring notices twice; a firing
    missed meanwhile is caught up within ``notices.misfire_grace_s``), and locks cover this
    process only — so the single-use refresh token is also guarded by a PostgreSQL advisory
    lock (``bot/channels/zalo/oauth.py``)."""

    RETRY_S = (1.0, 30.0)  # first wait before trying Redis again, longest wait
    DOWN = "in-process (redis unreachable, retrying)"

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        import redis.asyncio as redis
        from redis.backoff import ExponentialWithJitterBackoff
        from redis.retry import Retry

        # our own fallback handles outages: the client retries only briefly (its default
        # retries for seconds on every command while Redis is down)
        self._redis = redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            retry=Retry(ExponentialWithJitterBackoff(0.5, 0.05), 2),
        )
        self._pubsub: Any = None
        self._stale_pubsub: Any = None  # the one Redis dropped: closed by the reconnect
        self._reader: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._up = False
        self._closing = False
        self._url = _safe_url(url)

    async def start(self) -> None:
        try:
            await self._connect()
        except _OUTAGE as exc:
            self._went_down(exc)

    async def _connect(self) -> None:
        await self._redis.ping()
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(PREFIX + "topic:*")
        except BaseException:
            await pubsub.aclose()
            raise
        self._pubsub = pubsub
        self._up = True
        self._reader = asyncio.create_task(self._read(pubsub), name="redis-pubsub")

    def _went_down(self, exc: BaseException) -> None:
        """Redis stopped answering: coordinate in-process and keep trying (logged once)."""
        if self._closing or (not self._up and self._watcher is not None):
            return
        self._up = False
        log.warning(
            "redis at %s unreachable (%s: %s): coordinating in-process, trying it "
            "again in the background",
            self._url,
            type(exc).__name__,
            exc,
        )
        self._stale_pubsub, self._pubsub = self._pubsub, None
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        self._reader = None
        self._watcher = asyncio.create_task(self._reconnect(), name="redis-reconnect")

    async def _reconnect(self) -> None:
        wait, longest = self.RETRY_S
        while not self._closing:
            await asyncio.sleep(wait * (0.8 + 0.4 * random.random()))
            if self._stale_pubsub is not None:
                await _quietly(self._stale_pubsub.aclose())
                self._stale_pubsub = None
            try:
                # connections pooled before the outage are dead: start afresh
                await self._redis.connection_pool.disconnect()
                await self._connect()
            except _OUTAGE:
                wait = min(longest, wait * 2)
                continue
            self._watcher = None
            log.warning("redis at %s answers again: coordinating through redis", self._url)
            return

    async def _read(self, pubsub: Any) -> None:
        while True:
            try:
                msg = await pubsub.get_message(timeout=1.0)
                if msg and msg.get("type") == "pmessage":
                    topic = msg["channel"][len(PREFIX + "topic:") :]
                    self._deliver(topic, msg["data"])
            except asyncio.CancelledError:
                raise
            except _OUTAGE as exc:  # the watcher takes over; no traceback every second
                self._went_down(exc)
                return
            except Exception:  # noqa: BLE001 - anything else: log it, keep reading
                log.warning("redis pub/sub read failed; retrying", exc_info=True)
                await asyncio.sleep(1)

    async def close(self) -> None:
        self._closing = True
        for task in (self._reader, self._watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for pubsub in (self._pubsub, self._stale_pubsub):
            if pubsub is not None:
                await _quietly(pubsub.aclose())
        await _quietly(self._redis.aclose())

    @contextlib.asynccontextmanager
    async def lock(self, name: str, ttl: float = 30, timeout: float = 10) -> AsyncIterator[None]:
        from redis.exceptions import LockError

        if not self._up:
            async with super().lock(name, ttl, timeout):
                yield
            return
        lock = self._redis.lock(PREFIX + "lock:" + name, timeout=ttl, blocking_timeout=timeout)
        try:
            acquired = await lock.acquire()
        except _OUTAGE as exc:  # Redis went away: this process's own lock
            self._went_down(exc)
            async with super().lock(name, ttl, timeout):
                yield
            return
        if not acquired:
            raise LockTimeout(name)
        try:
            yield
        finally:
            with contextlib.suppress(LockError, *_OUTAGE):
                await lock.release()

    async def publish(self, topic: str, message: str = "") -> None:
        if self._up:
            try:
                await self._redis.publish(PREFIX + "topic:" + topic, message)
                return
            except _OUTAGE as exc:
                self._went_down(exc)
        self._deliver(topic, message)  # this process's subscribers; the others poll

    async def window_count(self, key: str, window_s: float) -> int:
        if not self._up:
            return await super().window_count(key, window_s)
        bucket = int(self.clock() // window_s)
        rkey = f"{PREFIX}win:{key}:{bucket}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(rkey)
                pipe.expire(rkey, int(window_s) + 5)
                count, _ = await pipe.execute()
        except _OUTAGE as exc:  # fail open to this process's own count
            self._went_down(exc)
            return await super().window_count(key, window_s)
        return int(count)

    async def window_release(self, key: str, window_s: float) -> None:
        if not self._up:
            return await super().window_release(key, window_s)
        bucket = int(self.clock() // window_s)
        rkey = f"{PREFIX}win:{key}:{bucket}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.decr(rkey)
                pipe.expire(rkey, int(window_s) + 5)  # never a key without an expiry
                await pipe.execute()
        except _OUTAGE as exc:  # the budget is a little tighter for this minute
            self._went_down(exc)

    async def claim(self, key: str, value: str, ttl: float) -> str | None:
        if not self._up:
            return await super().claim(key, value, ttl)
        rkey = PREFIX + "claim:" + key
        try:
            if await self._redis.set(rkey, value, nx=True, ex=max(1, int(ttl))):
                return None
            held = await self._redis.get(rkey)
            return str(held) if held is not None else await self.claim(key, value, ttl)
        except _OUTAGE as exc:
            self._went_down(exc)
            return await super().claim(key, value, ttl)

    async def hold(self, name: str, owner: str, ttl: float) -> bool:
        if not self._up:
            return False  # nobody may claim to lead while the others cannot see it
        key = PREFIX + "leader:" + name
        try:
            return bool(await self._redis.eval(_HOLD, 1, key, owner, int(ttl * 1000)))
        except _OUTAGE as exc:
            self._went_down(exc)
            return False

    @property
    def name(self) -> str:
        return "redis" if self._up else self.DOWN


def _outage_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


try:
    _OUTAGE = _outage_errors()
except ImportError:  # pragma: no cover - redis is a dependency; only used with redis_url
    _OUTAGE = (OSError, TimeoutError)


async def _quietly(aw: Any) -> None:
    with contextlib.suppress(Exception):
        await aw


def _safe_url(url: str) -> str:
    """The URL without a password, for logs."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


#: renew if we hold it, else take it if free (atomic)
_HOLD = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""


def create_coordinator(
    redis_url: str | None, clock: Callable[[], float] = time.time
) -> Coordinator:
    return RedisCoordinator(redis_url, clock) if redis_url else Coordinator(clock)
