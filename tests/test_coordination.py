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

from bot.coord import RedisCoordinator
from tests.conftest import free_port, make_settings, oa_id, start_service
from tests.test_zalo_e2e import wait_until

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
