"""When a notice may go: our quiet hours for residents, and Zalo's quota and hours for article
broadcasts.

Quiet hours (``notices.quiet_start`` – ``quiet_end``, Vietnamese time): routine notices and relay
reminders wait for the morning; emergencies do not.

Zalo's rules for article broadcasts, planned for rather than discovered (zalo-oa-api.md §7.1,
DESIGN.md principle 4): each follower receives at most ``per_follower_month`` broadcasts a
calendar month and ``per_follower_day`` a day (Basic package: 1 a month); Zalo reviews each one
(~30 min); one that leaves review after 20:00 waits for the next morning, and Zalo refuses
broadcasts 22:00–06:00.

Our broadcasts go to every follower, so every broadcast of an OA counts for every follower: the
OA's own broadcasts (``notice_broadcasts`` of the commune, sent or queued, by the day they go)
are the count. A broadcast the quota cannot carry is not queued: the day's is used → it waits
for the next day with room (unless the notice expires first); the month's is used → it is
recorded as ``no_quota`` with the reason, and the residents it was for get the reason
``broadcast_quota_exhausted``, never "sent".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import BroadcastRules, Commune, NoticeSettings
from bot.store.models import Notice, NoticeBroadcast
from bot.timeutil import VN_TZ, as_utc, to_vn

EXHAUSTED = "broadcast_quota_exhausted"  # the residents' reason
LIVE = ("pending", "working", "sent")  # broadcasts that count against the quota
MAX_DEFER_DAYS = 31


def quiet_until(now: datetime, settings: NoticeSettings) -> datetime | None:
    """When the night ends, if ``now`` is inside the quiet hours (Vietnamese time)."""
    local = to_vn(now)
    start, end = settings.quiet_start, settings.quiet_end
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return as_utc(datetime.combine(day, end, tzinfo=VN_TZ))


def next_slot(at: datetime, rules: BroadcastRules) -> datetime:
    """The earliest moment from ``at`` a broadcast may be sent: from ``send_from``, and early
    enough that Zalo's review ends by ``deliver_by``; else ``send_from`` the next day."""
    local = to_vn(at)
    day = local.date()
    start = datetime.combine(day, rules.send_from, tzinfo=VN_TZ)
    latest = datetime.combine(day, rules.deliver_by, tzinfo=VN_TZ) - timedelta(
        seconds=rules.review_s
    )
    if local < start:
        return as_utc(start)
    if local <= latest:
        return as_utc(at)
    return as_utc(datetime.combine(day + timedelta(days=1), rules.send_from, tzinfo=VN_TZ))


@dataclass(frozen=True)
class Plan:
    at: datetime | None  # when to send it; None: the quota cannot carry it
    reason: str | None = None  # why not (None when it goes)


async def _used(s: AsyncSession, commune_id: int, since: datetime) -> list[date]:
    """The Vietnamese days on which the commune's live broadcasts go (or went)."""
    rows = (
        await s.execute(
            select(NoticeBroadcast.sent_at, NoticeBroadcast.next_attempt_at).where(
                NoticeBroadcast.commune_id == commune_id, NoticeBroadcast.status.in_(LIVE)
            )
        )
    ).all()
    days = []
    for sent_at, due in rows:
        when = sent_at or due
        if when is not None and as_utc(when) >= since:
            days.append(to_vn(when).date())
    return days


async def plan(
    s: AsyncSession,
    commune_id: int,
    rules: BroadcastRules,
    per_month: int,
    at: datetime,
    expires_at: datetime | None = None,
) -> Plan:
    """When a new broadcast of the commune may go, from ``at``; or why it cannot."""
    if per_month <= 0 or rules.per_follower_day <= 0:
        return Plan(None, "quota exhausted: this OA's package allows no article broadcasts")
    when = next_slot(at, rules)
    first = to_vn(when).date().replace(day=1)
    days = await _used(
        s, commune_id, as_utc(datetime.combine(first, datetime.min.time(), tzinfo=VN_TZ))
    )
    deferred = False
    for _ in range(MAX_DEFER_DAYS):
        local = to_vn(when).date()
        month = sum(1 for d in days if (d.year, d.month) == (local.year, local.month))
        if month >= per_month:
            return Plan(
                None,
                f"quota exhausted: {per_month} article broadcast(s) per "
                f"follower in {local:%m/%Y} already used",
            )
        if sum(1 for d in days if d == local) < rules.per_follower_day:
            break
        when = as_utc(
            datetime.combine(local + timedelta(days=1), rules.send_from, tzinfo=VN_TZ)
        )  # today's is used: tomorrow morning
        deferred = True
    else:
        return Plan(None, "quota exhausted: no day with room this month")
    if (
        deferred
        and expires_at is not None
        and when + timedelta(seconds=rules.review_s) >= as_utc(expires_at)
    ):
        return Plan(
            None,
            f"quota exhausted: today's {rules.per_follower_day} article "
            "broadcast(s) used, and the notice expires before the next one",
        )
    return Plan(when)


def monthly_quota(commune: Commune, rules: BroadcastRules) -> int:
    """The commune's OA package may allow fewer broadcasts than the default (Basic: 1)."""
    own = commune.zalo.broadcasts_per_month if commune.zalo else None
    return rules.per_follower_month if own is None else own


async def queue_broadcast(
    s: AsyncSession,
    notice: Notice,
    commune: Commune,
    rules: BroadcastRules,
    start_at: datetime,
    ledger: list[dict[str, Any]],
) -> Plan:
    """The notice's one broadcast row: pending for when the quota has room, or ``no_quota``
    with the reason — then the ledger rows of the broadcast route carry it too."""
    decided = await plan(
        s, notice.commune_id, rules, monthly_quota(commune, rules), start_at, notice.expires_at
    )
    s.add(
        NoticeBroadcast(
            commune_id=notice.commune_id,
            notice_id=notice.id,
            next_attempt_at=decided.at or start_at,
            status="pending" if decided.at else "no_quota",
            error_reason=decided.reason,
        )
    )
    if decided.at is None:
        for row in ledger:
            if row["route"] == "broadcast":
                row["reason"] = EXHAUSTED
    return decided
