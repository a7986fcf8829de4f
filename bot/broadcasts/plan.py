"""From an approved notice to a ledger row per resident and a queued send per allowed route.

The route is Zalo's rule (``bot/broadcasts/routes.py``): a consultation message only to a
resident who interacted within 7 days; everyone else is marked for the commune's article
broadcast (``article.py``) or, for a targeted notice, the propagandist relay (``relay.py``). The
reason for every choice is stored. A resident whom a village notice misses only because their
village is unknown is asked for it, once, when a consultation message can reach them. Our own
rules for residents: not at night (``notices.quiet_start`` – ``quiet_end``, Vietnamese time) and
at most ``notices.daily_cap`` notices a day — emergencies ignore both.

Planning a notice is one transaction (ledger rows, outbound rows with idempotency keys
``notice:<id>:<resident>``, the state change and its audit row), so a crash replans it from
scratch or not at all; the sender then delivers the queued rows exactly once per key. Cancelling
is here too: what has not gone is stopped, those reached are told.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import facts_store
from bot.broadcasts.message import attachments, key, notice_sends, render
from bot.broadcasts.quota import queue_broadcast, quiet_until
from bot.broadcasts.relay import ALERT, plan_relays
from bot.broadcasts.routes import WINDOW, route_for
from bot.config import BroadcastRules, Commune, NoticeSettings
from bot.conversation import village as village_chat
from bot.envelope import Reply, Text
from bot.i18n import gettext_for, use_language
from bot.notices.workflow import SEND_PRIORITY
from bot.store.models import (
    Conversation,
    Notice,
    NoticeBroadcast,
    NoticeDelivery,
    NoticeRelay,
    OutboundMessage,
    Resident,
    Staff,
    TopicPreference,
)
from bot.store.ops import outbound_row, table_of
from bot.timeutil import VN_TZ, as_utc, to_vn


async def plan_deliveries(
    s: AsyncSession,
    notice: Notice,
    commune: Commune,
    settings: NoticeSettings,
    now: datetime,
    broadcasts: BroadcastRules | None = None,
) -> Counter[str]:
    # the villages as the console may have added or renamed them (their languages, the
    # question asked of a resident whose village is unknown)
    commune = await facts_store.effective(s, notice.commune_id, commune)
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
    image, document = await attachments(s, notice)
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
                image,
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
        image,
    )
    queued += relay_sends
    counts["propagandists"] = len(relays)
    ids: dict[str, int] = {}
    if queued:
        result = await s.execute(
            insert(table_of(OutboundMessage)).returning(
                table_of(OutboundMessage).c.id, table_of(OutboundMessage).c.idempotency_key
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
        await s.execute(insert(table_of(NoticeDelivery)), ledger)
    for relay in relays:
        relay["outbound_id"] = ids.get(f"notice:{notice.id}:relay:{relay['staff_id']}")
    if relays:
        await s.execute(insert(table_of(NoticeRelay)), relays)
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
        await s.execute(insert(table_of(OutboundMessage)), rows)
    return len(rows)
