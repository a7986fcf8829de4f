"""`bot tenants list | add`: the communes in the configuration (and the store)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.cli.common import open_store, settings_of
from bot.config import ConfigError, config_path, load_settings, settings_from_dict


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
