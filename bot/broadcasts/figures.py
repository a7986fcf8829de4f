"""A notice's figures for staff: recipients planned, by route and reason, sends by status,
failures by reason, seen; the relays per village and the article broadcast."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.broadcasts.relay import relay_figures
from bot.store.models import Notice, NoticeBroadcast, NoticeDelivery, OutboundMessage
from bot.timeutil import vn_iso


async def stats(s: AsyncSession, notice: Notice) -> dict[str, Any]:
    """Recipients planned / sent / failed by reason / skipped by reason / seen."""
    # The broadcast first: its worker writes its state and its residents' reason in one
    # transaction, and on PostgreSQL each statement here sees the latest commits — read in the
    # other order, a "no_quota" broadcast could show beside the reasons from before it.
    broadcast = await _broadcast_figures(s, notice.id)
    routes = dict(
        (
            await s.execute(
                select(NoticeDelivery.route, func.count())
                .where(NoticeDelivery.notice_id == notice.id)
                .group_by(NoticeDelivery.route)
            )
        ).all()
    )
    reasons = dict(
        (
            await s.execute(
                select(NoticeDelivery.reason, func.count())
                .where(NoticeDelivery.notice_id == notice.id)
                .group_by(NoticeDelivery.reason)
            )
        ).all()
    )
    joined = and_(
        OutboundMessage.id == NoticeDelivery.outbound_id, NoticeDelivery.notice_id == notice.id
    )
    sends = (
        await s.execute(
            select(
                OutboundMessage.status,
                OutboundMessage.error_reason,
                OutboundMessage.seen_at.is_not(None),
                func.count(),
            )
            .join(NoticeDelivery, joined)
            .group_by(
                OutboundMessage.status,
                OutboundMessage.error_reason,
                OutboundMessage.seen_at.is_not(None),
            )
        )
    ).all()
    by_status: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    seen = 0
    for status, reason, was_seen, n in sends:
        by_status[status] += n
        seen += n if was_seen else 0
        if status in ("failed", "window_closed"):
            failed[reason or status] += n
    return {
        "planned": sum(routes.values()),
        "routes": routes,
        "reasons": reasons,
        "sends": dict(by_status),
        "failed": dict(failed),
        "seen": seen,
        "relays": await relay_figures(s, notice.id),
        "broadcast": broadcast,
    }


async def _broadcast_figures(s: AsyncSession, notice_id: int) -> dict[str, Any] | None:
    row = (
        await s.execute(select(NoticeBroadcast).where(NoticeBroadcast.notice_id == notice_id))
    ).scalar_one_or_none()
    if row is None:
        return None
    return {
        "status": row.status,
        "article_id": row.article_id,
        "message_id": row.message_id,
        "attempts": row.attempts,
        "error": row.error_reason,
        # when a pending one goes next (Zalo's hours, the day's quota)
        "next_attempt_at": vn_iso(row.next_attempt_at)
        if row.status == "pending" and row.next_attempt_at
        else None,
        "sent_at": vn_iso(row.sent_at),
    }
