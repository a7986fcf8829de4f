"""Entities, the same for every backend: the data's regexes (``ticket_code``) and the commune's
own villages, matched accent- and case-insensitively on word boundaries.

One place for this, so the Rasa backend (trained for intents only) and the embedded engine give
the same entities for the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bot.nlu.normalize import search_key


class EntityExtractor:
    def __init__(self, regexes: dict[str, list[str]]) -> None:
        self.regexes = {name: [re.compile(p, re.I) for p in patterns]
                        for name, patterns in regexes.items()}

    def __call__(self, text: str, villages: Iterable[str] = ()) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for name, patterns in self.regexes.items():
            for pattern in patterns:
                for m in pattern.finditer(text):
                    found.append({"entity": name, "value": m.group(0).upper(),
                                  "start": m.start(), "end": m.end()})
        key = f" {search_key(text)} "
        for village in villages:
            vkey = search_key(village)
            if vkey and f" {vkey} " in key:
                found.append({"entity": "village", "value": village})
        return found
