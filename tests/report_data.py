"""The yearly report's seeded data set, shared by its figures, CLI and browser tests: province
15 with communes A (99101) and B (99102), and commune C (99103) of province 16 whose rows
must never count. The report year 2026: 15/12/2025 … 14/12/2026; ``NOW`` is 04/12/2026 10:00
in Vietnam. The numbers each test expects are worked out by hand in tests/test_report.py.

Communes and villages come from the configuration (``config``), mirrored by ``tenants.sync``;
the rest is written here. Times are Vietnamese wall-clock times (``vn``) stored as UTC."""

from __future__ import annotations

from datetime import datetime
from itertools import count
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, settings_from_dict
from bot.store.models import (
    Commune,
    Conversation,
    Message,
    Notice,
    NoticeAudit,
    NoticeBroadcast,
    NoticeDelivery,
    NoticeRelay,
    OutboundMessage,
    Resident,
    Staff,
    Ticket,
    TicketEvent,
    Village,
    ZaloToken,
)
from bot.timeutil import from_vn_local

A, B, C = "99101", "99102", "99103"
OA_A, OA_B, OA_C = "5000000000000000101", "5000000000000000102", "5000000000000000103"


def vn(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return from_vn_local(datetime(year, month, day, hour, minute))


NOW = vn(2026, 12, 4)
HOURS = [{"days": "mon-fri", "open": "07:30", "close": "11:30"}]


def config(store_url: str) -> dict[str, Any]:
    def commune(code: str, name: str, province: str, oa: str, villages: list) -> dict:
        return {
            "code": code,
            "name": name,
            "province_code": province,
            "office_hours": HOURS,
            "address": f"UBND {name}",
            "phone": "0214 000 001",
            "villages": villages,
            "zalo": {"oa_id": oa, "app_id": "app1", "oa_secret_key": "secret"},
        }

    return {
        "service": {"secret_key": "test-secret-key", "public_url": "http://127.0.0.1:1"},
        "database_url": store_url,
        "zalo": {"apps": [{"app_id": "app1", "app_secret": "app-secret"}]},
        "communes": [
            commune(
                A,
                "Xã Hồng <Hà>",  # escaped in the HTML
                "15",
                OA_A,
                [{"name": "Thôn 1", "households": 120}, {"name": "Thôn 2", "households": 80}],
            ),
            commune(B, "Xã Bình Minh", "15", OA_B, [{"name": "Bản Mới"}]),
            commune(C, "Xã Khác Tỉnh", "16", OA_C, [{"name": "Thôn Xa", "households": 10}]),
        ],
    }


def settings(store_url: str) -> Settings:
    return settings_from_dict(config(store_url), env={})


_n = count(1)


class Seed:
    def __init__(self, s: AsyncSession) -> None:
        self.s = s
        self.ids: dict[str, int] = {}
        self.villages: dict[str, int] = {}
        self.conversations: dict[int, int] = {}

    async def load(self) -> None:
        for code, cid in await self.s.execute(select(Commune.code, Commune.id)):
            self.ids[code] = cid
        for name, vid in await self.s.execute(select(Village.name, Village.id)):
            self.villages[name] = vid

    async def add(self, row: Any) -> Any:
        self.s.add(row)
        await self.s.flush()
        return row

    async def resident(self, code: str, follower: bool = True, erased: bool = False) -> Resident:
        return await self.add(
            Resident(
                commune_id=self.ids[code],
                channel="zalo",
                external_id=f"r{next(_n)}",
                is_follower=follower,
                erased_at=NOW if erased else None,
            )
        )

    async def said(self, code: str, at: datetime, intent: str, direction: str = "in") -> None:
        cid = self.ids[code]
        if cid not in self.conversations:
            r = await self.resident(code, follower=False)
            conv = await self.add(Conversation(commune_id=cid, resident_id=r.id, state={}))
            self.conversations[cid] = conv.id
        confidence = 0.2 if intent == "nlu_fallback" else 0.95
        await self.add(
            Message(
                commune_id=cid,
                conversation_id=self.conversations[cid],
                direction=direction,
                text="giờ làm việc của xã",
                intent=intent,
                confidence=confidence,
                created_at=at,
            )
        )

    async def staff(self, code: str, role: str, village: str | None, active: bool = True) -> Staff:
        return await self.add(
            Staff(
                commune_id=self.ids[code],
                name=f"Cán bộ {next(_n)}",
                role=role,
                village_id=self.villages[village] if village else None,
                active=active,
            )
        )

    async def notice(
        self,
        code: str,
        sent: datetime | None,
        category: str,
        priority: str,
        cap: bool = False,
    ) -> Notice:
        n = await self.add(
            Notice(
                commune_id=self.ids[code],
                category=category,
                priority=priority,
                headline="Thông báo",
                body="Nội dung",
                status="sent" if sent else "draft",
                sent_at=sent,
            )
        )
        await self.add(
            NoticeAudit(
                commune_id=n.commune_id,
                notice_id=n.id,
                action="import" if cap else "create",
                to_status="draft",
            )
        )
        return n

    async def delivery(
        self, notice: Notice, resident: Resident, route: str, send: str = ""
    ) -> None:
        outbound_id = None
        if send:
            o = await self.add(
                OutboundMessage(
                    commune_id=notice.commune_id,
                    resident_id=resident.id,
                    channel="zalo",
                    recipient=resident.external_id,
                    idempotency_key=f"notice:{notice.id}:{resident.id}",
                    kind="text",
                    payload={},
                    status=send,
                    notice_id=notice.id,
                )
            )
            outbound_id = o.id
        await self.add(
            NoticeDelivery(
                commune_id=notice.commune_id,
                notice_id=notice.id,
                resident_id=resident.id,
                route=route,
                reason="test",
                outbound_id=outbound_id,
            )
        )

    async def broadcast(self, notice: Notice, status: str) -> None:
        await self.add(
            NoticeBroadcast(commune_id=notice.commune_id, notice_id=notice.id, status=status)
        )

    async def relay(
        self, notice: Notice, village: str, staff: Staff, confirmed: datetime | None
    ) -> None:
        await self.add(
            NoticeRelay(
                commune_id=notice.commune_id,
                notice_id=notice.id,
                village_id=self.villages[village],
                staff_id=staff.id,
                confirmed_at=confirmed,
            )
        )

    async def ticket(
        self,
        code: str,
        category: str,
        source: str,
        received: datetime,
        due: datetime,
        answered: datetime | None = None,
        rating: int | None = None,
    ) -> None:
        n = next(_n)
        t = await self.add(
            Ticket(
                commune_id=self.ids[code],
                code=f"PA-2026-{n:06d}",
                token=f"rtok{n}",
                source=source,
                category=category,
                description="phản ánh",
                office="vp",
                status="answered" if answered else "in_progress",
                received_at=received,
                ack_due_at=received,
                due_at=due,
                answered_at=answered,
                rating=rating,
                updated_at=answered or received,
            )
        )
        if answered:
            await self.add(
                TicketEvent(
                    commune_id=t.commune_id,
                    ticket_id=t.id,
                    actor="staff",
                    action="answer",
                    from_status="in_progress",
                    to_status="answered",
                    at=answered,
                )
            )


async def seed(s: AsyncSession) -> None:
    """Everything but the communes and villages (mirrored from ``config`` first)."""
    d = Seed(s)
    await d.load()
    # -- propagandists: A's Thôn 1 has an active one; Thôn 2's is inactive and its officer is
    # not a propagandist; B's Bản Mới has one; C's too (another province)
    ttv1 = await d.staff(A, "propagandist", "Thôn 1")
    ttv2 = await d.staff(A, "propagandist", "Thôn 2", active=False)
    await d.staff(A, "officer", "Thôn 2")
    await d.staff(B, "propagandist", "Bản Mới")
    await d.staff(C, "propagandist", "Thôn Xa")
    # -- followers: A 5 (+ one erased, + one who does not follow); B 2; C 3
    ra = [await d.resident(A) for _ in range(5)]
    await d.resident(A, erased=True)
    await d.resident(A, follower=False)
    rb = [await d.resident(B) for _ in range(2)]
    rc = [await d.resident(C) for _ in range(3)]
    # -- notices of A
    n1 = await d.notice(A, vn(2026, 1, 10), "safety", "emergency", cap=True)
    await d.delivery(n1, ra[0], "consultation", "sent")
    await d.delivery(n1, ra[1], "consultation", "failed")
    await d.delivery(n1, ra[2], "broadcast")
    await d.delivery(n1, ra[3], "skipped")
    await d.broadcast(n1, "sent")
    await d.relay(n1, "Thôn 1", ttv1, vn(2026, 1, 10, 11))
    await d.relay(n1, "Thôn 2", ttv2, None)
    n2 = await d.notice(A, vn(2026, 11, 20), "policy", "normal")
    await d.delivery(n2, ra[0], "consultation", "sent")
    await d.delivery(n2, ra[4], "relay")
    await d.relay(n2, "Thôn 1", ttv1, vn(2026, 11, 21))
    # before the window (14/12/2025 23:30) and a draft: never counted
    n3 = await d.notice(A, vn(2025, 12, 14, 23, 30), "policy", "normal", cap=True)
    await d.delivery(n3, ra[4], "consultation", "sent")
    await d.relay(n3, "Thôn 2", ttv2, vn(2025, 12, 15))
    await d.notice(A, None, "policy", "normal")
    # -- notices of B and C
    n5 = await d.notice(B, vn(2026, 6, 1), "services", "priority")
    await d.delivery(n5, rb[0], "consultation", "sent")
    n6 = await d.notice(C, vn(2026, 6, 1), "safety", "normal", cap=True)
    await d.delivery(n6, rc[0], "consultation", "sent")
    # -- residents' messages
    await d.said(A, vn(2026, 3, 1), "office_hours")
    await d.said(A, vn(2026, 3, 2), "nlu_fallback")  # missed
    await d.said(A, vn(2026, 12, 14, 23, 30), "office_hours")  # the window's last day
    await d.said(A, vn(2026, 12, 15, 0, 10), "office_hours")  # after it
    await d.said(A, vn(2025, 12, 14, 23, 59), "office_hours")  # before it
    await d.said(A, vn(2026, 3, 1), "office_hours", direction="out")  # the bot's own
    await d.said(B, vn(2026, 5, 5), "office_hours")
    await d.said(B, vn(2026, 5, 6), "office_hours")
    await d.said(C, vn(2026, 5, 6), "nlu_fallback")
    # -- tickets
    await d.ticket(A, "road", "zalo", vn(2026, 3, 1), vn(2026, 3, 10), vn(2026, 3, 5), 5)
    await d.ticket(A, "road", "web", vn(2026, 3, 1), vn(2026, 3, 10), vn(2026, 3, 12), 3)
    await d.ticket(A, "environment", "open311", vn(2026, 3, 20), vn(2026, 4, 1))  # overdue
    await d.ticket(A, "environment", "staff", vn(2026, 12, 1), vn(2026, 12, 20))  # due later
    # received before the window, due and answered in it: judged, not received
    await d.ticket(A, "road", "zalo", vn(2025, 12, 10), vn(2025, 12, 20), vn(2025, 12, 18))
    await d.ticket(B, "other", "zalo", vn(2026, 7, 1), vn(2026, 7, 10), vn(2026, 7, 9), 4)
    await d.ticket(C, "road", "staff", vn(2026, 7, 1), vn(2026, 7, 10))
    # -- OA tokens: A connected until 2099; B's refused (re-consent); C none
    await d.add(
        ZaloToken(
            oa_id=OA_A,
            app_id="app1",
            access_token_enc="x",
            refresh_token_enc="y",
            expires_at=vn(2099, 1, 1),
        )
    )
    await d.add(
        ZaloToken(
            oa_id=OA_B,
            app_id="app1",
            access_token_enc="x",
            refresh_token_enc="y",
            expires_at=vn(2099, 1, 1),
            broken_reason="invalid refresh token",
        )
    )
