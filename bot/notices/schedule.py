"""Recurring notices ("ngày 25 hằng tháng") on APScheduler 3 with its job store in our
database (``apscheduler_jobs``, migration 0006), in Asia/Ho_Chi_Minh.

* The notices table is the record: an approved notice with a ``recurrence`` is ``recurring``;
  the leader keeps one job per such notice (``notice-<id>``) and removes the jobs of notices
  that are not (cancelled) — on every "notices" wake-up and every ``SYNC_S``.
* Each firing copies the notice into a new ``scheduled`` one (``references_id`` → the
  recurring notice, audit ``recur``); the dispatcher sends it like any other.
* Missed firings (the service was down) run once at start-up if they are within
  ``misfire_grace_s``; older ones are skipped (``coalesce``: one catch-up, not a burst).
* Only one process runs the scheduler: the leader, by a Redis lease renewed every ``ttl/3``
  (in-process coordination: this process). A leader that loses the lease pauses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot import audit
from bot.coord import Coordinator
from bot.loops import worker_id
from bot.store.models import Notice
from bot.timeutil import VN_TZ, as_utc, utcnow

log = logging.getLogger(__name__)
SYNC_S = 30.0
REFIRE_GUARD = timedelta(minutes=5)  # one occurrence per firing, even if it is seen twice
LEADER_TTL_S = 30.0
_RUNNING: NoticeScheduler | None = None  # the job function finds the live scheduler here


class RecurrenceError(ValueError):
    pass


#: crontab's weekday numbers (0 and 7 = Sunday) as names: APScheduler 3 reads a number as
#: 0 = Monday (its ``from_crontab`` warns of it), names mean the same to both
CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NUMBER = re.compile(r"(?<![/\d])([0-7])(?!\d)")


def trigger(expression: str, start: datetime | None = None) -> CronTrigger:
    """A five-field crontab in Vietnamese time (weekdays as crontab numbers them), firing
    from ``start`` on when given; ``RecurrenceError`` names what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise RecurrenceError(
            "recurrence is a crontab of 5 fields: minute hour day month "
            'weekday, e.g. "0 8 25 * *" (08:00 on the 25th of every month)'
        )
    minute, hour, day, month, weekday = fields
    weekday = _DAY_NUMBER.sub(lambda m: CRON_DAYS[int(m.group(1))], weekday)
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=weekday,
            start_date=start,
            timezone=VN_TZ,
        )
    except ValueError as exc:
        raise RecurrenceError(f"recurrence: {exc}") from None


def sync_url(async_url: str) -> str:
    """The same database through a synchronous driver (APScheduler 3's job store is sync)."""
    url = make_url(async_url)
    driver = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg"}.get(
        url.drivername, url.drivername
    )
    return url.set(drivername=driver).render_as_string(hide_password=False)


async def fire(notice_id: int) -> None:
    """The job: send one occurrence of a recurring notice."""
    if _RUNNING is None:
        log.warning("recurring notice %s fired with no scheduler running", notice_id)
        return
    await _RUNNING.spawn(notice_id)


class NoticeScheduler:
    def __init__(
        self,
        sm: async_sessionmaker,
        coord: Coordinator,
        database_url: str,
        misfire_grace_s: float,
        wake: Any,
    ) -> None:
        self.sm, self.coord, self.wake = sm, coord, wake
        self.engine = create_sync_engine(sync_url(database_url), pool_pre_ping=True)
        self.scheduler = AsyncIOScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.engine, tablename="apscheduler_jobs")
            },
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": int(misfire_grace_s),
                "max_instances": 1,
            },
            timezone=VN_TZ,
        )
        self.owner = worker_id()
        self.leading = False
        self.stopping = asyncio.Event()

    async def run_forever(self) -> None:
        global _RUNNING
        sub = await self.coord.subscribe("notices")
        try:
            while not self.stopping.is_set():
                try:
                    await self._step()
                except Exception:  # noqa: BLE001 - a database blip must not end the loop
                    log.exception("notice scheduler step failed; retrying")
                await sub.get(timeout=min(SYNC_S, LEADER_TTL_S / 3))
        finally:
            await sub.close()
            if self.leading:
                self.scheduler.shutdown(wait=False)
                self.leading = False
            if _RUNNING is self:
                _RUNNING = None
            self.engine.dispose()

    async def _step(self) -> None:
        global _RUNNING
        leads = await self.coord.hold("notice-scheduler", self.owner, LEADER_TTL_S)
        if leads and not self.leading:
            _RUNNING = self
            self.scheduler.start(paused=True)
            self.leading = True
            await self.sync()  # jobs first, then let missed firings run
            self.scheduler.resume()
            log.info("notice scheduler: leading (%s)", self.owner)
        elif not leads and self.leading:
            self.scheduler.shutdown(wait=False)
            self.leading = False
            log.warning("notice scheduler: lost the lease; paused")
        elif self.leading:
            await self.sync()

    async def stop(self) -> None:
        self.stopping.set()
        await self.coord.publish("notices")

    async def sync(self) -> None:
        async with self.sm() as s:
            wanted = {
                notice_id: (expression, start)
                for notice_id, expression, start in (
                    await s.execute(
                        select(Notice.id, Notice.recurrence, Notice.send_at).where(
                            Notice.status == "recurring"
                        )
                    )
                ).all()
            }
        have = {job.id: job for job in self.scheduler.get_jobs()}
        for notice_id, (expression, start) in wanted.items():
            job_id = f"notice-{notice_id}"
            if job_id not in have:  # the first firing not before the chosen first time
                self.scheduler.add_job(
                    fire,
                    trigger(expression, as_utc(start) if start else None),
                    args=[notice_id],
                    id=job_id,
                    replace_existing=True,
                )
                log.info("recurring notice %s scheduled: %s", notice_id, expression)
        for job_id in have:
            if job_id.startswith("notice-") and int(job_id[7:]) not in wanted:
                with contextlib.suppress(JobLookupError):
                    self.scheduler.remove_job(job_id)

    def next_run(self, notice_id: int) -> datetime | None:
        job = self.scheduler.get_job(f"notice-{notice_id}")
        return job.next_run_time if job else None

    async def spawn(self, notice_id: int) -> int | None:
        async with self.sm() as s, s.begin():
            parent = (
                await s.execute(
                    select(Notice).where(Notice.id == notice_id, Notice.status == "recurring")
                )
            ).scalar_one_or_none()
            if parent is None:
                return None
            recent = (
                await s.execute(
                    select(Notice.id).where(
                        Notice.references_id == parent.id,
                        Notice.msg_type == "alert",
                        Notice.created_at > utcnow() - REFIRE_GUARD,
                    )
                )
            ).first()
            if recent is not None:  # the same firing seen twice (a re-fire, two leaders)
                log.warning(
                    "recurring notice %s: occurrence %s is recent; not repeated",
                    notice_id,
                    recent[0],
                )
                return None
            child = Notice(
                commune_id=parent.commune_id,
                msg_type="alert",
                references_id=parent.id,
                category=parent.category,
                priority=parent.priority,
                headline=parent.headline,
                body=parent.body,
                translations=parent.translations,
                village_ids=parent.village_ids,
                languages=parent.languages,
                subscribers_only=parent.subscribers_only,
                image_url=parent.image_url,
                created_by=parent.created_by,
                approved_by=parent.approved_by,
                status="scheduled",
            )
            s.add(child)
            await s.flush()
            audit.notice(
                s,
                child,
                "recur",
                "scheduled",
                None,
                f"lần gửi định kỳ của #{parent.id}",
                created=True,
            )
        log.info("recurring notice %s: occurrence %s scheduled", notice_id, child.id)
        await self.wake()
        return child.id
