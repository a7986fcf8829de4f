"""A notice as outbound replies: its text in a language, then its image and its PDF, each an
outbound row with its own idempotency key (``notice:<id>:<resident>``, ``…:img``, ``…:file``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.envelope import File, Image, Reply, Text
from bot.i18n import gettext_for
from bot.store.models import Notice
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
