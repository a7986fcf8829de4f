# ruff: noqa: F811  (the `running` fixture is imported from tests/test_console_notices.py)
"""The review's findings on the Notices screens, each through the real HTTP path (the
console's forms with a cookie jar, the JSON API with keys), as asserting tests.

"Phát ngay" sends now whatever time the draft had; the coverage warnings on the draft's page;
the live poll does not keep an idle session alive and says when it may stop; the same compose
form sent twice makes one notice, a step sent twice is "done"; bad dates, bad charsets, a
monthly day 29–31 are a 400 in words; CRLF and NFC; an operator's 5-MB upload refused
unread; the list's SQL filter, pages and commune column; the weekly/first-time schedule fixes."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from datetime import datetime

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.console.notices import crontab
from bot.notices.schedule import trigger
from bot.store.models import Notice, Staff
from bot.timeutil import VN_TZ, utcnow
from tests.helpers import NOTICE, Desk
from tests.test_console import CSRF, Browser
from tests.test_console_notices import (  # noqa: F401  (the fixture)
    CODE2,
    ahead,
    audit_actions,
    draft_form,
    notice_row,
    running,
    signed_in,
    the_25th,
)

SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def nid_of(r) -> int:
    return int(re.search(r"/console/notices/(\d+)", r.headers["Location"]).group(1))


async def new_draft(b, token: str, **over: str) -> int:
    """A draft through the compose form: its id."""
    status, html, r = await b.post("/console/notices/new", draft_form(token, **over))
    assert status == 303, html
    return nid_of(r)


async def count_notices(running) -> int:
    async with running.services.sm() as s:
        return len((await s.execute(select(Notice.id))).all())


# -- the schedule (the reviewer's fix, 9d2e6e9) ---------------------------------------------
def test_weekly_fires_on_the_chosen_day():
    at = datetime(2030, 1, 27, 7, 5)  # a Sunday
    fire = trigger(crontab("weekly", at)).get_next_fire_time(
        None, datetime(2030, 1, 20, tzinfo=VN_TZ)
    )
    assert fire.weekday() == at.weekday()
    monday = datetime(2030, 1, 21, tzinfo=VN_TZ)
    for expr, day in (("0 8 * * 7", 6), ("0 8 * * 1", 0), ("0 8 * * 5", 4), ("0 8 * * 1-5", 0)):
        assert trigger(expr).get_next_fire_time(None, monday).weekday() == day, expr
    assert trigger("0 8 * * 6-7").get_next_fire_time(None, monday).weekday() == 5


def test_recurring_starts_at_the_chosen_first_time():
    start = datetime(2030, 1, 27, 7, 5, tzinfo=VN_TZ)
    fire = trigger("5 7 * * *", start).get_next_fire_time(None, datetime(2026, 12, 3, tzinfo=VN_TZ))
    assert fire == start


# -- 1. "Phát ngay" sends now ----------------------------------------------------------------
@SQLITE
async def test_publish_clears_the_send_time_console_and_api(running):
    leader = await signed_in(running, "hung.ct", role="leader")
    try:
        token = await leader.csrf("/console/notices/new")
        status, _h, r = await leader.post(
            "/console/notices/new",
            draft_form(token, priority="emergency", send_at=ahead(days=2)),
        )
        nid = nid_of(r)
        assert (await notice_row(running, nid)).send_at is not None
        # the confirmation page first (no script), then the step
        status, html, _ = await leader.post(f"/console/notices/{nid}/publish", {"csrf": token})
        assert status == 200 and "Phát ngay thông báo khẩn?" in html
        assert (await notice_row(running, nid)).status == "draft"
        status, _h, r = await leader.post(
            f"/console/notices/{nid}/publish", {"csrf": token, "confirmed": "1"}
        )
        assert status == 303 and r.headers["Location"].endswith("?done=publish")
        row = await notice_row(running, nid)
        assert row.status in ("scheduled", "sending", "sent") and row.send_at is None
        # sent twice: done, once
        status, _h, r = await leader.post(
            f"/console/notices/{nid}/publish", {"csrf": token, "confirmed": "1"}
        )
        assert status == 303 and await audit_actions(running, nid, "publish") == 1
        # another commune's leader: 404, nothing changed
        other = await signed_in(running, "hoa.xa2", code=CODE2, role="leader")
        try:
            otoken = await other.csrf("/console/notices")
            status, _h, _r = await other.post(
                f"/console/notices/{nid}/publish", {"csrf": otoken, "confirmed": "1"}
            )
            assert status == 404
        finally:
            await other.close()
    finally:
        await leader.close()
    # the API shares the rule
    async with aiohttp.ClientSession() as http:
        desk = Desk(running, http)
        boss = await desk.hire("leader")
        storm = dict(NOTICE, priority="emergency", send_at=ahead(days=3))
        _, made = await desk.call(boss, "POST", "", storm)
        assert made["send_at"] is not None
        status, out = await desk.call(boss, "POST", f"/{made['id']}/publish")
        assert status == 200 and out["send_at"] is None
        # a time before the first UTC instant: a 400, not a 500
        status, out = await desk.call(boss, "POST", "", dict(NOTICE, send_at="0001-01-01T00:00"))
        assert status == 400
    # the sign-in form in a charset nobody knows: refused, not a 500
    async with aiohttp.ClientSession() as anon:
        async with anon.post(
            running.url + "/console/login",
            data=b"csrf=x&login=a&password=b",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=nope"},
            allow_redirects=False,
        ) as r:
            assert r.status in (400, 403)


# -- 2. coverage warnings on the page ---------------------------------------------------------
@SQLITE
async def test_the_draft_page_says_which_villages_nobody_relays_to(running):
    officer = await signed_in(running, "lan.vp")
    try:
        token = await officer.csrf("/console/notices/new")
        nid = await new_draft(officer, token)
        status, html, _ = await officer.get(f"/console/notices/{nid}")
        assert 'class="warning gaps"' in html
        assert "Nậm Mòn: chưa có tuyên truyền viên" in html
        assert "Bản Phố: chưa có tuyên truyền viên" in html
        # once it is on its way there is nothing left to fix: no warning
        async with running.services.sm() as s, s.begin():
            await s.execute(update(Notice).where(Notice.id == nid).values(status="cancelled"))
        status, html, _ = await officer.get(f"/console/notices/{nid}")
        assert 'class="warning gaps"' not in html
    finally:
        await officer.close()


# -- 3. the live poll ------------------------------------------------------------------------
@SQLITE
async def test_the_poll_does_not_keep_an_idle_session_and_says_when_to_stop(running):
    officer = await signed_in(running, "lan.vp")
    try:
        token = await officer.csrf("/console/notices/new")
        nid = await new_draft(officer, token)
        status, html, _ = await officer.get(f"/console/notices/{nid}")
        assert "data-live=" in html and "data-settled" not in html
        poll = {"X-Console-Poll": "1"}
        url = officer.base + f"/console/notices/{nid}/live"
        for _ in range(4):  # a tab left open: 44 h of polls, nobody at the desk
            running.clock.advance(hours=11)
            async with officer.http.get(url, headers=poll, allow_redirects=False) as resp:
                last = resp.status
        assert last == 303  # the idle end (12 h) came after all
        assert (await officer.get("/console/"))[0] == 303
    finally:
        await officer.close()
    officer = Browser(running)
    assert (await officer.login("lan.vp"))[0] == 303
    try:
        # an unmarked request is activity: the session goes on
        for _ in range(3):
            running.clock.advance(hours=11)
            status, _h, _r = await officer.get(f"/console/notices/{nid}/live")
            assert status == 200
        # a cancelled notice: settled, the page does not poll and the fragment says stop
        token = await officer.csrf("/console/notices")
        await officer.post(f"/console/notices/{nid}/cancel", {"csrf": token})
        assert (await notice_row(running, nid)).status == "cancelled"
        status, html, _ = await officer.get(f"/console/notices/{nid}")
        assert "data-live=" not in html
        status, html, _ = await officer.get(f"/console/notices/{nid}/live")
        assert "data-settled" in html
    finally:
        await officer.close()


# -- 4. double submit -------------------------------------------------------------------------
@SQLITE
async def test_the_same_compose_form_twice_makes_one_notice(running):
    officer = await signed_in(running, "lan.vp")
    try:
        status, html, _ = await officer.get("/console/notices/new")
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        once = re.search(r'name="once" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        before = await count_notices(running)
        status, _h, r1 = await officer.post("/console/notices/new", draft_form(token, once=once))
        status, _h, r2 = await officer.post("/console/notices/new", draft_form(token, once=once))
        assert nid_of(r1) == nid_of(r2)
        assert await count_notices(running) == before + 1
        # a new form (a new key) is a new notice
        status, html, _ = await officer.get("/console/notices/new")
        again = re.search(r'name="once" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        assert again != once
        status, _h, r3 = await officer.post("/console/notices/new", draft_form(token, once=again))
        assert nid_of(r3) != nid_of(r1)
        # a step twice: the second is "done", not an error
        nid = nid_of(r1)
        status, _h, r = await officer.post(f"/console/notices/{nid}/submit", {"csrf": token})
        status, _h, r = await officer.post(f"/console/notices/{nid}/submit", {"csrf": token})
        assert status == 303 and r.headers["Location"].endswith("?done=submit")
        assert await audit_actions(running, nid, "submit") == 1
    finally:
        await officer.close()


# -- 5, 6, 7, 9. input -----------------------------------------------------------------------
@SQLITE
async def test_bad_input_is_a_400_in_words(running):
    officer = await signed_in(running, "lan.vp")
    try:
        token = await officer.csrf("/console/notices/new")
        before = await count_notices(running)
        cases = (
            ("0001-01-01T00:00", "Ngày giờ gửi không đúng."),
            ("9999-12-31T23:59", "Chỉ hẹn gửi trong vòng một năm tới."),
            ("2020-01-01T08:00", "Ngày giờ gửi đã qua"),
            (ahead(days=400), "Chỉ hẹn gửi trong vòng một năm tới."),
            (ahead(minutes=-30), "Ngày giờ gửi đã qua"),
            ("2030-13-01T08:00", "Ngày giờ gửi không đúng."),
        )
        for when, said in cases:
            status, html, _ = await officer.post(
                "/console/notices/new", draft_form(token, send_at=when)
            )
            assert status == 400 and said in html, when
        day31 = the_25th().replace(day=28)
        status, html, _ = await officer.post(
            "/console/notices/new",
            draft_form(token, send_at=f"{day31:%Y-%m-%d}T08:30", repeat="monthly"),
        )
        assert status == 303  # the 28th is every month's
        found = None
        for day in (29, 30, 31):
            try:
                found = day31.replace(day=day)
            except ValueError:
                continue
            status, html, _ = await officer.post(
                "/console/notices/new",
                draft_form(token, send_at=f"{found:%Y-%m-%d}T08:30", repeat="monthly"),
            )
            assert status == 400 and "chỉ chọn được ngày 1 đến 28" in html
        assert await count_notices(running) == before + 1
        # the chosen time said back in words next to the field (mm/dd in some browsers)
        status, html, _ = await officer.post(
            "/console/notices/new", draft_form(token, send_at="2020-01-02T08:05")
        )
        assert "02/01/2020 08:05 (giờ Việt Nam)" in html
        # a charset nobody knows: 400, not 500
        for path in ("/console/notices/new", "/console/notices/preview"):
            async with officer.http.post(
                officer.base + path,
                data=b"csrf=" + token.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=nope"},
                allow_redirects=False,
            ) as r:
                assert r.status == 400 and "Không đọc được biểu mẫu." in await r.text()
        # a huge headline: refused, and not echoed back whole
        status, html, _ = await officer.post(
            "/console/notices/new", draft_form(token, headline="x" * 200_000)
        )
        assert status == 400 and "tối đa 150 ký tự" in html and "x" * 151 not in html
        # a note too long for an action's form: said as such
        status, html, _ = await officer.post(
            "/console/notices/1/cancel", {"csrf": token, "note": "x" * 600_000}
        )
        assert status == 413 and "Nội dung gửi lên quá dài." in html
    finally:
        await officer.close()


@SQLITE
async def test_textareas_count_crlf_once_and_are_stored_nfc(running):
    officer = await signed_in(running, "lan.vp")
    try:
        token = await officer.csrf("/console/notices/new")
        body = "\r\n".join(["a" * 199] * 10) + "a"  # 1991 letters + 9 breaks = 2000
        nfd = unicodedata.normalize("NFD", "Lịch cắt điện")
        status, html, r = await officer.post(
            "/console/notices/new", draft_form(token, body=body, headline=nfd)
        )
        assert status == 303, html
        row = await notice_row(running, nid_of(r))
        assert "\r" not in row.body and len(row.body) == 2000
        assert row.headline == unicodedata.normalize("NFC", nfd)
    finally:
        await officer.close()


@SQLITE
async def test_an_upload_by_who_may_not_edit_is_refused_unread(running):
    officer = await signed_in(running, "lan.vp")
    operator = await signed_in(running, "tinh.qt", role="operator")
    try:
        token = await officer.csrf("/console/notices/new")
        nid = await new_draft(officer, token)
        otoken = await operator.csrf("/console/notices")
        form = aiohttp.FormData()
        form.add_field("csrf", otoken)
        form.add_field("file", b"%PDF-" + b"0" * (5 * 1024 * 1024 - 10), filename="a.pdf")
        async with operator.http.post(
            operator.base + f"/console/notices/{nid}/file", data=form, allow_redirects=False
        ) as resp:
            assert resp.status == 403
        # the compose form too big (past its 5-MB PDF + 1-MB image): said as the form's limit
        form = aiohttp.FormData()
        for k, v in draft_form(token).items():
            form.add_field(k, v)
        form.add_field("file", b"%PDF-" + b"0" * (7 * 1024 * 1024), filename="a.pdf")
        async with officer.http.post(
            officer.base + "/console/notices/new", data=form, allow_redirects=False
        ) as resp:
            assert resp.status == 413
            assert "Tệp PDF đính kèm tối đa 5 MB" in await resp.text()
    finally:
        await officer.close()
        await operator.close()


# -- 8. texts --------------------------------------------------------------------------------
@SQLITE
async def test_approved_without_a_time_says_now(running):
    officer = await signed_in(running, "lan.vp")
    leader = await signed_in(running, "hung.ct", role="leader")
    try:
        token = await officer.csrf("/console/notices/new")
        nid = await new_draft(officer, token)
        await officer.post(f"/console/notices/{nid}/submit", {"csrf": token})
        ltoken = await leader.csrf("/console/notices")
        status, _h, r = await leader.post(f"/console/notices/{nid}/approve", {"csrf": ltoken})
        status, html, _ = await leader.get(r.headers["Location"])
        assert "Đã duyệt. Thông báo sẽ được gửi ngay." in html
        assert "đúng giờ đã chọn" not in html
        # once sent, the page says when it actually went
        async with running.services.sm() as s, s.begin():
            await s.execute(
                update(Notice).where(Notice.id == nid).values(status="sent", sent_at=utcnow())
            )
        status, html, _ = await leader.get(f"/console/notices/{nid}")
        assert "Đã gửi lúc" in html and re.search(r'class="sent-at">\d\d/\d\d/\d{4}', html)
    finally:
        await officer.close()
        await leader.close()


# -- 12. the list (both stores: the JSON column's text differs by dialect) -----------------
async def test_the_list_pages_filters_in_sql_and_names_the_commune(running):
    officer = await signed_in(running, "lan.vp")
    propagandist = await signed_in(running, "pao.ttv", role="propagandist", village="Nậm Mòn")
    operator = await signed_in(running, "tinh.qt", role="operator")
    try:
        status, html, _ = await officer.get("/console/notices/new")
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        villages = dict(
            (name, vid)
            for vid, name in re.findall(r'name="villages" value="(\d+)"[^>]*> ([^<]+)<', html)
        )
        status, _h, r = await officer.post(
            "/console/notices/new",
            draft_form(token, headline="Cho Nậm Mòn", villages=villages["Nậm Mòn"]),
        )
        mine = nid_of(r)
        # 60 notices for the other village after it: the propagandist's one is past page 1
        async with running.services.sm() as s, s.begin():
            row = await s.get(Notice, mine)
            for i in range(60):
                s.add(
                    Notice(
                        commune_id=row.commune_id,
                        category="services",
                        priority="normal",
                        msg_type="alert",
                        headline=f"Bản Phố {i}",
                        body="x",
                        translations={},
                        village_ids=[int(villages["Bản Phố"])],
                        languages=[],
                        created_by=row.created_by,
                        status="draft",
                    )
                )
        status, html, _ = await propagandist.get("/console/notices")
        assert f'href="/console/notices/{mine}"' in html and "Bản Phố 1" not in html
        status, html, _ = await officer.get("/console/notices")
        assert 'rel="next"' in html and "Trang 1/2" in html
        assert f'href="/console/notices/{mine}"' not in html  # the oldest, on page 2
        status, html, _ = await officer.get("/console/notices?page=2")
        assert f'href="/console/notices/{mine}"' in html and 'rel="prev"' in html
        status, html, _ = await officer.get("/console/notices?page=x")
        assert status == 200 and "Trang 1/2" in html
        assert 'class="commune"' not in html
        status, html, _ = await operator.get("/console/notices")
        assert 'class="commune"' in html
        async with running.services.sm() as s:
            staff = (await s.execute(select(Staff).where(Staff.login == "pao.ttv"))).scalar_one()
            assert staff.village_id is not None
    finally:
        for b in (officer, propagandist, operator):
            await b.close()


# -- the coordinator's one-time keys (the compose form's) ---------------------------------------
async def test_a_key_is_claimed_once_across_processes_and_lapses(redis_url):
    from bot.coord import Coordinator, create_coordinator

    a, b = create_coordinator(redis_url), create_coordinator(redis_url)
    await a.start()
    await b.start()
    key = f"test:{utcnow().timestamp()}"
    try:
        assert await a.claim(key, "41", 1) is None  # the first
        assert await b.claim(key, "42", 1) == "41"  # another process finds the first's
        await asyncio.sleep(1.2)
        assert await b.claim(key, "43", 1) is None  # lapsed
    finally:
        await a.close()
        await b.close()
    now = [1000.0]
    local = Coordinator(clock=lambda: now[0])
    assert await local.claim("k", "1", 10) is None
    assert await local.claim("k", "2", 10) == "1"
    now[0] += 11
    assert await local.claim("k", "3", 10) is None
