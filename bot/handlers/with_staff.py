"""While staff have the conversation — a handoff (bot/feedback/handoff.py), or staff writing
from Zalo's OA Manager (bot/echoes.py) — the bot keeps quiet but for what stays its own: a
request to erase, an emergency (filed at once, as a ``FileTicket`` effect through the feedback
intake), and during a handoff what it is sure of (a ticket's status, the hours, the contacts)."""

from __future__ import annotations

from typing import cast

from bot import echoes
from bot.conversation import engine
from bot.conversation.types import FileTicket
from bot.feedback import triage
from bot.handlers.base import Handler
from bot.handlers.context import Context, Outcome
from bot.i18n import use_language
from bot.nlu.villages import best_village


def _with_staff(ctx: Context) -> bool:
    return ctx.conversation.mode == "handoff" or echoes.paused(ctx.conversation, ctx.now)


def _paused(ctx: Context) -> bool:
    """Staff are writing from OA Manager (and no handoff is open)."""
    return echoes.paused(ctx.conversation, ctx.now) and ctx.conversation.mode != "handoff"


class ErasureWithStaff(Handler):
    """Erasing is still asked of the bot: the question, or the erasure on a yes to it."""

    name = "erasure_with_staff"

    def accepts(self, ctx: Context) -> bool:
        return _with_staff(ctx)

    async def handle(self, ctx: Context) -> Outcome | None:
        turn, state = engine.erasure_while_with_staff(
            ctx.state, ctx.text, language=ctx.language, understood=ctx.understood, now=ctx.now
        )
        ctx.conversation.state = state  # any message after the question takes it away
        if turn is None:
            return None
        return Outcome(
            turn.replies,
            turn.effects,
            intent=turn.parse.intent,
            confidence=turn.parse.confidence,
            with_attachments=False,
        )


def emergency(ctx: Context) -> Outcome | None:
    """A sure emergency told while staff have the conversation: the number and first advice
    now, and the ticket filed (the leaders alerted) — the effect's reply adds its code."""
    found = triage.assess(ctx.text)
    if not found.emergency or found.kind is None:
        return None
    village = best_village(ctx.text, ctx.commune.villages) or ctx.resident_village
    with use_language(ctx.language):
        advice = triage.advice(found.kind, ctx.commune)
    report = FileTicket(
        category=cast(str, found.category),  # a kind has a category
        description=ctx.text,
        village=village,
        media=[],
        consent=False,
        emergency=True,
        emergency_kind=found.kind,
    )
    return Outcome([advice], [report], intent="report_emergency", reply_intent="report_filed")


class StaffPaused(Handler):
    """Staff are writing from OA Manager: the message is logged for them, not answered."""

    name = "staff_paused"

    def accepts(self, ctx: Context) -> bool:
        return _paused(ctx)

    async def handle(self, ctx: Context) -> Outcome | None:
        return emergency(ctx) or Outcome(intent="staff_paused")


class WithStaff(Handler):
    """A handoff is open: staff answer; the bot only files emergencies and says what it is
    sure of (``engine.while_with_staff``)."""

    name = "with_staff"

    def accepts(self, ctx: Context) -> bool:
        return ctx.conversation.mode == "handoff"

    async def handle(self, ctx: Context) -> Outcome | None:
        if urgent := emergency(ctx):
            return urgent
        sure = engine.while_with_staff(
            ctx.commune,
            ctx.text,
            language=ctx.language,
            understood=ctx.understood,
            now=ctx.now,
            channel=ctx.channel,
        )
        if sure is None:  # waits for staff
            return Outcome()
        return Outcome(sure.replies, sure.effects, reply_intent=sure.parse.intent)
