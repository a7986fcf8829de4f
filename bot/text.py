"""Vietnamese text at the bottom of the house: NFC, accent folding and search keys, used by the
NLU, the store's lookups, villages, tickets and notices (imports nothing from the bot).

``fold`` removes Vietnamese tone marks and vowel modifiers (``ủy ban`` → ``uy ban``, ``đ`` → ``d``)
but only for the letters of the Vietnamese alphabet: letters that minority-language Latin scripts
add (``ĕ ĭ ŏ ŭ ƀ č ñ`` …) are left as they are, so Ê Đê, M'Nông or Jrai text is never destroyed.
"""

from __future__ import annotations

import re
import unicodedata

_TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
_BASES = {
    "a": "a",
    "ă": "a",
    "â": "a",
    "e": "e",
    "ê": "e",
    "i": "i",
    "o": "o",
    "ô": "o",
    "ơ": "o",
    "u": "u",
    "ư": "u",
    "y": "y",
}


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for letter, base in _BASES.items():
        for tone in _TONES:
            for src, dst in ((letter, base), (letter.upper(), base.upper())):
                composed = unicodedata.normalize("NFC", src + tone)
                if len(composed) == 1 and composed != dst:
                    table[ord(composed)] = dst
    table[ord("đ")] = "d"
    table[ord("Đ")] = "D"
    return table


_FOLD_TABLE = _build_table()
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"[\w']+")


def number(raw: str | None, digits: int = 18) -> int | None:
    """A whole number someone typed or sent (a menu pick, a query, a form field, a file's
    cell): 1 to ``digits`` ASCII digits, else None. Never ``str.isdigit()`` for this: it is
    true of "²" and "①", whose ``int()`` raises — one such message was a crash."""
    return int(raw) if raw and re.fullmatch(rf"[0-9]{{1,{digits}}}", raw) else None


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Accent-fold Vietnamese letters only (NFC first, so decomposed input folds too)."""
    return nfc(text).translate(_FOLD_TABLE)


def search_key(text: str) -> str:
    """Lower-case, accent-folded, single-spaced key for matching names and questions."""
    return _SPACES.sub(" ", fold(text).lower()).strip()


def words_key(text: str) -> str:
    """The search key's words only: accent-free, lower-case, punctuation dropped."""
    return " ".join(_WORDS.findall(search_key(text)))
