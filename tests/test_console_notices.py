"""The console's "Thông báo" screens (issue 13) through the real service: HTTP with a cookie jar
like a browser's, the workflow, the dispatcher, the sender and the Zalo simulator.

An officer composes (the no-script preview, a bad field, a PDF), submits; the leader approves;
the resident gets it in Zalo and the page's figures and village table fill in; a propagandist
reads their village's notices only and cannot act; an operator reads the province's. Every
page and action: no CSRF token → 403, another commune's notice → 404, nothing changed; a
headline holding ``<script>`` is shown as text. SQLite and PostgreSQL (the row locks differ)."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from bot.console.notices import crontab, repeat_text
from bot.console.web import CONSOLE
from bot.store.models import Commune as CommuneRow
from bot.store.models import Notice, NoticeAudit, NoticeFile, Staff
from bot.timeutil import to_vn, utcnow
from tests.helpers import (
    commune_code,
    make_settings,
    oa_id,
    quiet_around_now,
    resident,
    start_service,
)
from tests.test_console import CSRF, Browser, Clock, account, signed_in

CODE, CODE2, CODE3 = commune_code(1), commune_code(2), commune_code(3)
OA = oa_id(1)
NASTY = "<script>alert(1)</script> Lịch cắt điện"
PDF = b"%PDF-1.4\n% lich tiem chung\n%%EOF\n"


@pytest.fixture
async def running(store_url, sim):
    settings = make_settings(
        store_url,
        sim,
        communes=3,
        notices=quiet_around_now(False),
        commune_extra={"languages": ["vi", "hnj"]},
    )
    running = await start_service(settings, sim)
    async with running.services.sm() as s, s.begin():  # 1 and 2 in one province, 3 in another
        for code, province in ((CODE, "15"), (CODE2, "15"), (CODE3, "66")):
            await s.execute(
                update(CommuneRow).where(CommuneRow.code == code).values(province_code=province)
            )
    running.clock = Clock()
    running.runner.app[CONSOLE].clock = running.clock
    yield running
    await running.runner.cleanup()


async def notice_row(running, notice_id: int) -> Notice:
    async with running.services.sm() as s:
        return (await s.execute(select(Notice).where(Notice.id == notice_id))).scalar_one()


def draft_form(token: str, **over: str) -> dict[str, str]:
    return {
        "csrf": token,
        "category": "services",
        "priority": "normal",
        "headline": "Lịch cắt điện thôn Nậm Mòn",
        "body": "Thứ Bảy 8h–11h cắt điện để sửa đường dây.",
        **over,
    }


async def audit_actions(running, notice_id: int, action: str) -> int:
    async with running.services.sm() as s:
        return len(
            (
                await s.execute(
                    select(NoticeAudit).where(
                        NoticeAudit.notice_id == notice_id, NoticeAudit.action == action
                    )
                )
            )
            .scalars()
            .all()
        )


def the_25th() -> date:
    """The 25th of a month one to two months ahead: a time the form accepts (not past, within
    a year) on any day the tests run."""
    today = to_vn(utcnow()).date()
    month = today.month % 12 + 1
    year = today.year + (1 if month == 1 else 0)
    return date(year, month, 25)


def ahead(**kw: float) -> str:
    """The datetime-local value of a Vietnamese time ``kw`` from now."""
    return f"{to_vn(utcnow()) + timedelta(**kw):%Y-%m-%dT%H:%M}"


async def wait_page(b: Browser, path: str, marker: str) -> str:
    for _ in range(200):
        status, html, _r = await b.get(path)
        assert status == 200, html
        if marker in html:
            return html
        await asyncio.sleep(0.05)
    raise AssertionError(f"{marker!r} never showed on {path}: {html}")


async def test_compose_approve_send_roles_tenancy_and_escaping(running):
    recent = "9101"
    await resident(running, recent)
    officer = await signed_in(running, "lan.vp")
    leader = await signed_in(running, "hung.ct", role="leader")
    ttv_id, _key = await account(running, "pao.ttv", role="propagandist", village="Nậm Mòn")
    propagandist = Browser(running)
    assert (await propagandist.login("pao.ttv"))[0] == 303
    neighbour = await signed_in(running, "hoa.xa2", code=CODE2, role="leader")
    operator = await signed_in(running, "tinh.qt", role="operator")
    try:
        # the nav and the compose page: villages as checkboxes, a Hmong translation, the preview
        status, html, _ = await officer.get("/console/notices/new")
        assert status == 200, html
        assert 'href="/console/notices"' in html and "Soạn thông báo" in html
        villages = dict(
            (name, vid)
            for vid, name in re.findall(r'name="villages" value="(\d+)"[^>]*> ([^<]+)<', html)
        )
        assert set(villages) == {"Nậm Mòn", "Bản Phố"}
        assert 'name="t_hnj_headline"' in html and "Tiếng H&#39;Mông" in html
        assert 'type="datetime-local"' in html and "THÔNG BÁO: …" in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]

        # "Xem trước" without script: the same form back with the text residents get
        status, html, _ = await officer.post(
            "/console/notices/new",
            {**draft_form(token, headline=NASTY), "preview": "1", "villages": villages["Nậm Mòn"]},
        )
        assert status == 200
        assert "THÔNG BÁO: &lt;script&gt;alert(1)&lt;/script&gt; Lịch cắt điện" in html
        assert "— Xã Thử Nghiệm 1" in html and "<script>alert(1)" not in html
        assert re.search(rf'value="{villages["Nậm Mòn"]}" checked', html)
        # the script's preview: JSON, the translation's own text too
        async with officer.http.post(
            running.url + "/console/notices/preview",
            data={
                **draft_form(token, priority="emergency"),
                "t_hnj_headline": "Txiav hluav taws xob",
                "t_hnj_body": "Hnub Rau.",
            },
        ) as r:
            assert r.status == 200
            previews = (await r.json())["previews"]
        assert previews[0]["text"].startswith("THÔNG BÁO KHẨN: Lịch cắt điện thôn Nậm Mòn")
        assert previews[1]["lang"] == "hnj" and "Txiav hluav taws xob" in previews[1]["text"]
        async with officer.http.post(
            running.url + "/console/notices/preview", data=draft_form("x" * 43)
        ) as r:
            assert r.status == 403

        # bad input: said, nothing saved
        for bad, said in (
            ({"headline": ""}, "Tiêu đề: bắt buộc"),
            ({"category": "nope"}, "Vui lòng chọn lĩnh vực"),
            ({"villages": "999999"}, "Vui lòng chọn thôn trong danh sách."),
            ({"repeat": "weekly"}, "Vui lòng chọn ngày giờ gửi lần đầu"),
            ({"image_url": "javascript:alert(1)"}, "Địa chỉ ảnh phải bắt đầu"),
        ):
            status, html, _ = await officer.post("/console/notices/new", draft_form(token, **bad))
            assert status == 400 and said in html, (bad, html)
        async with running.services.sm() as s:
            assert (await s.execute(select(Notice))).first() is None
        # no token: refused
        assert (await officer.post("/console/notices/new", draft_form("")))[0] == 403

        # the draft, with its PDF and a headline holding a script
        import aiohttp

        form = aiohttp.FormData()
        for k, v in draft_form(token, headline=NASTY).items():
            form.add_field(k, v)
        form.add_field("villages", villages["Nậm Mòn"])
        form.add_field("file", PDF, filename="lich.pdf", content_type="application/pdf")
        async with officer.http.post(
            running.url + "/console/notices/new", data=form, allow_redirects=False
        ) as r:
            assert r.status == 303, await r.text()
            page = r.headers["Location"]
        nid = int(re.search(r"/console/notices/(\d+)\?done=created", page).group(1))  # type: ignore[union-attr]
        status, html, _ = await officer.get(page)
        assert status == 200 and "Đã lưu bản nháp" in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
        assert "lich.pdf" in html and "Bản nháp" in html
        assert 'data-action="submit"' in html and 'data-action="approve"' not in html
        row = await notice_row(running, nid)
        assert row.village_ids == [int(villages["Nậm Mòn"])] and row.created_by is not None

        # another commune's leader: every page and action of this notice is a 404
        ntoken = await neighbour.csrf("/console/notices")
        for path in (f"/console/notices/{nid}", f"/console/notices/{nid}/live"):
            status, html, _ = await neighbour.get(path)
            assert status == 404 and "Lịch cắt điện" not in html
        for action in ("submit", "approve", "return", "cancel", "publish", "nothing"):
            status, html, _ = await neighbour.post(
                f"/console/notices/{nid}/{action}", {"csrf": ntoken}
            )
            assert status == 404, action
        assert (await neighbour.post(f"/console/notices/{nid}/file", {"csrf": ntoken}))[0] == 404
        status, html, _ = await neighbour.get("/console/notices")
        assert status == 200 and "Lịch cắt điện" not in html
        assert (await officer.get("/console/notices/" + "9" * 25))[0] == 404
        assert (await notice_row(running, nid)).status == "draft"

        # a PDF through the page: the file rules
        form = aiohttp.FormData()
        form.add_field("csrf", token)
        form.add_field("file", b"GIF89a", filename="anh.pdf", content_type="application/pdf")
        async with officer.http.post(
            running.url + f"/console/notices/{nid}/file", data=form, allow_redirects=False
        ) as r:
            assert r.status == 400 and "Chỉ nhận tệp PDF" in await r.text()
        form = aiohttp.FormData()
        form.add_field("csrf", token)
        form.add_field("file", PDF + b"2", filename="../lich 2.pdf")
        async with officer.http.post(
            running.url + f"/console/notices/{nid}/file", data=form, allow_redirects=False
        ) as r:
            assert r.status == 303
        async with running.services.sm() as s:
            [stored] = (await s.execute(select(NoticeFile))).scalars().all()
            assert stored.content == PDF + b"2" and "/" not in stored.filename
        # a PDF larger than the service's other bodies (256 KB) but within Zalo's 5 MB: taken;
        # over 5 MB: said, the stored one kept
        for size, expected in ((3 * 1024 * 1024, 303), (6 * 1024 * 1024, 413)):
            form = aiohttp.FormData()
            form.add_field("csrf", token)
            form.add_field("file", PDF + b"0" * size, filename="lon.pdf")
            async with officer.http.post(
                running.url + f"/console/notices/{nid}/file", data=form, allow_redirects=False
            ) as r:
                assert r.status == expected, await r.text()
                if expected == 413:
                    assert "Tệp quá 5 MB" in await r.text()
        async with running.services.sm() as s:
            [stored] = (await s.execute(select(NoticeFile))).scalars().all()
            assert stored.filename == "lon.pdf" and stored.size > 3 * 1024 * 1024

        # the officer submits (no token first: refused, nothing changed)
        path = f"/console/notices/{nid}/submit"
        assert (await officer.post(path, {}))[0] == 403
        assert (await officer.post(path, {"csrf": "y" * 43}))[0] == 403
        assert (await notice_row(running, nid)).status == "draft"
        status, _, r = await officer.post(path, {"csrf": token})
        assert status == 303 and r.headers["Location"].endswith("?done=submit")
        # the officer may not approve
        status, html, _ = await officer.post(f"/console/notices/{nid}/approve", {"csrf": token})
        assert status == 403 and (await notice_row(running, nid)).status == "submitted"
        # nor the operator (reads the province's notices)
        otoken = await operator.csrf("/console/notices")
        status, html, _ = await operator.get(f"/console/notices/{nid}")
        assert status == 200 and 'data-action="' not in html
        assert (await operator.post(f"/console/notices/{nid}/approve", {"csrf": otoken}))[0] == 403

        # the propagandist: their village's notice, read-only
        ptoken = await propagandist.csrf("/console/notices")
        status, html, _ = await propagandist.get("/console/notices")
        assert f'href="/console/notices/{nid}"' in html
        status, html, _ = await propagandist.get(f"/console/notices/{nid}")
        assert status == 200 and 'data-action="' not in html
        assert (await propagandist.get("/console/notices/new"))[0] == 403
        status, _, _ = await propagandist.post(f"/console/notices/{nid}/cancel", {"csrf": ptoken})
        assert status == 403 and (await notice_row(running, nid)).status == "submitted"

        # the leader sees Duyệt / Trả lại, approves; the notice goes out
        ltoken = await leader.csrf("/console/notices?status=submitted")
        status, html, _ = await leader.get("/console/notices?status=submitted")
        assert f'href="/console/notices/{nid}"' in html
        status, html, _ = await leader.get("/console/notices?status=sent")
        assert f'href="/console/notices/{nid}"' not in html
        status, html, _ = await leader.get(f"/console/notices/{nid}")
        assert ">Duyệt</button>" in html and ">Trả lại</button>" in html
        status, _, _ = await leader.post(f"/console/notices/{nid}/approve", {"csrf": ltoken})
        assert status == 303
        status, html, r = await leader.post(f"/console/notices/{nid}/approve", {"csrf": ltoken})
        # twice (a double click): the step is done, said as done, nothing written again
        assert status == 303 and r.headers["Location"].endswith("?done=approve")
        assert await audit_actions(running, nid, "approve") == 1
        # another's step that no longer fits is still a refusal
        status, html, _ = await officer.post(f"/console/notices/{nid}/submit", {"csrf": token})
        assert status == 409 and "trạng thái khác" in html

        # the propagandist's relay package and the resident's message reach Zalo? The resident
        # has no village yet: a village notice asks them once; the figures say so
        html = await wait_page(officer, f"/console/notices/{nid}/live", 'data-state="sent"')
        assert "Người nhận dự kiến" in html
        html = await wait_page(officer, f"/console/notices/{nid}", "Gửi xong")
        for step in ("Soạn", "Gửi duyệt", "Duyệt", "Bắt đầu gửi", "Gửi xong"):
            assert f"<strong>{step}</strong>" in html
        assert "Cán bộ hung.ct" in html and "(Lãnh đạo xã)" in html
        assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", html)

        # a whole-commune notice reaches the resident in Zalo
        status, _, r = await officer.post("/console/notices/new", draft_form(token))
        whole = int(r.headers["Location"].split("/")[-1].split("?")[0])
        await officer.post(f"/console/notices/{whole}/submit", {"csrf": token})
        await leader.post(f"/console/notices/{whole}/approve", {"csrf": ltoken})
        for _ in range(200):
            texts = [m.body["message"].get("text", "") for m in running.sim.messages(OA, recent)]
            if any(t.startswith("THÔNG BÁO: Lịch cắt điện thôn Nậm Mòn") for t in texts):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(texts)
        html = await wait_page(officer, f"/console/notices/{whole}", 'data-sent="1"')
        # a sent notice: only a leader may cancel it (the workflow's rule)
        assert 'data-action="cancel"' not in html
        status, html, _ = await leader.get(f"/console/notices/{whole}")
        assert 'data-action="cancel"' in html
        # cancelling what residents received asks again on a page of its own (no script)
        status, html, _ = await leader.post(
            f"/console/notices/{whole}/cancel", {"csrf": ltoken, "note": "Đổi lịch"}
        )
        assert status == 200 and "Hủy thông báo đã gửi?" in html
        assert 'name="confirmed" value="1"' in html and 'value="Đổi lịch"' in html
        assert CSRF.search(html).group(1) == ltoken  # type: ignore[union-attr]
        assert (await notice_row(running, whole)).status in ("sending", "sent")  # not yet
        status, _, _ = await leader.post(
            f"/console/notices/{whole}/cancel",
            {"csrf": ltoken, "note": "Đổi lịch", "confirmed": "1"},
        )
        assert status == 303 and (await notice_row(running, whole)).status == "cancelled"
        for _ in range(200):
            texts = [m.body["message"].get("text", "") for m in running.sim.messages(OA, recent)]
            if any(t.startswith("HỦY THÔNG BÁO") for t in texts):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(texts)
        status, html, _ = await leader.get(f"/console/notices/{whole}")
        assert "Đổi lịch" in html and "Đã hủy" in html

        # the propagandist does not see a notice for another village
        status, _, r = await officer.post(
            "/console/notices/new", draft_form(token, villages=villages["Bản Phố"])
        )
        other = int(r.headers["Location"].split("/")[-1].split("?")[0])
        assert (await propagandist.get(f"/console/notices/{other}"))[0] == 404
        status, html, _ = await propagandist.get("/console/notices")
        assert f'href="/console/notices/{other}"' not in html
        # the operator of another province does not either
        far = await signed_in(running, "tinh.66", role="operator", code=CODE3)
        try:
            assert (await far.get(f"/console/notices/{other}"))[0] == 404
        finally:
            await far.close()
        async with running.services.sm() as s:
            assert (await s.get(Staff, ttv_id)) is not None
    finally:
        for b in (officer, leader, propagandist, neighbour, operator):
            await b.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_schedule_and_repeat_are_the_workflows(running):
    """A time is Vietnamese wall-clock time; a repetition is the workflow's crontab, and an
    approved repeated notice is ``recurring``."""
    officer = await signed_in(running, "lan.vp")
    leader = await signed_in(running, "hung.ct", role="leader")
    try:
        token = await officer.csrf("/console/notices/new")
        day = the_25th()
        status, _, r = await officer.post(
            "/console/notices/new", draft_form(token, send_at=f"{day:%Y-%m-%d}T08:30")
        )
        once = int(r.headers["Location"].split("/")[-1].split("?")[0])
        row = await notice_row(running, once)
        assert row.recurrence is None and row.send_at is not None
        assert (row.send_at.hour, row.send_at.minute) == (1, 30)  # 08:30 in Hà Nội is 01:30 UTC
        status, html, _ = await officer.get(f"/console/notices/{once}")
        assert f"{day:%d/%m/%Y} 08:30" in html
        status, _, r = await officer.post(
            "/console/notices/new",
            draft_form(token, send_at=f"{day:%Y-%m-%d}T08:30", repeat="monthly"),
        )
        monthly = int(r.headers["Location"].split("/")[-1].split("?")[0])
        assert (await notice_row(running, monthly)).recurrence == "30 8 25 * *"
        status, html, _ = await officer.get(f"/console/notices/{monthly}")
        assert "Ngày 25 hằng tháng lúc 08:30" in html
        await officer.post(f"/console/notices/{monthly}/submit", {"csrf": token})
        ltoken = await leader.csrf("/console/notices")
        await leader.post(f"/console/notices/{monthly}/approve", {"csrf": ltoken})
        assert (await notice_row(running, monthly)).status == "recurring"
    finally:
        await officer.close()
        await leader.close()


def test_repeats_as_crontab():
    from datetime import datetime

    at = datetime(2030, 1, 27, 7, 5)  # a Sunday
    assert crontab("daily", at) == "5 7 * * *"
    assert crontab("weekly", at) == "5 7 * * 0"
    assert crontab("monthly", at) == "5 7 27 * *"
    assert crontab("", at) is None
    assert repeat_text("5 7 * * 0") == "Hằng tuần, Chủ nhật lúc 07:05"
    assert repeat_text("5 7 * * *") == "Hằng ngày lúc 07:05"
    assert repeat_text("*/5 7 * * 1-5") == "*/5 7 * * 1-5"  # one made through the API
