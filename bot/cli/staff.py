"""`bot staff add | list | check | revoke-key | rotate-key | deactivate | reactivate`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot.cli.common import in_store, open_store, settings_of


def cmd_staff_add(args: argparse.Namespace) -> int:
    from bot.coverage import warnings
    from bot.staff import StaffError, add_staff

    commune = settings_of(args).commune(args.commune)

    async def run(s, commune_id: int) -> tuple[int, str | None, str, list]:
        staff, key = await add_staff(
            s,
            args.commune,
            args.name,
            args.role,
            args.village,
            args.zalo_user_id,
            args.office,
            [o.code for o in commune.offices] if commune else None,
        )
        return staff.id, staff.office, key, await warnings(s, commune_id)

    try:
        staff_id, office, key, gaps = in_store(args, run)
    except StaffError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not args.quiet:
        desk = f", office {office}" if office else ""
        print(f"staff #{staff_id} {args.name} ({args.role}{desk}) added to {args.commune}.")
        print("API key (shown once; keep it secret, send as 'Authorization: Bearer <key>'):")
    print(key)  # --quiet: the key alone, so KEY=$(bot staff add … --quiet) keeps it
    print_gaps(gaps)
    return 0


def cmd_staff_list(args: argparse.Namespace) -> int:
    """The commune's staff and their live keys (id, first characters, when issued and last
    used): never a key itself."""
    from bot.staff import StaffError, list_staff

    try:
        people = in_store(args, lambda s, commune_id: list_staff(s, commune_id))
    except StaffError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(people, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{'id':>4}  {'name':<24} {'role':<12} {'office/village':<18} {'zalo id':<20} "
        f"{'active':<6}  keys"
    )
    for p in people:
        keys = (
            ", ".join(
                f"#{k['id']} {k['prefix'] or '?'}… issued {k['created_at'][:10]}, "
                f"used {(k['used_at'] or 'never')[:10]}"
                for k in p["keys"]
            )
            or "-"
        )
        where = p["office"] or p["village"] or "-"
        print(
            f"{p['id']:>4}  {p['name'][:24]:<24} {p['role']:<12} {where[:18]:<18} "
            f"{p['zalo_user_id'] or '-':<20} {'yes' if p['active'] else 'no':<6}  {keys}"
        )
    return 0


def cmd_staff_change(args: argparse.Namespace) -> int:
    """revoke-key | rotate-key | deactivate | reactivate one staff member (bot/staff.py)."""
    from bot import staff as staffing

    async def work(s, commune_id):
        member = await staffing.staff_member(s, commune_id, args.staff_id)
        if args.st_command == "revoke-key":
            return member.name, await staffing.revoke_keys(s, member)
        if args.st_command == "rotate-key":
            return member.name, await staffing.rotate_key(s, member)
        if args.st_command == "deactivate":
            return member.name, await staffing.deactivate(s, member)
        return member.name, await staffing.reactivate(s, member)

    try:
        name, result = in_store(args, work)
    except staffing.StaffError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    who = f"staff #{args.staff_id} {name}"
    if args.st_command == "revoke-key":
        print(f"{who}: {result} key(s) revoked; they are refused from now on.")
    elif args.st_command == "deactivate":
        print(
            f"{who} deactivated: keys revoked, no more alerts or Zalo commands "
            f"({result} queued alert(s) cancelled)."
        )
    else:
        if not args.quiet:
            done = "new key" if args.st_command == "rotate-key" else "reactivated, new key"
            print(f"{who}: {done} (shown once; the old keys no longer work):")
        print(result)  # --quiet: the key alone
    return 0


def print_gaps(gaps: list) -> None:
    """Coverage warnings on stderr: seen in a terminal, kept out of a captured key."""
    for gap in gaps:
        print(f"warning: {gap.message}", file=sys.stderr)


def cmd_staff_check(args: argparse.Namespace) -> int:
    """Whether emergency alerts and village relays can reach someone (bot/coverage.py);
    exit status 1 when they cannot, for scripts."""
    from bot.coverage import warnings

    settings = settings_of(args)

    async def run() -> list | None:
        async with open_store(settings, sync=True) as store:
            tenant = store.tenants.by_code(args.commune)  # type: ignore[union-attr]
            if tenant is None:
                return None
            async with store.sm() as s:
                return await warnings(s, tenant.id)

    gaps = asyncio.run(run())
    if gaps is None:
        print(f"commune {args.commune} is not configured", file=sys.stderr)
        return 2
    print_gaps(gaps)
    if not gaps:
        print(f"{args.commune}: leaders and every village's propagandist can be reached on Zalo")
    return 1 if gaps else 0
