"""The console's "Báo cáo" page through HTTP (issue 14, bot/console/report.py): the report of
tests/report_data.py's seeded set (numbers worked out in tests/test_report.py) as an officer's
XLSX (read back with openpyxl) and the province operator's CSV; the printable page with its own
CSP; another commune's report 404, a propagandist 403; a wrong period said on the form with no
file made. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import aiohttp
import pytest
from aiohttp import web

from bot.app import SERVICES, create_app
from bot.cli.common import open_store
from bot.config import settings_from_dict
from bot.console.web import CONSOLE
from tests.helpers import Running
from tests.report_data import NOW, A, B, C, config, seed
from tests.test_console import Browser, Clock, account

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEETS = ["chi-tieu", "tong-hop", "tb-linh-vuc", "tb-muc-do", "tb-hinh-thuc", "chuyen-tiep", "phan-anh"]  # fmt: skip
YEAR = "/console/report?period=year-2026"


@pytest.fixture
async def reporting(store_url, sim):
    """The service over the report's seeded data set (communes A, B of province 15; C of 16),
    the console's clock at ``NOW`` (04/12/2026: the report year 2026)."""
    raw = config(store_url)
    raw["zalo"].update(api_base=sim.base_url, oauth_base=sim.base_url, graph_base=sim.base_url)
    settings = settings_from_dict(raw, env={})
    async with open_store(settings, sync=True) as store, store.sm() as s, s.begin():
        await seed(s)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    running = Running(
        f"http://127.0.0.1:{runner.addresses[0][1]}", settings, app[SERVICES], sim, runner
    )
    running.clock = Clock()  # type: ignore[attr-defined]
    running.clock.now = NOW  # type: ignore[attr-defined]
    app[CONSOLE].clock = running.clock  # type: ignore[attr-defined]
    yield running
    await runner.cleanup()


async def signed_in(running, login: str, **kw) -> Browser:
    await account(running, login, **kw)
    b = Browser(running)
    assert (await b.login(login))[0] == 303
    return b


async def fetch(b: Browser, path: str) -> tuple[int, bytes, aiohttp.ClientResponse]:
    async with b.http.get(b.base + path, allow_redirects=False) as r:
        return r.status, await r.read(), r


async def test_an_officer_gets_the_communes_xlsx(reporting):
    officer = await signed_in(reporting, "lan.vp", code=A)
    try:
        # the form: this report year chosen, the navigation links it, no commune picker
        status, html, r = await officer.get("/console/report")
        assert status == 200, html
        assert 'href="/console/report" aria-current="page"' in html
        assert '<option value="year-2026" selected>Năm báo cáo 2026</option>' in html
        assert "Năm báo cáo 2026: từ 15/12/2025 đến 14/12/2026" in html
        assert 'value="year-2025"' in html and 'value="half-2026-2"' in html
        assert 'id="commune"' not in html and r.headers["Cache-Control"] == "no-store"
        assert "<style" not in html and "style=" not in html  # the console's CSP holds

        status, body, r = await fetch(officer, YEAR + "&format=xlsx")
        assert status == 200
        assert r.headers["Content-Type"] == XLSX
        assert r.headers["Content-Disposition"] == (
            f'attachment; filename="bao-cao-{A}-20251215-20261214.xlsx"'
        )
        assert r.headers["Cache-Control"] == "no-store"
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(body))
        assert book.sheetnames == SHEETS
        rows = [[c.value for c in row] for row in book["tong-hop"].iter_rows()]
        header = next(r for r in rows if r[0] == "Mã xã")
        mine = [dict(zip(header, r, strict=True)) for r in rows if r[0] in (A, B, C)]
        assert [m["Mã xã"] for m in mine] == [A]  # the commune alone, no province row
        assert mine[0]["Thông báo đã gửi"] == 2 and mine[0]["Người quan tâm OA"] == 5
        assert mine[0]["Câu hỏi bỏ lỡ"] == 1 and mine[0]["Câu hỏi được trả lời"] == 2

        # dates as staff write them: the first half, with the commune's own code
        status, body, r = await fetch(
            officer, f"/console/report?commune={A}&from=15/12/2025&to=14/06/2026&format=csv"
        )
        assert status == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert f"bao-cao-{A}-20251215-20260614.csv" in r.headers["Content-Disposition"]
        assert "Kỳ báo cáo: từ 15/12/2025 đến 14/06/2026" in body.decode("utf-8-sig")

        # another commune (of the same province or not), or none such: 404, nothing made
        for code in (B, C, "00000", "<x>"):
            status, body, r = await fetch(officer, f"{YEAR}&commune={code}&format=xlsx")
            assert status == 404 and "Content-Disposition" not in r.headers, code
    finally:
        await officer.close()


async def test_the_printable_page_has_its_own_policy(reporting):
    leader = await signed_in(reporting, "hung.ld", role="leader", code=A)
    try:
        status, html, r = await leader.get(YEAR + "&format=html")
        assert status == 200 and r.headers["Content-Type"].startswith("text/html")
        assert "Content-Disposition" not in r.headers and r.headers["Cache-Control"] == "no-store"
        assert "Xã Hồng &lt;Hà&gt;" in html and "Xã Hồng <Hà>" not in html
        assert "<script" not in html and html.count("<svg") >= 4
        policy = r.headers["Content-Security-Policy"]
        assert "script-src" not in policy and "default-src 'none'" in policy
        assert "style-src 'sha256-" in policy and "unsafe-inline" not in policy
        assert "img-src data:" in policy and "frame-ancestors 'none'" in policy
    finally:
        await leader.close()


async def test_the_operator_gets_the_provinces_csv(reporting):
    operator = await signed_in(reporting, "tinh.qt", role="operator", code=A)
    try:
        status, html, _ = await operator.get("/console/report")
        assert status == 200
        assert f'<option value="{A}"' in html and f'<option value="{B}"' in html
        assert f'<option value="{C}"' not in html  # another province's
        status, body, r = await fetch(operator, YEAR + "&commune=&format=csv")
        assert status == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert r.headers["Content-Disposition"] == (
            'attachment; filename="bao-cao-15-20251215-20261214.csv"'
        )
        lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        start = lines.index(["# Tổng hợp theo xã"])
        header = lines[start + 1]
        rows = {}
        for line in lines[start + 2 :]:
            if not line:
                break
            rows[line[0] or line[1]] = dict(zip(header, line, strict=True))
        assert list(rows) == [A, B, "Toàn tỉnh"]  # one row per commune, then the province's
        assert rows[A]["Thông báo đã gửi"] == "2" and rows[B]["Thông báo đã gửi"] == "1"
        assert rows["Toàn tỉnh"]["Thông báo đã gửi"] == "3"
        assert rows["Toàn tỉnh"]["Người quan tâm OA"] == "7"
        # one commune of the province; another province's is 404
        status, body, r = await fetch(operator, f"{YEAR}&commune={B}&format=xlsx")
        assert status == 200 and f"bao-cao-{B}-" in r.headers["Content-Disposition"]
        assert (await fetch(operator, f"{YEAR}&commune={C}&format=xlsx"))[0] == 404
    finally:
        await operator.close()


@pytest.mark.parametrize(
    "query, words",
    [
        ("from=31/02/2026&to=01/03/2026", "Ngày không hợp lệ: 31/02/2026"),
        ("from=hôm qua&to=01/03/2026", "Ngày không hợp lệ: hôm qua"),
        ("from=<b>x&to=01/03/2026", "Ngày không hợp lệ: &lt;b&gt;x"),  # typed words escaped
        ("from=14/12/2026&to=15/12/2025", "Ngày kết thúc phải sau ngày bắt đầu."),
        ("from=01/01/2025&to=14/12/2026", "Khoảng thời gian dài 713 ngày, quá 400 ngày"),
        ("from=01/01/2026&to=", "Hãy điền cả từ ngày và đến ngày."),
        ("period=year-1999", "Hãy chọn một kỳ báo cáo."),
        ("period=year-2026&format=pdf", "Hãy chọn cách xem báo cáo."),
    ],
)
async def test_a_wrong_period_is_said_on_the_form(reporting, query, words):
    officer = await signed_in(reporting, "lan.vp", code=A)
    try:
        path = f"/console/report?{query}" + ("" if "format=" in query else "&format=xlsx")
        status, html, r = await officer.get(path)
        assert status == 400, html
        assert r.headers["Content-Type"].startswith("text/html")
        assert "Content-Disposition" not in r.headers
        assert 'role="alert"' in html and words in html
        assert 'name="from"' in html  # the form again, with what was typed
    finally:
        await officer.close()


async def test_who_may_not(reporting):
    propagandist = await signed_in(
        reporting, "pao.ttv", role="propagandist", code=A, village="Thôn 1"
    )
    anonymous = Browser(reporting)
    try:
        status, html, r = await propagandist.get(YEAR + "&format=xlsx")
        assert status == 403 and "Content-Disposition" not in r.headers
        assert 'href="/console/report"' not in (await propagandist.get("/console/"))[1]
        status, _, r = await anonymous.get(YEAR + "&format=xlsx")
        assert status == 303 and r.headers["Location"] == "/console/login"
    finally:
        await propagandist.close()
        await anonymous.close()


def test_the_forms_periods():
    from datetime import date

    from bot.report import period

    # from 15/12 on, the report year is the next one (its window has begun)
    assert period.report_year(date(2026, 12, 14)) == 2026
    assert period.report_year(date(2026, 12, 15)) == 2027
    assert period.report_year(date(2027, 1, 1)) == 2027
    assert period.preset("year-2026") == period.year(2026)
    assert period.preset("half-2026-2") == period.half("2026-2")
    for bad in ("year-2026-1", "half-2026", "half-2026-3", "year-26", "week-2026", ""):
        with pytest.raises(period.PeriodError):
            period.preset(bad)
