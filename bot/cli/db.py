"""`bot db upgrade`."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import open_store, settings_of


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.store.migrate import current_revision

    settings = settings_of(args)

    async def run() -> str | None:
        async with open_store(settings) as store:
            return await current_revision(store.engine)

    print(f"database at revision {asyncio.run(run())}")
    return 0
