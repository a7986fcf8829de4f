"""Uploads, articles and OA info (zalo-oa-api.md §4.5, §7, §5).

* ``POST /v2.0/oa/upload/image`` (jpg/png ≤ 1 MB → ``data.attachment_id``), ``/upload/gif``
  (→ ``attachment_id``), ``/upload/file`` (pdf/doc/docx/csv ≤ 5 MB → ``data.token``); multipart
  field ``file``. Too large → -210, wrong/missing file → -201.
* ``POST /v2.0/article/create`` (``type:"normal"``, title ≤ 150, author ≤ 50, description ≤ 300,
  non-empty ``body`` list, a ``cover`` — a photo URL or a video — as Zalo's clients always send,
  §7.1; ``state.require_cover``) → ``data.token``; ``POST /v2.0/article/verify {"token"}`` → -214 for the
  first ``state.article_processing_polls`` calls, then ``data:{"id","article_id"}`` (both spellings,
  DISPUTED in §7).
* ``GET /v2.0/oa/getoa`` → ``data.oa_id, name, ...``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from aiohttp import web

from . import ids
from .replies import as_id, current_oa, fail, ok, read_json, state_of
from .state import Article, Upload, UploadKind

MB = 1024 * 1024
#: kind -> (extensions, content types, max bytes)
UPLOAD_RULES: dict[UploadKind, tuple[frozenset[str], frozenset[str], int]] = {
    "image": (frozenset({"jpg", "jpeg", "png"}), frozenset({"image/jpeg", "image/png"}), 1 * MB),
    "gif": (frozenset({"gif"}), frozenset({"image/gif"}), 5 * MB),
    "file": (
        frozenset({"pdf", "doc", "docx", "csv"}),
        frozenset(
            {
                "application/pdf",
                "application/msword",
                "text/csv",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            }
        ),
        5 * MB,
    ),
}
ARTICLE_BODY_TYPES = frozenset({"text", "image", "video", "product"})


async def _upload(request: web.Request, kind: UploadKind) -> web.Response:
    state = state_of(request)
    form = await request.post()
    field = form.get("file")
    if not isinstance(field, web.FileField):
        return fail(request, -201, field="file")
    data = field.file.read()
    extensions, content_types, max_bytes = UPLOAD_RULES[kind]
    ext = os.path.splitext(field.filename or "")[1].lower().lstrip(".")
    if ext not in extensions and field.content_type not in content_types:
        return fail(request, -201, field="file")
    if not data:
        return fail(request, -201, field="file")
    if len(data) > max_bytes:
        return fail(request, -210)
    ref = ids.token(24)
    state.uploads[ref] = Upload(
        kind,
        current_oa(request).oa_id,
        ref,
        field.filename or "",
        field.content_type,
        len(data),
        state.now_ms(),
        hashlib.sha256(data).hexdigest(),
    )
    return ok(request, {"token": ref} if kind == "file" else {"attachment_id": ref})


async def upload_image(request: web.Request) -> web.Response:
    return await _upload(request, "image")


async def upload_gif(request: web.Request) -> web.Response:
    return await _upload(request, "gif")


async def upload_file(request: web.Request) -> web.Response:
    return await _upload(request, "file")


def _cover_error(cover: Any, required: bool) -> bool:
    if cover is None:
        return required
    if not isinstance(cover, dict):
        return True
    if cover.get("cover_type", "photo") == "photo":
        url = cover.get("photo_url")
        return not (isinstance(url, str) and url.startswith(("http://", "https://")))
    return cover.get("cover_type") != "video" or not cover.get("video_id")


def _article_error(body: dict[str, Any], require_cover: bool = True) -> str | None:
    """Name of the first invalid field of an article/create body, or None."""
    if body.get("type") != "normal":
        return "type"
    title = body.get("title")
    if not isinstance(title, str) or not 0 < len(title) <= 150:
        return "title"
    if not isinstance(body.get("author", ""), str) or len(body.get("author", "")) > 50:
        return "author"
    description = body.get("description")
    if not isinstance(description, str) or not 0 < len(description) <= 300:
        return "description"
    content = body.get("body")
    if (
        not isinstance(content, list)
        or not content
        or not all(
            isinstance(item, dict) and item.get("type") in ARTICLE_BODY_TYPES for item in content
        )
    ):
        return "body"
    if _cover_error(body.get("cover"), require_cover):
        return "cover"
    if body.get("status", "hide") not in ("show", "hide"):
        return "status"
    return None


async def article_create(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json(request)
    if body is None:
        return fail(request, -201, field="body")
    bad = _article_error(body, state.require_cover)
    if bad:
        return fail(request, -201, field=bad)
    article = Article(
        ids.token(24), current_oa(request).oa_id, ids.message_id(), body, state.now_ms()
    )
    state.articles[article.token] = article
    return ok(request, {"token": article.token})


async def article_verify(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json(request) or {}
    article = state.articles.get(as_id(body.get("token")) or "")
    if article is None or article.oa_id != current_oa(request).oa_id:
        return fail(request, -201, field="token")
    if not article.ready and article.verify_calls < state.article_processing_polls:
        article.verify_calls += 1
        return fail(request, -214)
    article.ready = True
    return ok(request, {"id": article.article_id, "article_id": article.article_id})


async def getoa(request: web.Request) -> web.Response:
    state = state_of(request)
    oa = current_oa(request)
    followers = sum(1 for u in state.users.get(oa.oa_id, {}).values() if u.follower)
    return ok(
        request,
        {
            "oa_id": oa.oa_id,
            "name": oa.name,
            "description": f"{oa.name} (simulated)",
            "avatar": f"https://s160-ava-talk.zadn.vn/sim/{oa.oa_id}.jpg",
            "cover": f"https://cover-talk.zadn.vn/sim/{oa.oa_id}.jpg",
            "is_verified": True,
            "package_name": "Gói Nâng cao",
            "num_follower": followers,
        },
    )
