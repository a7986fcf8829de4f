"""The dashboard's seeded data set, shared by its figures, HTTP and browser tests: three
communes' messages, tickets and notices around ``NOW`` (Friday 20/11/2026 10:00 in Vietnam).
The numbers each test expects are worked out by hand in tests/test_dashboard_figures.py.

Times are written as Vietnamese wall-clock times (``vn``) and stored as UTC, as the service
stores them."""

from __future__ import annotations

from datetime import datetime
from itertools import count

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import (
    Conversation,
    Message,
    Notice,
    NoticeBroadcast,
    NoticeDelivery,
    NoticeRelay,
    OutboundMessage,
    Resident,
    Staff,
    Ticket,
    TicketEvent,
    Village,
)
from bot.timeutil import from_vn_local


def vn(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A Vietnamese wall-clock time of 2026, as the UTC instant the store keeps."""
    return from_vn_local(datetime(2026, month, day, hour, minute))


NOW = vn(20, 10)
NASTY = "<script>alert(1)</script> hỏi gì đó"
HOURS = "giờ làm việc của xã"
_n = count(1)


class Seeder:
    def __init__(self, s: AsyncSession) -> None:
        self.s = s
        self.conversations: dict[int, int] = {}

    async def resident(self, commune_id: int) -> Resident:
        n = next(_n)
        r = Resident(commune_id=commune_id, channel="zalo", external_id=f"u{n}")
        self.s.add(r)
        await self.s.flush()
        return r

    async def conversation(self, commune_id: int) -> int:
        if commune_id not in self.conversations:
            r = await self.resident(commune_id)
            c = Conversation(commune_id=commune_id, resident_id=r.id, state={})
            self.s.add(c)
            await self.s.flush()
            self.conversations[commune_id] = c.id
        return self.conversations[commune_id]

    async def said(
        self,
        commune_id: int,
        at: datetime,
        text: str,
        intent: str | None = None,
        confidence: float | None = None,
        direction: str = "in",
    ) -> None:
        self.s.add(
            Message(
                commune_id=commune_id,
                conversation_id=await self.conversation(commune_id),
                direction=direction,
                text=text,
                intent=intent,
                confidence=confidence,
                created_at=at,
            )
        )

    async def ticket(
        self,
        commune_id: int,
        received: datetime,
        due: datetime,
        status: str,
        events: tuple[tuple[str, str, datetime], ...] = (),
    ) -> None:
        n = next(_n)
        t = Ticket(
            commune_id=commune_id,
            code=f"PA-2026-{n:06d}",
            token=f"tok{n}",
            source="zalo",
            category="other",
            description="ổ gà trên đường",
            office="vp",
            status=status,
            received_at=received,
            ack_due_at=received,
            due_at=due,
            answered_at=next((at for _f, to, at in events if to == "answered"), None),
        )
        self.s.add(t)
        await self.s.flush()
        for before, after, at in events:
            self.s.add(
                TicketEvent(
                    commune_id=commune_id,
                    ticket_id=t.id,
                    actor="staff",
                    action="change",
                    from_status=before,
                    to_status=after,
                    at=at,
                )
            )

    async def notice(self, commune_id: int, sent: datetime | None, status: str = "sent") -> Notice:
        n = Notice(
            commune_id=commune_id,
            category="other",
            priority="normal",
            headline="Lịch cắt điện",
            body="Cắt điện thôn 1",
            status=status,
            sent_at=sent,
        )
        self.s.add(n)
        await self.s.flush()
        return n

    async def delivery(
        self,
        notice: Notice,
        route: str,
        send: str | None = None,
        seen: datetime | None = None,
    ) -> None:
        r = await self.resident(notice.commune_id)
        outbound_id = None
        if send is not None:
            o = OutboundMessage(
                commune_id=notice.commune_id,
                resident_id=r.id,
                channel="zalo",
                recipient=r.external_id,
                idempotency_key=f"notice:{notice.id}:{r.id}",
                kind="text",
                payload={},
                status=send,
                notice_id=notice.id,
                seen_at=seen,
            )
            self.s.add(o)
            await self.s.flush()
            outbound_id = o.id
        self.s.add(
            NoticeDelivery(
                commune_id=notice.commune_id,
                notice_id=notice.id,
                resident_id=r.id,
                route=route,
                reason="test",
                outbound_id=outbound_id,
            )
        )

    async def relay(self, notice: Notice, village: str, confirmed: datetime | None) -> None:
        v = Village(commune_id=notice.commune_id, name=village, search_key=village)
        self.s.add(v)
        await self.s.flush()
        staff = Staff(commune_id=notice.commune_id, name=f"TTV {village}", role="propagandist")
        self.s.add(staff)
        await self.s.flush()
        self.s.add(
            NoticeRelay(
                commune_id=notice.commune_id,
                notice_id=notice.id,
                village_id=v.id,
                staff_id=staff.id,
                confirmed_at=confirmed,
            )
        )


async def seed(s: AsyncSession, a: int, b: int, c: int) -> None:
    """Communes ``a`` and ``b`` are asked about; ``c`` is another commune whose rows must never
    count. Called inside a transaction."""
    d = Seeder(s)
    # -- messages ---------------------------------------------------------------------------
    await d.said(a, vn(13, 23, 30), HOURS, "office_hours", 0.9)  # before the 7-day window
    await d.said(a, vn(14, 0, 0), "1", None, None)  # the window's first instant
    await d.said(a, vn(18, 23, 30), HOURS, "office_hours", 0.9)  # 18/11 (16:30 UTC)
    await d.said(a, vn(19, 0, 30), HOURS, "office_hours", 0.9)  # 19/11 (17:30 UTC on the 18th)
    await d.said(a, vn(19, 9), NASTY, "nlu_fallback", 0.3)  # missed
    await d.said(a, vn(19, 10), "Giờ làm việc của xã", "office_hours", 0.1)  # unsure: missed
    await d.said(a, vn(19, 10, 5), "ok", None, None)  # not a question
    await d.said(a, vn(19, 10, 6), "Dạ, giờ làm việc là…", direction="out")  # the bot's
    await d.said(a, vn(21, 0, 10), HOURS, "office_hours", 0.9)  # after the window (UTC 20th)
    await d.said(b, vn(20, 8), HOURS, "office_hours", 0.95)
    await d.said(b, vn(20, 8, 1), "đăng ký khai sinh", "knowledge", 0.2)  # missed
    await d.said(c, vn(20, 8), HOURS, "office_hours", 0.95)  # another commune
    # -- tickets ----------------------------------------------------------------------------
    due18, due19 = vn(18, 17), vn(19, 17)
    await d.ticket(a, vn(15, 9), due18, "answered", (("in_progress", "answered", vn(17, 9)),))
    await d.ticket(
        a,
        vn(15, 9),
        due18,
        "closed",
        (("in_progress", "answered", vn(19, 8)), ("answered", "closed", vn(19, 9))),
    )
    await d.ticket(a, vn(16, 9), due19, "in_progress")  # overdue now
    await d.ticket(a, vn(17, 9), vn(25, 17), "received")  # due after the window
    await d.ticket(a, vn(10, 9), vn(14, 17), "returned", (("received", "returned", vn(12, 9)),))
    await d.ticket(a, vn(18, 9), vn(20, 17), "received")  # due today, later: not judged yet
    await d.ticket(  # answered in time, reopened, open past its new deadline
        a,
        vn(14, 9),
        due19,
        "in_progress",
        (("in_progress", "answered", vn(15, 9)), ("answered", "in_progress", vn(16, 9))),
    )
    await d.ticket(a, vn(19, 9), vn(20, 17), "answered", (("received", "answered", vn(19, 15)),))
    await d.ticket(b, vn(19, 8), due19, "answered", (("received", "answered", vn(19, 20)),))
    await d.ticket(c, vn(19, 8), due19, "in_progress")
    # -- notices ----------------------------------------------------------------------------
    n1 = await d.notice(a, vn(17, 8))
    await d.delivery(n1, "consultation", "sent", seen=vn(17, 9))
    await d.delivery(n1, "consultation", "failed")
    await d.delivery(n1, "broadcast")
    await d.delivery(n1, "skipped")
    s.add(NoticeBroadcast(commune_id=a, notice_id=n1.id, status="sent", sent_at=vn(17, 8)))
    await d.relay(n1, "Thôn 1", vn(17, 10))
    await d.relay(n1, "Thôn 2", None)
    n2 = await d.notice(a, vn(10, 8))  # before the window
    await d.delivery(n2, "consultation", "sent")
    await d.notice(a, None, status="draft")
    n4 = await d.notice(b, vn(20, 9))
    await d.delivery(n4, "broadcast")
    # out of Zalo's quota: nobody reached (and no worker of a running service picks it up)
    s.add(NoticeBroadcast(commune_id=b, notice_id=n4.id, status="no_quota"))
    n5 = await d.notice(c, vn(19, 8))
    await d.delivery(n5, "consultation", "sent")
    await s.flush()
