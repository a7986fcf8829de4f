"""What happens to an incoming event of a resident: an ordered chain of handlers (``CHAIN``,
today's precedence), each declaring the event kinds, channels and staff roles it accepts and
returning an ``Outcome`` (replies + effects) or None ("not mine"). The inbound processor builds
one ``Context`` per event, runs the chain, and writes the outcome in one place
(``InboundProcessor._write``; feedback effects through ``bot/feedback/intake.py: apply``)."""

from __future__ import annotations

from bot.handlers.base import Handler, run
from bot.handlers.context import Context, Outcome
from bot.handlers.conversation import (
    AfterFiling,
    Facts,
    FollowUp,
    IntentAnswer,
    Misunderstood,
    NoWords,
    PendingQuestion,
    Rating,
    ReportForm,
    ReportStart,
    TalkToStaff,
    TicketStatus,
    Topics,
    Triage,
    VillageChoice,
    VillageNumber,
    VillageWords,
)
from bot.handlers.knowledge import Knowledge
from bot.handlers.lifecycle import ChatNow, Follow, SubmitInfo
from bot.handlers.staff import RelayConfirmation, StaffNote
from bot.handlers.with_staff import ErasureWithStaff, StaffPaused, WithStaff

__all__ = ["Context", "Handler", "Outcome", "chain", "run"]


def chain(handoff_after: int = 2) -> list[Handler]:
    """The handlers in the order they are asked."""
    return [
        Follow(),
        ChatNow(),
        SubmitInfo(),
        # messages while staff have the conversation
        ErasureWithStaff(),
        StaffPaused(),
        WithStaff(),
        # staff writing as staff (Zalo, the id registered)
        RelayConfirmation(),
        StaffNote(),
        # everything else: the conversation's steps (bot/conversation/steps/), in the order
        # of engine.STEPS — questions pending, the report form, the triage, then by intent
        PendingQuestion(handoff_after),
        VillageChoice(handoff_after),
        Rating(handoff_after),
        AfterFiling(handoff_after),
        ReportForm(handoff_after),
        NoWords(handoff_after),
        VillageNumber(handoff_after),
        Triage(handoff_after),
        # a short follow-up on the topic kept: rewritten into the full question in context
        # (bot/conversation/follow.py) for the knowledge and the intents after it
        FollowUp(handoff_after),
        # the commune's own knowledge (bot/knowledge/decide.py keeps the sure intents that
        # need the commune's data or start a workflow)
        Knowledge(handoff_after),
        # the commune's facts and procedures (config, data/procedures/): after its own
        # knowledge entries, before the intents' answers
        Facts(handoff_after),
        Misunderstood(handoff_after),
        ReportStart(handoff_after),
        TicketStatus(handoff_after),
        TalkToStaff(handoff_after),
        VillageWords(handoff_after),
        Topics(handoff_after),
        IntentAnswer(handoff_after),
    ]
