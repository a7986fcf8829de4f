"""The console's "Báo cáo" page on a 375-px phone in a real browser (Debian's Chromium through
Playwright, tests/browser.py): a leader opens it from the navigation, picks the report year,
views the printable report — its own CSP lets its stylesheet and inline SVG charts through
(styled: the headings' rule is drawn), nothing is blocked, no sideways scroll — and a wrong
date comes back on the form. Screenshots: test-artefacts/console/report-console-*.png."""

from __future__ import annotations

from tests.browser import ARTEFACTS, go_to, no_sideways_scroll, phone, screenshot, sign_in, watch
from tests.report_data import A
from tests.test_console import PASSWORD, account
from tests.test_console_report import reporting  # noqa: F401


async def test_the_report_from_the_console_on_a_phone(reporting, browser):  # noqa: F811
    await account(reporting, "hung.ld", role="leader", code=A, name="Lò Văn Hùng")
    problems: list[str] = []
    context = await phone(browser)
    try:
        page = await context.new_page()
        watch(page, problems, failed_loads=True)
        await sign_in(page, reporting.url, "hung.ld", PASSWORD)
        await go_to(page, "Báo cáo")
        await page.wait_for_selector("form.report-form")
        await no_sideways_scroll(page)
        await screenshot(page, "report-console-form-375.png")

        # a wrong date: said on the form, the typed words kept
        await page.fill("#from", "31/02/2026")
        await page.fill("#to", "14/12/2026")
        await page.click("button[value=html]")
        await page.wait_for_selector("#report-error")
        assert "31/02/2026" in await page.inner_text("#report-error")
        assert await page.input_value("#from") == "31/02/2026"
        await no_sideways_scroll(page)
        await screenshot(page, "report-console-error-375.png")
        assert problems == [  # the form's own 400, and nothing else
            "Failed to load resource: the server responded with a status of 400 (Bad Request)"
        ]
        problems.clear()

        # the report year, viewed
        await page.fill("#from", "")
        await page.fill("#to", "")
        await page.select_option("#period", "year-2026")
        await page.click("button[value=html]")
        await page.wait_for_selector("#tong-hop table")
        assert "từ 15/12/2025 đến 14/12/2026" in await page.inner_text("header")
        assert "Xã Hồng <Hà>" in await page.inner_text("#tong-hop")
        assert await page.locator("figure svg").count() >= 4
        # the stylesheet applied (the CSP let it through): the headings' blue rule
        rule = await page.evaluate(
            "getComputedStyle(document.querySelector('h2')).borderBottomColor"
        )
        assert rule == "rgb(11, 92, 173)"
        for chart in await page.locator("figure svg").all():
            box = await chart.bounding_box()
            assert box is not None and box["width"] > 100
        await no_sideways_scroll(page)
        await screenshot(page, "report-console-year-375.png")
        # printed (the page's own print CSS, let through by its CSP): an A4 landscape sheet
        await page.set_viewport_size({"width": 1123, "height": 794})
        await page.emulate_media(media="print")
        await screenshot(page, "report-console-print.png")
        pdf = await page.pdf(format="A4", landscape=True)
        assert pdf.startswith(b"%PDF")
        (ARTEFACTS / "report-console.pdf").write_bytes(pdf)
    finally:
        await context.close()
    assert problems == []
