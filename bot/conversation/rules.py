"""Decision rules over the NLU's reading: what the words make certain where a classifier trained
on short questions goes wrong (issue 10's misroutes). Pure functions of the text.

The classifier answers "which question is this like"; a few things residents say are decided by
their form instead, and deciding them here keeps one place for each:

- a follow-up on a report already sent ("hôm qua tôi gửi phản ánh … chưa thấy trả lời") asks how
  it goes — it is not a new report;
- "cho e phản ánh" (only words of asking to report) starts a report, it does not look one up;
- a power cut told as happening ("nhà tôi mất điện từ sáng", "xóm em mất điện 2 hôm rồi") is a
  report on the supply, while "lịch cắt điện tuần này" stays the schedule question;
- a death in the family ("bố tôi mất rồi", "mẹ em vừa qua đời") is the death registration, and
  whatever the bot answers starts with a condolence — never a marriage or power-cut menu;
- the commune health station ("trạm y tế mấy giờ mở cửa") is not the commune office;
- "xóa số tôi đi, không nhận tin nữa" stops the notices; it does not erase the resident's data;
- "không nhận tin điện nữa, chỉ nhận tin thời tiết": each topic named with its own polarity.

Words are matched on the normalised text (accents folded, teencode expanded) unless a word is
ambiguous without its accents ("mất"/"mát"/"mặt", "thôi"/"thời").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bot.nlu.text import normalise
from bot.text import nfc

# -- the word classes ------------------------------------------------------------------------
_REPORT = r"(?:phan anh|pa|kien nghi|khieu nai|gop y|to giac|bao cao)"
#: said of something sent before
_BEFORE = (
    r"\b(?:da|hom qua|hom truoc|hom bua|hom kia|bua truoc|bua qua|bua hom|bua kia|"
    r"tuan truoc|tuan roi|thang truoc|lan truoc|may hom|may ngay|may tuan|lau roi|"
    r"gui roi|gui tu|tu hom|tu tuan|tu thang)\b"
)
#: and still not answered
_PENDING = (
    r"\b(?:(?:chua|van chua|khong|hong)(?: thay| co| duoc| nhan duoc)?"
    r"(?: ai| gi| ket qua| tin| y kien)?"
    r" (?:tra loi|phan hoi|xu ly|giai quyet|hoi am|ket qua|den|toi|xuong|lien lac|goi)"
    r"|sao roi|the nao roi|toi dau roi|den dau roi|sao chua)\b"
)
#: the words of "I want to report" that say nothing of the matter (chat.GENERIC and chat
#: fillers, after teencode expansion)
_ASKING = {
    "toi",
    "em",
    "minh",
    "anh",
    "chi",
    "tui",
    "tao",
    "muon",
    "can",
    "xin",
    "gui",
    "cho",
    "xa",
    "voi",
    "vs",
    "a",
    "oi",
    "nhe",
    "nha",
    "nhen",
    "viec",
    "mot",
    "ve",
    "la",
    "co",
    "duoc",
    "khong",
    "admin",
    "giup",
    "gium",
    "dum",
    "di",
    "ah",
    "ak",
    "luon",
}
_REPORT_WORDS = {
    "phan",
    "anh",
    "pa",
    "kien",
    "nghi",
    "khieu",
    "nai",
    "gop",
    "y",
    "to",
    "giac",
    "bao",
    "cao",
}

_OUTAGE = (
    r"\b(?:mat dien|cup dien|cat dien|ngat dien|mat d|md|het dien|dien chap chon|"
    r"(?:khong|chua|hong) co dien|dien (?:mat|cup|bi cat|bi cup))\b(?! thoai)"  # a lost phone
)
#: happening now, here
_NOW = (
    r"\b(?:tu (?:sang|trua|chieu|toi|dem|hom qua|qua|nay|luc|hom|\d+)|nay gio|toi gio|"
    r"den gio|(?:\d+|mot|hai|ba|bon|nam|may|nhieu) (?:hom|ngay|tieng|gio|buoi|dem|tuan)"
    r"(?: roi| nay| lien)?|ca (?:ngay|dem|xom|thon|ban|khu|ap|lang)|roi|dang|hien gio|"
    r"luc nay|bay gio|chua co lai|chua co dien lai)\b"
)
_HERE = (
    r"\b(?:nha (?:toi|em|minh|tui|tao|chung toi|anh|chi)|xom (?:toi|em|minh|tui)|"
    r"khu (?:nay|toi|em))\b"
)
#: a schedule question, not a report
_SCHEDULE = (
    r"\b(?:lich|ke hoach|thong bao|du kien|ngay mai|mai|ngay kia|tuan nay|tuan sau|"
    r"tuan toi|thang nay|sap|dinh ky|bao tri)\b"
)

_HEALTH_STATION = r"\b(?:tram y te|tram xa|tyt|benh xa|y te xa|tram y)\b"

#: a death told, in accented words (alone, "mất" is also "lose": only after a relative, see
#: below) — the resident is bereaved
_DEATH_WORDS = ("qua đời", "từ trần", "tạ thế", "đám tang", "đám ma", "tang lễ", "hậu sự")
_DEATH_PLAIN = ("qua doi", "tu tran", "dam tang", "tang le", "hau su")
#: the registration's own words: the procedure, not necessarily a loss of one's own
_REGISTRATION = ("khai tu", "bao tu", "chung tu", "mai tang", "an tang")
_KIN = (
    "bố|mẹ|ba|má|cha|ông|bà|chồng|vợ|con|anh|chị|em|cụ|cậu|mợ|dì|chú|thím|bác|cô|dượng|"
    "nội|ngoại|u|bầm|tía|bu"
)
#: after "mất": what makes it a death and not a loss ("mất điện", "mất giấy", "mất ngủ")
_AFTER_DEATH = (
    "rồi|ạ|a|hôm|ngày|tuần|tháng|năm|từ|lúc|vào|nên|thì|mà|do|vì|cần|phải|giờ|"
    "xong|được|chưa|nay|sáng|trưa|chiều|tối|đêm|hồi|cách|hơn|lâu|rùi|r|đột|"
    "sau|trong|ở|tại"
)
_KIN_DIED = re.compile(
    rf"\b(?:{_KIN})\b(?:\s+\w+){{0,3}}?\s+(?:đã\s+|vừa\s+|mới\s+)?"
    rf"mất(?:\s+(?:{_AFTER_DEATH})\b|\s*$)"
)
#: not a death (yet): a danger now is an emergency report, never a condolence
_NOT_YET = re.compile(r"\b(?:sắp|gần|suýt|sợ|nguy|cứu|hấp hối)\b")
_KIN_DIED_PLAIN = re.compile(
    r"\b(?:bo|me|cha|chong|vo|ong|ba|con)\b(?: \w+){0,2}? "
    r"(?:vua|moi|da) mat\b(?! (?:dien|nuoc|tien|giay|xe|"
    r"so|ngu|viec|mang|song|lien lac|tich|the|trom|cap|dien thoai))"
)

_UNSUBSCRIBE = (
    r"\b(?:khong|dung|ngung|huy|tat|khoi|chan)(?: \w+){0,2} "
    r"(?:nhan|gui|nhan tin|thong bao|tin nhan)\b"
)

#: a clause of its own starts before these ("…, chỉ nhận tin thời tiết", "… nhưng vẫn nhận")
_CLAUSE = re.compile(
    r"\s+(?=(?:nhung|chi|van|con)\s+(?:nhan|dang ky|muon|can|giu|theo doi|"
    r"lay|gui|de|bat)\b)|\s+(?=nhung\b)"
)
_NEGATIVE = re.compile(
    r"\b(?:khong|hong|ngung|huy|tat|khoi|chan|stop|unsubscribe|"
    r"dung (?:gui|nhan|nhan tin)|bo (?:theo doi|tin|nhan|dang ky)|"
    r"thoi(?! (?:tiet|gian|su|diem|trang|ky)))\b"
)
_POSITIVE = re.compile(r"\b(?:nhan|dang ky|theo doi|bat|giu|chi|van|subscribe)\b")


def _has(pattern: str, key: str) -> bool:
    return re.search(pattern, key) is not None


def _accented(text: str) -> str:
    return " ".join(re.findall(r"\w+", nfc(text).lower()))


# -- the decisions ---------------------------------------------------------------------------
def follows_up(text: str) -> bool:
    """A report sent before and not answered yet."""
    key = normalise(text)
    return _has(rf"\b{_REPORT}\b", key) and _has(_BEFORE, key) and _has(_PENDING, key)


def asks_to_report(text: str) -> bool:
    """Only the words of asking to report ("cho e phản ánh", "tôi muốn gửi kiến nghị")."""
    key = normalise(text)
    words = set(key.split())
    return _has(rf"\b{_REPORT}\b", key) and words <= _ASKING | _REPORT_WORDS


def outage_now(text: str) -> bool:
    """A power cut told as happening now, here — not a question about the schedule."""
    key = normalise(text)
    return _has(_OUTAGE, key) and (_has(_NOW, key) or _has(_HERE, key)) and not _has(_SCHEDULE, key)


def bereaved(text: str) -> bool:
    """The resident speaks of a death (in the family)."""
    accented, key = f" {_accented(text)} ", f" {normalise(text)} "
    if any(f" {w} " in accented for w in _DEATH_WORDS) or any(
        f" {w} " in key for w in _DEATH_PLAIN
    ):
        return True
    if _NOT_YET.search(accented) or _has(r"\b(?:sap|suyt|cuu|nguy)\b", key):
        return False
    pieces = re.split(r"[,.;!?\n]+", nfc(text).lower())
    return any(_KIN_DIED.search(" ".join(re.findall(r"\w+", c))) for c in pieces) or any(
        _KIN_DIED_PLAIN.search(normalise(c)) for c in pieces
    )


def about_a_death(text: str) -> bool:
    """A death told, or its registration named ("khai tử", "giấy báo tử")."""
    key = f" {normalise(text)} "
    return bereaved(text) or any(f" {w} " in key for w in _REGISTRATION)


def mentions_erasure(text: str) -> bool:
    """ "xóa" said: the resident may think stopping notices erases them; tell them it does
    not."""
    return _has(r"\bxoa\b", normalise(text))


def about_health_station(text: str) -> bool:
    return _has(_HEALTH_STATION, normalise(text))


def stops_notices(text: str) -> bool:
    """ "không nhận tin nữa", "đừng gửi tin", "hủy nhận thông báo"."""
    return _has(_UNSUBSCRIBE, normalise(text))


#: intent → the intents each rule may replace (the NLU's reading when it is one of them)
_FOLLOW_UP_OVER = {
    "report_issue",
    "nlu_fallback",
    "out_of_scope",
    "power_outage",
    "latest_notices",
    "disaster_warning",
    "greet",
    "deny",
    "affirm",
}
_ASK_TO_REPORT_OVER = {"ticket_status", "nlu_fallback", "talk_to_staff", "out_of_scope"}
_OUTAGE_OVER = {"power_outage", "nlu_fallback", "report_issue", "out_of_scope"}
_BEREAVED_OVER = {
    "nlu_fallback",
    "power_outage",
    "procedure_marriage",
    "procedure_birth",
    "out_of_scope",
    "greet",
    "deny",
    "affirm",
    "thanks",
    "goodbye",
    "latest_notices",
    "subscribe",
    "unsubscribe",
}
_HEALTH_OVER = {
    "office_hours",
    "office_contact",
    "nlu_fallback",
    "health_insurance",
    "out_of_scope",
    "propagandist_contact",
}

#: (rule name, test, intents it replaces, the intent it gives) — first match wins
RULES: tuple[tuple[str, Callable[[str], bool], set[str], str], ...] = (
    ("follow_up", follows_up, _FOLLOW_UP_OVER, "ticket_status"),
    ("asks_to_report", asks_to_report, _ASK_TO_REPORT_OVER, "report_issue"),
    ("outage_now", outage_now, _OUTAGE_OVER, "report_issue"),
    ("health_station", about_health_station, _HEALTH_OVER, "health_station"),
    ("a_death", about_a_death, _BEREAVED_OVER, "procedure_death"),
    ("stops_notices", stops_notices, {"delete_my_data"}, "unsubscribe"),
)


def decide(intent: str, text: str | None) -> tuple[str, str | None]:
    """The intent to act on, and the name of the rule that chose it (None: the NLU's)."""
    if not text or not text.strip():
        return intent, None
    for name, test, over, gives in RULES:
        if intent in over and test(text):
            return gives, name
    return intent, None


# -- topics with their polarity ----------------------------------------------------------------
def clauses(text: str) -> list[str]:
    """The text cut where a choice may change: punctuation, and before "nhưng", "chỉ nhận",
    "vẫn nhận" … (normalised)."""
    out: list[str] = []
    for piece in re.split(r"[,.;!?\n]+", text):
        key = normalise(piece)
        out += [c.strip() for c in _CLAUSE.split(key) if c.strip()]
    return out


def topic_choices(
    text: str, intent: str, topics_in: Callable[[str], Iterable[str]]
) -> list[tuple[str, bool]]:
    """Each topic the text names, with whether the resident wants it: a clause that says "không
    / hủy / đừng gửi …" turns its topics off, one that says "nhận / đăng ký / chỉ …" on, one that
    says neither keeps the clause before it (the first: the intent's). ``topics_in`` finds the
    topic values in a piece of text (the NLU's entity extractor). Empty: no topic named."""
    wanted = intent == "subscribe"
    chosen: dict[str, bool] = {}
    for clause in clauses(text):
        if _NEGATIVE.search(clause):
            wanted = False
        elif _POSITIVE.search(clause):
            wanted = True
        for topic in topics_in(clause):
            chosen.pop(topic, None)
            chosen[topic] = wanted
    return list(chosen.items())
