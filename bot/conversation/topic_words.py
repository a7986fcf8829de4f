"""The words each intent is said with, for a follow-up's one question: does a short message
name something its topic never does? ("nộp thuế ở đâu" after the birth registration: "thuế" is
no word of that topic, so the message is read as it is — the bot then says it does not know,
instead of giving the birth registration's office as the place to pay a tax.)

The words come from the engine's own training set (``bot.nlu.embedded.training``: data/nlu/,
held-out split excluded), normalised as messages are (accents folded, teencode expanded). A
word said with ``GENERIC`` or more intents ("có", "không", "tiền", "làm") belongs to every
topic. Numbers, the words that ask (``follow._NOT_SUBJECT``) and those around a weekday are
never foreign. Measured on tests/data/follow_labelled.yml (bench/follow_threshold.py): the
same pairs right as without it (52 of 54 dev, 51 of 54 test), and the unknown-topic pairs
("nộp thuế ở đâu", "xem bói ở đâu") read as their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

from bot.nlu.text import normalise

#: a word said with this many intents or more belongs to every topic
GENERIC = 6
#: numbers said in words ("phí hai trăm nghìn à"), normalised
NUMBER_WORDS = frozenset(
    "mot hai ba bon tu nam sau bay tam chin muoi tram nghin ngan trieu dong k tr".split()
)


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    from bot.nlu.embedded import training

    words: dict[str, set[str]] = defaultdict(set)
    for text, intent in training().examples:
        words[intent].update(normalise(text).split())
    said_with: dict[str, int] = defaultdict(int)
    for vocabulary in words.values():
        for word in vocabulary:
            said_with[word] += 1
    generic = frozenset(w for w, n in said_with.items() if n >= GENERIC)
    return {i: frozenset(v) for i, v in words.items()}, generic


def naming(words: Iterable[str], never: frozenset[str]) -> list[str]:
    """The normalised ``words`` that name a thing: none said with every topic, of ``never``
    (the caller's words that ask) or a number."""
    _, generic = _vocabulary()
    return [
        w
        for w in words
        if w not in generic and w not in never and w not in NUMBER_WORDS and not w.isdigit()
    ]


def foreign(words: Iterable[str], intent: str, question: str, never: frozenset[str]) -> list[str]:
    """The normalised ``words`` that neither ``intent``'s examples nor the ``question``
    answered use, nor every topic, nor ``never`` (the caller's words that ask)."""
    by_intent, _ = _vocabulary()
    own = by_intent.get(intent, frozenset()) | set(normalise(question).split())
    return [w for w in naming(words, never) if w not in own]
