"""A small keyword matcher over normalised text — the stand-in NLU until issue 3's engines.

It knows the intents this slice answers (greet, thanks, goodbye, office_hours, office_contact,
talk_to_staff); everything else is ``nlu_fallback``. Phrases are accent-folded so "uy ban xa lam
viec may gio" and "Ủy ban xã làm việc mấy giờ" match the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from bot.config import ROOT
from bot.envelope import Parse
from bot.nlu.normalize import search_key

ABBREVIATIONS = ROOT / "data" / "nlu" / "abbreviations.yml"
_WORD = re.compile(r"[\w']+", re.UNICODE)

# (intent, weight, phrases). A phrase counts when all its words occur in order as whole words.
RULES: list[tuple[str, float, tuple[str, ...]]] = [
    ("office_hours", 1.0, (
        "may gio", "gio lam viec", "thoi gian lam viec", "lam viec luc", "mo cua",
        "gio mo cua", "lam viec gio nao", "lich lam viec", "lam viec thu bay", "lam viec chu nhat",
        "nghi trua", "gio hanh chinh", "khi nao lam viec", "luc nao lam viec", "con lam viec",
        "co lam viec", "lam viec khong", "dong cua", "lam viec", "thu 7", "thu bay")),
    ("office_contact", 1.0, (
        "so dien thoai", "dien thoai", "hotline", "dia chi", "o dau", "email", "lien he",
        "lien lac", "so may", "goi so", "mot cua", "tru so", "duong nao", "den dau")),
    ("talk_to_staff", 1.2, (
        "gap can bo", "noi chuyen voi can bo", "gap nguoi", "can bo truc", "gap admin",
        "nguoi that", "tu van vien", "gap truc tiep", "nhan vien", "cho toi gap", "cho em gap",
        "cho minh gap")),
    ("thanks", 0.9, ("cam on", "cam ơn", "thanks", "thank", "tks", "camon")),
    ("goodbye", 0.9, ("tam biet", "bye", "hen gap lai", "thoi chao")),
    ("greet", 0.8, (
        "xin chao", "chao", "hello", "hi", "alo", "a lo", "chao admin", "chao ad",
        "chao ub", "chao xa")),
]


@lru_cache(maxsize=1)
def abbreviations() -> dict[str, str]:
    raw = yaml.safe_load(ABBREVIATIONS.read_text(encoding="utf-8")) or {}
    return {search_key(str(k)): search_key(str(v)) for k, v in raw.items()}


def normalise(text: str) -> str:
    """Folded, lower-case words with teencode expanded."""
    table = abbreviations()
    words = _WORD.findall(search_key(text))
    return " ".join(table.get(w, w) for w in words)


def _contains(words: list[str], phrase: str) -> bool:
    target = phrase.split()
    n = len(target)
    return any(words[i:i + n] == target for i in range(len(words) - n + 1))


def parse(text: str) -> Parse:
    words = normalise(text).split()
    if not words:
        return Parse("nlu_fallback", 0.0)
    scores: dict[str, float] = {}
    for intent, weight, phrases in RULES:
        hits = [p for p in phrases if _contains(words, p)]
        if hits:
            coverage = max(len(p.split()) for p in hits) / max(len(words), 1)
            scores[intent] = weight * (0.6 + 0.4 * min(1.0, coverage * 2)) + 0.05 * (len(hits) - 1)
    if not scores:
        return Parse("nlu_fallback", 0.0)
    # a greeting followed by a question is the question
    if len(scores) > 1:
        scores.pop("greet", None)
    intent, score = max(scores.items(), key=lambda kv: kv[1])
    return Parse(intent, round(min(score, 1.0), 3))
