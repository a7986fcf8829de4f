"""The Zalo OA channel: one webhook for every commune, and sends through the OA API.

It carries every reply kind (``bot/sending.py``: choices as buttons when ``zalo.buttons`` is
on, else fitted to a numbered text) and, as an ``ArticleBroadcaster``, the commune's article
broadcasts (``create_article`` → ``verify_article`` → ``broadcast_article``; the worker is
``bot/broadcasts/article.py``). Zalo's errors are read in ``errors.py`` only.

Flow (DESIGN.md "The flow of one message"): read the raw body (size-capped) → parse → route to
the commune by ``recipient.id`` / ``oa_id`` → verify ``X-ZEvent-Signature`` with that commune's OA
secret (constant time) → INSERT the event, ignoring duplicates (Zalo's retry ladder) → 200 →
the inbound processor takes it from the store.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot import faults, safejson
from bot.channels.zalo import messages
from bot.channels.zalo.client import ZaloApi
from bot.channels.zalo.errors import ATTACHMENT_EXPIRED, QUOTA, ZaloError
from bot.channels.zalo.events import EventError, parse_event
from bot.channels.zalo.signature import verify
from bot.config import Settings
from bot.coord import Coordinator
from bot.envelope import (
    Choices,
    Delivered,
    File,
    Image,
    Inbound,
    Reply,
    RequestUserInfo,
    Text,
    from_payload,
)
from bot.loops import EVENTS_TOPIC
from bot.sending import ALL_KINDS, Article, Outcome, ProgressCallback, QuotaExhausted, fit
from bot.store.models import InboundEvent, NoticeFile, NoticeImage, OutboundMessage
from bot.store.ops import GroupInserter
from bot.tenants import Tenant, Tenants
from bot.timeutil import as_utc, epoch_ms, utcnow

log = logging.getLogger(__name__)
CS_PATH = "/v3.0/oa/message/cs"
ARTICLE_CREATE_PATH = "/v2.0/article/create"
ARTICLE_VERIFY_PATH = "/v2.0/article/verify"
BROADCAST_PATH = "/v2.0/oa/message"  # zalo-oa-api.md §7: the media template to every follower
ARTICLE_PROCESSING = -214  # article/verify: "being processed", ask again shortly
CONVERSATION_PATH = "/v2.0/oa/conversation"  # zalo-oa-api.md §5: ≤ 10 per page, src 0 = OA
CONVERSATION_PAGE = 10
CLOCK_SKEW_MS = 5_000  # Zalo's clock and ours
PROCESSED_KINDS = {
    "message",
    "follow",
    "unfollow",
    "submit_info",
    "chatnow",
    "received",
    "seen",
    "withdraw",
    "echo",
    "revoked",
}


def upload_token(kept: Any, max_age_s: float) -> str | None:
    """A kept upload token if still young enough. Kept as ``{"token", "at"}``; a bare string
    (kept before upload times were recorded) is of unknown age: uploaded again."""
    if not isinstance(kept, dict) or not kept.get("token"):
        return None
    try:
        at = datetime.fromisoformat(str(kept.get("at")))
    except ValueError:
        return None
    return str(kept["token"]) if utcnow() - as_utc(at) < timedelta(seconds=max_age_s) else None


def _ok(**extra: Any) -> web.Response:
    return web.json_response({"error": 0, "message": "Success", **extra})


class ZaloChannel:
    name = "zalo"

    def __init__(
        self,
        settings: Settings,
        tenants: Tenants,
        coord: Coordinator,
        api: ZaloApi | None,
        events: GroupInserter,
        sm: async_sessionmaker | None = None,
    ) -> None:
        self.settings = settings
        self.sm = sm
        self.tenants = tenants
        self.coord = coord
        self.api = api
        self.events = events
        self._crash_armed = faults.exit_after_ack()

    # -- inbound -------------------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.StreamResponse:
        limit = self.settings.service.max_body_bytes
        try:
            if (request.content_length or 0) > limit:
                raise web.HTTPRequestEntityTooLarge(limit, request.content_length or 0)
            raw = await request.read()  # the app's client_max_size caps chunked bodies too
        except web.HTTPRequestEntityTooLarge:
            log.warning("zalo webhook: body over %s bytes refused", limit)
            return web.json_response({"error": -413, "message": "body too large"}, status=413)
        try:
            body = safejson.loads(raw)
            event = parse_event(body)
        except (ValueError, UnicodeDecodeError, TypeError, AttributeError) as exc:
            log.warning("zalo webhook: malformed event refused: %s", exc)
            return web.json_response(
                {"error": -400, "message": f"malformed event: {exc}"}, status=400
            )
        tenant = self.tenants.by_oa(*event.oa_candidates)
        if tenant is None or tenant.config.zalo is None:
            # not ours (or not configured yet): acknowledge so Zalo does not disable the
            # app's webhook, store nothing
            log.warning(
                "zalo webhook: %s for unknown OA %s ignored",
                event.event_name,
                ",".join(event.oa_candidates),
            )
            return _ok(ignored="unknown_oa")
        zalo = tenant.config.zalo
        if event.app_id != zalo.app_id or not verify(
            request.headers.get("X-ZEvent-Signature"),
            event.app_id,
            raw,
            event.timestamp,
            zalo.oa_secret_key,
        ):
            log.warning(
                "zalo webhook: bad signature for OA %s (commune %s, event %s)",
                zalo.oa_id,
                tenant.code,
                event.event_name,
            )
            return web.json_response({"error": -401, "message": "invalid signature"}, status=401)
        if not self._timely(event.timestamp):
            # answered 200 (Zalo would otherwise retry it, and in the end disable the webhook)
            # but neither stored nor answered
            log.warning(
                "zalo webhook: %s for commune %s dated %r, outside the accepted window "
                "(%ss old, %ss ahead): refused",
                event.event_name,
                tenant.code,
                event.timestamp,
                self.settings.zalo.event_max_age_s,
                self.settings.zalo.event_future_skew_s,
            )
            return _ok(ignored="timestamp_out_of_window")
        status = "received" if event.kind in PROCESSED_KINDS else "ignored"
        new_id = await self.events.insert(
            dict(
                commune_id=tenant.id,
                channel=self.name,
                event_name=event.event_name,
                dedupe_key=event.dedupe_key_for(zalo.oa_id),
                external_user_id=event.user_for(zalo.oa_id),
                payload=body,
                received_at=utcnow(),
                status=status,
                attempts=0,
            )
        )
        if new_id is None:
            log.info(
                "zalo webhook: duplicate %s (num_retry=%s) for commune %s",
                event.dedupe_key_for(zalo.oa_id),
                request.headers.get("num_retry"),
                tenant.code,
            )
            return _ok(duplicate=True)
        if status == "ignored":
            log.info(
                "zalo webhook: %s stored, not processed (commune %s)", event.event_name, tenant.code
            )
            return _ok()
        if self._crash_armed:
            response = _ok()
            await response.prepare(request)
            await response.write_eof()
            faults.die()
        await self.coord.publish(EVENTS_TOPIC)
        return _ok()

    def _timely(self, timestamp: str) -> bool:
        """Whether a signed event's ``timestamp`` (epoch ms) lies in the window Zalo delivers
        and retries in; a missing or garbled one does not."""
        try:
            age_ms = epoch_ms(utcnow()) - int(timestamp)
        except ValueError:
            return False
        zalo = self.settings.zalo
        return -zalo.event_future_skew_s * 1000 <= age_ms <= zalo.event_max_age_s * 1000

    def to_inbound(self, row: InboundEvent) -> Inbound:
        try:
            event = parse_event(row.payload)
        except EventError:
            return Inbound(kind="other", user_id=None)
        return Inbound(
            kind=event.kind,
            user_id=row.external_user_id,
            text=event.text,
            attachments=event.attachments,
            info=event.info,
            msg_id=event.msg_id,
            msg_ids=event.msg_ids,
            user_id_by_app=event.user_id_by_app,
        )

    # -- outbound ------------------------------------------------------------------------
    @property
    def capabilities(self) -> frozenset[str]:
        """Every reply kind; quick choices as buttons only when ``zalo.buttons`` is on (else
        ``sending.fit`` makes them a numbered text)."""
        return ALL_KINDS if self.settings.zalo.buttons else ALL_KINDS - {"choices"}

    def bodies(self, row: OutboundMessage, reply: Reply | None = None) -> list[dict[str, Any]]:
        """The Zalo request bodies one outbound row turns into, in order (``reply``: the row's,
        already fitted to :attr:`capabilities`)."""
        if reply is None:
            reply = fit(from_payload(row.kind, row.payload), self.capabilities, self.name)
        user = row.recipient
        if isinstance(reply, Text):
            return [messages.text_body(user, part) for part in messages.split_text(reply.text)]
        if isinstance(reply, Choices):
            return [
                messages.buttons_body(
                    user,
                    reply.text,
                    [{"title": c.title, "payload": c.payload} for c in reply.options],
                )
            ]
        if isinstance(reply, File):
            raise ValueError("a file is sent by deliver(), which uploads it first")
        if isinstance(reply, Image):
            if reply.image_id:
                raise ValueError("a stored image is sent by deliver(), which uploads it first")
            return [
                messages.image_body(
                    user, url=reply.url, attachment_id=reply.attachment_id, caption=reply.caption
                )
            ]
        if isinstance(reply, RequestUserInfo):
            return [
                messages.request_user_info_body(user, reply.title, reply.subtitle, reply.image_url)
            ]
        raise ValueError(f"zalo cannot send {row.kind}")

    async def _deliver_stored(
        self, row: OutboundMessage, tenant: Tenant, reply: File | Image
    ) -> Delivered:
        """A stored file (a notice's PDF) or image (its uploaded picture): uploaded once per OA
        and its token / attachment_id kept while young enough (Zalo forgets uploads after ~7
        days: older than ``zalo.upload_max_age_s`` it is uploaded again, and a ``-100``
        "expired" answer uploads it again once), then sent as a file or image message."""
        assert self.api is not None and tenant.config.zalo is not None  # deliver() checked
        oa = tenant.config.zalo.oa_id

        def body(token: str) -> dict[str, Any]:
            if isinstance(reply, File):
                return messages.file_body(row.recipient, token)
            return messages.image_body(row.recipient, attachment_id=token, caption=reply.caption)

        token = await self._upload_token(reply, oa)
        try:
            data = await self.api.call(oa, "POST", CS_PATH, body=body(token), lane=row.priority)
        except ZaloError as exc:
            if exc.code != ATTACHMENT_EXPIRED:
                raise
            log.info("zalo: upload of %s for OA %s expired early; uploading again", reply, oa)
            token = await self._upload_token(reply, oa, expired=token)
            data = await self.api.call(oa, "POST", CS_PATH, body=body(token), lane=row.priority)
        return Delivered(provider_ids=[str(data["message_id"])] if data.get("message_id") else [])

    async def _upload_token(self, reply: File | Image, oa: str, expired: str | None = None) -> str:
        """The stored file's or image's upload token for ``oa``: the kept one while young
        enough (and not the ``expired`` one), else a new upload — one per stored object and OA
        at a time, however many residents are sent it at once."""
        assert self.api is not None
        model: type[NoticeFile] | type[NoticeImage]
        if isinstance(reply, File):
            model, stored_id, what = NoticeFile, reply.file_id, "file"
        else:
            model, stored_id, what = NoticeImage, int(reply.image_id or 0), "image"
        async with self.coord.lock(f"zalo:{what}:{stored_id}:{oa}", ttl=60, timeout=60):
            async with self.sm() as s:  # type: ignore[misc]
                stored = await s.get(model, stored_id)
            if stored is None:
                raise ZaloError(0, f"{what} {stored_id} is gone", Outcome.PERMANENT)
            kept = upload_token(
                (stored.zalo_tokens or {}).get(oa), self.settings.zalo.upload_max_age_s
            )
            if kept and kept != expired:
                return kept
            if isinstance(stored, NoticeFile):
                token = await self.api.upload_file(oa, stored.filename, stored.content)
            else:
                name = f"thong-bao-{stored.notice_id}." + (
                    "png" if stored.content_type == "image/png" else "jpg"
                )
                token = await self.api.upload_image(oa, name, stored.content, stored.content_type)
            async with self.sm() as s, s.begin():  # type: ignore[misc]
                fresh = await s.get(model, stored_id, with_for_update=True)
                if fresh is not None:
                    fresh.zalo_tokens = {
                        **(fresh.zalo_tokens or {}),
                        oa: {"token": token, "at": utcnow().isoformat()},
                    }
            return token

    async def already_delivered(self, row: OutboundMessage, tenant: Tenant) -> Delivered | None:
        """After a crash mid-send: the remaining text parts of ``row`` if the conversation
        (``/v2.0/oa/conversation``, newest 10) shows the OA sent them after the row was made;
        ``None`` when it does not (or the parts are not text), so the row is sent."""
        if self.api is None or tenant.config.zalo is None:
            return None
        if row.kind == "file" or (row.kind == "image" and row.payload.get("image_id")):
            return None  # an upload's message is not text: it cannot be found, so it is sent
        bodies = self.bodies(row)[row.parts_sent :]
        texts = [(b.get("message") or {}).get("text") for b in bodies]
        if not texts or not all(texts):
            return None
        data = await self.api.call(
            tenant.config.zalo.oa_id,
            "GET",
            CONVERSATION_PATH,
            query={"user_id": row.recipient, "offset": 0, "count": CONVERSATION_PAGE},
        )
        since = epoch_ms(row.created_at) - CLOCK_SKEW_MS
        recent = [
            m
            for m in (data.get("data") or [])
            if isinstance(m, dict) and m.get("src") == 0 and int(m.get("time") or 0) >= since
        ]
        ids = list(row.provider_message_ids or [])
        for text in texts:
            match = next((m for m in recent if m.get("message") == text), None)
            if match is None:
                return None
            recent.remove(match)
            ids.append(str(match.get("message_id")))
        return Delivered(provider_ids=ids)

    async def deliver(
        self, row: OutboundMessage, reply: Reply, tenant: Tenant, progress: ProgressCallback
    ) -> Delivered:
        if self.api is None or tenant.config.zalo is None:
            raise RuntimeError(f"commune {tenant.code} has no Zalo OA configured")
        if isinstance(reply, File) or (isinstance(reply, Image) and reply.image_id):
            return await self._deliver_stored(row, tenant, reply)
        bodies = self.bodies(row, reply)
        ids = list(row.provider_message_ids or [])
        for n in range(row.parts_sent, len(bodies)):
            data = await self.api.call(
                tenant.config.zalo.oa_id, "POST", CS_PATH, body=bodies[n], lane=row.priority
            )
            if data.get("message_id"):
                ids.append(str(data["message_id"]))
            if len(bodies) > 1 and n + 1 < len(bodies):
                await progress(n + 1, ids)
        return Delivered(provider_ids=ids)

    # -- article broadcasts (sending.ArticleBroadcaster) ---------------------------------
    def broadcasts_for(self, tenant: Tenant) -> bool:
        return self.api is not None and tenant.config.zalo is not None

    async def _article_call(
        self, tenant: Tenant, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """One OA call of the article route; Zalo's quota refusals (-211/-218) become the
        generic :class:`~bot.sending.QuotaExhausted`."""
        try:
            return await self.api.call(tenant.config.zalo.oa_id, "POST", path, body=body)  # type: ignore[union-attr]
        except ZaloError as exc:
            if exc.code in QUOTA:
                raise QuotaExhausted(exc.code, exc.reason) from exc
            raise

    async def create_article(self, tenant: Tenant, article: Article) -> str:
        data = await self._article_call(tenant, ARTICLE_CREATE_PATH, messages.article_body(article))
        return str(data["token"])

    async def verify_article(self, tenant: Tenant, token: str) -> str | None:
        try:
            data = await self._article_call(tenant, ARTICLE_VERIFY_PATH, {"token": token})
        except ZaloError as exc:
            if exc.code != ARTICLE_PROCESSING:
                raise
            return None
        # the id is `id` per one source, `article_id` per another (zalo-oa-api.md §7)
        article_id = data.get("id") or data.get("article_id")
        if not article_id:
            raise ZaloError(-201, "article/verify answered without an id", Outcome.PERMANENT)
        return str(article_id)

    async def broadcast_article(self, tenant: Tenant, article_id: str) -> str:
        data = await self._article_call(tenant, BROADCAST_PATH, messages.broadcast_body(article_id))
        return str(data.get("message_id") or "")
