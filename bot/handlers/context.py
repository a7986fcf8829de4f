"""What a handler of an incoming event is given (``Context``) and what it gives back
(``Outcome``): one typed value each way, so every feature reads the message the same way and the
processor writes what they decided in one place (``InboundProcessor._write``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from bot import chat_staff
from bot.config import Commune, FeedbackSettings
from bot.conversation import engine
from bot.conversation.engine import NoticeSummary, Turn, TurnInput
from bot.conversation.types import ConversationState, Effect
from bot.envelope import Inbound, Reply
from bot.nlu.backends import Understanding
from bot.store.models import Conversation, InboundEvent, Resident, Staff


@dataclass
class Context:
    """One event of one resident, with everything a handler may read. ``s`` is the batch's
    transaction: handlers read through it; a feature whose answer depends on its own write (a
    relay confirmed, a propagandist's note) writes through its own module, everything else is
    an effect in the ``Outcome``."""

    s: AsyncSession
    commune_id: int
    commune: Commune  # the commune's config (the tenant)
    feedback: FeedbackSettings
    event: InboundEvent
    inbound: Inbound  # the parsed event: kind, text, attachments
    resident: Resident
    conversation: Conversation
    now: datetime  # the clock: when the event was received
    understood: Understanding | None = None  # the NLU's reading, when asked ahead (Rasa)
    notices: Sequence[NoticeSummary] = ()  # the commune's current notices for this resident
    pending_rating: str | None = None  # a ticket whose rating question was the last thing read
    resident_village: str | None = None  # the name of where the resident lives, if known
    _staff: dict[tuple[str, ...], Staff | None] = field(default_factory=dict)
    _turn: Turn | None = None

    @property
    def channel(self) -> str:
        return self.event.channel

    @property
    def language(self) -> str:
        return self.resident.language

    @property
    def text(self) -> str | None:
        return self.inbound.text

    @property
    def state(self) -> ConversationState:
        return cast(ConversationState, self.conversation.state or {})

    def turn(self, handoff_after: int) -> Turn:
        """The message as the conversation's steps see it (``engine.prepare``: one
        ``TurnInput``, the state copied once), built when the first conversation handler asks
        — after the handlers before it had their say on the state — and shared by them all."""
        if self._turn is None:
            self._turn = engine.prepare(
                TurnInput(
                    self.commune,
                    self.text,
                    language=self.language,
                    state=self.state,
                    attachments=self.inbound.attachments,
                    now=None,  # the conversation reads the clock when it answers (as always)
                    understood=self.understood,
                    notices=self.notices,
                    pending_rating=self.pending_rating,
                    resident_village=self.resident_village,
                    handoff_after=handoff_after,
                    channel=self.channel,
                )
            )
        return self._turn

    async def staff(self, roles: tuple[str, ...]) -> Staff | None:
        """The staff member with one of ``roles`` who wrote this (bot/chat_staff.py), asked once."""
        if roles not in self._staff:
            self._staff[roles] = await chat_staff.sender(
                self.s, self.commune_id, self.channel, self.inbound.user_id, roles
            )
        return self._staff[roles]


_SAME = object()


@dataclass
class Outcome:
    """What a handler decided for the event: replies and effects, the conversation state after
    it, and how the message is logged (``messages``: intent and confidence, per direction)."""

    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    state: ConversationState | dict[str, Any] | None = None  # None: the state as it was
    intent: str | None = None  # logged with the resident's message
    confidence: float | None = None
    reply_intent: Any = _SAME  # logged with each reply (default: ``intent``)
    reply_confidence: float | None = 1.0
    logged: bool = True  # the resident's message is logged (a follow, a form: no)
    with_attachments: bool = True  # the message's attachments are logged with it
    staff_told: bool = False  # the handler queued messages to staff itself
    #: replies after the effects' own (a report form's question asked again after an aside)
    then: list[Reply] = field(default_factory=list)

    @property
    def out_intent(self) -> str | None:
        return self.intent if self.reply_intent is _SAME else self.reply_intent
