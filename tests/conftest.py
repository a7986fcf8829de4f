"""Shared fixtures: real PostgreSQL / Redis (skipped locally when absent, failing under CI=true),
the Zalo simulator, and the running service wired to it over real HTTP."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import SERVICES, Services, create_app
from bot.config import Settings, settings_from_dict
from bot.store.db import create_engine
from bot.store.migrate import upgrade
from bot.store.models import Base
from zalosim.driver import ZaloSimulator

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/15"
IN_CI = os.environ.get("CI", "").lower() == "true"
APP_ID, APP_SECRET = "3608465249409039670", "sim-app-secret"


def run_in_thread(coro) -> Any:  # type: ignore[no-untyped-def]
    """Run a coroutine to completion on its own loop (session fixtures may be set up while a
    test's loop is running)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} unavailable: {type(exc).__name__}: {exc}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


# -- PostgreSQL ------------------------------------------------------------------------------
async def admin(url: str, sql: str) -> None:
    """Run ``sql`` outside a transaction (CREATE/DROP DATABASE cannot run in one)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> str:
    """A fresh database for this test session, migrated once; dropped at the end."""
    base = os.environ.get("BOT_TEST_DATABASE_URL", PG_DEFAULT)
    name = f"bot_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)

    async def create() -> None:
        await admin(base, f'CREATE DATABASE "{name}"')
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    try:
        run_in_thread(create())
    except Exception as exc:  # noqa: BLE001
        unavailable("PostgreSQL", exc)
    yield url
    run_in_thread(admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_all(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    url = request.getfixturevalue("pg_database")
    await truncate_all(url)
    return url


@pytest.fixture
async def pg_url(pg_database) -> str:
    await truncate_all(pg_database)
    return pg_database


# -- Redis -----------------------------------------------------------------------------------
@pytest.fixture
async def redis_url() -> str:
    import redis.asyncio as redis

    url = os.environ.get("BOT_TEST_REDIS_URL", REDIS_DEFAULT)
    client = redis.from_url(url)
    try:
        await client.ping()
        await client.flushdb()
    except Exception as exc:  # noqa: BLE001
        unavailable("Redis", exc)
    finally:
        await client.aclose()
    return url


# -- Zalo simulator --------------------------------------------------------------------------
@pytest.fixture
async def sim() -> AsyncIterator[ZaloSimulator]:
    simulator = ZaloSimulator(time_scale=0.001, webhook_timeout=2.0)
    await simulator.start()
    simulator.add_app(APP_ID, APP_SECRET)
    # tests run at any hour and broadcast often: the tests about Zalo's broadcast rules (night,
    # quotas) switch them on (tests/test_zalo_rules.py)
    simulator.configure(
        broadcast_night_refused=False, broadcast_month_quota=None, broadcast_day_quota=None
    )
    yield simulator
    await simulator.stop()


#: Zalo's broadcast hours and quotas lifted (tests run at any hour, several broadcasts a day)
ANY_HOUR_BROADCASTS = {
    "per_follower_month": 1000,
    "per_follower_day": 1000,
    "review_s": 0,
    "send_from": "00:00",
    "deliver_by": "23:59:59",
}


def oa_id(n: int) -> str:
    return f"{4000000000000000000 + n}"


def commune_code(n: int) -> str:
    return f"{90000 + n:05d}"


def make_settings(
    store: str,
    sim: ZaloSimulator,
    communes: int = 2,
    redis: str | None = None,
    nlu: dict[str, Any] | None = None,
    notices: dict[str, Any] | None = None,
    feedback: dict[str, Any] | None = None,
    commune_extra: dict[str, Any] | None = None,
    **zalo: Any,
) -> Settings:
    raw = {
        "service": {"secret_key": "test-secret-key", "public_url": "http://127.0.0.1:1"},
        "database_url": store,
        "redis_url": redis,
        "nlu": nlu or {},
        "notices": notices or {},
        "feedback": feedback or {},
        "zalo": {
            "api_base": sim.base_url,
            "oauth_base": sim.base_url,
            "apps": [{"app_id": APP_ID, "app_secret": APP_SECRET}],
            "article_cover_url": "https://xa.example.gov.vn/anh-bia.jpg",
            "broadcasts": ANY_HOUR_BROADCASTS,
            # tests move the simulator's clock (days ahead, to 10:00 tomorrow), not ours:
            # its events' dates are taken as they come. tests/test_webhook_limits.py checks
            # the window with its defaults.
            "event_max_age_s": 400 * 86400,
            "event_future_skew_s": 400 * 86400,
            **zalo,
        },
        "communes": [
            {
                "code": commune_code(n),
                "name": f"Xã Thử Nghiệm {n}",
                "office_hours": [
                    {"days": "mon-fri", "open": "07:30", "close": "11:30"},
                    {"days": "mon-fri", "open": "13:30", "close": "17:00"},
                ],
                "address": f"UBND xã Thử Nghiệm {n}",
                "phone": f"0214 000 {n:03d}",
                "villages": ["Nậm Mòn", "Bản Phố"],
                "zalo": {"oa_id": oa_id(n), "app_id": APP_ID, "oa_secret_key": f"oa-secret-{n}"},
                **(commune_extra or {}),
            }
            for n in range(1, communes + 1)
        ],
    }
    return settings_from_dict(raw, env={})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Poll ``/healthz`` of a service started as a process until it answers 200."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"service exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("service did not become healthy")


@dataclass
class Running:
    url: str
    settings: Settings
    services: Services
    sim: ZaloSimulator
    runner: web.AppRunner

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/zalo"


async def start_service(settings: Settings, sim: ZaloSimulator) -> Running:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    running = Running(f"http://127.0.0.1:{port}", settings, app[SERVICES], sim, runner)
    for commune in settings.communes:
        z = commune.zalo
        if z.oa_id not in sim.state.oas:
            sim.add_oa(z.oa_id, z.app_id, z.oa_secret_key, webhook_url=running.webhook)
            access, refresh = sim.mint_tokens(z.oa_id)
            await running.services.tokens.store(z.oa_id, access, refresh, 90000)
        else:
            sim.state.oas[z.oa_id].webhook_url = running.webhook
    return running


@pytest.fixture
async def service(store_url, sim) -> AsyncIterator[Running]:
    running = await start_service(make_settings(store_url, sim), sim)
    yield running
    await running.runner.cleanup()
