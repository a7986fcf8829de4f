"""A new officer, end to end in real browsers on a 375-px phone (Debian's Chromium through
Playwright): a leader opens "Cán bộ", adds an officer, gets the one-time invitation link; in a
second browser context (the officer's phone) the link sets a password and the officer signs in.
No sideways scroll; the CSP is live (a blocked script or style fails the test); the leader then
sees the sign-in in "Nhật ký". Screenshots in test-artefacts/console/."""

from __future__ import annotations

from bot.console import auth
from bot.staff import add_staff
from tests.browser import go_to, no_sideways_scroll, phone, screenshot, sign_in, watch
from tests.helpers import commune_code

LEADER_PASSWORD = "Chu-tich-xa-2026"
OFFICER_PASSWORD = "Van-phong-moi-2026"


async def test_a_leader_adds_an_officer_who_signs_in(service, browser):
    code = commune_code(1)
    async with service.services.sm() as s, s.begin():
        leader, _ = await add_staff(s, code, "Lường Văn Hùng — Chủ tịch UBND xã", "leader")
        await auth.set_login(s, leader, "hung.ct")
        await auth.set_password(s, leader, LEADER_PASSWORD)
    problems: list[str] = []
    desk, pocket = await phone(browser), await phone(browser)
    try:
        page = await desk.new_page()
        watch(page, problems)
        await sign_in(page, service.url, "hung.ct", LEADER_PASSWORD)
        await go_to(page, "Cán bộ")
        await page.wait_for_selector("text=Thêm cán bộ")
        await page.fill("#name", "Nguyễn Thị Thu Trang")
        await page.select_option("#role", "officer")
        await page.fill("#login", "trang.vp")
        await no_sideways_scroll(page)
        await screenshot(page, "staff-375.png")
        await page.click("text=Thêm và tạo liên kết đặt mật khẩu")
        await page.wait_for_selector("#invite-link")
        link = await page.input_value("#invite-link")
        assert "/console/invite/" in link
        await no_sideways_scroll(page)
        await screenshot(page, "staff-invited-375.png")

        officer = await pocket.new_page()
        watch(officer, problems)
        # the link names the configured public address; the test's service listens elsewhere
        await officer.goto(service.url + "/console/" + link.split("/console/", 1)[1])
        await officer.wait_for_selector("text=Nguyễn Thị Thu Trang")
        await officer.fill("#password", OFFICER_PASSWORD)
        await officer.fill("#password2", OFFICER_PASSWORD)
        await officer.click("text=Lưu mật khẩu")
        await officer.wait_for_url("**/console/login?done=1")
        await sign_in(officer, service.url, "trang.vp", OFFICER_PASSWORD)
        assert "Nguyễn Thị Thu Trang" in await officer.inner_text("main")
        nav = await officer.inner_text("nav")
        assert "Cán bộ" not in nav and "Nhật ký" not in nav
        await no_sideways_scroll(officer)

        await page.goto(f"{service.url}/console/staff")
        row = page.locator(".staff-row", has_text="Nguyễn Thị Thu Trang")
        assert "đã đặt mật khẩu" in await row.inner_text()
        await go_to(page, "Nhật ký")
        await page.wait_for_selector(".log-line")
        first = await page.locator(".log-line").first.inner_text()
        assert "Nguyễn Thị Thu Trang" in first and "Đăng nhập" in first
        await no_sideways_scroll(page)
        await screenshot(page, "audit-375.png")
        assert problems == []
    finally:
        await desk.close()
        await pocket.close()
