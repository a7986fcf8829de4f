"""The aiohttp application: routes, services, start-up and shut-down.

``create_app(settings)`` wires one process: store, coordinator, the Zalo and web chat channels,
the inbound processor, the sender and the token refresher. Background loops are kept referenced
on the app and cancelled on shut-down; anything they had not finished stays in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot import faults
from bot.api.auth import KEY_USED
from bot.api.commune import CommuneApi
from bot.api.feeds import Feeds
from bot.api.knowledge import KnowledgeApi
from bot.api.notices import NoticesApi
from bot.api.provinces import ProvincesApi
from bot.api.staff import StaffApi
from bot.broadcasts.article import BroadcastWorker
from bot.broadcasts.dispatch import NoticeDispatcher
from bot.channels.webchat import WebChatChannel
from bot.channels.zalo.channel import ZaloChannel
from bot.channels.zalo.client import ZaloApi
from bot.channels.zalo.errors import TransportError
from bot.channels.zalo.oauth import CallbackRefused, TokenManager, TokenRefresher
from bot.config import Settings
from bot.console.routes import setup as setup_console
from bot.coord import Coordinator, create_coordinator
from bot.crypto import SecretBox, load_or_create_secret
from bot.facts_store import Listener as FactsListener
from bot.feedback.api import FeedbackApi
from bot.feedback.clock import SlaClock
from bot.feedback.open311 import Open311
from bot.feedback.triage import default_triage
from bot.inbound import InboundChannel, InboundProcessor
from bot.knowledge.misses import staff_examples
from bot.loops import NOTICES_TOPIC
from bot.nlu.backends import Backend, create_backend
from bot.nlu.embedded import with_staff_examples
from bot.notices.schedule import NoticeScheduler
from bot.outbound import Sender
from bot.private_files import private_dir
from bot.sending import OutboundChannel
from bot.staff import KeyUses
from bot.store.db import create_engine, sessionmaker, startup_lock
from bot.store.migrate import upgrade
from bot.store.models import InboundEvent
from bot.store.ops import GroupInserter
from bot.tenants import Tenants, sync
from bot.web_headers import add_headers

log = logging.getLogger(__name__)
SERVICES: web.AppKey[Services] = web.AppKey("services")
VAR_DIR = Path("var")


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sm: async_sessionmaker
    coord: Coordinator
    http: aiohttp.ClientSession
    tenants: Tenants
    tokens: TokenManager
    zalo: ZaloChannel
    webchat: WebChatChannel
    processor: InboundProcessor
    sender: Sender
    refresher: TokenRefresher
    nlu: Backend
    notices: NoticeDispatcher
    notices_api: NoticesApi
    broadcasts: BroadcastWorker
    feeds: Feeds
    scheduler: NoticeScheduler
    feedback_api: FeedbackApi
    sla: SlaClock
    open311: Open311
    commune_api: CommuneApi
    staff_api: StaffApi
    knowledge_api: KnowledgeApi
    provinces_api: ProvincesApi
    facts: FactsListener | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def close(self, grace_s: float = 10.0) -> None:
        """Let the loops finish their current batch, then cancel what is left. Whatever was
        not finished is still in the store and is picked up at the next start."""
        workers: list[Any] = [
            self.processor,
            self.sender,
            self.refresher,
            self.notices,
            self.broadcasts,
            self.scheduler,
            self.sla,
            *([self.facts] if self.facts else []),
        ]
        for worker in workers:
            await worker.stop()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            for task in self.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.http.close()
        await self.coord.close()
        await self.engine.dispose()


async def build_services(
    settings: Settings, *, migrate: bool = True, background: bool = True
) -> Services:
    await asyncio.to_thread(default_triage)  # the emergency triage reads every message
    engine = create_engine(settings.database_url)
    sm = sessionmaker(engine)
    async with startup_lock(engine):  # several processes may start at once
        if migrate:
            await upgrade(engine)
        tenants = await sync(settings, sm)
    # train the embedded NLU engine off the event loop before the first message needs it
    # (with the Rasa backend too: it answers whenever Rasa does not), with the examples staff
    # taught from misses (bot/knowledge/misses.py)
    async with sm() as s:
        taught = await staff_examples(s)
    await asyncio.to_thread(with_staff_examples, taught)
    coord = create_coordinator(settings.redis_url)
    await coord.start()
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100, limit_per_host=64))
    if VAR_DIR.exists():
        private_dir(VAR_DIR)  # owner-only, also when an older install made it readable
    secret = load_or_create_secret(settings.service.secret_key, VAR_DIR)
    box = SecretBox(secret)
    tokens = TokenManager(settings, sm, box, coord, http)
    api = ZaloApi(
        http,
        tokens,
        coord,
        settings.zalo.api_base,
        settings.zalo.request_timeout_s,
        app_rate_limit=settings.zalo.app_calls_per_minute,
        bulk_share=settings.zalo.bulk_share,
        oa_rate_limit=settings.zalo.oa_calls_per_minute,
    )
    events = GroupInserter(sm, InboundEvent, ("commune_id", "channel", "dedupe_key"))
    zalo = ZaloChannel(settings, tenants, coord, api, events, sm)
    webchat = WebChatChannel(
        tenants, sm, coord, events, settings.webchat, secret, settings.public_url
    )
    inbound_channels: dict[str, InboundChannel] = {zalo.name: zalo, webchat.name: webchat}
    outbound_channels: dict[str, OutboundChannel] = {zalo.name: zalo, webchat.name: webchat}
    # SQLite shares one connection between the webhook and the loops: keep its batches short
    # so the write-before-200 never waits long; PostgreSQL takes bigger batches.
    nlu = create_backend(settings.nlu, http)
    processor = InboundProcessor(
        sm,
        tenants,
        coord,
        inbound_channels,
        batch=50 if engine.dialect.name == "sqlite" else 200,
        nlu=nlu,
        feedback=settings.feedback,
        staff_echo_pause_s=settings.zalo.staff_echo_pause_s,
    )
    sender = Sender(
        sm, tenants, coord, outbound_channels, max_attempts=settings.zalo.max_send_attempts
    )
    services = Services(
        settings,
        engine,
        sm,
        coord,
        http,
        tenants,
        tokens,
        zalo,
        webchat,
        processor,
        sender,
        TokenRefresher(tokens),
        nlu,
        NoticeDispatcher(sm, tenants, coord, settings.notices, settings.zalo.broadcasts),
        NoticesApi(sm, tenants, coord),
        BroadcastWorker(sm, tenants, coord, zalo, settings.zalo),
        Feeds(sm, tenants, settings.public_url),
        NoticeScheduler(
            sm,
            coord,
            settings.database_url,
            settings.notices.misfire_grace_s,
            lambda: coord.publish(NOTICES_TOPIC),
        ),
        FeedbackApi(sm, tenants, coord, settings.feedback),
        SlaClock(sm, tenants, coord, settings.feedback),
        Open311(sm, tenants, coord, settings.feedback, settings.public_url),
        CommuneApi(sm),
        StaffApi(sm),
        KnowledgeApi(sm),
        ProvincesApi(sm, coord, settings.provinces),
    )
    if background and not faults.exit_after_ack():
        services.tasks = [
            asyncio.create_task(processor.run_forever(), name="inbound-processor"),
            asyncio.create_task(sender.run_forever(), name="sender"),
            asyncio.create_task(services.refresher.run_forever(poll_s=600), name="token-refresher"),
            asyncio.create_task(services.notices.run_forever(), name="notice-dispatcher"),
            asyncio.create_task(
                services.broadcasts.run_forever(poll_s=2.0), name="notice-broadcasts"
            ),
            asyncio.create_task(services.scheduler.run_forever(), name="notice-scheduler"),
            asyncio.create_task(services.sla.run_forever(), name="ticket-clock"),
        ]
    if background:  # a process that answers residents hears other processes' facts saves
        services.facts = FactsListener(coord)
        services.tasks.append(asyncio.create_task(services.facts.run_forever(), name="facts-cache"))
    log.info(
        "service ready: %d communes, store %s, coordination %s, NLU %s",
        len(tenants),
        engine.dialect.name,
        coord.name,
        nlu.name,
    )
    return services


# -- handlers -------------------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    checks: dict[str, Any] = {"communes": len(services.tenants)}
    status = 200
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"error: {type(exc).__name__}"
        status = 503
    checks["coordination"] = services.coord.name  # "in-process (redis unreachable, …)"
    checks["nlu"] = services.nlu.status()  # a Rasa outage degrades answers, not the service
    if status == 200:
        checks["zalo"] = await zalo_token_states(services)
    return web.json_response(
        {"status": "ok" if status == 200 else "degraded", **checks}, status=status
    )


async def zalo_token_states(services: Services) -> dict[str, Any]:
    """The communes' Zalo tokens: how many are ``ok``, and the codes of those whose refresh is
    failing (``refresh failing, retrying``), that ``need re-consent`` or are ``not connected``
    (the reasons are in the logs, not on this public page)."""
    states = await services.tokens.states()
    out: dict[str, Any] = {"ok": 0}
    for tenant in services.tenants:
        if tenant.config.zalo is None:
            continue
        state = states.get(tenant.config.zalo.oa_id, "not connected").split(":")[0]
        if state == "ok":
            out["ok"] += 1
        else:
            out.setdefault(state, []).append(tenant.code)
    return out


async def oauth_callback(request: web.Request) -> web.StreamResponse:
    """Zalo sends the OA admin here after consent. A link made on the console's "Kết nối Zalo"
    page sends them back there with the outcome (``?zalo=connected`` or a failure's kind,
    ``bot/console/zalo_page.py`` words it); one made by ``bot zalo connect`` answers in text."""
    services = request.app[SERVICES]
    code, state = request.query.get("code"), request.query.get("state")
    back = await services.tokens.return_to(state) if state else None

    def outcome(kind: str) -> web.HTTPSeeOther:
        return web.HTTPSeeOther(f"{back}?zalo={kind}")

    if not code or not state:
        if back:
            raise outcome("denied")
        raise web.HTTPBadRequest(text="thiếu code hoặc state / missing code or state")
    try:
        oa_id = await services.tokens.exchange_code(code, state, request.query.get("oa_id"))
    except CallbackRefused as exc:
        if back:
            raise outcome(exc.kind) from None
        raise web.HTTPBadRequest(text=f"Không kết nối được: {exc}") from None
    except TransportError as exc:  # Zalo down, slow or answering garbage: not a refusal
        log.warning("oauth code exchange: Zalo unavailable: %s", exc)
        if back:
            raise outcome("unavailable") from None
        raise web.HTTPBadGateway(text=f"Zalo chưa trả lời, vui lòng thử lại: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - Zalo refused the code
        log.warning("oauth code exchange failed: %s", exc)
        if back:
            raise outcome("refused") from None
        raise web.HTTPBadGateway(text=f"Zalo từ chối mã ủy quyền: {exc}") from None
    if back:
        raise outcome("connected")
    return web.Response(
        text=f"Đã kết nối Official Account {oa_id}. Có thể đóng trang này.",
        content_type="text/plain",
        charset="utf-8",
    )


async def index(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    links = "".join(
        f'<li><a href="/chat/{t.code}">{html.escape(t.config.name)}</a></li>'
        for t in services.tenants
    )
    return web.Response(
        text=f"<!doctype html><meta charset=utf-8><meta name=viewport "
        f"content='width=device-width'><title>Trợ lý xã</title>"
        f"<h1>Trợ lý thông tin cơ sở</h1><ul>{links}</ul>"
        f'<p><a href="/console/">Trang cán bộ (đăng nhập)</a></p>',
        content_type="text/html",
    )


def _delegate(service: str, name: str):
    """A route handler calling method ``name`` of this app's ``services.<service>``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await getattr(getattr(request.app[SERVICES], service), name)(request)

    return handler


def _key_uses() -> Any:
    """Middleware: when a staff key authenticated a call (``identify``), note it once the call
    is answered, whatever the answer; a failure to note it never changes the answer."""
    uses = KeyUses()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            key_id = request.get(KEY_USED)
            if key_id is not None:
                try:
                    await uses.record(request.app[SERVICES].sm, key_id)
                except Exception as exc:  # noqa: BLE001 - a database blip: the answer stands
                    log.warning("could not note the use of staff key %s: %s", key_id, exc)

    return record


def create_app(
    settings: Settings, *, migrate: bool = True, background: bool = True
) -> web.Application:
    app = web.Application(
        client_max_size=settings.service.max_body_bytes, middlewares=[_key_uses()]
    )

    async def lifecycle(app: web.Application):
        services = await build_services(settings, migrate=migrate, background=background)
        app[SERVICES] = services
        yield
        await services.close()

    app.cleanup_ctx.append(lifecycle)
    app.on_response_prepare.append(add_headers)  # nosniff, referrer policy, CSP: every answer

    async def zalo_webhook(request: web.Request) -> web.StreamResponse:
        return await request.app[SERVICES].zalo.webhook(request)

    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/webhooks/zalo", zalo_webhook)
    app.router.add_get("/zalo/oauth/callback", oauth_callback)
    setup_console(app, SERVICES)  # /console/…: the staff console (bot/console/)
    for service, routes in (
        ("webchat", WebChatChannel.ROUTES),
        ("notices_api", NoticesApi.ROUTES),
        ("feeds", Feeds.ROUTES),
        ("feedback_api", FeedbackApi.ROUTES),
        ("open311", Open311.ROUTES),
        ("commune_api", CommuneApi.ROUTES),
        ("staff_api", StaffApi.ROUTES),
        ("knowledge_api", KnowledgeApi.ROUTES),
        ("provinces_api", ProvincesApi.ROUTES),
    ):
        for method, path, name in routes:
            app.router.add_route(method, path, _delegate(service, name))
    return app
