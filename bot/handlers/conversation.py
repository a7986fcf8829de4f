"""Everything else a resident writes: the conversation engine's turn (bot/conversation/engine.py
— pending questions, the report form, a rating, the triage, villages, topics, the intents'
answers), pure; its effects are carried out by the processor."""

from __future__ import annotations

from bot.conversation import engine
from bot.handlers.base import Handler
from bot.handlers.context import Context, Outcome


class Conversation(Handler):
    name = "conversation"

    def __init__(self, handoff_after: int) -> None:
        self.handoff_after = handoff_after  # config feedback.handoff_after_misses

    async def handle(self, ctx: Context) -> Outcome | None:
        result = engine.turn(
            engine.TurnInput(
                ctx.commune,
                ctx.text,
                language=ctx.language,
                state=ctx.state,
                attachments=ctx.inbound.attachments,
                now=ctx.now,
                understood=ctx.understood,
                notices=ctx.notices,
                pending_rating=ctx.pending_rating,
                resident_village=ctx.resident_village,
                handoff_after=self.handoff_after,
                channel=ctx.channel,
            )
        )
        return Outcome(
            result.replies,
            result.effects,
            state=result.state,
            intent=result.parse.intent,
            confidence=result.parse.confidence,
            reply_confidence=result.parse.confidence,
            then=result.then,
        )
