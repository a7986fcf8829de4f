"""The SLA clock: while a ticket is open, the resident hears how it goes every
``progress_every_days`` working days; the leader and the office are alerted
``warn_before_days`` before the deadline and again when it passes (the ticket is then
``overdue``, which staff see in the API), and when nobody has taken a ticket up by the day
the resident must be told whether it is accepted (``ack_due_at``, Luật Tiếp công dân Điều 28).
It also hands back to the bot the conversations no staff member took in time
(bot/feedback/handoff.py).

Every process may run it: due tickets are locked with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL;
SQLite has one writer), each step clears the time it acted on in the same transaction, and the
staff alerts have idempotency keys.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot import audit
from bot.config import FeedbackSettings
from bot.coord import Coordinator
from bot.feedback import handoff, service, sla, workflow
from bot.loops import OUTBOUND_TOPIC, TICKETS_TOPIC, Worker
from bot.store.models import Ticket
from bot.tenants import Tenants
from bot.timeutil import to_vn, utcnow

log = logging.getLogger(__name__)


class SlaClock(Worker):
    topic = TICKETS_TOPIC
    batch = 100

    def __init__(
        self,
        sm: async_sessionmaker,
        tenants: Tenants,
        coord: Coordinator,
        settings: FeedbackSettings,
    ) -> None:
        super().__init__(coord)
        self.sm, self.tenants, self.settings = sm, tenants, settings

    async def run_once(self) -> int:
        now = utcnow()
        done = queued = 0
        async with self.sm() as s, s.begin():
            due = (
                (
                    await s.execute(
                        select(Ticket)
                        .where(
                            Ticket.status.in_(workflow.OPEN),
                            (Ticket.next_progress_at <= now)
                            | (Ticket.warn_at <= now)
                            | ((Ticket.due_at <= now) & Ticket.overdue_at.is_(None))
                            | (
                                Ticket.acked_at.is_(None)
                                & (Ticket.ack_due_at <= now)
                                & Ticket.ack_escalated_at.is_(None)
                            ),
                        )
                        .order_by(Ticket.id)
                        .limit(self.batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            for ticket in due:
                commune = self.tenants.by_id(ticket.commune_id).config
                cal = sla.calendar(commune, self.settings)
                if (
                    ticket.acked_at is None
                    and ticket.ack_due_at <= now
                    and ticket.ack_escalated_at is None
                ):
                    ticket.ack_escalated_at = now
                    audit.ticket(
                        s,
                        ticket,
                        "unacknowledged",
                        actor="system",
                        note="chưa thụ lý khi hết hạn báo cho người dân",
                    )
                    queued += await service.tell_staff(s, ticket, commune, "unacknowledged")
                if ticket.due_at <= now and ticket.overdue_at is None:
                    ticket.overdue_at = now
                    ticket.warn_at = None
                    audit.ticket(
                        s,
                        ticket,
                        "overdue",
                        actor="system",
                        note=f"quá hạn {to_vn(ticket.due_at):%d/%m/%Y %H:%M}",
                    )
                    queued += await service.tell_staff(s, ticket, commune, "overdue")
                elif ticket.warn_at is not None and ticket.warn_at <= now:
                    ticket.warn_at = None
                    audit.ticket(s, ticket, "warn", actor="system", note="sắp đến hạn")
                    queued += await service.tell_staff(s, ticket, commune, "warn")
                if ticket.next_progress_at is not None and ticket.next_progress_at <= now:
                    ticket.progress_sent += 1
                    ticket.next_progress_at = cal.morning_after(
                        now, self.settings.progress_every_days
                    )
                    event = audit.ticket(
                        s,
                        ticket,
                        "progress",
                        actor="system",
                        note=f"tin tiến độ lần {ticket.progress_sent}",
                    )
                    await s.flush()
                    if ticket.resident_id:
                        await service.notify_resident(s, ticket, commune, event, "progress")
                        queued += 1
                done += 1
            expired = await handoff.expire_due(s, self.tenants, now, self.batch)
            done, queued = done + expired, queued + expired
        if queued:
            await self.coord.publish(OUTBOUND_TOPIC)
        return done

    async def run_forever(self, poll_s: float = 30.0) -> None:
        await super().run_forever(poll_s)
