"""Erasing a resident's personal data: one place for the chat, the CLI and the staff API
(docs/privacy.md).

Two scopes:

- ``identity`` — Zalo's ``user_withdraw`` (the resident withdrew the consent they gave the OA):
  who they are goes (name, phone, address, the conversation log, stored event payloads,
  uploads, subscriptions), the matters they reported stay as they are, without the reporter.
- ``all`` — the resident asked for erasure in the chat and confirmed it, or staff erase them on
  request: the above, and their tickets become anonymous records (category, village, dates,
  state, rating stay; the words they wrote, notes, photos, location and address are replaced),
  the staff alerts that quoted those words are rewritten, the ticket is no longer linked to
  them.

Either way the resident row stays (with ``erased_at``) so reports keep their totals and a later
message starts afresh; pending sends to them are cancelled; an ``erasures`` row records that it
was done, when, by whom and how much — never what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Text as SqlText
from sqlalchemy import cast, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.envelope import Text, to_payload
from bot.store.models import (
    Conversation,
    Handoff,
    InboundEvent,
    Message,
    OutboundMessage,
    Resident,
    Staff,
    Ticket,
    TicketEvent,
    TopicPreference,
    Upload,
)
from bot.store.ops import rowcount
from bot.timeutil import utcnow, vn_iso

Scope = Literal["identity", "all"]
#: what replaces a text the resident wrote (kept in Vietnamese: staff read it)
ERASED = "[đã xóa theo yêu cầu của người dân]"
#: payload of a message whose text is gone (a valid text payload: readers need not know)
REDACTED = to_payload(Text(ERASED))
#: event payloads whose person is gone
REDACTED_EVENT = {"redacted": True}
DONE = ("processed", "ignored", "failed")


@dataclass(frozen=True)
class Erased:
    """What an erasure did (counts only)."""

    resident_id: int | None  # None: a ticket with no chat behind it
    tickets: int
    messages: int
    cancelled: int
    at: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "resident_id": self.resident_id,
            "tickets": self.tickets,
            "messages": self.messages,
            "cancelled_sends": self.cancelled,
            "erased_at": vn_iso(self.at),
        }


async def erase_resident(
    s: AsyncSession,
    resident: Resident,
    *,
    scope: Scope = "all",
    source: str = "chat",
    staff_id: int | None = None,
) -> Erased:
    """Erase ``resident``'s personal data (``scope``: see the module). ``source``: chat |
    withdraw | cli | api (the audit row); ``staff_id``: who did it, for cli/api."""
    now = utcnow()
    resident.display_name = None
    resident.phone = None
    resident.address = None
    resident.user_id_by_app = None
    resident.consent_at = None
    resident.consent_source = None
    resident.origin_key = None
    resident.erased_at = now
    if scope == "all":  # where they live, and what that says about them (their language)
        resident.village_id = None
        resident.village_asked_at = None
        resident.language = "vi"
    conv_ids = select(Conversation.id).where(Conversation.resident_id == resident.id)
    messages = rowcount(
        await s.execute(
            update(Message)
            .where(Message.conversation_id.in_(conv_ids.scalar_subquery()))
            .values(text=None, attachments=None)
        )
    )
    await s.execute(
        update(Conversation)
        .where(Conversation.resident_id == resident.id)
        .values(state={}, mode="bot", paused_until=None)
    )
    await s.execute(
        update(Handoff)
        .where(Handoff.resident_id == resident.id, Handoff.closed_at.is_(None))
        .values(closed_at=now)
    )
    # subscriptions go; a "không nhận tin …" stays, so erasing never brings notices back
    await s.execute(
        delete(TopicPreference).where(
            TopicPreference.resident_id == resident.id, TopicPreference.subscribed.is_(True)
        )
    )
    if resident.channel == "webchat":  # the photos the session sent
        await s.execute(
            delete(Upload).where(
                Upload.commune_id == resident.commune_id, Upload.session == resident.external_id
            )
        )
    await s.execute(
        update(InboundEvent)
        .where(
            InboundEvent.commune_id == resident.commune_id,
            InboundEvent.channel == resident.channel,
            InboundEvent.external_user_id == resident.external_id,
            InboundEvent.status.in_(DONE),
        )
        .values(payload=REDACTED_EVENT)
    )
    cancelled = rowcount(
        await s.execute(
            update(OutboundMessage)
            .where(OutboundMessage.resident_id == resident.id, OutboundMessage.status == "pending")
            .values(status="cancelled", error_reason="resident data erased")
        )
    )
    tickets = list(
        (
            await s.execute(
                select(Ticket).where(Ticket.resident_id == resident.id).with_for_update()
            )
        ).scalars()
    )
    if scope == "identity":
        for ticket in tickets:
            ticket.reporter_name = ticket.reporter_phone = ticket.reporter_email = None
            ticket.origin_key = None
    else:
        # what was sent to them (sent, failed, cancelled; one in flight finishes as it is)
        await s.execute(
            update(OutboundMessage)
            .where(OutboundMessage.resident_id == resident.id, OutboundMessage.status != "sending")
            .values(kind="text", payload=REDACTED)
        )
        for ticket in tickets:
            await _anonymise(s, ticket, staff_id, by_staff=source in STAFF_SOURCES)
    audit.erasure(
        s,
        resident.commune_id,
        resident.id,
        scope=scope,
        source=source,
        staff_id=staff_id,
        tickets=len(tickets),
        at=now,
    )
    return Erased(resident.id, len(tickets), messages, cancelled, now)


#: erasures staff carry out (on a resident's request by phone or at the office)
STAFF_SOURCES = {"cli", "api"}


async def _anonymise(s: AsyncSession, ticket: Ticket, staff_id: int | None, by_staff: bool) -> None:
    """A ticket becomes an anonymous record: its words, notes, photos, place and reporter are
    replaced; the staff alerts and chat lines that quoted them are rewritten."""
    notes = list(
        (
            await s.execute(
                select(TicketEvent.note).where(
                    TicketEvent.ticket_id == ticket.id, TicketEvent.note.is_not(None)
                )
            )
        ).scalars()
    )
    quoted = _fragments(
        [
            ticket.description,
            ticket.answer or "",
            ticket.public_answer or "",
            *(n or "" for n in notes),
        ]
    )
    reporter = ticket.resident_id
    ticket.description = ERASED
    ticket.answer = ERASED if ticket.answer else None
    ticket.public_answer = ERASED if ticket.public_answer else None  # shown by Open311
    ticket.media = []
    ticket.lat = ticket.long = None
    ticket.address = None
    ticket.reporter_name = ticket.reporter_phone = ticket.reporter_email = None
    ticket.consent_at = None
    ticket.origin_key = None
    ticket.resident_id = None
    await s.execute(
        update(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.note.is_not(None))
        .values(note=ERASED)
    )
    audit.ticket(s, ticket, "erase", actor="staff" if by_staff else "resident", staff_id=staff_id)
    # the alerts staff received about it ("ticket:<id>:…:staff:<id>") quote its words
    alerts = (
        await s.execute(
            select(OutboundMessage).where(
                OutboundMessage.commune_id == ticket.commune_id,
                OutboundMessage.idempotency_key.like(f"ticket:{ticket.id}:%"),
                OutboundMessage.resident_id.is_(None),
            )
        )
    ).scalars()
    for row in alerts:
        text = str(row.payload.get("text") or "")
        for fragment in quoted:
            text = text.replace(fragment, ERASED)
        row.payload = {**row.payload, "text": text}
    # staff and propagandists who wrote about it in the chat ("PA-…: …"): their lines go too —
    # theirs and the reporter's only, not other residents' who happen to name the code
    staff_ids = select(Staff.zalo_user_id).where(
        Staff.commune_id == ticket.commune_id, Staff.zalo_user_id.is_not(None)
    )
    writers = (
        select(Conversation.id)
        .join(Resident, Resident.id == Conversation.resident_id)
        .where(
            Resident.commune_id == ticket.commune_id,
            ((Resident.channel == "zalo") & Resident.external_id.in_(staff_ids))
            | (Resident.id == reporter),
        )
    )
    mentions = func.upper(Message.text).like(f"%{ticket.code.upper()}%")
    await s.execute(
        update(Message)
        .where(
            Message.commune_id == ticket.commune_id, mentions, Message.conversation_id.in_(writers)
        )
        .values(text=None, attachments=None)
    )
    await s.execute(
        update(InboundEvent)
        .where(
            InboundEvent.commune_id == ticket.commune_id,
            InboundEvent.status.in_(DONE),
            InboundEvent.channel == "zalo",
            InboundEvent.external_user_id.in_(staff_ids),
            func.upper(cast(InboundEvent.payload, SqlText)).like(f"%{ticket.code.upper()}%"),
        )
        .values(payload=REDACTED_EVENT)
    )


def _fragments(texts: list[str]) -> list[str]:
    """Each text, and the cuts alerts quote (300, 500 characters), longest first."""
    out = {
        piece
        for t in texts
        if t and t.strip()
        for piece in (t, t[:500], t[:300], t.strip())
        if piece.strip()
    }
    return sorted(out, key=len, reverse=True)


async def erase_on_request(
    s: AsyncSession,
    commune_id: int,
    *,
    zalo_id: str | None = None,
    ticket_code: str | None = None,
    source: str,
    staff_id: int | None = None,
) -> Erased | None:
    """Staff erase a person who asked (by phone, at the office): the resident with this Zalo
    user id (as a follower of this commune's OA), or the one who filed this ticket on any
    channel — all their data, every ticket. A ticket with no chat behind it (filed by staff from
    a phone call) is made anonymous alone. None: nobody of that id or code in this commune."""
    if (zalo_id is None) == (ticket_code is None):
        raise ValueError("give exactly one of zalo_id, ticket_code")
    if zalo_id is not None:
        resident = (
            await s.execute(
                select(Resident)
                .where(
                    Resident.commune_id == commune_id,
                    Resident.channel == "zalo",
                    Resident.external_id == zalo_id,
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if resident is None:
            return None
        return await erase_resident(s, resident, scope="all", source=source, staff_id=staff_id)
    ticket = (
        await s.execute(
            select(Ticket)
            .where(Ticket.commune_id == commune_id, Ticket.code == str(ticket_code).upper())
            .with_for_update()
        )
    ).scalar_one_or_none()
    if ticket is None:
        return None
    if ticket.resident_id is not None:
        resident = await s.get(Resident, ticket.resident_id, with_for_update=True)
        if resident is not None:
            return await erase_resident(s, resident, scope="all", source=source, staff_id=staff_id)
    now = utcnow()
    await _anonymise(s, ticket, staff_id, by_staff=True)
    audit.erasure(
        s, commune_id, None, scope="all", source=source, staff_id=staff_id, tickets=1, at=now
    )
    return Erased(None, 1, 0, 0, now)
