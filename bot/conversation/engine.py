"""From a resident's message to what the bot says. No I/O: the caller persists state and replies.

Used by every channel (Zalo, web chat) through the inbound processor, and by ``bot ask``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot import i18n
from bot.config import Commune
from bot.conversation import answers, erasure, rules
from bot.conversation import village as village_chat
from bot.conversation.types import (
    ConversationState,
    Effect,
    Erase,
    FileTicket,
    HandOff,
    SetLanguage,
    TicketNote,
    TicketStatus,
    Topic,
    effect_of,
)
from bot.envelope import Choice, Choices, Parse, Reply, Text
from bot.feedback import chat as report_form
from bot.feedback import triage
from bot.feedback.categories import guess as guess_category
from bot.i18n import _, in_language_argument, use_language
from bot.nlu.backends import Understanding, understand_embedded
from bot.timeutil import to_vn, utcnow

CONFIDENCE_THRESHOLD = 0.4  # below: a clarifying question (chosen on docs/nlu-eval.md)
CLARIFY_FLOOR = 0.1  # intents offered as "did you mean" must have at least this probability
INTENTS = set(answers.TITLES) | {"greet", "goodbye", "thanks", "affirm", "deny", "out_of_scope"}
#: while staff have the conversation the bot still answers these — when it is sure
SURE_WHILE_WITH_STAFF = ("ticket_status", "office_hours", "office_contact", "health_station")
SURE = 0.9  # "sure": the NLU's confidence ("giờ làm sao" reads 0.8 office_hours), a rule, a code
#: never offered as a guess in a "did you mean" menu: erasing is asked for in so many words
NEVER_GUESSED = {"delete_my_data"}
NOTE_TTL_S = 24 * 3600  # after a reopening, the next message within a day is for the ticket
PHOTO_AFTER_FILING_S = 30 * 60  # a photo alone this soon after filing belongs to that ticket


@dataclass(frozen=True)
class NoticeSummary:
    """A notice the commune has sent and that still holds, as the chat shows it."""

    headline: str
    sent_at: datetime
    village_ids: tuple[int, ...] = ()


@dataclass
class TurnResult:
    parse: Parse
    replies: list[Reply]
    state: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None  # which NLU backend read the text (None: a choice, no NLU)
    #: what the caller must do: record a topic or language choice, file a ticket (``ticket``),
    #: look one up (``ticket_status``), rate or reopen one, hand the conversation to staff
    #: (``handoff``); the caller adds the replies these need (a ticket code, a state)
    effects: list[Effect] = field(default_factory=list)
    #: the emergency triage's reading of the message, when it read one
    triage: triage.Assessment | None = None
    #: replies that come after the effects' own: a report form's question asked again after
    #: the bot answered something else the resident asked meanwhile
    then: list[Reply] = field(default_factory=list)

    @property
    def reply_text(self) -> str:
        return "\n\n".join(t for t in map(text_of, self.replies) if t)


def text_of(reply: Reply) -> str:
    """A reply as plain text: what the conversation log keeps and `bot ask` prints."""
    if isinstance(reply, Choices):
        return reply.numbered()
    return getattr(reply, "text", "") or getattr(reply, "caption", "") or ""


def _menu() -> tuple[Choice, ...]:
    return (
        Choice(_("Giờ làm việc"), "/office_hours"),
        Choice(_("Địa chỉ, điện thoại"), "/office_contact"),
        Choice(_("Gặp cán bộ"), "/talk_to_staff"),
    )


def _from_choice(text: str, state: dict[str, Any]) -> str | None:
    """A tapped button arrives as its payload; a typed number picks from the last menu."""
    stripped = text.strip()
    if stripped.startswith("/") and stripped[1:] in INTENTS:
        return stripped[1:]
    pending = state.get("choices") or []
    if stripped.isdigit() and 1 <= int(stripped) <= len(pending):
        picked = pending[int(stripped) - 1].lstrip("/")
        return picked if picked in INTENTS else None  # a stale menu's other kind of choice
    return None


def village_names(commune: Commune) -> list[str]:
    return [v.name for v in commune.villages]


def needs_nlu(text: str | None, state: dict[str, Any] | None) -> bool:
    """Whether ``respond`` will ask an NLU backend about this text (a tapped choice or a
    number picked from the last menu needs none) — so a caller can parse it ahead, async."""
    return bool(text and text.strip()) and _from_choice(text or "", state or {}) is None


def answer(
    commune: Commune,
    intent: str,
    parse: Parse,
    now: datetime | None = None,
    notices: Sequence[NoticeSummary] = (),
    channel: str = "zalo",
    topics: Sequence[tuple[str, bool]] = (),
) -> list[Reply]:
    """What the bot says for an understood intent, from the commune's own facts (worded for
    the ``channel`` the resident is on). ``topics``: for (un)subscribing, each topic the
    resident named with their choice."""
    if intent == "office_hours":
        return [Text(answers.office_hours(commune, now))]
    if intent == "office_contact":
        return [Text(answers.office_contact(commune))]
    if intent == "set_village":  # named without a village (a menu tap): which one?
        return village_chat.said(commune, "")[0]
    if intent == "health_station":
        return [Text(answers.health_station(commune))]
    if intent in ("subscribe", "unsubscribe") and topics:
        return [
            Text(
                " ".join(
                    answers.render(
                        f"{'subscribe' if on else 'unsubscribe'}_topic",
                        commune,
                        topic=topic,
                        channel=channel,
                    )[0]
                    for topic, on in topics
                )
            )
        ]
    if intent == "latest_notices" and notices:
        header, _menu_ = answers.render("latest_notices_list", commune)
        lines = [f"• {to_vn(n.sent_at):%d/%m}: {n.headline}" for n in notices[:5]]
        return [Text("\n".join([header, *lines]))]
    topic, language = _entity(parse, "topic"), _entity(parse, "language")
    situation, said_in = intent, i18n.current_language()
    if intent in ("subscribe", "unsubscribe") and topic:
        situation = f"{intent}_topic"
    elif intent == "change_language" and language:
        situation = (
            "language_vi"
            if language == "vi"
            else "language_replies"
            if language in i18n.available()
            else "language_set"
            if _offered(commune, language)
            else "language_not_offered"
        )
        if _offered(commune, language):  # said in the language chosen
            said_in = language
    with use_language(said_in):
        text, menu = answers.render(
            situation,
            commune,
            village=_entity(parse, "village"),
            topic=topic,
            language=language,
            channel=channel,
        )
        return [Choices(text, _menu())] if menu else [Text(text)]


def _entity(parse: Parse, name: str) -> str | None:
    return next((e["value"] for e in parse.entities if e["entity"] == name), None)


def effects_of(
    commune: Commune, intent: str, parse: Parse, topics: Sequence[tuple[str, bool]] = ()
) -> list[Effect]:
    """What the caller records: a topic (un)subscribed (``*``: everything; several when the
    resident named several, each with its own choice), a language chosen (one the commune
    publishes in)."""
    if intent in ("subscribe", "unsubscribe") and topics:
        return [Topic(topic, on) for topic, on in topics]
    if intent in ("subscribe", "unsubscribe"):
        return [Topic(_entity(parse, "topic") or "*", intent == "subscribe")]
    language = _entity(parse, "language")
    if intent == "change_language" and language and _offered(commune, language):
        return [SetLanguage(language)]
    return []


def _offered(commune: Commune, language: str) -> bool:
    """Whether a resident may choose ``language``: the commune publishes notices in it, or the
    bot answers in it (a catalog in bot/locales/)."""
    return language in commune.languages or language in i18n.available()


@dataclass(frozen=True)
class TurnInput:
    """One resident message and what the turn may know around it (all read, nothing written).

    ``understood``: the backend's reading of ``text`` when the caller parsed it ahead (the
    Rasa backend is reached asynchronously); without it the embedded engine reads the text.
    ``notices``: the commune's current notices for this resident, newest first.
    ``pending_rating``: the code of the resident's answered ticket that awaits a rating, given
    only when this is the resident's first message since the answer (so a typed "3" is a
    rating then, and a menu choice ever after).
    ``resident_village``: where the resident lives, if known (a report's default village).
    ``handoff_after``: misunderstood messages in a row before the conversation goes to staff.
    ``channel``: where the resident writes (``zalo``, ``webchat``): answers name that page.
    Said in ``language`` (the current language while the turn runs, bot/i18n.py)."""

    commune: Commune
    text: str | None
    language: str = "vi"
    state: ConversationState | dict[str, Any] | None = None
    attachments: list[dict[str, Any]] | None = None
    now: datetime | None = None
    understood: Understanding | None = None
    notices: Sequence[NoticeSummary] = ()
    pending_rating: str | None = None
    resident_village: str | None = None
    handoff_after: int = 2
    channel: str = "zalo"


def turn(given: TurnInput) -> TurnResult:
    """What the bot says to one message, and the effects the caller carries out. No I/O."""
    with use_language(given.language):
        return _turn(given)


@in_language_argument
def respond(
    commune: Commune,
    text: str | None,
    *,
    language: str = "vi",
    state: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    now: datetime | None = None,
    understood: Understanding | None = None,
    notices: Sequence[NoticeSummary] = (),
    pending_rating: str | None = None,
    resident_village: str | None = None,
    handoff_after: int = 2,
    channel: str = "zalo",
) -> TurnResult:
    """``turn`` with keyword arguments (``bot ask``, tests); its effects in their dict form
    (``{"kind": …}``, ``types.Effect.as_dict``)."""
    result = turn(
        TurnInput(
            commune,
            text,
            language,
            state,
            attachments,
            now,
            understood,
            notices,
            pending_rating,
            resident_village,
            handoff_after,
            channel,
        )
    )
    result.effects = [e.as_dict() for e in result.effects]  # type: ignore[misc]
    return result


def _turn(given: TurnInput) -> TurnResult:
    commune, text, attachments = given.commune, given.text, given.attachments
    now, understood, notices = given.now, given.understood, given.notices
    pending_rating, resident_village = given.pending_rating, given.resident_village
    handoff_after, channel = given.handoff_after, given.channel
    state: dict[str, Any] = dict(given.state or {})
    now_s = (now or utcnow()).timestamp()
    erase = erasure.answer(state, text, now_s)  # "xóa thông tin của tôi" asked just before
    if erase is not None:
        state.pop("choices", None)
        if erase:  # the caller erases, then says so
            return TurnResult(Parse("delete_my_data_confirmed", 1.0), [], state, None, [Erase()])
        return TurnResult(Parse("delete_my_data_kept", 1.0), [erasure.kept()], state)
    reread = False  # the words of a message already triaged, read again as a normal message
    if (asked := state.pop("triage", None)) is not None:  # "is it happening now?"
        said = triage.answer_of(text) if now_s - asked["at"] <= triage.QUESTION_TTL_S else None
        if said is not None:
            state.pop("choices", None)
        if said:
            found = triage.Assessment("emergency", asked["p"], asked["kind"])
            return _emergency(commune, asked["text"], found, state, resident_village, None, now_s)
        if said is False:  # not urgent: the first words carry on as a report or a question
            text, attachments, understood, reread = asked["text"], None, None, True
    suggested = state.pop("village_suggested", None)  # asked "ở thôn X phải không?" just now
    tapped = village_chat.picked(text, state, typed_number=False)
    if tapped is not None:  # a village choice, whenever it was offered: a form stays open
        return _village_turn(commune, tapped, state)
    form = state.get("report")
    rated = report_form.rating_reply(text, None if form else pending_rating)
    if rated is not None:
        state.pop("choices", None)
        return TurnResult(Parse(rated["kind"], 1.0), [], state, None, [effect_of(rated)])
    late = _photo_for_filed(state, text, attachments, now_s)
    if late is not None:  # a photo or a pin just after filing: for that ticket; a question
        return TurnResult(
            Parse("ticket_note", 1.0), [], state, None, [effect_of(late)]
        )  # stays asked
    if state.get("consent_for"):  # asked right after an emergency was filed
        consent = report_form.consent_reply(text, state.pop("consent_for"))
        state.pop("choices", None)
        # "bà tôi không đi được, nhanh lên" is more news of the danger, not a "không"
        if consent is not None and not triage.assess(text).emergency:
            return TurnResult(Parse("report_consent", 1.0), [], state, None, [effect_of(consent)])
    if state.get("phone_for"):  # asked after a web chat report was filed with consent
        phone = report_form.phone_reply(text, state["phone_for"])
        if phone is None or not phone.get("invalid"):
            state.pop("phone_for")  # answered, skipped, or the resident moved on
            state.pop("choices", None)
        if phone is not None:
            return TurnResult(Parse("report_phone", 1.0), [], state, None, [effect_of(phone)])
    note = _note_for_reopened(state.pop("note_for", None), text, attachments, now_s)
    if note is not None:  # the ticket just reopened: this message tells how things are
        state.pop("choices", None)
        return TurnResult(Parse("ticket_note", 1.0), [], state, None, [effect_of(note)])
    if form is not None:
        if _words_to_read(text):  # read once: for "gặp cán bộ" here, the village in the step
            understood = understood or understand_embedded(text or "", commune.villages)
        if report_form.expired(form, now_s) or _asks_for_staff(text, understood):
            state.pop("report", None)  # left behind, or "cho tôi gặp cán bộ": not an answer
            state.pop("choices", None)
        else:
            found = None if reread or not _words_to_read(text) else triage.assess(text)
            if found is not None and found.level != "routine":  # a danger told mid-form
                return _triaged(commune, text, found, state, resident_village, understood, now_s)
            result = _report_step(commune, text, attachments, state, understood, now_s)
            result.triage = found
            if not _asks_else(text, understood) or not (
                form.get("asking") in _TAKES_ANY_TEXT or _stuck(form, result)
            ):
                return result
            # not an answer to the form's question, but something else the resident asks:
            # answered as usual, then the form's question again (the form stays open)
            aside = _turn(
                replace(
                    given,
                    text=text,
                    state={k: v for k, v in state.items() if k not in ("report", "choices")},
                    attachments=None,
                    understood=understood,
                    pending_rating=None,
                )
            )
            if aside.parse.intent in _LEAVES_FORM or any(
                isinstance(e, HandOff) for e in aside.effects
            ):
                return aside  # erasure asked, or staff take over: the form is left behind
            waiting, again = report_form.ask_again(commune, {**form, "at": now_s})
            aside.state["report"] = waiting  # an aside is not an answer, nor a try
            aside.state["choices"] = [
                c.payload for r in again if isinstance(r, Choices) for c in r.options
            ]
            aside.then = [
                Text(_("Về phản ánh anh/chị đang gửi dở (nhắn HỦY nếu muốn dừng):")),
                *again,
            ]
            return aside
    if not text or not text.strip():
        if attachments:
            kinds = {a.get("type") for a in attachments}
            what = (
                _("vị trí")
                if kinds == {"location"}
                else _("ảnh")
                if kinds <= {"image", "gif"}
                else _("tệp")
            )
            return TurnResult(
                Parse("attachment", 1.0),
                [
                    Text(
                        _(
                            "Cảm ơn anh/chị đã gửi {what}. Anh/chị vui lòng nhắn thêm "
                            "vài chữ cho biết cần xã hỗ trợ việc gì ạ."
                        ).format(what=what)
                    )
                ],
                state,
            )
        return TurnResult(Parse("nlu_fallback", 0.0), [], state)

    typed = village_chat.picked(text, state)
    if typed is not None:  # the number of a village choice
        return _village_turn(commune, typed, state)
    chosen = _from_choice(text, state)
    found = None if chosen or reread else triage.assess(text)  # the whole message decides
    if found is not None and found.level != "routine":
        return _triaged(commune, text, found, state, resident_village, understood, now_s)
    if chosen:
        parse, ranked, understood = Parse(chosen, 1.0), [], None
    else:
        understood = understood or understand_embedded(text, commune.villages)
        parse, ranked = understood.parse, understood.ranked
    state.pop("choices", None)
    intent = parse.intent if parse.confidence >= CONFIDENCE_THRESHOLD else "nlu_fallback"
    if intent == "set_village":
        other = _besides_village(commune, text)
        if other is not None:  # "tôi ở thôn X, đường bị hỏng": the road is the matter
            intent, ranked = other.parse.intent, other.ranked
            parse = Parse(intent, other.parse.confidence, parse.entities)
    if (
        intent == "nlu_fallback"
        and ranked
        and ranked[0].intent == "report_issue"
        and guess_category(text)
    ):
        intent = "report_issue"  # unsure, but the words name a matter to report: take it
    rule = None
    if not chosen:  # what the words make certain (bot/conversation/rules.py)
        intent, rule = rules.decide(intent, text)
    code = _entity(parse, "ticket_code")
    if code and intent != "report_issue":
        intent = "ticket_status"  # a code alone, or with "sao rồi", asks how it goes
    extra: list[Effect] = []
    topics: list[tuple[str, bool]] = []  # (un)subscribing: each topic named, with its choice
    if intent == "nlu_fallback":
        misses = int(state.get("misses", 0)) + 1
        state["misses"] = misses
        if misses >= handoff_after:  # the bot failed again: a person takes over
            replies: list[Reply] = []
            extra = [HandOff("misunderstood")]
            state["misses"] = 0
        else:
            options = [
                Choice(_(answers.TITLES[r.intent]), "/" + r.intent)
                for r in ranked
                if r.intent in answers.TITLES
                and r.intent not in NEVER_GUESSED
                and r.confidence >= CLARIFY_FLOOR
            ][:3]
            if options:
                if all(o.payload != "/talk_to_staff" for o in options):
                    options.append(Choice(_("Gặp cán bộ"), "/talk_to_staff"))
                replies = [
                    Choices(
                        _("Xin lỗi, tôi chưa chắc đã hiểu. Có phải anh/chị muốn hỏi:"),
                        tuple(options),
                    )
                ]
            else:
                replies = [
                    Choices(
                        _(
                            "Xin lỗi, tôi chưa hiểu câu hỏi của anh/chị. Anh/chị có "
                            "thể chọn một mục dưới đây hoặc hỏi cán bộ xã:"
                        ),
                        _menu(),
                    )
                ]
    elif intent == "report_issue":
        state["misses"] = 0
        form, replies = report_form.start(
            commune,
            text,
            parse.entities,
            resident_village,
            now_s,
            category="utilities" if rule == "outage_now" else None,
        )
        if form.get("asking") is None:  # an emergency told in full: filed at once
            extra = [FileTicket(**report_form.report_of(form))]
        else:
            state["report"] = form
    elif intent == "ticket_status":
        state["misses"] = 0
        replies, extra = [], [TicketStatus(code)]
    elif intent == "talk_to_staff":
        state["misses"] = 0
        replies, extra = [], [HandOff("asked")]
    elif suggested and intent in ("affirm", "deny"):  # "có" / "không" to the suggestion
        state["misses"] = 0
        replies, village_effects = village_chat.chosen(
            commune, suggested if intent == "affirm" else village_chat.ASK
        )
        extra = [effect_of(e) for e in village_effects]
    elif intent == "set_village":
        state["misses"] = 0
        replies, village_effects = village_chat.said(commune, text)
        extra = [effect_of(e) for e in village_effects]
    else:
        state["misses"] = 0
        topics = (
            rules.topic_choices(text, intent, _topics_in)
            if intent in ("subscribe", "unsubscribe") and not chosen
            else []
        )
        replies = answer(commune, intent, parse, now, notices, channel, topics)
        if intent == "delete_my_data":  # asked first: only a yes erases
            replies = [erasure.question()]
            erasure.ask(state, now_s)
        if intent == "unsubscribe" and rules.mentions_erasure(text):  # "xóa số tôi đi, …"
            replies = [
                Text(
                    "\n".join(
                        [
                            *map(text_of, replies),
                            _(
                                "Thông tin của anh/chị vẫn được giữ để xã liên hệ khi cần. Muốn xóa thông tin, "
                                'anh/chị nhắn: "xóa thông tin của tôi".'
                            ),
                        ]
                    )
                )
            ]
        if not chosen and rules.bereaved(text):
            replies = _with_condolence(replies)
    for reply in replies:
        if isinstance(reply, Choices):
            state["choices"] = [c.payload for c in reply.options]
    state["last_intent"] = intent
    return TurnResult(
        Parse(intent, parse.confidence, parse.entities),
        replies,
        state,
        understood.backend if understood else None,
        effects_of(commune, intent, parse, topics) + extra,
        found,
    )


def _triaged(
    commune: Commune,
    text: str,
    found: triage.Assessment,
    state: dict[str, Any],
    resident_village: str | None,
    understood: Understanding | None,
    now_s: float,
) -> TurnResult:
    """A message the triage did not find routine: a sure emergency is filed at once; an
    unsure one gets one short question (Có/Không), its words kept for the answer."""
    if found.emergency:
        return _emergency(commune, text, found, state, resident_village, understood, now_s)
    question = triage.question()
    state["triage"] = {"text": text, "kind": found.kind, "p": found.probability, "at": now_s}
    state["choices"] = [c.payload for c in question.options]
    return TurnResult(
        Parse("emergency_check", found.probability), [question], state, None, [], found
    )


def _emergency(
    commune: Commune,
    text: str,
    found: triage.Assessment,
    state: dict[str, Any],
    resident_village: str | None,
    understood: Understanding | None,
    now_s: float,
) -> TurnResult:
    """File an emergency now (the leaders are alerted) and tell the resident the number to
    call and what to do first; the caller adds the code. Another alarm in the same category
    just after one was filed is added to that ticket instead of filing a second one."""
    assert found.kind is not None
    form = state.pop("report", None) or {}
    state.pop("choices", None)
    state["misses"] = 0
    advice = [triage.advice(found.kind, commune)]
    filed = state.get("emergency") or {}
    if (
        filed.get("category") == found.category
        and now_s - float(filed.get("at") or 0) <= triage.FOLLOW_UP_S
    ):
        return TurnResult(
            Parse("report_emergency", found.probability),
            advice,
            state,
            None,
            [TicketNote(filed["code"], text, "emergency")],
            found,
        )
    understood = understood or understand_embedded(text, village_names(commune))
    new, _questions = report_form.start(
        commune,
        text,
        understood.parse.entities,
        form.get("village") or resident_village,
        now_s,
        category=found.category,
        emergency=True,
    )
    if form.get("description") and form["description"] != text:  # told earlier in the form
        new["description"] = f"{form['description']}\n{text}"
    effect = FileTicket(**report_form.report_of(new), emergency_kind=found.kind)
    return TurnResult(
        Parse("report_emergency", found.probability),
        advice,
        state,
        understood.backend,
        [effect],
        found,
    )


#: what a message may say besides where the resident lives without being the matter itself
_ASIDES = {"set_village", "greet", "thanks", "goodbye", "affirm", "deny", "out_of_scope"}


def _besides_village(commune: Commune, text: str) -> Understanding | None:
    """What a message read as "where I live" asks besides the village it names — a question
    or a report that only begins with the village — or None when the village is all of it."""
    rest = village_chat.without_villages(commune, text)
    if rest is None:
        return None
    other = understand_embedded(rest, commune.villages)
    if other.parse.intent not in _ASIDES and other.parse.confidence >= CONFIDENCE_THRESHOLD:
        return other
    if guess_category(rest):  # unsure, but the words name a matter to report
        return Understanding(
            Parse("report_issue", other.parse.confidence), other.ranked, other.backend
        )
    return None


def _village_turn(commune: Commune, choice: str, state: dict[str, Any]) -> TurnResult:
    """A village choice tapped or picked by number (``/village <name>``)."""
    state.pop("choices", None)
    replies, said = village_chat.chosen(commune, choice)
    for reply in replies:
        if isinstance(reply, Choices):
            state["choices"] = [c.payload for c in reply.options]
    state["misses"] = 0
    state["last_intent"] = "set_village"
    return TurnResult(Parse("set_village", 1.0), replies, state, None, list(map(effect_of, said)))


def _topics_in(text: str) -> list[str]:
    """The notice topics a piece of text names (the NLU's own entity extractor)."""
    from bot.nlu.embedded import default_engine

    return [e["value"] for e in default_engine().entities(text, ()) if e["entity"] == "topic"]


def _with_condolence(replies: list[Reply]) -> list[Reply]:
    """A bereaved resident reads a condolence first, and no menu of unrelated choices."""
    condolence = _("Xin chia buồn cùng gia đình anh/chị.")
    texts = [r.text if isinstance(r, Choices) else text_of(r) for r in replies]
    return [Text(" ".join([condolence, *texts[:1]])), *map(Text, texts[1:])]


def _note_for_reopened(
    note_for: dict[str, Any] | None,
    text: str | None,
    attachments: list[dict[str, Any]] | None,
    now_s: float,
) -> dict[str, Any] | None:
    """The resident's message right after reopening a ticket, as a note on it — unless it is a
    tapped choice (answered as usual) or came more than a day later (a new matter)."""
    said = (text or "").strip()
    if not note_for or now_s - float(note_for.get("at") or 0) > NOTE_TTL_S:
        return None
    if said.startswith("/") or not (said or attachments):
        return None
    return {
        "kind": "ticket_note",
        "code": note_for["code"],
        "text": said,
        "attachments": list(attachments or []),
        "why": "reopened",
    }


def _photo_for_filed(
    state: dict[str, Any], text: str | None, attachments: list[dict[str, Any]] | None, now_s: float
) -> dict[str, Any] | None:
    """A photo or a map pin alone, sent soon after a ticket was filed (while the consent or
    phone question may still wait): added to that ticket, not read as a new matter."""
    filed = state.get("filed") or {}
    if (
        not attachments
        or (text or "").strip()
        or state.get("report")
        or not filed
        or now_s - float(filed.get("at") or 0) > PHOTO_AFTER_FILING_S
    ):
        return None
    return {
        "kind": "ticket_note",
        "code": filed["code"],
        "text": "",
        "attachments": list(attachments),
        "why": "attachment",
    }


@in_language_argument
def while_with_staff(
    commune: Commune,
    text: str | None,
    *,
    language: str = "vi",
    understood: Understanding | None = None,
    now: datetime | None = None,
    channel: str = "zalo",
) -> TurnResult | None:
    """While staff have the conversation: the bot's answer when it is sure of one it may give
    (a ticket's status, office hours, the contact card, the health station), else None — the
    message waits for staff. (Emergencies are the caller's, before this.)"""
    if not _words_to_read(text):
        return None
    understood = understood or understand_embedded(text or "", village_names(commune))
    parse = understood.parse
    intent, rule = rules.decide(
        parse.intent if parse.confidence >= CONFIDENCE_THRESHOLD else "nlu_fallback", text
    )
    code = _entity(parse, "ticket_code")
    if code:
        intent = "ticket_status"
    sure = bool(code) or rule is not None or parse.confidence >= SURE
    if intent not in SURE_WHILE_WITH_STAFF or not sure:
        return None
    reading = Parse(intent, parse.confidence, parse.entities)
    if intent == "ticket_status":
        return TurnResult(reading, [], {}, understood.backend, [TicketStatus(code)])
    return TurnResult(
        reading, answer(commune, intent, parse, now, channel=channel), {}, understood.backend
    )


#: asides after which the report form is not taken up again
_LEAVES_FORM = {"delete_my_data", "talk_to_staff"}
#: what a message may be read as while it still answers the report form's question
_FORM_TALK = {
    "report_issue",
    "nlu_fallback",
    "affirm",
    "deny",
    "thanks",
    "greet",
    "out_of_scope",
    "set_village",
    "goodbye",
}


#: form questions whose answer may be any text (a photo's "no, but…" adds to the description)
_TAKES_ANY_TEXT = {"media"}


def _stuck(form: dict[str, Any], result: TurnResult) -> bool:
    """Whether a message left the report form where it was: its question still unanswered."""
    after = result.state.get("report")
    return after is not None and after.get("asking") == form.get("asking") and not result.effects


def _asks_else(text: str | None, understood: Understanding | None) -> bool:
    """Whether typed words clearly ask something besides the report (the hours, a ticket's
    status, erasure, a person…)."""
    if not _words_to_read(text) or understood is None:
        return False
    intent, _r = (
        rules.decide(understood.parse.intent, text or "")
        if understood.parse.confidence >= CONFIDENCE_THRESHOLD
        else ("nlu_fallback", None)
    )
    return intent not in _FORM_TALK


@in_language_argument
def erasure_while_with_staff(
    state: Mapping[str, Any] | None,
    text: str | None,
    *,
    language: str = "vi",
    understood: Understanding | None = None,
    now: datetime | None = None,
) -> tuple[TurnResult | None, dict[str, Any]]:
    """While staff have the conversation (a handoff, or staff writing from Zalo's OA Manager)
    a request to erase is still the bot's: the question when the words surely ask for it, the
    erasure on a yes to it. (None, state): the message is staff's. The state comes back either
    way: any message after the question takes it away."""
    state = dict(state or {})
    now_s = (now or utcnow()).timestamp()
    said = erasure.answer(state, text, now_s)
    if said is not None:
        state.pop("choices", None)
        if said:
            return TurnResult(
                Parse("delete_my_data_confirmed", 1.0), [], state, None, [Erase()]
            ), state
        return TurnResult(Parse("delete_my_data_kept", 1.0), [erasure.kept()], state), state
    if not _words_to_read(text):
        return None, state
    understood = understood or understand_embedded(text or "", ())
    intent, _rule = rules.decide(understood.parse.intent, text)
    if intent != "delete_my_data" or understood.parse.confidence < SURE:
        return None, state
    question = erasure.question()
    erasure.ask(state, now_s)
    state["choices"] = [c.payload for c in question.options]
    return TurnResult(
        Parse(intent, understood.parse.confidence), [question], state, understood.backend
    ), state


def _words_to_read(text: str | None) -> bool:
    """Typed words, not a tapped payload or a number picked from a menu."""
    said = (text or "").strip()
    return bool(said) and not said.startswith("/") and not said.isdigit()


def _asks_for_staff(text: str | None, understood: Understanding | None) -> bool:
    """Words that leave a report form: "cho tôi gặp cán bộ", "xóa thông tin của tôi"."""
    if not _words_to_read(text) or understood is None:
        return False
    return (
        understood.parse.intent in ("talk_to_staff", "delete_my_data")
        and understood.parse.confidence >= 0.8
    )


def _report_step(
    commune: Commune,
    text: str | None,
    attachments: list[dict[str, Any]] | None,
    state: dict[str, Any],
    understood: Understanding | None,
    now_s: float,
) -> TurnResult:
    """The resident is filling in a report: their message answers the form's question."""
    entities: list[dict[str, Any]] = []
    if text and text.strip() and not text.strip().startswith("/"):
        understood = understood or understand_embedded(text, commune.villages)
        entities = understood.parse.entities
    form, replies, report = report_form.step(
        commune,
        dict(state["report"]),
        text,
        attachments,
        entities,
        list(state.pop("choices", None) or []),
        now_s,
    )
    state.pop("report", None)
    effects: list[Effect] = []
    if form is not None:
        state["report"] = form
    if report is not None:
        effects = [FileTicket(**report)]
    for reply in replies:
        if isinstance(reply, Choices):
            state["choices"] = [c.payload for c in reply.options]
    intent = (
        "report_issue"
        if report is None and form is not None
        else ("report_filed" if report is not None else "report_cancelled")
    )
    return TurnResult(Parse(intent, 1.0), replies, state, None, effects)


@in_language_argument
def welcome(
    commune: Commune, language: str = "vi", channel: str = "zalo", ask_village: bool = False
) -> list[Reply]:
    """What a resident sees after following the OA or tapping "Nhắn tin" — or opening the web
    chat page, which is not Zalo and says so. With ``ask_village``, one short question more:
    which village they live in (the caller asks each resident once)."""
    if channel == "webchat":
        return [
            Choices(
                _(
                    "Xin chào anh/chị! Đây là trang hỏi đáp trực tuyến của {name}. "
                    "Anh/chị có thể hỏi giờ làm việc, địa chỉ, số điện thoại của xã, gửi "
                    "phản ánh, hoặc chọn:"
                ).format(name=commune.name),
                _menu(),
            )
        ]
    ask: list[Reply] = (
        [village_chat.question(commune, "welcome")] if ask_village and commune.villages else []
    )
    return [
        Choices(
            _(
                "Cảm ơn anh/chị đã quan tâm trang Zalo của {name}. Anh/chị có thể hỏi "
                "giờ làm việc, địa chỉ, số điện thoại của xã, hoặc chọn:"
            ).format(name=commune.name),
            _menu(),
        )
    ] + ask
