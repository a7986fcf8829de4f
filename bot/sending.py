"""The send contract between the sender and the channels, without knowing any channel.

- **Outcomes**: a channel that cannot deliver raises :class:`SendError` with an
  :class:`Outcome`; the sender (``bot/outbound.py``) turns it into a row state. A channel reads
  its provider's errors in its own place (Zalo: ``bot/channels/zalo/errors.py``, whose
  ``ZaloError`` is a ``SendError``) and hands over only these types.
- **Capabilities** (as opsdroid's connectors declare the events they send, Rasa's output
  channels the message kinds they render): each channel says which reply kinds it carries.
  :func:`fit` is the one rule for a reply a channel cannot carry: choices become a numbered
  text, an image with an address becomes its caption and the link; anything else is refused
  once with the code ``unsupported`` — never retried.
- **Article broadcasts** (:class:`ArticleBroadcaster`): a capability of a channel that can post
  an article to every follower (Zalo OA); the article worker (``bot/broadcasts/article.py``)
  reaches it through the channel object.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from bot.envelope import Choices, Delivered, Image, Reply, Text

if TYPE_CHECKING:
    from bot.store.models import OutboundMessage
    from bot.tenants import Tenant


class Outcome(str, Enum):  # noqa: UP042 - str() and format() must stay as they are
    THROTTLED = "throttled"  # try later; does not count as an attempt (rate limits, lock busy)
    RETRY = "retry"
    REFRESH_TOKEN = "refresh_token"
    #: the channel has no usable token until an admin reconnects it: the message waits
    #: (without spending attempts) and is released when tokens are stored again
    NO_TOKEN = "no_token"
    WINDOW_CLOSED = "window_closed"
    PERMANENT = "permanent"


NO_TOKEN_CODE = "no_token"  # error_code of a message held until its OA has a usable token
UNSUPPORTED_CODE = "unsupported"  # error_code of a reply its channel cannot carry

#: every reply kind (``bot/envelope.py``); a channel carrying all of them declares this
ALL_KINDS: frozenset[str] = frozenset({"text", "choices", "image", "request_user_info", "file"})


class SendError(Exception):
    """A failed send; ``outcome`` says what the sender does with the row. ``code`` is stored
    as the row's ``error_code`` (as text), ``reason`` as its ``error_reason``. ``maybe_sent``:
    the request may have reached the provider before the answer was lost — the row must not be
    sent again blindly (the channel reads the conversation back first)."""

    def __init__(
        self,
        code: int | str,
        reason: str,
        outcome: Outcome,
        retry_after: float | None = None,
        maybe_sent: bool = False,
    ) -> None:
        self.code = code
        self.reason = reason
        self.outcome = outcome
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent
        super().__init__(reason)


class Unsupported(SendError):
    """A reply kind its channel cannot carry and that does not degrade: failed once."""

    def __init__(self, kind: str, channel: str) -> None:
        super().__init__(
            UNSUPPORTED_CODE, f"{channel} cannot carry a {kind} reply", Outcome.PERMANENT
        )


class QuotaExhausted(SendError):
    """The provider refused a broadcast for its quota: not sent, not to be retried."""

    def __init__(self, code: int | str, reason: str) -> None:
        super().__init__(code, reason, Outcome.PERMANENT)


def fit(reply: Reply, capabilities: frozenset[str], channel: str = "the channel") -> Reply:
    """``reply`` as the channel can carry it (itself when it can); :class:`Unsupported` when
    it cannot be degraded to something the channel carries."""
    if reply.kind in capabilities:
        return reply
    if "text" in capabilities:
        if isinstance(reply, Choices):
            return Text(reply.numbered())
        if isinstance(reply, Image) and reply.url:
            return Text("\n".join(part for part in (reply.caption, reply.url) if part))
    raise Unsupported(reply.kind, channel)


class ProgressCallback(Protocol):
    async def __call__(self, parts_sent: int, provider_ids: list[str]) -> None: ...


class OutboundChannel(Protocol):
    """What the sender needs from a channel. ``deliver`` gets the row (recipient, parts already
    sent, lane) and its reply already fitted to ``capabilities``; it raises :class:`SendError`.
    A channel may also offer ``already_delivered(row, tenant) -> Delivered | None`` to look a
    send up after a crash mid-send."""

    name: str

    @property
    def capabilities(self) -> frozenset[str]: ...

    async def deliver(
        self, row: OutboundMessage, reply: Reply, tenant: Tenant, progress: ProgressCallback
    ) -> Delivered: ...


@dataclass(frozen=True)
class Article:
    """A notice as an article for every follower."""

    title: str
    author: str
    body: str  # paragraphs separated by new lines
    cover_url: str


class ArticleBroadcaster(Protocol):
    """A channel that can post an article and broadcast it to all of a commune's followers, in
    three steps whose results the caller stores (a restart resumes at the first without one).
    Errors are :class:`SendError`; a quota refusal is :class:`QuotaExhausted`."""

    def broadcasts_for(self, tenant: Tenant) -> bool:
        """Whether the commune has an account this channel can broadcast from."""
        ...

    async def create_article(self, tenant: Tenant, article: Article) -> str:
        """The new article's token."""
        ...

    async def verify_article(self, tenant: Tenant, token: str) -> str | None:
        """The article's id; ``None`` while the provider is still processing it."""
        ...

    async def broadcast_article(self, tenant: Tenant, article_id: str) -> str:
        """Send it to every follower (never repeated by the caller); the message id."""
        ...
