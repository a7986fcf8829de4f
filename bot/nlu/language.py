"""Which language a resident is writing in: Vietnamese (the default) or English.

Vietnamese typed without diacritics is plain ASCII, so "is it ASCII?" says nothing. A message
is taken for English only when its words say so: at least two words that are English and not
Vietnamese syllables typed without marks ("what", "office", "please" — not "the", "an", "ban",
"con", which are also thẻ, ăn, bạn, con), and more of them than words that are only
Vietnamese ("toi", "xa", "khong", "duoc", teencode). Any Vietnamese letter with a mark means
Vietnamese. Short greetings ("hi", "ok", "hello ad") decide nothing: the conversation keeps
the language it had.
"""

from __future__ import annotations

import re

from bot.nlu.normalize import fold, nfc

#: English words that are not Vietnamese syllables typed without marks
ENGLISH = frozenset("""
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
""".split()) - frozenset("""
a an anh bai ban bang bao be cam can cao cho co con cu da dan dang dao di do ga gan gap gi
hai hay hi hoa in lam lan lo ma mai may me moi mon my nam nay no o on pho sao so ta tai tan
tay the thi tin to toi tu va vay xa
""".split())

#: words that are only Vietnamese (typed without marks) or Vietnamese chat shorthand
VIETNAMESE = frozenset("""
a ad ak anh ban bao bi biet bn bo buoi cac cai can cap cau chi chieu cho chua chung co con
cua cung da dang dau day den di dia diem dien dieu dk dc duoc duong em gi gia gio giup hay
hoi hom hop hs huong j k khi khong ko kp lam lich luc mat may minh mik mk moi muon nao nay
nhe nha nhu nhung o oi phai phan phong qua roi sang sao sdt sinh so sao ta tai thang thi thoi
thon thu thuc tin toi trong tu tuan uy ubnd va van vay ve viec voi vs xa xin xoa
""".split()) - ENGLISH

#: English words Vietnamese residents use in Vietnamese chat: no evidence either way
LOANWORDS = frozenset("bye hello hi ok okay please sorry thank thanks yes you admin".split())

_WORDS = re.compile(r"[a-z']+")
_MARKED = re.compile(r"[^\x00-\x7f]")


def detect(text: str | None) -> str | None:
    """``"en"``, ``"vi"``, or ``None`` when the words do not tell (keep the current one)."""
    raw = nfc(text or "").strip()
    if not raw:
        return None
    if fold(raw) != raw and _MARKED.search(fold(raw)) is None:
        return "vi"  # Vietnamese letters with their marks
    words = [w.strip("'") for w in _WORDS.findall(raw.lower())]
    english = sum(1 for w in words if w in ENGLISH and w not in LOANWORDS)
    vietnamese = sum(1 for w in words if w in VIETNAMESE)
    if english >= 2 and english > vietnamese:
        return "en"
    if vietnamese >= 2 and vietnamese > english:
        return "vi"
    return None
