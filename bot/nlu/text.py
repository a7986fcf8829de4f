"""Text normalisation in front of every NLU backend: NFC, lower case, Vietnamese accent folding
(minority-language letters kept, see ``bot.text.fold``) and teencode / abbreviation expansion
from ``data/nlu/abbreviations.yml``."""

from __future__ import annotations

import re
from functools import lru_cache

import yaml

from bot.config import ROOT
from bot.text import search_key

ABBREVIATIONS = ROOT / "data" / "nlu" / "abbreviations.yml"
_WORD = re.compile(r"[\w']+", re.UNICODE)


@lru_cache(maxsize=1)
def abbreviations() -> dict[str, str]:
    raw = yaml.safe_load(ABBREVIATIONS.read_text(encoding="utf-8")) or {}
    return {search_key(str(k)): search_key(str(v)) for k, v in raw.items()}


def normalise(text: str) -> str:
    """Folded, lower-case words with teencode expanded: what the classifiers see."""
    table = abbreviations()
    return " ".join(table.get(w, w) for w in _WORD.findall(search_key(text)))
