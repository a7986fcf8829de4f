"""Follow-ups (docs/conversation.md): the conversation keeps its topic — the intent answered, or
the commune's knowledge entry answered — and its entities (an aspect, a weekday, a village, an
office) for ``KEPT_S`` in the resident's conversation state (``state["kept"]``, stored with the
rest of the state, so it survives a restart and serves every process). A short message with an
aspect or entity cue and no confident topic of its own ("còn thứ 7 thì sao", "thế phí bao
nhiêu", "ở đâu", "còn trạm y tế?", "thôn Nậm Mòn thì sao") is a follow-up: it is rewritten into
the full question in context ("phí đăng ký khai sinh bao nhiêu"), which goes through the normal
understanding (the knowledge, then the intents). Pure: no I/O.

What a follow-up may be answered with is checked (``fits``, ``answer_for``): never a knowledge
entry about another aspect or village than the one asked, never the commune office's hours for
another office, that day's hours only from the hours the commune configured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from bot import procedures
from bot.config import Commune, OfficeHours
from bot.conversation import rules
from bot.conversation.topic_words import foreign
from bot.envelope import Reply, Text
from bot.i18n import N_, _
from bot.nlu.intents import TITLES
from bot.nlu.text import normalise
from bot.nlu.villages import best_village, find_villages
from bot.text import fold, nfc
from bot.timeutil import to_vn

KEPT_S = 15 * 60  # a topic is kept this long after the answer
MAX_WORDS = 8  # a follow-up is short
#: the NLU's confidence from which a message has a topic of its own (with ``_names_its_topic``),
#: chosen for the engine in service on held-out pairs by bot/conversation/follow_eval.py
#: (bench/follow_threshold.py; tests/test_followups.py re-runs it)
OWN_TOPIC = 0.6

#: intents whose answer is a topic a follow-up may continue
TOPICAL = frozenset(
    {
        "office_hours",
        "office_contact",
        "health_station",
        "procedure_birth",
        "procedure_death",
        "procedure_residence",
        "procedure_marriage",
        "procedure_certify",
        "procedure_land",
        "health_insurance",
        "social_allowance",
        "vaccination",
        "power_outage",
        "disaster_warning",
        "propagandist_contact",
    }
)
#: what a message may be without ending the topic (a thanks, a miss, a village said)
_NEUTRAL = frozenset(
    {
        "nlu_fallback",
        "greet",
        "thanks",
        "goodbye",
        "affirm",
        "deny",
        "out_of_scope",
        "set_village",
        "change_language",
    }
)
#: intents that begin a workflow: a message read so, surely, is never a follow-up
_WORKFLOW = frozenset(
    {
        "report_issue",
        "talk_to_staff",
        "delete_my_data",
        "ticket_status",
        "subscribe",
        "unsubscribe",
        "set_village",
        "change_language",
    }
)
_HOURS_INTENTS = frozenset({"office_hours", "health_station"})
#: topics of which any aspect may be asked: what to bring, the fee, online, how long, where
PROCEDURES = frozenset(
    {
        "procedure_birth",
        "procedure_death",
        "procedure_residence",
        "procedure_marriage",
        "procedure_certify",
        "procedure_land",
        "health_insurance",
        "social_allowance",
    }
)
_OF_A_PLACE = frozenset({"place", "phone", "hours"})
_OFFICE_INTENTS = frozenset({"office_hours", "office_contact", "health_station"})

# -- cues (on the normalised text: accents folded, teencode expanded) -----------------------
#: the aspects shared with the procedures, this module's name → bot/procedures.py's: the words
#: are that module's (``ASPECT_WORDS``, the one vocabulary); phone and hours are this module's
SHARED_ASPECTS = {
    "fee": "fee",
    "online": "online",
    "duration": "time_limit",
    "documents": "bring",
    "place": "where",
}
ASPECTS: dict[str, str] = {
    **{name: procedures.PATTERNS[theirs] for name, theirs in SHARED_ASPECTS.items()},
    "phone": r"\b(?:so dien thoai|sdt|dien thoai|so may|goi so nao)\b",
    "hours": (
        r"\b(?:may gio|gio nao|gio lam|gio mo cua|mo cua|dong cua|lam viec|"
        r"(?:co )?lam (?:khong|ko)|co mo|nghi (?:khong|ko))\b"
    ),
}
#: the aspect asked in full, around the topic's subject ``{s}``
_ASKED = {
    "fee": "phí {s} bao nhiêu",
    "online": "{s} online được không",
    "duration": "{s} mất mấy ngày",
    "documents": "{s} cần mang giấy tờ gì",
    "place": "{s} ở đâu",
    "phone": "số điện thoại {s}",
    "hours": "{s} làm việc mấy giờ",
}
_DAYS = (
    (r"\b(?:thu (?:2|hai)|t2)\b", 0),
    (r"\b(?:thu (?:3|ba)|t3)\b", 1),
    (r"\b(?:thu (?:4|tu)|t4)\b", 2),
    (r"\b(?:thu (?:5|nam)|t5)\b", 3),
    (r"\b(?:thu (?:6|sau)|t6)\b", 4),
    (r"\b(?:thu (?:7|bay)|t7)\b", 5),
    (r"\b(?:chu nhat|cn)\b", 6),
)
_TODAY = r"\b(?:hom nay|bay gio|gio nay)\b"
_TOMORROW = r"\b(?:ngay mai|mai)\b"
#: what a weekday or an office said alone may have around it ("còn thứ 7 thì sao", "t7 tuần
#: này ạ", "còn trạm y tế xã?"): any other word makes it a message of its own ("thứ 7 này có
#: họp không", "hỏng từ thứ 2", "cán bộ ủy ban thái độ không tốt")
_AROUND_A_DAY = frozenset(
    "con the vay thi sao nao ra nay tuan sau toi a ah nhe nha co khong ko k vao hom ngay "
    "luc hoi cho em toi minh oi xa".split()
)
#: offices a follow-up may name: the commune office and the health station, whose facts the
#: bot has, and others whose facts it may not (only knowledge answers for them)
OFFICE, STATION = "office", "health_station"
_OFFICES = (
    # not "trạm" alone: a transformer station ("trạm biến áp") and "trăm" (a hundred) fold so
    (r"\b(?:tram y te|tram xa|y te xa)\b", STATION),
    (r"\b(?:uy ban|ubnd|mot cua|bo phan mot cua|van phong xa)\b", OFFICE),
    (r"\b(?:cong an(?: xa)?)\b", "công an xã"),
    (r"\b(?:buu dien)\b", "bưu điện"),
    (r"\b(?:dia chinh)\b", "địa chính"),
    (r"\b(?:ngan hang chinh sach|ngan hang)\b", "ngân hàng chính sách"),
)
_OFFICE_SUBJECT = {OFFICE: "ủy ban xã", STATION: "trạm y tế xã"}
#: procedures a follow-up may switch to ("còn kết hôn thì sao"): their intent
_SUBJECTS = (
    (r"\bkhai sinh\b", "procedure_birth"),
    (r"\bkhai tu\b", "procedure_death"),
    (r"\bket hon\b", "procedure_marriage"),
    (r"\b(?:thuong tru|tam tru|cu tru|tam vang)\b", "procedure_residence"),
    (r"\b(?:chung thuc|cong chung|sao y)\b", "procedure_certify"),
    (r"\b(?:dat dai|so do|so hong)\b", "procedure_land"),
    (r"\b(?:bao hiem y te|bhyt|the bao hiem)\b", "health_insurance"),
    (r"\b(?:tro cap|bao tro xa hoi)\b", "social_allowance"),
)
#: said of something said before: "còn …", "thế …", "… thì sao"
_ELLIPSIS = (
    r"^(?:con|the con|vay con|the|vay|the thi|con neu)\b|\b(?:thi sao|thi the nao|thi ra sao)\b"
)
#: the words of a question that are not its subject (knowledge entries: "Lệ phí đăng ký khai
#: sinh là bao nhiêu?" is about "đăng ký khai sinh")
_NOT_SUBJECT = frozenset(
    "cần mang theo gì những giấy tờ hồ sơ bao nhiêu tiền phí lệ là ở đâu mấy ngày mất lâu "
    "không ko được online trực tuyến có thể nào ạ vậy thì sao giờ địa chỉ cho hỏi xin tôi em "
    "mình chỗ nơi tại nộp qua mạng làm việc mở cửa số điện thoại khi khi nào thời gian chuẩn bị "
    "cái hết tốn".split()
)
#: the words that ask or surround a question, normalised: never a thing of their own
ASKING = frozenset(normalise(" ".join(_NOT_SUBJECT)).split()) | _AROUND_A_DAY
_DAY_NAMES = (
    N_("Thứ Hai"),
    N_("Thứ Ba"),
    N_("Thứ Tư"),
    N_("Thứ Năm"),
    N_("Thứ Sáu"),
    N_("Thứ Bảy"),
    N_("Chủ nhật"),
)
_DAY_WORDS = ("thứ hai", "thứ ba", "thứ tư", "thứ năm", "thứ sáu", "thứ bảy", "chủ nhật")


class Kept(TypedDict, total=False):
    """``state["kept"]``: the topic a follow-up continues."""

    intent: str | None  # the intent answered (None: a knowledge entry)
    entry: int | None  # the knowledge entry answered
    question: str  # the question answered, in full
    subject: str  # what it is about ("đăng ký khai sinh", "ủy ban xã")
    aspect: str | None  # fee, online, duration, documents, place, phone, hours
    day: int | None  # a weekday (Monday 0)
    village: str | None
    office: str | None  # office, health_station, or another office's name
    at: float


@dataclass(frozen=True)
class Cues:
    """What a short message says besides its topic."""

    aspect: str | None = None
    day: int | None = None
    village: str | None = None
    office: str | None = None
    subject: str | None = None  # a procedure's intent
    ellipsis: bool = False

    @property
    def any(self) -> bool:
        return any(
            v is not None for v in (self.aspect, self.day, self.village, self.office, self.subject)
        )


@dataclass(frozen=True)
class FollowUp:
    """A message read as a follow-up: the question it stands for and what it asks of it."""

    said: str  # the resident's own words
    question: str  # the full question in context
    kept: Kept  # the topic after it (remembered once the answer is given)
    cues: Cues

    @property
    def other_office(self) -> str | None:
        """An office other than the commune office and the health station, if one was named."""
        office = self.kept.get("office")
        return office if office not in (None, OFFICE, STATION) else None


def cues_of(text: str, commune: Commune, now_s: float) -> Cues:
    said = normalise(text)
    aspect = next((name for name, rx in ASPECTS.items() if re.search(rx, said)), None)
    day = next((d for rx, d in _DAYS if re.search(rx, said)), None)
    if day is None and re.search(_TODAY, said):
        day = to_vn(datetime.fromtimestamp(now_s, UTC)).weekday()
    elif day is None and re.search(_TOMORROW, said):
        day = (to_vn(datetime.fromtimestamp(now_s, UTC)).weekday() + 1) % 7
    office = next((o for rx, o in _OFFICES if re.search(rx, said)), None)
    subject = next((i for rx, i in _SUBJECTS if re.search(rx, said)), None)
    return Cues(
        aspect=aspect,
        day=day,
        village=best_village(text, commune.villages) if commune.villages else None,
        office=office,
        subject=subject,
        ellipsis=bool(re.search(_ELLIPSIS, said)),
    )


def current(state: dict[str, Any], now_s: float) -> Kept | None:
    """The topic kept, while it holds."""
    kept = state.get("kept")
    if not kept or now_s - float(kept.get("at") or 0) > KEPT_S:
        return None
    return kept


def candidate(text: str, commune: Commune, kept: Kept, now_s: float) -> Cues | None:
    """The cues of a message that may be a follow-up on ``kept``: short, with an aspect or
    entity cue that fits the topic (a weekday for hours, a village after a village-specific
    answer, another procedure after "còn …"); None: it is not one (read as it is)."""
    if len(normalise(text).split()) > MAX_WORDS:
        return None
    cues = cues_of(text, commune, now_s)
    intent = kept.get("intent")
    hours_topic = intent in _HOURS_INTENTS or kept.get("aspect") == "hours"
    village_topic = bool(kept.get("village")) or intent == "propagandist_contact"
    fitting = Cues(
        aspect=cues.aspect if _aspect_fits(intent, cues.aspect) else None,
        day=cues.day if hours_topic or cues.aspect == "hours" or cues.office else None,
        village=cues.village if village_topic else None,
        office=cues.office,
        subject=cues.subject if cues.ellipsis and cues.subject != intent else None,
        ellipsis=cues.ellipsis,
    )
    if (
        (fitting.day is not None or fitting.office)
        and not (fitting.aspect or fitting.village or fitting.subject)
        and _says_more(text)
    ):  # only a day or an office fits, and the message says more than that
        return None
    if fitting.any and _names_another_thing(text, fitting, kept):
        return None
    return fitting if fitting.any else None


def _names_another_thing(text: str, cues: Cues, kept: Kept) -> bool:
    """Whether a message that only asks an aspect or a day of the topic also names a thing
    the topic's intent is never said with ("nộp thuế ở đâu" after the birth registration):
    it is a question of its own (bot/conversation/topic_words.py). A village, an office or a
    procedure named are cues of their own. A knowledge entry's topic is checked with the
    examples of the procedure its question names ("Lệ phí đăng ký khai sinh là bao nhiêu?":
    the birth registration's), and not at all when it names none."""
    question = kept.get("question") or ""
    intent = kept.get("intent") or next(
        (i for rx, i in _SUBJECTS if re.search(rx, normalise(question))), None
    )
    if intent is None or cues.subject or cues.office or cues.village:
        return False
    said = normalise(text)
    for rx in (*ASPECTS.values(), *(rx for rx, _d in _DAYS), _TODAY, _TOMORROW, _ELLIPSIS):
        said = re.sub(rx, " ", said)
    return bool(foreign(said.split(), intent, question, ASKING))


def _says_more(text: str) -> bool:
    """Whether a message says anything besides a weekday, an office and the words around
    them ("còn trạm y tế?", "chủ nhật thì sao" say nothing more; "thứ 7 này có họp không",
    "cán bộ ủy ban thái độ không tốt" do)."""
    said = normalise(text)
    days = (rx for rx, _d in _DAYS)
    offices = (rx for rx, _o in _OFFICES)
    for rx in (*days, *offices, _TODAY, _TOMORROW, _ELLIPSIS):
        said = re.sub(rx, " ", said)
    return bool(set(said.split()) - _AROUND_A_DAY)


def _aspect_fits(intent: str | None, aspect: str | None) -> bool:
    """Whether ``aspect`` may be asked of a topic: anything of a procedure or a knowledge
    entry; where, the phone and the hours of a place (the office, the health station) or of
    anything else ("phí" after the office hours is a question of its own)."""
    if aspect is None:
        return False
    return intent is None or intent in PROCEDURES or aspect in _OF_A_PLACE


def resolve(
    text: str,
    cues: Cues,
    kept: Kept,
    own_intent: str,
    own_confidence: float,
    own_rule: str | None,
    now_s: float,
) -> FollowUp | None:
    """``text`` (a ``candidate`` with ``cues``) as a follow-up on ``kept`` when it has no
    confident topic of its own (``own_*``: the message's own reading) — a message that says
    "còn …" / "… thì sao" may name a new office or procedure for the same question — or None:
    the message is read as it is."""
    confident = own_rule is not None or (
        own_confidence >= OWN_TOPIC and _names_its_topic(text, cues, kept, own_intent)
    )
    if own_intent in _WORKFLOW:  # read so at all (a report, a person): never a follow-up
        return None
    own_topic = confident and own_intent not in _NEUTRAL and own_intent != kept.get("intent")
    if own_topic and not (cues.ellipsis and (cues.office or cues.subject)):
        return None
    new = _continued(kept, cues, now_s)
    asked = new.get("question", "") if cues.village else question_of(new)
    return FollowUp(text, f"{asked} {_day_said(cues.day)}".strip(), new, cues)


def _names_its_topic(text: str, cues: Cues, kept: Kept, own_intent: str) -> bool:
    """Whether an office's reading rests on the office named. The engine reads "trạm" (a
    transformer station, "trạm biến áp") and "trăm" (a hundred, "phí hai trăm nghìn à"), which
    fold alike, as the health station with 0.95 and more, and "mấy giờ mở cửa" said of the
    health station as the office's hours (bench/follow_threshold.py): for these intents the
    confidence alone cannot tell a topic of its own from a follow-up."""
    if own_intent == "health_station":
        return rules.about_health_station(text)
    if own_intent in _OFFICE_INTENTS and kept.get("intent") in _OFFICE_INTENTS:
        return cues.office is not None
    return True


def _continued(kept: Kept, cues: Cues, now_s: float) -> Kept:
    new: Kept = {**kept, "at": now_s}
    if cues.subject:  # another procedure, the same question about it
        new["intent"], new["entry"], new["village"] = cues.subject, None, None
        new["subject"] = _title(cues.subject)
        new["question"] = new["subject"]
    if cues.office:
        new["office"] = cues.office
        new["subject"] = _OFFICE_SUBJECT.get(cues.office, cues.office)
        new["entry"] = None
        if cues.office in (OFFICE, STATION):
            new["intent"] = "health_station" if cues.office == STATION else "office_hours"
        if not cues.aspect and kept.get("intent") not in _OFFICE_INTENTS:
            new["aspect"] = "hours"
        elif not cues.aspect and kept.get("intent") == "office_contact":
            new["aspect"] = "place"
        elif not cues.aspect and not kept.get("aspect"):
            new["aspect"] = "hours"
    if cues.aspect:
        new["aspect"] = cues.aspect
    if cues.day is not None:
        new["day"] = cues.day
        if not cues.aspect:  # "còn thứ 7 thì sao": that day's hours
            new["aspect"] = "hours"
    if cues.village:
        old = kept.get("village")
        question = kept.get("question") or ""
        if old and fold(old).lower() in fold(question).lower():
            at = fold(question).lower().index(fold(old).lower())
            question = question[:at] + cues.village + question[at + len(old) :]
        else:
            question = f"{question} thôn {cues.village}".strip()
        new["question"] = question
        new["village"] = cues.village
    return new


def question_of(kept: Kept) -> str:
    """The full question the topic asks about its aspect ("phí đăng ký khai sinh bao
    nhiêu"), or the question answered as it was."""
    aspect, subject = kept.get("aspect"), kept.get("subject") or ""
    if aspect in _ASKED and subject:
        return _ASKED[aspect].format(s=subject)
    return kept.get("question") or subject


def _day_said(day: int | None) -> str:
    return _DAY_WORDS[day] if day is not None else ""


def _title(intent: str) -> str:
    return TITLES[intent].lower() if intent in TITLES else intent.replace("_", " ")


def subject_of(question: str) -> str:
    """A question's subject: its words less those that ask ("Lệ phí đăng ký khai sinh là bao
    nhiêu?" → "đăng ký khai sinh")."""
    words = [w.strip("?.,!:;") for w in nfc(question).lower().split()]
    kept = [w for w in words if w and w not in _NOT_SUBJECT]
    return " ".join(kept) or nfc(question).lower().strip("?")


def aspect_of(text: str) -> str | None:
    said = normalise(text)
    return next((name for name, rx in ASPECTS.items() if re.search(rx, said)), None)


def _villages_named(commune: Commune, text: str) -> set[str]:
    return {m.village for m in find_villages(text, commune.villages)} if commune.villages else set()


# -- remembering ------------------------------------------------------------------------------
def of_intent(
    commune: Commune,
    intent: str,
    text: str,
    entities: list[dict[str, Any]],
    now_s: float,
    follow: FollowUp | None,
) -> Kept | None:
    """The topic an intent's answer leaves (None: the intent is no topic to continue)."""
    if intent not in TOPICAL:
        return None
    if follow is not None:  # the topic as the follow-up continued it, read as ``intent``
        return {**follow.kept, "intent": intent, "at": now_s}
    village = next((e["value"] for e in entities if e.get("entity") == "village"), None)
    cues = cues_of(text, commune, now_s)
    office = (
        STATION if intent == "health_station" else OFFICE if intent in _OFFICE_INTENTS else None
    )
    subject = _OFFICE_SUBJECT[office] if office else _title(intent)
    if intent == "propagandist_contact":
        subject = "trưởng thôn"
    aspect = cues.aspect
    if intent in _HOURS_INTENTS and aspect not in ("place", "phone"):
        aspect = "hours"
    elif intent == "office_contact" and aspect not in ("place", "phone"):
        aspect = "place"
    said = nfc(text).strip()
    return {
        "intent": intent,
        "entry": None,
        "question": said if said and not said.startswith("/") and not said.isdigit() else subject,
        "subject": subject,
        "aspect": aspect,
        "day": cues.day if intent in _HOURS_INTENTS else None,
        "village": village,
        "office": office,
        "at": now_s,
    }


def of_entry(
    commune: Commune, entry_id: int, question: str, now_s: float, follow: FollowUp | None
) -> Kept:
    """The topic a knowledge entry's answer leaves."""
    named = sorted(_villages_named(commune, question))
    base: Kept = {
        "intent": None,
        "entry": entry_id,
        "question": nfc(question).strip(),
        "subject": subject_of(question),
        "aspect": aspect_of(question),
        "day": None,
        "village": named[0] if len(named) == 1 else None,
        "office": None,
        "at": now_s,
    }
    if follow is not None:  # the subject asked about stays (the entry may word it otherwise)
        base["subject"] = follow.kept.get("subject") or base["subject"]
    return base


def remember(state: dict[str, Any], intent: str, kept: Kept | None) -> None:
    """After an answer: a topic kept, replaced, or left as it was (a thanks, a miss); a message
    that starts something else (a report, a person asked for) ends it."""
    if kept is not None:
        state["kept"] = dict(kept)
    elif intent not in _NEUTRAL:
        state.pop("kept", None)


# -- answering a follow-up --------------------------------------------------------------------
def fits(follow: FollowUp, commune: Commune, question: str, entry_id: int) -> bool:
    """Whether a knowledge entry (its ``question``) answers what the follow-up asks: the same
    aspect when one was asked, no other village than the one asked, not the very entry of the
    topic asked about something else."""
    asked = follow.cues
    if asked.aspect and aspect_of(question) != asked.aspect:
        return False
    named = _villages_named(commune, question)
    if asked.village and named - {asked.village}:
        return False
    return not (entry_id == follow.kept.get("entry") and (asked.aspect or asked.village))


def answer_for(follow: FollowUp | None, commune: Commune, intent: str) -> list[Reply] | None:
    """A follow-up's answer that the intent's own answer would get wrong: that day's hours (the
    office's or the health station's), or an office the bot has no facts for. None: the
    intent's answer as usual."""
    if follow is None:
        return None
    other = follow.other_office
    if other and intent in _OFFICE_INTENTS:
        return [
            Text(
                _(
                    "Dạ, trang này chưa có thông tin về {office}. Anh/chị vui lòng gọi {phone} "
                    "để được hướng dẫn."
                ).format(office=other, phone=commune.phone)
            )
        ]
    day = follow.kept.get("day")
    if day is None or intent not in _HOURS_INTENTS or follow.kept.get("aspect") != "hours":
        return None
    if intent == "office_hours":
        return [Text(day_hours(commune.name, commune.office_hours, day))]
    station = commune.health_station
    if station is None or not station.hours:
        return None  # the station's answer says what the bot does not have
    return [Text(day_hours(station.name, station.hours, day))]


def day_hours(name: str, periods: list[OfficeHours], day: int) -> str:
    """One weekday's hours of a place: its spans, or that it does not work that day."""
    spans = [f"{_hm(p.open)}–{_hm(p.close)}" for p in periods if day in p.weekdays]
    when = _(_DAY_NAMES[day])
    if not spans:
        return _("{day}, {name} không làm việc.").format(day=when, name=name)
    return (
        _("{day}, {name} làm việc: {spans}.").format(day=when, name=name, spans=", ".join(spans))
        + " "
        + _("Ngày lễ, Tết nghỉ theo quy định.")
    )


def _hm(t: Any) -> str:
    return f"{t.hour}:{t.minute:02d}"
