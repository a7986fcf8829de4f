"""The console in a real browser at a phone's width: Debian's Chromium driven by Playwright
(as tests/test_webchat_browser.py does). A staff member signs in at 375 px, the page never
scrolls sideways, the password's show/hide button (the console's script) works under the
page's Content-Security-Policy — a blocked script or style is a console error and fails the
test — and screenshots are kept under test-artefacts/console/ (git-ignored) for a person to
look at."""

from __future__ import annotations

from bot.console import auth
from bot.staff import add_staff
from tests.browser import ARTEFACTS, WIDTH, no_sideways_scroll, open_menu
from tests.helpers import commune_code

PASSWORD = "Ruong-bac-thang-Ban-Pho"


async def test_signing_in_on_a_phone(service, browser):
    async with service.services.sm() as s, s.begin():
        staff, _ = await add_staff(
            s, commune_code(1), "Nguyễn Thị Phương Thảo — Văn phòng HĐND và UBND", "leader"
        )
        await auth.set_login(s, staff, "thao.nguyen-vanphong")
        await auth.set_password(s, staff, PASSWORD)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(
        viewport={"width": WIDTH, "height": 740}, locale="vi-VN", device_scale_factor=2
    )
    page = await context.new_page()
    problems: list[str] = []
    # a wrong password is answered 401, which Chromium logs as a failed load: not a problem
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        await page.goto(f"{service.url}/")
        await page.click("a[href='/console/']")
        await page.wait_for_selector("form[action='/console/login']")
        await no_sideways_scroll(page)
        # the style sheet is loaded (a file of ours, allowed by the CSP)
        colour = await page.evaluate(
            "getComputedStyle(document.querySelector('header.top')).backgroundColor"
        )
        assert colour == "rgb(11, 92, 173)"

        # a wrong password first: the message, still no sideways scroll
        await page.fill("#login", "thao.nguyen-vanphong")
        await page.fill("#password", "not-my-password")
        await page.click("button[type=submit]")
        await page.wait_for_selector(".error")
        assert "không đúng" in await page.inner_text(".error")
        await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTEFACTS / "login-error.png"), full_page=True)

        # the show/hide button comes from the console's script
        await page.fill("#password", PASSWORD)
        assert await page.get_attribute("#password", "type") == "password"
        await page.click(".reveal-wrap button")
        assert await page.get_attribute("#password", "type") == "text"
        await page.click(".reveal-wrap button")
        await page.click("button[type=submit]")
        await page.wait_for_selector("dl.facts")
        assert page.url.endswith("/console/")
        body = await page.inner_text("main")
        assert "Nguyễn Thị Phương Thảo" in body and "Lãnh đạo xã" in body
        assert "Xã Thử Nghiệm 1" in body
        await no_sideways_scroll(page)
        shot = ARTEFACTS / "home-375.png"
        await page.screenshot(path=str(shot), full_page=True)

        # the page links: one line behind "Menu" at 375 px, a column once opened (no script)
        header = await page.evaluate("document.querySelector('header.top').offsetHeight")
        assert header < 60, f"the header is {header} px tall at 375 px"
        assert not await page.is_visible("a[href='/console/staff']")
        await open_menu(page)
        assert await page.is_visible("a[href='/console/staff']")
        await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTEFACTS / "menu-375.png"), full_page=False)
        # a desk: the links in a row, no "Menu" button
        await page.set_viewport_size({"width": 1280, "height": 740})
        await page.reload()
        assert not await page.is_visible("details.menu > summary")
        assert await page.is_visible("a[href='/console/staff']")
        await page.screenshot(path=str(ARTEFACTS / "menu-1280.png"))
        # every page link in one row (a leader has twelve: the name of the console may stand
        # above them), the header at most two lines
        nav = await page.evaluate("document.querySelector('header.top nav').offsetHeight")
        assert nav < 50, f"the links take {nav} px at 1280 px: more than one row"
        header = await page.evaluate("document.querySelector('header.top').offsetHeight")
        assert header < 100, f"the header is {header} px tall at 1280 px"
        await page.set_viewport_size({"width": WIDTH, "height": 740})
        await page.reload()
        assert problems == []
        await open_menu(page)
        await page.click("text=Đăng xuất")
        await page.wait_for_selector("form[action='/console/login']")
        assert page.url.endswith("/console/login")
        print(f"screenshots: {ARTEFACTS}")
        assert problems == []  # no CSP violation, no script error
    finally:
        await context.close()
