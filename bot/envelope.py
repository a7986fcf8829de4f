"""Plain data that crosses the boundary between the conversation and the channels.

Envelopes never send themselves (STYLE.md: keep envelopes plain data; only a channel sends).
A channel renders each reply with what it can show; choices degrade to a numbered text menu.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Choice:
    title: str
    payload: str  # "/intent" — what a tap (or typing its number) means


@dataclass(frozen=True)
class Text:
    text: str
    kind = "text"


@dataclass(frozen=True)
class Choices:
    text: str
    options: tuple[Choice, ...]
    kind = "choices"

    def numbered(self) -> str:
        lines = [self.text] + [f"{i}. {c.title}" for i, c in enumerate(self.options, 1)]
        return "\n".join(lines)


@dataclass(frozen=True)
class Image:
    url: str | None = None
    attachment_id: str | None = None
    caption: str | None = None
    #: a stored image (a notice's upload, ``notice_images.id``): the channel uploads it
    image_id: int | None = None
    kind = "image"


@dataclass(frozen=True)
class RequestUserInfo:
    title: str
    subtitle: str
    image_url: str
    kind = "request_user_info"


@dataclass(frozen=True)
class File:
    """A stored document (a notice's PDF) sent as a file; the channel uploads it."""

    file_id: int
    name: str
    kind = "file"


Reply = Text | Choices | Image | RequestUserInfo | File


def to_payload(reply: Reply) -> dict[str, Any]:
    return asdict(reply)


def from_payload(kind: str, payload: dict[str, Any]) -> Reply:
    if kind == "text":
        return Text(payload["text"])
    if kind == "choices":
        return Choices(payload["text"], tuple(Choice(**c) for c in payload["options"]))
    if kind == "image":
        return Image(**payload)
    if kind == "request_user_info":
        return RequestUserInfo(**payload)
    if kind == "file":
        return File(**payload)
    raise ValueError(f"unknown reply kind {kind!r}")


@dataclass
class Parse:
    """What the NLU understood (``bot ask --json`` prints this with the reply)."""

    intent: str
    confidence: float
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Inbound:
    """One stored event as the processor sees it, whatever the channel."""

    kind: str  # message | follow | unfollow | submit_info | chatnow | received | seen | withdraw | echo | other
    user_id: str | None
    text: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] | None = None
    msg_id: str | None = None
    msg_ids: tuple[str, ...] = ()
    user_id_by_app: str | None = None
    #: web chat: a keyed hash of the sender's network address (bot/channels/webguard.py)
    origin: str | None = None
    #: web chat: the language of the page the resident writes from (``?lang=``), if chosen
    language: str | None = None


@dataclass
class Delivered:
    """What a channel reports after sending one outbound row."""

    provider_ids: list[str] = field(default_factory=list)
