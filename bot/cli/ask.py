"""`bot ask --session ID`: one conversation held across calls from the command line, stored like
any resident's — a resident row on the ``ask`` channel (external id: the session), its
conversation state in ``conversations`` — and run through the service's own path: the message
is an inbound event, the inbound processor runs the handlers' chain on it in one transaction
(the commune's knowledge, follow-ups, reports, triage all included), and the replies it queued
are printed, queued as already ``sent`` (the command line is where they are delivered).

Without ``--session`` `bot ask` stays what it was: one message through the pure conversation
engine, nothing stored (bot/cli/nlu.py ``cmd_ask``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import uuid
from typing import Any

from bot.config import Commune, Settings
from bot.envelope import Inbound, Reply
from bot.inbound import InboundProcessor, _Rows
from bot.store.models import InboundEvent, Resident
from bot.timeutil import utcnow

CHANNEL = "ask"
SESSION = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class AskChannel:
    """The command line as an inbound channel: a stored ``message`` event as the processor
    reads it (the replies are read back from the store by the command, not sent)."""

    name = CHANNEL

    def to_inbound(self, row: InboundEvent) -> Inbound:
        return Inbound(
            kind="message",
            user_id=row.external_user_id,
            text=row.payload.get("text") or None,
            language=row.payload.get("language"),
        )


class AskProcessor(InboundProcessor):
    """The inbound processor whose replies are delivered on the command line: queued as
    ``sent`` in the message's own transaction, so no sender of a running service takes them."""

    @staticmethod
    def _queue(
        rows: _Rows,
        commune_id: int,
        event: InboundEvent,
        inbound: Inbound,
        resident: Resident,
        replies: list[Reply],
    ) -> None:
        start = len(rows.outbound)
        InboundProcessor._queue(rows, commune_id, event, inbound, resident, replies)
        for row in rows.outbound[start:]:
            row.update(status="sent", sent_at=utcnow())


def check_session(session: str) -> str | None:
    """Why ``session`` cannot name a conversation, or None."""
    if not SESSION.match(session):
        return (
            f"bad --session {session!r}: 1 to 64 letters, digits or . _ : - "
            "(it is the conversation's id, kept across calls)"
        )
    return None


def ask_in_session(args: argparse.Namespace, settings: Settings, commune: Commune) -> int:
    """One message of the conversation ``args.session`` (see the module)."""
    said = asyncio.run(
        _ask(settings, commune, args.session, args.text, args.language, args.backend)
    )
    if args.json:
        print(json.dumps(said, ensure_ascii=False))
    else:
        print(said["reply"])
    if said["staff_alerts"]:
        print(
            f"note: {said['staff_alerts']} staff alert(s) queued (a report or a request for "
            "staff) — real: a running service sends them. Hold test conversations in a test "
            "commune.",
            file=sys.stderr,
        )
    return 0


async def _ask(
    settings: Settings,
    commune: Commune,
    session: str,
    text: str,
    language: str | None,
    backend: str | None,
) -> dict[str, Any]:
    import aiohttp
    from sqlalchemy import func, select

    from bot.cli.common import open_store
    from bot.conversation.turn import text_of
    from bot.coord import Coordinator
    from bot.envelope import from_payload
    from bot.nlu.backends import create_backend
    from bot.store.models import Conversation, Message, OutboundMessage

    async with (
        open_store(settings, sync=True) as store,
        aiohttp.ClientSession() as http,
    ):
        tenant = store.tenant(commune.code)
        processor = AskProcessor(
            store.sm,
            store.tenants,  # type: ignore[arg-type]  # sync=True: mirrored
            Coordinator(),
            {CHANNEL: AskChannel()},
            nlu=create_backend(settings.nlu, http, override=backend),
            feedback=settings.feedback,
            staff_echo_pause_s=settings.zalo.staff_echo_pause_s,
        )
        now = utcnow()
        async with store.sm() as s, s.begin():
            event = InboundEvent(
                commune_id=tenant.id,
                channel=CHANNEL,
                event_name="message",
                dedupe_key=f"ask:{uuid.uuid4().hex}",
                external_user_id=session,
                payload={"text": text, "language": language},
                received_at=now,
                status="processing",  # claimed by this command's processor, no other
                claimed_at=now,
                claimed_by=processor.worker,
            )
            s.add(event)
            await s.flush()
            event_id = event.id
        await processor.process_batch([event_id])
        key = f"reply:{event_id}:%"
        async with store.sm() as s, s.begin():
            rows = (
                (
                    await s.execute(
                        select(OutboundMessage)
                        .where(OutboundMessage.idempotency_key.like(key))
                        .order_by(OutboundMessage.id)
                    )
                )
                .scalars()
                .all()
            )
            logged = (
                await s.execute(
                    select(Message.intent, Message.confidence).where(
                        Message.inbound_event_id == event_id, Message.direction == "in"
                    )
                )
            ).first()
            resident = (
                await s.execute(
                    select(Resident).where(
                        Resident.commune_id == tenant.id,
                        Resident.channel == CHANNEL,
                        Resident.external_id == session,
                    )
                )
            ).scalar_one()
            conversation = (
                await s.execute(select(Conversation).where(Conversation.resident_id == resident.id))
            ).scalar_one()
            state = dict(conversation.state or {})
            # staff alerts (keys ``…:staff:<id>``) queued since: a report's or a request for staff
            others = (
                await s.execute(
                    select(func.count(OutboundMessage.id)).where(
                        OutboundMessage.commune_id == tenant.id,
                        OutboundMessage.created_at >= now,
                        OutboundMessage.idempotency_key.like("%:staff:%"),
                    )
                )
            ).scalar_one()
    replies = [from_payload(r.kind, r.payload) for r in rows]
    return {
        "session": session,
        "intent": logged.intent if logged else None,
        "confidence": logged.confidence if logged else None,
        "language": resident.language,
        "reply": "\n\n".join(t for t in map(text_of, replies) if t),
        "mode": conversation.mode,
        # the topic a follow-up continues (bot/conversation/follow.py), while it holds
        "topic": state.get("kept"),
        # staff alerts queued meanwhile: real, a running service sends them
        "staff_alerts": others,
    }
