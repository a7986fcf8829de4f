"""The inbox in a real browser at a phone's width: Debian's Chromium driven by Playwright (as
tests/test_console_browser.py does). A resident reports through the web chat — with markup in
their words — an officer signs in at 375 px, the inbox never scrolls sideways, a new report
shows the "new" line without reloading (the page's poll, its timer run forward by Playwright's
clock), the ticket shows the resident's text as text (no dialog, no console error under the
page's CSP), a canned answer fills the reply box (the console's script), and the reply reaches
the resident's web chat. Screenshots under test-artefacts/console/ (git-ignored)."""

from __future__ import annotations

import pytest

from bot.console import auth
from bot.staff import add_staff
from tests.browser import ARTEFACTS, WIDTH, go_to, no_sideways_scroll
from tests.helpers import (
    CODE,
    OFFICES,
    Visitor,
    make_settings,
    start_service,
    text,
    ticket_code,
)

PASSWORD = "Ruong-bac-thang-Nam-Mon"
EVIL = "Rác thải đổ ở đầu bản Nậm Mòn <script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture
async def running(store_url, sim):  # type: ignore[no-untyped-def]
    running = await start_service(make_settings(store_url, sim, commune_extra=OFFICES), sim)
    yield running
    await running.runner.cleanup()


async def report(tab: Visitor, words: str) -> str:
    await tab.says(f"phản ánh {words}")
    await tab.says("bỏ qua")
    return ticket_code(text(await tab.says("không")))


async def test_answering_a_web_chat_report_on_a_phone(running, browser):
    async with running.services.sm() as s, s.begin():
        staff, _ = await add_staff(
            s, CODE, "Lò Thị Mai — Văn phòng", "officer", None, None, "vanphong"
        )
        await auth.set_login(s, staff, "mai.lt")
        await auth.set_password(s, staff, PASSWORD)
    tab, neighbour = Visitor(running.url), Visitor(running.url)
    await tab.open()
    await neighbour.open()
    code = await report(tab, EVIL)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(
        viewport={"width": WIDTH, "height": 740}, locale="vi-VN", device_scale_factor=2
    )
    page = await context.new_page()
    problems: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    async def dialog(d) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(d.message)
        await d.dismiss()

    page.on("dialog", dialog)
    try:
        await page.clock.install()
        await page.goto(f"{running.url}/console/login")
        await page.fill("#login", "mai.lt")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector("dl.facts")
        await go_to(page, "Hộp thư")
        await page.wait_for_selector("#tickets")
        assert await page.inner_text(f"a[href='/console/tickets/{code}'] .code") == code
        await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTEFACTS / "inbox-375.png"), full_page=True)

        # a neighbour reports meanwhile: the inbox says so without reloading
        assert not await page.is_visible("[data-fresh]")
        second = await report(neighbour, "đèn đường hỏng cả tuần ở Bản Phố")
        await page.clock.run_for(16_000)
        await page.wait_for_selector("[data-fresh]", state="visible")
        await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTEFACTS / "inbox-new-375.png"), full_page=True)
        await page.click("[data-fresh] a")
        await page.wait_for_selector(f"a[href='/console/tickets/{second}']")

        # the ticket: the resident's markup is text
        await page.click(f"a[href='/console/tickets/{code}']")
        await page.wait_for_selector("textarea#answer-note")
        said = await page.inner_text("p.said")
        assert "<script>alert(1)</script><img src=x onerror=alert(2)>" in said
        assert await page.locator("main img").count() == 0  # no element made of their words
        await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTEFACTS / "ticket-375.png"), full_page=True)

        # a canned answer fills the box; the officer adds a line and sends
        await page.select_option("#canned", index=1)
        filled = await page.input_value("#answer-note")
        assert filled.startswith("Xã đã nhận được phản ánh của anh/chị")
        reply = filled + "\nCán bộ Mai sẽ xuống Nậm Mòn chiều nay."
        await page.fill("#answer-note", reply)
        await page.click("form[action$='/answer'] button[type=submit]")
        await page.wait_for_selector("p.ok")
        assert "Trả lời người dân" in await page.inner_text("p.ok")
        assert "Cán bộ Mai sẽ xuống Nậm Mòn chiều nay." in await page.inner_text("main")
        await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTEFACTS / "ticket-answered-375.png"), full_page=True)

        # the resident reads it in their web chat
        frames = [await tab.ws.receive_json(timeout=10)]  # type: ignore[union-attr]
        assert code in text(frames) and "Cán bộ Mai sẽ xuống Nậm Mòn chiều nay." in text(frames)
        assert dialogs == [] and problems == []  # no script ran, nothing blocked
        print(f"screenshots: {ARTEFACTS}")
    finally:
        await context.close()
        await tab.close()
        await neighbour.close()
