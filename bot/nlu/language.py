"""Which language a resident writes in, and which one the bot answers in — decided here only.

``detect(text)`` reads one message: ``"en"``, ``"vi"``, or ``None`` when its words do not tell.
``choose(current, text)`` is the language of the reply (and the resident's from then on): a
clear English message switches to English, a clear Vietnamese one back to Vietnamese, anything
short or ambiguous ("ok", "hi", "1", a tapped choice) keeps the language the conversation had.
A language the resident picked (``bot ask --language``, the web chat page's ``?lang=``, the
language stored with a Zalo resident) is the ``current`` one.

Vietnamese typed without diacritics is plain ASCII, so "is it ASCII?" says nothing. Each word
is weighed instead:

- a lower-case word with Vietnamese marks ("đây", "cháy"): Vietnamese;
- a word of the English list below ("what", "office", "please"): English — but not the ones
  that are also Vietnamese syllables typed without marks ("the", "an", "ban", "con", "my",
  which are thẻ, ăn, bạn, con, mỹ): those say nothing;
- Vietnamese chat shorthand and teencode ("ko", "dc", "ad", "j"): Vietnamese;
- any other word that could be a Vietnamese syllable typed without marks (initial consonant,
  vowels, final consonant: "nuoc", "truong", "ngay"): Vietnamese; one that cannot ("garbage",
  "pothole", "drowning"): English;
- names — capitalised words inside a sentence ("I live in Nậm Mòn"), all-capital codes
  ("PA-2026-000123"), numbers — and English greetings residents also use in Vietnamese
  ("hello", "ok", "thanks"): nothing.

English needs at least two English words, one of them from the list, and more than twice the
Vietnamese ones (unaccented Vietnamese must never be taken for English: a few chance English
words among Vietnamese syllables do not make it English); Vietnamese needs two Vietnamese words
and more of them than English ones.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.text import fold, nfc

DEFAULT = "vi"

#: words that are also Vietnamese syllables typed without marks: no evidence either way
_BOTH = frozenset(
    """
a an anh bai ban bang bao be cam can cao cho co con cu da dan dang dao day di do ga gan gap gi
hai hay hi hoa in lam lan lo ma mai may me moi mon my nam nay no o on pho sao so ta tai tan
tay the thi tin to toi tu va vay xa
""".split()
)

#: English words (those that are also Vietnamese syllables are taken out, see ``_BOTH``)
ENGLISH = (
    frozenset(
        """
a about address after again all allowance am and any anyone april are at august available
be because been before birth born bring broke broken burst but by call can cancel cant
card certificate certify change child children close closed collected complain complaint
copy could cut day days death december did do does doing don dont down each electricity
email emergency english evening everyone february fee fees fire flood for form forms friday
from get give go going had happened has have health hello help her here his hospital hour
hours house how i if im in info information insurance is issue it its january july june just
know land language last later leave like live lives looking lost march marriage married may
me message messages monday month more morning my name near need news no not notice notices
november now number october of office officer officers on one online open or our out outage
paper papers people person phone photo please police power problem procedure procedures
register registration report reported residence road saturday say schedule see send
september service services should sign so some someone speak staff station status still
stop street subscribe sunday talk tell than thank thanks that the their them then there
these they this thursday to today tomorrow tuesday unsubscribe until up urgent us vaccine
vaccination village want was water we wednesday week what when where which who why will
with without would yes yesterday you your
son hot top ten men bit set let net hit sit pet sing thing bring king ring
account afternoon building check clinic correct data delete details document erase forecast
forget good heavy household human new night permit personal plan poor rain recommend remove
restaurant right storm support switch ticket vietnamese warning weather write wrong
""".split()
    )
    - _BOTH
)

#: Vietnamese words typed without marks that are also not English, and chat shorthand
VIETNAMESE = (
    frozenset(
        """
a ad ak anh ban bao bi biet bn bo buoi cac cai can cap cau chi chieu cho chua chung co con
cua cung da dang dau day den di dia diem dien dieu dk dc duoc duong em gi gia gio giup hay
hoi hom hop hs huong j k kh khong ko kp lam lich luc mat may minh mik mk moi muon nao nay
nhe nha nhu nhung o oi phai phan phong qua roi sang sao sdt sinh so ta tai thang thi thoi
thon thu thuc tin toi trong tu tuan uy ubnd va van vay ve viec voi vs xa xin xoa
z zay dzay dzo hok hem hong ak uk nha nhen nhe hen ne ha ho vz cx ntn lm ns bh mn
cc cccd cmnd bhyt gplx
""".split()
    )
    - ENGLISH
)

#: English words Vietnamese residents use in Vietnamese chat: no evidence either way
LOANWORDS = frozenset(
    "bye hello hi ok okay please sorry thank thanks yes you admin alo "
    "zalo bot facebook online".split()
)

# a Vietnamese syllable without its marks: initial consonant, vowels, final consonant
# (f, j, w, z, dz: chat spellings — "fai", "j", "wa", "zay", "dzô")
_SYLLABLE = re.compile(
    r"^(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|dz|[bcdfghjklmnprstvwxz])?"
    r"(?:oai|oay|oeo|uay|uoi|uou|uya|uye|uyu|yeu|ieu|"
    r"ai|ao|au|ay|eo|eu|ia|ie|iu|oa|oe|oi|oo|ua|ue|ui|uo|uu|uy|ye|[aeiouy])"
    r"(?:ch|ng|nh|[cmnpt])?$"
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_SENTENCE_END = re.compile(r"\s*[.!?\n]")  # after a word: the next one begins a sentence


@lru_cache(maxsize=1)
def _shorthand() -> frozenset[str]:
    """Teencode and abbreviations the NLU expands (``data/nlu/abbreviations.yml``)."""
    from bot.nlu.shorthand import abbreviations

    return frozenset(k for k in abbreviations() if " " not in k) - ENGLISH - _BOTH


def _weigh(word: str, first: bool) -> str | None:
    """ "en", "vi" or None (no evidence) for one word of a message."""
    folded = fold(word)
    if len(word) >= 2 and word.isupper():
        return None  # a code or an acronym (PA-…, UBND)
    lower, plain = word.lower(), folded.lower()
    if len(lower) == 1:
        return "en" if word == "I" else None  # "I"; or "t", "e", "k": tôi, em, không
    if word[0].isupper() and not first:  # a name inside a sentence (a village, the commune),
        # or English, Vietnamese, Monday: never a Vietnamese syllable
        return "en" if lower in ENGLISH and not _SYLLABLE.match(plain) else None
    if plain != lower:
        return "vi" if plain.isascii() or "đ" in lower else None  # Vietnamese marks
    if lower in LOANWORDS or lower in _BOTH:
        return None
    if lower in ENGLISH:
        return "en"
    if lower in VIETNAMESE or lower in _shorthand():
        return "vi"
    if not lower.isascii():
        return None  # another script or a minority language's letters
    return "vi" if _SYLLABLE.match(lower) else "en"


def weights(text: str | None) -> tuple[int, int, int]:
    """(English words, of them in the English list, Vietnamese words) of a message."""
    raw = nfc(text or "")
    en = listed = vi = 0
    first = True
    for match in _WORD.finditer(raw):
        word = match.group(0).replace("'", "")
        said = _weigh(word, first)
        en += said == "en"
        listed += said == "en" and word.lower() in ENGLISH
        vi += said == "vi"
        first = bool(_SENTENCE_END.match(raw, match.end()))
    return en, listed, vi


def detect(text: str | None) -> str | None:
    """``"en"``, ``"vi"``, or ``None`` when the words do not tell (keep the current one)."""
    said = (text or "").strip()
    if not said or said.startswith("/"):  # a tapped choice's payload
        return None
    en, listed, vi = weights(said)
    if en >= 2 and listed >= 1 and en > 2 * vi:
        return "en"
    if vi >= 2 and vi > en:
        return "vi"
    return None


def choose(current: str | None, text: str | None) -> str:
    """The language to answer ``text`` in, and the resident's from then on. A detected
    language replaces the current one only between Vietnamese and English: a resident who
    chose a minority language for notices (``hnj``) and writes Vietnamese keeps it."""
    current = current or DEFAULT
    said = detect(text)
    if said == "en" or (said == "vi" and current == "en"):
        return said
    return current
