"""New reports from the public web chat, capped per hour (``feedback.web_reports``).

Anyone can open the web chat, so one machine could otherwise file hundreds of emergency
tickets — each one alerting the leaders — in seconds. Tickets filed from the web chat are
counted over the last hour for the session (the resident) and for the network address (the
ticket's ``origin_key``, a keyed hash; every session from that address together). Emergencies
have a slightly higher cap, and a refused emergency still gets the national numbers and the
commune's phone. Counted in the store, so the cap holds across processes and restarts.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Commune, WebReportCaps
from bot.envelope import Reply, Text
from bot.feedback.categories import CATEGORIES
from bot.feedback.chat import hotline
from bot.i18n import _
from bot.store.models import Resident, Ticket

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=1)


async def refused(
    s: AsyncSession,
    commune: Commune,
    caps: WebReportCaps,
    resident: Resident,
    category: str,
    now: datetime,
    emergency: bool | None = None,
) -> list[Reply] | None:
    """The answer when this report is over the cap; None when it may be filed.
    ``emergency``: the triage's decision (bot/feedback/triage.py); None: the category's."""
    if resident.channel != "webchat":
        return None
    if emergency is None:
        emergency = CATEGORIES[category].emergency
    since = now - WINDOW
    mine = (
        await s.execute(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.resident_id == resident.id, Ticket.received_at >= since)
        )
    ).scalar_one()
    over = mine >= (caps.session_emergency if emergency else caps.session)
    if not over and resident.origin_key:
        theirs = (
            await s.execute(
                select(func.count())
                .select_from(Ticket)
                .where(Ticket.origin_key == resident.origin_key, Ticket.received_at >= since)
            )
        ).scalar_one()
        over = theirs >= (caps.address_emergency if emergency else caps.address)
    if not over:
        return None
    log.warning(
        "web chat report refused: hourly cap reached (commune %s, emergency %s)",
        resident.commune_id,
        emergency,
    )
    if not emergency:
        return [
            Text(
                _(
                    "Trong một giờ qua xã đã nhận nhiều phản ánh từ anh/chị nên chưa ghi "
                    "thêm phản ánh này. Anh/chị vui lòng gửi lại sau, hoặc gọi xã: "
                    "{phone}."
                ).format(phone=commune.phone)
            )
        ]
    lines = [
        _(
            "Trang này đã nhận nhiều phản ánh khẩn từ anh/chị trong một giờ qua nên chưa "
            "ghi thêm phản ánh này."
        )
    ]
    if call := hotline(category):
        lines.append(call)
    lines.append(
        _(
            "Số khẩn cấp: 113 (công an), 114 (cứu hỏa, cứu nạn), 115 (cấp cứu). Số của xã: {phone}."
        ).format(phone=commune.phone)
    )
    return [Text("\n".join(lines))]
