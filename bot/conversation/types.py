"""The shapes a turn of conversation passes around: the conversation state as stored
(``conversations.state``, JSON) and the effects a turn asks the caller to carry out.

``ConversationState`` names every key the code reads or writes; the JSON on disk is unchanged
(a ``TypedDict`` is a plain dict at run time). An ``Effect`` is one small frozen dataclass per
kind; ``as_dict`` gives the older dict form (``{"kind": …, …}``) that ``engine.respond`` still
returns, and ``effect_of`` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, NotRequired, TypedDict


class TriageQuestion(TypedDict):
    """ "Is it happening now?" asked: the words it was asked about, the triage's reading."""

    text: str
    kind: str | None
    p: float
    at: float
    village: NotRequired[str]  # where it happens, said in answer to the question


class CodeAt(TypedDict):
    """A ticket and when (epoch seconds) something happened to it."""

    code: str
    at: float


class EmergencyFiled(TypedDict):
    code: str
    category: str
    at: float


class ConversationState(TypedDict, total=False):
    """``conversations.state``: what the conversation remembers between messages."""

    choices: list[str]  # payloads of the last menu shown (a typed number picks from it)
    misses: int  # misunderstood messages in a row (a handoff after ``handoff_after_misses``)
    last_intent: str
    report: dict[str, Any]  # the report form being filled in (bot/feedback/chat.py)
    triage: TriageQuestion  # "is it happening now?" waiting for its answer
    village_suggested: str  # "ở thôn X phải không?" asked (bot/conversation/village.py)
    consent_for: str  # a ticket code: "may we keep your name and phone?" asked
    phone_for: str  # a ticket code: the web chat's phone question asked
    note_for: CodeAt  # a ticket just reopened: the next message is a note on it
    filed: CodeAt  # the last ticket filed (a photo just after joins it)
    emergency: EmergencyFiled  # the last emergency filed (more news of it joins it)
    erase_asked: float  # "delete my data?" asked at (bot/conversation/erasure.py)
    kept: dict[str, Any]  # the topic a follow-up continues (bot/conversation/follow.py: Kept)


# -- effects ---------------------------------------------------------------------------------
class _Effect:
    kind: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        """The dict form (``{"kind": …}``) the engine spoke before the effects were typed."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.metadata.get("omit_none") and value is None:
                continue
            out[f.name] = value
        return out


def _omitted_when_none() -> Any:
    return field(default=None, metadata={"omit_none": True})


@dataclass(frozen=True)
class FileTicket(_Effect):
    """File a report (a completed form, or an emergency the triage is sure of)."""

    kind: ClassVar[str] = "ticket"
    category: str
    description: str | None = None
    village: str | None = None
    media: list[dict[str, Any]] | None = None
    lat: float | None = None
    long: float | None = None
    consent: bool | None = None  # None: an emergency filed first, consent asked after
    emergency: bool = False
    emergency_kind: str | None = _omitted_when_none()  # the triage's kind: its advice was given


@dataclass(frozen=True)
class TicketStatus(_Effect):
    """Tell the state of a ticket (``code``) or of the resident's last ones (None)."""

    kind: ClassVar[str] = "ticket_status"
    code: str | None = None


@dataclass(frozen=True)
class Rate(_Effect):
    kind: ClassVar[str] = "rate"
    code: str
    rating: int


@dataclass(frozen=True)
class Reopen(_Effect):
    kind: ClassVar[str] = "reopen"
    code: str


@dataclass(frozen=True)
class TicketNote(_Effect):
    """What the resident adds to their own ticket (``why``: emergency, reopened, attachment)."""

    kind: ClassVar[str] = "ticket_note"
    code: str
    text: str = ""
    why: str = "reopened"
    attachments: list[dict[str, Any]] | None = _omitted_when_none()


@dataclass(frozen=True)
class Consent(_Effect):
    kind: ClassVar[str] = "consent"
    code: str
    consent: bool


@dataclass(frozen=True)
class Phone(_Effect):
    """The web chat's phone question answered: a number, None (skipped), or ``invalid``."""

    kind: ClassVar[str] = "phone"
    code: str
    phone: str | None = None
    invalid: bool | None = _omitted_when_none()


@dataclass(frozen=True)
class HandOff(_Effect):
    """The conversation goes to staff (``reason``: asked, misunderstood)."""

    kind: ClassVar[str] = "handoff"
    reason: str


@dataclass(frozen=True)
class SetVillage(_Effect):
    """Where the resident lives (None: none of the commune's villages)."""

    kind: ClassVar[str] = "village"
    village: str | None


@dataclass(frozen=True)
class SetLanguage(_Effect):
    kind: ClassVar[str] = "language"
    language: str


@dataclass(frozen=True)
class Topic(_Effect):
    """(Un)subscribe a notice topic (``*``: every topic)."""

    kind: ClassVar[str] = "topic"
    topic: str
    subscribed: bool


@dataclass(frozen=True)
class Erase(_Effect):
    """Erase the resident's data (the chat's confirmed request)."""

    kind: ClassVar[str] = "erase"


Effect = (
    FileTicket
    | TicketStatus
    | Rate
    | Reopen
    | TicketNote
    | Consent
    | Phone
    | HandOff
    | SetVillage
    | SetLanguage
    | Topic
    | Erase
)
#: the effects the feedback intake carries out (bot/feedback/intake.py ``apply``)
FEEDBACK = (FileTicket, TicketStatus, Rate, Reopen, TicketNote, Consent, Phone, HandOff)
_KINDS: dict[str, type[Any]] = {
    cls.kind: cls
    for cls in (
        FileTicket,
        TicketStatus,
        Rate,
        Reopen,
        TicketNote,
        Consent,
        Phone,
        HandOff,
        SetVillage,
        SetLanguage,
        Topic,
        Erase,
    )
}


def effect_of(raw: dict[str, Any] | Effect) -> Effect:
    """An effect in its dict form (``{"kind": …}``, as bot/feedback/chat.py and
    bot/conversation/village.py make them) as its dataclass."""
    if not isinstance(raw, dict):
        return raw
    cls = _KINDS[raw["kind"]]
    given = {k: v for k, v in raw.items() if k != "kind"}
    if unknown := set(given) - {f.name for f in fields(cls)}:  # never drop what was said
        raise ValueError(f"{raw['kind']} effect has no {', '.join(sorted(unknown))}")
    return cls(**given)
