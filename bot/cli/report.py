"""`bot report (--commune CODE | --province CODE) (--from DATE --to DATE | --year Y | --half Y-H)
[--format xlsx|csv|html] [--out FILE]`: the report to the province (bot/report/,
docs/report.md). Without --out the file is named after the scope and period in the current
folder; ``--out -`` writes it to standard output."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.common import open_store, settings_of

if TYPE_CHECKING:
    from bot.figures.window import Window


def add_parser(sub: argparse._SubParsersAction) -> None:
    from bot.report import FORMATS

    r = sub.add_parser(
        "report",
        help="the yearly / half-year report of a commune or a province (docs/report.md)",
    )
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--commune", help="commune code, e.g. 02839")
    who.add_argument("--province", help="province code, e.g. 15: one row per commune")
    r.add_argument("--from", dest="first", help="first day, dd/mm/yyyy or yyyy-mm-dd")
    r.add_argument("--to", dest="last", help="last day (included), dd/mm/yyyy or yyyy-mm-dd")
    r.add_argument("--year", type=int, help="the report year Y: 15/12 of Y-1 to 14/12 of Y")
    r.add_argument(
        "--half",
        help="Y-1: 15/12 of Y-1 to 14/06 of Y; Y-2: 15/06 to 14/12 of Y",
    )
    r.add_argument("--format", choices=FORMATS, default="xlsx")
    r.add_argument("--out", help="the file to write (default: bao-cao-<scope>-<from>-<to>.<fmt>)")
    r.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from bot.report import period

    chosen = [bool(args.first or args.last), args.year is not None, bool(args.half)]
    if sum(chosen) != 1 or (chosen[0] and not (args.first and args.last)):
        print(
            "chọn một kỳ: --from và --to, hoặc --year, hoặc --half / give one period: "
            "--from and --to, or --year, or --half",
            file=sys.stderr,
        )
        return 2
    try:
        if args.year is not None:
            window = period.year(args.year)
        elif args.half:
            window = period.half(args.half)
        else:
            window = period.between(args.first, args.last)
    except period.PeriodError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    scope, code = ("commune", args.commune) if args.commune else ("province", args.province)
    try:
        body = asyncio.run(_make(args, scope, code, window))
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    out = args.out or (f"bao-cao-{code}-{window.first:%Y%m%d}-{window.last:%Y%m%d}.{args.format}")
    if out == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    else:
        Path(out).write_bytes(body)
        print(out)
    return 0


async def _make(args: argparse.Namespace, scope: str, code: str, window: Window) -> bytes:
    from bot.i18n import use_language
    from bot.report import figures, writers
    from bot.timeutil import utcnow

    settings = settings_of(args)
    async with open_store(settings, sync=True) as store, store.sm() as s:
        report = await figures.build(s, scope, code, window, utcnow(), settings.communes)
    if not report.communes:
        raise LookupError(
            f"không có xã nào mã {code} / no configured commune is {code}"
            if scope == "commune"
            else f"không có xã nào thuộc tỉnh {code} / no configured commune is in province {code}"
        )
    with use_language("vi"):
        return writers.write(report, args.format)
