"""The propagandist relay: the OA cannot post into a village's own Zalo group, so each
village's tuyên truyền viên receives the notice as a clean message to forward (long-press →
Chuyển tiếp), then a short note asking them to reply "đã chuyển"; their reply is recorded per
village, and one reminder goes out if they have not confirmed after
``notices.relay_reminder_after_s`` (never in the quiet hours).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import NoticeSettings
from bot.envelope import Text
from bot.i18n import gettext_for
from bot.nlu.normalize import search_key
from bot.notices.workflow import SEND_PRIORITY
from bot.store.models import Notice, NoticeRelay, OutboundMessage, Resident, Staff, Village
from bot.store.ops import outbound_row
from bot.timeutil import utcnow

#: what a village head types when done (accent-free, lower case); a button sends /relay_done
CONFIRMATIONS = {"da chuyen", "da chuyen roi", "da chuyen vao nhom", "da chuyen vao nhom thon",
                 "da gui", "da gui roi", "da gui nhom", "xong", "da xong", "/relay_done"}


def is_confirmation(text: str | None) -> bool:
    return bool(text) and search_key(text or "").strip(" .!") in CONFIRMATIONS


async def plan_relays(s: AsyncSession, notice: Notice, package: Callable[[str], str],
                      languages: dict[str, str], lane: int, start_at: datetime,
                      document: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(relay rows, outbound rows) for every active propagandist of the notice's villages who
    is reachable on Zalo. ``package(language)`` is the notice as text; ``languages`` (village
    name → its group's language, config ``villages[].language``) picks the translation."""
    from bot.notices.delivery import notice_sends

    query = select(Staff, Village.name).join(Village, Village.id == Staff.village_id).where(
        Staff.commune_id == notice.commune_id, Staff.role == "propagandist",
        Staff.active.is_(True), Staff.zalo_user_id.is_not(None))
    if notice.village_ids:
        query = query.where(Staff.village_id.in_(notice.village_ids))
    _ = gettext_for("vi")
    relays, outbound = [], []
    for staff, village in (await s.execute(query.order_by(Staff.id))).all():
        resident_id = (await s.execute(select(Resident.id).where(
            Resident.commune_id == notice.commune_id, Resident.channel == "zalo",
            Resident.external_id == staff.zalo_user_id))).scalar_one_or_none()
        ask = _("Nhờ anh/chị chuyển tin nhắn trên vào nhóm Zalo của {village} (bấm giữ tin "
                "nhắn → Chuyển tiếp). Chuyển xong, anh/chị nhắn lại: ĐÃ CHUYỂN").format(
                    village=village)
        relays.append(dict(commune_id=notice.commune_id, notice_id=notice.id,
                           village_id=staff.village_id, staff_id=staff.id, created_at=utcnow()))
        language = languages.get(village)
        text = package(language if language in notice.translations else "vi")
        outbound += notice_sends(notice, staff.zalo_user_id, resident_id,
                                 f"notice:{notice.id}:relay:{staff.id}", text, lane, start_at,
                                 document)
        outbound.append(outbound_row(notice.commune_id, resident_id, "zalo", staff.zalo_user_id,
                                     f"notice:{notice.id}:relayask:{staff.id}", Text(ask), lane,
                                     start_at, notice_id=notice.id))
    return relays, outbound


async def confirm(s: AsyncSession, commune_id: int, zalo_user_id: str,
                  language: str) -> Text | None:
    """A propagandist's "đã chuyển": the oldest unconfirmed relay is confirmed and thanked;
    ``None`` when the sender has nothing to confirm (the message is then an ordinary one)."""
    row = (await s.execute(
        select(NoticeRelay, Notice.headline, Village.name)
        .join(Staff, Staff.id == NoticeRelay.staff_id)
        .join(Notice, Notice.id == NoticeRelay.notice_id)
        .join(Village, Village.id == NoticeRelay.village_id)
        .where(NoticeRelay.commune_id == commune_id, Staff.zalo_user_id == zalo_user_id,
               NoticeRelay.confirmed_at.is_(None), Notice.status != "cancelled")
        .order_by(NoticeRelay.id).limit(1).with_for_update(of=NoticeRelay))).first()
    if row is None:
        return None
    relay, headline, village = row
    relay.confirmed_at = utcnow()
    _ = gettext_for(language)
    return Text(_("Cảm ơn anh/chị đã chuyển thông báo \"{headline}\" vào nhóm {village}.").format(
        headline=headline, village=village))


async def remind(s: AsyncSession, settings: NoticeSettings, now: datetime) -> int:
    """One reminder per relay left unconfirmed for ``relay_reminder_after_s``."""
    due = (await s.execute(
        select(NoticeRelay, Staff.zalo_user_id, Notice, Village.name)
        .join(Staff, Staff.id == NoticeRelay.staff_id)
        .join(Notice, Notice.id == NoticeRelay.notice_id)
        .join(Village, Village.id == NoticeRelay.village_id)
        .join(OutboundMessage, OutboundMessage.id == NoticeRelay.outbound_id)
        .where(NoticeRelay.confirmed_at.is_(None), NoticeRelay.reminded_at.is_(None),
               # timed from when the package reached them, not from planning
               OutboundMessage.status == "sent",
               OutboundMessage.sent_at < now - timedelta(seconds=settings.relay_reminder_after_s),
               Notice.status.in_(["sending", "sent"]))
        .with_for_update(of=NoticeRelay, skip_locked=True))).all()
    _ = gettext_for("vi")
    rows = []
    for relay, user_id, notice, village in due:
        relay.reminded_at = now
        text = _("Nhắc anh/chị: thông báo \"{headline}\" chưa được xác nhận đã chuyển vào nhóm "
                 "Zalo của {village}. Chuyển xong, anh/chị nhắn lại: ĐÃ CHUYỂN").format(
                     headline=notice.headline, village=village)
        rows.append(outbound_row(notice.commune_id, None, "zalo", user_id,
                                 f"notice:{notice.id}:relayremind:{relay.staff_id}", Text(text),
                                 SEND_PRIORITY[notice.priority], now, notice_id=notice.id))
    if rows:
        await s.execute(insert(OutboundMessage.__table__), rows)
    return len(rows)


async def relay_figures(s: AsyncSession, notice_id: int) -> list[dict[str, Any]]:
    rows = (await s.execute(
        select(NoticeRelay, Village.name, Staff.name, OutboundMessage.status)
        .join(Village, Village.id == NoticeRelay.village_id)
        .join(Staff, Staff.id == NoticeRelay.staff_id)
        .outerjoin(OutboundMessage, OutboundMessage.id == NoticeRelay.outbound_id)
        .where(NoticeRelay.notice_id == notice_id).order_by(Village.name))).all()
    return [{"village": village, "propagandist": name, "package": status,
             "confirmed_at": relay.confirmed_at.isoformat() if relay.confirmed_at else None,
             "reminded_at": relay.reminded_at.isoformat() if relay.reminded_at else None}
            for relay, village, name, status in rows]
