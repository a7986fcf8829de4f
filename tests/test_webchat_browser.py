"""The web chat page in a real browser: Debian's Chromium driven by Playwright for Python.

What a resident does on a phone: the page replaces an id an older page kept, a question is
typed and the commune's phone number comes back as a link to call, the location and a photo
are sent, a quick reply is tapped, and after a reload the unanswered quick replies are still
there. The page's Content-Security-Policy is live here, so a blocked script, style, image or
websocket shows up as a console error and fails the test. A screenshot is saved for a person
to look at (its path is printed).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import commune_code

PHOTO = Path(__file__).resolve().parent / "data" / "photo.jpg"
SIGNED = re.compile(r"^[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}$")


async def test_the_chat_page_on_a_phone(service, browser, tmp_path):
    url = f"{service.url}/chat/{commune_code(1)}"
    context = await browser.new_context(
        viewport={"width": 390, "height": 760},
        locale="vi-VN",
        permissions=["geolocation"],
        geolocation={"latitude": 22.5352, "longitude": 104.2271},
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        # an id made up by the older page is replaced by one the service signs
        await page.goto(url)
        await page.wait_for_selector(".choices button")
        await page.evaluate(
            "localStorage.setItem('bot-session-' + document.body.dataset.code,"
            " 'f81d4fae7dec11d0a76500a0c91e6bf6')"
        )
        await page.reload()
        await page.wait_for_selector(".choices button")
        kept = await page.evaluate(
            "localStorage.getItem('bot-session-' + document.body.dataset.code)"
        )
        assert SIGNED.match(kept)
        welcome = page.locator(".msg.out").first
        assert "trang hỏi đáp" in await welcome.inner_text()
        assert "Zalo" not in await page.inner_text("body")

        # a typed question; the number in the answer is a link to call
        await page.fill("#t", "số điện thoại của xã <img src=x>")
        await page.press("#t", "Enter")
        call = page.locator('.msg.out a[href="tel:0214000001"]')
        await call.wait_for()
        assert await call.inner_text() == "0214 000 001"
        assert await page.locator(".msg.in").last.inner_text() == "số điện thoại của xã <img src=x>"
        assert await page.locator("#log img").count() == 0  # text stays text

        # the location, only because the resident tapped the button
        await page.click("#where")
        await page.wait_for_selector(".msg.out >> text=đã gửi vị trí")
        # a photo: uploaded, shown as sent, answered
        await page.set_input_files("#photo", str(PHOTO))
        await page.wait_for_selector(".msg.in img")
        await page.wait_for_selector(".msg.out >> text=đã gửi ảnh")
        await page.screenshot(path=str(tmp_path / "conversation.png"))

        # a report: the bot asks for the category with quick replies; tap one
        await page.fill("#t", "tôi muốn phản ánh")
        await page.press("#t", "Enter")
        await page.click(".choices button >> text=Rác thải, môi trường")
        villages = page.locator(".choices button")
        await page.wait_for_selector(".choices button >> text=Nậm Mòn")
        asked = [await b.inner_text() for b in await villages.all()]
        assert asked == ["Nậm Mòn", "Bản Phố", "Nơi khác"]

        # a reload keeps the conversation and the unanswered quick replies
        await page.reload()
        await page.wait_for_selector(".choices button >> text=Nậm Mòn")
        assert [await b.inner_text() for b in await villages.all()] == asked
        assert await page.locator(".msg.in").last.inner_text() == "Rác thải, môi trường"
        assert await page.locator('.msg.out a[href="tel:0214000001"]').count() >= 1
        shot = tmp_path / "webchat.png"
        await page.screenshot(path=str(shot), full_page=True)
        await page.click("#privacy summary")  # the privacy notice, opened
        notice = await page.inner_text("#privacy")
        assert "cho đến khi anh/chị yêu cầu xóa" in notice and "Xóa thông tin của tôi" in notice
        await page.screenshot(path=str(tmp_path / "privacy.png"))
        print(f"screenshots: {shot}, {tmp_path / 'privacy.png'}")
        assert problems == []  # no CSP violation, no script error
    finally:
        await context.close()
