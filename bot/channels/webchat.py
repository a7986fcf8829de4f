"""The web chat channel: ``/chat/{commune code}`` — a small page over a websocket.

It goes through the same path as Zalo: each message is stored as an inbound event, processed by
the inbound processor, answered through outbound rows; the sender delivers a web chat row by
publishing it on ``webchat:<code>:<session>`` (Redis pub/sub across processes), and the process
holding that websocket writes it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.conversation import engine
from bot.coord import Coordinator
from bot.envelope import Delivered, Inbound, to_payload
from bot.i18n import gettext_for
from bot.inbound import EVENTS_TOPIC
from bot.store.models import Conversation, InboundEvent, Message, OutboundMessage, Resident
from bot.store.ops import GroupInserter
from bot.tenants import Tenant, Tenants
from bot.timeutil import utcnow

log = logging.getLogger(__name__)
PAGE = Path(__file__).resolve().parent / "web" / "chat.html"
_SESSION = re.compile(r"^[A-Za-z0-9-]{16,64}$")
MAX_TEXT = 2000
PER_MINUTE = 20  # messages a web chat session may send in a minute


def topic(code: str, session: str) -> str:
    return f"webchat:{code}:{session}"


class WebChatChannel:
    name = "webchat"

    def __init__(self, tenants: Tenants, sm: async_sessionmaker, coord: Coordinator,
                 events: GroupInserter) -> None:
        self.tenants = tenants
        self.events = events
        self.sm = sm
        self.coord = coord
        self._page = PAGE.read_text(encoding="utf-8")

    def _tenant(self, request: web.Request) -> Tenant:
        tenant = self.tenants.by_code(request.match_info["code"])
        if tenant is None:
            raise web.HTTPNotFound(text="Không tìm thấy xã/phường này.",
                                   content_type="text/plain")
        return tenant

    async def page(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        html = (self._page.replace("{{commune_name}}", _escape(tenant.config.name))
                .replace("{{commune_code}}", tenant.code))
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        tenant = self._tenant(request)
        session = request.query.get("session", "")
        if not _SESSION.match(session):
            raise web.HTTPBadRequest(text="session must be 16-64 letters, digits or dashes")
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=16 * 1024)
        await ws.prepare(request)
        sub = await self.coord.subscribe(topic(tenant.code, session))
        pump = asyncio.create_task(self._pump(ws, sub))
        try:
            await self._history(ws, tenant, session)
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._receive(ws, tenant, session, msg.data)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await sub.close()
        return ws

    async def _pump(self, ws: web.WebSocketResponse, sub) -> None:  # type: ignore[no-untyped-def]
        while True:
            message = await sub.get()
            if message is not None and not ws.closed:
                await ws.send_str(message)

    async def _history(self, ws: web.WebSocketResponse, tenant: Tenant, session: str) -> None:
        async with self.sm() as s:
            rows = (await s.execute(
                select(Message.direction, Message.text).join(
                    Conversation, Conversation.id == Message.conversation_id).join(
                    Resident, Resident.id == Conversation.resident_id).where(
                    Resident.commune_id == tenant.id, Resident.channel == self.name,
                    Resident.external_id == session).order_by(Message.id.desc()).limit(30))).all()
        if rows:
            await ws.send_json({"type": "history", "messages": [
                {"direction": d, "text": t} for d, t in reversed(rows) if t]})
        else:
            for reply in engine.welcome(tenant.config):
                await ws.send_json({"type": "reply", **_wire(reply.kind, to_payload(reply))})

    async def _receive(self, ws: web.WebSocketResponse, tenant: Tenant, session: str,
                       data: str) -> None:
        _ = gettext_for("vi")
        try:
            msg = json.loads(data)
            text = str(msg.get("payload") or msg.get("text") or "").strip()
            client_id = str(msg.get("id") or uuid.uuid4())[:64]
        except (ValueError, AttributeError):
            await ws.send_json({"type": "error", "error": _("Tin nhắn không hợp lệ.")})
            return
        if not text or len(text) > MAX_TEXT:
            await ws.send_json({"type": "error", "error": _(
                "Tin nhắn cần có từ 1 đến 2.000 ký tự.")})
            return
        # the page is public: a per-session budget keeps one client from flooding the store
        if await self.coord.window_count(f"webchat:{tenant.code}:{session}", 60) > PER_MINUTE:
            await ws.send_json({"type": "error", "error": _(
                "Anh/chị gửi nhanh quá, vui lòng chờ một phút rồi nhắn tiếp ạ.")})
            return
        new_id = await self.events.insert(dict(
            commune_id=tenant.id, channel=self.name, event_name="webchat_text",
            dedupe_key=f"web:{session}:{client_id}", external_user_id=session,
            payload={"text": text, "session": session}, received_at=utcnow(),
            status="received", attempts=0))
        if new_id is not None:
            await self.coord.publish(EVENTS_TOPIC)

    def to_inbound(self, row: InboundEvent) -> Inbound:
        return Inbound(kind="message", user_id=row.external_user_id,
                       text=row.payload.get("text"))

    async def deliver(self, row: OutboundMessage, tenant: Tenant, progress) -> Delivered:  # type: ignore[no-untyped-def]
        await self.coord.publish(topic(tenant.code, row.recipient),
                                 json.dumps({"type": "reply", **_wire(row.kind, row.payload)},
                                            ensure_ascii=False))
        return Delivered()


def _wire(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, **payload}


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))
