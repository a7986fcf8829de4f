"""The commune's own knowledge (bot/knowledge/, docs/knowledge.md): a resident's question that
matches one of the commune's entries gets the commune's answer; two close entries are offered
as quick replies (a tap, or the number typed, picks one); otherwise the intents answer. Asked
after the pending questions, the report form and the triage, before the intents' own steps —
``bot.knowledge.decide`` keeps sure intents that need the commune's data or start a workflow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.conversation import follow
from bot.conversation.steps.reading import reading
from bot.conversation.turn import Turn, words_to_read
from bot.envelope import Choice, Choices, Reply, Text
from bot.handlers.base import Handler
from bot.handlers.context import Context, Outcome
from bot.i18n import _, use_language
from bot.knowledge.decide import decide, live_data
from bot.knowledge.retrieval import Entry, index_of
from bot.text import number
from bot.timeutil import to_vn

PAYLOAD = "/kb:"  # a tapped entry: /kb:<entry id>


class Knowledge(Handler):
    """A question the commune answers in its own words."""

    name = "knowledge"

    def __init__(self, handoff_after: int = 2) -> None:
        self.handoff_after = handoff_after

    async def handle(self, ctx: Context) -> Outcome | None:
        t = ctx.turn(self.handoff_after)
        text = (t.text or "").strip()
        picked = _picked(text, t.state.get("choices") or [])
        if picked is None and not words_to_read(text):
            return None
        index = await index_of(ctx.s, ctx.commune_id, ctx.commune.province_code)
        if not index.entries:
            return None
        today = to_vn(datetime.fromtimestamp(t.now_s, UTC)).date()
        if picked is not None:
            entry = index.entry(picked)
            if entry is None or not entry.valid_on(today):
                return None  # gone or expired since it was offered: the intents answer
            return _answer(t, ctx, entry, 1.0)
        scored = index.lookup(text, day=today)  # entries outside their dates left out first
        r = reading(t)
        if r.rule == "a_death":  # a bereaved resident: the condolence and the procedure
            return None
        live = live_data(r.intent, ctx.commune)
        decision = decide(
            scored,
            r.intent,
            r.intent != "nlu_fallback",
            r.code,
            r.parse.confidence,
            live,
            text,
            ruled=r.rule is not None,
        )
        if decision.kind == "answer":
            entry = decision.entries[0]
            if t.follow is not None and not follow.fits(
                t.follow, ctx.commune, entry.question, entry.id
            ):
                return None  # about another aspect or village than asked: the intents answer
            return _answer(t, ctx, entry, scored[0][1])
        if decision.kind == "offer":
            with use_language(ctx.language):
                question = _("Anh/chị muốn hỏi điều nào dưới đây?")
            options = tuple(Choice(e.question, f"{PAYLOAD}{e.id}") for e in decision.entries)
            return _said(t.state, [Choices(question, options)], scored[0][1])
        return None


def _picked(text: str, menu: list[str]) -> int | None:
    """The entry tapped (``/kb:<id>``) or picked by its number from the entries offered last."""
    at = number(text, 3)
    if at is not None and 1 <= at <= len(menu):
        text = menu[at - 1]
    return number(text[len(PAYLOAD) :]) if text.startswith(PAYLOAD) else None


def _answer(t: Turn, ctx: Context, entry: Entry, score: float) -> Outcome:
    """An entry's answer; its topic kept for follow-ups (bot/conversation/follow.py)."""
    kept = follow.of_entry(ctx.commune, entry.id, entry.question, t.now_s, t.follow)
    follow.remember(t.state, "knowledge", kept)
    return _said(t.state, [Text(entry.answer)], score)


def _said(state: dict[str, Any], replies: list[Reply], score: float) -> Outcome:
    state["misses"] = 0
    state["last_intent"] = "knowledge"
    state.pop("choices", None)
    for reply in replies:
        if isinstance(reply, Choices):
            state["choices"] = [c.payload for c in reply.options]
    return Outcome(replies, state=state, intent="knowledge", confidence=round(score, 3))
