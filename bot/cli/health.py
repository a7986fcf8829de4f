"""`bot tenants health [--province CODE] [--json]`: every commune's health, worst first, exit
status 1 when any commune has a problem (for cron, like `bot staff check`);
`bot staff propagandists (--commune CODE | --province CODE) [--json]`: the propagandist
registry and its coverage. Both read ``bot.health`` / ``bot.registry`` (docs/console-health.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot.cli.common import open_store, settings_of


def add_parsers(tenants: Any, staff: Any) -> None:
    """The two commands, on `bot tenants` and `bot staff`'s sub-parsers."""
    th = tenants.add_parser(
        "health",
        help="every commune's health, worst first (OA, token, last webhook and notice, overdue "
        "tickets, villages without a propagandist); exit status 1 when any has a problem",
    )
    th.add_argument("--province", help="only this province's communes (2-digit code)")
    th.add_argument("--json", action="store_true", help="as JSON")
    th.set_defaults(func=cmd_tenants_health)
    sp = staff.add_parser(
        "propagandists",
        help="the propagandist registry: per village who, since when, Zalo linked, last relay "
        "confirmed; coverage per commune and province",
    )
    where = sp.add_mutually_exclusive_group(required=True)
    where.add_argument("--commune", help="commune code")
    where.add_argument("--province", help="province code (2 digits)")
    sp.add_argument("--json", action="store_true", help="as JSON")
    sp.set_defaults(func=cmd_staff_propagandists)


def cmd_tenants_health(args: argparse.Namespace) -> int:
    from bot.health import health, scope_ids
    from bot.i18n import _
    from bot.timeutil import utcnow

    settings = settings_of(args)

    async def run() -> list:
        async with open_store(settings, sync=True) as store, store.sm() as s:
            ids = await scope_ids(s, province=args.province)
            return await health(s, ids, utcnow())

    rows = asyncio.run(run())
    if args.json:
        print(
            json.dumps(
                {
                    "communes": [r.to_json() for r in rows],
                    "with_problems": sum(1 for r in rows if r.problems),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    elif not rows:
        print(_("Không có xã, phường nào."), file=sys.stderr)
    else:
        for r in rows:
            mark = "!!" if r.worst == 2 else "! " if r.worst else "ok"
            print(f"{mark} {r.code} {r.name}")
            print(
                "   "
                + _(
                    "OA: {oa} · {token} · tin từ Zalo: {webhook} · thông báo: {notice} · "
                    "quá hạn: {overdue} · thôn có TTV: {covered}/{villages}"
                ).format(
                    oa=r.oa_id or "—",
                    token=r.token_name,
                    webhook=_vn(r.last_webhook),
                    notice=_vn(r.last_notice),
                    overdue=r.overdue,
                    covered=r.covered,
                    villages=r.villages,
                )
            )
            for p in r.problems:
                print(f"   - {p.text}")
        bad = sum(1 for r in rows if r.problems)
        print(_("{bad}/{n} xã, phường có vấn đề.").format(bad=bad, n=len(rows)))
    return 1 if any(r.problems for r in rows) else 0


def _vn(value: Any) -> str:
    from bot.health import vn_date

    return vn_date(value) or "—"


def cmd_staff_propagandists(args: argparse.Namespace) -> int:
    from bot.health import scope_ids
    from bot.i18n import _
    from bot.registry import registry

    settings = settings_of(args)
    configs = {c.code: c for c in settings.communes}

    async def run() -> Any:
        async with open_store(settings, sync=True) as store, store.sm() as s:
            if args.commune:
                ids = await scope_ids(s, codes=[args.commune])
                if not ids:
                    return None
            else:
                ids = await scope_ids(s, province=args.province)
            return await registry(s, ids, configs)

    found = asyncio.run(run())
    if found is None:
        print(f"commune {args.commune} is not configured", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found.to_json(), ensure_ascii=False, indent=2))
        return 0
    for c in found.communes:
        cov = c.coverage
        print(
            _("{code} {name}: {covered}/{villages} thôn có tuyên truyền viên ({pct})").format(
                code=c.code, name=c.name, covered=cov.covered, villages=cov.villages, pct=cov.pct
            )
        )
        for v in c.villages:
            if not v.people:
                print(f"  {v.name}: " + _("chưa có tuyên truyền viên"))
            for p in v.people:
                print(
                    f"  {v.name}: {p.name} · {p.phone or '—'} · "
                    + _("từ {since} · Zalo: {zalo} · xác nhận chuyển tin gần nhất: {last}").format(
                        since=_vn(p.since)[:10],
                        zalo=_("có") if p.zalo_linked else _("chưa"),
                        last=_vn(p.last_confirmed),
                    )
                )
    if args.province:
        cov = found.coverage
        print(
            _("Toàn tỉnh {code}: {covered}/{villages} thôn có tuyên truyền viên ({pct})").format(
                code=args.province, covered=cov.covered, villages=cov.villages, pct=cov.pct
            )
        )
    return 0
