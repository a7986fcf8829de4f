"""The "Commune facts" screen in a real browser (Debian's Chromium through Playwright) on a
375-px phone: an officer opens "Thông tin xã" from the navigation (no sideways scroll), types a
wrong phone for the health station (its message beside the field, nothing saved), then the
right one; the resident's web chat gets the new number at once. The pages' CSP is live (a
blocked script or style fails the test); screenshots go to test-artefacts/console/."""

from __future__ import annotations

import pytest

from bot import facts_store
from bot.console import auth
from bot.staff import add_staff
from tests.browser import go_to, no_sideways_scroll, phone, screenshot, sign_in, watch
from tests.helpers import Visitor, commune_code, text

PASSWORD = "Thong-tin-xa-2026"


@pytest.fixture(autouse=True)
def fresh_cache():
    facts_store._cache.clear()


async def ask(url: str, words: str, code: str) -> str:
    tab = Visitor(url, code=code)
    try:
        await tab.open()
        return text(await tab.says(words, settle=0.3))
    finally:
        await tab.close()


async def test_an_officer_edits_the_health_station_phone_on_a_phone(service, browser):
    code = commune_code(1)
    async with service.services.sm() as s, s.begin():
        staff, _ = await add_staff(s, code, "Hoàng Thị Mai", "officer")
        await auth.set_login(s, staff, "mai.ht")
        await auth.set_password(s, staff, PASSWORD)
    problems: list[str] = []
    desk = await phone(browser)
    try:
        page = await desk.new_page()
        watch(page, problems)
        await sign_in(page, service.url, "mai.ht", PASSWORD)
        await go_to(page, "Thông tin xã")
        await page.wait_for_selector("#health")
        await no_sideways_scroll(page)
        await screenshot(page, "facts-375.png")
        await page.screenshot(path=str(page_path("facts-top-375.png")))
        await page.locator("#village-0").scroll_into_view_if_needed()
        await page.screenshot(path=str(page_path("facts-village-375.png")))

        health = page.locator("#health")
        await health.locator("input[name=phone]").fill("0912 34")
        await health.locator("button[type=submit]").click()
        await page.wait_for_selector("#health-phone-error")
        assert "Số điện thoại không đúng" in await page.inner_text("#health-phone-error")
        await page.locator("#health").scroll_into_view_if_needed()
        await no_sideways_scroll(page)
        await page.screenshot(path=str(page_path("facts-error-375.png")))
        assert "0912 345 678" not in await ask(service.url, "số điện thoại trạm y tế", code)

        health = page.locator("#health")
        await health.locator("input[name=phone]").fill("0912.345.678")
        await health.locator("button[type=submit]").click()
        await page.wait_for_selector("p.ok")
        assert "Đã lưu" in await page.inner_text("p.ok")
        assert await page.locator("#health input[name=phone]").input_value() == "0912 345 678"
        assert "Sửa lần cuối bởi Hoàng Thị Mai" in await page.inner_text("#health")
        await page.locator("#health").scroll_into_view_if_needed()
        await no_sideways_scroll(page)
        await page.screenshot(path=str(page_path("facts-saved-375.png")))
        assert "0912 345 678" in await ask(service.url, "số điện thoại trạm y tế", code)

        # a village added on the phone's form, then the procedures' section
        added = page.locator("#village-new")
        await added.locator("input[name=village_name]").fill("Khe Lếch")
        await added.locator("select[name=village_kind]").select_option("bản")
        await added.locator("input[name=head_name]").fill("Lò Văn Sáng")
        await added.locator("button[type=submit]").click()
        await page.wait_for_selector("p.ok")
        assert "Bản Khe Lếch" in await page.inner_text("main")
        await page.locator("#village-new").scroll_into_view_if_needed()
        await no_sideways_scroll(page)
        await page.screenshot(path=str(page_path("facts-village-new-375.png")))
        procedures = page.locator("#procedures")
        await procedures.locator("summary").first.click()
        await procedures.scroll_into_view_if_needed()
        await no_sideways_scroll(page)
        await page.screenshot(path=str(page_path("facts-procedures-375.png")))
        assert "Lò Văn Sáng" in await ask(service.url, "trưởng bản Khe Lếch là ai", code)
        assert problems == []
    finally:
        await desk.close()


def page_path(name: str):  # type: ignore[no-untyped-def]
    from tests.browser import ARTEFACTS

    return ARTEFACTS / name
