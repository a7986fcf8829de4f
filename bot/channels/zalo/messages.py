"""Request bodies for ``/v3.0/oa/message/cs`` (zalo-oa-api.md §4.1), built with zalo-sdk's
message classes (``ZaloMessage``/``ZaloRecipient``/``ZaloMessageBody``/``ZaloAttachment``).

zalo-sdk 0.3.0's ``ZaloTemplateElement`` prints every element to stdout and
``ZaloAttachmentTemplate`` serialises the last element in place of each button, so template
payloads are written here as plain dicts inside ``ZaloAttachment``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from zalo_sdk.oa import ZaloAttachment, ZaloMessage, ZaloMessageBody, ZaloRecipient

from bot.sending import Article

MAX_TEXT = 2000  # characters after NFC (zalo-oa-api.md §4.1, §11.4)
_SENTENCE_END = re.compile(r"(?<=[.!?…;:])\s+|\n+")


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at sentence boundaries so that each part is at most ``limit`` characters.

    A single sentence longer than the limit is cut at the last space before it (or hard-cut
    when there is none). Parts keep their order; no text is lost except boundary whitespace.
    """
    text = unicodedata.normalize("NFC", text).strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[pos : match.start()] + ("\n" if "\n" in match.group() else ""))
        pos = match.end()
    pieces.append(text[pos:])
    parts: list[str] = []
    current = ""
    for piece in pieces:
        while len(piece) > limit:
            cut = piece.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                parts.append(current.rstrip())
                current = ""
            parts.append(piece[:cut].rstrip())
            piece = piece[cut:].lstrip()
        joiner = "" if not current or current.endswith("\n") else " "
        if len(current) + len(joiner) + len(piece) <= limit:
            current = current + joiner + piece
        else:
            parts.append(current.rstrip())
            current = piece
    if current.strip():
        parts.append(current.rstrip())
    return [p for p in parts if p]


def _body(user_id: str, body: ZaloMessageBody) -> dict[str, Any]:
    return ZaloMessage(recipient=ZaloRecipient(user_id=user_id), message_body=body).toDict()


def text_body(user_id: str, text: str) -> dict[str, Any]:
    return _body(user_id, ZaloMessageBody(text=text))


def image_body(
    user_id: str,
    *,
    url: str | None = None,
    attachment_id: str | None = None,
    caption: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"media_type": "image"}
    if attachment_id:
        element["attachment_id"] = attachment_id
    elif url:
        element["url"] = url
    else:
        raise ValueError("an image needs a url or an attachment_id")
    attachment = ZaloAttachment("template", {"template_type": "media", "elements": [element]})
    return _body(user_id, ZaloMessageBody(text=caption, attachment=attachment))


def request_user_info_body(
    user_id: str, title: str, subtitle: str, image_url: str
) -> dict[str, Any]:
    attachment = ZaloAttachment(
        "template",
        {
            "template_type": "request_user_info",
            "elements": [
                {"title": title[:100], "subtitle": subtitle[:500], "image_url": image_url}
            ],
        },
    )
    return _body(user_id, ZaloMessageBody(attachment=attachment))


def buttons_body(user_id: str, text: str, choices: list[dict[str, str]]) -> dict[str, Any]:
    """Quick choices as ``oa.query.hide`` buttons: a tap arrives as ``user_send_text`` whose text
    is the payload (zalo-oa-api.md §3.5). Used only when ``zalo.buttons`` is on."""
    buttons = [
        {"title": c["title"][:35], "type": "oa.query.hide", "payload": c["payload"]}
        for c in choices[:5]
    ]
    attachment = ZaloAttachment(
        "template",
        {
            "template_type": "list",
            "elements": [{"title": text[:100], "subtitle": text[100:600] or text[:100]}],
            "buttons": buttons,
        },
    )
    return _body(user_id, ZaloMessageBody(attachment=attachment))


def file_body(user_id: str, token: str) -> dict[str, Any]:
    """A file message (CS only) naming an uploaded file's token (zalo-oa-api.md §4.5)."""
    return {
        "recipient": {"user_id": user_id},
        "message": {"attachment": {"type": "file", "payload": {"token": token}}},
    }


def article_body(article: Article) -> dict[str, Any]:
    """``/v2.0/article/create`` (zalo-oa-api.md §7): a normal article, within Zalo's lengths."""
    paragraphs = [p.strip() for p in article.body.split("\n") if p.strip()]
    return {
        "type": "normal",
        "title": article.title[:150],
        "author": article.author[:50],
        "description": article.body[:300],
        "cover": {"cover_type": "photo", "photo_url": article.cover_url, "status": "show"},
        "body": [{"type": "text", "content": p} for p in paragraphs]
        or [{"type": "text", "content": article.body}],
        "status": "show",
        "comment": "hide",
    }


def broadcast_body(article_id: str) -> dict[str, Any]:
    """``/v2.0/oa/message``: the article as a media template to every follower (no age,
    gender or location filter — the target fields are all optional)."""
    return {
        "recipient": {"target": {}},
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "article", "attachment_id": article_id}],
                },
            }
        },
    }
