"""One turn of conversation as the steps see it (bot/conversation/steps/): what comes in
(``TurnInput``), what goes out (``TurnResult``), and what is prepared once in between and shared
by the steps in their order (``Turn``: the state copied, the clock, the words, the NLU's reading
read at most once). ``run`` asks steps in order; the first that answers has the message. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.config import Commune
from bot.conversation import answers
from bot.conversation.follow import FollowUp
from bot.conversation.types import ConversationState, Effect
from bot.envelope import Choices, Parse, Reply
from bot.feedback import triage
from bot.i18n import use_language
from bot.nlu.backends import Understanding
from bot.nlu.embedded import Ranked
from bot.text import number
from bot.timeutil import utcnow

CONFIDENCE_THRESHOLD = 0.45  # below: a clarifying question (chosen by bot/nlu/calibrate.py)
INTENTS = set(answers.TITLES) | {"greet", "goodbye", "thanks", "affirm", "deny", "out_of_scope"}


@dataclass(frozen=True)
class NoticeSummary:
    """A notice the commune has sent and that still holds, as the chat shows it."""

    headline: str
    sent_at: datetime
    village_ids: tuple[int, ...] = ()


@dataclass
class TurnResult:
    parse: Parse
    replies: list[Reply]
    state: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None  # which NLU backend read the text (None: a choice, no NLU)
    #: what the caller must do: record a topic or language choice, file a ticket (``ticket``),
    #: look one up (``ticket_status``), rate or reopen one, hand the conversation to staff
    #: (``handoff``); the caller adds the replies these need (a ticket code, a state)
    effects: list[Effect] = field(default_factory=list)
    #: the emergency triage's reading of the message, when it read one
    triage: triage.Assessment | None = None
    #: replies that come after the effects' own: a report form's question asked again after
    #: the bot answered something else the resident asked meanwhile
    then: list[Reply] = field(default_factory=list)

    @property
    def reply_text(self) -> str:
        return "\n\n".join(t for t in map(text_of, self.replies) if t)


def text_of(reply: Reply) -> str:
    """A reply as plain text: what the conversation log keeps and `bot ask` prints."""
    if isinstance(reply, Choices):
        return reply.numbered()
    return getattr(reply, "text", "") or getattr(reply, "caption", "") or ""


@dataclass(frozen=True)
class TurnInput:
    """One resident message and what the turn may know around it (all read, nothing written).

    ``understood``: the backend's reading of ``text`` when the caller parsed it ahead (the
    Rasa backend is reached asynchronously); without it the embedded engine reads the text.
    ``notices``: the commune's current notices for this resident, newest first.
    ``pending_rating``: the code of the resident's answered ticket that awaits a rating, given
    only when this is the resident's first message since the answer (so a typed "3" is a
    rating then, and a menu choice ever after).
    ``resident_village``: where the resident lives, if known (a report's default village).
    ``handoff_after``: misunderstood messages in a row before the conversation goes to staff.
    ``channel``: where the resident writes (``zalo``, ``webchat``): answers name that page.
    Said in ``language`` (the current language while the turn runs, bot/i18n.py)."""

    commune: Commune
    text: str | None
    language: str = "vi"
    state: ConversationState | dict[str, Any] | None = None
    attachments: list[dict[str, Any]] | None = None
    now: datetime | None = None
    understood: Understanding | None = None
    notices: Sequence[NoticeSummary] = ()
    pending_rating: str | None = None
    resident_village: str | None = None
    handoff_after: int = 2
    channel: str = "zalo"


def from_choice(text: str, state: dict[str, Any]) -> str | None:
    """A tapped button arrives as its payload; a typed number picks from the last menu."""
    stripped = text.strip()
    if stripped.startswith("/") and stripped[1:] in INTENTS:
        return stripped[1:]
    pending = state.get("choices") or []
    picked_at = number(stripped, 3)
    if picked_at is not None and 1 <= picked_at <= len(pending):
        picked = pending[picked_at - 1].lstrip("/")
        return picked if picked in INTENTS else None  # a stale menu's other kind of choice
    return None


def words_to_read(text: str | None) -> bool:
    """Typed words, not a tapped payload or a number picked from a menu."""
    said = (text or "").strip()
    return bool(said) and not said.startswith("/") and not said.isdigit()


def village_names(commune: Commune) -> list[str]:
    return [v.name for v in commune.villages]


@dataclass
class Reading:
    """What the message says once the pending questions, the form and the triage have passed
    it by: the NLU's reading, the decision rules' (bot/conversation/rules.py) and a code."""

    parse: Parse
    ranked: list[Ranked]
    intent: str
    rule: str | None
    code: str | None
    understood: Understanding | None  # None: a tapped choice, no NLU

    @property
    def backend(self) -> str | None:
        return self.understood.backend if self.understood else None


_UNSET: Any = object()


@dataclass
class Turn:
    """What the steps share while they look at one message, prepared once (``prepare``). A
    step that does not answer may still leave its mark: a question it asked is taken from
    ``state`` (asked once), and a triage question answered "no" puts the first words back
    (``text``, ``reread``) for the steps after it."""

    given: TurnInput
    state: dict[str, Any]  # a copy: the steps change it, the result carries it
    now_s: float
    text: str | None
    attachments: list[dict[str, Any]] | None
    understood: Understanding | None
    #: the steps of a whole turn, for an aside asked within the report form
    whole: Sequence[Step] = ()
    reread: bool = False  # the words of a message already triaged, read again as a message
    suggested: str | None = None  # "ở thôn X phải không?" asked just before this message
    found: triage.Assessment | None = None  # the triage's reading of the message, if read
    _chosen: str | None = field(default=_UNSET, repr=False)
    #: the NLU's and the rules' reading, once read (steps/reading.py: ``reading``)
    read: Reading | None = None
    #: the message read as a follow-up on the topic kept (steps/follow.py): ``text`` is then
    #: the full question it stands for
    follow: FollowUp | None = None
    #: a village the resident named for the matter being triaged (steps/pending.py)
    village: str | None = None

    @property
    def commune(self) -> Commune:
        return self.given.commune

    def chosen(self) -> str | None:
        """The intent tapped or picked by number from the last menu (decided once, at the
        first step that asks, from the menu still in ``state``)."""
        if self._chosen is _UNSET:
            self._chosen = from_choice(self.text or "", self.state)
        return self._chosen

    def aside(self, given: TurnInput) -> TurnResult:
        """A whole turn for another message (the report form's aside), by the same steps."""
        result = run(prepare(given, self.whole), self.whole)
        assert result is not None, "the last step answers every message"
        return result


Step = Callable[[Turn], TurnResult | None]


def prepare(given: TurnInput, whole: Sequence[Step]) -> Turn:
    """The preparation shared by every step: the state copied, the clock read; ``whole``:
    every step of a turn (``engine.STEPS``), for an aside within the report form."""
    return Turn(
        given,
        dict(given.state or {}),
        (given.now or utcnow()).timestamp(),
        given.text,
        given.attachments,
        given.understood,
        whole,
    )


def run(turn: Turn, steps: Sequence[Step]) -> TurnResult | None:
    """The first answer of ``steps`` in their order, said in the message's language (None:
    none of them answers). ``engine.turn`` runs them all; each handler of the chain
    (bot/handlers/conversation.py) runs its own, on the one ``Turn`` of the event."""
    with use_language(turn.given.language):
        for step in steps:
            if (result := step(turn)) is not None:
                return result
    return None


def entity(parse: Parse, name: str) -> str | None:
    return next((e["value"] for e in parse.entities if e["entity"] == name), None)
