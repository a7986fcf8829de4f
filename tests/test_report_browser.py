"""The yearly report's HTML page (bot/report/writers.py) in Chromium: opened from the file the
command writes, no script error, no sideways scroll on a phone (wide tables scroll in their
own box), every chart drawn (SVG) with its PNG loadable, and printable (A4 landscape PDF).
Screenshots in test-artefacts/console/report-*.png."""

from __future__ import annotations

from bot.cli.common import open_store
from bot.i18n import use_language
from bot.report import figures, period, writers
from tests.browser import ARTEFACTS, no_sideways_scroll, phone, watch
from tests.report_data import NOW, seed, settings


async def test_the_report_page_in_the_browser(browser, tmp_path):
    s = settings(f"sqlite+aiosqlite:///{tmp_path}/bot.db")
    async with open_store(s, sync=True) as store:
        async with store.sm() as session, session.begin():
            await seed(session)
        async with store.sm() as session:
            report = await figures.build(
                session, "province", "15", period.year(2026), NOW,
                s.communes,
            )  # fmt: skip
    with use_language("vi"):
        html = writers.write_html(report)
    page_file = tmp_path / "bao-cao.html"
    page_file.write_text(html, encoding="utf-8")

    ctx = await phone(browser)
    page = await ctx.new_page()
    problems: list[str] = []
    watch(page, problems, failed_loads=True)
    await page.goto(page_file.as_uri())
    await page.wait_for_selector("h1")
    assert (
        await page.title()
        == "Báo cáo công tác thông tin cơ sở — Tỉnh Lào Cai (mã 15, 2 xã, phường)"
    )
    await no_sideways_scroll(page)
    charts = await page.locator("figure svg").count()
    assert charts == 5  # questions, deadlines; notices by category, priority, route
    # every PNG decodes to a real picture
    widths = await page.evaluate(
        """Promise.all([...document.querySelectorAll('figcaption a')].map(a => new Promise(ok => {
            const img = new Image(); img.onload = () => ok(img.naturalWidth);
            img.onerror = () => ok(0); img.src = a.href; })))"""
    )
    assert widths == [960] * 5
    assert "Xã Hồng <Hà>" in await page.locator("#tong-hop").inner_text()
    await page.screenshot(path=str(ARTEFACTS / "report-phone.png"), full_page=True)
    await ctx.close()

    wide = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = await wide.new_page()
    watch(page, problems, failed_loads=True)
    await page.goto(page_file.as_uri())
    await page.screenshot(path=str(ARTEFACTS / "report-desktop.png"), full_page=True)
    await page.emulate_media(media="print")
    await page.screenshot(path=str(ARTEFACTS / "report-print.png"), full_page=True)
    pdf = await page.pdf(format="A4", landscape=True)
    assert (
        pdf.startswith(b"%PDF")
        and pdf.count(b"/Type /Page\n")
        + pdf.count(b"/Type /Page\r")
        + pdf.count(b"/Type /Page ")
        + pdf.count(b"/Type/Page")
        >= 1
    )
    (ARTEFACTS / "report.pdf").write_bytes(pdf)
    await wide.close()
    assert problems == []
