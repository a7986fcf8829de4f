"""Everything else a resident writes: the conversation's steps (bot/conversation/steps/), one
handler per feature, in the engine's order (``engine.STEPS``) — pending questions, a village
tapped, a rating, what follows a filed ticket, the report form, a message without words, a
village's number, the triage, then by what the message says: not understood, a report begun,
a ticket's status, a person asked for, a village said, topics, and every other intent's answer.

Each runs its steps (pure) on the one ``Turn`` of the event (``Context.turn``: built once,
shared, so a question one step takes from the state is gone for the next — as in
``engine.turn``, which runs the same steps through the same ``run``); the first answer is the
``Outcome`` (``outcome_of``), its effects carried out by the processor."""

from __future__ import annotations

from bot.conversation import steps as step
from bot.conversation.engine import TurnResult, run
from bot.conversation.turn import Step
from bot.handlers.base import Handler
from bot.handlers.context import Context, Outcome


def outcome_of(result: TurnResult) -> Outcome:
    """A turn's result as the chain's outcome: the message logged with the turn's intent and
    confidence (its replies with the same confidence), the state after it, ``then`` last."""
    return Outcome(
        result.replies,
        result.effects,
        state=result.state,
        intent=result.parse.intent,
        confidence=result.parse.confidence,
        reply_confidence=result.parse.confidence,
        then=result.then,
    )


class ConversationSteps(Handler):
    """A resident's message (any channel, anyone): the first of ``steps`` that answers."""

    steps: tuple[Step, ...] = ()

    def __init__(self, handoff_after: int = 2) -> None:
        self.handoff_after = handoff_after  # config feedback.handoff_after_misses

    async def handle(self, ctx: Context) -> Outcome | None:
        result = run(ctx.turn(self.handoff_after), self.steps)
        return None if result is None else outcome_of(result)


class PendingQuestion(ConversationSteps):
    """The answer to "delete my data?" or "is it happening now?" asked just before."""

    name = "pending_question"
    steps = (step.erase_confirmation, step.triage_answer)


class VillageChoice(ConversationSteps):
    """A village choice tapped, whenever it was offered (a report form stays open)."""

    name = "village_choice"
    steps = (step.village_tap,)


class Rating(ConversationSteps):
    """A rating of the ticket just answered."""

    name = "rating"
    steps = (step.rating,)


class AfterFiling(ConversationSteps):
    """What follows a ticket filed or reopened: a photo or pin for it, consent, the phone
    number, how things are after reopening."""

    name = "after_filing"
    steps = (step.late_attachment, step.consent, step.phone, step.reopened_note)


class ReportForm(ConversationSteps):
    """The open report form's next step (an aside answered, the question asked again)."""

    name = "report_form"
    steps = (step.report_form_step,)


class NoWords(ConversationSteps):
    """A photo, a pin or a file alone: a few words asked for."""

    name = "no_words"
    steps = (step.no_words,)


class VillageNumber(ConversationSteps):
    """The number of a village choice, typed."""

    name = "village_number"
    steps = (step.village_number,)


class Triage(ConversationSteps):
    """An emergency filed at once, or "is it happening now?" asked (bot/feedback/triage.py)."""

    name = "triage"
    steps = (step.triage_message,)


class FollowUp(ConversationSteps):
    """A short follow-up on the topic kept, rewritten into the full question in context for
    the handlers after it (bot/conversation/follow.py); it never answers itself."""

    name = "follow_up"
    steps = (step.follow_up,)


class Facts(ConversationSteps):
    """The commune's facts and procedures (steps/facts.py): a procedure or one aspect of it, an
    office by kind, a village's head and propagandists."""

    name = "facts"
    steps = (step.facts,)


class Misunderstood(ConversationSteps):
    """Not understood: "did you mean", or staff after misses in a row."""

    name = "misunderstood"
    steps = (step.misunderstood,)


class ReportStart(ConversationSteps):
    """A report begun: the form's first question."""

    name = "report_start"
    steps = (step.report_start,)


class TicketStatus(ConversationSteps):
    """A ticket's status asked."""

    name = "ticket_status"
    steps = (step.ticket_status,)


class TalkToStaff(ConversationSteps):
    """A person asked for: the conversation goes to staff."""

    name = "talk_to_staff"
    steps = (step.talk_to_staff,)


class VillageWords(ConversationSteps):
    """A village said in words, or the one suggested confirmed."""

    name = "village_words"
    steps = (step.village_words,)


class Topics(ConversationSteps):
    """Notice topics (un)subscribed."""

    name = "topics"
    steps = (step.topics,)


class IntentAnswer(ConversationSteps):
    """Every other intent's answer (the last handler: it answers every message left)."""

    name = "intent_answer"
    steps = (step.intent_answer,)
