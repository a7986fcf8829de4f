"""A notice's drafting steps, in one place for the JSON API (bot/api/notices.py) and the
console (bot/console/notices.py): each checks its own input its own way, then both write the
same rows through here — the draft with its audit row, the PDF that replaces the last one,
the uploaded image that replaces the last one (and the image's address), and the rule that a propagandist acts only on a notice they wrote themselves."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.images import CheckedImage
from bot.store.models import Notice, NoticeFile, NoticeImage


async def draft(
    s: AsyncSession,
    *,
    commune_id: int,
    created_by: int | None,
    action: str = "create",
    note: str | None = None,
    **fields: Any,
) -> Notice:
    """A new draft with its audit row (``action``: how it came, "create" or "import"), in the
    caller's transaction; ``fields`` are the ``Notice`` columns the caller checked."""
    fields.setdefault("msg_type", "alert")
    fields.setdefault("translations", {})
    fields.setdefault("village_ids", [])
    fields.setdefault("languages", [])
    notice = Notice(commune_id=commune_id, created_by=created_by, status="draft", **fields)
    s.add(notice)
    await s.flush()
    audit.notice(s, notice, action, "draft", created_by, note, created=True)
    return notice


async def attach_file(s: AsyncSession, notice: Notice, name: str, content: bytes) -> None:
    """The notice's PDF (a notice has one: a new upload replaces the last)."""
    existing = (
        await s.execute(select(NoticeFile).where(NoticeFile.notice_id == notice.id))
    ).scalar_one_or_none()
    if existing is not None:
        await s.delete(existing)
        await s.flush()
    s.add(
        NoticeFile(
            commune_id=notice.commune_id,
            notice_id=notice.id,
            filename=name,
            content=content,
            size=len(content),
            zalo_tokens={},
        )
    )


async def attach_image(s: AsyncSession, notice: Notice, image: CheckedImage) -> None:
    """The notice's uploaded image (one per notice: a new upload replaces the last). Residents
    messaged one by one get it rather than an image address given too; the address stays, for
    what needs a public link (the article's cover for followers out of Zalo's reply window, a
    CAP export's resource)."""
    existing = (
        await s.execute(select(NoticeImage).where(NoticeImage.notice_id == notice.id))
    ).scalar_one_or_none()
    if existing is not None:
        await s.delete(existing)
        await s.flush()
    s.add(
        NoticeImage(
            commune_id=notice.commune_id,
            notice_id=notice.id,
            content_type=image.content_type,
            content=image.content,
            size=len(image.content),
            width=image.width,
            height=image.height,
            zalo_tokens={},
        )
    )


def may_act(notice: Notice, role: str, staff_id: int | None) -> bool:
    """A propagandist acts (a step, a file) only on a notice they wrote; the other roles as
    the workflow says (``bot.notices.workflow.check``)."""
    return role != "propagandist" or notice.created_by == staff_id
