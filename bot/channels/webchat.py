"""The web chat channel: ``/chat/{commune code}`` — a small page over a websocket.

It goes through the same path as Zalo: each message is stored as an inbound event, processed by
the inbound processor, answered through outbound rows; the sender delivers a web chat row by
publishing it on ``webchat:<code>:<session>`` (Redis pub/sub across processes), and the process
holding that websocket writes it out.

The page is public, so the channel assumes a hostile client (docs/webchat.md):

    POST /chat/{code}/session   a new session, signed by the service (bot/channels/webguard.py)
    GET  /chat/{code}/ws        websocket; the first frame is {"type": "hello", "session": …}
    POST /chat/{code}/photo     a JPEG/PNG (≤ webchat.max_upload_bytes; bot/images.py), header
                                X-Chat-Session
    GET  /chat/static/chat.js   the page's script and style (no inline script: CSP)

A session made up by the client, or signed for another commune, is refused before anything is
stored. Every message, connection, upload and new session is also counted per network address
(a keyed hash of it, never the address), and ``Origin`` must be the service or a configured
portal. New reports per hour are capped in bot/feedback/flood.py, where tickets are filed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import math
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot import i18n, images, safejson
from bot.api.auth import read_limited
from bot.channels.webguard import Sessions, client_address, origin_allowed, origin_key
from bot.config import WebChatSettings
from bot.conversation import engine
from bot.coord import Coordinator
from bot.crypto import subkey
from bot.envelope import Choices, Delivered, Inbound, Reply, from_payload, to_payload
from bot.feedback import photos
from bot.i18n import N_, gettext_for
from bot.loops import EVENTS_TOPIC
from bot.sending import ProgressCallback
from bot.store.models import Conversation, InboundEvent, Message, OutboundMessage, Resident
from bot.store.ops import GroupInserter
from bot.tenants import Tenant, Tenants
from bot.timeutil import utcnow
from bot.web_headers import CSP, page_policy

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent / "web"
PAGE = WEB / "chat.html"
STATIC = {"chat.js": "application/javascript", "chat.css": "text/css"}
MAX_TEXT = 2000
HISTORY = 30  # messages shown again when the page reloads
HELLO_TIMEOUT_S = 10.0
_PHOTO_TOKEN = re.compile(photos.TOKEN_PATTERN)
#: photos checked at once (bot/images.py: CPU-bound, 2 cores), and how long an upload waits
#: for a free slot before a polite 503
PHOTO_CHECKS = 2
PHOTO_CHECK_WAIT_S = 5.0
_ = gettext_for("vi")  # errors are Vietnamese; the page follows ?lang=, replies the resident

#: the page's own words (chat.html's ``{{t.NAME}}``), in the page's language (``?lang=``)
PAGE_TEXTS = {
    "subtitle": N_("Hỏi đáp thông tin cơ sở"),
    "title": N_("Hỏi đáp"),
    "privacy": N_("Quyền riêng tư: xã lưu gì và vì sao"),
    "privacy_1": N_(
        "Xã lưu tin nhắn trên trang này, cùng ảnh, vị trí, số điện thoại nếu anh/chị "
        "gửi, để trả lời anh/chị và giải quyết phản ánh."
    ),
    "privacy_2": N_(
        "Tên và số điện thoại chỉ được lưu khi anh/chị đồng ý; chỉ cán bộ xử lý được "
        "xem. Anh/chị có thể gửi phản ánh ẩn danh."
    ),
    "privacy_3": N_("Vị trí chỉ được gửi khi anh/chị bấm nút “Vị trí”."),
    "privacy_4": N_(
        "Thông tin được giữ cho đến khi anh/chị yêu cầu xóa. Trình duyệt này nhớ "
        "phiên trò chuyện để anh/chị xem lại tin nhắn cũ."
    ),
    "privacy_5": N_("Muốn xóa, anh/chị nhắn “Xóa thông tin của tôi” hoặc gọi xã:"),
    "erase": N_("Xóa thông tin của tôi"),
    "photo_title": N_("Gửi ảnh (JPEG, PNG, tối đa {mb} MB)"),
    "photo": N_("Ảnh"),
    "where_title": N_("Gửi vị trí của tôi cho cán bộ xã"),
    "where": N_("Vị trí"),
    "placeholder": N_("Nhập câu hỏi…"),
    "question": N_("Câu hỏi"),
    "send": N_("Gửi"),
}
#: what the page's script says (``data-texts``), in the page's language
SCRIPT_TEXTS = {
    "no_session": N_("Không mở được phiên trò chuyện."),
    "photo_sent": N_("Ảnh đã gửi"),
    "lost": N_("Mất kết nối, đang thử lại…"),
    "not_connected": N_("Chưa kết nối, vui lòng thử lại."),
    "too_big": N_("Ảnh quá lớn: xã nhận ảnh đến {mb} MB."),
    "sending_photo": N_("Đang gửi ảnh…"),
    "photo_failed": N_("Không gửi được ảnh, vui lòng thử lại."),
    "no_geo": N_("Trình duyệt này không gửi được vị trí."),
    "getting_geo": N_("Đang lấy vị trí…"),
    "where_sent": N_("Vị trí đã gửi"),
    "geo_failed": N_("Chưa lấy được vị trí (anh/chị chưa cho phép, hoặc máy chưa bật định vị)."),
    "erase_text": N_("Xóa thông tin của tôi"),
}
_PAGE_TEXT = re.compile(r"\{\{t\.(\w+)\}\}")


def topic(code: str, session: str) -> str:
    return f"webchat:{code}:{session}"


class _TooLarge(web.HTTPClientError):
    status_code = 413  # aiohttp's own class insists on sizes; the message says it instead


def _refuse(cls: type[web.HTTPException], message: str) -> web.HTTPException:
    return cls(
        text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json"
    )


class WebChatChannel:
    name = "webchat"
    ROUTES = (
        ("GET", r"/chat/{code:\d{5}}", "page"),
        ("POST", r"/chat/{code:\d{5}}/session", "new_session"),
        ("GET", r"/chat/{code:\d{5}}/ws", "websocket"),
        ("POST", r"/chat/{code:\d{5}}/photo", "photo"),
        ("GET", r"/chat/static/{name}", "static"),
    )

    def __init__(
        self,
        tenants: Tenants,
        sm: async_sessionmaker,
        coord: Coordinator,
        events: GroupInserter,
        settings: WebChatSettings | None = None,
        secret: str = "",
        public_url: str | None = None,
    ) -> None:
        self.tenants = tenants
        self.events = events
        self.sm = sm
        self.coord = coord
        self.settings = settings or WebChatSettings()
        if not secret:
            raise ValueError("the web chat needs the service secret to sign its sessions")
        self.sessions = Sessions(subkey(secret, "webchat-session"))
        self._origin_key = subkey(secret, "webchat-origin")
        own = urlsplit(public_url or "")
        self._origins = [
            *self.settings.portal_origins,
            *([f"{own.scheme}://{own.netloc}".lower()] if own.netloc else []),
        ]
        self._checks = asyncio.Semaphore(PHOTO_CHECKS)
        self.check_wait_s = PHOTO_CHECK_WAIT_S
        self._static = {name: (WEB / name).read_bytes() for name in STATIC}
        version = hashlib.sha256(b"".join(self._static.values())).hexdigest()[:12]
        self._page = PAGE.read_text(encoding="utf-8").replace("{{version}}", version)

    # -- guards ------------------------------------------------------------------------------
    def _tenant(self, request: web.Request) -> Tenant:
        tenant = self.tenants.by_code(request.match_info["code"])
        if tenant is None:
            raise web.HTTPNotFound(text="Không tìm thấy xã/phường này.", content_type="text/plain")
        return tenant

    def _guard(self, request: web.Request) -> str:
        """Refuse another site's page; the caller's origin key (a keyed hash of its address)."""
        if not origin_allowed(request, self._origins):
            raise _refuse(
                web.HTTPForbidden, _("Trang này không được phép dùng hộp trò chuyện của xã.")
            )
        address = client_address(request, self.settings.trusted_proxies)
        return origin_key(self._origin_key, address)

    async def _over(self, key: str, limit: int, window_s: float) -> bool:
        return await self.coord.window_count(key, window_s) > limit

    async def _address_busy(self, addr: str) -> bool:
        """One more request from this address this minute: over its budget?"""
        return await self._over(
            f"webchat:addr:{addr}", self.settings.address_messages_per_minute, 60
        )

    # -- HTTP --------------------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        asked = request.query.get("lang", "vi")
        lang = asked if asked in i18n.available() else "vi"
        say = gettext_for(lang)
        mb = _megabytes(self.settings.max_upload_bytes)
        texts = {k: say(v).format(mb=mb) for k, v in SCRIPT_TEXTS.items()}
        page = _PAGE_TEXT.sub(
            lambda m: _escape(say(PAGE_TEXTS[m.group(1)]).format(mb=mb)), self._page
        )
        html = (
            page.replace("{{lang}}", lang)
            .replace("{{texts}}", _escape(json.dumps(texts, ensure_ascii=False)))
            .replace("{{commune_name}}", _escape(tenant.config.name))
            .replace("{{commune_code}}", tenant.code)
            .replace("{{commune_tel}}", re.sub(r"[^\d+]", "", tenant.config.phone))
            .replace("{{commune_phone}}", _escape(tenant.config.phone))
            .replace("{{max_upload}}", str(self.settings.max_upload_bytes))
        )
        return web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={CSP: page_policy(self.settings.portal_origins), "Cache-Control": "no-cache"},
        )

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(
            body=self._static[name],
            content_type=STATIC[name],
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    async def new_session(self, request: web.Request) -> web.Response:
        """A session for the page to keep (localStorage): the server's, never the client's."""
        tenant = self._tenant(request)
        addr = self._guard(request)  # the address's origin key
        if await self._over(f"webchat:new:{addr}", self.settings.sessions_per_hour, 3600):
            raise _refuse(
                web.HTTPTooManyRequests,
                _(
                    "Có quá nhiều phiên trò chuyện mới từ mạng này. Anh/chị vui lòng thử lại sau "
                    "hoặc gọi {phone}."
                ).format(phone=tenant.config.phone),
            )
        return web.json_response(
            {"session": self.sessions.issue(tenant.code)}, headers={"Cache-Control": "no-store"}
        )

    async def photo(self, request: web.Request) -> web.Response:
        """A photo for a report: within ``max_upload_bytes``, then the rules of every uploaded
        image (``bot.images``: JPEG or PNG by its structure, dimensions, a PNG's pixels); stored
        with the commune and the session, named by an unguessable token the message then
        carries. A refused photo stores nothing."""
        tenant = self._tenant(request)
        addr = self._guard(request)  # the address's origin key
        session = self.sessions.verify(tenant.code, request.headers.get("X-Chat-Session"))
        if session is None:
            raise _refuse(
                web.HTTPUnauthorized,
                _("Phiên trò chuyện không hợp lệ. Anh/chị tải lại trang rồi gửi lại ảnh."),
            )
        limit = self.settings.max_upload_bytes
        too_big = _refuse(
            _TooLarge, _("Ảnh quá lớn: xã nhận ảnh đến {mb} MB.").format(mb=_megabytes(limit))
        )
        if request.content_length is not None and request.content_length > limit:
            raise too_big
        if (
            await self._address_busy(addr)
            or await self._over(
                f"webchat:up:{tenant.code}:{session}", self.settings.uploads_per_hour, 3600
            )
            or await self._over(
                f"webchat:upaddr:{addr}", self.settings.address_uploads_per_hour, 3600
            )
        ):
            raise _refuse(
                web.HTTPTooManyRequests, _("Anh/chị đã gửi nhiều ảnh, vui lòng thử lại sau ạ.")
            )
        data = await read_limited(request, limit)
        if data is None:
            raise too_big
        image = await self._checked(data)
        async with self.sm() as s, s.begin():
            upload = await photos.store(s, tenant.id, session, image)
        return web.json_response(
            {"upload": upload.token, "type": image.content_type, "size": len(data)}, status=201
        )

    async def _checked(self, data: bytes) -> images.CheckedImage:
        """``bot.images.check_image`` off the loop and outside any transaction (a PNG's pixels
        are inflated), at most ``PHOTO_CHECKS`` at once: the walk holds the GIL between zlib's
        pieces, and the default executor is shared with password hashing and answers. With
        every slot taken for ``check_wait_s``: 503 in words, nothing stored."""
        if self._checks.locked():
            try:
                await asyncio.wait_for(self._checks.acquire(), self.check_wait_s)
            except TimeoutError:
                raise _refuse(
                    web.HTTPServiceUnavailable,
                    _(
                        "Xã đang nhận nhiều ảnh cùng lúc. Anh/chị vui lòng gửi lại ảnh sau ít "
                        "phút ạ."
                    ),
                ) from None
        else:
            await self._checks.acquire()  # free: taken at once
        # the slot is freed when the thread ends, even if this request is cancelled first
        check = asyncio.get_running_loop().run_in_executor(
            None, contextvars.copy_context().run, images.check_image, data
        )
        check.add_done_callback(self._check_done)
        try:
            return await asyncio.shield(check)
        except images.TooManyPixels as large:
            raise _refuse(
                _TooLarge,
                _(
                    "Ảnh quá lớn về kích thước: xã nhận ảnh đến {side} điểm ảnh mỗi chiều và "
                    "tổng cộng {mp} triệu điểm ảnh. Anh/chị chọn ảnh nhỏ hơn hoặc chụp lại giúp ạ."
                ).format(
                    side=f"{images.MAX_SIDE:,}".replace(",", "."),
                    mp=large.max_pixels // 1_000_000,
                ),
            ) from None
        except images.BrokenImage:
            raise _refuse(
                web.HTTPUnprocessableEntity,
                _("Ảnh bị hỏng hoặc không đọc được. Anh/chị chụp lại hoặc chọn ảnh khác giúp ạ."),
            ) from None
        except images.ImageError:
            raise _refuse(
                web.HTTPUnsupportedMediaType, _("Xã chỉ nhận ảnh chụp dạng JPEG hoặc PNG.")
            ) from None

    def _check_done(self, check: asyncio.Future[images.CheckedImage]) -> None:
        self._checks.release()
        if not check.cancelled():
            check.exception()  # seen: the request may have gone

    # -- websocket ---------------------------------------------------------------------------
    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        tenant = self._tenant(request)
        addr = self._guard(request)  # the address's origin key
        if await self._address_busy(addr):
            raise _refuse(
                web.HTTPTooManyRequests,
                _("Anh/chị gửi nhanh quá, vui lòng chờ một phút rồi nhắn tiếp ạ."),
            )
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=16 * 1024)
        await ws.prepare(request)
        session, language = await self._hello(ws, tenant)
        if session is None:
            await ws.send_json(
                {
                    "type": "error",
                    "code": "session",
                    "error": _(
                        "Phiên trò chuyện không hợp lệ hoặc đã hết hạn. Trang sẽ mở phiên mới."
                    ),
                }
            )
            await ws.close(code=4401, message=b"invalid session")
            return ws
        sub = await self.coord.subscribe(topic(tenant.code, session))
        pump = asyncio.create_task(self._pump(ws, sub))
        try:
            await self._history(ws, tenant, session, language)
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._receive(ws, tenant, session, addr, msg.data)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await sub.close()
        return ws

    async def _hello(
        self, ws: web.WebSocketResponse, tenant: Tenant
    ) -> tuple[str | None, str | None]:
        """The first frame names the session (not the URL: addresses end up in logs), and the
        page's language if it has one. A language the bot does not answer in is refused."""
        try:
            msg = await ws.receive(timeout=HELLO_TIMEOUT_S)
            hello = safejson.loads(msg.data) if msg.type == WSMsgType.TEXT else None
        except (TimeoutError, ValueError):
            return None, None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            return None, None
        language = hello.get("language")
        if language is not None and language not in i18n.available():
            return None, None
        return self.sessions.verify(tenant.code, hello.get("session")), language

    async def _pump(self, ws: web.WebSocketResponse, sub) -> None:
        while True:
            message = await sub.get()
            if message is not None and not ws.closed:
                await ws.send_str(message)

    async def _history(
        self, ws: web.WebSocketResponse, tenant: Tenant, session: str, language: str | None = None
    ) -> None:
        """Always the first frame: the conversation so far — the welcome for a new one — and
        the quick choices of the last question if the resident has not answered it yet (a
        reload must not take them away)."""
        async with self.sm() as s:
            resident_id = (
                await s.execute(
                    select(Resident.id).where(
                        Resident.commune_id == tenant.id,
                        Resident.channel == self.name,
                        Resident.external_id == session,
                    )
                )
            ).scalar_one_or_none()
            rows, pending, titles = [], None, {}
            if resident_id is not None:
                rows = (
                    await s.execute(
                        select(Message.direction, Message.text, Message.attachments)
                        .join(Conversation, Conversation.id == Message.conversation_id)
                        .where(Conversation.resident_id == resident_id)
                        .order_by(Message.id.desc())
                        .limit(HISTORY)
                    )
                ).all()
                pending = await _unanswered_choices(s, resident_id)
                titles = await _choice_titles(s, resident_id)
        messages: list[dict[str, Any]] = []
        for direction, text, attachments in reversed(rows):
            if text or attachments:  # a tapped choice is logged as its payload: show its title
                shown = titles.get(text, text) if direction == "in" else text
                messages.append({"direction": direction, "text": shown or _attached(attachments)})
        if pending is not None:
            shown = _shown(pending)
            last = next((m for m in reversed(messages) if m["direction"] == "out"), None)
            if last is not None and last["text"] == pending.numbered():
                last.update(shown)
            else:
                messages.append(shown)
        if not messages:
            messages = [
                _shown(reply)
                if isinstance(reply, Choices)
                else {"direction": "out", "text": engine.text_of(reply)}
                for reply in engine.welcome(tenant.config, language or "vi", channel=self.name)
            ]
        await ws.send_json({"type": "history", "messages": messages})

    async def _receive(
        self, ws: web.WebSocketResponse, tenant: Tenant, session: str, addr: str, data: str
    ) -> None:
        try:
            msg = safejson.loads(data)
            text = str(msg.get("payload") or msg.get("text") or "").strip()
            client_id = str(msg.get("id") or uuid.uuid4())[:64]
            raw_attachments = msg.get("attachments")
            language = msg.get("language")  # the page's (?lang=), a choice: checked below
        except (ValueError, AttributeError):
            await ws.send_json({"type": "error", "error": _("Tin nhắn không hợp lệ.")})
            return
        if language is not None and language not in i18n.available():
            await ws.send_json({"type": "error", "error": _("Tin nhắn không hợp lệ.")})
            return
        # the page is public: budgets per session and per address keep one client (or one
        # machine opening many sessions) from flooding the store
        if await self._over(
            f"webchat:{tenant.code}:{session}", self.settings.messages_per_minute, 60
        ) or await self._address_busy(addr):
            await ws.send_json(
                {
                    "type": "error",
                    "error": _("Anh/chị gửi nhanh quá, vui lòng chờ một phút rồi nhắn tiếp ạ."),
                }
            )
            return
        attachments = await self._attachments(tenant, session, raw_attachments)
        if attachments is None:
            await ws.send_json(
                {"type": "error", "error": _("Ảnh hoặc vị trí gửi kèm không hợp lệ.")}
            )
            return
        if (not text and not attachments) or len(text) > MAX_TEXT:
            await ws.send_json(
                {"type": "error", "error": _("Tin nhắn cần có từ 1 đến 2.000 ký tự.")}
            )
            return
        new_id = await self.events.insert(
            dict(
                commune_id=tenant.id,
                channel=self.name,
                event_name="webchat_text",
                dedupe_key=f"web:{session}:{client_id}",
                external_user_id=session,
                payload={
                    "text": text,
                    "session": session,
                    "attachments": attachments,
                    "origin": addr,
                    **({"language": language} if language else {}),
                },
                received_at=utcnow(),
                status="received",
                attempts=0,
            )
        )
        if new_id is not None:
            await self.coord.publish(EVENTS_TOPIC)

    async def _attachments(
        self, tenant: Tenant, session: str, raw: object
    ) -> list[dict[str, Any]] | None:
        """What the page may attach: a photo this session uploaded, or a location the
        resident chose to send. Anything else (None) refuses the message."""
        if raw is None or raw == []:
            return []
        if not isinstance(raw, list) or len(raw) > 3:
            return None
        out: list[dict[str, Any]] = []
        for item in raw:
            payload = item.get("payload") if isinstance(item, dict) else None
            if not isinstance(payload, dict):
                return None
            if item.get("type") == "image":
                token = payload.get("upload")
                if not isinstance(token, str) or not _PHOTO_TOKEN.match(token):
                    return None
                async with self.sm() as s:
                    if not await photos.owned(s, tenant.id, session, token):
                        return None
                out.append({"type": "image", "payload": {"upload": token}})
            elif item.get("type") == "location":
                where = payload.get("coordinates")
                lat = _number(where.get("latitude") if isinstance(where, dict) else None, 90)
                long = _number(where.get("longitude") if isinstance(where, dict) else None, 180)
                if lat is None or long is None:
                    return None
                out.append(
                    {
                        "type": "location",
                        "payload": {"coordinates": {"latitude": lat, "longitude": long}},
                    }
                )
            else:
                return None
        return out

    def to_inbound(self, row: InboundEvent) -> Inbound:
        return Inbound(
            kind="message",
            user_id=row.external_user_id,
            text=row.payload.get("text") or None,
            attachments=list(row.payload.get("attachments") or []),
            origin=row.payload.get("origin"),
            language=row.payload.get("language"),
        )

    #: what the page shows: text, and quick choices as buttons (bot/channels/web/chat.js); an
    #: image with an address is fitted to its caption and link (``sending.fit``), a file or a
    #: Zalo form is refused as ``unsupported``
    capabilities: frozenset[str] = frozenset({"text", "choices"})

    async def deliver(
        self, row: OutboundMessage, reply: Reply, tenant: Tenant, progress: ProgressCallback
    ) -> Delivered:
        await self.coord.publish(
            topic(tenant.code, row.recipient),
            json.dumps(
                {"type": "reply", **_wire(reply.kind, to_payload(reply))}, ensure_ascii=False
            ),
        )
        return Delivered()


async def _unanswered_choices(s, resident_id: int):
    """The resident's last message from us, if it is a question with quick choices sent after
    their own last message."""
    last = (
        await s.execute(
            select(OutboundMessage.kind, OutboundMessage.payload, OutboundMessage.created_at)
            .where(
                OutboundMessage.resident_id == resident_id,
                OutboundMessage.status.not_in(["cancelled", "failed"]),
            )
            .order_by(OutboundMessage.id.desc())
            .limit(1)
        )
    ).first()
    if last is None or last.kind != "choices":
        return None
    said = (
        await s.execute(
            select(func.max(Message.created_at))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.resident_id == resident_id, Message.direction == "in")
        )
    ).scalar()
    if said is not None and said > last.created_at:
        return None
    return from_payload(last.kind, last.payload)


async def _choice_titles(s, resident_id: int) -> dict[str, str]:
    """Payload → title of the choices recently offered to the resident."""
    offered = (
        (
            await s.execute(
                select(OutboundMessage.payload)
                .where(
                    OutboundMessage.resident_id == resident_id, OutboundMessage.kind == "choices"
                )
                .order_by(OutboundMessage.id.desc())
                .limit(HISTORY)
            )
        )
        .scalars()
        .all()
    )
    return {o["payload"]: o["title"] for p in reversed(offered) for o in p.get("options", [])}


def _shown(choices: Choices) -> dict[str, Any]:
    return {
        "direction": "out",
        "text": choices.text,
        "options": [{"title": o.title, "payload": o.payload} for o in choices.options],
    }


def _attached(attachments: list[dict[str, Any]] | None) -> str:
    kinds = {a.get("type") for a in attachments or []}
    return (
        ", ".join(
            label
            for kind, label in (("image", "Ảnh đã gửi"), ("location", "Vị trí đã gửi"))
            if kind in kinds
        )
        or "(tệp đính kèm)"
    )


def _number(value: object, bound: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and -bound <= value <= bound else None


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:g}"


def _wire(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, **payload}


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
