"""Engine and sessions. SQLite (embedded default) gets WAL; PostgreSQL is the production store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from bot.private_files import private_sqlite


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_sqlite(parsed.database)  # residents' data: owner-only (0600)
        # One connection: SQLite has one writer, and connections that contend for it wait in
        # SQLite's busy handler (sleeps of up to 100 ms). Queuing in-process instead keeps the
        # webhook's write-before-200 in the millisecond range. PostgreSQL gets a real pool.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


STARTUP_LOCK_KEY = 0x626F74  # "bot": one advisory-lock id for schema changes and tenant sync


@contextlib.asynccontextmanager
async def startup_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Serialise start-up work (migrations, mirroring communes) between processes that start
    together: a PostgreSQL session advisory lock; SQLite needs none (one process owns the file)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as conn:
        # tried, not waited for, each try its own short statement outside any transaction: a
        # process blocked in pg_advisory_lock holds a snapshot, and the holder's CREATE INDEX
        # CONCURRENTLY (migration 0023) waits for every older snapshot — both would wait for ever
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        try_lock = text("SELECT pg_try_advisory_lock(:k)")
        while not (await conn.execute(try_lock, {"k": STARTUP_LOCK_KEY})).scalar():
            await asyncio.sleep(0.2)
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": STARTUP_LOCK_KEY})


@contextlib.asynccontextmanager
async def advisory_lock(
    sm: async_sessionmaker, name: str, timeout_s: float = 30.0
) -> AsyncIterator[None]:
    """A lock across processes kept by PostgreSQL itself (a transaction-level advisory lock on
    a hash of ``name``), for when the coordinator's locks do not reach every process (Redis
    configured but down). SQLite needs none: one process owns the file. Raises
    :class:`bot.coord.LockTimeout` after ``timeout_s``."""
    from bot.coord import LockTimeout

    async with sm() as s:
        if s.bind.dialect.name != "postgresql":
            yield
            return
        async with s.begin():
            deadline = asyncio.get_running_loop().time() + timeout_s
            while not (
                await s.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:n))"), {"n": name})
            ).scalar():
                if asyncio.get_running_loop().time() >= deadline:
                    raise LockTimeout(f"{name} (database lock)")
                await asyncio.sleep(0.2)
            yield  # released when this transaction ends
