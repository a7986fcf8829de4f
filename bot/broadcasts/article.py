"""The article-broadcast route (zalo-oa-api.md §7): for the followers a consultation message
cannot reach (no interaction in 7 days), the notice becomes an article of the commune's OA and
is broadcast to its followers — once per notice.

The worker talks to a channel that can broadcast (``bot/sending.py``: ``ArticleBroadcaster``;
Zalo's is ``ZaloChannel``), never to the provider's API. Steps, each result stored before the
next: ``article/create`` → token; ``article/verify`` →
article id (``-214`` "being processed": poll again shortly); ``oa/message`` with the article
as a media template → message id. A restart resumes at the first step without a result. A crash
between Zalo creating the article and our storing its token can leave one unused article
behind. The broadcast itself is never repeated: a transport error on that last call after which
Zalo may have taken it ends the row as failed, "outcome unknown", for staff to check.

Zalo's rules (``bot/broadcasts/quota.py``): the planner queued the broadcast for a time the quota
has room for; the last call waits for Zalo's hours (sent from 06:00, out of review by 20:00) —
and a night refusal (``-234``) still waits for 06:00. A quota refusal (``-211``/``-218``) ends
the row as ``no_quota``, never "sent". The article's cover is the notice's image, else the
commune's default (``communes[].zalo.article_cover_url``, ``zalo.article_cover_url``): Zalo's
clients always send one, so an article is not created without it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.broadcasts.quota import EXHAUSTED, next_slot
from bot.config import ZaloSettings
from bot.coord import Coordinator
from bot.loops import BROADCAST_TOPIC, LEASE, Worker, backoff, worker_id
from bot.outbound import HELD_RECHECK
from bot.sending import (
    NO_TOKEN_CODE,
    Article,
    ArticleBroadcaster,
    Outcome,
    QuotaExhausted,
    SendError,
)
from bot.store.models import Notice, NoticeBroadcast, NoticeDelivery
from bot.tenants import Tenants
from bot.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 12
VERIFY_POLL_S = 5.0


def cover_for(notice: Notice, commune_zalo: Any, settings: ZaloSettings) -> str | None:
    """The notice's image, else the commune's default cover, else the service's."""
    return (
        notice.image_url
        or (commune_zalo.article_cover_url if commune_zalo else None)
        or settings.article_cover_url
    )


class BroadcastWorker(Worker):
    topic = BROADCAST_TOPIC
    batch = 1  # one at a time: a claim never outlives its lease waiting behind another
    verify_poll_s = VERIFY_POLL_S

    def __init__(
        self,
        sm: async_sessionmaker,
        tenants: Tenants,
        coord: Coordinator,
        channel: ArticleBroadcaster | None,
        settings: ZaloSettings | None = None,
    ) -> None:
        super().__init__(coord)
        self.sm, self.tenants, self.channel = sm, tenants, channel
        self.settings = settings or ZaloSettings()
        self.worker = worker_id()

    async def run_once(self) -> int:
        if self.channel is None:
            return 0
        now = utcnow()
        async with self.sm() as s, s.begin():
            due = (
                select(NoticeBroadcast.id)
                .where(
                    or_(
                        NoticeBroadcast.status == "pending",
                        (NoticeBroadcast.status == "working")
                        & (NoticeBroadcast.claimed_at < now - LEASE),
                    ),
                    NoticeBroadcast.next_attempt_at <= now,
                )
                .order_by(NoticeBroadcast.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            ids = (
                (
                    await s.execute(
                        update(NoticeBroadcast)
                        .where(NoticeBroadcast.id.in_(due.scalar_subquery()))
                        .values(status="working", claimed_at=now, claimed_by=self.worker)
                        .returning(NoticeBroadcast.id)
                    )
                )
                .scalars()
                .all()
            )
        for broadcast_id in ids:
            await self.advance(broadcast_id)
        return len(ids)

    async def _save(
        self, broadcast_id: int, *, residents_reason: str | None = None, **values: Any
    ) -> bool:
        """Write if this worker still holds the claim (renewing it); False if it does not.
        ``residents_reason``: the reason the residents it was for now have, in the same
        transaction (nobody reads the broadcast's state without theirs)."""
        async with self.sm() as s, s.begin():
            result = await s.execute(
                update(NoticeBroadcast)
                .where(
                    NoticeBroadcast.id == broadcast_id,
                    NoticeBroadcast.status == "working",
                    NoticeBroadcast.claimed_by == self.worker,
                )
                .values(claimed_at=utcnow(), **values)
            )
            if result.rowcount and residents_reason:
                row = await s.get(NoticeBroadcast, broadcast_id)
                assert row is not None
                await s.execute(
                    update(NoticeDelivery)
                    .where(
                        NoticeDelivery.notice_id == row.notice_id,
                        NoticeDelivery.route == "broadcast",
                    )
                    .values(reason=residents_reason)
                )
            return bool(result.rowcount)

    async def advance(self, broadcast_id: int) -> None:
        async with self.sm() as s:
            row = await s.get(NoticeBroadcast, broadcast_id)
            notice = await s.get(Notice, row.notice_id) if row else None
        if row is None or notice is None:
            return
        if notice.status == "cancelled" and not row.message_id:
            await self._save(broadcast_id, status="cancelled", error_reason="notice cancelled")
            return
        assert self.channel is not None  # run_once claims nothing without one
        channel = self.channel
        tenant = self.tenants.by_id(row.commune_id)
        if not channel.broadcasts_for(tenant):
            await self._save(broadcast_id, status="failed", error_reason="no Zalo OA configured")
            return
        cover = cover_for(notice, tenant.config.zalo, self.settings)
        if cover is None and not row.article_token:
            await self._save(
                broadcast_id,
                status="failed",
                error_reason=(
                    "no cover for the article (Zalo requires one): give the notice an image or set "
                    "communes[].zalo.article_cover_url / zalo.article_cover_url"
                ),
            )
            return
        try:
            if not row.article_token:
                assert cover is not None
                row.article_token = await channel.create_article(
                    tenant, Article(notice.headline, tenant.config.name, notice.body, cover)
                )
                await self._save(broadcast_id, article_token=row.article_token)
            if not row.article_id:
                article_id = await channel.verify_article(tenant, row.article_token)
                if article_id is None:  # still being processed: ask again shortly
                    await self._save(
                        broadcast_id,
                        status="pending",
                        next_attempt_at=utcnow() + timedelta(seconds=self.verify_poll_s),
                    )
                    return
                row.article_id = article_id
                await self._save(broadcast_id, article_id=row.article_id)
            slot = next_slot(utcnow(), self.settings.broadcasts)
            if slot > utcnow():  # Zalo's hours: the article waits, ready, for the morning
                await self._save(broadcast_id, status="pending", next_attempt_at=slot)
                return
            if not await self._save(broadcast_id):  # still ours, just before the one-shot step
                return
            try:
                message_id = await channel.broadcast_article(tenant, row.article_id)
            except SendError as exc:
                if not exc.maybe_sent:
                    raise  # it never reached Zalo: an ordinary retry
                # Zalo may have taken it: broadcasting again would reach every follower twice
                await self._save(
                    broadcast_id,
                    status="failed",
                    error_reason=f"outcome unknown ({exc.reason}): check the OA's "
                    "broadcasts before sending again",
                )
                return
            await self._save(
                broadcast_id,
                status="sent",
                sent_at=utcnow(),
                error_reason=None,
                message_id=message_id,
            )
            log.info("notice %s broadcast as article %s", notice.id, row.article_id)
        except QuotaExhausted as exc:  # Zalo counts differently than we planned: not sent
            await self._save(
                broadcast_id,
                status="no_quota",
                residents_reason=EXHAUSTED,
                error_reason=f"quota exhausted: {exc.reason}"[:500],
            )
        except SendError as exc:
            if exc.outcome is Outcome.NO_TOKEN:  # released when the OA is reconnected
                await self._save(
                    broadcast_id,
                    status="pending",
                    error_reason=f"{NO_TOKEN_CODE}: {exc.reason}"[:500],
                    next_attempt_at=utcnow() + HELD_RECHECK,
                )
                return
            attempts = row.attempts + (0 if exc.outcome is Outcome.THROTTLED else 1)
            final = (
                exc.outcome in (Outcome.PERMANENT, Outcome.WINDOW_CLOSED)
                or attempts >= MAX_ATTEMPTS
            )
            await self._save(
                broadcast_id,
                attempts=attempts,
                status="failed" if final else "pending",
                error_reason=f"{exc.code}: {exc.reason}"[:500],
                next_attempt_at=utcnow() + timedelta(seconds=backoff(attempts, exc.retry_after)),
            )
