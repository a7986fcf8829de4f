""" "Kết nối Zalo": whether the bot may speak for a commune's Official Account, and the button
that (re)connects it through the OA's OAuth v4 flow (``TokenManager.authorization_url``; the
callback, ``/zalo/oauth/callback`` in bot/app.py, sends the admin back here with the outcome).

For the commune's leaders, and a province operator for each commune of the province; another
commune's page or button is the 404 of a code that does not exist, and other roles get the same
404 (the navigation does not show it to them). What the page reads, never a token:

- the token's state from ``zalo_tokens`` and the token manager (``TokenManager.states``): not
  connected, connected until when, refresh failing (this process's retries), expired and not
  renewed, needs re-consent (a refused refresh, or the OA revoked the app's permission) —
  decided in ``bot.health.token_state``, which the province's health page shares;
- the last webhook event stored for the commune (``inbound_events``, one index read);
- the messages held for want of a token (outbound ``NO_TOKEN``), sent once connected again.

Each broken state is said in plain Vietnamese with what to do about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import bindparam, func, select

from bot.console import auth
from bot.console.web import CONSOLE, Console, add_screen, vn_date
from bot.console.zalo_go import to_zalo
from bot.health import STATES, token_state
from bot.i18n import N_, _, use_language
from bot.sending import NO_TOKEN_CODE
from bot.store.models import Commune, InboundEvent, OutboundMessage, ZaloToken

#: who may see and (re)connect a commune's OA: its leaders, the province's operator
ROLES = ("leader", "operator")
#: the callback's outcome (``?zalo=<kind>``, bot/app.py ``oauth_callback``)
OUTCOMES = {
    "connected": N_("Đã kết nối Zalo thành công. Trợ lý đã có thể gửi tin thay OA của xã."),
    "denied": N_(
        "Chưa kết nối: anh/chị chưa bấm “Cho phép” trên Zalo. Vui lòng bấm “Kết nối lại”, "
        "đăng nhập bằng tài khoản quản trị OA và bấm “Cho phép”."
    ),
    "expired": N_(
        "Liên kết kết nối đã hết hạn (quá 15 phút) hoặc đã được dùng. Vui lòng bấm “Kết nối "
        "lại” để mở liên kết mới."
    ),
    "wrong_oa": N_(
        "Anh/chị đã cấp quyền cho một OA khác, không phải OA của xã này. Mở lại liên kết và "
        "đăng nhập bằng tài khoản quản trị OA của xã."
    ),
    "refused": N_(
        "Zalo không chấp nhận mã cấp quyền. Mở lại liên kết và đăng nhập bằng tài khoản quản "
        "trị OA."
    ),
    "no_oa": N_(
        "Zalo không cho biết OA nào đã cấp quyền. Mở lại liên kết và đăng nhập bằng tài khoản "
        "quản trị OA."
    ),
    "unavailable": N_("Zalo chưa trả lời. Vui lòng thử lại sau ít phút."),
}


@dataclass(frozen=True)
class Connection:
    """What the page says about one commune's OA."""

    code: str
    name: str
    oa_id: str
    state: str  # a key of STATES
    explain: str  # what it means and what to do (current language)
    expires_at: str
    last_event_at: str
    last_event: str
    held: int

    @property
    def state_name(self) -> str:
        return _(STATES[self.state])


def breakable(address: str) -> list[str]:
    """``address`` in pieces a narrow screen may break between (the page puts ``<wbr>`` after
    each): after a slash, before a dot — never inside a word of the domain."""
    return [p for p in re.split(r"(?<=/)(?!/)|(?=\.)", address) if p]


class ZaloPage:
    ROUTES = (
        ("GET", "/console/zalo", "index"),
        ("GET", r"/console/zalo/{code:\d{5}}", "page"),
        ("POST", r"/console/zalo/{code:\d{5}}/connect", "connect"),
    )

    def __init__(self, console: Console, services: Any) -> None:
        self.console = console
        self.services = services

    async def _user(self, request: web.Request) -> auth.ConsoleUser:
        user = await self.console.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if user.role not in ROLES:
            raise web.HTTPNotFound()
        return user

    async def _commune(self, user: auth.ConsoleUser, code: str) -> Commune:
        async with self.console.sm() as s:
            found = (
                await s.execute(
                    select(Commune).where(Commune.code == code, auth.in_scope(user, Commune.id))
                )
            ).scalar_one_or_none()
        if found is None:
            raise web.HTTPNotFound()
        return found

    async def index(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        async with self.console.sm() as s:
            communes = (
                (
                    await s.execute(
                        select(Commune)
                        .where(auth.in_scope(user, Commune.id))
                        .order_by(Commune.name)
                    )
                )
                .scalars()
                .all()
            )
        if len(communes) == 1:
            raise web.HTTPSeeOther(f"/console/zalo/{communes[0].code}")
        with use_language(self.console.language(request)):
            rows = [await self.connection(c) for c in communes]
        return self.console.render(
            request, "zalo_list.html", {"rows": rows, "active": "zalo"}, user=user
        )

    async def page(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        commune = await self._commune(user, request.match_info["code"])
        kind = request.query.get("zalo", "")
        with use_language(self.console.language(request)):
            row = await self.connection(commune)
            told = _(OUTCOMES[kind]) if kind in OUTCOMES else ""
        return self.console.render(
            request,
            "zalo.html",
            {
                "row": row,
                "told": told,
                "told_ok": kind == "connected",
                "webhook_url": f"{self.console.settings.public_url}/webhooks/zalo",
                "webhook_parts": breakable(f"{self.console.settings.public_url}/webhooks/zalo"),
                "active": "zalo",
            },
            user=user,
        )

    async def connect(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        commune = await self._commune(user, request.match_info["code"])
        if await self.console.form(request, user.csrf) is None:
            return self.console.refused_form(request)
        if not commune.oa_id:
            raise web.HTTPNotFound()
        url = await self.services.tokens.authorization_url(
            commune.oa_id, return_to=f"/console/zalo/{commune.code}"
        )
        return to_zalo(self.console, request, url)

    async def connection(self, commune: Commune) -> Connection:
        """The commune's OA as the page tells it (call under the page's language)."""
        oa_id = commune.oa_id or ""
        async with self.console.sm() as s:
            token = await s.get(ZaloToken, oa_id) if oa_id else None
            last = (
                await s.execute(
                    select(InboundEvent.received_at, InboundEvent.event_name)
                    # the commune's id written into the statement: PostgreSQL plans it for
                    # this commune (a cached generic plan walks the primary key back through
                    # every other commune's events when this one has none or only old ones)
                    .where(
                        InboundEvent.commune_id
                        == bindparam("commune", commune.id, literal_execute=True),
                        InboundEvent.channel == "zalo",
                    )
                    .order_by(InboundEvent.id.desc())
                    .limit(1)
                )
            ).first()
            held = await s.scalar(
                select(func.count())
                .select_from(OutboundMessage)
                .where(
                    OutboundMessage.commune_id == commune.id,
                    OutboundMessage.status == "pending",
                    OutboundMessage.error_code == NO_TOKEN_CODE,
                )
            )
        states = await self.services.tokens.states() if token is not None else {}
        expires = vn_date(token.expires_at) if token is not None else ""
        state, explain = token_state(
            oa_id, token, states.get(oa_id, ""), expires, self.console.clock()
        )
        return Connection(
            commune.code,
            commune.name,
            oa_id,
            state,
            explain,
            expires,
            vn_date(last[0]) if last else "",
            last[1] if last else "",
            held or 0,
        )


def may_manage_zalo(role: str) -> bool:
    return role in ROLES


def setup(app: web.Application, services_key: web.AppKey[Any]) -> None:
    """The routes; the handlers' object is built at start-up, over the console's."""
    add_screen(
        app, ZaloPage.ROUTES, lambda app: ZaloPage(app[CONSOLE], app[services_key]), once=True
    )
    # the navigation shows "Kết nối Zalo" only to those who may use it
    aiohttp_jinja2.get_env(app).globals["may_manage_zalo"] = may_manage_zalo
