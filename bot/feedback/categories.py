"""Guessing a report's category from its words; the table itself is bot/categories.py (a
foundation module: the configuration validates against it)."""

from __future__ import annotations

import re
from functools import cache

from bot.categories import CATEGORIES, CHAT_ORDER, FIGURATIVE, Category

__all__ = ["CATEGORIES", "CHAT_ORDER", "FIGURATIVE", "Category", "guess"]


_GUESS_ORDER = tuple(
    [c for c in CHAT_ORDER if CATEGORIES[c].emergency]
    + [c for c in CHAT_ORDER if not CATEGORIES[c].emergency]
)


def guess(text: str) -> str | None:
    """The category a report's words suggest (emergency categories first: a landslide across a
    road is a disaster before it is a road), or None — never whether it is an emergency
    (bot/feedback/triage.py decides that). Accented text is matched with its accents; text
    typed without accents only by phrases that keep their meaning without them."""
    from bot.text import nfc, search_key, words_key

    accented = " " + " ".join(re.findall(r"\w+", nfc(text).lower())) + " "
    folded = f" {words_key(text)} "
    for phrase in FIGURATIVE:  # "bóng đèn đường cháy bóng" is a road (lighting) matter
        accented = accented.replace(f" {phrase} ", " ")
        folded = folded.replace(f" {search_key(phrase)} ", " ")
    has_accents = search_key(text) != nfc(text).lower().strip()
    for code in _GUESS_ORDER:
        category = CATEGORIES[code]
        if has_accents and any(f" {k} " in accented for k in category.keywords):
            return code
        if any(f" {p} " in folded for p in _plain_phrases(code)):
            return code
    return None


@cache
def _plain_phrases(code: str) -> tuple[str, ...]:
    """What matches text typed without accents: the category's own accent-free phrases and its
    keywords of two words or more, folded."""
    from bot.text import search_key

    category = CATEGORIES[code]
    return category.plain + tuple(search_key(k) for k in category.keywords if " " in k)
