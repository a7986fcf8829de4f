"""What every ``bot`` command shares: its settings, logging, and the store — one helper opens
it (engine, migrations, communes mirrored) and closes it, for every command that needs it."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from bot.config import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from bot.tenants import Tenant, Tenants

T = TypeVar("T")


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.config) if getattr(args, "config", None) else load_settings()


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@dataclass
class Store:
    engine: AsyncEngine
    sm: async_sessionmaker[AsyncSession]
    #: the communes mirrored from the configuration (``sync=True``), else None
    tenants: Tenants | None = None

    def tenant(self, code: str) -> Tenant:
        """The mirrored commune ``code`` (the command checked it against the configuration)."""
        found = self.tenants.by_code(code) if self.tenants else None
        if found is None:
            raise LookupError(f"commune {code} is not mirrored (open_store(sync=True))")
        return found


@asynccontextmanager
async def open_store(
    settings: Settings, *, migrate: bool = True, sync: bool = False
) -> AsyncIterator[Store]:
    """The store of ``settings``: engine created, migrations applied (unless ``migrate`` is
    false: a read-only look), the configured communes mirrored when ``sync``; the engine is
    disposed of on the way out."""
    from bot.store.db import create_engine, sessionmaker
    from bot.store.migrate import upgrade
    from bot.tenants import sync as sync_tenants

    engine = create_engine(settings.database_url)
    try:
        if migrate:
            await upgrade(engine)
        sm = sessionmaker(engine)
        yield Store(engine, sm, await sync_tenants(settings, sm) if sync else None)
    finally:
        await engine.dispose()


def in_store(args: argparse.Namespace, work: Callable[[AsyncSession, int], Awaitable[T]]) -> T:
    """Run ``work(session, commune_id)`` in one transaction on the commune of ``--commune``."""
    from bot.staff import commune_id_of

    async def run() -> Any:
        async with open_store(settings_of(args), sync=True) as store, store.sm() as s, s.begin():
            return await work(s, await commune_id_of(s, args.commune))

    return asyncio.run(run())
