"""The steps that answer from what the message says (steps/reading.py): a message without
words, one not understood (a "did you mean" menu, or staff after ``handoff_after`` misses in a
row), a ticket's status, a person asked for, topics (un)subscribed, and every other intent's
answer from the commune's own facts (``answer``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot import i18n, procedures
from bot.config import Commune
from bot.conversation import answers, erasure, facts, follow, rules
from bot.conversation import village as village_chat
from bot.conversation.steps.reading import answered, offered, reading
from bot.conversation.turn import NoticeSummary, Turn, TurnResult, entity, text_of
from bot.conversation.types import HandOff, TicketStatus
from bot.envelope import Choice, Choices, Parse, Reply, Text
from bot.i18n import _, use_language
from bot.timeutil import to_vn

CLARIFY_FLOOR = 0.1  # intents offered as "did you mean" must have at least this probability
#: never offered as a guess in a "did you mean" menu: erasing is asked for in so many words
NEVER_GUESSED = {"delete_my_data"}


def menu() -> tuple[Choice, ...]:
    return (
        Choice(_("Giờ làm việc"), "/office_hours"),
        Choice(_("Địa chỉ, điện thoại"), "/office_contact"),
        Choice(_("Gặp cán bộ"), "/talk_to_staff"),
    )


def no_words(t: Turn) -> TurnResult | None:
    """A message without words: a photo, a pin or a file alone asks for a few words."""
    if t.text and t.text.strip():
        return None
    if not t.attachments:
        return TurnResult(Parse("nlu_fallback", 0.0), [], t.state)
    kinds = {a.get("type") for a in t.attachments}
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
        t.state,
    )


def misunderstood(t: Turn) -> TurnResult | None:
    """Not understood: the likeliest intents offered, or after ``handoff_after`` misses in a
    row a person takes over."""
    r = reading(t)
    if r.intent != "nlu_fallback":
        return None
    misses = int(t.state.get("misses", 0)) + 1
    if misses >= t.given.handoff_after:  # the bot failed again: a person takes over
        return answered(t, [], [HandOff("misunderstood")], misses=0)
    options = [
        Choice(_(answers.TITLES[c.intent]), "/" + c.intent)
        for c in r.ranked
        if c.intent in answers.TITLES
        and c.intent not in NEVER_GUESSED
        and c.confidence >= CLARIFY_FLOOR
    ][:3]
    if options:
        if all(o.payload != "/talk_to_staff" for o in options):
            options.append(Choice(_("Gặp cán bộ"), "/talk_to_staff"))
        question = _("Xin lỗi, tôi chưa chắc đã hiểu. Có phải anh/chị muốn hỏi:")
        return answered(t, [Choices(question, tuple(options))], misses=misses)
    sorry = _(
        "Xin lỗi, tôi chưa hiểu câu hỏi của anh/chị. Anh/chị có "
        "thể chọn một mục dưới đây hoặc hỏi cán bộ xã:"
    )
    return answered(t, [Choices(sorry, menu())], misses=misses)


def ticket_status(t: Turn) -> TurnResult | None:
    """A ticket's status asked (a code, or a follow-up on a sent report): the caller looks it
    up and answers."""
    r = reading(t)
    if r.intent != "ticket_status":
        return None
    return answered(t, [], [TicketStatus(r.code)])


def talk_to_staff(t: Turn) -> TurnResult | None:
    """A person asked for: the conversation goes to staff."""
    if reading(t).intent != "talk_to_staff":
        return None
    return answered(t, [], [HandOff("asked")])


def topics(t: Turn) -> TurnResult | None:
    """Notice topics (un)subscribed — each topic named with its own choice ("không nhận tin
    điện nữa, chỉ nhận tin thời tiết"); asking to erase the number is pointed to erasure."""
    r, text = reading(t), t.text or ""
    if r.intent not in ("subscribe", "unsubscribe"):
        return None
    chosen = t.chosen()
    named = rules.topic_choices(text, r.intent, _topics_in) if not chosen else []
    replies = _answer_of(t, named)
    if r.intent == "unsubscribe" and rules.mentions_erasure(text):  # "xóa số tôi đi, …"
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
    return answered(t, _condoled(t, replies), topics=named)


def intent_answer(t: Turn) -> TurnResult:
    """Every other intent: its answer from the commune's own facts (``answer``); erasure is
    asked first (only a yes erases); a bereaved resident reads a condolence first."""
    r = reading(t)
    replies = follow.answer_for(t.follow, t.commune, r.intent) or _answer_of(t, [])
    if r.intent == "delete_my_data":  # asked first: only a yes erases
        replies = [erasure.question()]
        erasure.ask(t.state, t.now_s)
    return answered(t, _condoled(t, replies))


def _answer_of(t: Turn, named: Sequence[tuple[str, bool]]) -> list[Reply]:
    g, r = t.given, reading(t)
    return answer(t.commune, r.intent, r.parse, g.now, g.notices, g.channel, named)


def _condoled(t: Turn, replies: list[Reply]) -> list[Reply]:
    if not t.chosen() and rules.bereaved(t.text or ""):
        return _with_condolence(replies)
    return replies


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
    if intent == "health_station":  # configured facts only, never the office's hours
        return [Text(facts.office_answer(commune, "health"))]
    keys = procedures.of_intent(intent)
    if keys and procedures.translated(keys[0]):  # data/procedures/, in the commune's voice
        return [Text(procedures.answer_many(commune, keys))]
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
    topic, language = entity(parse, "topic"), entity(parse, "language")
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
            if offered(commune, language)
            else "language_not_offered"
        )
        if offered(commune, language):  # said in the language chosen
            said_in = language
    with use_language(said_in):
        text, shown = answers.render(
            situation,
            commune,
            village=entity(parse, "village"),
            topic=topic,
            language=language,
            channel=channel,
        )
        return [Choices(text, menu())] if shown else [Text(text)]


def _topics_in(text: str) -> list[str]:
    """The notice topics a piece of text names (the NLU's own entity extractor)."""
    from bot.nlu.embedded import default_engine

    return [e["value"] for e in default_engine().entities(text, ()) if e["entity"] == "topic"]


def _with_condolence(replies: list[Reply]) -> list[Reply]:
    """A bereaved resident reads a condolence first, and no menu of unrelated choices."""
    condolence = _("Xin chia buồn cùng gia đình anh/chị.")
    texts = [r.text if isinstance(r, Choices) else text_of(r) for r in replies]
    return [Text(" ".join([condolence, *texts[:1]])), *map(Text, texts[1:])]
