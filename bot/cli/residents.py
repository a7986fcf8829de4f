"""`bot resident erase`: a resident's personal data erased on request."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot.cli.common import open_store, settings_of


def cmd_resident_erase(args: argparse.Namespace) -> int:
    """Erase a resident who asked (by phone, at the office): bot/privacy.py, the same as the
    chat's "xóa thông tin của tôi" and the API. Nothing happens without ``--yes``."""
    from bot import privacy
    from bot.store.models import Staff

    settings = settings_of(args)
    if settings.commune(args.commune) is None:
        print(f"commune {args.commune} is not configured", file=sys.stderr)
        return 2
    who = f"Zalo user {args.zalo_id}" if args.zalo_id else f"the reporter of {args.ticket}"
    if not args.yes:
        print(
            f"this erases {who} in {args.commune} for good (name, phone, messages, their "
            "tickets' text, photos and place); run again with --yes",
            file=sys.stderr,
        )
        return 2

    async def run() -> int:
        async with open_store(settings, sync=True) as store:
            tenant = store.tenant(args.commune)
            async with store.sm() as s, s.begin():
                if args.staff_id is not None:
                    staff = await s.get(Staff, args.staff_id)
                    if (
                        staff is None
                        or staff.commune_id != tenant.id
                        or not staff.active
                        or staff.role != "leader"
                    ):
                        print(
                            f"no active leader #{args.staff_id} in {args.commune}", file=sys.stderr
                        )
                        return 2
                done = await privacy.erase_on_request(
                    s,
                    tenant.id,
                    zalo_id=args.zalo_id,
                    ticket_code=args.ticket,
                    source="cli",
                    staff_id=args.staff_id,
                )
            if done is None:
                print(f"{who}: not found in {args.commune}", file=sys.stderr)
                return 2
            print(json.dumps({"erased": True, **done.to_json()}, ensure_ascii=False, indent=2))
            return 0

    return asyncio.run(run())
