"""Which office of the commune a report goes to, and what that office is called."""

from __future__ import annotations

from bot.config import Commune
from bot.text import search_key


def route(commune: Commune, category: str, village: str | None) -> str:
    """The office a report goes to: the first rule matching category × village, else the
    commune's first office."""
    vkey = search_key(village) if village else None
    for rule in commune.routing:
        if rule.category not in ("*", category):
            continue
        if rule.villages and vkey not in {search_key(v) for v in rule.villages}:
            continue
        return rule.office
    return commune.offices[0].code


def office_name(commune: Commune, code: str) -> str:
    return next((o.name for o in commune.offices if o.code == code), code)
