"""A conversation with staff, after it is opened (bot/feedback/intake.py ``_handoff``):

- while the resident waits, the bot still answers what it is sure of — a ticket's status, the
  office's hours and contact, the health station (``engine.while_with_staff``); emergencies are
  filed before that (bot/handlers/with_staff.py); anything else waits in the log for staff;
- when nobody has taken or answered it by ``expires_at`` (``feedback.handoff_timeout_minutes``
  of office time, fixed when it opened), the bot takes the conversation back and tells the
  resident what to do now; staff see it as ``expired`` in the handoffs API.

The expiry is a step of the SLA clock (bot/feedback/clock.py): due handoffs are locked ``FOR
UPDATE SKIP LOCKED``, handed back and their message queued (key ``handoff:<id>:expired``) in
one transaction, so any process may run it and a restart repeats nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Commune
from bot.envelope import Text
from bot.feedback.service import LANE
from bot.i18n import gettext_for
from bot.store.models import Conversation, Handoff, Message, OutboundMessage, Resident
from bot.store.ops import outbound_row, table_of
from bot.tenants import Tenants


def expired_message(commune: Commune, language: str) -> Text:
    _ = gettext_for(language)
    return Text(
        _(
            "Xin lỗi anh/chị, hiện cán bộ {name} chưa trả lời kịp cuộc trò chuyện này. "
            "Anh/chị có thể gọi {phone} trong giờ làm việc, hoặc nhắn lại câu hỏi tại "
            "đây để trợ lý tự động của xã trả lời; muốn gửi phản ánh, anh/chị nhắn nội "
            "dung, xã sẽ báo mã để theo dõi. Việc khẩn cấp xin gọi 112 (cứu nạn), 113 "
            "(công an), 114 (cứu hỏa), 115 (cấp cứu)."
        ).format(name=commune.name, phone=commune.phone)
    )


async def expire_due(s: AsyncSession, tenants: Tenants, now: datetime, batch: int = 100) -> int:
    """Hand back to the bot the conversations nobody took in time; returns how many."""
    due = (
        (
            await s.execute(
                select(Handoff)
                .where(
                    Handoff.closed_at.is_(None),
                    Handoff.expires_at <= now,
                    Handoff.taken_by.is_(None),
                    Handoff.replies == 0,
                )
                .order_by(Handoff.expires_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    for handoff in due:
        handoff.closed_at = handoff.expired_at = now
        conv = await s.get(Conversation, handoff.conversation_id)
        if conv is not None and conv.mode == "handoff":
            conv.mode, conv.state = "bot", {}
        resident = await s.get(Resident, handoff.resident_id)
        if resident is None or resident.erased_at is not None:
            continue
        message = expired_message(tenants.by_id(handoff.commune_id).config, resident.language)
        s.add(
            Message(
                commune_id=handoff.commune_id,
                conversation_id=handoff.conversation_id,
                direction="out",
                text=message.text,
                intent="handoff_expired",
                confidence=1.0,
            )
        )
        await s.execute(
            table_of(OutboundMessage).insert(),
            [
                outbound_row(
                    handoff.commune_id,
                    resident.id,
                    resident.channel,
                    resident.external_id,
                    f"handoff:{handoff.id}:expired",
                    message,
                    LANE,
                )
            ],
        )
    return len(due)
