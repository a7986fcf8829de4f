"""The staff console's first slice (issue 13) through the real path: HTTP in (a cookie jar like
a browser's), `bot staff …` as a process. Signing in and out, wrong passwords and the lock-out,
deactivated accounts, sessions that expire (the console's clock moved by the test), CSRF,
invitation links used once and expiring, passwords from standard input, autoescaping, the
province operator's home and the tenancy rule later screens load objects through.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import yaml
from sqlalchemy import select, update

from bot.cli.serve import demo_logins
from bot.console import auth, passwords
from bot.console.web import CONSOLE, SESSION_COOKIE
from bot.staff import add_staff
from bot.store.models import Commune as CommuneRow
from bot.store.models import ConsoleSession, Staff, StaffInvitation, Village
from bot.timeutil import utcnow
from tests.helpers import commune_code, free_port, make_settings, start_service

CODE, CODE2, CODE3 = commune_code(1), commune_code(2), commune_code(3)
PASSWORD = "nui-Ham-Rong-1987"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
WRONG = "Tên đăng nhập hoặc mật khẩu không đúng."
LOCKED = "Đăng nhập sai quá nhiều lần"


class Clock:
    """The console's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
async def running(store_url, sim):
    running = await start_service(make_settings(store_url, sim, communes=3), sim)
    async with running.services.sm() as s, s.begin():  # 1 and 2 in one province, 3 in another
        for code, province in ((CODE, "15"), (CODE2, "15"), (CODE3, "66")):
            await s.execute(
                update(CommuneRow).where(CommuneRow.code == code).values(province_code=province)
            )
    running.clock = Clock()
    running.runner.app[CONSOLE].clock = running.clock
    yield running
    await running.runner.cleanup()


async def account(
    running,
    login: str,
    role: str = "officer",
    code: str = CODE,
    name: str | None = None,
    password: str | None = PASSWORD,
    village: str | None = None,
) -> tuple[int, str]:
    """A staff member with a console login (and password); returns (id, API key)."""
    async with running.services.sm() as s, s.begin():
        staff, key = await add_staff(s, code, name or f"Cán bộ {login}", role, village)
        await auth.set_login(s, staff, login)
        if password:
            await auth.set_password(s, staff, password)
        return staff.id, key


class Browser:
    """One browser: its own cookies, forms sent as a browser sends them."""

    def __init__(self, running) -> None:
        self.base = running.url
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), auto_decompress=True
        )

    async def close(self) -> None:
        await self.http.close()

    async def get(self, path: str) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(self.base + path, allow_redirects=False) as r:
            return r.status, await r.text(), r

    async def post(
        self, path: str, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.post(
            self.base + path, data=data, allow_redirects=False, headers=headers or {}
        ) as r:
            return r.status, await r.text(), r

    async def csrf(self, path: str) -> str:
        status, html, _ = await self.get(path)
        assert status == 200, html
        return CSRF.search(html).group(1)  # type: ignore[union-attr]

    async def login(self, login: str, password: str = PASSWORD) -> tuple[int, str]:
        token = await self.csrf("/console/login")
        status, html, r = await self.post(
            "/console/login", {"csrf": token, "login": login, "password": password}
        )
        return status, html if status != 303 else r.headers["Location"]

    def session_token(self) -> str | None:
        for cookie in self.http.cookie_jar:
            if cookie.key == SESSION_COOKIE:
                return cookie.value
        return None

    async def home(self) -> tuple[int, str]:
        status, html, r = await self.get("/console/")
        return status, html if status == 200 else r.headers.get("Location", "")


@pytest.fixture
async def browser(running):
    b = Browser(running)
    yield b
    await b.close()


async def signed_in(running, login: str, **kw) -> Browser:
    """A browser signed in as a new staff member ``login`` (``account``'s keywords)."""
    await account(running, login, **kw)
    b = Browser(running)
    assert (await b.login(login))[0] == 303
    return b


async def test_sign_in_see_who_you_are_and_sign_out(running, browser):
    await account(running, "lan.vp", name="Nguyễn Thị Lan")
    assert await browser.home() == (303, "/console/login")
    # the sign-in form sets its CSRF cookie: HttpOnly, SameSite, only for the console
    async with browser.http.get(running.url + "/console/login") as r:
        form_cookie = r.headers.getone("Set-Cookie")
        assert r.headers["Content-Security-Policy"].startswith(
            "default-src 'none'; script-src 'self'"
        )
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["Cache-Control"] == "no-store"
    assert "HttpOnly" in form_cookie and "Path=/console" in form_cookie
    assert "SameSite=Strict" in form_cookie and "Secure" not in form_cookie  # plain http here

    async with browser.http.post(
        running.url + "/console/login",
        data={
            "csrf": await browser.csrf("/console/login"),
            "login": " LAN.vp ",
            "password": PASSWORD,
        },
        allow_redirects=False,
    ) as r:
        assert r.status == 303 and r.headers["Location"] == "/console/"
        cookie = r.headers.getone("Set-Cookie")
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Path=/console" in cookie
    token = browser.session_token()
    async with running.services.sm() as s:  # only the cookie's hash is kept
        [kept] = (await s.execute(select(ConsoleSession.token_hash))).scalars().all()
    assert kept == hashlib.sha256(token.encode()).hexdigest() and token not in kept

    status, html = await browser.home()
    assert status == 200
    assert "Nguyễn Thị Lan" in html and "Cán bộ, công chức" in html and "Xã Thử Nghiệm 1" in html
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", html)  # dd/mm/yyyy, Vietnamese time
    vn = (running.clock.now + timedelta(hours=7)).strftime("%d/%m/%Y %H:%M")
    assert vn in html
    # the nav holds only what exists: home, the dashboard, the report, the commune's health,
    # the inbox, residents' questions (an officer's), notices, knowledge, the commune's facts
    # (an officer's) and sign-out
    nav = re.search(r'<nav class="nav".*?</nav>', html, re.S).group(0)
    assert re.findall(r'href="([^"]+)"', nav) == [
        "/console/",
        "/console/dashboard",
        "/console/report",
        "/console/health",
        "/console/inbox",
        "/console/questions",
        "/console/notices",
        "/console/knowledge",
        "/console/facts",
    ]
    assert 'action="/console/logout"' in nav
    for later in ("Audit",):
        assert later not in nav
    # the index page links to the console
    async with browser.http.get(running.url + "/") as r:
        assert 'href="/console/"' in await r.text()

    # sign out: the session ends on the server too (a copied cookie is worth nothing)
    status, _, r = await browser.post("/console/logout", {"csrf": CSRF.search(html).group(1)})
    assert status == 303 and r.headers["Location"] == "/console/login"
    assert browser.session_token() is None
    assert await browser.home() == (303, "/console/login")
    async with aiohttp.ClientSession() as other:
        async with other.get(
            running.url + "/console/", cookies={SESSION_COOKIE: token}, allow_redirects=False
        ) as r:
            assert r.status == 303
    async with running.services.sm() as s:
        assert (await s.execute(select(ConsoleSession))).first() is None


async def test_wrong_passwords_lock_the_login_and_say_nothing_of_who_exists(running, browser):
    await account(running, "minh")
    status, html = await browser.login("minh", "not-the-password")
    assert status == 401 and WRONG in html and "minh" in html  # the login is kept in the form
    status, html = await browser.login("nobody-here", PASSWORD)
    assert status == 401 and WRONG in html
    for _ in range(3):
        assert WRONG in (await browser.login("minh", "still-not-it"))[1]
    status, html = await browser.login("minh", "fifth-wrong-one")  # the fifth in a row
    assert status == 401 and LOCKED in html and "15 phút" in html
    # locked: even the right password is refused, with the same words
    status, html = await browser.login("minh", PASSWORD)
    assert status == 401 and LOCKED in html and browser.session_token() is None
    # a login that does not exist locks the same way after the same number of tries
    answers = [(await browser.login("nobody-here", f"guess-{n}"))[1] for n in range(4)]
    assert WRONG in answers[-2] and LOCKED in answers[-1]
    # fifteen minutes later the right password works, and the count starts again
    running.clock.advance(minutes=14)
    assert LOCKED in (await browser.login("minh", PASSWORD))[1]
    running.clock.advance(minutes=2)
    assert await browser.login("minh", PASSWORD) == (303, "/console/")
    async with running.services.sm() as s:
        row = (await s.execute(select(Staff).where(Staff.login == "minh"))).scalar_one()
    assert row.failed_logins == 0 and row.locked_until is None


async def test_one_network_address_cannot_try_password_after_password(running, browser):
    await account(running, "ha.giang")
    running.runner.app[CONSOLE].address_attempts = 6
    for n in range(6):  # one password on many logins: each login is far from its own lock
        assert WRONG in (await browser.login(f"user-{n}", "Matkhau-chung-2026"))[1]
    status, html = await browser.login("ha.giang")
    assert status == 429 and "quá nhiều lần đăng nhập từ mạng này" in html
    assert browser.session_token() is None


async def test_deactivation_ends_sessions_and_refuses_sign_in(running, browser):
    _, leader_key = await account(running, "chu.tich", role="leader")
    officer_id, _ = await account(running, "van.thu")
    await browser.login("van.thu")
    assert (await browser.home())[0] == 200
    second = Browser(running)  # the same person on a phone
    try:
        await second.login("van.thu")
        assert (await second.home())[0] == 200
        async with browser.http.post(
            f"{running.url}/api/v1/communes/{CODE}/staff/{officer_id}/deactivate",
            headers={"Authorization": f"Bearer {leader_key}"},
        ) as r:
            assert r.status == 200
        assert await browser.home() == (303, "/console/login")
        assert await second.home() == (303, "/console/login")
    finally:
        await second.close()
    async with running.services.sm() as s:
        assert (
            await s.execute(select(ConsoleSession).where(ConsoleSession.staff_id == officer_id))
        ).first() is None
    status, html = await browser.login("van.thu")
    assert status == 401 and "ngừng hoạt động" in html
    status, html = await browser.login("van.thu", "a-wrong-password")  # reveals nothing
    assert status == 401 and WRONG in html


async def test_sessions_expire_when_idle_and_after_a_week(running, browser):
    await account(running, "thu.quy")
    await browser.login("thu.quy")
    for _ in range(15):  # in use every 11 hours: still signed in for 165 hours
        running.clock.advance(hours=11)
        assert (await browser.home())[0] == 200
    running.clock.advance(hours=11)  # 176 hours: past the week since signing in
    assert await browser.home() == (303, "/console/login")

    await browser.login("thu.quy")
    running.clock.advance(hours=11, minutes=59)
    assert (await browser.home())[0] == 200
    running.clock.advance(hours=12, minutes=1)  # 12 hours without a request
    assert await browser.home() == (303, "/console/login")
    async with running.services.sm() as s:  # the expired rows are gone
        assert (await s.execute(select(ConsoleSession))).first() is None


async def test_every_form_needs_its_csrf_token(running, browser):
    await account(running, "ke.toan")
    # no token, a wrong token, a token without its cookie: refused, nothing happens
    for data in (
        {"login": "ke.toan", "password": PASSWORD},
        {"csrf": "forged", "login": "ke.toan", "password": PASSWORD},
    ):
        status, html, _ = await browser.post("/console/login", data)
        assert status == 403 and "Biểu mẫu đã hết hạn" in html
    token = await browser.csrf("/console/login")
    async with aiohttp.ClientSession() as bare:  # another browser, without the cookie
        async with bare.post(
            running.url + "/console/login",
            data={"csrf": token, "login": "ke.toan", "password": PASSWORD},
            allow_redirects=False,
        ) as r:
            assert r.status == 403
    # the right token from another site's page
    status, _, _ = await browser.post(
        "/console/login",
        {"csrf": token, "login": "ke.toan", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert status == 403 and browser.session_token() is None

    assert await browser.login("ke.toan") == (303, "/console/")
    # signed in, the forms carry the session's own token; the sign-in form's is not enough
    status, html = await browser.home()
    session_csrf = CSRF.search(html).group(1)
    assert session_csrf != token
    for bad in ({}, {"csrf": token}, {"csrf": session_csrf[:-1] + "x"}):
        status, html, _ = await browser.post("/console/logout", bad)
        assert status == 403
    assert (await browser.home())[0] == 200  # still signed in
    status, _, _ = await browser.post(
        "/console/logout", {"csrf": session_csrf}, headers={"Origin": "https://evil.example"}
    )
    assert status == 403 and (await browser.home())[0] == 200
    status, _, _ = await browser.post(
        "/console/logout", {"csrf": session_csrf}, headers={"Origin": running.url}
    )
    assert status == 303 and (await browser.home())[0] == 303


async def test_cookies_are_secure_behind_a_trusted_https_proxy(running, browser):
    await account(running, "an.ninh")
    console = running.runner.app[CONSOLE]
    headers = {"X-Forwarded-Proto": "https"}
    # from an untrusted peer the header means nothing
    async with browser.http.get(running.url + "/console/login", headers=headers) as r:
        assert "Secure" not in r.headers.getone("Set-Cookie")
    webchat = console.settings.webchat.model_copy(
        update={"trusted_proxies": [ipaddress.ip_network("127.0.0.1/32")]}
    )
    console.settings = console.settings.model_copy(update={"webchat": webchat})
    async with aiohttp.ClientSession() as other:
        async with other.get(running.url + "/console/login", headers=headers) as r:
            assert "; Secure" in r.headers.getone("Set-Cookie")


class Cli:
    """`bot staff …` as a process, with standard input."""

    def __init__(self, running, tmp_path: Path) -> None:
        self.config = tmp_path / "config.yml"
        self.config.write_text(
            yaml.safe_dump(running.settings.model_dump(mode="json"), allow_unicode=True),
            encoding="utf-8",
        )

    async def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "--config",
            str(self.config),
            "staff",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin.encode())
        return proc.returncode or 0, out.decode(), err.decode()


LINK = re.compile(r"http://\S+/console/invite/([A-Za-z0-9_-]+)")


async def test_an_invitation_link_sets_the_password_once(running, browser, tmp_path):
    cli = Cli(running, tmp_path)
    code, out, err = await cli(
        "add", "--commune", CODE, "--name", "Lò Văn Páo", "--role", "officer", "--login", "Pao.LV"
    )
    assert code == 0, err
    token = LINK.search(out).group(1)  # type: ignore[union-attr]
    assert "dùng một lần" in out
    async with running.services.sm() as s:  # only the token's hash is kept
        [kept] = (await s.execute(select(StaffInvitation.token_hash))).scalars().all()
    assert kept == hashlib.sha256(token.encode()).hexdigest()
    path = f"/console/invite/{token}"
    status, html, _ = await browser.get(path)
    assert status == 200 and "Lò Văn Páo" in html and "pao.lv" in html
    form = CSRF.search(html).group(1)  # type: ignore[union-attr]

    # refused passwords say why, and the link still works
    for password, again, why in (
        ("ngan-qua", "ngan-qua", "ít nhất 10 ký tự"),
        ("matkhau123", "matkhau123", "quá phổ biến"),
        ("1234567890", "1234567890", "quá phổ biến"),
        ("pao.lv-2026-xa", "pao.lv-2026-xa", "không được chứa tên đăng nhập"),
        (PASSWORD, PASSWORD + "x", "không giống nhau"),
    ):
        status, html, _ = await browser.post(
            path, {"csrf": form, "password": password, "password2": again}
        )
        assert status == 400 and why in html, (password, html)
    assert (await browser.get(path))[0] == 200
    status, _, r = await browser.post(
        path, {"csrf": form, "password": PASSWORD, "password2": PASSWORD}
    )
    assert status == 303 and r.headers["Location"] == "/console/login?done=1"
    status, html, _ = await browser.get("/console/login?done=1")
    assert "Đã đặt mật khẩu" in html
    # once only
    status, html, _ = await browser.get(path)
    assert status == 404 and "không còn hiệu lực" in html
    status, html, _ = await browser.post(
        path, {"csrf": form, "password": "khac-hoan-toan-99", "password2": "khac-hoan-toan-99"}
    )
    assert status == 404
    assert await browser.login("pao.lv") == (303, "/console/")

    # a new link (a forgotten password) voids the older one and expires after 72 hours
    code, out, err = await cli("invite", "pao.lv")
    assert code == 0, err
    older = LINK.search(out).group(1)  # type: ignore[union-attr]
    code, out, err = await cli("invite", "pao.lv")
    newer = LINK.search(out).group(1)  # type: ignore[union-attr]
    assert (await browser.get(f"/console/invite/{older}"))[0] == 404
    running.clock.advance(hours=71, minutes=59)
    assert (await browser.get(f"/console/invite/{newer}"))[0] == 200
    running.clock.advance(minutes=2)
    status, html, _ = await browser.get(f"/console/invite/{newer}")
    assert status == 404 and "không còn hiệu lực" in html
    # an unknown or malformed token is the same 404
    assert (await browser.get("/console/invite/" + "A" * 43))[0] == 404
    assert (await browser.get("/console/invite/short"))[0] == 404


async def test_bot_staff_password_reads_standard_input(running, browser, tmp_path):
    cli = Cli(running, tmp_path)
    code, out, err = await cli(
        "add",
        "--commune",
        CODE,
        "--name",
        "Hoàng Thị Mai",
        "--role",
        "leader",
        "--login",
        "mai.ht",
        "--password-stdin",
        stdin="short\n",
    )
    assert code == 2 and "ít nhất 10 ký tự" in err
    async with running.services.sm() as s:  # nothing was added
        assert (await s.execute(select(Staff).where(Staff.name == "Hoàng Thị Mai"))).first() is None
    code, out, err = await cli(
        "add",
        "--commune",
        CODE,
        "--name",
        "Hoàng Thị Mai",
        "--role",
        "leader",
        "--login",
        "mai.ht",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, err
    assert "/console/invite/" not in out and "password set" in out
    assert await browser.login("mai.ht") == (303, "/console/")

    for weak, why in (
        ("", "Không đọc được mật khẩu"),
        ("abc\n", "ít nhất 10 ký tự"),
        ("qwertyuiop\n", "quá phổ biến"),
        ("aaaaaaaaaaaa\n", "quá phổ biến"),
    ):
        code, _, err = await cli("password", "mai.ht", stdin=weak)
        assert code == 2 and why in err, (weak, err)
    assert (await browser.home())[0] == 200  # nothing changed
    code, _, err = await cli("password", "nobody", stdin=PASSWORD + "\n")
    assert code == 2 and "nobody" in err
    new = "Lung-Phinh-mua-xuan-2027"
    code, out, err = await cli("password", "MAI.HT", stdin=new + "\n")
    assert code == 0, err
    # a new password ends the sessions opened with the old one
    assert await browser.home() == (303, "/console/login")
    assert (await browser.login("mai.ht"))[0] == 401
    assert await browser.login("mai.ht", new) == (303, "/console/")
    # `bot staff deactivate` ends the console sessions too
    async with running.services.sm() as s:
        mai = (await s.execute(select(Staff.id).where(Staff.login == "mai.ht"))).scalar_one()
    assert (await browser.home())[0] == 200
    code, out, err = await cli("deactivate", "--commune", CODE, "--staff-id", str(mai))
    assert code == 0, err
    assert await browser.home() == (303, "/console/login")
    # a login that is taken or malformed is refused
    code, _, err = await cli(
        "add", "--commune", CODE2, "--name", "Người khác", "--role", "officer", "--login", "Mai.HT"
    )
    assert code == 2 and "đã có người dùng" in err
    code, _, err = await cli(
        "add", "--commune", CODE2, "--name", "Người khác", "--role", "officer", "--login", "a b"
    )
    assert code == 2 and "Tên đăng nhập gồm" in err


async def test_names_and_input_are_shown_as_text(running, browser):
    await account(
        running, "xss", name='<script>alert(1)</script> Bà <img src=x onerror="alert(2)">'
    )
    status, html = await browser.login('"><script>alert(3)</script>', "whatever-it-is")
    assert status == 401
    assert "<script>alert(3)" not in html and "&lt;script&gt;alert(3)" in html
    await browser.login("xss")
    status, html = await browser.home()
    assert status == 200
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bà &lt;img src=x onerror=" in html
    assert len(re.findall(r"<script\b", html)) == 1  # the page's own script file only


async def test_operator_sees_the_province_and_tenancy_is_one_rule(running, browser):
    await account(running, "tinh.qt", role="operator", name="Quản trị tỉnh")
    await account(running, "vt2", code=CODE2)
    await browser.login("tinh.qt")
    status, html = await browser.home()
    assert "Quản trị viên cấp tỉnh" in html
    assert "Xã Thử Nghiệm 1" in html and "Xã Thử Nghiệm 2" in html
    assert "Xã Thử Nghiệm 3" not in html  # another province
    operator_token = browser.session_token()
    officer = Browser(running)
    await officer.login("vt2")
    status, html = await officer.home()
    assert "Các xã, phường trong tỉnh" not in html  # an officer sees their commune only
    officer_token = officer.session_token()
    await officer.close()

    sm = running.services.sm
    async with sm() as s:
        villages = {
            code: vid
            for code, vid in (
                await s.execute(
                    select(CommuneRow.code, Village.id)
                    .join(Village, Village.commune_id == CommuneRow.id)
                    .where(Village.name == "Nậm Mòn")
                )
            ).all()
        }
    async with sm() as s, s.begin():
        op = await auth.current(s, operator_token, running.clock())
        of = await auth.current(s, officer_token, running.clock())
        assert op is not None and of is not None
        # the officer of commune 2: their commune's village, nothing of another commune
        assert (await auth.owned(s, of, Village, villages[CODE2])).name == "Nậm Mòn"
        for other in (villages[CODE], villages[CODE3], 987654, "x", "-1", "9" * 19, None):
            with pytest.raises(auth.web.HTTPNotFound):
                await auth.owned(s, of, Village, other)
        # the province's operator: every commune of their province, not another province's
        assert (await auth.owned(s, op, Village, str(villages[CODE]))).commune_id
        assert (await auth.owned(s, op, Village, villages[CODE2])).name == "Nậm Mòn"
        with pytest.raises(auth.web.HTTPNotFound):
            await auth.owned(s, op, Village, villages[CODE3])
        # the same rule as a condition for lists
        seen = (
            (
                await s.execute(
                    select(Village.commune_id).where(auth.in_scope(op, Village.commune_id))
                )
            )
            .scalars()
            .all()
        )
        ids = {c: i for c, i in (await s.execute(select(CommuneRow.code, CommuneRow.id))).all()}
        assert set(seen) == {ids[CODE], ids[CODE2]}


async def test_the_language_can_be_english_and_is_kept(running, browser):
    status, html, r = await browser.get("/console/login?lang=en")
    assert status == 200 and '<html lang="en">' in html
    assert "bot_console_lang=en" in " ".join(r.headers.getall("Set-Cookie"))
    status, html, _ = await browser.get("/console/login")
    assert '<html lang="en">' in html
    status, html, _ = await browser.get("/console/login?lang=vi")
    assert '<html lang="vi">' in html and "Đăng nhập" in html


DEMO = re.compile(r"đăng nhập thử: (\S+), .*\n\s+mật khẩu \(mới mỗi lần chạy\): (\S+)")


async def test_the_run_command_prints_a_demo_login(tmp_path, sim, capsys):
    """`bot serve --demo-login` (scripts/run.sh): a leader login per demo commune, a random
    password printed at start that signs in — and a new one at the next start."""
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/bot.db", sim, communes=2)
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(settings.model_dump(mode="json"), allow_unicode=True), encoding="utf-8"
    )
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--config",
        str(config),
        "serve",
        "--port",
        str(port),
        "--demo-login",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        printed = ""
        while not DEMO.search(printed):
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line, f"the service ended: {printed}"
            printed += line.decode()
        login, password = DEMO.search(printed).groups()  # type: ignore[union-attr]
        assert login == f"demo-{CODE}" and f"demo-{CODE2}" in printed
        assert f"http://127.0.0.1:{port}/console/" in printed
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        running = type("R", (), {"url": url})()
        browser = Browser(running)
        try:
            assert await browser.login(login, password) == (303, "/console/")
            status, html = await browser.home()
            assert "Lãnh đạo xã" in html and "Xã Thử Nghiệm 1" in html
        finally:
            await browser.close()
    finally:
        proc.terminate()
        await proc.wait()
    # the next start: another password, the old one no longer works
    capsys.readouterr()
    await asyncio.to_thread(demo_logins, settings, f"{url}/console/")
    again = DEMO.search(capsys.readouterr().out)
    assert again is not None and again.group(2) != password
    from bot.store.db import create_engine, sessionmaker

    engine = create_engine(settings.database_url)
    try:
        async with sessionmaker(engine)() as s:
            row = (await s.execute(select(Staff).where(Staff.login == login))).scalar_one()
    finally:
        await engine.dispose()
    assert passwords.verify(row.password_hash, again.group(2))
    assert not passwords.verify(row.password_hash, password)


# -- second reading (security): what an outsider would try ----------------------------------
async def test_a_burst_of_guesses_at_once_is_held_to_the_lock_out(running):
    """Guesses sent all at once (many tabs, many machines) each passed the lock check before
    any of them was counted: a burst of twenty had twenty passwords checked, and a right one
    among them signed in. At most ``MAX_FAILURES`` guesses may be checked per lock."""
    await account(running, "thu.quy")
    browsers = [Browser(running) for _ in range(20)]
    try:
        tokens = [await b.csrf("/console/login") for b in browsers]

        async def guess(b: Browser, token: str, password: str) -> tuple[int, str]:
            status, html, _ = await b.post(
                "/console/login", {"csrf": token, "login": "thu.quy", "password": password}
            )
            return status, html

        answers = await asyncio.gather(
            *(
                guess(b, t, PASSWORD if n == len(browsers) - 1 else f"doan-sai-{n:02}")
                for n, (b, t) in enumerate(zip(browsers, tokens))
            )
        )
        assert all(b.session_token() is None for b in browsers), answers
        # every guess told "wrong" was a password checked; the lock stops the rest unchecked
        assert sum(WRONG in html for _, html in answers) < auth.MAX_FAILURES
        assert sum(LOCKED in html for _, html in answers) >= len(browsers) - auth.MAX_FAILURES
    finally:
        for b in browsers:
            await b.close()
    b = Browser(running)
    try:
        status, html = await b.login("thu.quy")
        assert status == 401 and LOCKED in html  # still locked: the burst counted
    finally:
        await b.close()


async def test_a_locked_login_costs_what_an_unknown_one_does(running, browser, monkeypatch):
    """A locked account was answered without checking any password, so its answer came tens
    of milliseconds sooner than a (locked) unknown login's: timing told which logins exist.
    Both now spend one argon2 check per try."""
    await account(running, "ton.giao")
    checks: list[str | None] = []
    real = passwords.verify

    def counted(stored: str | None, password: str) -> bool:
        checks.append(stored)
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify", counted)
    # an unknown login's count lives in a wall-clock window of LOCK: start mid-window so the
    # tries cannot straddle its turn (the run that failed at a quarter hour)
    window = auth.LOCK.total_seconds()
    mid = (time.time() // window + 0.5) * window
    monkeypatch.setattr(running.services.coord, "clock", lambda: mid)
    for login in ("ton.giao", "khong-co-ai"):
        for n in range(auth.MAX_FAILURES):
            await browser.login(login, f"sai-mat-khau-{n}")
        checks.clear()
        status, html = await browser.login(login, PASSWORD)
        assert status == 401 and LOCKED in html
        assert len(checks) == 1, (login, checks)


async def test_console_errors_are_never_framed_nor_run_scripts(running, browser):
    """aiohttp's own 404 and 405 under /console (and the 404 of ``owned``) carry the service's
    strictest policy; the console's pages, its 403 and 429 carry the console's (tested above)."""
    for method, path, expected in (
        ("GET", "/console/khong-co", 404),
        ("GET", "/console/static/khong-co.js", 404),
        ("PUT", "/console/login", 405),
        ("GET", "/console/invite/short", 404),
    ):
        async with browser.http.request(method, running.url + path, allow_redirects=False) as r:
            assert r.status == expected, (method, path)
            policy = r.headers["Content-Security-Policy"]
            assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
            assert "script-src" not in policy and r.headers["X-Content-Type-Options"] == "nosniff"


async def test_an_invitation_posted_from_two_tabs_at_once_sets_one_password(running):
    """Two tabs (or the staff member and someone who saw the link) post the same link at the
    same moment: one sets the password, the other gets the dead link, and the password that
    won is the one that signs in."""
    staff_id, _ = await account(running, "hai.tab", password=None)
    async with running.services.sm() as s, s.begin():
        staff = await s.get(Staff, staff_id)
        assert staff is not None
        token = await auth.invite(s, staff, running.clock())
    tabs = [Browser(running), Browser(running)]
    try:
        path = f"/console/invite/{token}"
        forms = [await tab.csrf(path) for tab in tabs]
        chosen = ["tab-mot-Ha-Giang-1", "tab-hai-Ha-Giang-2"]
        answers = await asyncio.gather(
            *(
                tab.post(path, {"csrf": form, "password": p, "password2": p})
                for tab, form, p in zip(tabs, forms, chosen)
            )
        )
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [303, 404], statuses
        won = chosen[[status for status, _, _ in answers].index(303)]
        lost = chosen[1 - chosen.index(won)]
        status, html = await tabs[0].login("hai.tab", lost)
        assert status == 401 and WRONG in html
        assert await tabs[1].login("hai.tab", won) == (303, "/console/")
    finally:
        for tab in tabs:
            await tab.close()


async def test_the_demo_login_is_for_a_demo_on_this_machine_only(tmp_path, sim, capsys):
    """`--demo-login` gave a leader account with a printed password to every configured
    commune whenever the store was SQLite — also a real deployment on the embedded store that
    listens on the network or has a public address. There it now makes nothing."""
    base = make_settings(f"sqlite+aiosqlite:///{tmp_path}/bot.db", sim, communes=1)
    for service in (
        {"host": "0.0.0.0"},
        {"public_url": "https://bot.xa-bac-ha.gov.vn"},
        {"host": "192.0.2.10"},
    ):
        settings = base.model_copy(update={"service": base.service.model_copy(update=service)})
        capsys.readouterr()
        await asyncio.to_thread(demo_logins, settings, "http://x/console/")
        out, err = capsys.readouterr()
        assert "mật khẩu" not in out and "--demo-login" in err, (service, out)
    from bot.store.db import create_engine, sessionmaker

    engine = create_engine(base.database_url)
    try:
        async with sessionmaker(engine)() as s:
            assert (await s.execute(select(Staff).where(Staff.login.like("demo-%")))).all() == []
    except Exception as exc:  # no tables at all: nothing was made either
        assert "no such table" in str(exc)
    finally:
        await engine.dispose()


async def test_a_vietnamese_password_signs_in_whichever_keyboard_typed_it(running):
    """Vietnamese keyboards send a letter like "ồ" as one character (NFC, phones) or as "o"
    plus two combining marks (NFD, some Windows input settings). A password set on one was
    refused on the other — a staff member locked out of their own account."""
    import unicodedata

    chosen = "Núi Hàm Rồng năm 1987"
    staff_id, _ = await account(running, "ban.phim", password=None)
    async with running.services.sm() as s, s.begin():
        staff = await s.get(Staff, staff_id)
        assert staff is not None
        token = await auth.invite(s, staff, running.clock())
    b = Browser(running)
    try:
        path = f"/console/invite/{token}"
        nfc_typed = unicodedata.normalize("NFC", chosen)
        form = await b.csrf(path)
        status, html, _ = await b.post(
            path, {"csrf": form, "password": nfc_typed, "password2": nfc_typed}
        )
        assert status == 303, html
        nfd_typed = unicodedata.normalize("NFD", chosen)
        assert nfd_typed != nfc_typed
        assert await b.login("ban.phim", nfd_typed) == (303, "/console/")
    finally:
        await b.close()


async def test_the_demo_commune_gets_its_sample_questions_once(tmp_path, sim, capsys):
    """The demo (scripts/run.sh) answers from data/knowledge/<code>.csv from the first start;
    a later start leaves the entries (and staff's edits) as they are."""
    base = make_settings(f"sqlite+aiosqlite:///{tmp_path}/bot.db", sim, communes=1)
    demo = base.communes[0].model_copy(update={"code": "02839"})
    settings = base.model_copy(update={"communes": [demo]})
    await asyncio.to_thread(demo_logins, settings, "http://127.0.0.1:1/console/")
    assert "Xã 02839: 22 câu hỏi mẫu (data/knowledge/02839.csv)" in capsys.readouterr().out
    await asyncio.to_thread(demo_logins, settings, "http://127.0.0.1:1/console/")
    assert "câu hỏi mẫu" not in capsys.readouterr().out
