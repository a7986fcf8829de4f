"""The "Tình trạng" pages on a 375-px phone in a real browser (Debian's Chromium through
Playwright, tests/browser.py): the province operator opens them from the navigation, sees the
communes as cards worst first, opens one commune's registry; no sideways scroll, the CSP blocks
nothing. Screenshots: test-artefacts/console/health-*.png."""

from __future__ import annotations

from tests.browser import go_to, no_sideways_scroll, phone, screenshot, sign_in, watch
from tests.health_data import C1, C2
from tests.test_console import PASSWORD, account
from tests.test_console_health import running  # noqa: F401


async def test_the_health_pages_on_a_phone(running, browser):  # noqa: F811
    await account(running, "tinh.qt", role="operator", name="Quản trị viên tỉnh Lào Cai")
    problems: list[str] = []
    context = await phone(browser)
    try:
        page = await context.new_page()
        watch(page, problems, failed_loads=True)
        await sign_in(page, running.url, "tinh.qt", PASSWORD)
        await go_to(page, "Tình trạng")
        await page.wait_for_selector("#communes .health-row")
        codes = await page.eval_on_selector_all(
            "#communes .health-row", "rows => rows.map(r => r.dataset.code)"
        )
        assert codes == [C2, C1]
        assert "OA của xã đã gỡ quyền" in await page.inner_text(f'[data-code="{C2}"]')
        await no_sideways_scroll(page)
        await screenshot(page, "health-province-375.png")
        await page.click(f'[data-code="{C1}"] h2 a')
        await page.wait_for_selector("#registry")
        text = await page.inner_text("#registry")
        assert "Lò Văn Pao" in text and "0912 345 678" in text
        await no_sideways_scroll(page)
        await screenshot(page, "health-commune-375.png")
    finally:
        await context.close()
    assert problems == []
