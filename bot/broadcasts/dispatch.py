"""The notice dispatcher: the worker that takes due notices to their sends.

``scheduled`` notices whose ``send_at`` has come are claimed (lease, SKIP LOCKED) and planned
(``plan.py``: one transaction per notice); relay reminders and follow-ups (``relay.py``) run
between, never in the quiet hours; a notice goes ``sending`` → ``sent`` once no queued send of it
and no broadcast is still open.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import facts_store
from bot.broadcasts.message import render
from bot.broadcasts.plan import plan_deliveries
from bot.broadcasts.quota import quiet_until
from bot.broadcasts.relay import follow_up, remind
from bot.config import BroadcastRules, NoticeSettings
from bot.coord import Coordinator
from bot.loops import BROADCAST_TOPIC, LEASE, NOTICES_TOPIC, OUTBOUND_TOPIC, Worker, worker_id
from bot.notices.workflow import record
from bot.store.models import Notice, NoticeBroadcast, OutboundMessage
from bot.tenants import Tenants
from bot.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)
FINISH_EVERY_S = 2.0
FOLLOW_UP_EVERY_S = 5.0  # relays whose package could not go: checked this often


class NoticeDispatcher(Worker):
    """Plans due notices (``scheduled`` with ``send_at`` reached) and marks them ``sent`` once
    every queued send has an outcome."""

    topic = NOTICES_TOPIC
    batch = 10

    def __init__(
        self,
        sm: async_sessionmaker,
        tenants: Tenants,
        coord: Coordinator,
        settings: NoticeSettings,
        broadcasts: BroadcastRules | None = None,
    ) -> None:
        super().__init__(coord)
        self.sm, self.tenants, self.settings = sm, tenants, settings
        self.broadcasts = broadcasts or BroadcastRules()  # Zalo's rules (config zalo.broadcasts)
        self._next_follow_up = 0.0
        self.worker = worker_id()
        self._next_finish = 0.0

    async def run_once(self) -> int:
        planned = 0
        for notice_id in await self.claim():
            if await self.plan(notice_id):
                planned += 1
        reminders = await self.remind()
        if planned or reminders:
            await self.coord.publish(OUTBOUND_TOPIC)
        if planned:
            await self.coord.publish(BROADCAST_TOPIC)
        await self.finish_sent()
        return planned

    async def remind(self) -> int:
        now = utcnow()
        if quiet_until(now, self.settings):
            return 0  # village heads are not woken at night
        async with self.sm() as s, s.begin():
            done = await remind(s, self.settings, now)
            if _time.monotonic() >= self._next_follow_up:
                self._next_follow_up = _time.monotonic() + FOLLOW_UP_EVERY_S
                done += await follow_up(s, now, self._package_for)
            return done

    async def _package_for(
        self, s: AsyncSession, notice: Notice
    ) -> tuple[Callable[[str], str], dict[str, str]]:
        """A propagandist's package of ``notice``: its text per language, villages' languages
        (by their names as the console may have changed them: ``facts_store.effective``)."""
        tenant = self.tenants.by_id(notice.commune_id)
        commune = await facts_store.effective(s, tenant.id, tenant.config)
        return (
            lambda language: render(notice, commune.name, language),
            {v.name: v.language for v in commune.villages if v.language},
        )

    async def claim(self) -> list[int]:
        now = utcnow()
        async with self.sm() as s, s.begin():
            due = (
                select(Notice.id)
                .where(
                    Notice.status == "scheduled",
                    or_(Notice.send_at.is_(None), Notice.send_at <= now),
                    or_(Notice.claimed_at.is_(None), Notice.claimed_at < now - LEASE),
                )
                .order_by(Notice.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            ids = (
                (
                    await s.execute(
                        update(Notice)
                        .where(Notice.id.in_(due.scalar_subquery()))
                        .values(claimed_at=now, claimed_by=self.worker)
                        .returning(Notice.id)
                    )
                )
                .scalars()
                .all()
            )
        return sorted(ids)

    async def plan(self, notice_id: int) -> bool:
        now = utcnow()
        async with self.sm() as s, s.begin():
            notice = (
                await s.execute(
                    select(Notice)
                    .where(
                        Notice.id == notice_id,
                        Notice.status == "scheduled",
                        Notice.claimed_by == self.worker,
                    )
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if notice is None:
                return False
            if notice.expires_at and as_utc(notice.expires_at) <= now:
                record(s, notice, "expire", "expired", None, "hết hiệu lực trước khi gửi")
                return False
            counts = await plan_deliveries(
                s,
                notice,
                self.tenants.by_id(notice.commune_id).config,
                self.settings,
                now,
                self.broadcasts,
            )
            record(
                s,
                notice,
                "dispatch",
                "sending",
                None,
                ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
            )
        log.info("notice %s planned: %s", notice_id, dict(counts))
        return True

    async def finish_sent(self) -> None:
        """``sending`` → ``sent`` once no queued send of the notice is still open and its
        broadcast (if any) is done. Checked every ``FINISH_EVERY_S``."""
        if _time.monotonic() < self._next_finish:
            return
        self._next_finish = _time.monotonic() + FINISH_EVERY_S
        async with self.sm() as s, s.begin():
            sending = (
                (
                    await s.execute(
                        select(Notice)
                        .where(Notice.status == "sending")
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            for notice in sending:
                open_rows = (
                    await s.execute(
                        select(func.count())
                        .select_from(OutboundMessage)
                        .where(
                            OutboundMessage.notice_id == notice.id,
                            OutboundMessage.status.in_(["pending", "sending"]),
                        )
                    )
                ).scalar_one()
                open_rows += (
                    await s.execute(
                        select(func.count())
                        .select_from(NoticeBroadcast)
                        .where(
                            NoticeBroadcast.notice_id == notice.id,
                            NoticeBroadcast.status.in_(["pending", "working"]),
                        )
                    )
                ).scalar_one()
                if not open_rows:
                    notice.sent_at = utcnow()
                    record(s, notice, "finish", "sent", None)
