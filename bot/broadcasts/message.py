"""A notice as outbound replies: its text in a language, then its image and its PDF, each an
outbound row with its own idempotency key (``notice:<id>:<resident>``, ``…:img``, ``…:file``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.envelope import File, Image, Reply, Text
from bot.i18n import gettext_for
from bot.store.models import Notice, NoticeFile, NoticeImage
from bot.store.ops import outbound_row


def key(notice_id: int, resident_id: int, part: str = "") -> str:
    return f"notice:{notice_id}:{part + ':' if part else ''}{resident_id}"


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


async def attachments(s: AsyncSession, notice: Notice) -> tuple[Image | None, File | None]:
    """The notice's image and PDF as replies: the uploaded image (``notice_images``, the
    channel uploads it) else the image's address, and the stored PDF. An occurrence of a
    recurring notice (``bot/notices/schedule.py``: an alert referencing the recurring one) sends
    its parent's — the same rows, so Zalo's upload is reused while it lasts."""
    owner = notice.id
    if notice.references_id is not None and notice.msg_type == "alert":
        recurring = (
            await s.execute(select(Notice.recurrence).where(Notice.id == notice.references_id))
        ).scalar_one_or_none()
        if recurring:
            owner = notice.references_id
    image: Image | None = None
    stored = (
        await s.execute(select(NoticeImage.id).where(NoticeImage.notice_id == owner))
    ).scalar_one_or_none()
    if stored is not None:
        image = Image(image_id=stored)
    elif notice.image_url:
        image = Image(url=notice.image_url)
    document = (
        await s.execute(
            select(NoticeFile.id, NoticeFile.filename).where(NoticeFile.notice_id == owner)
        )
    ).first()
    return image, File(document[0], document[1]) if document else None


def notice_sends(
    notice: Notice,
    recipient: str,
    resident_id: int | None,
    base_key: str,
    text: str,
    lane: int,
    at: datetime,
    document: File | None = None,
    image: Image | None = None,
) -> list[dict[str, Any]]:
    """The outbound rows of one notice for one person: the text, then the image (``<key>:img``)
    and the PDF (``<key>:file``) if any (``attachments``); a person's rows go out in id order."""
    replies: list[tuple[str, Reply]] = [(base_key, Text(text))]
    if image is not None:
        replies.append((base_key + ":img", image))
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
