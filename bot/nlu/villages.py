"""Which of a commune's villages a piece of text names — the one place that reads a village from
words (the NLU's ``village`` entity, a resident saying where they live, an address shared with
``user_submit_info``, an Open311 address).

Residents write "tôi ở thôn Nậm Mòn", "nha e o ban pho", "mình ở na hoi tay", "thon1",
"thôn nam mong": with or without accents, with or without the kind word (thôn, bản, buôn, ấp,
tổ, tổ dân phố, khu phố, xóm, làng, …), with small typos. The rules, and why:

* **Accents.** Letters are compared accent-folded, but a mark the writer did type must agree with
  the name's: "bán phở" is not "Bản Phố", while "ban pho" and "bản pho" are.
* **Kind word.** A village's *core* is its name without a leading kind word ("Thôn 1" → "1",
  "Ấp Phước Định" → "Phước Định"). A core that is short or generic — one syllable, or a number —
  is accepted only after one of the village's own kind words ("Bản Phố" needs "bản"/"thôn"
  before "phố", so "thành phố" is not it; "Thôn 1" needs "thôn", so a bare "1" is not it).
  A distinctive core (two syllables or more, five letters or more) may stand alone — unless it
  is an everyday phrase (``ORDINARY``: "Đoàn Kết", "Thống Nhất", "Hòa Bình", "Tân Lập" …):
  then alone it must be written in capitals or follow "ở"/"tại" ("tôi ở Đoàn Kết", "toi o tan
  lap"), so "bà con đoàn kết chống lũ" names no village. So must a name with a word typed as
  teencode (``data/nlu/abbreviations.yml``, two letters or more): "e ko tam dc" (không tắm
  được) is not "Buôn Kô Tam", "ở ko tam", "kô tam mất điện" are.
* **Spaces.** Words run together or split are the same name: "nammon", "nahoitay", "lung ph
  inh" (a span of one word up to the core's words plus one).
* **Typos.** Up to ``budget(len)`` edits (insert, delete, substitute, swap two neighbours) on the
  core's letters: none under 4 letters, one under 8, two from 8 up — one fewer without a kind
  word in front, so "nam moi" (năm mới) is not "Nậm Mòn" but "thon nam mong" is. Numbers are
  never fuzzy ("thôn 11" is not "Thôn 1").
* **Nesting.** Overlapping readings are settled longest name first, then fewest edits: "Na Hối
  Tày" wins over a village called "Na Hối".
* **Several.** Every village named is reported, once, in text order.
* **Not a village.** A name right after xã / phường / huyện / tỉnh / thị trấn is an
  administrative unit's ("xã Buôn Đôn"), not the village of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from bot.text import fold, nfc, number

#: kind words (as written, lower case) → the kind they stand for
KIND_WORDS: dict[str, str] = {
    "thôn": "thôn",
    "bản": "bản",
    "buôn": "buôn",
    "ấp": "ấp",
    "tổ": "tổ dân phố",
    "tổ dân phố": "tổ dân phố",
    "tdp": "tổ dân phố",
    "khu phố": "khu phố",
    "kp": "khu phố",
    "khu": "khu phố",
    "xóm": "xóm",
    "làng": "làng",
    "khóm": "khóm",
    "sóc": "sóc",
    "plei": "làng",
    "bon": "buôn",
}
#: everyday phrases that are also villages' names (folded): such a name is read without its
#: kind word only when written in capitals ("tôi ở Đoàn Kết", not "bà con đoàn kết")
ORDINARY = frozenset(
    p.strip()
    for p in """
doan ket, thong nhat, doc lap, tu do, hanh phuc, hoa binh, quyet thang, quyet tien, tien bo,
thang loi, tan tien, tien phong, dong tam, trung tam, binh minh, hop nhat, hop tac, dong tien,
dong thuan, hoa thuan, chien thang, toan thang, thanh cong, phat trien, xay dung, cong hoa,
dan chu, huu nghi, quang minh, an binh, binh an, hoa hop, thai binh, tan lap, an lac,
an khang, hung thinh, vinh quang, thinh vuong, phu cuong, thuan loi, cho moi, ben xe
""".split(",")
)
#: words after which an everyday phrase is a place ("ở tân lập", "tại đoàn kết")
_AT = frozenset({"o", "tai"})
#: words before a name that make it an administrative unit's, not a village's
_ADMIN = ("xã", "phường", "huyện", "tỉnh", "thị trấn", "thành phố", "tp", "quận")
_TOKEN = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_NUMBER_WORD = "so"  # "thôn số 3", "thon so 3"


@lru_cache(maxsize=1)
def _shorthand() -> frozenset[str]:
    """Teencode of two letters or more, as typed without marks ("ko", "dc"; not "a", "e")."""
    from bot.nlu.shorthand import abbreviations

    return frozenset(k for k in abbreviations() if len(k) > 1)


class VillageLike(Protocol):
    name: str


def budget(letters: int) -> int:
    """Edits allowed on a core of ``letters`` letters (after a kind word)."""
    return 0 if letters < 4 else 1 if letters < 8 else 2


@dataclass(frozen=True)
class Mention:
    """A village named in a text: ``start``/``end`` are character offsets in its NFC form
    (the text itself when it came composed, as Zalo sends it)."""

    village: str
    start: int
    end: int
    edits: int
    with_kind: bool


@dataclass(frozen=True)
class _Token:
    text: str  # lower case, accents as written
    plain: str  # accent-folded
    start: int
    end: int
    capital: bool  # written with a capital first letter


@dataclass(frozen=True, eq=False)
class _Village:
    name: str
    core: tuple[str, ...]  # lower-case words, accents kept
    core_plain: str  # folded, no spaces
    kinds: frozenset[str]  # its own kinds (empty: unknown, any kind word will do)
    distinctive: bool
    ordinary: bool  # its core is an everyday phrase ("Đoàn Kết"): alone only in capitals
    numeric: bool
    core_written: str  # lower case, accents kept, no spaces
    alphabet: frozenset[str]  # the letters of core_plain
    trigrams: frozenset[str]  # its letter triples
    letters: int  # len(core_plain)
    limit_bare: int  # edits allowed without a kind word in front (-1: never)
    limit_kind: int  # edits allowed after one of its own kind words


def _tokens(text: str) -> list[_Token]:
    """Words and numbers with their offsets ("thon1" → "thon", "1"; "01" → "1"); "số" before a
    number is dropped ("thôn số 3" = "thôn 3")."""
    written = nfc(text)
    lowered = written.lower()
    found = [m for m in _TOKEN.finditer(lowered)]
    out: list[_Token] = []
    for n, m in enumerate(found):
        word = m.group(0)
        if (value := number(word, 30)) is not None:  # "03" is 3; "²" is no number
            word = str(value)
        elif fold(word) == _NUMBER_WORD and n + 1 < len(found) and found[n + 1].group(0).isdigit():
            continue
        out.append(_Token(word, fold(word), m.start(), m.end(), written[m.start()].isupper()))
    return out


@lru_cache(maxsize=4096)
def _compatible(written: str, name: str) -> bool:
    """One letter as written against the name's: equal, or the same letter with the mark left
    off on one side (a resident typing without accents, or a name configured without them)."""
    if written == name:
        return True
    plain = fold(written)
    return plain == fold(name) and (plain == written or plain == fold(name) == name)


def distance(written: str, name: str, limit: int) -> int:
    """Optimal-string-alignment distance (Damerau–Levenshtein without repeated edits of one
    substring) with :func:`_compatible` letters; anything above ``limit`` is ``limit + 1``."""
    if abs(len(written) - len(name)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(name) + 1))
    for i in range(1, len(written) + 1):
        row = [i] + [0] * len(name)
        for j in range(1, len(name) + 1):
            cost = 0 if _compatible(written[i - 1], name[j - 1]) else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if (
                i > 1
                and j > 1
                and _compatible(written[i - 1], name[j - 2])
                and _compatible(written[i - 2], name[j - 1])
            ):
                row[j] = min(row[j], prev2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        prev2, prev = prev, row
    return min(prev[-1], limit + 1)


#: kind words by their number of words, keyed accent-folded (checked against the marks after)
_KINDS_BY_PLAIN: dict[int, dict[str, tuple[str, str]]] = {}
for _form, _kind in KIND_WORDS.items():
    _KINDS_BY_PLAIN.setdefault(_form.count(" ") + 1, {})[fold(_form)] = (_form, _kind)


def _kind_at(tokens: list[_Token], i: int) -> tuple[str, int] | None:
    """The kind word starting at token ``i`` (longest first): (kind, tokens it takes)."""
    for size in (3, 2, 1):
        if i + size > len(tokens):
            continue
        hit = _KINDS_BY_PLAIN[size].get(" ".join(t.plain for t in tokens[i : i + size]))
        if hit is None:
            continue
        written = " ".join(t.text for t in tokens[i : i + size])
        if all(_compatible(a, b) for a, b in zip(written, hit[0])):
            return hit[1], size
    return None


def _after_admin_word(tokens: list[_Token], i: int) -> bool:
    for form in _ADMIN:
        words = form.split(" ")
        if i >= len(words) and [fold(t.text) for t in tokens[i - len(words) : i]] == [
            fold(w) for w in words
        ]:
            return True
    return False


def _compile(name: str, kind: str | None) -> _Village:
    words = [t.text for t in _tokens(name)]
    kinds: set[str] = set()
    if kind:
        kinds.add(KIND_WORDS.get(nfc(kind).lower(), nfc(kind).lower()))
    prefix = _kind_at(_tokens(name), 0)
    if prefix and len(words) > prefix[1]:
        kinds.add(prefix[0])
        words = words[prefix[1] :]
    core_plain = "".join(fold(w) for w in words)
    numeric = len(words) == 1 and words[0].isdigit()
    distinctive = len(words) >= 2 and len(core_plain) >= 5 and not any(w.isdigit() for w in words)
    ordinary = " ".join(fold(w) for w in words) in ORDINARY
    letters = len(core_plain)
    return _Village(
        nfc(name),
        tuple(words),
        core_plain,
        frozenset(kinds),
        distinctive,
        ordinary,
        numeric,
        "".join(words),
        frozenset(core_plain),
        frozenset(core_plain[k : k + 3] for k in range(len(core_plain) - 2)),
        letters,
        -1 if not distinctive else 0 if ordinary else budget(letters) - 1,
        0 if numeric else budget(letters),
    )


class VillageMatcher:
    """The villages of one commune, compiled once; call :meth:`find` per text."""

    def __init__(self, villages: Iterable[tuple[str, str | None]]) -> None:
        self.villages = [_compile(name, kind) for name, kind in villages]

    def find(self, text: str) -> list[Mention]:
        """Every village ``text`` names, once each, in text order."""
        if not self.villages or not text:
            return []
        tokens = _tokens(text)
        plain_text = "".join(t.plain for t in tokens)
        trigrams = {plain_text[k : k + 3] for k in range(len(plain_text) - 2)}
        # most messages name no village: keep only those whose letters could be there at all
        # (k edits spoil at most 3k of a name's letter triples)
        alive = [
            v
            for v in self.villages
            if (
                v.core_plain in plain_text
                if v.limit_kind == 0
                else len(v.trigrams & trigrams) >= len(v.trigrams) - 3 * v.limit_kind
            )
        ]
        if not alive:
            return []
        longest = max(len(v.core) for v in alive)
        # span length (words) → the villages a span that long may be (a core ± one word);
        # without a kind word in front only distinctive cores are candidates
        after_kind: dict[int, list[_Village]] = {}
        bare: dict[int, list[_Village]] = {}
        for v in alive:
            # a core ± one word, or its words run together ("nahoitay")
            for size in range(1, len(v.core) + 2):
                after_kind.setdefault(size, []).append(v)
                if v.distinctive:
                    bare.setdefault(size, []).append(v)
        candidates: list[tuple[_Village, int, int, int, bool]] = []  # v, first, last, edits, kind
        for i in range(len(tokens)):
            kind = _kind_at(tokens, i)
            # a kind word is not itself the start of a core: after it, or a bare core here
            j, said_kind, table = (i + kind[1], kind[0], after_kind) if kind else (i, None, bare)
            for size in range(1, longest + 2):
                if j + size > len(tokens):
                    break
                span = tokens[j : j + size]
                plain = "".join(t.plain for t in span)
                alphabet: frozenset[str] | None = None
                for v in table.get(size, ()):
                    limit = self._limit(v, said_kind)
                    if limit < 0 or abs(len(plain) - v.letters) > limit:
                        continue
                    if (
                        (v.ordinary or any(t.text in _shorthand() for t in span))
                        and said_kind is None
                        and not all(t.capital for t in span)
                        and (j == 0 or tokens[j - 1].plain not in _AT)
                    ):
                        continue  # "bà con đoàn kết", "e ko tam dc" name no village
                    if v.numeric:
                        edits = 0 if size == 1 and plain == v.core_plain else None
                    elif plain == v.core_plain:
                        edits = 0
                    else:
                        alphabet = alphabet or frozenset(plain)
                        # an edit adds or removes at most two letters of the alphabet
                        if (
                            limit == 0
                            or len(alphabet ^ v.alphabet) > 2 * limit
                            or distance(plain, v.core_plain, limit) > limit
                        ):
                            continue
                        edits = 0
                    if edits is None:
                        continue
                    # the marks the writer typed count: "bán phở" is not "Bản Phố"
                    edits = distance("".join(t.text for t in span), v.core_written, limit)
                    first = i if said_kind else j
                    if edits > limit or _after_admin_word(tokens, first):
                        continue
                    candidates.append((v, first, j + size - 1, edits, said_kind is not None))
        # longest name first, then fewest edits, then a kind word, then text order
        candidates.sort(key=lambda c: (-c[0].letters, c[3], not c[4], c[1], c[2] - c[1]))
        taken: set[int] = set()
        named: set[str] = set()
        chosen: list[Mention] = []
        for v, first, last, edits, with_kind in candidates:
            span_ids = set(range(first, last + 1))
            if span_ids & taken:
                continue
            taken |= span_ids
            if v.name in named:
                continue
            named.add(v.name)
            chosen.append(Mention(v.name, tokens[first].start, tokens[last].end, edits, with_kind))
        return sorted(chosen, key=lambda m: m.start)

    @staticmethod
    def _limit(v: _Village, said_kind: str | None) -> int:
        """Edits allowed for ``v`` after ``said_kind`` (None: no kind word); -1: not allowed."""
        if said_kind is None:
            return v.limit_bare
        if v.kinds and said_kind not in v.kinds and not v.distinctive:
            return -1  # "tổ 1" is not "Thôn 1"
        return v.limit_kind


def _key(villages: Iterable[str | VillageLike]) -> tuple[tuple[str, str | None], ...]:
    return tuple(
        (v, None) if isinstance(v, str) else (v.name, getattr(v, "kind", None)) for v in villages
    )


@lru_cache(maxsize=4096)  # one per commune a process serves; each is a few KB
def _matcher(key: tuple[tuple[str, str | None], ...]) -> VillageMatcher:
    return VillageMatcher(key)


def matcher(villages: Iterable[str | VillageLike]) -> VillageMatcher:
    """The compiled matcher for these villages (names, config villages or rows with a
    ``kind``), cached: a commune's list is compiled once per process."""
    return _matcher(_key(villages))


def find_villages(text: str, villages: Iterable[str | VillageLike]) -> list[Mention]:
    """The villages ``text`` names, in text order (see the module's rules)."""
    return matcher(villages).find(text)


def best_village(text: str | None, villages: Iterable[str | VillageLike]) -> str | None:
    """The one village a short text (an address, a staff's filter) names: the longest name
    among those found, None when none is."""
    found = find_villages(text or "", list(villages)) if text else []
    if not found:
        return None
    return max(found, key=lambda m: (len(fold(m.village)), -m.edits)).village


#: words that end a place name a resident typed after a kind word ("đổi thôn giúp tôi")
_NOT_A_NAME = {
    "nao",
    "giup",
    "gium",
    "dum",
    "cho",
    "cua",
    "toi",
    "tui",
    "minh",
    "mk",
    "mik",
    "em",
    "e",
    "anh",
    "chi",
    "nha",
    "khac",
    "moi",
    "nhe",
    "nhen",
    "a",
    "voi",
    "vs",
    "di",
    "duoc",
    "dc",
    "khong",
    "ko",
    "k",
    "la",
    "o",
    "sang",
    "qua",
    "ve",
    "den",
    "tu",
    "gi",
    "nay",
    "do",
    "kia",
    "ay",
    "roi",
    "r",
    "ad",
    "oi",
    "xa",
    "nua",
    "t",
    "de",
    "luon",
    "lai",
    "dang",
    "hien",
    "cu",
    "truoc",
    "ma",
    "doi",
    "chuyen",
    "cap",
    "nhat",
    "sua",
    "ghi",
    "thi",
    "con",
    "nhung",
    "va",
    "hay",
}
#: kind words too common unaccented to mark a place name ("to" = tớ, "ban" = bạn, …)
_AMBIGUOUS_PLAIN = {"to", "ban", "bon", "lang", "ap", "khu", "soc", "kp"}


def place_named(text: str) -> str | None:
    """A place the resident named after a kind word that is none of the commune's villages:
    "tôi chuyển sang thôn Khe Lếch" → "thôn Khe Lếch" (as written, at most four words), for
    saying "the commune has no such village". None when the words after the kind word are not
    a name ("đổi thôn giúp tôi")."""
    tokens = _tokens(text)
    for i in range(len(tokens)):
        kind = _kind_at(tokens, i)
        if (
            kind is None
            or _after_admin_word(tokens, i)
            or (kind[1] == 1 and tokens[i].text in _AMBIGUOUS_PLAIN)
        ):
            continue
        j = i + kind[1]
        words: list[_Token] = []
        while j < len(tokens) and len(words) < 4 and tokens[j].plain not in _NOT_A_NAME:
            words.append(tokens[j])
            j += 1
        if words:
            return nfc(text)[tokens[i].start : words[-1].end]
    return None


def as_entities(text: str, villages: Iterable[str | VillageLike]) -> list[dict[str, Any]]:
    """The ``village`` entities of ``text`` (for ``bot/nlu/entities.py``)."""
    return [{"entity": "village", "value": m.village} for m in find_villages(text, villages)]
