"""The follow-up step (bot/conversation/follow.py): a short message that continues the topic
kept ("còn thứ 7 thì sao", "thế phí bao nhiêu") is rewritten into the full question in context
for the steps after it — the knowledge and the intents read that question. It never answers."""

from __future__ import annotations

from bot.conversation import follow, rules
from bot.conversation.turn import CONFIDENCE_THRESHOLD, Turn, TurnResult, entity, words_to_read
from bot.feedback import triage
from bot.nlu.backends import understand_embedded


def follow_up(t: Turn) -> TurnResult | None:
    """A follow-up on the topic kept: ``t.text`` becomes the full question (read afresh, by the
    embedded engine), ``t.follow`` what it asks; any other message passes as it came."""
    kept = follow.current(t.state, t.now_s)
    if kept is None or t.reread or t.chosen() or not words_to_read(t.text):
        return None
    asked = (t.given.state or {}).get("triage")
    if asked and t.now_s - asked["at"] <= triage.QUESTION_TTL_S:
        return None  # said to "Việc này đang xảy ra…?" ("hôm nay"): safety first, no follow-up
    text = t.text or ""
    cues = follow.candidate(text, t.commune, kept, t.now_s)
    if cues is None:  # short, with a cue that fits the topic — or read as it is
        return None
    understood = t.understood or understand_embedded(text, t.commune.villages)
    parse = understood.parse
    if entity(parse, "ticket_code"):
        return None
    intent = parse.intent if parse.confidence >= CONFIDENCE_THRESHOLD else "nlu_fallback"
    intent, rule = rules.decide(intent, text)
    found = follow.resolve(text, cues, kept, intent, parse.confidence, rule, t.now_s)
    if found is None:
        t.understood = understood  # read once: the steps after this one read the same
        return None
    t.follow, t.text, t.understood = found, found.question, None
    return None
