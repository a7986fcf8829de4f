"""The console's "Kết nối Zalo" page and "Đăng nhập bằng Zalo" (issue 13), through the real HTTP
service and the Zalo simulator: staff use cookie jars like a browser's and the page's forms
(CSRF); Zalo's consent pages are the simulator's (the OA's, and the social login's account
picker), and their redirects back are followed to the service as a browser would.

- the page in each state: not connected (a resident's reply held), connect → consent →
  callback → back on the page, connected with the expiry and the held reply sent; a refresh
  failing; a dead refresh token → needs re-consent with what to do; never a token on the page;
- tenancy and roles: another commune's page and button are 404s, officers and propagandists
  neither see nor open it, the province operator sees each commune of the province;
- Zalo sign-in: link once, then sign in; the state bound to the browser, single-use and
  short-lived; an unknown Zalo account, a deactivated or locked-out one refused; nothing offered
  when no login app is configured. SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from html import unescape as html_unescape
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from sqlalchemy import func, select, update
from yarl import URL

from bot.channels.zalo.errors import TokenUnavailable, ZaloError
from bot.console import auth
from bot.staff import add_staff, deactivate
from bot.store.models import OutboundMessage, Staff, ZaloLoginState, ZaloToken
from bot.timeutil import utcnow
from tests.helpers import APP_ID, CODE, CODE2, OA, OA2, make_settings, start_service, wait_until

PASSWORD = "Suoi-Nam-Mon-chay-qua"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
GO_LINK = re.compile(r'<a id="zalo-go"[^>]* href="([^"]+)"')
REFRESH = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')
LOGIN_APP, LOGIN_SECRET = "4417001122334455667", "sim-login-secret"
PROVINCE = "15"


class Browser:
    """One browser: its own cookies, forms sent as a browser sends them."""

    def __init__(self, url: str) -> None:
        self.base = url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def get(self, path: str) -> tuple[int, str, str]:
        url = path if path.startswith("http") else self.base + path
        async with self.http.get(url, allow_redirects=False) as r:
            return r.status, await r.text(), r.headers.get("Location", "")

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        url = path if path.startswith("http") else self.base + path
        async with self.http.post(url, data=data, allow_redirects=False) as r:
            return r.status, await r.text(), r.headers.get("Location", "")

    async def go(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        """POST a form that goes to Zalo: its answer is the "Đang chuyển đến Zalo…" page (200),
        whose refresh and plain link both lead to Zalo (bot/console/zalo_go.py); returns the
        answer and that address."""
        status, html, where = await self.post(path, data)
        if status != 200 or "Đang chuyển đến Zalo" not in html:
            return status, html, where
        link = html_unescape(GO_LINK.search(html).group(1))  # type: ignore[union-attr]
        refresh = html_unescape(REFRESH.search(html).group(1))  # type: ignore[union-attr]
        assert refresh == link
        return status, html, link

    async def csrf(self, path: str) -> str:
        status, html, _ = await self.get(path)
        assert status == 200, html
        return CSRF.search(html).group(1)  # type: ignore[union-attr]

    async def login(self, login: str) -> None:
        token = await self.csrf("/console/login")
        status, html, where = await self.post(
            "/console/login", {"csrf": token, "login": login, "password": PASSWORD}
        )
        assert (status, where) == (303, "/console/"), html

    def back_to_service(self, location: str) -> str:
        """Zalo redirects to the configured public address; the test's service listens
        elsewhere: the same path and query, on the service."""
        callback = URL(location)
        return str(URL(self.base).with_path(callback.path).with_query(callback.query))


async def person(running, login: str, role: str, code: str = CODE, **kw) -> int:
    async with running.services.sm() as s, s.begin():
        staff, _ = await add_staff(
            s, code, f"Cán bộ {login}", role, kw.get("village"), None, kw.get("office")
        )
        await auth.set_login(s, staff, login)
        await auth.set_password(s, staff, PASSWORD)
        return staff.id


@pytest.fixture
async def office(store_url, sim):
    """Two communes of one province; the first's OA is known to Zalo but was never connected
    (no tokens); a login app configured for "Đăng nhập bằng Zalo"."""
    sim.add_oa(OA, APP_ID, "oa-secret-1")
    sim.add_app(LOGIN_APP, LOGIN_SECRET)
    settings = make_settings(
        store_url,
        sim,
        commune_extra={"province_code": PROVINCE},
        login={"app_id": LOGIN_APP, "app_secret": LOGIN_SECRET},
    )
    running = await start_service(settings, sim)
    browsers: list[Browser] = []

    def browser() -> Browser:
        browsers.append(Browser(running.url))
        return browsers[-1]

    running.browser = browser  # type: ignore[attr-defined]
    yield running
    for b in browsers:
        await b.http.close()
    await running.runner.cleanup()


async def consent_oa(b: Browser, link: str) -> str:
    """The OA admin consents on Zalo (the simulator's OA permission page redirects at once)."""
    status, _, where = await b.get(link)
    assert status == 302, where
    return b.back_to_service(where)


async def consent_social(b: Browser, link: str, account: str | None) -> str:
    """On Zalo's consent page the person picks their account (or refuses: ``None``)."""
    status, page, _ = await b.get(link)
    assert status == 200 and "Zalo" in page
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    form.update({"account": account} if account else {"deny": "1"})
    status, _, where = await b.post(str(URL(link).with_path("/v4/permission").with_query({})), form)
    assert status == 302, where
    return b.back_to_service(where)


async def zalo_round_trip(
    running, b: Browser, start: str, page: str, account: str | None
) -> tuple[int, str, str, str]:
    """Start from ``page``'s form (POST ``start``), consent as ``account``, come back; returns
    the callback's answer and the callback URL (to try it again)."""
    status, html, link = await b.go(start, {"csrf": await b.csrf(page)})
    assert status == 200 and link.startswith(f"{running.sim.base_url}/v4/permission?"), html
    callback = await consent_social(b, link, account)
    status, html, where = await b.get(callback)
    return status, html, where, callback


def nav(html: str) -> str:
    found = re.search(r'<nav class="nav".*?</nav>', html, re.S)
    return found.group(0) if found else ""


async def held(running) -> int:
    async with running.services.sm() as s:
        return (
            await s.scalar(
                select(func.count())
                .select_from(OutboundMessage)
                .where(
                    OutboundMessage.error_code == "no_token", OutboundMessage.status == "pending"
                )
            )
        ) or 0


# -- "Kết nối Zalo" --------------------------------------------------------------------------
async def test_connect_the_commune_oa_from_the_console(office):
    running, sim = office, office.sim
    await person(running, "chu.tich", "leader")
    leader = running.browser()
    await leader.login("chu.tich")
    status, home, _ = await leader.get("/console/")
    assert 'href="/console/zalo"' in nav(home) and "Kết nối Zalo" in nav(home)
    status, _, where = await leader.get("/console/zalo")
    assert (status, where) == (303, f"/console/zalo/{CODE}")  # a leader has one commune

    status, html, _ = await leader.get(f"/console/zalo/{CODE}")
    assert status == 200 and 'data-state="not_connected"' in html and "Chưa kết nối" in html
    assert "đăng nhập bằng tài khoản quản trị OA" in html and "Chưa nhận được" in html
    # where to check the webhook: whole once the line-break hints are taken out
    assert f"{running.settings.public_url}/webhooks/zalo" in html.replace("<wbr>", "")
    assert "webhooks/<wbr>zalo<wbr>" in html

    # a resident writes before the OA is connected: the event is there, the reply waits
    await sim.user_sends_text(OA, "7301", "xã làm việc mấy giờ")
    await wait_until(lambda: _held_one(running))
    status, html, _ = await leader.get(f"/console/zalo/{CODE}")
    assert "user_send_text" in html and re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", html)
    assert re.search(r"Tin đang chờ quyền gửi</dt><dd>1<", html)

    # the button: CSRF first, then Zalo's consent, and back on the page with the outcome
    status, html, _ = await leader.post(f"/console/zalo/{CODE}/connect", {"csrf": "wrong"})
    assert status == 403
    token = await leader.csrf(f"/console/zalo/{CODE}")
    status, _, link = await leader.go(f"/console/zalo/{CODE}/connect", {"csrf": token})
    assert status == 200 and link.startswith(f"{sim.base_url}/v4/oa/permission?")
    query = parse_qs(urlsplit(link).query)
    assert query["redirect_uri"] == [f"{running.settings.public_url}/zalo/oauth/callback"]
    callback = await consent_oa(leader, str(URL(link).update_query(oa_id=OA)))
    status, _, where = await leader.get(callback)
    assert (status, where) == (303, f"/console/zalo/{CODE}?zalo=connected")
    status, html, _ = await leader.get(where)
    assert "Đã kết nối Zalo thành công" in html and 'data-state="connected"' in html
    async with running.services.sm() as s:
        row = await s.get(ZaloToken, OA)
    expiry = (row.expires_at + timedelta(hours=7)).strftime("%d/%m/%Y %H:%M")
    assert expiry in html  # Vietnamese time, dd/mm/yyyy
    for secret in (*sim.state.access_tokens, *sim.state.refresh_tokens):
        assert secret not in html  # never a token on the page
    # the reply held for want of a token went out once connected
    sent = await sim.wait_for_messages(1, oa_id=OA, user_id="7301")
    assert sent and await held(running) == 0

    # the same callback again: spent — back on the page with what to do
    status, _, where = await leader.get(callback)
    assert (status, where) == (303, f"/console/zalo/{CODE}?zalo=expired")
    assert "Kết nối lại" in (await leader.get(where))[1]
    # consent given for another OA than the commune's
    token = await leader.csrf(f"/console/zalo/{CODE}")
    _, _, link = await leader.go(f"/console/zalo/{CODE}/connect", {"csrf": token})
    callback = await consent_oa(leader, str(URL(link).update_query(oa_id=OA2)))
    status, _, where = await leader.get(callback)
    assert where == f"/console/zalo/{CODE}?zalo=wrong_oa"
    assert "OA khác" in (await leader.get(where))[1]
    # refused on Zalo's page (no code)
    token = await leader.csrf(f"/console/zalo/{CODE}")
    _, _, link = await leader.go(f"/console/zalo/{CODE}/connect", {"csrf": token})
    state = parse_qs(urlsplit(link).query)["state"][0]
    status, _, where = await leader.get(f"/zalo/oauth/callback?state={state}&error=access_denied")
    assert where == f"/console/zalo/{CODE}?zalo=denied"


async def _held_one(running) -> bool:
    return await held(running) == 1


async def test_refresh_failing_then_dead_needs_reconsent(office):
    running, sim, tokens = office, office.sim, office.services.tokens
    await person(running, "chu.tich2", "leader", code=CODE2)
    leader = running.browser()
    await leader.login("chu.tich2")
    page = f"/console/zalo/{CODE2}"
    assert 'data-state="connected"' in (await leader.get(page))[1]

    # Zalo does not answer the refresh: the token is kept, retried; the page says so
    current = await tokens.access_token(OA2)
    sim.inject_http_status("/v4/oa/access_token", 500)
    with pytest.raises(ZaloError):
        await tokens.refresh(OA2, stale_token=current)
    status, html, _ = await leader.get(page)
    assert 'data-state="failing"' in html and "đang tự thử lại" in html

    # the refresh token is dead (spent elsewhere, revoked): only a new consent fixes it
    for refresh in sim.state.refresh_tokens.values():
        refresh.used = True
    tokens._trouble.clear()  # the backoff's wait is over
    with pytest.raises(TokenUnavailable):
        await tokens.refresh(OA2, stale_token=current)
    status, html, _ = await leader.get(page)
    assert 'data-state="reconsent"' in html and "Cần kết nối lại" in html
    assert "Mở lại liên kết và đăng nhập bằng tài khoản quản trị OA" in html
    assert ">Kết nối lại<" in html
    # reconnecting fixes it
    token = await leader.csrf(page)
    _, _, link = await leader.go(f"{page}/connect", {"csrf": token})
    status, _, where = await leader.get(
        await consent_oa(leader, str(URL(link).update_query(oa_id=OA2)))
    )
    assert where == f"{page}?zalo=connected"
    assert 'data-state="connected"' in (await leader.get(page))[1]

    # the OA removes the app's permission on Zalo: the page tells it apart
    await sim.revoke_permission(OA2)
    await wait_until(lambda: _broken(running, OA2))
    status, html, _ = await leader.get(page)
    assert 'data-state="reconsent"' in html and "đã gỡ quyền" in html


async def _broken(running, oa: str) -> bool:
    async with running.services.sm() as s:
        row = await s.get(ZaloToken, oa)
        return bool(row and row.broken_reason)


async def test_another_commune_and_other_roles_get_404(office):
    running = office
    await person(running, "chu.tich", "leader")
    await person(running, "lan.vp", "officer", office="vanphong")
    await person(running, "ttv.nammon", "propagandist", village="Nậm Mòn")
    await person(running, "tinh.qt", "operator")

    assert (await running.browser().get(f"/console/zalo/{CODE}"))[2] == "/console/login"
    leader = running.browser()
    await leader.login("chu.tich")
    token = await leader.csrf(f"/console/zalo/{CODE}")
    for path in (f"/console/zalo/{CODE2}", "/console/zalo/99999"):
        assert (await leader.get(path))[0] == 404
        status, _, where = await leader.post(f"{path}/connect", {"csrf": token})
        assert status == 404 and "permission" not in where
    for login in ("lan.vp", "ttv.nammon"):
        b = running.browser()
        await b.login(login)
        status, home, _ = await b.get("/console/")
        assert "/console/zalo" not in nav(home)
        assert (await b.get("/console/zalo"))[0] == 404
        assert (await b.get(f"/console/zalo/{CODE}"))[0] == 404
        csrf = CSRF.search(home).group(1)  # type: ignore[union-attr]
        assert (await b.post(f"/console/zalo/{CODE}/connect", {"csrf": csrf}))[0] == 404

    operator = running.browser()
    await operator.login("tinh.qt")
    status, html, _ = await operator.get("/console/zalo")
    assert status == 200
    assert f'href="/console/zalo/{CODE}"' in html and f'href="/console/zalo/{CODE2}"' in html
    assert "Chưa kết nối" in html and "Đã kết nối" in html
    for code in (CODE, CODE2):
        assert (await operator.get(f"/console/zalo/{code}"))[0] == 200


# -- "Đăng nhập bằng Zalo" ---------------------------------------------------------------------
async def test_link_once_then_sign_in_with_zalo(office):
    running, sim = office, office.sim
    lan = sim.add_social_user("lan", "Nguyễn Thị Lan")
    staff_id = await person(running, "lan.vp", "officer", office="vanphong")

    signed_out = running.browser()
    status, page, _ = await signed_out.get("/console/login")
    assert "Đăng nhập bằng Zalo" in page and 'action="/console/login/zalo"' in page
    # before linking, the person's Zalo account is nobody's
    status, html, _, _ = await zalo_round_trip(
        running, signed_out, "/console/login/zalo", "/console/login", "lan"
    )
    assert status == 401 and "chưa được liên kết" in html and "Liên kết Zalo" in html
    assert "bot_console" not in {c.key for c in signed_out.http.cookie_jar}

    officer = running.browser()
    await officer.login("lan.vp")
    assert 'href="/console/profile/zalo"' in (await officer.get("/console/"))[1]
    status, html, _ = await officer.post("/console/profile/zalo", {"csrf": "wrong"})
    assert status == 403
    status, html, link = await officer.go(
        "/console/profile/zalo", {"csrf": await officer.csrf("/console/profile/zalo")}
    )
    assert status == 200 and "Mở trang Zalo" in html
    query = parse_qs(urlsplit(link).query)
    assert link.startswith(f"{sim.base_url}/v4/permission?")  # social login: no /oa/
    assert query["app_id"] == [LOGIN_APP]
    assert query["redirect_uri"] == [f"{running.settings.public_url}/console/login/zalo/callback"]
    assert len(query["code_challenge"][0]) == 43 and "code_challenge_method" not in query
    status, _, where = await officer.get(await consent_social(officer, link, "lan"))
    assert (status, where) == (303, "/console/profile/zalo?zalo=linked")
    assert "Đã liên kết tài khoản Zalo" in (await officer.get(where))[1]
    async with running.services.sm() as s:
        linked = await s.scalar(select(Staff.zalo_login_id).where(Staff.id == staff_id))
    assert linked == lan.id_for(LOGIN_APP)  # the app-scoped id, not an OA follower id

    # now "Đăng nhập bằng Zalo" signs her in, with a session like a password's
    phone = running.browser()
    status, _, where, callback = await zalo_round_trip(
        running, phone, "/console/login/zalo", "/console/login", "lan"
    )
    assert (status, where) == (303, "/console/")
    status, home, _ = await phone.get("/console/")
    assert status == 200 and "Cán bộ lan.vp" in home and "Đăng xuất" in home
    # the same callback again: single use
    status, html, _ = await phone.get(callback)
    assert status == 400 and "hết hạn, đã được dùng" in html

    # another staff member cannot link the same Zalo account
    await person(running, "hoa.vp", "officer", office="vanphong")
    other = running.browser()
    await other.login("hoa.vp")
    status, _, where, _ = await zalo_round_trip(
        running, other, "/console/profile/zalo", "/console/profile/zalo", "lan"
    )
    assert where == "/console/profile/zalo?zalo=taken"
    assert "đã được liên kết với một cán bộ khác" in (await other.get(where))[1]

    # unlinking: Zalo no longer signs her in
    token = await officer.csrf("/console/profile/zalo")
    status, _, where = await officer.post("/console/profile/zalo/unlink", {"csrf": token})
    assert where == "/console/profile/zalo?zalo=unlinked"
    status, html, _, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", "lan"
    )
    assert status == 401


async def test_state_bound_to_the_browser_short_lived_and_refusals(office):
    running, sim = office, office.sim
    lan = sim.add_social_user("lan", "Nguyễn Thị Lan")
    sim.add_social_user("la", "Người Lạ")
    staff_id = await person(running, "lan.vp", "officer", office="vanphong")
    officer = running.browser()
    await officer.login("lan.vp")
    status, _, where, _ = await zalo_round_trip(
        running, officer, "/console/profile/zalo", "/console/profile/zalo", "lan"
    )
    assert where.endswith("zalo=linked")
    before = await _staff_count(running)

    # a callback delivered to another browser (no cookie, or another round trip's) is refused,
    # and spent: the browser that started it cannot use it either
    starter, thief = running.browser(), running.browser()
    status, _, link = await starter.go(
        "/console/login/zalo", {"csrf": await starter.csrf("/console/login")}
    )
    callback = await consent_social(starter, link, "lan")
    await thief.post("/console/login/zalo", {"csrf": await thief.csrf("/console/login")})
    status, html, _ = await thief.get(callback)
    assert status == 400 and "không bắt đầu từ trình duyệt này" in html
    assert (await starter.get(callback))[0] == 400
    # a state that is not ours at all
    status, html, _ = await starter.get("/console/login/zalo/callback?code=x&state=forged")
    assert status == 400

    # too old: more than ten minutes between the start and Zalo's answer
    late = running.browser()
    _, _, link = await late.go("/console/login/zalo", {"csrf": await late.csrf("/console/login")})
    callback = await consent_social(late, link, "lan")
    async with running.services.sm() as s, s.begin():
        await s.execute(
            update(ZaloLoginState)
            .where(ZaloLoginState.used_at.is_(None))
            .values(created_at=utcnow() - timedelta(minutes=11))
        )
    assert (await late.get(callback))[0] == 400

    # refused on Zalo's page
    status, html, _, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", None
    )
    assert status == 400 and "chưa đồng ý" in html

    # an unknown Zalo account: told so, never given an account
    status, html, _, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", "la"
    )
    assert status == 401 and "chưa được liên kết" in html
    assert await _staff_count(running) == before

    # locked out by wrong passwords: Zalo does not get round the lock
    async with running.services.sm() as s, s.begin():
        await s.execute(
            update(Staff)
            .where(Staff.id == staff_id)
            .values(locked_until=utcnow() + timedelta(minutes=10))
        )
    status, html, _, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", "lan"
    )
    assert status == 403 and "Đăng nhập sai quá nhiều lần" in html
    # deactivated: the link is cut with the sessions (a second credential), so Zalo no longer
    # knows the account; were it still linked (a race), the sign-in is refused as deactivated
    async with running.services.sm() as s, s.begin():
        staff = await s.get(Staff, staff_id)
        staff.locked_until = None
        await deactivate(s, staff)
        assert staff.zalo_login_id is None and staff.zalo_linked_at is None
    status, html, _, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", "lan"
    )
    assert status == 401 and "chưa được liên kết" in html
    assert (await officer.get("/console/"))[2] == "/console/login"
    async with running.services.sm() as s, s.begin():
        await s.execute(
            update(Staff).where(Staff.id == staff_id).values(zalo_login_id=lan.id_for(LOGIN_APP))
        )
    status, html, _, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", "lan"
    )
    assert status == 403 and "ngừng hoạt động" in html


async def _staff_count(running) -> int:
    async with running.services.sm() as s:
        return (await s.scalar(select(func.count()).select_from(Staff))) or 0


async def test_nothing_offered_without_a_login_app(store_url, sim):
    running = await start_service(make_settings(store_url, sim), sim)
    b = Browser(running.url)
    try:
        await person(running, "lan.vp", "officer", office="vanphong")
        status, page, _ = await b.get("/console/login")
        assert status == 200 and "Đăng nhập bằng Zalo" not in page
        assert "/console/login/zalo" not in page
        token = CSRF.search(page).group(1)  # type: ignore[union-attr]
        assert (await b.post("/console/login/zalo", {"csrf": token}))[0] == 404
        assert (await b.get("/console/login/zalo/callback?code=x&state=y"))[0] == 404
        await b.login("lan.vp")
        status, home, _ = await b.get("/console/")
        assert "/console/profile/zalo" not in home and "Liên kết Zalo" not in home
        assert (await b.get("/console/profile/zalo"))[0] == 404
    finally:
        await b.http.close()
        await running.runner.cleanup()


async def test_simulator_checks_pkce_and_the_secret(sim):
    """The simulator's token endpoint refuses a wrong verifier and a wrong secret, and reads
    the secret from the header or (older integrations) the form; /me takes the token from the
    header or the query."""
    sim.add_app(LOGIN_APP, LOGIN_SECRET)
    person = sim.add_social_user("lan", "Nguyễn Thị Lan")
    state = sim.state
    from zalosim.oauth import pkce_challenge

    async with aiohttp.ClientSession() as http:

        async def token(code: str, verifier: str, **how: str) -> dict:
            form = {"code": code, "app_id": LOGIN_APP, "grant_type": "authorization_code"}
            form["code_verifier"] = verifier
            headers = {"secret_key": how["header"]} if "header" in how else {}
            if "form" in how:
                form["app_secret"] = how["form"]
            async with http.post(
                f"{sim.base_url}/v4/access_token", data=form, headers=headers
            ) as r:
                return await r.json()

        challenge = pkce_challenge("v" * 43)
        code = state.issue_social_code("lan", LOGIN_APP, "http://x/cb", challenge)
        assert (await token(code, "w" * 43, header=LOGIN_SECRET))["error"] == -14020
        code = state.issue_social_code("lan", LOGIN_APP, "http://x/cb", challenge)
        assert (await token(code, "v" * 43, header="nope"))["error"] == -14004
        answer = await token(code, "v" * 43, form=LOGIN_SECRET)
        assert answer["expires_in"] == "3600" and answer["access_token"]
        assert (await token(code, "v" * 43, header=LOGIN_SECRET))["error"] == -14019  # used
        access = answer["access_token"]
        async with http.get(
            f"{sim.base_url}/v2.0/me",
            params={"fields": "id,name"},
            headers={"access_token": access},
        ) as r:
            assert await r.json() == {"id": person.id_for(LOGIN_APP), "name": "Nguyễn Thị Lan"}
        async with http.get(
            f"{sim.base_url}/v2.0/me", params={"fields": "id", "access_token": access}
        ) as r:
            assert await r.json() == {"id": person.id_for(LOGIN_APP)}
        async with http.get(f"{sim.base_url}/v2.0/me", headers={"access_token": "x"}) as r:
            assert (await r.json())["error"] == -216


# -- the review's findings (wp-revzalo), each now a guarantee ------------------------------------
async def _profile(running, staff_id: int) -> Staff:
    async with running.services.sm() as s:
        staff = await s.get(Staff, staff_id)
        assert staff is not None
        return staff


async def test_a_new_password_or_a_leader_cuts_the_zalo_link(office, tmp_path):
    """A Zalo link is a second credential: an intruder who linked their Zalo with a stolen
    session loses it when the password is reset (with the round trips still pending), and a
    leader can cut it with `bot staff unlink-zalo`. The page names the linked account and date."""
    from tests.test_console import Cli

    running, sim = office, office.sim
    sim.add_social_user("intruder", "Kẻ Lạ")
    staff_id = await person(running, "nan.nhan", "leader")
    stolen = running.browser()
    await stolen.login("nan.nhan")
    _, _, where, _ = await zalo_round_trip(
        running, stolen, "/console/profile/zalo", "/console/profile/zalo", "intruder"
    )
    assert where.endswith("zalo=linked")
    status, html, _ = await stolen.get(where)
    staff = await _profile(running, staff_id)
    assert staff.zalo_login_name == "Kẻ Lạ" and staff.zalo_linked_at is not None
    on = (staff.zalo_linked_at + timedelta(hours=7)).strftime("%d/%m/%Y")
    assert re.search(r'id="zalo-linked-name">Kẻ Lạ<', html)
    assert re.search(rf'id="zalo-linked-on">{on} \d\d:\d\d<', html)
    assert "không nhận ra tài khoản Zalo này" in html
    # a round trip left pending by the intruder
    await stolen.go("/console/profile/zalo", {"csrf": await stolen.csrf("/console/profile/zalo")})

    async with running.services.sm() as s, s.begin():
        staff = await s.get(Staff, staff_id)
        await auth.set_password(s, staff, "Mat-khau-moi-that-dai-1")
    assert (await stolen.get("/console/"))[2] == "/console/login"
    staff = await _profile(running, staff_id)
    assert (staff.zalo_login_id, staff.zalo_login_name, staff.zalo_linked_at) == (None,) * 3
    async with running.services.sm() as s:
        pending = await s.scalar(
            select(func.count())
            .select_from(ZaloLoginState)
            .where(ZaloLoginState.staff_id == staff_id)
        )
    assert pending == 0
    status, html, where, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", "intruder"
    )
    assert status == 401 and where == "" and "chưa được liên kết" in html

    # linked again by the owner; the leader (CLI) removes it
    owner = running.browser()
    token = await owner.csrf("/console/login")
    await owner.post(
        "/console/login",
        {"csrf": token, "login": "nan.nhan", "password": "Mat-khau-moi-that-dai-1"},
    )
    _, _, where, _ = await zalo_round_trip(
        running, owner, "/console/profile/zalo", "/console/profile/zalo", "intruder"
    )
    assert where.endswith("zalo=linked")
    cli = Cli(running, tmp_path)
    code, out, err = await cli("unlink-zalo", "--commune", CODE, "--staff-id", str(staff_id))
    assert code == 0 and "unlinked" in out, err
    assert (await _profile(running, staff_id)).zalo_login_id is None
    code, out, _ = await cli("unlink-zalo", "--commune", CODE, "--staff-id", str(staff_id))
    assert code == 0 and "no Zalo account was linked" in out
    # another commune's staff member by id: refused (tenancy)
    code, _, err = await cli("unlink-zalo", "--commune", CODE2, "--staff-id", str(staff_id))
    assert code == 2 and err


async def test_linking_needs_a_recent_sign_in(office):
    """A session signed in more than 15 minutes ago (left open on a shared computer) does not
    add a Zalo credential without the password again; a wrong password counts as one."""
    running, sim = office, office.sim
    sim.add_social_user("lan", "Nguyễn Thị Lan")
    staff_id = await person(running, "lan.vp", "officer", office="vanphong")
    officer = running.browser()
    await officer.login("lan.vp")
    assert 'name="password"' not in (await officer.get("/console/profile/zalo"))[1]
    from bot.store.models import ConsoleSession

    async with running.services.sm() as s, s.begin():
        await s.execute(
            update(ConsoleSession)
            .where(ConsoleSession.staff_id == staff_id)
            .values(created_at=utcnow() - timedelta(minutes=20))
        )
    status, html, _ = await officer.get("/console/profile/zalo")
    assert status == 200 and 'type="password"' in html and "nhập lại mật khẩu" in html
    token = CSRF.search(html).group(1)  # type: ignore[union-attr]
    for sent in ({}, {"password": "sai-mat-khau-roi"}):
        status, _, where = await officer.go("/console/profile/zalo", {"csrf": token, **sent})
        assert (status, where) == (303, "/console/profile/zalo?zalo=password")
    assert "Mật khẩu chưa đúng" in (await officer.get(where))[1]
    staff = await _profile(running, staff_id)
    assert staff.failed_logins == 2 and staff.zalo_login_id is None
    status, html, link = await officer.go(
        "/console/profile/zalo", {"csrf": token, "password": PASSWORD}
    )
    assert status == 200 and link.startswith(f"{sim.base_url}/v4/permission?")
    status, _, where = await officer.get(await consent_social(officer, link, "lan"))
    assert where == "/console/profile/zalo?zalo=linked"


async def test_session_ended_during_the_link_round_trip_says_expired(office):
    running, sim = office, office.sim
    sim.add_social_user("lan", "Nguyễn Thị Lan")
    await person(running, "lan.vp", "officer", office="vanphong")
    officer = running.browser()
    await officer.login("lan.vp")
    _, _, link = await officer.go(
        "/console/profile/zalo", {"csrf": await officer.csrf("/console/profile/zalo")}
    )
    callback = await consent_social(officer, link, "lan")
    await officer.post("/console/logout", {"csrf": await officer.csrf("/console/profile/zalo")})
    status, html, _ = await officer.get(callback)
    assert status == 400 and "Phiên liên kết đã hết hạn" in html and "đăng nhập lại" in html


async def _oa_link(running, leader: Browser, oa: str) -> str:
    token = await leader.csrf(f"/console/zalo/{CODE}")
    status, _, link = await leader.go(f"/console/zalo/{CODE}/connect", {"csrf": token})
    assert status == 200
    return await consent_oa(leader, str(URL(link).update_query(oa_id=oa)))


async def test_oa_callback_when_zalo_is_down_says_unavailable(office):
    """Zalo down (5xx on the token or on getoa, too slow) is not "Zalo refused the code"."""
    running, sim = office, office.sim
    await person(running, "chu.tich", "leader")
    leader = running.browser()
    await leader.login("chu.tich")
    for path, fault in (
        ("/v4/oa/access_token", ("status", 503)),
        ("/v2.0/oa/getoa", ("status", 502)),
        ("/v4/oa/access_token", ("delay", running.settings.zalo.request_timeout_s + 1)),
    ):
        callback = await _oa_link(running, leader, OA)
        if fault[0] == "status":
            sim.inject_http_status(path, int(fault[1]))
        else:
            sim.inject_delay(path, float(fault[1]))
        status, _, where = await leader.get(callback)
        assert (status, where) == (303, f"/console/zalo/{CODE}?zalo=unavailable"), (path, where)
        html = (await leader.get(where))[1]
        assert "Zalo chưa trả lời. Vui lòng thử lại sau ít phút." in html
    async with running.services.sm() as s:
        assert await s.get(ZaloToken, OA) is None
    # Zalo's answer saying no is still "refused"
    callback = await _oa_link(running, leader, OA)
    sim.inject_error("/v4/oa/access_token", -14000)
    assert (await leader.get(callback))[2] == f"/console/zalo/{CODE}?zalo=refused"


async def test_oa_state_spent_by_a_refusal_and_the_oa_asked_of_zalo(office):
    """A ``wrong_oa`` refusal spends the state (its callback edited cannot be replayed), and
    ``oa_id`` in the query is not believed: Zalo says whose token it is (getoa)."""
    running, sim = office, office.sim
    sim.add_oa(OA2, APP_ID, "oa-secret-2")
    await person(running, "chu.tich", "leader")
    leader = running.browser()
    await leader.login("chu.tich")
    callback = await _oa_link(running, leader, OA2)
    assert (await leader.get(callback))[2].endswith("zalo=wrong_oa")
    state = parse_qs(urlsplit(callback).query)["state"][0]
    from bot.store.models import OAuthState

    async with running.services.sm() as s:
        assert (await s.get(OAuthState, state)).used_at is not None  # type: ignore[union-attr]
    for edited in (
        str(URL(callback).without_query_params("oa_id")),
        str(URL(callback).update_query(oa_id=OA)),
    ):
        assert (await leader.get(edited))[2].endswith("zalo=expired")
    # a fresh link, consent for OA2, the query says OA (or nothing): getoa tells the truth
    for claimed in ({"oa_id": OA}, {}):
        callback = await _oa_link(running, leader, OA2)
        forged = str(URL(callback).without_query_params("oa_id").update_query(claimed))
        assert (await leader.get(forged))[2].endswith("zalo=wrong_oa")
    async with running.services.sm() as s:
        assert await s.get(ZaloToken, OA) is None
    # the commune's own OA still connects
    assert (await leader.get(await _oa_link(running, leader, OA)))[2].endswith("zalo=connected")


async def test_social_zalo_failures_are_told_and_logged_without_secrets(office, caplog):
    running, sim = office, office.sim
    sim.add_social_user("lan", "Nguyễn Thị Lan")
    caplog.set_level(logging.WARNING, logger="bot.console.zalo_login")
    for path, status_or_error, want, told in (
        ("/v4/access_token", 500, 502, "thử lại sau ít phút"),
        ("/v2.0/me", 502, 502, "thử lại sau ít phút"),
        ("/v4/access_token", -14000, 400, "không xác nhận được"),
    ):
        if status_or_error < 0:
            sim.inject_error(path, status_or_error)
        else:
            sim.inject_http_status(path, status_or_error)
        status, html, _, callback = await zalo_round_trip(
            running, running.browser(), "/console/login/zalo", "/console/login", "lan"
        )
        assert status == want and told in html, (path, html[:300])
        code = parse_qs(urlsplit(callback).query)["code"][0]
        assert code not in caplog.text
    sim.inject_delay("/v4/access_token", running.settings.zalo.request_timeout_s + 1)
    status, html, _, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", "lan"
    )
    assert status == 502 and "thử lại sau ít phút" in html
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("unavailable" in m and "HTTP 500" in m for m in warned), warned
    assert any("refused" in m for m in warned), warned
    for token in sim.state.social_tokens:
        assert token not in caplog.text


async def test_two_staff_link_the_same_zalo_account_at_once(office):
    """Both pass the look-up at once; the unique constraint stops one: "taken", not a 500."""
    import asyncio

    running, sim = office, office.sim
    sim.add_social_user("chung", "Tài Khoản Chung")
    ids = [await person(running, login, "officer", office="vanphong") for login in ("mot", "hai")]
    browsers, callbacks = [], []
    for login in ("mot", "hai"):
        b = running.browser()
        await b.login(login)
        _, _, link = await b.go(
            "/console/profile/zalo", {"csrf": await b.csrf("/console/profile/zalo")}
        )
        callbacks.append(await consent_social(b, link, "chung"))
        browsers.append(b)
    for _ in range(3):  # the race is one of timing: try it a few times
        results = await asyncio.gather(
            *(b.get(c) for b, c in zip(browsers, callbacks, strict=True))
        )
        outcomes = sorted(where for _, _, where in results)
        assert all(status == 303 for status, _, _ in results), results
        assert outcomes == ["/console/profile/zalo?zalo=linked", "/console/profile/zalo?zalo=taken"]
        async with running.services.sm() as s, s.begin():
            linked = (
                (await s.execute(select(Staff.id).where(Staff.zalo_login_id.is_not(None))))
                .scalars()
                .all()
            )
            assert len(linked) == 1 and linked[0] in ids
            await s.execute(update(Staff).values(zalo_login_id=None))
        callbacks = []
        for b in browsers:
            _, _, link = await b.go(
                "/console/profile/zalo", {"csrf": await b.csrf("/console/profile/zalo")}
            )
            callbacks.append(await consent_social(b, link, "chung"))


async def test_the_link_is_taken_when_the_constraint_says_so(office, monkeypatch):
    """The look-up passes but the insert meets another's link (what the race does): "taken"."""
    running, sim = office, office.sim
    sim.add_social_user("chung", "Tài Khoản Chung")
    first = await person(running, "mot", "officer", office="vanphong")
    await person(running, "hai", "officer", office="vanphong")
    b = running.browser()
    await b.login("hai")
    _, _, link = await b.go(
        "/console/profile/zalo", {"csrf": await b.csrf("/console/profile/zalo")}
    )
    callback = await consent_social(b, link, "chung")
    account = sim.state.social_users["chung"].id_for(LOGIN_APP)
    from bot.console import zalo_login

    real_select = zalo_login.select

    def blind(*what):  # the look-up sees nobody, as in the race
        query = real_select(*what)
        return query.where(Staff.id == -1) if what == (Staff.id,) else query

    monkeypatch.setattr(zalo_login, "select", blind)
    async with running.services.sm() as s, s.begin():
        await s.execute(update(Staff).where(Staff.id == first).values(zalo_login_id=account))
    status, _, where = await b.get(callback)
    assert (status, where) == (303, "/console/profile/zalo?zalo=taken")


async def test_operator_of_another_province_sees_only_their_communes(office):
    from bot.store.models import Commune

    running = office
    async with running.services.sm() as s, s.begin():
        await s.execute(update(Commune).where(Commune.code == CODE2).values(province_code="16"))
    await person(running, "tinh.qt", "operator")
    op = running.browser()
    await op.login("tinh.qt")
    status, _, where = await op.get("/console/zalo")
    assert (status, where) == (303, f"/console/zalo/{CODE}")
    assert (await op.get(f"/console/zalo/{CODE2}"))[0] == 404
    token = await op.csrf(f"/console/zalo/{CODE}")
    status, _, where = await op.post(f"/console/zalo/{CODE2}/connect", {"csrf": token})
    assert status == 404 and "permission" not in where


async def test_an_answer_in_two_packets_is_read_whole(store_url, sim):
    """``StreamReader.read(n)`` returns what is buffered so far: Zalo's answer in two TCP
    segments must be read to its end (bot/bodies.py), and one past the cap refused."""
    import asyncio

    from aiohttp import web

    from bot.console.zalo_social import MAX_ANSWER, SocialError, ZaloSocial
    from tests.helpers import free_port

    async def me(request):
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        if request.query.get("fields") and request.headers.get("access_token") == "huge":
            await resp.write(b'{"id": "1", "name": "' + b"x" * MAX_ANSWER + b'"}')
        else:
            await resp.write(b'{"id": "123456789", ')
            await asyncio.sleep(0.2)
            await resp.write(b'"name": "Lan"}')
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/v2.0/me", me)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = make_settings(
        store_url,
        sim,
        login={"app_id": "1", "app_secret": "s"},
        graph_base=f"http://127.0.0.1:{port}",
    )
    try:
        async with aiohttp.ClientSession() as http:
            social = ZaloSocial(settings, http)
            who = await social.profile("token")
            assert (who.id, who.name) == ("123456789", "Lan")
            with pytest.raises(SocialError) as refused:
                await social.profile("huge")
            assert refused.value.kind == "unavailable"
    finally:
        await runner.cleanup()
