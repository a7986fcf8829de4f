"""The console's dashboard, "Tổng quan", through HTTP (issue 13): the figures of the seeded data
set (tests/dashboard_data.py, worked out in tests/test_dashboard_figures.py) visible in the
page's tables; who may see it; another commune's dashboard is 404 (the same as a code that does
not exist); a resident's ``<script>`` question is shown as text; the window picker.
SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.store.models import Commune as CommuneRow
from tests.dashboard_data import NOW, seed
from tests.test_console import CODE, CODE2, CODE3, Browser, account, running, signed_in  # noqa: F401


async def seeded(running) -> None:  # noqa: F811
    async with running.services.sm() as s, s.begin():
        ids = {
            code: (
                await s.execute(select(CommuneRow.id).where(CommuneRow.code == code))
            ).scalar_one()
            for code in (CODE, CODE2, CODE3)
        }
        names = dict((await s.execute(select(CommuneRow.code, CommuneRow.name))).all())
        await seed(s, ids[CODE], ids[CODE2], ids[CODE3])
    running.names = names
    running.clock.now = NOW  # Friday 20/11/2026 10:00 in Vietnam


def cells(html: str, section: str) -> list[list[str]]:
    """The rows of the first table in ``<section id=section>``, cells as text."""
    part = html[html.index(f'id="{section}"') :]
    part = part[: part.index("</section>")]
    table = part[part.index("<table") : part.index("</table>")]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        rows.append(
            [
                re.sub(r"<[^>]+>", "", c).strip()
                for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            ]
        )
    return rows


async def test_a_communes_dashboard(running):  # noqa: F811
    await seeded(running)
    officer = await signed_in(running, "lan.vp")
    leader = await signed_in(running, "hung.ld", role="leader")
    propagandist = await signed_in(running, "pao.ttv", role="propagandist", village="Nậm Mòn")
    try:
        status, html, r = await officer.get("/console/dashboard?days=7")
        assert status == 200, html
        assert "Content-Security-Policy" in r.headers and "<svg" in html
        assert 'href="/console/dashboard" aria-current="page"' in html
        assert "Từ 14/11/2026 đến 20/11/2026" in html
        assert running.names[CODE] in html and running.names[CODE2] not in html
        # messages a day: the 18th, the 19th (23:30 and 00:30 on either side of midnight)
        days = {row[0]: row[1:] for row in cells(html, "messages")[1:]}
        assert len(days) == 7
        assert days["14/11/2026"] == ["1", "1", "0"]
        assert days["18/11/2026"] == ["1", "1", "0"]
        assert days["19/11/2026"] == ["4", "2", "2"]
        assert days["20/11/2026"] == ["0", "0", "0"]
        # top questions of this commune only; the resident's <script> is text
        questions = cells(html, "questions")[1:]
        assert questions[0] == ["giờ làm việc của xã", "3", "1"]
        assert ["&lt;script&gt;alert(1)&lt;/script&gt; hỏi gì đó", "1", "1"] in questions
        assert "<script>alert(1)" not in html
        assert "đăng ký khai sinh" not in html  # the neighbour's
        states = dict((n, v) for n, v in cells(html, "tickets"))
        assert states["Mới tiếp nhận"] == "2" and states["Đang xử lý"] == "2"
        assert states["Đã trả lời"] == "2" and states["Đã hoàn thành"] == "1"
        assert dict(cells(html, "deadlines")) == {
            "Đúng hạn": "3",
            "Trễ hạn": "1",
            "Đang quá hạn": "2",
        }
        assert "Tỷ lệ đúng hạn: 50%." in html
        reach = dict(cells(html, "notices"))
        assert reach["Thông báo"] == "1" and reach["Người dự kiến nhận"] == "4"
        assert reach["Đã nhận"] == "2" and reach["Đã xem"] == "1"
        assert reach["Chuyển vào nhóm thôn đã xác nhận"] == "1"
        # the default window is 30 days (13/11's message and the 10th's ticket come in)
        status, html, _ = await officer.get("/console/dashboard")
        assert status == 200 and "Từ 22/10/2026 đến 20/11/2026" in html
        assert 'href="?days=30" aria-current="page"' in html
        assert cells(html, "questions")[1] == ["giờ làm việc của xã", "4", "1"]
        # the own commune by code is fine; another's, or none such: 404, nothing shown
        assert (await leader.get(f"/console/dashboard?commune={CODE}"))[0] == 200
        for code in (CODE2, CODE3, "00000", "<x>"):
            status, html, _ = await leader.get(f"/console/dashboard?commune={code}")
            assert status == 404 and "giờ làm việc" not in html, code
        # the navigation links it for those who may see it; a propagandist may not
        assert 'href="/console/dashboard"' in (await leader.get("/console/"))[1]
        status, html, _ = await propagandist.get("/console/dashboard")
        assert status == 403 and "giờ làm việc" not in html
        assert 'href="/console/dashboard"' not in (await propagandist.get("/console/"))[1]
    finally:
        for b in (officer, leader, propagandist):
            await b.close()
    anonymous = Browser(running)
    try:
        status, _, r = await anonymous.get("/console/dashboard")
        assert status == 303 and r.headers["Location"] == "/console/login"
    finally:
        await anonymous.close()


async def test_the_province_operator(running):  # noqa: F811
    await seeded(running)
    operator = await signed_in(running, "tinh.qt", role="operator", name="Quản trị tỉnh")
    try:
        status, html, _ = await operator.get("/console/dashboard?days=7")
        assert status == 200, html
        assert "Toàn tỉnh" in html
        figures = re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", html)
        assert figures == [
            ("Tin nhắn", "8"),
            ("Đã trả lời", "62%"),
            ("Phản ánh", "8"),
            ("Đúng hạn", "43%"),
            ("Thông báo", "2"),
            ("Người nhận", "2"),  # b's broadcast was out of quota
        ]
        # one row per commune of the province (not the other province's)
        rows = {row[0]: row[1:] for row in cells(html, "communes")[1:]}
        assert rows == {
            running.names[CODE]: ["6", "2", "7", "50%", "1 (2)"],
            running.names[CODE2]: ["2", "1", "1", "0%", "1 (0)"],
        }
        assert f"?days=7&amp;commune={CODE2}" in html
        assert f'<option value="{CODE3}"' not in html and f'<option value="{CODE2}"' in html
        # the province's totals
        days = {row[0]: row[1:] for row in cells(html, "messages")[1:]}
        assert days["19/11/2026"] == ["4", "2", "2"] and days["20/11/2026"] == ["2", "1", "1"]
        assert cells(html, "questions")[1] == ["giờ làm việc của xã", "4", "1"]
        assert "đăng ký khai sinh" in html
        assert dict(cells(html, "deadlines"))["Trễ hạn"] == "2"
        assert "Tỷ lệ đúng hạn: 43%." in html
        # one commune of the province; another province's is 404
        status, html, _ = await operator.get(f"/console/dashboard?days=7&commune={CODE2}")
        assert status == 200 and 'id="communes"' not in html
        assert dict(cells(html, "notices"))["Người dự kiến nhận"] == "1"
        assert f'<option value="{CODE2}" selected' in html
        assert (await operator.get(f"/console/dashboard?commune={CODE3}"))[0] == 404
    finally:
        await operator.close()


@pytest.mark.parametrize("days", ["1", "-7", "abc", "99999999999999999999"])
async def test_an_odd_window_is_the_default(running, days):  # noqa: F811
    await seeded(running)
    officer = await signed_in(running, f"lan{abs(hash(days)) % 1000}.vp")
    try:
        status, html, _ = await officer.get(f"/console/dashboard?days={days}")
        assert status == 200 and "Từ 22/10/2026 đến 20/11/2026" in html
    finally:
        await officer.close()
