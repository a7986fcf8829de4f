"""The dashboard on a 375-px phone in a real browser (Debian's Chromium through Playwright,
tests/browser.py): a leader and the province operator open "Tổng quan" from the navigation;
the inline SVG charts fit the column (no sideways scroll), the CSP blocks nothing, the numbers
open under each chart, the window and commune pickers work without a script. Screenshots:
test-artefacts/console/dashboard-*.png."""

from __future__ import annotations

from tests.browser import WIDTH, go_to, no_sideways_scroll, phone, screenshot, sign_in, watch
from tests.test_console import CODE2, PASSWORD, account, running  # noqa: F401
from tests.test_console_dashboard import seeded


async def test_the_dashboard_on_a_phone(running, browser):  # noqa: F811
    await seeded(running)
    await account(running, "hung.ld", role="leader", name="Lò Văn Hùng — Chủ tịch UBND xã")
    await account(running, "tinh.qt", role="operator", name="Quản trị tỉnh")
    problems: list[str] = []
    context = await phone(browser)
    try:
        page = await context.new_page()
        watch(page, problems, failed_loads=True)
        await sign_in(page, running.url, "hung.ld", PASSWORD)
        await go_to(page, "Tổng quan")
        await page.wait_for_selector("#messages svg")
        await page.click("text=7 ngày")
        await page.wait_for_selector('a[aria-current="page"] >> text=7 ngày')
        await no_sideways_scroll(page)
        for chart in await page.locator("svg.chart").all():
            box = await chart.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH
        # the numbers under the chart, and the resident's words as text
        await page.click("#messages summary")
        assert "19/11/2026" in await page.inner_text("#messages table")
        await page.click("#questions summary")
        assert "<script>alert(1)</script> hỏi gì đó" in await page.inner_text("#questions table")
        await no_sideways_scroll(page)
        await screenshot(page, "dashboard-commune-375.png")

        await page.context.clear_cookies()
        await sign_in(page, running.url, "tinh.qt", PASSWORD)
        await page.goto(f"{running.url}/console/dashboard?days=7")
        await page.wait_for_selector("#communes table")
        await no_sideways_scroll(page)
        wrap = await page.evaluate(
            "[...document.querySelectorAll('.table-wrap')].map(e => e.scrollWidth - e.clientWidth)"
        )
        assert max(wrap) <= 0, "a table scrolls sideways inside its box"
        await screenshot(page, "dashboard-province-375.png")
        await page.select_option("#commune", CODE2)
        await page.click("form.pick button")
        await page.wait_for_selector(f'option[value="{CODE2}"][selected]', state="attached")
        assert await page.locator("#communes").count() == 0
        await no_sideways_scroll(page)
    finally:
        await context.close()
    assert problems == []
