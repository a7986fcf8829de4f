""" "Đăng nhập bằng Zalo" and "Kết nối Zalo" in a real browser at a phone's width (375 px),
through the Zalo simulator's consent pages: a leader links their Zalo account from the profile
page, signs out, signs in with the Zalo button, and connects the commune's OA from the
"Kết nối Zalo" page — every redirect followed by the browser itself. The forms answer "Đang
chuyển đến Zalo…" (a new navigation, bot/console/zalo_go.py), so the console's CSP keeps
``form-action 'self'`` and Zalo's second hop — a signed-out person sent from the consent page
to a sign-in page on another origin (the simulator's ``social_signin_host``, as
oauth.zaloapp.com → id.zalo.me) — is not blocked. No sideways scroll, no script error or CSP
violation; screenshots in test-artefacts/console/ for a person to look at."""

from __future__ import annotations

from aiohttp import web

from bot.app import SERVICES, create_app
from bot.console import auth
from bot.staff import add_staff
from tests.browser import go_to, no_sideways_scroll, open_menu, phone, screenshot, sign_in, watch
from tests.helpers import APP_ID, CODE, OA, free_port, make_settings

PASSWORD = "Ruong-bac-thang-Ban-Pho"
LOGIN_APP, LOGIN_SECRET = "4417001122334455667", "sim-login-secret"


async def test_zalo_sign_in_and_connect_on_a_phone(store_url, sim, browser):
    # the browser follows Zalo's redirects itself: the service's public address is its own
    port = free_port()
    settings = make_settings(
        store_url, sim, login={"app_id": LOGIN_APP, "app_secret": LOGIN_SECRET}
    )
    settings = settings.model_copy(
        update={
            "service": settings.service.model_copy(
                update={"public_url": f"http://127.0.0.1:{port}"}
            )
        }
    )
    base = settings.public_url
    sim.add_app(LOGIN_APP, LOGIN_SECRET)
    sim.configure(social_signin_host="localhost")  # 127.0.0.1 → localhost: another origin
    sim.add_social_user("thao", "Nguyễn Thị Phương Thảo")
    sim.add_oa(OA, APP_ID, "oa-secret-1", webhook_url=f"{base}/webhooks/zalo")  # not connected
    runner = web.AppRunner(create_app(settings), access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    services = runner.app[SERVICES]
    async with services.sm() as s, s.begin():
        staff, _ = await add_staff(s, CODE, "Nguyễn Thị Phương Thảo", "leader")
        await auth.set_login(s, staff, "thao.nguyen")
        await auth.set_password(s, staff, PASSWORD)
    context = await phone(browser)
    page = await context.new_page()
    problems: list[str] = []
    watch(page, problems)
    try:
        await sign_in(page, base, "thao.nguyen", PASSWORD)
        await page.click("a[href='/console/profile/zalo']")
        await page.wait_for_selector("button.zalo")
        await no_sideways_scroll(page)
        await screenshot(page, "zalo-profile.png")
        async with page.expect_response(
            lambda r: r.url.endswith("/console/profile/zalo") and r.request.method == "POST"
        ) as answer:
            await page.click("button.zalo")
        went = await answer.value
        assert went.status == 200  # "Đang chuyển đến Zalo…", not a redirect held by form-action
        csp = went.headers["content-security-policy"]
        assert "form-action 'self';" in csp and "http" not in csp  # strict, Zalo not listed
        # Zalo's sign-in page on another origin, then its consent page: choose the account
        await page.wait_for_selector("#zalo-signin")
        assert page.url.startswith("http://localhost:")
        await screenshot(page, "zalo-signin-hop.png")
        await page.click("#zalo-signin")
        await page.wait_for_selector("text=Đăng nhập là Nguyễn Thị Phương Thảo")
        await screenshot(page, "zalo-consent.png")
        await page.click("text=Đăng nhập là Nguyễn Thị Phương Thảo")
        await page.wait_for_selector("text=Đã liên kết tài khoản Zalo")
        assert "Nguyễn Thị Phương Thảo" in await page.inner_text("#zalo-linked-name")
        await no_sideways_scroll(page)
        await screenshot(page, "zalo-linked.png")

        await open_menu(page)
        await page.click("text=Đăng xuất")
        await page.wait_for_selector("button.zalo")
        await no_sideways_scroll(page)
        await screenshot(page, "zalo-login.png")
        await page.click("button.zalo")
        await page.click("#zalo-signin")
        await page.click("text=Đăng nhập là Nguyễn Thị Phương Thảo")
        await page.wait_for_selector("form[action='/console/logout']", state="attached")
        assert page.url == f"{base}/console/"
        assert "Nguyễn Thị Phương Thảo" in await page.inner_text("main")

        # the commune's OA: not connected → Zalo (the simulator consents at once) → back
        await go_to(page, "Kết nối Zalo")
        await page.wait_for_selector("[data-state=not_connected]")
        await no_sideways_scroll(page)
        await screenshot(page, "zalo-not-connected.png")
        await page.click(".zalo-conn button[type=submit]")
        await page.wait_for_selector("text=Đã kết nối Zalo thành công")
        assert await page.locator("[data-state=connected]").count() == 1
        await no_sideways_scroll(page)
        await screenshot(page, "zalo-connected.png")
        assert problems == []  # no CSP violation, no script error
    finally:
        await context.close()
        await runner.cleanup()
