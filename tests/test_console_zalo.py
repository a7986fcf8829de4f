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

import re
from datetime import timedelta
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
    status, html, link = await b.post(start, {"csrf": await b.csrf(page)})
    assert status == 303 and link.startswith(f"{running.sim.base_url}/v4/permission?"), html
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
    assert f"{running.settings.public_url}/webhooks/zalo" in html  # where to check the webhook

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
    status, _, link = await leader.post(f"/console/zalo/{CODE}/connect", {"csrf": token})
    assert status == 303 and link.startswith(f"{sim.base_url}/v4/oa/permission?")
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
    _, _, link = await leader.post(f"/console/zalo/{CODE}/connect", {"csrf": token})
    callback = await consent_oa(leader, str(URL(link).update_query(oa_id=OA2)))
    status, _, where = await leader.get(callback)
    assert where == f"/console/zalo/{CODE}?zalo=wrong_oa"
    assert "OA khác" in (await leader.get(where))[1]
    # refused on Zalo's page (no code)
    token = await leader.csrf(f"/console/zalo/{CODE}")
    _, _, link = await leader.post(f"/console/zalo/{CODE}/connect", {"csrf": token})
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
    _, _, link = await leader.post(f"{page}/connect", {"csrf": token})
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
    status, html, link = await officer.post(
        "/console/profile/zalo", {"csrf": await officer.csrf("/console/profile/zalo")}
    )
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
    sim.add_social_user("lan", "Nguyễn Thị Lan")
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
    status, _, link = await starter.post(
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
    _, _, link = await late.post("/console/login/zalo", {"csrf": await late.csrf("/console/login")})
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
    # deactivated: refused, and the session the officer had is gone
    async with running.services.sm() as s, s.begin():
        staff = await s.get(Staff, staff_id)
        staff.locked_until = None
        await deactivate(s, staff)
    status, html, _, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", "lan"
    )
    assert status == 403 and "ngừng hoạt động" in html
    assert (await officer.get("/console/"))[2] == "/console/login"


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
