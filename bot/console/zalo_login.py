""" "Đăng nhập bằng Zalo" and "Liên kết Zalo": a staff member signs in to the console with the
Zalo account they linked once (docs/console-zalo.md).

Zalo's social login gives an id scoped to the login app — not the OA follower id a staff member
is registered with (``Staff.zalo_user_id``) — so nobody is recognised until they link: signed in
with their password, they open "Liên kết Zalo", consent on Zalo, and their app-scoped id is kept
in ``Staff.zalo_login_id`` (unique across communes: the sign-in page asks no commune). After
that "Đăng nhập bằng Zalo" signs them in with a session from ``auth.start_session``, refused by
the same rules as a password (``auth.refusal``: locked out, deactivated). An unknown Zalo
account is told so; it never gets an account.

Each round trip is one ``zalo_login_states`` row: the state's and a browser cookie's SHA-256,
the PKCE verifier (encrypted), the purpose. The callback takes it only from the browser that
started it (the cookie, SameSite=Lax: Zalo's redirect back is a top-level navigation), once,
within ``STATE_TTL``; the row is spent before Zalo is asked, whatever the answer. Starting is a
POST with the page's CSRF token. Everything is 404 while ``zalo.login`` is not configured.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from typing import Any, NoReturn

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot import audit
from bot.channels.webguard import client_address
from bot.channels.zalo.oauth import pkce_pair
from bot.console import auth
from bot.console.web import CONSOLE, FORM_COOKIE, SESSION_COOKIE, Console, add_screen, vn_date
from bot.console.zalo_go import to_zalo
from bot.console.zalo_social import Profile, SocialError, ZaloSocial
from bot.i18n import N_, _, use_language
from bot.store.models import Staff, ZaloLoginState
from bot.store.ops import forget_zalo_login
from bot.timeutil import as_utc

log = logging.getLogger(__name__)
STATE_TTL = timedelta(minutes=10)
#: linking adds a credential: only within this long of signing in with the password (or
#: Zalo), else the link page asks the password again — a session left open on a shared office
#: computer is not enough to add one's own Zalo to someone else's account
RECENT = timedelta(minutes=15)
BROWSER_COOKIE = "bot_console_zalo"
PROFILE = "/console/profile/zalo"
#: what the profile page says after a link round trip (``?zalo=<kind>``)
LINK_OUTCOMES = {
    "linked": N_("Đã liên kết tài khoản Zalo. Từ nay anh/chị có thể bấm “Đăng nhập bằng Zalo”."),
    "unlinked": N_("Đã bỏ liên kết Zalo. Anh/chị đăng nhập bằng mật khẩu như trước."),
    "taken": N_(
        "Tài khoản Zalo này đã được liên kết với một cán bộ khác. Mỗi tài khoản Zalo chỉ dùng "
        "cho một người; vui lòng dùng tài khoản Zalo của chính anh/chị."
    ),
    "denied": N_("Chưa liên kết: anh/chị chưa đồng ý trên Zalo. Vui lòng thử lại."),
    "expired": N_("Phiên liên kết đã hết hạn hoặc đã được dùng. Vui lòng bấm “Liên kết Zalo” lại."),
    "refused": N_("Zalo không xác nhận được tài khoản. Vui lòng bấm “Liên kết Zalo” lại."),
    "unavailable": N_("Chưa kết nối được với Zalo. Vui lòng thử lại sau ít phút."),
    "password": N_("Mật khẩu chưa đúng. Vui lòng nhập lại mật khẩu để liên kết Zalo."),
}
OK_OUTCOMES = ("linked", "unlinked")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class ZaloLogin:
    ROUTES = (
        ("POST", "/console/login/zalo", "start_login"),
        ("GET", "/console/login/zalo/callback", "callback"),
        ("GET", PROFILE, "profile"),
        ("POST", PROFILE, "start_link"),
        ("POST", PROFILE + "/unlink", "unlink"),
    )

    def __init__(self, console: Console, services: Any) -> None:
        self.console = console
        self.box = services.tokens.box
        self.social = (
            ZaloSocial(services.settings, services.http) if services.settings.zalo.login else None
        )

    def _configured(self) -> ZaloSocial:
        if self.social is None:
            raise web.HTTPNotFound()
        return self.social

    # -- starting -------------------------------------------------------------------------
    async def _begin(
        self, request: web.Request, purpose: str, staff_id: int | None
    ) -> web.Response:
        social = self._configured()
        now = self.console.clock()
        nonce, state = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair()
        async with self.console.sm() as s, s.begin():
            # spent and stale round trips are of no use to anyone: keep the table small
            await s.execute(
                delete(ZaloLoginState).where(ZaloLoginState.created_at < now - STATE_TTL)
            )
            s.add(
                ZaloLoginState(
                    state_hash=digest(state),
                    browser_hash=digest(nonce),
                    purpose=purpose,
                    staff_id=staff_id,
                    code_verifier_enc=self.box.seal(verifier),
                    created_at=now,
                )
            )
        response = to_zalo(self.console, request, social.authorize_url(state, challenge))
        self.console._cookie(
            request, response, BROWSER_COOKIE, nonce, max_age=int(STATE_TTL.total_seconds())
        )
        return response

    async def start_login(self, request: web.Request) -> web.StreamResponse:
        self._configured()
        if await self.console.user(request) is not None:
            raise web.HTTPSeeOther("/console/")
        if await self.console.form(request, request.cookies.get(FORM_COOKIE)) is None:
            return self.console.refused_form(request)
        return await self._begin(request, "login", None)

    async def start_link(self, request: web.Request) -> web.StreamResponse:
        self._configured()
        user = await self.console.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        form = await self.console.form(request, user.csrf)
        if form is None:
            return self.console.refused_form(request)
        if not self._recent(user):
            attempt = await auth.check_login(
                self.console.sm,
                self.console.coord,
                user.login,
                form.get("password", "")[:1024],
                self.console.clock(),
            )
            if attempt.staff is None or attempt.staff.id != user.staff_id:
                log.warning(
                    "zalo link refused for staff #%s: password not confirmed", user.staff_id
                )
                raise web.HTTPSeeOther(PROFILE + "?zalo=password")
        return await self._begin(request, "link", user.staff_id)

    def _recent(self, user: auth.ConsoleUser) -> bool:
        return self.console.clock() - user.signed_in_at <= RECENT

    # -- the profile: link, unlink ----------------------------------------------------------
    async def profile(self, request: web.Request) -> web.StreamResponse:
        self._configured()
        user = await self.console.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        async with self.console.sm() as s:
            staff = await s.get(Staff, user.staff_id)
        kind = request.query.get("zalo", "")
        with use_language(self.console.language(request)):
            told = _(LINK_OUTCOMES[kind]) if kind in LINK_OUTCOMES else ""
        linked = staff if staff is not None and staff.zalo_login_id is not None else None
        return self.console.render(
            request,
            "zalo_profile.html",
            {
                "linked": linked is not None,
                "linked_name": linked.zalo_login_name or "" if linked else "",
                "linked_on": vn_date(linked.zalo_linked_at) if linked else "",
                "ask_password": not self._recent(user),
                "told": told,
                "told_ok": kind in OK_OUTCOMES,
            },
            user=user,
        )

    async def unlink(self, request: web.Request) -> web.StreamResponse:
        self._configured()
        user = await self.console.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if await self.console.form(request, user.csrf) is None:
            return self.console.refused_form(request)
        async with self.console.sm() as s, s.begin():
            staff = await s.get(Staff, user.staff_id, with_for_update=True)
            if staff is not None and await forget_zalo_login(s, staff):
                audit.action(
                    s, staff.commune_id, staff.id, "zalo_unlinked", "account", staff.id, staff.name
                )
        raise web.HTTPSeeOther(PROFILE + "?zalo=unlinked")

    # -- Zalo's redirect back ---------------------------------------------------------------
    async def _take(self, request: web.Request) -> tuple[ZaloLoginState | None, str]:
        """The round trip of the callback's ``state`` when this browser started it, still
        young and unused — spent now; else ``None``. And its purpose, when the state is ours
        at all (a refused link goes back to the profile page, anything else to the login)."""
        state, nonce = request.query.get("state", ""), request.cookies.get(BROWSER_COOKIE, "")
        if not state or len(state) > 128:
            return None, "login"
        now = self.console.clock()
        async with self.console.sm() as s, s.begin():
            row = await s.get(ZaloLoginState, digest(state), with_for_update=True)
            if row is None:
                return None, "login"
            if row.used_at is not None:
                return None, row.purpose
            row.used_at = now  # single use, whatever comes next
            fresh = as_utc(row.created_at) + STATE_TTL > now
            if not fresh or not nonce or not hmac.compare_digest(row.browser_hash, digest(nonce)):
                return None, row.purpose
            s.expunge(row)
            return row, row.purpose

    async def callback(self, request: web.Request) -> web.StreamResponse:
        social = self._configured()
        address = client_address(request, self.console.settings.webchat.trusted_proxies)
        tries = await self.console.coord.window_count(
            f"console:address:{address}", auth.LOCK.total_seconds()
        )
        row, purpose = await self._take(request)
        try:
            with use_language(self.console.language(request)):
                if tries > self.console.address_attempts:
                    raise _Stop("unavailable", auth.too_many_here(), 429)
                if row is None:
                    raise _Stop(
                        "expired",
                        _(
                            "Phiên đăng nhập bằng Zalo đã hết hạn, đã được dùng hoặc không bắt "
                            "đầu từ trình duyệt này. Vui lòng bấm “Đăng nhập bằng Zalo” lại."
                        ),
                        400,
                    )
                code = request.query.get("code", "")
                if not code:
                    raise _Stop(
                        "denied",
                        _("Anh/chị chưa đồng ý trên Zalo nên chưa đăng nhập được."),
                        400,
                    )
                try:
                    token = await social.exchange(code, self.box.open(row.code_verifier_enc))
                    person = await social.profile(token)
                except SocialError as exc:
                    # the reason is Zalo's error name or our transport's: never a code or token
                    log.warning("zalo %s failed (%s): %s", row.purpose, exc.kind, exc)
                    if exc.kind == "unavailable":
                        raise _Stop(
                            "unavailable",
                            _("Chưa kết nối được với Zalo. Vui lòng thử lại sau ít phút."),
                            502,
                        ) from None
                    raise _Stop(
                        "refused",
                        _("Zalo không xác nhận được tài khoản. Vui lòng thử lại."),
                        400,
                    ) from None
                if row.purpose == "link":
                    await self._link(request, row, person)
                await self._sign_in(request, person.id)
        except _Stop as stop:
            if stop.kind not in ("unavailable", "refused"):  # those were logged with Zalo's why
                log.warning("zalo %s stopped: %s", purpose, stop.kind)
            response = await self._stopped(request, purpose, stop)
        response.del_cookie(BROWSER_COOKIE, path="/console")
        return response

    async def _stopped(self, request: web.Request, purpose: str, stop: _Stop) -> web.StreamResponse:
        if purpose == "link" and await self.console.user(request) is not None:
            return web.Response(status=303, headers={"Location": f"{PROFILE}?zalo={stop.kind}"})
        if purpose == "link":  # the session ended meanwhile: say why on the login page
            with use_language(self.console.language(request)):
                text = _(LINK_OUTCOMES["expired"]) + " " + _("Vui lòng đăng nhập lại.")
            return self.console.render(
                request, "login.html", {"error": text, "login": "", "done": False}, status=400
            )
        return self.console.render(
            request,
            "login.html",
            {"error": stop.text, "login": "", "done": False},
            status=stop.status,
        )

    async def _sign_in(self, request: web.Request, zalo_id: str) -> NoReturn:
        """Raises the signed-in redirect, or ``_Stop``."""
        now = self.console.clock()
        old = request.cookies.get(SESSION_COOKIE)
        async with self.console.sm() as s, s.begin():
            staff = (
                await s.execute(
                    select(Staff).where(Staff.zalo_login_id == zalo_id).with_for_update()
                )
            ).scalar_one_or_none()
            if staff is None:
                raise _Stop(
                    "unknown",
                    _(
                        "Tài khoản Zalo này chưa được liên kết với tài khoản cán bộ nào. Vui "
                        "lòng đăng nhập bằng tên đăng nhập và mật khẩu, rồi chọn “Liên kết "
                        "Zalo” ở trang chính."
                    ),
                    401,
                )
            why = auth.refusal(staff, now)
            if why is not None:
                raise _Stop("refused", why, 403)
            if old:
                await auth.end_session(s, old)  # never carry a session over a new sign-in
            token = await auth.start_session(s, staff, now)
        response = web.HTTPSeeOther("/console/")
        self.console._cookie(
            request, response, SESSION_COOKIE, token, max_age=int(auth.ABSOLUTE.total_seconds())
        )
        response.del_cookie(BROWSER_COOKIE, path="/console")
        raise response

    async def _link(self, request: web.Request, row: ZaloLoginState, person: Profile) -> NoReturn:
        """Raises the redirect to the profile page, or ``_Stop``. Two staff linking one Zalo
        account at the same moment both pass the look-up; the unique constraint stops the
        second, told "taken" like the first check would have."""
        user = await self.console.user(request)
        if user is None or user.staff_id != row.staff_id:  # signed out or in as someone else
            raise _Stop("expired", "", 400)
        try:
            async with self.console.sm() as s, s.begin():
                other = await s.scalar(
                    select(Staff.id).where(
                        Staff.zalo_login_id == person.id, Staff.id != user.staff_id
                    )
                )
                if other is not None:
                    raise _Stop("taken", "", 409)
                staff = await s.get(Staff, user.staff_id, with_for_update=True)
                if staff is None or not staff.active:
                    raise _Stop("expired", "", 400)
                staff.zalo_login_id = person.id
                staff.zalo_login_name = person.name or None
                staff.zalo_linked_at = self.console.clock()
                audit.action(
                    s, staff.commune_id, staff.id, "zalo_linked", "account", staff.id, staff.name
                )
        except IntegrityError:
            raise _Stop("taken", "", 409) from None
        log.info("staff #%s linked a Zalo account for signing in", user.staff_id)
        response = web.HTTPSeeOther(PROFILE + "?zalo=linked")
        response.del_cookie(BROWSER_COOKIE, path="/console")
        raise response


class _Stop(Exception):
    """The round trip ends here: ``kind`` for the profile page, ``text`` for the login page."""

    def __init__(self, kind: str, text: str, status: int) -> None:
        super().__init__(kind)
        self.kind, self.text, self.status = kind, text, status


def setup(app: web.Application, services_key: web.AppKey[Any]) -> None:
    """The routes; the handlers' object is built at start-up, over the console's."""
    add_screen(
        app, ZaloLogin.ROUTES, lambda app: ZaloLogin(app[CONSOLE], app[services_key]), once=True
    )
