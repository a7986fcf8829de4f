"""What the OA itself said, as Zalo reports it back (``oa_send_*`` echoes, zalo-oa-api.md §3.4).

Two kinds of message come back as echoes: our own API sends, and what commune staff type to a
resident in Zalo's OA Manager (``sender.admin_id`` when Zalo names the admin). Ours are known by
the message ids Zalo gave us (``provider_messages``); an echo may arrive before the sender has
stored those ids, so while a send to that person is in flight the echo is looked at again a
few seconds later (up to ``SETTLE``), never guessed. Anything else is staff: it is logged in the
resident's conversation as a staff message (``intent = "staff_oa_manager"``) and the bot keeps
quiet for that resident for ``zalo.staff_echo_pause_s`` — their messages meanwhile are logged
for staff, not answered (an emergency is still filed, as during a handoff).

``permission_revoked``: the OA withdrew the app's access; its tokens are marked as needing
re-consent with the reason, so sends wait and ``/healthz`` says so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.zalo.oauth import REVOKED, mark_broken
from bot.envelope import Inbound
from bot.store.models import Conversation, InboundEvent, OutboundMessage, ProviderMessage
from bot.timeutil import as_utc

log = logging.getLogger(__name__)
SETTLE = timedelta(minutes=2)  # longest wait for our own send's ids before calling it staff's
RECHECK_S = 3.0  # an undecided echo is looked at again after this long
STAFF_INTENT = "staff_oa_manager"


async def ours(s: AsyncSession, commune_id: int, channel: str, msg_id: str | None) -> bool:
    if not msg_id:
        return False
    return (
        await s.execute(
            select(ProviderMessage.id)
            .where(
                ProviderMessage.commune_id == commune_id,
                ProviderMessage.channel == channel,
                ProviderMessage.provider_message_id == msg_id,
            )
            .limit(1)
        )
    ).first() is not None


async def _send_in_flight(s: AsyncSession, commune_id: int, channel: str, user_id: str) -> bool:
    """Is one of our sends to this person under way (Zalo may have answered, ids not stored)?"""
    return (
        await s.execute(
            select(OutboundMessage.id)
            .where(
                OutboundMessage.commune_id == commune_id,
                OutboundMessage.channel == channel,
                OutboundMessage.recipient == user_id,
                OutboundMessage.status == "sending",
            )
            .limit(1)
        )
    ).first() is not None


def describe(inbound: Inbound) -> str | None:
    """The text staff sent, or what it was when it has none (an image, a file, a sticker)."""
    if inbound.text:
        return inbound.text
    kinds = sorted({str(a.get("type")) for a in inbound.attachments})
    return f"[{', '.join(kinds)}]" if kinds else None


async def apply_echo(
    s: AsyncSession,
    event: InboundEvent,
    inbound: Inbound,
    now: datetime,
    pause_s: float,
    conversation: Callable[[], Awaitable[Conversation]],
    log_message: Callable[..., None],
    defer: Callable[[float], None],
) -> None:
    """One ``oa_send_*`` event. ``conversation()`` loads or creates the resident's
    conversation; ``log_message(conversation_id, text, attachments)`` logs a staff message;
    ``defer(seconds)`` leaves the event to be looked at again."""
    if not inbound.user_id or await ours(s, event.commune_id, event.channel, inbound.msg_id):
        return
    admin = (
        (event.payload.get("sender") or {}).get("admin_id")
        if isinstance(event.payload.get("sender"), dict)
        else None
    )
    if (
        admin is None
        and as_utc(now) - as_utc(event.received_at) < SETTLE
        and await _send_in_flight(s, event.commune_id, event.channel, inbound.user_id)
    ):
        defer(RECHECK_S)  # our send's ids may be stored in a moment: decide then
        return
    conv = await conversation()
    log_message(conv.id, describe(inbound), inbound.attachments or None)
    if pause_s > 0:
        until = as_utc(event.received_at) + timedelta(seconds=pause_s)
        if conv.paused_until is None or as_utc(conv.paused_until) < until:
            conv.paused_until = until
    log.info(
        "staff wrote to a resident from OA Manager (commune %s, admin %s): the bot keeps "
        "quiet for them for %.0f s",
        event.commune_id,
        admin or "?",
        pause_s,
    )


def paused(conv: Conversation, now: datetime) -> bool:
    """Staff are talking to this resident in OA Manager: the bot does not answer."""
    return conv.paused_until is not None and as_utc(conv.paused_until) > as_utc(now)


async def apply_revoked(s: AsyncSession, oa_id: str) -> None:
    reason = REVOKED.format(oa=oa_id)
    if await mark_broken(s, oa_id, reason):
        log.error("zalo OA %s: %s", oa_id, reason)
    else:
        log.warning("zalo OA %s: permission_revoked, but no tokens were stored", oa_id)
