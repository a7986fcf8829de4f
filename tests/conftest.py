"""Shared fixtures: real PostgreSQL / Redis (skipped locally when absent, failing under CI=true),
the Zalo simulator, and the running service wired to it over real HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from bot.store.db import create_engine
from bot.store.migrate import upgrade
from tests.browser import browser  # noqa: F401  (the fixture, for every test module)
from tests.helpers import (
    APP_ID,
    APP_SECRET,
    OFFICES,
    PG_DEFAULT,
    REDIS_DEFAULT,
    Commune,
    Running,
    admin,
    make_settings,
    run_in_thread,
    start_service,
    truncate_all,
    unavailable,
)
from zalosim.driver import ZaloSimulator

# -- PostgreSQL ------------------------------------------------------------------------------


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


@pytest.fixture
async def service(store_url, sim) -> AsyncIterator[Running]:
    running = await start_service(make_settings(store_url, sim), sim)
    yield running
    await running.runner.cleanup()


@pytest.fixture
async def commune(store_url, sim):
    """A running service whose communes have three offices, and the staff side of commune 1
    (tests/test_feedback.py and the modules about tickets; a module may define its own)."""
    running = await start_service(make_settings(store_url, sim, commune_extra=OFFICES), sim)
    async with aiohttp.ClientSession() as http:
        yield Commune(running, http)
    await running.runner.cleanup()
