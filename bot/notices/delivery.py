"""From an approved notice to a ledger row per resident and a queued send per allowed route.

The route is Zalo's rule (zalo-oa-api.md §4.2): a consultation message only to a resident who
interacted within 7 days (within 48 h it is free); everyone else is marked for the commune's
article broadcast and the propagandist relay (later slices send those). The reason for every
choice is stored. A resident whom a village notice misses only because their village is unknown
is asked for it, once, when a consultation message can reach them. Our own rules for residents:
not at night (``notices.quiet_start`` –
``quiet_end``, Vietnamese time) and at most ``notices.daily_cap`` notices a day — emergencies
ignore both.

Planning a notice is one transaction (ledger rows, outbound rows with idempotency keys
``notice:<id>:<resident>``, the state change and its audit row), so a crash replans it from
scratch or not at all; the sender then delivers the queued rows exactly once per key.
"""

from __future__ import annotations

import logging
import time as _time
from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import BroadcastRules, Commune, NoticeSettings
from bot.conversation import village as village_chat
from bot.coord import Coordinator
from bot.envelope import File, Image, Reply, Text
from bot.i18n import gettext_for, use_language
from bot.loops import BROADCAST_TOPIC, LEASE, NOTICES_TOPIC, OUTBOUND_TOPIC, Worker, worker_id
from bot.notices.quota import queue_broadcast
from bot.notices.relay import ALERT, follow_up, plan_relays, relay_figures, remind
from bot.notices.workflow import SEND_PRIORITY, record
from bot.store.models import (
    Conversation,
    Notice,
    NoticeBroadcast,
    NoticeDelivery,
    NoticeFile,
    NoticeRelay,
    OutboundMessage,
    Resident,
    Staff,
    TopicPreference,
)
from bot.store.ops import outbound_row
from bot.tenants import Tenants
from bot.timeutil import VN_TZ, as_utc, to_vn, utcnow, vn_iso

log = logging.getLogger(__name__)
WINDOW = timedelta(days=7)
FINISH_EVERY_S = 2.0
FOLLOW_UP_EVERY_S = 5.0  # relays whose package could not go: checked this often
FREE_WINDOW = timedelta(hours=48)


def key(notice_id: int, resident_id: int, part: str = "") -> str:
    return f"notice:{notice_id}:{part + ':' if part else ''}{resident_id}"


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


def render(notice: Notice, commune_name: str, language: str) -> str:
    _ = gettext_for(language)
    version = notice.translations.get(language) or {}
    headline = version.get("headline") or notice.headline
    body = version.get("body") or notice.body
    label = {"emergency": _("THÔNG BÁO KHẨN"), "priority": _("THÔNG BÁO QUAN TRỌNG")}.get(
        notice.priority, _("THÔNG BÁO")
    )
    if notice.msg_type == "update":
        label = _("CẬP NHẬT THÔNG BÁO")
    return f"{label}: {headline}\n\n{body}\n\n— {commune_name}"


def notice_sends(
    notice: Notice,
    recipient: str,
    resident_id: int | None,
    base_key: str,
    text: str,
    lane: int,
    at: datetime,
    document: File | None = None,
) -> list[dict[str, Any]]:
    """The outbound rows of one notice for one person: the text, then the image (``<key>:img``)
    and the PDF (``<key>:file``) if any; a person's rows go out in id order."""
    replies: list[tuple[str, Reply]] = [(base_key, Text(text))]
    if notice.image_url:
        replies.append((base_key + ":img", Image(url=notice.image_url)))
    if document is not None:
        replies.append((base_key + ":file", document))
    return [
        outbound_row(
            notice.commune_id,
            resident_id,
            "zalo",
            recipient,
            k,
            reply,
            lane,
            at,
            notice_id=notice.id,
        )
        for k, reply in replies
    ]


def route_for(resident: Resident, now: datetime) -> tuple[str, str]:
    last = resident.last_interaction_at
    if (
        last is not None
        and now - as_utc(last) <= WINDOW
        and not (resident.window_closed_at and as_utc(resident.window_closed_at) >= as_utc(last))
    ):
        return "consultation", (
            "in_free_window_48h" if now - as_utc(last) <= FREE_WINDOW else "in_window_7d"
        )
    return "broadcast", "outside_7d_window"


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

    def _package_for(self, notice: Notice):  # type: ignore[no-untyped-def]
        """A propagandist's package of ``notice``: its text per language, villages' languages."""
        commune = self.tenants.by_id(notice.commune_id).config
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


async def plan_deliveries(
    s: AsyncSession,
    notice: Notice,
    commune: Commune,
    settings: NoticeSettings,
    now: datetime,
    broadcasts: BroadcastRules | None = None,
) -> Counter[str]:
    commune_name = commune.name
    conditions = [
        Resident.commune_id == notice.commune_id,
        Resident.channel == "zalo",
        Resident.erased_at.is_(None),
        or_(Resident.is_follower.is_(True), Resident.last_interaction_at >= now - WINDOW),
    ]
    if notice.languages:
        conditions.append(Resident.language.in_(notice.languages))
    if notice.msg_type == "update" and notice.references_id:
        # a correction reaches the same people the original did
        conditions.append(
            Resident.id.in_(
                select(NoticeDelivery.resident_id).where(
                    NoticeDelivery.notice_id == notice.references_id,
                    NoticeDelivery.route != "skipped",
                )
            )
        )
    residents = (
        (await s.execute(select(Resident).where(*conditions).order_by(Resident.id))).scalars().all()
    )
    emergency = notice.priority == "emergency"
    sent_today: dict[int, int] = {}
    if not emergency:
        local_midnight = as_utc(datetime.combine(to_vn(now).date(), time(0), tzinfo=VN_TZ))
        rows = await s.execute(
            select(NoticeDelivery.resident_id, func.count())
            .where(
                NoticeDelivery.commune_id == notice.commune_id,
                NoticeDelivery.route == "consultation",
                NoticeDelivery.created_at >= local_midnight,
            )
            .group_by(NoticeDelivery.resident_id)
        )
        sent_today = {r: n for r, n in rows.all()}
    choices: dict[int, dict[str, bool]] = {}
    if not emergency or notice.subscribers_only:
        # emergencies reach everyone, whatever they unsubscribed from — unless the notice is
        # only for those who asked for its category
        for resident_id, topic, subscribed in (
            await s.execute(
                select(
                    TopicPreference.resident_id, TopicPreference.topic, TopicPreference.subscribed
                ).where(TopicPreference.commune_id == notice.commune_id)
            )
        ).all():
            choices.setdefault(resident_id, {})[topic] = subscribed
    start_at = now if emergency else (quiet_until(now, settings) or now)
    targeted = bool(notice.village_ids or notice.languages or notice.subscribers_only)
    stored = (
        await s.execute(
            select(NoticeFile.id, NoticeFile.filename).where(NoticeFile.notice_id == notice.id)
        )
    ).first()
    document = File(stored[0], stored[1]) if stored else None
    lane = SEND_PRIORITY[notice.priority]
    ledger: list[dict[str, Any]] = []
    queued: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    asked: dict[int, Reply] = {}  # resident → the village question they are sent
    staff = (
        set(
            (
                await s.execute(
                    select(Staff.zalo_user_id).where(
                        Staff.commune_id == notice.commune_id, Staff.zalo_user_id.is_not(None)
                    )
                )
            ).scalars()
        )
        if notice.village_ids
        else set()
    )  # the commune's own people are not asked where they live
    for resident in residents:
        if notice.village_ids and resident.village_id not in notice.village_ids:
            if resident.village_id is not None:
                continue  # another village's notice
            route, reason = "skipped", "village_unknown"
        else:
            route, reason = route_for(resident, start_at)  # judged for when it will go
            if route == "broadcast" and targeted:
                route = "relay"  # an article reaches every follower: only the village's
                # propagandist can carry a notice meant for some of them
        wants = choices.get(resident.id, {})
        if notice.subscribers_only and not wants.get(notice.category, False):
            continue  # not in this notice's audience
        if not emergency and not wants.get(notice.category, wants.get("*", True)):
            route, reason = "skipped", "unsubscribed"
        elif (
            route == "consultation"
            and sent_today.get(resident.id, 0) >= settings.daily_cap
            and not emergency
        ):
            route, reason = "skipped", "daily_cap"
        if (
            reason == "village_unknown"
            and village_chat.should_ask(commune, resident)
            and route_for(resident, start_at)[0] == "consultation"
            and resident.external_id not in staff
        ):
            # only their unknown village keeps this notice from them: ask once, in the window
            with use_language(resident.language):
                question = village_chat.question(commune, "notice")
            queued.append(
                outbound_row(
                    notice.commune_id,
                    resident.id,
                    "zalo",
                    resident.external_id,
                    f"village:ask:{notice.id}:{resident.id}",
                    question,
                    lane,
                    start_at,
                )
            )
            resident.village_asked_at = now
            asked[resident.id] = question
            counts["village_asked"] += 1
        counts[route] += 1
        ledger.append(
            dict(
                commune_id=notice.commune_id,
                notice_id=notice.id,
                resident_id=resident.id,
                route=route,
                reason=reason,
                created_at=now,
            )
        )
        if route == "consultation":
            queued += notice_sends(
                notice,
                resident.external_id,
                resident.id,
                key(notice.id, resident.id),
                render(notice, commune_name, resident.language),
                lane,
                start_at,
                document,
            )
    await _offer_choices(s, asked)
    relays, relay_sends = await plan_relays(
        s,
        notice,
        lambda language: render(notice, commune_name, language),
        {v.name: v.language for v in commune.villages if v.language},
        lane,
        start_at,
        document,
    )
    queued += relay_sends
    counts["propagandists"] = len(relays)
    ids: dict[str, int] = {}
    if queued:
        result = await s.execute(
            insert(OutboundMessage.__table__).returning(
                OutboundMessage.__table__.c.id, OutboundMessage.__table__.c.idempotency_key
            ),
            queued,
        )
        ids = {k: i for i, k in result.all()}
    if counts["broadcast"]:  # once per notice: followers the consultation route cannot reach
        # Zalo's quota and hours decide when (or whether: the residents' reason says so)
        await queue_broadcast(s, notice, commune, broadcasts or BroadcastRules(), start_at, ledger)
    for row in ledger:
        row["outbound_id"] = ids.get(key(notice.id, row["resident_id"]))
    if ledger:
        await s.execute(insert(NoticeDelivery.__table__), ledger)
    for relay in relays:
        relay["outbound_id"] = ids.get(f"notice:{notice.id}:relay:{relay['staff_id']}")
    if relays:
        await s.execute(insert(NoticeRelay.__table__), relays)
    return counts


async def _offer_choices(s: AsyncSession, asked: dict[int, Reply]) -> None:
    """A typed number answers the village question like a tap. (A message the processor is
    handling at this moment may write the conversation back without it; then only a tap or
    the village's name answers — the question itself has gone out.)"""
    if not asked:
        return
    for conv in (
        await s.execute(select(Conversation).where(Conversation.resident_id.in_(list(asked))))
    ).scalars():
        conv.state = village_chat.pending(conv.state, asked[conv.resident_id])


async def cancel_deliveries(s: AsyncSession, notice: Notice, commune_name: str) -> int:
    """Stop what has not been sent; tell those who already got the notice that it is cancelled
    (the correction reaches the same people). Returns the number of corrections queued."""
    prefix = f"notice:{notice.id}:"
    await s.execute(
        update(NoticeBroadcast)
        .where(
            NoticeBroadcast.notice_id == notice.id,
            NoticeBroadcast.message_id.is_(None),
            NoticeBroadcast.status == "pending",
        )
        .values(status="cancelled", error_reason="notice cancelled")
    )
    await s.execute(
        update(OutboundMessage)
        .where(OutboundMessage.notice_id == notice.id, OutboundMessage.status == "pending")
        .values(status="cancelled", error_reason="notice cancelled")
    )
    reached = (
        await s.execute(
            select(
                OutboundMessage.recipient,
                OutboundMessage.channel,
                func.min(OutboundMessage.resident_id),
                func.min(Resident.language),
            )
            .outerjoin(Resident, Resident.id == OutboundMessage.resident_id)
            .where(
                OutboundMessage.notice_id == notice.id,
                ~OutboundMessage.idempotency_key.like(prefix + "cancel:%"),
                ~OutboundMessage.idempotency_key.like(f"{prefix}{ALERT}:%"),  # staff alerts
                OutboundMessage.status.in_(["sent", "sending"]),
            )
            .group_by(OutboundMessage.recipient, OutboundMessage.channel)
        )
    ).all()
    rows = []
    for recipient, channel, resident_id, language in reached:  # once per person reached
        _ = gettext_for(language or "vi")
        text = _(
            'HỦY THÔNG BÁO: "{headline}" của {name} đã được hủy, anh/chị không cần làm '
            "theo thông báo đó. Xin lỗi anh/chị vì sự bất tiện."
        ).format(headline=notice.headline, name=commune_name)
        rows.append(
            outbound_row(
                notice.commune_id,
                resident_id,
                channel,
                recipient,
                f"{prefix}cancel:{recipient}",
                Text(text),
                SEND_PRIORITY[notice.priority],
                notice_id=notice.id,
            )
        )
    if rows:
        await s.execute(insert(OutboundMessage.__table__), rows)
    return len(rows)


async def stats(s: AsyncSession, notice: Notice) -> dict[str, Any]:
    """Recipients planned / sent / failed by reason / skipped by reason / seen."""
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
        "broadcast": await _broadcast_figures(s, notice.id),
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
