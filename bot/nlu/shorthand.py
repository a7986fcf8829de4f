"""The teencode and abbreviation table (``data/nlu/abbreviations.yml``): read by the normaliser
(``bot.nlu.text``), the language guess (``bot.nlu.language``) and village matching, each of
which imports it from here so none of them needs another."""

from __future__ import annotations

from functools import lru_cache

import yaml

from bot.config import ROOT
from bot.text import search_key

ABBREVIATIONS = ROOT / "data" / "nlu" / "abbreviations.yml"


@lru_cache(maxsize=1)
def abbreviations() -> dict[str, str]:
    raw = yaml.safe_load(ABBREVIATIONS.read_text(encoding="utf-8")) or {}
    return {search_key(str(k)): search_key(str(v)) for k, v in raw.items()}
