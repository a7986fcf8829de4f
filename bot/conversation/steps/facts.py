"""The step that answers from the commune's facts and procedures (docs/procedures.md), after
the commune's own knowledge entries and before the intents' own steps:

1. a procedure — named in the words (``bot.procedures.detect``: "giấy xác nhận độc thân", "hộ
   kinh doanh", which have no intent of their own) over a reading in ``PROCEDURE_OVER``, or
   asked by its intent (``procedure_birth`` …) — answered from data/procedures/ in the
   commune's voice, only the aspect asked ("phí khai sinh bao nhiêu") when one is;
2. an office named ("sdt công an xã", "bộ phận một cửa ở đâu") over a reading in
   ``OFFICE_OVER`` — that office's address, phone and hours as configured;
3. ``propagandist_contact`` — the head and propagandists of the village named, or of the
   resident's own village.

A rule that decided the message (a follow-up on a report, asking to report, a power cut now,
stopping notices) keeps it; a sure report, a person asked for, a ticket keep theirs (they are
not in the sets below)."""

from __future__ import annotations

from bot import procedures
from bot.conversation import facts as commune_facts
from bot.conversation import follow
from bot.conversation.steps.intent import _condoled
from bot.conversation.steps.reading import reading
from bot.conversation.turn import Turn, TurnResult, entity, words_to_read
from bot.envelope import Parse, Reply, Text
from bot.nlu.villages import best_village, place_named

#: readings a procedure named in the words replaces (the NLU confuses the procedures with one
#: another and with the commune's own contact; marital status and household business have no
#: intent)
PROCEDURE_OVER = frozenset(
    {
        "procedure_birth",
        "procedure_death",
        "procedure_residence",
        "procedure_marriage",
        "procedure_certify",
        "procedure_land",
        "social_allowance",
        "office_contact",
        "office_hours",
        "nlu_fallback",
        "out_of_scope",
    }
)
#: readings an office named in the words replaces ("số điện thoại công an xã" is not the
#: commune office's phone)
OFFICE_OVER = frozenset(
    {"office_contact", "office_hours", "health_station", "nlu_fallback", "out_of_scope"}
)
#: rules (bot/conversation/rules.py) whose decision stands
_RULES_KEPT = frozenset({"follow_up", "asks_to_report", "outage_now", "stops_notices"})


def facts(t: Turn) -> TurnResult | None:
    r = reading(t)
    if r.rule in _RULES_KEPT or r.code:
        return None
    text = (t.text or "") if words_to_read(t.text) else ""
    #: a follow-up's own words (t.text is its rewrite in context): what they name comes first
    own = t.follow.said if t.follow is not None else ""
    keys = _procedures_asked(own, r.intent) if own and procedures.detect(own) else []
    keys = keys or _procedures_asked(text, r.intent)
    if keys:
        aspect = procedures.detect_aspect(text) if text else None
        if not procedures.translated(keys[0]) and r.intent in procedures.intents():
            return None  # the language's own (generic) answer, from the intent's step
        said = procedures.answer_many(t.commune, keys, aspect)
        logged = (
            r.intent
            if r.intent in procedures.intents() and keys[0] in (procedures.of_intent(r.intent))
            else f"procedure:{keys[0]}"
        )
        subject = procedures.procedures()[keys[0]].title if len(keys) == 1 else None
        return _said(t, _condoled(t, [Text(said)]), logged, subject=subject)
    kind = (commune_facts.office_named(own) if own else None) or (
        commune_facts.office_named(text) if text else None
    )
    if kind == "health" and t.follow is not None and t.follow.kept.get("day") is not None:
        return None  # "còn trạm y tế?" after Saturday's hours: that day's (steps/intent.py)
    if kind and r.intent in OFFICE_OVER:
        logged = r.intent if r.intent in ("office_hours", "health_station") else "office_contact"
        if kind == "health":
            logged = "health_station"
        office = None if kind == "health" else commune_facts.KIND_NAMES[kind]  # Vietnamese
        return _said(t, [Text(commune_facts.office_answer(t.commune, kind))], logged, office=office)
    if r.intent == "propagandist_contact":
        return _people(t, text, own)
    return None


def _procedures_asked(text: str, intent: str) -> list[str]:
    named = procedures.detect(text) if text else None
    if named and intent in PROCEDURE_OVER:
        return [named]
    asked = procedures.of_intent(intent)
    if named in asked:  # "đăng ký tạm trú" read as residence: the temporary one
        return [named]
    return asked


def _people(t: Turn, text: str, own: str = "") -> TurnResult | None:
    commune = t.commune
    if not commune_facts.has_people(commune):
        return None  # nothing configured: the intent's honest answer ("not yet updated")
    r = reading(t)
    named = entity(r.parse, "village") or (best_village(text, commune.villages) if text else None)
    elsewhere = place_named(text) if text and not named else None
    if elsewhere:  # "trưởng thôn Khe Lếch": not one of the commune's villages
        return _said(t, [Text(commune_facts.not_a_village(commune, elsewhere))], r.intent)
    village = named or t.given.resident_village
    words = own if own and commune_facts.people_named(own) else text
    head, propagandists = commune_facts.people_asked(words) if words else (True, True)
    said = commune_facts.people_answer(commune, village, head, propagandists)
    return _said(t, [Text(said or commune_facts.which_village(commune))], r.intent)


def _said(
    t: Turn,
    replies: list[Reply],
    intent: str,
    subject: str | None = None,
    office: str | None = None,
) -> TurnResult:
    """The finish of an answer from the facts: no miss, the intent (or ``procedure:<key>`` for
    one without its own intent) logged and remembered, and the topic kept for a follow-up
    (bot/conversation/follow.py) — a procedure's own title as its subject ("thế phí bao nhiêu"
    after "xin giấy xác nhận độc thân" asks the fee of that), an office by its name."""
    r, state = reading(t), t.state
    state["misses"] = 0
    state["last_intent"] = intent
    topic = intent if intent in follow.TOPICAL else None
    kept = follow.of_intent(
        t.commune, topic or "procedure_birth", t.text or "", r.parse.entities, t.now_s, t.follow
    )
    if kept is not None and (subject or office or topic is None):
        kept["intent"] = topic
        kept["entry"] = None
        if subject:
            kept["subject"] = subject[:1].lower() + subject[1:]
        if office:
            kept["subject"] = kept["office"] = office
    follow.remember(state, intent, kept)
    return TurnResult(
        Parse(intent, r.parse.confidence, r.parse.entities),
        replies,
        state,
        r.backend,
        [],
        t.found,
    )
