"""A missed question becomes an answer, in real browsers (Debian's Chromium through Playwright,
as tests/test_console_browser.py): a resident asks the web chat something the bot does not
know; a staff member on a 375-px phone opens "Câu hỏi" (no sideways scroll), writes the answer
under the group; the resident asks again in other words and gets it. The pages' CSP is live (a
blocked script or style fails the test); screenshots go to test-artefacts/console/."""

from __future__ import annotations

import pytest

from bot.console import auth
from bot.staff import add_staff
from tests.browser import ARTEFACTS, WIDTH, go_to, no_sideways_scroll
from tests.helpers import commune_code

PASSWORD = "Cau-hoi-nguoi-dan-2026"
ANSWER = "Xe máy gửi ở sân sau UBND xã, miễn phí. Ô tô đỗ ở bãi chợ."


@pytest.fixture(autouse=True)
def fresh_indexes():
    from bot.knowledge import retrieval

    retrieval._cache.clear()


def watch(page, problems: list[str]) -> None:  # type: ignore[no-untyped-def]
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))


async def resident_asks(page, words: str) -> str:  # type: ignore[no-untyped-def]
    """Type a question on the chat page; the bot's reply that follows it."""
    before = await page.locator(".msg.out").count()
    await page.fill("#t", words)
    await page.press("#t", "Enter")
    await page.locator(".msg.out").nth(before).wait_for(timeout=15000)
    await page.wait_for_timeout(500)  # the rest of the reply (several bubbles)
    replies = await page.locator(".msg.out").all_inner_texts()
    return "\n".join(replies[before:])


async def test_a_missed_question_becomes_an_answer(service, browser):  # noqa: F811
    code = commune_code(1)
    async with service.services.sm() as s, s.begin():
        staff, _ = await add_staff(s, code, "Hoàng Thị Mai — Văn phòng UBND xã", "officer")
        await auth.set_login(s, staff, "mai.ht")
        await auth.set_password(s, staff, PASSWORD)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    chat = await browser.new_context(viewport={"width": 390, "height": 760}, locale="vi-VN")
    desk = await browser.new_context(
        viewport={"width": WIDTH, "height": 740}, locale="vi-VN", device_scale_factor=2
    )
    try:
        resident = await chat.new_page()
        watch(resident, problems)
        await resident.goto(f"{service.url}/chat/{code}")
        await resident.wait_for_selector(".choices button")
        first = await resident_asks(resident, "Bãi đỗ xe máy ở đâu vậy?")
        assert ANSWER not in first

        officer = await desk.new_page()
        watch(officer, problems)
        await officer.goto(f"{service.url}/console/login")
        await officer.fill("#login", "mai.ht")
        await officer.fill("#password", PASSWORD)
        await officer.click("button[type=submit]")
        await officer.wait_for_selector("dl.facts")
        await go_to(officer, "Câu hỏi")
        await officer.wait_for_selector("section.group")
        assert "Bãi đỗ xe máy ở đâu vậy?" in await officer.inner_text("section.group h2")
        await no_sideways_scroll(officer)
        await officer.screenshot(path=str(ARTEFACTS / "questions-375.png"), full_page=True)

        group = officer.locator("section.group").first
        await group.locator("textarea[name=answer]").fill(ANSWER)
        await group.locator("text=Lưu câu trả lời").click()
        await officer.wait_for_selector("p.ok")
        assert "Đã thêm câu trả lời" in await officer.inner_text("p.ok")
        assert await officer.locator("section.group").count() == 0  # handled: gone
        await no_sideways_scroll(officer)
        await officer.screenshot(path=str(ARTEFACTS / "questions-done-375.png"), full_page=True)

        await go_to(officer, "Kiến thức")
        await officer.wait_for_selector("li.entry")
        assert ANSWER in await officer.inner_text("li.entry")
        await no_sideways_scroll(officer)
        await officer.screenshot(path=str(ARTEFACTS / "knowledge-375.png"), full_page=True)
        await officer.click("li.entry a.question")
        await officer.wait_for_selector("textarea#answer")
        await no_sideways_scroll(officer)
        await officer.screenshot(path=str(ARTEFACTS / "knowledge-entry-375.png"), full_page=True)

        again = await resident_asks(resident, "đỗ xe máy ở chỗ nào ạ")
        assert ANSWER in again, again
        await resident.screenshot(path=str(ARTEFACTS / "chat-answered.png"), full_page=True)
        print(f"screenshots: {ARTEFACTS}")
        assert problems == []  # no CSP violation, no script error
    finally:
        await chat.close()
        await desk.close()
