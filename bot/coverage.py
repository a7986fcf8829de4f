"""Whom the commune's alerts and relays can reach: warnings for staff, in one place.

Emergency reports and overdue tickets are told to the leaders on Zalo; a notice for a village
reaches the residents Zalo will not let us message only through the village's propagandist
(bot/broadcasts/relay.py). Both need a person with a Zalo id who wrote to the OA within Zalo's
7-day window (the same rule as every consultation message: ``route_for``). When no such person
exists the service still works — and nobody hears — so ``bot staff add``, ``bot staff check``,
``GET …/warnings`` and the notice responses say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.broadcasts.routes import route_for
from bot.store.models import Notice, Resident, Staff, Village
from bot.timeutil import utcnow


@dataclass(frozen=True)
class Gap:
    """One warning: ``code`` says who is missing (``no_leader_on_zalo``,
    ``village_without_propagandist``), ``reason`` why (``none``, ``no_zalo``, ``window``)."""

    code: str
    reason: str
    message: str  # "Vietnamese / English", like the API's errors
    village: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
            **({"village": self.village} if self.village else {}),
        }


def _reach(people: list[tuple[Staff, Resident | None]], now: datetime) -> str:
    """``ok`` when one of them can be messaged now, else why not: ``none`` (nobody in that
    role), ``no_zalo`` (nobody has a Zalo id), ``window`` (nobody wrote in 7 days)."""
    if not people:
        return "none"
    on_zalo = [resident for staff, resident in people if staff.zalo_user_id]
    if not on_zalo:
        return "no_zalo"
    if any(r is not None and route_for(r, now)[0] == "consultation" for r in on_zalo):
        return "ok"
    return "window"


async def warnings(
    s: AsyncSession, commune_id: int, *, leaders: bool = True, village_ids: list[int] | None = None
) -> list[Gap]:
    """The commune's gaps: its leaders (unless ``leaders`` is false), then each village in
    the configuration's order (``village_ids``: only those, [] none, None all). Empty when
    alerts and relays can reach someone."""
    rows = (
        await s.execute(
            select(Staff, Resident)
            .outerjoin(
                Resident,
                and_(
                    Resident.commune_id == Staff.commune_id,
                    Resident.channel == "zalo",
                    Resident.external_id == Staff.zalo_user_id,
                ),
            )
            .where(
                Staff.commune_id == commune_id,
                Staff.active.is_(True),
                Staff.role.in_(("leader", "propagandist")),
            )
        )
    ).all()
    now = utcnow()
    out: list[Gap] = []
    reach = _reach([(st, r) for st, r in rows if st.role == "leader"], now)
    text = {
        "none": "Xã chưa có lãnh đạo nào: báo động khẩn cấp và phản ánh quá hạn không báo được "
        "cho ai / no leader: emergency and overdue alerts reach no one",
        "no_zalo": "Chưa lãnh đạo nào có Zalo (--zalo-user-id): báo động khẩn cấp không đến "
        "được ai / no leader has a Zalo id: emergency alerts reach no one",
        "window": "Lãnh đạo chưa nhắn cho trang Zalo của xã trong 7 ngày qua nên Zalo chưa cho "
        "gửi báo động: nhờ lãnh đạo nhắn một tin cho trang / no leader wrote to the OA "
        "in 7 days: Zalo lets no alert reach them until one does",
    }.get(reach)
    if text and leaders:
        out.append(Gap("no_leader_on_zalo", reach, text))
    if village_ids == []:
        return out
    query = select(Village.id, Village.name).where(Village.commune_id == commune_id)
    if village_ids:
        query = query.where(Village.id.in_(village_ids))
    for village_id, name in (await s.execute(query.order_by(Village.id))).all():
        reach = _reach(
            [
                (st, r)
                for st, r in rows
                if st.role == "propagandist" and st.village_id == village_id
            ],
            now,
        )
        text = {
            "none": "chưa có tuyên truyền viên: tin cho thôn chỉ đến người dân Zalo cho nhắn / "
            "no propagandist: notices reach only residents Zalo lets us message",
            "no_zalo": "tuyên truyền viên chưa có Zalo (--zalo-user-id): không chuyển tin vào "
            "nhóm thôn được / the propagandist has no Zalo id: nobody relays "
            "notices to the village group",
            "window": "tuyên truyền viên chưa nhắn cho trang Zalo của xã trong 7 ngày qua nên "
            "Zalo chưa cho gửi tin nhờ chuyển / the propagandist has not written to "
            "the OA in 7 days: Zalo lets no relay reach them",
        }.get(reach)
        if text:
            out.append(Gap("village_without_propagandist", reach, f"{name}: {text}", name))
    return out


async def notice_gaps(s: AsyncSession, notice: Notice) -> list[Gap]:
    """The notice's villages (all for a whole-commune one) whose propagandist cannot relay it:
    said by the API and on the console's page while the notice can still be fixed."""
    return await warnings(
        s, notice.commune_id, leaders=False, village_ids=list(notice.village_ids) or None
    )
