"""`bot tenants list | add | import`: the communes in the configuration (and the store)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from bot.cli.common import open_store, settings_of
from bot.config import ConfigError, config_path, load_settings, settings_from_dict
from bot.store.models import Commune as CommuneRow


def cmd_tenants_list(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    for c in settings.communes:
        oa = c.zalo.oa_id if c.zalo else "-"
        print(f"{c.code}  {c.name:<30} OA {oa:<20} {len(c.villages)} thôn/tổ")
    return 0


DEFAULT_HOURS = [
    {"days": "mon-fri", "open": "07:30", "close": "11:30"},
    {"days": "mon-fri", "open": "13:30", "close": "17:00"},
]


def cmd_tenants_add(args: argparse.Namespace) -> int:
    from bot import admin_units

    path = Path(args.config) if args.config else config_path()
    try:
        unit = admin_units.require_unit(args.unit_code)
    except admin_units.UnknownUnitError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if any(str(c.get("code")) == unit.code for c in raw.get("communes") or []):
        print(f"{unit.code} {unit.name} is already in {path}", file=sys.stderr)
        return 2
    entry: dict[str, Any] = {
        "code": unit.code,
        "name": unit.name,
        "province_code": unit.province_code,
        "office_hours": DEFAULT_HOURS,
        "address": args.address or f"UBND {unit.name}, {unit.province_name}",
        "phone": args.phone,
        "villages": [v.strip() for v in args.villages.split(",") if v.strip()]
        if args.villages
        else [],
    }
    if args.email:
        entry["email"] = args.email
    if args.oa_id:
        entry["zalo"] = {
            "oa_id": args.oa_id,
            "app_id": args.app_id,
            "oa_secret_key": args.oa_secret_key,
        }
    candidate = dict(raw)
    candidate["communes"] = list(raw.get("communes") or []) + [entry]
    try:
        settings_from_dict(candidate, where=str(path))  # validate before writing anything
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    text = path.read_text(encoding="utf-8")
    new_text = yaml.safe_dump(candidate, allow_unicode=True, sort_keys=False)
    top_keys = re.findall(r"^([A-Za-z_]+):", text, flags=re.M)
    items = re.findall(r"^( *)- ", text.split("\ncommunes:", 1)[-1], flags=re.M)
    if top_keys and top_keys[-1] == "communes" and raw.get("communes") and items:
        # append under the existing list, at its indentation, keeping the file's comments
        block = yaml.safe_dump(
            [entry], allow_unicode=True, sort_keys=False, default_flow_style=None
        )
        indented = "\n".join((items[0] + line) if line else line for line in block.splitlines())
        appended = text.rstrip("\n") + "\n\n" + indented + "\n"
        if (yaml.safe_load(appended) or {}).get("communes") == candidate["communes"]:
            new_text = appended
    settings_from_dict(yaml.safe_load(new_text), where=str(path))  # what we write must load
    path.write_text(new_text, encoding="utf-8")
    print(f"added {unit.code} {unit.name} ({unit.province_name}) to {path}")
    if not args.no_db:
        settings = load_settings(path)

        async def run() -> None:
            async with open_store(settings, sync=True):  # migrated, the commune mirrored
                pass

        asyncio.run(run())
        print("store updated; restart `bot serve` to route its OA")
    return 0


def cmd_tenants_import(args: argparse.Namespace) -> int:
    """`bot tenants import FILE [--dry-run]`: a province's communes, villages and staff from
    one XLSX or CSV (bot/onboarding.py, docs/onboarding.md): checked whole, what would change
    printed, then applied all or nothing."""
    from bot import onboarding
    from bot.cli.staff import invitation_link, print_gaps, print_invitation
    from bot.timeutil import utcnow

    path = Path(args.config) if args.config else config_path()
    settings = load_settings(path)
    old_text = path.read_text(encoding="utf-8")
    file = Path(args.file)
    if not file.is_file():
        print(f"{file}: no such file", file=sys.stderr)
        return 2

    try:
        rows = onboarding.read(file)
    except onboarding.ImportFileError as exc:
        return _refused(file, exc.problems)
    planned: dict[str, Any] = {}  # what run() planned, for the lines printed after it

    async def run() -> tuple[list[onboarding.NewStaff], list]:
        from bot import facts_store
        from bot.coverage import warnings

        async with open_store(settings) as store:  # migrated; mirrored in the transaction below
            async with store.sm() as s:
                try:
                    # planned against the console's edits read in the applying transaction
                    plan = planned["plan"] = onboarding.plan_config(
                        rows,
                        yaml.safe_load(old_text) or {},
                        where=str(path),
                        console=await facts_store.console_edits(s, lock=True),
                    )
                    new_settings = planned["settings"] = (
                        settings_from_dict(plan.config, where=str(path))
                        if plan.config_changed
                        else settings
                    )
                    new_text = (
                        onboarding.config_text(path, old_text, plan)
                        if plan.config_changed
                        else old_text
                    )
                    await onboarding.plan_staff(s, plan)
                    if args.dry_run or plan.empty:
                        await s.rollback()
                        return [], []
                    added = await onboarding.apply_store(s, plan, new_settings, utcnow())
                    if plan.config_changed:
                        onboarding.write_config(path, new_text)
                    try:
                        await s.commit()
                    except BaseException:
                        if plan.config_changed:  # the compensation: the old file back
                            onboarding.write_config(path, old_text, check=False)
                        raise
                except BaseException:
                    await s.rollback()
                    raise
            async with store.sm() as s:
                codes = sorted(
                    {r.split()[0] for r in plan.communes_added + plan.communes_changed}
                    | {w.commune for w in plan.staff_added + plan.staff_changed}
                )
                ids = [
                    c.id
                    for c in (
                        await s.execute(select(CommuneRow).where(CommuneRow.code.in_(codes)))
                    ).scalars()
                ]
                gaps = [g for i in ids for g in await warnings(s, i)]
            return added, gaps

    try:
        added, gaps = asyncio.run(run())
    except onboarding.ImportFileError as exc:
        return _refused(file, exc.problems)
    except Exception as exc:  # noqa: BLE001  (a constraint, a file that cannot be written)
        print(
            f"{file}: the import failed and nothing was changed "
            f"(neither {path.name} nor the store): {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    plan, new_settings = planned["plan"], planned["settings"]
    for line in plan.lines():
        print(line)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if plan.empty:
        return 0
    if args.dry_run:
        print("dry run: nothing was written (run again without --dry-run to apply)")
        return 0
    for new in added:
        desk = f", office {new.office}" if new.office else ""
        print(f"staff #{new.staff_id} {new.name} ({new.role}{desk}) added to {new.commune}.")
        print("API key (shown once; keep it secret, send as 'Authorization: Bearer <key>'):")
        print(new.key)
        if new.invitation:
            print_invitation(invitation_link(new_settings, new.invitation), to=sys.stdout)
    print_gaps(gaps)
    done = f"{path} written and the store updated" if plan.config_changed else "store updated"
    print(f"applied: {done}; restart `bot serve` to route new OAs")
    return 0


def _refused(file: Path, problems: list[str]) -> int:
    print(f"{file}: {len(problems)} error(s); nothing was changed:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 2
