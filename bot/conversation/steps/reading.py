"""What a message says once the pending questions, the report form and the triage have passed
it by (``reading``: the NLU, then the decision rules, read once), and how every step that
answers from that reading finishes (``answered``: the misses counted, the menu and the intent
remembered, the effects of the intent)."""

from __future__ import annotations

from collections.abc import Sequence

from bot import i18n
from bot.config import Commune
from bot.conversation import follow, rules
from bot.conversation import village as village_chat
from bot.conversation.turn import (
    CONFIDENCE_THRESHOLD,
    Reading,
    Turn,
    TurnResult,
    entity,
)
from bot.conversation.types import Effect, SetLanguage, Topic
from bot.envelope import Choices, Parse, Reply
from bot.feedback.categories import guess as guess_category
from bot.nlu.backends import Understanding, understand_embedded

#: what a message may say besides where the resident lives without being the matter itself
_ASIDES = {"set_village", "greet", "thanks", "goodbye", "affirm", "deny", "out_of_scope"}


def reading(t: Turn) -> Reading:
    """The NLU and the rules on the message, read once; the menu last shown is then gone."""
    if t.read is None:
        t.read = _read(t)
    return t.read


def _read(t: Turn) -> Reading:
    text, state, commune = t.text or "", t.state, t.commune
    chosen = t.chosen()
    understood: Understanding | None
    if chosen:
        parse, ranked, understood = Parse(chosen, 1.0), [], None
    else:
        understood = t.understood or understand_embedded(text, commune.villages)
        parse, ranked = understood.parse, understood.ranked
    state.pop("choices", None)
    intent = parse.intent if parse.confidence >= CONFIDENCE_THRESHOLD else "nlu_fallback"
    if intent == "set_village":
        other = besides_village(commune, text)
        if other is not None:  # "tôi ở thôn X, đường bị hỏng": the road is the matter
            intent, ranked = other.parse.intent, other.ranked
            parse = Parse(intent, other.parse.confidence, parse.entities)
    likeliest = max(ranked, key=lambda r: r.confidence) if ranked else None
    if (
        intent == "nlu_fallback"
        and likeliest is not None
        and likeliest.intent == "report_issue"
        and guess_category(text)
    ):
        # unsure, but a report is the likeliest reading (the engine's own choice may differ:
        # bot/nlu/embedded.py, Paired) and the words name a matter to report: take it, with
        # the report's own confidence on record
        intent = "report_issue"
        parse = Parse(intent, round(likeliest.confidence, 3), parse.entities)
    rule = None
    if not chosen:  # what the words make certain (bot/conversation/rules.py)
        intent, rule = rules.decide(intent, text)
    code = entity(parse, "ticket_code")
    if code and intent != "report_issue":
        intent = "ticket_status"  # a code alone, or with "sao rồi", asks how it goes
    return Reading(parse, ranked, intent, rule, code, understood)


def besides_village(commune: Commune, text: str) -> Understanding | None:
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


def answered(
    t: Turn,
    replies: list[Reply],
    extra: Sequence[Effect] = (),
    topics: Sequence[tuple[str, bool]] = (),
    misses: int = 0,
) -> TurnResult:
    """The one finish of every step that answers from the reading: the misunderstood messages
    in a row (``misses``: none but after a miss), the menu shown (a typed number picks from
    it), the intent remembered; the intent's own effects, then the step's (``extra``)."""
    r, state = reading(t), t.state
    state["misses"] = misses
    for reply in replies:
        if isinstance(reply, Choices):
            state["choices"] = [c.payload for c in reply.options]
    state["last_intent"] = r.intent
    follow.remember(
        state,
        r.intent,
        follow.of_intent(t.commune, r.intent, t.text or "", r.parse.entities, t.now_s, t.follow),
    )
    return TurnResult(
        Parse(r.intent, r.parse.confidence, r.parse.entities),
        replies,
        state,
        r.backend,
        effects_of(t.commune, r.intent, r.parse, topics) + list(extra),
        t.found,
    )


def effects_of(
    commune: Commune, intent: str, parse: Parse, topics: Sequence[tuple[str, bool]] = ()
) -> list[Effect]:
    """What the caller records: a topic (un)subscribed (``*``: everything; several when the
    resident named several, each with its own choice), a language chosen (one the commune
    publishes in)."""
    if intent in ("subscribe", "unsubscribe") and topics:
        return [Topic(topic, on) for topic, on in topics]
    if intent in ("subscribe", "unsubscribe"):
        return [Topic(entity(parse, "topic") or "*", intent == "subscribe")]
    language = entity(parse, "language")
    if intent == "change_language" and language and offered(commune, language):
        return [SetLanguage(language)]
    return []


def offered(commune: Commune, language: str) -> bool:
    """Whether a resident may choose ``language``: the commune publishes notices in it, or the
    bot answers in it (a catalog in bot/locales/)."""
    return language in commune.languages or language in i18n.available()
