"""`bot zalo connect | set-tokens`: the OA's OAuth tokens."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bot.cli.common import open_store, settings_of
from bot.config import Settings


async def with_tokens(settings: Settings, fn):
    """Run ``fn(token_manager)`` with the OA tokens' store open (used by `bot zalo` and benchmarks)."""
    import aiohttp

    from bot.app import VAR_DIR
    from bot.channels.zalo.oauth import TokenManager
    from bot.coord import create_coordinator
    from bot.crypto import SecretBox, load_or_create_secret

    async with open_store(settings) as store:
        coord = create_coordinator(settings.redis_url)
        await coord.start()
        try:
            async with aiohttp.ClientSession() as http:
                box = SecretBox(load_or_create_secret(settings.service.secret_key, VAR_DIR))
                return await fn(TokenManager(settings, store.sm, box, coord, http))
        finally:
            await coord.close()


def _check_oa(settings: Settings, oa_id: str) -> bool:
    if any(c.zalo and c.zalo.oa_id == oa_id for c in settings.communes):
        return True
    print(f"OA {oa_id} is not configured for any commune in {settings.source}", file=sys.stderr)
    return False


def cmd_zalo_connect(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if not _check_oa(settings, args.oa):
        return 2
    url = asyncio.run(with_tokens(settings, lambda tm: tm.authorization_url(args.oa)))
    print("Mở đường dẫn sau bằng tài khoản quản trị OA để cấp quyền / open as the OA admin:")
    print(url)
    print(f"Zalo sẽ chuyển về {settings.public_url}/zalo/oauth/callback (service must be running).")
    return 0


def cmd_zalo_set_tokens(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if not _check_oa(settings, args.oa):
        return 2
    # from the environment by preference: command-line values show up in `ps` and history
    access = args.access_token or os.environ.get("ZALO_ACCESS_TOKEN")
    refresh = args.refresh_token or os.environ.get("ZALO_REFRESH_TOKEN")
    if not access or not refresh:
        print(
            "give the tokens in ZALO_ACCESS_TOKEN / ZALO_REFRESH_TOKEN (or --access-token / "
            "--refresh-token)",
            file=sys.stderr,
        )
        return 2
    asyncio.run(
        with_tokens(settings, lambda tm: tm.store(args.oa, access, refresh, args.expires_in))
    )
    print(f"tokens stored (encrypted) for OA {args.oa}; expires in {args.expires_in} s")
    return 0
