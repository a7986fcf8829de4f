"""The console's pages: sign in, set a password from an invitation, home, sign out.

Rendered by aiohttp-jinja2 from ``templates/`` with autoescaping on for every template (a name
or a resident's text holding ``<script>`` is shown as text). Every text goes through Babel
(``_`` in templates is ``bot.i18n._`` under the page's language: Vietnamese, or English chosen
with ``?lang=en`` and kept in a cookie). Dates are Vietnamese time, dd/mm/yyyy.

Forms carry a CSRF token checked on every POST: before signing in, a random cookie the form
must echo (double submit); after, the session's own token. A POST whose ``Origin`` is another
site is refused too. Console pages get their own Content-Security-Policy (scripts and styles
from this origin only, never framed) and ``Cache-Control: no-store``. The session cookie is
HttpOnly, SameSite=Lax, path ``/console``, and Secure when the request came over https (directly,
or through a proxy of ``webchat.trusted_proxies`` saying ``X-Forwarded-Proto: https``) or the
service's public address is https.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import select

from bot import audit
from bot.api.auth import COMMUNE_ROLES
from bot.channels.webguard import _ip, _within, client_address
from bot.console import auth
from bot.i18n import N_, _, translations, use_language
from bot.store.models import Commune
from bot.text import number
from bot.timeutil import to_vn, utcnow

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = {"console.js": "application/javascript", "console.css": "text/css"}
SESSION_COOKIE = "bot_console"
FORM_COOKIE = "bot_console_form"  # the signed-out forms' CSRF token (double submit)
LANG_COOKIE = "bot_console_lang"
POLL_HEADER = "X-Console-Poll"  # a page script's background fetch: not the person's activity
LANGUAGES = ("vi", "en")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


ROLE_NAMES = {
    "officer": N_("Cán bộ, công chức"),
    "leader": N_("Lãnh đạo xã"),
    "propagandist": N_("Tuyên truyền viên"),
    "operator": N_("Quản trị viên cấp tỉnh"),
    "publisher": N_("Cán bộ sở, ngành (đăng thông báo toàn tỉnh)"),
}
CONSOLE: web.AppKey[Console] = web.AppKey("console")


def vn_date(value: datetime | None, with_time: bool = True) -> str:
    """dd/mm/yyyy (and HH:MM), Vietnamese time."""
    if value is None:
        return ""
    return to_vn(value).strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def page_number(raw: str) -> int:
    """A list's ``?page=`` as a number: at most 7 ASCII digits (``number``), at least 1;
    anything else is page 1."""
    return page if (page := number(raw, 7)) else 1


def _ngettext(singular: str, plural: str, n: int) -> str:
    from bot.i18n import current_language

    return translations(current_language()).ngettext(singular, plural, n)


class Console:
    """The console's handlers over the service's store and coordinator. ``clock`` is the
    console's idea of now (tests move it to expire sessions and invitations)."""

    ROUTES = (
        ("GET", "/console", "to_home"),
        ("GET", "/console/", "home"),
        ("GET", "/console/login", "login_page"),
        ("POST", "/console/login", "login"),
        ("POST", "/console/logout", "logout"),
        ("GET", r"/console/invite/{token:[A-Za-z0-9_-]{20,64}}", "invite_page"),
        ("POST", r"/console/invite/{token:[A-Za-z0-9_-]{20,64}}", "accept_invite"),
        ("GET", r"/console/static/{name}", "static"),
    )

    def __init__(self, services: Any, clock: Callable[[], datetime] = utcnow) -> None:
        self.sm = services.sm
        self.coord = services.coord
        self.settings = services.settings
        self.clock = clock
        #: sign-in attempts one network address may make in ``auth.LOCK`` (whatever the logins:
        #: trying one password on many logins is stopped too); an office behind one address
        #: signs in far fewer times
        self.address_attempts = 60
        self._static = {name: (HERE / "static" / name).read_bytes() for name in STATIC}
        # the forms that go to Zalo answer a page that navigates there (bot/console/zalo_go.py):
        # form-action stays 'self', whatever hosts Zalo's redirect chain passes through
        self.csp = CSP
        self.version = hashlib.sha256(b"".join(self._static.values())).hexdigest()[:12]

    # -- plumbing ---------------------------------------------------------------------------
    def language(self, request: web.Request) -> str:
        wanted = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
        return wanted if wanted in LANGUAGES else "vi"

    def secure(self, request: web.Request) -> bool:
        if request.secure or self.settings.public_url.startswith("https://"):
            return True
        peer = _ip(
            (request.transport.get_extra_info("peername") or ("",))[0] if request.transport else ""
        )
        return (
            peer is not None
            and _within(peer, self.settings.webchat.trusted_proxies)
            and request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip() == "https"
        )

    def _cookie(
        self, request: web.Request, response: web.StreamResponse, name: str, value: str, **kw: Any
    ) -> None:
        response.set_cookie(
            name,
            value,
            path="/console",
            httponly=True,
            samesite=kw.pop("samesite", "Lax"),
            secure=self.secure(request),
            **kw,
        )

    def render(
        self,
        request: web.Request,
        template: str,
        context: dict[str, Any],
        status: int = 200,
        user: auth.ConsoleUser | None = None,
    ) -> web.Response:
        lang = self.language(request)
        form_token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
        with use_language(lang):
            response = aiohttp_jinja2.render_template(
                template,
                request,
                {
                    "lang": lang,
                    "user": user,
                    "role_name": _(ROLE_NAMES.get(user.role, user.role)) if user else "",
                    "csrf": user.csrf if user else form_token,
                    "version": self.version,
                    "active": "",
                    "zalo_login": self.settings.zalo.login is not None,
                    **context,
                },
                status=status,
            )
        response.headers["Content-Security-Policy"] = self.csp
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        # the browser then names our origin on a form's POST (with no-referrer it says "null")
        # and still tells other sites nothing
        response.headers["Referrer-Policy"] = "same-origin"
        if user is None and FORM_COOKIE not in request.cookies:
            self._cookie(request, response, FORM_COOKIE, form_token, samesite="Strict")
        if "lang" in request.query and request.query["lang"] in LANGUAGES:
            self._cookie(request, response, LANG_COOKIE, lang, max_age=365 * 86400)
        return response

    def message(self, request: web.Request, status: int, title: str, text: str) -> web.Response:
        return self.render(request, "message.html", {"title": title, "text": text}, status)

    def refused_form(self, request: web.Request) -> web.Response:
        with use_language(self.language(request)):
            return self.message(
                request,
                403,
                _("Biểu mẫu đã hết hạn"),
                _("Vui lòng tải lại trang rồi thử lại."),
            )

    def same_origin(self, request: web.Request) -> bool:
        """A browser's POST from another site is refused whatever its token."""
        origin = request.headers.get("Origin")
        if origin is None:  # not sent by older browsers for same-origin forms
            return True
        return urlsplit(origin).netloc.lower() == (request.host or "").lower()

    async def allowed(
        self, request: web.Request, may: Callable[[str], bool], refusal: str
    ) -> auth.ConsoleUser | web.Response:
        """The signed-in user when their role may open the page (``may``); signed out → the
        sign-in page; any other role → the 403 page saying ``refusal`` (an ``N_`` text)."""
        user = await self.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if may(user.role):
            return user
        with use_language(self.language(request)):
            return self.render(
                request,
                "questions_message.html",
                {"title": _("Không có quyền"), "text": _(refusal)},
                status=403,
                user=user,
            )

    async def user(self, request: web.Request) -> auth.ConsoleUser | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        # a script's poll (console.js marks it) reads the session without counting as activity
        touch = request.headers.get(POLL_HEADER) != "1"
        async with self.sm() as s, s.begin():
            return await auth.current(s, token, self.clock(), touch=touch)

    async def form(self, request: web.Request, expected: str | None) -> dict[str, str] | None:
        """The POSTed form when its CSRF token is ``expected`` (and the origin ours)."""
        if not expected or not self.same_origin(request):
            return None
        try:
            data = await request.post()
        except (LookupError, UnicodeDecodeError):  # a charset nobody knows: refused, not a 500
            return None
        sent = data.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
            return None
        return {k: v for k, v in data.items() if isinstance(v, str)}

    # -- pages ------------------------------------------------------------------------------
    async def to_home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/console/")

    async def home(self, request: web.Request) -> web.StreamResponse:
        user = await self.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if user.role not in COMMUNE_ROLES and user.province_code:
            # a department's publisher has one screen: they land there (after signing in too)
            raise web.HTTPSeeOther("/console/province-notices")
        communes: list[tuple[str, str]] = []
        if user.role == "operator" and user.province_code:
            async with self.sm() as s:
                communes = [
                    (code, name)
                    for code, name in (
                        await s.execute(
                            select(Commune.code, Commune.name)
                            .where(Commune.province_code == user.province_code)
                            .order_by(Commune.name)
                        )
                    ).all()
                ]
        return self.render(
            request,
            "home.html",
            {
                "communes": communes,
                "signed_in_at": vn_date(user.signed_in_at),
                "active": "home",
            },
            user=user,
        )

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        if await self.user(request) is not None:
            raise web.HTTPSeeOther("/console/")
        return self.render(
            request, "login.html", {"error": None, "login": "", "done": "done" in request.query}
        )

    async def login(self, request: web.Request) -> web.StreamResponse:
        data = await self.form(request, request.cookies.get(FORM_COOKIE))
        if data is None:
            return self.refused_form(request)
        login, password = data.get("login", ""), data.get("password", "")
        address = client_address(request, self.settings.webchat.trusted_proxies)
        tries = await self.coord.window_count(
            f"console:address:{address}", auth.LOCK.total_seconds()
        )
        with use_language(self.language(request)):
            if tries > self.address_attempts:
                return self.render(
                    request,
                    "login.html",
                    {"error": auth.too_many_here(), "login": login[:64], "done": False},
                    status=429,
                )
            attempt = await auth.check_login(self.sm, self.coord, login, password, self.clock())
        if attempt.staff is None:
            return self.render(
                request,
                "login.html",
                {"error": attempt.error, "login": login[:64], "done": False},
                status=401,
            )
        old = request.cookies.get(SESSION_COOKIE)
        async with self.sm() as s, s.begin():
            if old:
                await auth.end_session(s, old)  # never carry a session over a new sign-in
            token = await auth.start_session(s, attempt.staff, self.clock())
        response = web.HTTPSeeOther("/console/")
        self._cookie(
            request, response, SESSION_COOKIE, token, max_age=int(auth.ABSOLUTE.total_seconds())
        )
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        user = await self.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if await self.form(request, user.csrf) is None:
            return self.refused_form(request)
        async with self.sm() as s, s.begin():
            await auth.end_session(s, request.cookies[SESSION_COOKIE])
            audit.action(
                s,
                user.commune_id,
                user.staff_id,
                "signed_out",
                "account",
                user.staff_id,
                f"{user.name} ({user.login})",
                at=self.clock(),
            )
        response = web.HTTPSeeOther("/console/login")
        response.del_cookie(SESSION_COOKIE, path="/console")
        raise response

    def dead_link(self, request: web.Request) -> web.Response:
        with use_language(self.language(request)):
            return self.message(
                request,
                404,
                _("Liên kết không còn hiệu lực"),
                _(
                    "Liên kết đặt mật khẩu đã được dùng, đã hết hạn hoặc không đúng. Vui lòng "
                    "xin lãnh đạo xã gửi liên kết mới."
                ),
            )

    async def invite_page(self, request: web.Request) -> web.StreamResponse:
        async with self.sm() as s:
            found = await auth.invitation(s, request.match_info["token"], self.clock())
        if found is None:
            return self.dead_link(request)
        return self.render(
            request,
            "invite.html",
            {"staff_name": found[1].name, "login": found[1].login, "error": None},
        )

    async def accept_invite(self, request: web.Request) -> web.StreamResponse:
        data = await self.form(request, request.cookies.get(FORM_COOKIE))
        if data is None:
            return self.refused_form(request)
        token = request.match_info["token"]
        password, again = data.get("password", ""), data.get("password2", "")
        name, login = "", ""
        with use_language(self.language(request)):
            try:
                async with self.sm() as s, s.begin():
                    found = await auth.invitation(s, token, self.clock())
                    if found is None:
                        return self.dead_link(request)
                    name, login = found[1].name, found[1].login or ""
                    if password != again:
                        raise auth.AccountError(_("Hai lần nhập mật khẩu không giống nhau."))
                    staff = await auth.accept(s, token, password, self.clock())
            except auth.AccountError as exc:  # rolled back: the link still works
                return self.render(
                    request,
                    "invite.html",
                    {"staff_name": name, "login": login, "error": str(exc)},
                    status=400,
                )
        if staff is None:
            return self.dead_link(request)
        raise web.HTTPSeeOther("/console/login?done=1")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(
            body=self._static[name],
            content_type=STATIC[name],
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )


def add_screen(
    app: web.Application,
    routes: Iterable[tuple[str, str, str]],
    build: Callable[[web.Application], Any],
    *,
    once: bool = False,
    key: web.AppKey[Any] | None = None,
) -> None:
    """A console screen's ``routes`` — (method, path, the name of the screen's method that
    answers) — on ``app``. ``build(app)`` makes the screen's object: for each request, or with
    ``once`` a single one at start-up (a screen that keeps something between requests), kept
    under ``key`` (a key of its own when none is given)."""
    if once:
        kept: web.AppKey[Any] = key or web.AppKey("console_screen")  # keys compare by identity

        async def start(app: web.Application) -> None:
            app[kept] = build(app)

        app.on_startup.append(start)

        def screen(request: web.Request) -> Any:
            return request.app[kept]

    else:

        def screen(request: web.Request) -> Any:
            return build(request.app)

    def delegate(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await getattr(screen(request), name)(request)

        return handler

    for method, path, name in routes:
        app.router.add_route(method, path, delegate(name))


def setup(app: web.Application, services_key: web.AppKey[Any]) -> None:
    """Register the console on the service's app: templates, routes, and the handlers' object
    (built once the services are, at start-up)."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(gettext=_, ngettext=_ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["vn_date"] = vn_date

    # built at start-up, after the services (cleanup_ctx runs first), before the screens
    add_screen(app, Console.ROUTES, lambda app: Console(app[services_key]), once=True, key=CONSOLE)
