"""The health page's seeded data set (issue 14), shared by the CLI, HTTP and browser tests: four
communes around the real clock (the CLI reads it), their expected problems and propagandist
registry worked out here by hand.

- C1 (province 15): OA connected, an event an hour ago, a notice two days ago; two tickets
  overdue (open past their deadline), one open not yet due, one answered late (not overdue);
  Nậm Mòn: Lò Văn Pao (Zalo id, added 100 days ago, deactivated and reactivated 10 days ago:
  since then; relays confirmed 20 and 3 days ago) and Vàng Thị Mai (no Zalo; her phone is the
  village's public contact edited in the console); Bản Phố: only Giàng A Sử, deactivated →
  uncovered. Problems: overdue_tickets (critical), villages_without_propagandist.
- C2 (province 15): the OA revoked the app (reconsent, critical), no event ever, no notice
  ever; both villages covered. Problems: reconsent, no_webhook, no_notice.
- C3 (province 66): the token expired an hour ago and nobody renewed it (critical), the last
  event 10 days ago, the last notice 40 days ago, no propagandist. Problems: expired,
  quiet_webhook, quiet_notices, villages_without_propagandist.
- C4 (province 77): healthy.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.store.models import (
    Commune,
    CommuneFacts,
    InboundEvent,
    NoticeRelay,
    Staff,
    Village,
    ZaloToken,
)
from bot.timeutil import utcnow
from tests.dashboard_data import Seeder
from tests.helpers import commune_code, oa_id

C1, C2, C3, C4 = (commune_code(n) for n in (1, 2, 3, 4))
PROVINCES = {C1: "15", C2: "15", C3: "66", C4: "77"}
MAI_PHONE = "0912 345 678"
_n = count(1)

#: (code) → the problems' keys, in the order they are said
PROBLEMS = {
    C1: ["overdue_tickets", "villages_without_propagandist"],
    C2: ["reconsent", "no_webhook", "no_notice"],
    C3: ["expired", "quiet_webhook", "quiet_notices", "villages_without_propagandist"],
    C4: [],
}
#: worst first: C3 (critical, 4 problems), C2 (critical, 3), C1 (critical, 2), C4 (none)
ORDER = [C3, C2, C1, C4]


async def seed(s: AsyncSession, now: datetime) -> dict[str, datetime]:
    """Writes the data set (inside a transaction); returns the times the tests show."""
    ids = dict((await s.execute(select(Commune.code, Commune.id))).all())
    for code, province in PROVINCES.items():
        await s.execute(update(Commune).where(Commune.code == code).values(province_code=province))
    villages = {
        (cid, name): vid
        for vid, cid, name in (
            await s.execute(select(Village.id, Village.commune_id, Village.name))
        ).all()
    }
    d = Seeder(s)
    ago = {
        "pao_since": now - timedelta(days=10),
        "pao_confirmed": now - timedelta(days=3),
        "mai_since": now - timedelta(days=50),
        "c1_event": now - timedelta(hours=1),
        "c1_notice": now - timedelta(days=2),
        "c3_event": now - timedelta(days=10),
        "c3_notice": now - timedelta(days=40),
    }

    async def event(code: str, at: datetime) -> None:
        s.add(
            InboundEvent(
                commune_id=ids[code],
                channel="zalo",
                event_name="user_send_text",
                dedupe_key=f"e{next(_n)}",
                payload={},
                received_at=at,
                status="processed",
            )
        )

    async def person(
        code: str,
        name: str,
        village: str,
        created: datetime,
        zalo: str | None = None,
        active: bool = True,
    ) -> Staff:
        st = Staff(
            commune_id=ids[code],
            name=name,
            role="propagandist",
            village_id=villages[(ids[code], village)],
            zalo_user_id=zalo,
            active=active,
            created_at=created,
        )
        s.add(st)
        await s.flush()
        return st

    # -- C1 ---------------------------------------------------------------------------------
    a = ids[C1]
    await event(C1, now - timedelta(days=3))
    await event(C1, ago["c1_event"])
    await d.notice(a, now - timedelta(days=9))
    notice = await d.notice(a, ago["c1_notice"])
    old = await d.notice(a, now - timedelta(days=20))
    await d.ticket(a, now - timedelta(days=9), now - timedelta(days=2), "received")
    await d.ticket(a, now - timedelta(days=9), now - timedelta(hours=1), "in_progress")
    await d.ticket(a, now - timedelta(days=1), now + timedelta(days=5), "assigned")
    await d.ticket(a, now - timedelta(days=9), now - timedelta(days=2), "answered")
    pao = await person(C1, "Lò Văn Pao", "Nậm Mòn", now - timedelta(days=100), zalo="z-pao")
    audit.action(
        s, a, None, "staff_deactivated", "staff", pao.id, pao.name, at=now - timedelta(days=30)
    )
    audit.action(s, a, None, "staff_reactivated", "staff", pao.id, pao.name, at=ago["pao_since"])
    mai = await person(C1, "Vàng Thị Mai", "Nậm Mòn", ago["mai_since"])
    await person(C1, "Giàng A Sử", "Bản Phố", now - timedelta(days=200), "z-su", active=False)
    for n, confirmed in ((old, now - timedelta(days=20)), (notice, ago["pao_confirmed"])):
        s.add(
            NoticeRelay(
                commune_id=a,
                notice_id=n.id,
                village_id=villages[(a, "Nậm Mòn")],
                staff_id=pao.id,
                confirmed_at=confirmed,
            )
        )
    s.add(  # a relay Mai never confirmed
        NoticeRelay(
            commune_id=a, notice_id=notice.id, village_id=villages[(a, "Nậm Mòn")], staff_id=mai.id
        )
    )
    s.add(
        CommuneFacts(
            commune_id=a,
            data={"village.Nậm Mòn.propagandists": [{"name": "Vàng Thị Mai", "phone": MAI_PHONE}]},
            version=1,
        )
    )
    # -- C2 ---------------------------------------------------------------------------------
    await s.execute(
        update(ZaloToken)
        .where(ZaloToken.oa_id == oa_id(2))
        .values(broken_reason="permission_revoked")
    )
    await person(C2, "Hà Văn Tủa", "Nậm Mòn", now - timedelta(days=5), "z-tua")
    await person(C2, "Lò Thị Ơn", "Bản Phố", now - timedelta(days=5))
    # -- C3 ---------------------------------------------------------------------------------
    c = ids[C3]
    await s.execute(
        update(ZaloToken)
        .where(ZaloToken.oa_id == oa_id(3))
        .values(expires_at=now - timedelta(hours=1))
    )
    await event(C3, ago["c3_event"])
    await d.notice(c, ago["c3_notice"])
    await d.ticket(c, now - timedelta(days=9), now - timedelta(days=2), "answered")
    # -- C4 ---------------------------------------------------------------------------------
    e = ids[C4]
    await event(C4, now - timedelta(minutes=5))
    await d.notice(e, now - timedelta(days=1))
    await person(C4, "Mùa A Dế", "Nậm Mòn", now - timedelta(days=5), "z-de")
    await person(C4, "Mùa A Lử", "Bản Phố", now - timedelta(days=5), "z-lu")
    return ago


def now() -> datetime:
    return utcnow()
