"""The propagandist relay: the OA cannot post into a village's own Zalo group, so each
village's tuyên truyền viên receives the notice as a clean message to forward (long-press →
Chuyển tiếp), then a short note asking them to reply "đã chuyển"; their reply is recorded per
village, and one reminder goes out if they have not confirmed after
``notices.relay_reminder_after_s`` (never in the quiet hours).

The package is a consultation message like any other: Zalo delivers it only to someone who
messaged the OA within 7 days (zalo-oa-api.md §4.2). A propagandist outside that window is not
sent it blindly: the relay records ``problem = window_closed`` (a package Zalo refuses later
records ``window_closed`` or ``failed``), and staff are told — "told" means: a Zalo message to
the notice's author and the commune's leaders, those of them Zalo lets the OA reach (they
messaged the OA within 7 days); the notice's figures list per village the problem and who was
told, an empty list meaning nobody could be reached and the figures are the only place it
shows. When the propagandist messages the OA again while the notice still holds, the package
goes to them then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.broadcasts.message import attachments, notice_sends
from bot.broadcasts.routes import route_for
from bot.config import NoticeSettings
from bot.envelope import Text
from bot.i18n import gettext_for
from bot.notices.workflow import SEND_PRIORITY
from bot.store.models import (
    Notice,
    NoticeRelay,
    OutboundMessage,
    Resident,
    Staff,
    Village,
)
from bot.store.ops import insert_for, outbound_row, table_of
from bot.text import search_key
from bot.timeutil import utcnow, vn_iso

#: what a village head types when done (accent-free, lower case); a button sends /relay_done
CONFIRMATIONS = {
    "da chuyen",
    "da chuyen roi",
    "da chuyen vao nhom",
    "da chuyen vao nhom thon",
    "da gui",
    "da gui roi",
    "da gui nhom",
    "xong",
    "da xong",
    "/relay_done",
    "forwarded",
    "done",
}  # a propagandist answered in English
WINDOW_CLOSED = "window_closed"
ALERT = "relayproblem"  # idempotency key part of the staff alert: notice:<id>:relayproblem:…
FOLLOWED_FOR = timedelta(days=7)  # relays older than this are no longer followed up


def is_confirmation(text: str | None) -> bool:
    return bool(text) and search_key(text or "").strip(" .!") in CONFIRMATIONS


def _package(
    notice: Notice,
    staff: Staff,
    resident_id: int | None,
    village: str,
    package: Callable[[str], str],
    languages: dict[str, str],
    lane: int,
    at: datetime,
    document: Any = None,
    image: Any = None,
) -> list[dict[str, Any]]:
    """The outbound rows of one propagandist's package: the notice (text, image, PDF) in the
    village's language when translated, then the ask to forward it and reply "đã chuyển"."""
    _ = gettext_for("vi")
    ask = _(
        "Nhờ anh/chị chuyển tin nhắn trên vào nhóm Zalo của {village} (bấm giữ tin "
        "nhắn → Chuyển tiếp). Chuyển xong, anh/chị nhắn lại: ĐÃ CHUYỂN"
    ).format(village=village)
    language = languages.get(village)
    text = package(language if language in notice.translations else "vi")
    return notice_sends(
        notice,
        cast(str, staff.zalo_user_id),
        resident_id,
        f"notice:{notice.id}:relay:{staff.id}",
        text,
        lane,
        at,
        document,
        image,
    ) + [
        outbound_row(
            notice.commune_id,
            resident_id,
            "zalo",
            cast(str, staff.zalo_user_id),
            f"notice:{notice.id}:relayask:{staff.id}",
            Text(ask),
            lane,
            at,
            notice_id=notice.id,
        )
    ]


async def _reachable(
    s: AsyncSession, commune_id: int, zalo_user_id: str, at: datetime
) -> Resident | None:
    """The person's resident row if Zalo lets the OA send them a consultation message at
    ``at`` (they messaged the OA within 7 days and no send failed for the window since)."""
    resident = (
        await s.execute(
            select(Resident).where(
                Resident.commune_id == commune_id,
                Resident.channel == "zalo",
                Resident.external_id == zalo_user_id,
            )
        )
    ).scalar_one_or_none()
    if resident is None or route_for(resident, at)[0] != "consultation":
        return None
    return resident


async def plan_relays(
    s: AsyncSession,
    notice: Notice,
    package: Callable[[str], str],
    languages: dict[str, str],
    lane: int,
    start_at: datetime,
    document: Any = None,
    image: Any = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(relay rows, outbound rows) for every active propagandist of the notice's villages who
    is reachable on Zalo. ``package(language)`` is the notice as text; ``languages`` (village
    name → its group's language, config ``villages[].language``) picks the translation. One
    outside Zalo's 7-day window gets no package: their relay row says so and staff are told."""
    query = (
        select(Staff, Village.name)
        .join(Village, Village.id == Staff.village_id)
        .where(
            Staff.commune_id == notice.commune_id,
            Staff.role == "propagandist",
            Staff.active.is_(True),
            Staff.zalo_user_id.is_not(None),
        )
    )
    if notice.village_ids:
        query = query.where(Staff.village_id.in_(notice.village_ids))
    relays, outbound, closed = [], [], []
    for staff, village in (await s.execute(query.order_by(Staff.id))).all():
        resident = await _reachable(s, notice.commune_id, cast(str, staff.zalo_user_id), start_at)
        relays.append(
            dict(
                commune_id=notice.commune_id,
                notice_id=notice.id,
                village_id=staff.village_id,
                staff_id=staff.id,
                created_at=utcnow(),
                problem=None if resident else WINDOW_CLOSED,
            )
        )
        if resident is None:
            closed.append((staff, village))
            continue
        outbound += _package(
            notice, staff, resident.id, village, package, languages, lane, start_at, document, image
        )
    outbound += await _alerts(
        s, notice, [(staff, village, WINDOW_CLOSED) for staff, village in closed], start_at
    )
    return relays, outbound


async def _alerts(
    s: AsyncSession, notice: Notice, problems: list[tuple[Staff, str, str]], now: datetime
) -> list[dict[str, Any]]:
    """Alerts to the notice's author and the commune's leaders who can be reached on Zalo:
    these propagandists' packages could not go (outbound rows ``…:relayproblem:<p>:to:<s>``)."""
    if not problems:
        return []
    told = []
    for person in (
        await s.execute(
            select(Staff)
            .where(
                Staff.commune_id == notice.commune_id,
                Staff.active.is_(True),
                Staff.zalo_user_id.is_not(None),
                or_(Staff.id == notice.created_by, Staff.role == "leader"),
            )
            .order_by(Staff.id)
        )
    ).scalars():
        resident = await _reachable(s, notice.commune_id, cast(str, person.zalo_user_id), now)
        if resident is not None:
            told.append((person, resident))
    _ = gettext_for("vi")
    rows = []
    for propagandist, village, problem in problems:
        if problem == WINDOW_CLOSED:
            text = _(
                'Chưa gửi được thông báo "{headline}" cho tuyên truyền viên {name} '
                "({village}): người này chưa nhắn tin cho trang Zalo của xã trong 7 ngày "
                "qua nên Zalo không cho gửi. Nhờ anh/chị báo trực tiếp để họ chuyển tin vào "
                "nhóm; khi họ nhắn tin cho trang Zalo của xã, trợ lý sẽ gửi lại."
            )
        else:
            text = _(
                'Không gửi được thông báo "{headline}" cho tuyên truyền viên {name} '
                "({village}). Nhờ anh/chị báo trực tiếp để họ chuyển tin vào nhóm."
            )
        text = text.format(headline=notice.headline, name=propagandist.name, village=village)
        rows += [
            outbound_row(
                notice.commune_id,
                resident.id,
                "zalo",
                cast(str, person.zalo_user_id),
                f"notice:{notice.id}:{ALERT}:{propagandist.id}:to:{person.id}",
                Text(text),
                0,
                now,
                notice_id=notice.id,
            )
            for person, resident in told
        ]
    return rows


async def follow_up(
    s: AsyncSession,
    now: datetime,
    package_for: Callable[
        [AsyncSession, Notice], Awaitable[tuple[Callable[[str], str], dict[str, str]]]
    ],
) -> int:
    """Packages that could not go: one Zalo refused (window closed, failed) is recorded and
    staff are told; one held for a closed window goes as soon as the propagandist has messaged
    the OA again (while the notice is sending or sent and has not expired). ``package_for``
    gives a notice's text per language and its villages' languages. Returns rows queued."""
    alerts: list[dict[str, Any]] = []
    refused = (
        await s.execute(
            select(NoticeRelay, OutboundMessage.status, Notice, Staff, Village.name)
            .join(OutboundMessage, OutboundMessage.id == NoticeRelay.outbound_id)
            .join(Notice, Notice.id == NoticeRelay.notice_id)
            .join(Staff, Staff.id == NoticeRelay.staff_id)
            .join(Village, Village.id == NoticeRelay.village_id)
            .where(
                NoticeRelay.problem.is_(None),
                NoticeRelay.created_at > now - FOLLOWED_FOR,
                OutboundMessage.status.in_([WINDOW_CLOSED, "failed"]),
            )
            .with_for_update(of=NoticeRelay, skip_locked=True)
        )
    ).all()
    for relay, status, notice, staff, village in refused:
        relay.problem = status
        alerts += await _alerts(s, notice, [(staff, village, status)], now)
    if alerts:
        await s.execute(insert_for(s, OutboundMessage).values(alerts).on_conflict_do_nothing())
    waiting = (
        await s.execute(
            select(NoticeRelay, Notice, Staff, Village.name)
            .join(Notice, Notice.id == NoticeRelay.notice_id)
            .join(Staff, Staff.id == NoticeRelay.staff_id)
            .join(Village, Village.id == NoticeRelay.village_id)
            .join(
                Resident,
                (Resident.commune_id == NoticeRelay.commune_id)
                & (Resident.channel == "zalo")
                & (Resident.external_id == Staff.zalo_user_id),
            )
            .where(
                NoticeRelay.problem == WINDOW_CLOSED,
                NoticeRelay.outbound_id.is_(None),
                NoticeRelay.created_at > now - FOLLOWED_FOR,
                Notice.status.in_(["sending", "sent"]),
                Staff.active.is_(True),
                or_(Notice.expires_at.is_(None), Notice.expires_at > now),
                Resident.last_interaction_at > NoticeRelay.created_at,
            )
            .with_for_update(of=NoticeRelay, skip_locked=True)
        )
    ).all()
    sent = 0
    for relay, notice, staff, village in waiting:
        resident = await _reachable(s, notice.commune_id, cast(str, staff.zalo_user_id), now)
        if resident is None:
            continue
        image, document = await attachments(s, notice)
        package, languages = await package_for(s, notice)
        rows = _package(
            notice,
            staff,
            resident.id,
            village,
            package,
            languages,
            SEND_PRIORITY[notice.priority],
            now,
            document,
            image,
        )
        result = await s.execute(
            insert_for(s, OutboundMessage)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(OutboundMessage.id, OutboundMessage.idempotency_key)
        )
        ids = {k: i for i, k in result.all()}
        relay.outbound_id = ids.get(f"notice:{notice.id}:relay:{staff.id}")
        relay.problem = None
        sent += len(rows)
    return len(alerts) + sent


async def confirm(s: AsyncSession, staff: Staff, language: str) -> Text | None:
    """A propagandist's "đã chuyển" (``staff``: who wrote it, as ``bot.chat_staff.sender``
    decided): the oldest unconfirmed relay is confirmed and thanked; ``None`` when they have
    nothing to confirm (the message is then an ordinary one)."""
    row = (
        await s.execute(
            select(NoticeRelay, Notice.headline, Village.name)
            .join(Notice, Notice.id == NoticeRelay.notice_id)
            .join(Village, Village.id == NoticeRelay.village_id)
            .where(
                NoticeRelay.commune_id == staff.commune_id,
                NoticeRelay.staff_id == staff.id,
                NoticeRelay.confirmed_at.is_(None),
                NoticeRelay.problem.is_(None),
                Notice.status != "cancelled",
            )
            .order_by(NoticeRelay.id)
            .limit(1)
            .with_for_update(of=NoticeRelay)
        )
    ).first()
    if row is None:
        return None
    relay, headline, village = row
    relay.confirmed_at = utcnow()
    _ = gettext_for(language)
    return Text(
        _('Cảm ơn anh/chị đã chuyển thông báo "{headline}" vào nhóm {village}.').format(
            headline=headline, village=village
        )
    )


async def remind(s: AsyncSession, settings: NoticeSettings, now: datetime) -> int:
    """One reminder per relay left unconfirmed for ``relay_reminder_after_s``."""
    due = (
        await s.execute(
            select(NoticeRelay, Staff.zalo_user_id, Notice, Village.name)
            .join(Staff, Staff.id == NoticeRelay.staff_id)
            .join(Notice, Notice.id == NoticeRelay.notice_id)
            .join(Village, Village.id == NoticeRelay.village_id)
            .join(OutboundMessage, OutboundMessage.id == NoticeRelay.outbound_id)
            .where(
                NoticeRelay.confirmed_at.is_(None),
                NoticeRelay.reminded_at.is_(None),
                # timed from when the package reached them, not from planning
                OutboundMessage.status == "sent",
                OutboundMessage.sent_at < now - timedelta(seconds=settings.relay_reminder_after_s),
                Notice.status.in_(["sending", "sent"]),
            )
            .with_for_update(of=NoticeRelay, skip_locked=True)
        )
    ).all()
    _ = gettext_for("vi")
    rows = []
    for relay, user_id, notice, village in due:
        relay.reminded_at = now
        text = _(
            'Nhắc anh/chị: thông báo "{headline}" chưa được xác nhận đã chuyển vào nhóm '
            "Zalo của {village}. Chuyển xong, anh/chị nhắn lại: ĐÃ CHUYỂN"
        ).format(headline=notice.headline, village=village)
        rows.append(
            outbound_row(
                notice.commune_id,
                None,
                "zalo",
                cast(str, user_id),  # the query kept propagandists with a Zalo id
                f"notice:{notice.id}:relayremind:{relay.staff_id}",
                Text(text),
                SEND_PRIORITY[notice.priority],
                now,
                notice_id=notice.id,
            )
        )
    if rows:
        await s.execute(insert(table_of(OutboundMessage)), rows)
    return len(rows)


async def relay_figures(s: AsyncSession, notice_id: int) -> list[dict[str, Any]]:
    """Per village: the package's state, the confirmation, and a problem with who was told."""
    rows = (
        await s.execute(
            select(NoticeRelay, Village.name, Staff.name, OutboundMessage.status)
            .join(Village, Village.id == NoticeRelay.village_id)
            .join(Staff, Staff.id == NoticeRelay.staff_id)
            .outerjoin(OutboundMessage, OutboundMessage.id == NoticeRelay.outbound_id)
            .where(NoticeRelay.notice_id == notice_id)
            .order_by(Village.name)
        )
    ).all()
    told: dict[int, list[str]] = {}
    if any(relay.problem for relay, *_ in rows):
        prefix = f"notice:{notice_id}:{ALERT}:"
        alerts = (
            await s.execute(
                select(OutboundMessage.idempotency_key, Staff.name)
                .join(
                    Staff,
                    (Staff.zalo_user_id == OutboundMessage.recipient)
                    & (Staff.commune_id == OutboundMessage.commune_id)
                    & (OutboundMessage.channel == "zalo"),
                )
                .where(OutboundMessage.notice_id == notice_id)
            )
        ).all()
        for key, name in alerts:
            if key.startswith(prefix) and ":to:" in key:
                propagandist = int(key[len(prefix) :].split(":")[0])
                told.setdefault(propagandist, [])
                if name not in told[propagandist]:
                    told[propagandist].append(name)
    return [
        {
            "village": village,
            "propagandist": name,
            "package": status or ("not_sent" if relay.problem else None),
            "problem": relay.problem,
            **({"staff_told": told.get(relay.staff_id, [])} if relay.problem else {}),
            "confirmed_at": vn_iso(relay.confirmed_at),
            "reminded_at": vn_iso(relay.reminded_at),
        }
        for relay, village, name, status in rows
    ]
