"""Text normalisation in front of every NLU backend: NFC, lower case, Vietnamese accent folding
(minority-language letters kept, see ``bot.text.fold``) and teencode / abbreviation expansion
from ``data/nlu/abbreviations.yml``.

A word is expanded only where the context allows (docs/nlu.md "Teencode"; measured by
``bench/teencode.py`` on ``tests/data/teencode_labelled.tsv``):

* nothing inside a URL, an e-mail address or a code: a chunk of text whose words are joined by
  ``- / . @ :`` ("PA-2026-000123", "dichvucong.gov.vn", "v.v.", "e-mail") keeps its words;
* a number with a unit is split and read: "8h" → "8 gio", "7h30" → "7 gio 30", "15p" → "15
  phut", "2tr" → "2 trieu"; "5k", "5kg" stay (thousand đồng, kilograms);
* a word typed with tone or vowel marks is a word, not shorthand ("hẻm", "thúi", "sụt lún"),
  unless listed in ``_TYPED`` ("hông", "mún", "nhìu"); "đ" alone is điện only in "mất đ",
  "có đ lại";
* after a number, "k", "kg", "v", "t", "c", "e", "a" are units or labels ("50 k", "220 v",
  "5 kg"); after a label word ("loại", "nhóm", "vitamin", "tiếng" …) a single letter is a
  letter ("2 tiếng r" is rồi: tiếng is also an hour), and after a place ("khu", "thôn",
  "tòa" …) or before a number ("v 2", "t 7") "v" and "t" are too; a capital single letter inside a sentence is a letter ("nhà văn hóa khu C",
  "ông A Sang", "Nguyễn Văn K"), and so is a word written with a capital initial ("cô Hem",
  "Ng Văn Nam", "buôn Ko Sir") — unless the message is typed in capitals ("NHA E BI CHAY R");
* "a" is "anh" only when typed plain, inside a sentence ("a ơi", "a cho e hỏi"): at its end it
  is "ạ" typed without the mark; "a", "c", "e" are persons only in a message that is not
  English ("tell me a joke"; nor is "r" rồi there: "how r u") and not next to an English
  word (English messages train the same model);
* "ui" at the start is an exclamation ("ui trời"), elsewhere rồi; "bn" is bạn before "ơi" or
  after "chào/các/cảm ơn", else bao nhiêu; "dk/đk" is đăng ký before a procedure ("dk kết hôn")
  or after "thủ tục/cách/giấy/mẫu/đơn", else được; "bt" is bình thường after "vẫn/như/lại/là",
  else biết; "kp" before a number is khu phố; "cn" before "của/em/tôi …" is con; "ms" before
  "thuế/số/hồ sơ" is mã số; "t2" … "t7" are thứ 2 … thứ 7; "bh yt" is bảo hiểm;
* "h" is giờ ("mấy h", "bây h"), but not before "mông" nor as a capital inside a sentence
  ("dân tộc H Mông": H'Mông typed with a space);
* letters held down at a word's end ("oiii", "nhaaa", "đcccc") are read once, unless that
  leaves one letter ("kkk");
* joined shorthand is read word by word: "đ/c" địa chỉ, "c.ơn" cảm ơn.

``normalise`` reads marks, capitals and punctuation that its output no longer has: apply it to
what the resident typed, once.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.nlu.shorthand import abbreviations
from bot.text import fold, nfc

_WORD = re.compile(r"[\w']+", re.UNICODE)
_CHUNK = re.compile(r"\S+")
#: a chunk that is a URL or an e-mail address: none of its words is read
_LINK = re.compile(
    r"://|^www\.|@\w|\w\.(?:vn|com|net|org|gov|edu|info|io|me|ly|html?|php)\b", re.IGNORECASE
)
#: words joined by these with no space are a code or a compound: no teencode inside
_JOINED = re.compile(r"\w[-/.@:]\w")
#: a number with a unit: 8h, 7h30, 15p, 2tr
_NUMBER_UNIT = re.compile(r"^(\d+)(h|p|ph|tr)(\d*)$")
_UNITS = {"h": "gio", "p": "phut", "ph": "phut", "tr": "trieu"}
_WEEKDAY = re.compile(r"^t([2-7])$")
_SENTENCE_END = frozenset(".!?;:\n-–(\"'…")
_LETTER = re.compile(r"[^\W\d_]")

#: words read exactly as typed ("mún" is muốn, "mun" may be mụn; "lun" is luôn, "lún" is not)
_TYPED = {
    "mún": "muon",
    "hông": "khong",
    "bít": "biet",
    "rùi": "roi",
    "hum": "hom",
    "zậy": "vay",
    "dzậy": "vay",
    "lém": "lam",
    "nhìu": "nhieu",
    "kô": "khong",
    "lun": "luon",  # typed plain; "lún" (sụt lún) is not luôn
}
#: joined shorthand, word by word: "đ/c" is địa chỉ, "c.ơn" cảm ơn
_JOINED_FORMS = {"d/c": ("dia", "chi"), "c.on": ("cam", "on"), "c/on": ("cam", "on")}
#: words before a single letter that make it a letter ("loại A", "vitamin E", "câu c")
_LABELS = frozenset(
    "loai hang lop nhom muc phan cau vitamin kieu size mau an diem khoi nganh tuyen".split()
)
#: places before a letter: "thôn V", "khu C" — but "xóm e", "thôn e" are em's, so for "a", "c",
#: "e" only a capital after them is a letter
_PLACES = frozenset("thon xom khu ap buon toa block".split())
#: keys read only where the context says (see the module's docstring)
_SINGLE = frozenset("a c e k t v r h".split())
_LETTER_LIKE = frozenset("a c e v t".split())
_PERSONS = frozenset("a c e".split())
_PROCEDURE_NEXT = frozenset(
    "ket khai tam thuong kinh xe ho thue tiem nghia hoc giay cu bhyt lai nhan su thanh".split()
)
_PROCEDURE_BEFORE = frozenset("tuc cach giay mau don phieu ky".split())
_FRIEND_BEFORE = frozenset("chao cac on ban voi".split())
_USUAL_BEFORE = frozenset("van nhu lai la rat hoi".split())
_CHILD_NEXT = frozenset("cua em e toi t minh mk chau nho lon trai gai be".split())
_CODE_NEXT = frozenset("thue so ho hs".split())
_POWER_BEFORE = frozenset("mat co cup cat het ngat".split())


@lru_cache(maxsize=1)
def _english() -> frozenset[str]:
    from bot.nlu.language import ENGLISH

    return ENGLISH


@lru_cache(maxsize=8192)
def _evidence(typed: str, plain: str) -> int:
    """+1 a Vietnamese word (marks, or a syllable that is not English), -1 an English one."""
    from bot.nlu.language import _BOTH, _SYLLABLE, ENGLISH

    if _marked(typed):
        return 1
    if plain in ENGLISH or plain.endswith(("'s", "'t", "'m", "'re", "'ll", "'ve", "'d")):
        return -1
    return int(len(plain) > 1 and plain not in _BOTH and bool(_SYLLABLE.match(plain)))


class _Words:
    """One message's words: as typed (lower case, NFC), folded, and where they sit."""

    __slots__ = (
        "typed",
        "plain",
        "upper",
        "title",
        "starts",
        "clause",
        "free",
        "forced",
        "_vietnamese",
    )

    def __init__(self, text: str) -> None:
        text = nfc(text)
        self.typed: list[str] = []
        self.upper: list[bool] = []
        self.title: list[bool] = []  # "Hem", "Ng": a capital, then small letters
        self.starts: list[bool] = []  # the first word of a sentence
        self.free: list[int] = []  # 2: anything; 1: numbers and units only; 0: nothing
        self.forced: dict[int, str] = {}  # word → its reading (joined shorthand)
        self.clause: list[bool] = []  # the first word after a comma or a sentence's end
        last = ""  # the character before the chunk (its space skipped)
        for chunk in _CHUNK.finditer(text):
            whole = chunk.group(0)
            free = 0 if _LINK.search(whole) else 1 if _JOINED.search(whole) else 2
            if free == 1 and (form := _JOINED_FORMS.get(fold(whole.lower()).rstrip(".,!?;:"))):
                self.forced.update(enumerate(form, len(self.typed)))
            for m in _WORD.finditer(whole):
                word = m.group(0)
                before = whole[m.start() - 1] if m.start() else last
                self.starts.append(not before or before in _SENTENCE_END)
                self.clause.append(not before or before in _SENTENCE_END or before == ",")
                self.typed.append(word.lower())
                self.upper.append(word.isupper())
                self.title.append(word[:1].isupper() and not word.isupper())
                self.free.append(free)
            last = whole[-1]
        self.plain = [fold(w) for w in self.typed]
        # a message typed in capitals ("NHA E BI CHAY R") says nothing by its capitals
        long = [u for w, u in zip(self.typed, self.upper, strict=True) if len(w) > 1]
        if long and 2 * sum(long) > len(long):
            self.upper = self.title = [False] * len(self.upper)
        self._vietnamese: bool | None = None

    @property
    def vietnamese(self) -> bool:
        """No English word, or more Vietnamese words than English ones ("tell me a joke")."""
        if self._vietnamese is None:
            evidence = list(map(_evidence, self.typed, self.plain))
            self._vietnamese = evidence.count(1) > evidence.count(-1) or -1 not in evidence
        return self._vietnamese

    def at(self, i: int) -> str:
        return self.plain[i] if 0 <= i < len(self.plain) else ""


def _marked(typed: str) -> bool:
    """Whether a word was typed with tone or vowel marks (đ aside: "đc" is shorthand)."""
    plain = typed.replace("đ", "d")
    return fold(plain) != plain


def _held(word: str) -> str | None:
    """``word`` with a letter held down at its end read once ("oiii" → "oi", "nhaaa" → "nha";
    not "cccd"); None when no letter is held. Looks at the end only: a regex search for the run
    would retry it from every letter of a long one (quadratic on "ooo…ox")."""
    last = word[-1:]
    if not _LETTER.match(last):
        return None
    kept = word.rstrip(last)
    return kept + last if len(word) - len(kept) >= 3 else None


def _is_number(word: str) -> bool:
    return word.isdigit() or bool(_NUMBER_UNIT.match(word))


def _single(w: _Words, i: int, key: str) -> bool:
    """Whether a single letter ``key`` at ``i`` is teencode here."""
    prev, nxt = w.at(i - 1), w.at(i + 1)
    if (
        (_is_number(prev) and key not in ("r", "h"))
        or prev in _LABELS
        or (prev == "tieng" and key != "r")  # "tiếng Ê Đê"; "2 tiếng r" is rồi
        or (prev in _PLACES and key not in _PERSONS)
    ):
        return False
    if key == "h" and nxt == "mong":
        return False  # "người h mông": H'Mông typed with a space
    if key != "r" and w.upper[i] and not w.starts[i]:
        return False  # "khu C", "ông A Sang", "dân tộc H Mông", "Nguyễn Văn K"
    if key in _LETTER_LIKE:
        if nxt.isdigit() and key in "vt":
            return False
        if prev in _english() or nxt in _english():
            return False
    if key in _PERSONS and not w.vietnamese:
        return False  # "tell me a joke"
    if key == "r" and not w.vietnamese:
        return False  # "how r u"
    if key == "a":
        # "a" typed plain, with a word after it in the same sentence
        return w.typed[i] == "a" and i + 1 < len(w.plain) and not w.clause[i + 1]
    if key in ("e", "c"):
        return w.typed[i] == key
    return True


def _contextual(w: _Words, i: int, key: str, value: str) -> str | None:
    """The reading of a context key at ``i``; None: leave the word as it is."""
    prev, nxt = w.at(i - 1), w.at(i + 1)
    if key in _SINGLE:
        return value if _single(w, i, key) else None
    if key == "d":  # "mất đ", "có đ lại": điện
        return value if w.typed[i] == "đ" and (prev in _POWER_BEFORE or nxt == "lai") else None
    if key == "bh" and nxt in ("yt", "xh", "tn"):
        return "bao hiem"
    if key == "kg":
        return None if _is_number(prev) else value
    if key == "ui":
        return None if i == 0 or w.starts[i] or nxt in ("troi", "gioi", "da", "cha") else value
    if key == "bn":
        return "ban" if nxt == "oi" or prev in _FRIEND_BEFORE else value
    if key == "dk":
        return "dang ky" if nxt in _PROCEDURE_NEXT or prev in _PROCEDURE_BEFORE else value
    if key == "bt":
        return "binh thuong" if prev in _USUAL_BEFORE else value
    if key == "kp":
        return "khu pho" if nxt.isdigit() else value
    if key == "cn":
        return "con" if nxt in _CHILD_NEXT or prev in ("cho", "cua") else value
    if key == "ms":
        return "ma so" if nxt in _CODE_NEXT else value
    return value


#: the keys of data/nlu/abbreviations.yml marked "context"
_CONTEXT_KEYS = frozenset("a c e k t v r h d kg ui bn dk bt kp cn ms bh".split())


def expand(text: str) -> list[tuple[str, str]]:
    """Each word of ``text`` (folded, lower case) with what it reads as: itself, or its
    expansion (one or more words, space-separated)."""
    table = abbreviations()
    w = _Words(text)
    out: list[tuple[str, str]] = []
    for i, word in enumerate(w.plain):
        reading = word
        if i in w.forced:
            reading = w.forced[i]
        elif w.free[i] == 0:
            pass
        elif unit := _NUMBER_UNIT.match(word):
            reading = " ".join(x for x in (unit[1], _UNITS[unit[2]], unit[3]) if x)
        elif w.free[i] == 2:
            typed = w.typed[i]
            key = word
            if w.title[i] and not w.clause[i] and word != "ad":
                pass  # a name inside a sentence: "cô Hem", "Ng Văn Nam" ("cảm ơn Ad" is admin)
            elif typed in _TYPED and (typed != "lun" or w.at(i - 1) != "sut"):
                reading = _TYPED[typed]
            elif day := _WEEKDAY.match(word):
                reading = f"thu {day[1]}" if w.at(i - 1) != "thang" else word
            else:
                if key not in table and (held := _held(key)):
                    key = held if len(held) > 1 else key
                if _marked(typed) and key != "d":
                    reading = key  # typed with its marks: a word ("hẻm", "thúi", "lún")
                else:
                    value = table.get(key, key)
                    if key in _CONTEXT_KEYS:
                        value = _contextual(w, i, key, value) or key
                    reading = value
        out.append((word, reading))
    return out


def normalise(text: str) -> str:
    """Folded, lower-case words with teencode expanded: what the classifiers see."""
    return " ".join(reading for _, reading in expand(text))
