"""Entities, the same for every backend: ``ticket_code`` (the data's regexes), ``village`` (the
commune's own villages, read by ``bot/nlu/villages.py``: no accents, with or without the kind
word, small typos, in text order), ``language`` and ``topic`` (lookup tables in ``data/nlu/lookups.yml``,
each surface form mapped to its value by the data's synonyms: "tiếng H'Mông" → ``hnj``,
"cắt điện" → ``services``), and ``date`` (today, tomorrow, a weekday, 25/12, "ngày 25 tháng
12" → an ISO date in Vietnamese time). Names are matched accent- and case-insensitively on word
boundaries.

One place for this, so the Rasa backend (trained for intents only) and the embedded engine give
the same entities for the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from bot.nlu.villages import VillageLike, as_entities
from bot.text import search_key, words_key
from bot.timeutil import to_vn, utcnow

#: lookup tables whose matches are entities (the others only feed Rasa's RegexFeaturizer)
LOOKUP_ENTITIES = ("language", "topic")
_WEEKDAYS = {
    "thu hai": 0,
    "thu 2": 0,
    "thu ba": 1,
    "thu 3": 1,
    "thu tu": 2,
    "thu 4": 2,
    "thu nam": 3,
    "thu 5": 3,
    "thu sau": 4,
    "thu 6": 4,
    "thu bay": 5,
    "thu 7": 5,
    "chu nhat": 6,
}
_RELATIVE = {"hom nay": 0, "bay gio": 0, "ngay mai": 1, "mai nay": 1, "ngay kia": 2, "hom qua": -1}
_DMY = re.compile(r"\b(\d{1,2})\s*[/-]\s*(\d{1,2})(?:\s*[/-]\s*(\d{4}))?\b")
_WORDY = re.compile(r"\bngay (\d{1,2}) thang (\d{1,2})(?: nam (\d{4}))?\b")


class EntityExtractor:
    def __init__(
        self,
        regexes: dict[str, list[str]],
        lookups: dict[str, list[str]] | None = None,
        synonyms: dict[str, list[str]] | None = None,
    ) -> None:
        self.regexes = {
            name: [re.compile(p, re.I) for p in patterns] for name, patterns in regexes.items()
        }
        canonical = {
            words_key(form): value for value, forms in (synonyms or {}).items() for form in forms
        }
        self.lookups: dict[str, list[tuple[str, str]]] = {}
        for name in LOOKUP_ENTITIES:
            forms = {
                words_key(f): canonical.get(words_key(f), f) for f in (lookups or {}).get(name, [])
            }
            # longest first, so "tiếng Ê Đê" wins over a shorter form inside it
            self.lookups[name] = sorted(forms.items(), key=lambda kv: -len(kv[0]))

    def __call__(
        self, text: str, villages: Iterable[str | VillageLike] = (), now: datetime | None = None
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for name, patterns in self.regexes.items():
            for pattern in patterns:
                for m in pattern.finditer(text):
                    found.append(
                        {
                            "entity": name,
                            "value": m.group(0).upper(),
                            "start": m.start(),
                            "end": m.end(),
                        }
                    )
        key = f" {words_key(text)} "
        found += as_entities(text, villages)
        for name, forms in self.lookups.items():
            taken = key
            for form, value in forms:
                if form and f" {form} " in taken:
                    if all(e.get("value") != value or e["entity"] != name for e in found):
                        found.append({"entity": name, "value": value})
                    taken = taken.replace(f" {form} ", " ")
        when = find_date(text, now)
        if when:
            found.append({"entity": "date", "value": when.isoformat()})
        return found


def find_date(text: str, now: datetime | None = None) -> date | None:
    """The first date the text names, in Vietnamese time; a day/month without a year is the
    nearest such day (this year's, next year's or last year's)."""
    today = to_vn(now or utcnow()).date()
    key = f" {words_key(text)} "
    for phrase, days in _RELATIVE.items():
        if f" {phrase} " in key:
            return today + timedelta(days=days)
    m = _DMY.search(search_key(text)) or _WORDY.search(key)
    if m:
        day, month = int(m.group(1)), int(m.group(2))
        year = int(m.group(3)) if m.group(3) else today.year
        years = [year] if m.group(3) else [year - 1, year, year + 1]
        candidates = []
        for y in years:
            try:
                candidates.append(date(y, month, day))
            except ValueError:
                continue
        return min(candidates, key=lambda d: abs(d - today)) if candidates else None
    for phrase, weekday in _WEEKDAYS.items():
        if f" {phrase} " in key:
            return today + timedelta(days=(weekday - today.weekday()) % 7)
    return None
