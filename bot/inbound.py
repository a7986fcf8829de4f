"""The inbound processor: stored events → residents, conversation, outbound rows.

Each event is processed in one transaction that also writes the replies as outbound rows with
idempotency keys (``reply:<event id>:<n>``) and marks the event processed — so a crash at any
point either leaves the event unprocessed (it is claimed again) or fully done. Claims use
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (ignored by SQLite, where one process owns the file) and
expire after ``LEASE`` so a dead worker's events are taken over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import delete, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import echoes, facts_store, handlers, privacy
from bot.config import FeedbackSettings
from bot.conversation import engine, erasure
from bot.conversation.engine import NoticeSummary
from bot.conversation.types import Erase, Rate, Reopen, SetLanguage, SetVillage, Topic
from bot.coord import Coordinator
from bot.envelope import Inbound, Reply, Text
from bot.feedback import intake
from bot.handlers import Context, Outcome
from bot.i18n import gettext_for, use_language
from bot.loops import EVENTS_TOPIC, LEASE, OUTBOUND_TOPIC, Worker, worker_id
from bot.nlu import language
from bot.nlu.backends import Backend, EmbeddedBackend, Understanding
from bot.store.models import (
    Conversation,
    InboundEvent,
    Message,
    Notice,
    OutboundMessage,
    ProviderMessage,
    Resident,
    Ticket,
    TopicPreference,
    Village,
)
from bot.store.ops import outbound_row, table_of, village_by_name
from bot.tenants import Tenant, Tenants
from bot.timeutil import as_utc, to_vn, utcnow

log = logging.getLogger(__name__)
CURRENT_NOTICES = timedelta(days=30)  # "thông báo mới": sent in the last 30 days, still valid
MAX_ATTEMPTS = 5
#: event kinds that concern our messages or nobody, not a resident (no resident row is made)
NO_RESIDENT = {"echo", "other", "received", "seen", "revoked"}
#: events that need no order among a resident's (delivery receipts, echoes of the OA's sends)
UNORDERED_EVENTS = ("user_received_message", "user_seen_message")
UNORDERED_PREFIX = "oa_send_"
ORDER_EXEMPT = InboundEvent.event_name.in_(UNORDERED_EVENTS) | InboundEvent.event_name.startswith(
    UNORDERED_PREFIX
)
HOLD_BACK_S = 0.2  # an event held back for an older one of its resident is looked at again


def unordered(event_name: str) -> bool:
    return event_name in UNORDERED_EVENTS or event_name.startswith(UNORDERED_PREFIX)


class _Rows:
    """Rows a batch writes, inserted with one Core executemany per table at the end (the ORM
    unit of work was the largest single cost per message in the webhook benchmark)."""

    def __init__(self, events: list[InboundEvent] | None = None) -> None:
        self.messages: list[dict[str, object]] = []
        self.outbound: list[dict[str, object]] = []
        self.processed: list[int] = []
        self.events = events or []
        self.queued_elsewhere = False  # ticket messages to staff, written by bot/feedback
        self.deferred: dict[int, float] = {}  # event id → look at it again in this many s

    def defer(self, event_id: int, seconds: float) -> None:
        """Leave the event unprocessed: its claim lapses in ``seconds`` and it is taken again."""
        self.deferred[event_id] = seconds

    def forget(self, resident: Resident, conversation_id: int | None, before_event: int) -> None:
        """An erasure in the middle of a batch also covers what this batch has not written
        yet: queued log rows and replies, and the raw payloads of earlier events."""
        self.messages = [m for m in self.messages if m["conversation_id"] != conversation_id]
        self.outbound = [o for o in self.outbound if o["resident_id"] != resident.id]
        for event in self.events:
            if (
                event.id < before_event
                and event.commune_id == resident.commune_id
                and event.channel == resident.channel
                and event.external_user_id == resident.external_id
            ):
                event.payload = {"redacted": True}

    def message(
        self,
        commune_id: int,
        conversation_id: int,
        direction: str,
        *,
        inbound_event_id: int | None = None,
        text: str | None = None,
        attachments: list[dict[str, object]] | None = None,
        intent: str | None = None,
        confidence: float | None = None,
    ) -> None:
        self.messages.append(
            dict(
                commune_id=commune_id,
                conversation_id=conversation_id,
                direction=direction,
                inbound_event_id=inbound_event_id,
                text=text,
                attachments=attachments,
                intent=intent,
                confidence=confidence,
                created_at=utcnow(),
            )
        )

    async def write(self, s: AsyncSession) -> None:
        now = utcnow()
        if self.messages:
            await s.execute(insert(table_of(Message)), self.messages)
        if self.outbound:
            await s.execute(insert(table_of(OutboundMessage)), self.outbound)
        processed = [i for i in self.processed if i not in self.deferred]
        if processed:
            await s.execute(
                update(table_of(InboundEvent))
                .where(table_of(InboundEvent).c.id.in_(processed))
                .values(status="processed", processed_at=now, error=None)
            )
        for event_id, seconds in self.deferred.items():
            await s.execute(
                update(table_of(InboundEvent))
                .where(table_of(InboundEvent).c.id == event_id)
                .values(claimed_at=now - LEASE + timedelta(seconds=seconds))
            )


class InboundChannel(Protocol):
    name: str

    def to_inbound(self, event: InboundEvent) -> Inbound: ...


class InboundProcessor(Worker):
    topic = EVENTS_TOPIC

    def __init__(
        self,
        sm: async_sessionmaker,
        tenants: Tenants,
        coord: Coordinator,
        channels: dict[str, InboundChannel],
        batch: int = 200,
        nlu: Backend | None = None,
        feedback: FeedbackSettings | None = None,
        staff_echo_pause_s: float = 1800,
    ) -> None:
        super().__init__(coord)
        self.staff_echo_pause_s = staff_echo_pause_s  # config zalo.staff_echo_pause_s
        self.feedback = feedback or FeedbackSettings()
        self.nlu = nlu or EmbeddedBackend()
        self.sm = sm
        self.tenants = tenants
        self.channels = channels
        self.batch = batch
        self.worker = worker_id()
        self.chain = handlers.chain(self.feedback.handoff_after_misses)
        self._held_back = False  # the last claim held an event back (see ``claim``)
        # per-batch caches filled by _preload
        self._residents: dict[tuple[int, str, str], Resident] = {}
        self._conversations: dict[int, Conversation] = {}
        #: resident id → (code, answered at) of their answered ticket awaiting a rating
        self._awaiting_rating: dict[int, tuple[str, datetime | None]] = {}
        self._village_names: dict[int, str] = {}

    # -- claiming ------------------------------------------------------------------------
    async def claim(self) -> list[int]:
        """Claim up to ``batch`` events in id order — except an event whose resident (same
        commune, channel, sender) has an older event still ``received`` or ``processing`` that
        this claim does not take (another worker holds it, or it is locked by a claim under
        way): it is held back, without counting an attempt, until that one is done, so one
        resident's messages are handled in order even with several workers. Delivery receipts
        and echoes are exempt (they neither wait nor hold anyone up)."""
        now = utcnow()
        self._held_back = False
        claimable = or_(
            InboundEvent.status == "received",
            (InboundEvent.status == "processing") & (InboundEvent.claimed_at < now - LEASE),
        )
        async with self.sm() as s, s.begin():
            if s.bind.dialect.name == "sqlite":
                # one process owns a SQLite file and runs one processor: id order is the
                # resident's order, in one statement (the single connection is shared with the
                # webhook, so fewer statements here are shorter waits there)
                return await self._claim_in_order(s, claimable, now)
            candidates = (
                await s.execute(
                    select(
                        InboundEvent.id,
                        InboundEvent.commune_id,
                        InboundEvent.channel,
                        InboundEvent.external_user_id,
                        InboundEvent.event_name,
                    )
                    .where(claimable)
                    .order_by(InboundEvent.id)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not candidates:
                return []
            taken = {c.id for c in candidates}
            keys = {
                (c.commune_id, c.channel, c.external_user_id)
                for c in candidates
                if c.external_user_id and not unordered(c.event_name)
            }
            first_elsewhere: dict[tuple[int, str, str], int] = {}
            if keys:
                older = await s.execute(
                    select(
                        InboundEvent.commune_id,
                        InboundEvent.channel,
                        InboundEvent.external_user_id,
                        func.min(InboundEvent.id),
                    )
                    .where(
                        tuple_(
                            InboundEvent.commune_id,
                            InboundEvent.channel,
                            InboundEvent.external_user_id,
                        ).in_(list(keys)),
                        InboundEvent.status.in_(["received", "processing"]),
                        InboundEvent.id.not_in(taken),
                        InboundEvent.id < max(taken),
                        ~ORDER_EXEMPT,
                    )
                    .group_by(
                        InboundEvent.commune_id,
                        InboundEvent.channel,
                        InboundEvent.external_user_id,
                    )
                )
                first_elsewhere = {(c, ch, u): first for c, ch, u, first in older.all()}
            ids = [
                c.id
                for c in candidates
                if unordered(c.event_name)
                or not c.external_user_id
                or c.id
                < first_elsewhere.get((c.commune_id, c.channel, c.external_user_id), c.id + 1)
            ]
            self._held_back = len(ids) < len(candidates)
            if not ids:
                return []
            return await self._mark_claimed(s, InboundEvent.id.in_(ids), now)

    async def _claim_in_order(self, s: AsyncSession, claimable: Any, now: datetime) -> list[int]:
        """The oldest ``batch`` claimable events, claimed in one statement."""
        oldest = (
            select(InboundEvent.id).where(claimable).order_by(InboundEvent.id).limit(self.batch)
        )
        return await self._mark_claimed(s, InboundEvent.id.in_(oldest.scalar_subquery()), now)

    async def _mark_claimed(self, s: AsyncSession, which: Any, now: datetime) -> list[int]:
        """Claim the events ``which`` selects for this worker (the one claim statement)."""
        claimed = await s.execute(
            update(InboundEvent)
            .where(which)
            .values(
                status="processing",
                claimed_at=now,
                claimed_by=self.worker,
                attempts=InboundEvent.attempts + 1,
            )
            .returning(InboundEvent.id)
        )
        return sorted(claimed.scalars())

    def wait_s(self, poll_s: float) -> float:
        """A resident's event held back for an older one another worker has: look again soon."""
        return min(poll_s, HOLD_BACK_S) if self._held_back else poll_s

    async def run_once(self) -> int:
        ids = await self.claim()
        if not ids:
            return 0
        try:
            wrote_outbound = await self.process_batch(ids)
        except Exception:  # noqa: BLE001 - isolate the bad event: one by one
            log.warning("batch of %d events failed; processing one by one", len(ids), exc_info=True)
            wrote_outbound = False
            owners = await self._owners(ids)
            stalled: set[tuple[int, str, str]] = set()  # residents whose earlier event failed
            for event_id in ids:
                owner = owners.get(event_id)
                if owner in stalled:  # keep their order: after the failed one, not before it
                    await self._release(event_id)
                    continue
                try:
                    wrote_outbound |= await self.process_batch([event_id])
                except Exception as exc:  # noqa: BLE001 - one bad event must not stop the rest
                    log.exception("processing inbound event %s failed", event_id)
                    await self._failed(event_id, exc)
                    if owner is not None:
                        stalled.add(owner)
        if wrote_outbound:
            await self.coord.publish(OUTBOUND_TOPIC)
        return len(ids)

    async def _owners(self, ids: list[int]) -> dict[int, tuple[int, str, str]]:
        """The resident (commune, channel, sender) of each event whose order matters."""
        async with self.sm() as s:
            rows = await s.execute(
                select(
                    InboundEvent.id,
                    InboundEvent.commune_id,
                    InboundEvent.channel,
                    InboundEvent.external_user_id,
                    InboundEvent.event_name,
                ).where(InboundEvent.id.in_(ids))
            )
            return {
                r.id: (r.commune_id, r.channel, r.external_user_id)
                for r in rows
                if r.external_user_id and not unordered(r.event_name)
            }

    async def _release(self, event_id: int) -> None:
        """Back to ``received`` without counting an attempt (claimed again after the failed
        event of the same resident, which the claim keeps first)."""
        async with self.sm() as s, s.begin():
            event = await s.get(InboundEvent, event_id)
            if event is not None and event.status == "processing":
                event.status = "received"
                event.attempts = max(0, event.attempts - 1)

    async def _failed(self, event_id: int, exc: Exception) -> None:
        async with self.sm() as s, s.begin():
            event = await s.get(InboundEvent, event_id)
            if event is None:
                return
            event.error = f"{type(exc).__name__}: {exc}"[:2000]
            event.status = "failed" if event.attempts >= MAX_ATTEMPTS else "received"

    # -- processing ----------------------------------------------------------------------
    async def process_batch(self, ids: list[int]) -> bool:
        """Process claimed events in one transaction: residents and conversations are loaded
        and created for the whole batch at once, events applied in id order (so one resident's
        messages keep their order). Returns whether outbound rows were written.

        A remote NLU backend (Rasa) is asked before the transaction opens, so no database
        connection waits on the network."""
        understood = await self._understand_ahead(ids) if self.nlu.remote else {}
        try:
            async with self.sm() as s, s.begin():
                events = (
                    (
                        await s.execute(
                            select(InboundEvent)
                            .where(
                                InboundEvent.id.in_(ids),
                                InboundEvent.status == "processing",
                                InboundEvent.claimed_by == self.worker,
                            )
                            .order_by(InboundEvent.id)
                            .with_for_update()
                        )
                    )
                    .scalars()
                    .all()
                )
                work = [
                    (
                        event,
                        self.tenants.by_id(event.commune_id),
                        self.channels[event.channel].to_inbound(event),
                    )
                    for event in events
                ]
                await self._preload(
                    s,
                    [
                        (e.commune_id, e.channel, i.user_id)
                        for e, _, i in work
                        if i.user_id and i.kind not in NO_RESIDENT
                    ],
                )
                notices = await self._current_notices(
                    s, {e.commune_id for e, _, i in work if i.kind == "message"}
                )
                await self._ticket_context(s)
                rows = _Rows(events)
                for n, (event, tenant, inbound) in enumerate(work, 1):
                    if n % 10 == 0:
                        # the batch is CPU work between awaits: let waiting webhooks answer
                        await asyncio.sleep(0)
                    await self._apply(
                        s,
                        tenant,
                        event,
                        inbound,
                        rows,
                        understood.get(event.id),
                        notices.get(event.commune_id, []),
                    )
                    rows.processed.append(event.id)
                await rows.write(s)
                return bool(rows.outbound) or rows.queued_elsewhere
        finally:
            self._residents.clear()
            self._conversations.clear()
            self._awaiting_rating.clear()

    async def _understand_ahead(self, ids: list[int]) -> dict[int, Understanding]:
        async with self.sm() as s:
            events = (
                (
                    await s.execute(
                        select(InboundEvent).where(
                            InboundEvent.id.in_(ids), InboundEvent.claimed_by == self.worker
                        )
                    )
                )
                .scalars()
                .all()
            )
        asks: dict[int, Awaitable[Understanding]] = {}
        for event in events:
            inbound = self.channels[event.channel].to_inbound(event)
            if inbound.kind == "message" and engine.needs_nlu(inbound.text, None):
                commune = self.tenants.by_id(event.commune_id).config
                asks[event.id] = self.nlu.understand(inbound.text or "", commune.villages)
        answers = await asyncio.gather(*asks.values())
        return dict(zip(asks, answers))

    async def _current_notices(
        self, s: AsyncSession, commune_ids: set[int]
    ) -> dict[int, list[tuple[NoticeSummary, tuple[int, ...]]]]:
        """The notices each commune has sent that still hold (newest first), for "có thông báo
        gì mới không"; with the villages each is for."""
        if not commune_ids:
            return {}
        now = utcnow()
        rows = (
            (
                await s.execute(
                    select(Notice)
                    .where(
                        Notice.commune_id.in_(commune_ids),
                        Notice.status.in_(["sending", "sent"]),
                        Notice.msg_type == "alert",
                        or_(Notice.expires_at.is_(None), Notice.expires_at > now),
                        Notice.updated_at > now - CURRENT_NOTICES,
                    )
                    .order_by(Notice.id.desc())
                    .limit(20 * len(commune_ids))
                )
            )
            .scalars()
            .all()
        )
        out: dict[int, list[tuple[NoticeSummary, tuple[int, ...]]]] = {}
        for n in rows:
            out.setdefault(n.commune_id, []).append(
                (NoticeSummary(n.headline, n.sent_at or n.updated_at), tuple(n.village_ids))
            )
        return out

    def _rating_asked(self, resident_id: int, previous_contact: datetime | None) -> str | None:
        """The code whose rating question is the last thing the resident read: an answered
        ticket answered after their previous message."""
        code, answered_at = self._awaiting_rating.get(resident_id, (None, None))
        if code is None or (
            previous_contact is not None
            and as_utc(cast(datetime, answered_at)) <= as_utc(previous_contact)
        ):
            return None
        return code

    async def _ticket_context(self, s: AsyncSession) -> None:
        """For the batch's residents: an answered ticket awaiting their rating, and the names
        of the villages they live in (a report's default village)."""
        ids = [r.id for r in self._residents.values()]
        if not ids:
            return
        rows = await s.execute(
            select(Ticket.resident_id, Ticket.code, Ticket.answered_at)
            .where(
                Ticket.resident_id.in_(ids),
                Ticket.rating.is_(None),
                Ticket.answer.is_not(None),
                Ticket.status.in_(["answered", "duplicate"]),
            )
            .order_by(Ticket.answered_at)
        )
        self._awaiting_rating = {r: (code, at) for r, code, at in rows.all() if r is not None}
        village_ids = {r.village_id for r in self._residents.values() if r.village_id}
        if village_ids and not village_ids <= set(self._village_names):
            named = await s.execute(
                select(Village.id, Village.name).where(Village.id.in_(village_ids))
            )
            self._village_names.update({vid: name for vid, name in named.all()})

    async def _conversation_for(self, s: AsyncSession, key: tuple[int, str, str]) -> Conversation:
        """The conversation of one person of this batch, loaded or created if the batch had
        not (an echo of staff typing: such events make no resident row otherwise)."""
        if key not in self._residents:
            await self._preload(s, [*self._residents, key])
        return self._conversations[self._residents[key].id]

    async def _preload(self, s: AsyncSession, wanted: list[tuple[int, str, str]]) -> None:
        """Load or create the resident and conversation of every key, for ``_apply``."""
        keys = set(wanted)
        if not keys:
            return
        found = (
            (
                await s.execute(
                    select(Resident).where(
                        tuple_(Resident.commune_id, Resident.channel, Resident.external_id).in_(
                            list(keys)
                        )
                    )
                )
            )
            .scalars()
            .all()
        )
        self._residents = {(r.commune_id, r.channel, r.external_id): r for r in found}
        missing = [
            Resident(commune_id=c, channel=ch, external_id=u, language="vi", is_follower=False)
            for (c, ch, u) in keys - set(self._residents)
        ]
        if missing:
            s.add_all(missing)
            await s.flush()
            self._residents.update({(r.commune_id, r.channel, r.external_id): r for r in missing})
        residents = list(self._residents.values())
        convs = (
            (
                await s.execute(
                    select(Conversation).where(
                        Conversation.resident_id.in_([r.id for r in residents])
                    )
                )
            )
            .scalars()
            .all()
        )
        self._conversations = {c.resident_id: c for c in convs}
        new = [
            Conversation(commune_id=r.commune_id, resident_id=r.id, mode="bot", state={})
            for r in residents
            if r.id not in self._conversations
        ]
        if new:
            s.add_all(new)
            await s.flush()
            self._conversations.update({c.resident_id: c for c in new})

    async def _apply(
        self,
        s: AsyncSession,
        tenant: Tenant,
        event: InboundEvent,
        inbound: Inbound,
        rows: _Rows,
        understood: Understanding | None = None,
        notices: Sequence[tuple[NoticeSummary, tuple[int, ...]]] = (),
    ) -> None:
        """One event: what concerns our own messages or nobody here; a resident's event goes
        through the handlers' chain (bot/handlers/) and its outcome is written (``_write``)."""
        kind = inbound.kind
        if kind in {"received", "seen"}:
            await self._delivery_state(s, tenant, event.channel, inbound, kind)
        if kind == "echo":  # our own send, or staff typing in OA Manager (bot/echoes.py)
            key = (tenant.id, event.channel, inbound.user_id or "")
            await echoes.apply_echo(
                s,
                event,
                inbound,
                utcnow(),
                self.staff_echo_pause_s,
                lambda: self._conversation_for(s, key),
                lambda conv_id, text, attachments: rows.message(
                    tenant.id,
                    conv_id,
                    "out",
                    inbound_event_id=event.id,
                    text=text,
                    attachments=attachments,
                    intent=echoes.STAFF_INTENT,
                    confidence=1.0,
                ),
                lambda seconds: rows.defer(event.id, seconds),
            )
            return
        if kind == "revoked" and tenant.config.zalo:  # the OA withdrew the app's access
            await echoes.apply_revoked(s, tenant.config.zalo.oa_id)
            return
        if kind in NO_RESIDENT or not inbound.user_id:
            return
        resident = self._residents[(tenant.id, event.channel, inbound.user_id)]
        if inbound.user_id_by_app:
            resident.user_id_by_app = inbound.user_id_by_app
        if inbound.origin:  # web chat: reports are capped per address (bot/feedback/flood.py)
            resident.origin_key = inbound.origin
        now = event.received_at
        if kind == "withdraw":  # consent withdrawn on Zalo: who they are goes, the matters stay
            await privacy.erase_resident(s, resident, scope="identity", source="withdraw")
            conv = self._conversations.get(resident.id)
            rows.forget(resident, conv.id if conv else None, event.id)
            return
        if kind == "unfollow":
            resident.is_follower = False
            return
        previous_contact = resident.last_interaction_at
        resident.last_interaction_at = now
        resident.window_closed_at = None
        resident.window_error = None
        if resident.erased_at is not None:
            resident.erased_at = None
        if kind == "message":  # the reply's language, and the resident's from now on
            resident.language = language.choose(inbound.language or resident.language, inbound.text)
        ctx = Context(
            s,
            tenant.id,
            # config.yml's facts with the console's edits (the one resolver, cached)
            await facts_store.effective(s, tenant.id, tenant.config),
            self.feedback,
            event,
            inbound,
            resident,
            self._conversations[resident.id],
            now,
            understood,
            [n for n, villages in notices if not villages or resident.village_id in villages],
            self._rating_asked(resident.id, previous_contact),
            self._village_names.get(resident.village_id or 0),
        )
        outcome = await handlers.run(self.chain, ctx)
        if outcome is not None:
            await self._write(ctx, outcome, rows, notices)

    async def _write(
        self,
        ctx: Context,
        outcome: Outcome,
        rows: _Rows,
        notices: Sequence[tuple[NoticeSummary, tuple[int, ...]]],
    ) -> None:
        """A handler's outcome, written in the event's transaction: the conversation state,
        the effects (an erasure first; feedback through its one door, ``intake.apply``), the
        message and replies logged (``bot nlu misses`` reads them, per commune), the replies
        queued."""
        s, resident, conv, event = ctx.s, ctx.resident, ctx.conversation, ctx.event
        if outcome.state is not None:
            conv.state = dict(outcome.state)
        replies = list(outcome.replies)
        erased = any(isinstance(e, Erase) for e in outcome.effects)
        if erased:  # "xóa thông tin của tôi", confirmed: said in their language, before it goes
            with use_language(resident.language):
                done = erasure.done()
            await privacy.erase_resident(s, resident, scope="all", source="chat")
            rows.forget(resident, conv.id, event.id)  # with what this batch has not written yet
            replies = [done]
        for effect in outcome.effects:
            if isinstance(effect, Erase):
                continue
            if isinstance(effect, Topic):
                await set_topic_preference(s, resident, effect.topic, effect.subscribed)
            elif isinstance(effect, SetLanguage):
                resident.language = effect.language
            elif isinstance(effect, SetVillage):
                replies += await self._set_village(
                    s, ctx.commune_id, resident, effect.village, notices, ctx.now
                )
            else:
                replies += await intake.apply(
                    s, ctx.commune_id, ctx.commune, self.feedback, resident, conv, effect, ctx.now
                )
                rows.queued_elsewhere = True
                if isinstance(effect, (Rate, Reopen)):
                    self._awaiting_rating.pop(resident.id, None)
        replies += outcome.then  # after what the effects said (engine.TurnResult.then)
        if outcome.staff_told:
            rows.queued_elsewhere = True
        if outcome.logged:
            rows.message(
                ctx.commune_id,
                conv.id,
                "in",
                inbound_event_id=event.id,
                text=None if erased else ctx.text,
                attachments=None
                if erased or not outcome.with_attachments
                else ctx.inbound.attachments or None,
                intent=outcome.intent,
                confidence=outcome.confidence,
            )
            for reply in replies:
                rows.message(
                    ctx.commune_id,
                    conv.id,
                    "out",
                    text=engine.text_of(reply),
                    intent=outcome.out_intent,
                    confidence=outcome.reply_confidence,
                )
        self._queue(rows, ctx.commune_id, event, ctx.inbound, resident, replies)

    async def _set_village(
        self,
        s: AsyncSession,
        commune_id: int,
        resident: Resident,
        name: str | None,
        notices: Sequence[tuple[NoticeSummary, tuple[int, ...]]],
        now: datetime,
    ) -> list[Reply]:
        """Record where the resident lives (None: none of the commune's villages); the
        village's notices still current are listed, so one they missed is not lost."""
        village = await village_by_name(s, commune_id, name) if name else None
        resident.village_id = village.id if village else None
        resident.village_asked_at = resident.village_asked_at or now  # answered: never asked
        if village is None:
            return []
        self._village_names[village.id] = village.name
        missed = [n for n, villages in notices if village.id in villages]
        if not missed:
            return []
        _ = gettext_for(resident.language)
        lines = [f"• {to_vn(n.sent_at):%d/%m}: {n.headline}" for n in missed[:5]]
        return [
            Text(
                "\n".join(
                    [_("Thông báo gần đây cho {village}:").format(village=village.name), *lines]
                )
            )
        ]

    @staticmethod
    def _queue(
        rows: _Rows,
        commune_id: int,
        event: InboundEvent,
        inbound: Inbound,
        resident: Resident,
        replies: list[Reply],
    ) -> None:
        """Replies become outbound rows keyed by the event (``reply:<event id>:<n>``)."""
        rows.outbound += [
            outbound_row(
                commune_id,
                resident.id,
                event.channel,
                cast(str, inbound.user_id),  # a resident's event names its sender
                f"reply:{event.id}:{n}",
                reply,
                0,
            )
            for n, reply in enumerate(replies)
        ]

    async def _delivery_state(
        self, s: AsyncSession, tenant: Tenant, channel: str, inbound: Inbound, kind: str
    ) -> None:
        ids = list(inbound.msg_ids) or ([inbound.msg_id] if inbound.msg_id else [])
        if not ids:
            return
        outbound_ids = select(ProviderMessage.outbound_id).where(
            ProviderMessage.commune_id == tenant.id,
            ProviderMessage.channel == channel,
            ProviderMessage.provider_message_id.in_(ids),
        )
        column = OutboundMessage.seen_at if kind == "seen" else OutboundMessage.delivered_at
        await s.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(outbound_ids.scalar_subquery()), column.is_(None))
            .values({column: utcnow()})
        )


async def set_topic_preference(
    s: AsyncSession, resident: Resident, topic: str, subscribed: bool
) -> None:
    """Record a resident's choice; subscribing to everything clears every earlier choice."""
    if topic == "*" and subscribed:
        await s.execute(delete(TopicPreference).where(TopicPreference.resident_id == resident.id))
        return
    pref = (
        await s.execute(
            select(TopicPreference).where(
                TopicPreference.resident_id == resident.id, TopicPreference.topic == topic
            )
        )
    ).scalar_one_or_none()
    if pref is None:
        s.add(
            TopicPreference(
                commune_id=resident.commune_id,
                resident_id=resident.id,
                topic=topic,
                subscribed=subscribed,
            )
        )
    else:
        pref.subscribed = subscribed
