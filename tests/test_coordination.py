"""Redis coordinates, it owns nothing: with Redis configured but unreachable the service starts
on in-process coordination, says so in /healthz, keeps answering, switches to Redis when it
answers and back when it goes — one warning per change, no traceback. The Redis here is one
this test starts on a port of its own (never the shared one)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

import aiohttp
import pytest
import redis

from bot.coord import Coordinator, RedisCoordinator, create_coordinator
from tests.helpers import ManualClock, free_port, make_settings, oa_id, start_service, wait_until

OA = oa_id(1)


class RedisServer:
    """``redis-server`` on ``port``, no persistence; started and stopped by the test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis_server():
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port())
    yield server
    server.stop()


async def coordination(running) -> str:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession() as http, http.get(f"{running.url}/healthz") as r:
        assert r.status == 200
        return (await r.json())["coordination"]


async def test_redis_unreachable_at_start_then_back_then_gone(
    store_url, sim, redis_server, caplog, monkeypatch
):
    monkeypatch.setattr(RedisCoordinator, "RETRY_S", (0.2, 0.5))
    caplog.set_level(logging.WARNING, logger="bot.coord")
    settings = make_settings(
        store_url, sim, communes=1, redis=f"redis://127.0.0.1:{redis_server.port}/0"
    )
    running = await start_service(settings, sim)  # Redis is not running yet
    try:
        assert await coordination(running) == "in-process (redis unreachable, retrying)"
        await sim.user_sends_text(OA, "7901", "xin chao")  # the service works meanwhile
        await sim.wait_for_messages(1, oa_id=OA, user_id="7901")

        async def now(state: str) -> bool:
            return await coordination(running) == state

        redis_server.start()
        await wait_until(lambda: now("redis"), timeout=15)
        await sim.user_sends_text(OA, "7901", "uy ban o dau")
        await sim.wait_for_messages(2, oa_id=OA, user_id="7901")

        redis_server.stop()
        await wait_until(lambda: now(RedisCoordinator.DOWN), timeout=15)
        await sim.user_sends_text(OA, "7901", "may gio lam viec")
        await sim.wait_for_messages(3, oa_id=OA, user_id="7901")

        redis_server.start()
        await wait_until(lambda: now("redis"), timeout=15)
    finally:
        await running.runner.cleanup()
    changes = [r for r in caplog.records if r.name == "bot.coord"]
    assert [
        ("unreachable" in r.getMessage(), "answers again" in r.getMessage()) for r in changes
    ] == [(True, False), (False, True), (True, False), (False, True)]
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in changes)


# -- the rate windows' clock ------------------------------------------------------------------
async def turns_with_its_clock(coord: Coordinator, clock: ManualClock) -> None:
    """Fixed windows are buckets of the coordinator's clock: they turn when it is advanced."""
    assert coord.clock is clock
    key = f"seam:{clock.now}"
    assert [await coord.window_count(key, 60) for _ in range(3)] == [1, 2, 3]
    clock.advance(59.9)  # the same minute
    assert await coord.window_count(key, 60) == 4
    await coord.window_release(key, 60)  # a call not made gives its count back
    assert await coord.window_count(key, 60) == 4
    clock.advance(0.1)  # the minute turns
    assert await coord.window_count(key, 60) == 1
    assert await coord.window_count(key, 3600) == 1  # an hour: its own window


async def test_in_process_windows_turn_with_the_clock():
    clock = ManualClock(1_800_000_000.0)  # the start of a minute
    coord = create_coordinator(None, clock=clock)
    await coord.start()
    try:
        await turns_with_its_clock(coord, clock)
    finally:
        await coord.close()


async def test_redis_windows_turn_with_the_clock(redis_url):
    clock = ManualClock(1_800_000_000.0)
    coord = create_coordinator(redis_url, clock=clock)
    await coord.start()
    try:
        assert isinstance(coord, RedisCoordinator) and coord.name == "redis"
        await turns_with_its_clock(coord, clock)
    finally:
        await coord.close()
