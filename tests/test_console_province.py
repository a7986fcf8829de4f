"""The console's "Thông báo toàn tỉnh" screen (issue 14) through the real service: the province
operator composes one notice for two communes in the console (a cookie jar like a browser's);
each commune has its own submitted copy; one commune's leader returns theirs with a note, which
the operator's detail page then shows; the other leader approves through the notice pages; the
dispatcher and sender take it to the Zalo simulator. Roles (403 page), another province's
operator (404), bad input (400, nothing written), a form sent twice (one notice). SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import html as html_lib
import re

import pytest
from sqlalchemy import func, select, update

from bot.config import ProvinceSettings
from bot.console.web import CONSOLE
from bot.loops import NOTICES_TOPIC
from bot.store.models import Commune as CommuneRow
from bot.store.models import Notice, ProvinceNotice, Resident
from tests.helpers import commune_code, make_settings, oa_id, quiet_around_now, start_service
from tests.test_console import CSRF, Browser, Clock, signed_in

CODE, CODE2, CODE3, CODE4 = (commune_code(n) for n in (1, 2, 3, 4))  # 1–3 province 15, 4: 66
NEW = "/console/province-notices/new"
HEADLINE = "Phòng chống rét đậm cho gia súc"


def form(token: str, once: str, **over: object) -> dict[str, object]:
    return {
        "csrf": token,
        "once": once,
        "category": "safety",
        "priority": "normal",
        "headline": HEADLINE,
        "body": "Sở Nông nghiệp khuyến cáo che chắn chuồng trại, dự trữ thức ăn cho trâu bò.",
        "to": "chosen",
        "communes": [CODE, CODE2],
        **over,
    }


@pytest.fixture
async def running(store_url, sim):
    settings = make_settings(store_url, sim, communes=4, notices=quiet_around_now(False))
    settings = settings.model_copy(update={"provinces": {"66": ProvinceSettings()}})
    running = await start_service(settings, sim)
    running.services.broadcasts.verify_poll_s = 0.05
    async with running.services.sm() as s, s.begin():
        for code, province in ((CODE, "15"), (CODE2, "15"), (CODE3, "15"), (CODE4, "66")):
            await s.execute(
                update(CommuneRow).where(CommuneRow.code == code).values(province_code=province)
            )
    running.clock = Clock()
    running.runner.app[CONSOLE].clock = running.clock
    yield running
    await running.runner.cleanup()


async def post(b: Browser, path: str, data: dict[str, object]):
    """A form as a browser sends it: a list is a field repeated (checkboxes)."""
    fields = [(k, v) for k, vs in data.items() for v in (vs if isinstance(vs, list) else [vs])]
    async with b.http.post(b.base + path, data=fields, allow_redirects=False) as r:
        return r.status, await r.text(), r


async def copies(running, parent_id: int) -> dict[str, Notice]:
    async with running.services.sm() as s:
        rows = (
            await s.execute(
                select(Notice, CommuneRow.code)
                .join(CommuneRow, CommuneRow.id == Notice.commune_id)
                .where(Notice.province_notice_id == parent_id)
            )
        ).all()
    return {code: n for n, code in rows}


async def count(running, model) -> int:  # type: ignore[no-untyped-def]
    async with running.services.sm() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def chatting_resident(running, n: int) -> str:
    """A follower of commune n who chatted this week (a notice reaches them by message)."""
    user, sim = f"96{n}1", running.sim
    await sim.user_sends_text(oa_id(n), user, "xin chao")
    await sim.wait_for_messages(1, oa_id=oa_id(n), user_id=user)
    async with running.services.sm() as s, s.begin():
        row = (await s.execute(select(Resident).where(Resident.external_id == user))).scalar_one()
        row.is_follower = True
    return user


async def wait_page(b: Browser, path: str, marker: str) -> str:
    for _ in range(400):
        status, html, _r = await b.get(path)
        assert status == 200, html
        if marker in html:
            return html
        await asyncio.sleep(0.05)
    raise AssertionError(f"{marker!r} never showed on {path}: {html}")


async def test_compose_return_with_a_note_approve_and_send(running):
    user2 = await chatting_resident(running, 2)
    operator = await signed_in(running, "tinh.qt", role="operator", name="Sở Thông tin tỉnh")
    leader1 = await signed_in(running, "hung.ct", role="leader", name="Lò Văn Hùng")
    leader2 = await signed_in(running, "hoa.ct2", role="leader", code=CODE2, name="Hà Thị Hoa")
    far = await signed_in(running, "tinh.66", role="operator", code=CODE4)
    officer = await signed_in(running, "lan.vp")
    propagandist = await signed_in(running, "pao.ttv", role="propagandist", village="Nậm Mòn")
    try:
        # the nav: only the operator sees the page
        status, html, _ = await operator.get("/console/")
        assert 'href="/console/province-notices"' in html and "Thông báo toàn tỉnh" in html
        for other in (officer, leader1, propagandist):
            status, html, _ = await other.get("/console/")
            assert status == 200 and 'href="/console/province-notices"' not in html

        # the compose page: the province's communes as checkboxes, not another province's
        status, html, _ = await operator.get(NEW)
        assert status == 200, html
        assert set(re.findall(r'name="communes" value="(\d+)"', html)) == {CODE, CODE2, CODE3}
        assert "Tất cả các xã của tỉnh (3 xã)" in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        once = re.search(r'name="once" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]

        # bad input: said in Vietnamese, the form again, nothing written
        for bad, said in (
            ({"headline": ""}, "Tiêu đề: bắt buộc"),
            ({"category": "nope"}, "Vui lòng chọn lĩnh vực"),
            ({"priority": "urgent"}, "Vui lòng chọn mức độ"),
            ({"communes": []}, "Vui lòng chọn ít nhất một xã"),
            ({"communes": [CODE, CODE4]}, "Vui lòng chọn xã trong danh sách."),
            ({"communes": ["<b>"]}, "Vui lòng chọn xã trong danh sách."),
        ):
            status, html, _ = await post(operator, NEW, form(token, once, **bad))
            assert status == 400 and said in html, (bad, html)
            assert 'name="headline"' in html
        assert await count(running, ProvinceNotice) == 0 and await count(running, Notice) == 0
        # no token: refused
        assert (await post(operator, NEW, form("", once)))[0] == 403
        assert await count(running, ProvinceNotice) == 0

        # composed for two communes: each has its own copy waiting for its leader
        status, _, r = await post(operator, NEW, form(token, once))
        assert status == 303, _
        page = r.headers["Location"]
        pid = int(re.search(r"/console/province-notices/(\d+)\?done=created", page).group(1))  # type: ignore[union-attr]
        # the same form sent again (a double click, a resend): the same notice, nothing new
        status, _, r = await post(operator, NEW, form(token, once))
        assert status == 303 and r.headers["Location"] == page
        assert await count(running, ProvinceNotice) == 1
        found = await copies(running, pid)
        assert set(found) == {CODE, CODE2}
        assert {n.status for n in found.values()} == {"submitted"}
        status, html, _ = await operator.get(page)
        assert status == 200 and "Đã gửi thông báo tới các xã" in html
        assert html.count('class="copy" data-status="submitted"') == 2
        assert "Chờ duyệt: 2" in html and "Xã Thử Nghiệm 1" in html and "Xã Thử Nghiệm 2" in html
        # the operator may open each commune's copy (their province's)
        for n in found.values():
            assert f'href="/console/notices/{n.id}"' in html
            assert (await operator.get(f"/console/notices/{n.id}"))[0] == 200
        # the list: newest first, communes and copies by state
        status, html, _ = await operator.get("/console/province-notices")
        assert status == 200 and HEADLINE in html and "2 xã" in html and "Chờ duyệt: 2" in html

        # another province's operator: 404, list empty; other roles: the 403 page
        status, html, _ = await far.get(f"/console/province-notices/{pid}")
        assert status == 404 and HEADLINE not in html
        status, html, _ = await far.get("/console/province-notices")
        assert status == 200 and HEADLINE not in html
        for other in (officer, leader1, propagandist):
            for path in ("/console/province-notices", NEW, f"/console/province-notices/{pid}"):
                status, html, _ = await other.get(path)
                assert status == 403 and "quản trị viên cấp tỉnh" in html, path
            otoken = await other.csrf("/console/")
            status, html, _ = await post(other, NEW, form(otoken, "x" * 20))
            assert status == 403 and "quản trị viên cấp tỉnh" in html
        assert await count(running, ProvinceNotice) == 1

        # commune 1's leader returns their copy with a note, through the notice pages
        ltoken = await leader1.csrf(f"/console/notices/{found[CODE].id}")
        status, _, _ = await leader1.post(
            f"/console/notices/{found[CODE].id}/return",
            {"csrf": ltoken, "note": "Xã đã thông báo nội dung này qua loa truyền thanh"},
        )
        assert status == 303
        status, html, _ = await operator.get(f"/console/province-notices/{pid}")
        assert 'data-status="returned"' in html and "Bị trả lại: 1" in html
        assert "Xã đã thông báo nội dung này qua loa truyền thanh" in html
        assert "Trả lại bởi Lò Văn Hùng" in html

        # commune 2's leader approves: their residents get it in Zalo, the page says sent
        ltoken = await leader2.csrf(f"/console/notices/{found[CODE2].id}")
        status, _, _ = await leader2.post(
            f"/console/notices/{found[CODE2].id}/approve", {"csrf": ltoken}
        )
        assert status == 303
        await running.sim.wait_for_messages(2, oa_id=oa_id(2), user_id=user2)
        text = running.sim.messages(oa_id(2), user2)[1].body["message"]["text"]
        assert HEADLINE in text and "Xã Thử Nghiệm 2" in text
        html = await wait_page(operator, f"/console/province-notices/{pid}", 'data-status="sent"')
        assert "Duyệt: Hà Thị Hoa" in html and "đã gửi 1" in html
        assert re.search(r"Gửi lúc \d\d/\d\d/\d{4} \d\d:\d\d", html)

        # commune 1's officer resubmits the returned copy, its leader approves: the page shows
        # the copy's state and approver, no longer the old return note
        otoken = await officer.csrf(f"/console/notices/{found[CODE].id}")
        status, _, _ = await officer.post(
            f"/console/notices/{found[CODE].id}/submit", {"csrf": otoken}
        )
        assert status == 303
        status, html, _ = await operator.get(f"/console/province-notices/{pid}")
        assert "Chờ duyệt: 1" in html and "Trả lại bởi" not in html
        ltoken = await leader1.csrf(f"/console/notices/{found[CODE].id}")
        status, _, _ = await leader1.post(
            f"/console/notices/{found[CODE].id}/approve", {"csrf": ltoken}
        )
        assert status == 303
        status, html, _ = await operator.get(f"/console/province-notices/{pid}")
        assert "Duyệt: Lò Văn Hùng" in html and 'data-status="returned"' not in html
        assert "Trả lại bởi" not in html and "qua loa truyền thanh" not in html
    finally:
        for b in (operator, leader1, leader2, far, officer, propagandist):
            await b.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_all_communes_and_an_emergency_sent_directly(store_url, sim):
    settings = make_settings(store_url, sim, communes=2, notices=quiet_around_now(False))
    settings = settings.model_copy(
        update={"provinces": {"15": ProvinceSettings(emergency_direct=True)}}
    )
    running = await start_service(settings, sim)
    async with running.services.sm() as s, s.begin():
        await s.execute(update(CommuneRow).values(province_code="15"))
    user1 = await chatting_resident(running, 1)
    operator = await signed_in(running, "tinh.qt", role="operator")
    published: list[str] = []
    coord = running.runner.app[CONSOLE].coord
    publish = coord.publish

    async def spy(topic: str, message: str = "") -> None:
        published.append(topic)
        await publish(topic, message)

    coord.publish = spy
    try:
        status, html, _ = await operator.get(NEW)
        assert "không chờ lãnh đạo xã duyệt" in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]

        # a normal notice still waits for each leader, though emergencies go out directly
        status, _, r = await post(operator, NEW, form(token, "n" * 22))
        assert status == 303 and r.headers["Location"].endswith("?done=created")
        normal = int(r.headers["Location"].split("/")[-1].split("?")[0])
        assert {n.status for n in (await copies(running, normal)).values()} == {"submitted"}
        assert NOTICES_TOPIC not in published

        # an emergency to the whole province: a page of its own asks first, nothing written
        emergency = form(
            token, "k" * 22, priority="emergency", to="all", communes=[], headline="Lũ <quét>"
        )
        status, html, _ = await post(operator, NEW, emergency)
        assert status == 200 and "Phát ngay thông báo khẩn tới các xã?" in html
        assert "người dân của 2 xã" in html and "Lũ &lt;quét&gt;" in html
        assert 'name="confirmed" value="1"' in html and 'name="to" value="all"' in html
        assert await count(running, ProvinceNotice) == 1 and NOTICES_TOPIC not in published
        # confirmed (the page's own hidden fields): sent to both communes, the dispatcher woken
        # "Phát ngay"'s form (the page's other form is "Quay lại")
        send_form = html.split('name="confirmed" value="1">')[1].split("</form>")[0]
        fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', send_form)
        confirmed = {"confirmed": "1", **{k: html_lib.unescape(v) for k, v in fields}}
        assert confirmed["headline"] == "Lũ <quét>" and confirmed["once"] == "k" * 22
        status, _, r = await post(operator, NEW, confirmed)
        assert status == 303 and r.headers["Location"].endswith("?done=direct")
        assert published.count(NOTICES_TOPIC) == 1
        pid = int(r.headers["Location"].split("/")[-1].split("?")[0])
        assert set(await copies(running, pid)) == {CODE, CODE2}
        # the confirmation sent twice (a double click): the same notice, the same message
        status, _, r2 = await post(operator, NEW, confirmed)
        assert status == 303 and r2.headers["Location"] == r.headers["Location"]
        assert await count(running, ProvinceNotice) == 2
        status, html, _ = await operator.get(r.headers["Location"])
        assert "Đã phát thông báo khẩn tới các xã" in html
        await running.sim.wait_for_messages(2, oa_id=oa_id(1), user_id=user1)
        assert "Lũ <quét>" in running.sim.messages(oa_id(1), user1)[1].body["message"]["text"]

        # the list pages as the notices' list does: 50 a page, newest first
        async with running.services.sm() as s, s.begin():
            commune_id = (
                await s.execute(select(CommuneRow.id).where(CommuneRow.code == CODE))
            ).scalar_one()
            for i in range(50):
                s.add(
                    ProvinceNotice(
                        commune_id=commune_id,
                        province_code="15",
                        category="policy",
                        priority="normal",
                        headline=f"Thông báo số {i}",
                    )
                )
        status, html, _ = await operator.get("/console/province-notices")
        assert "Trang 1/2" in html and "Thông báo số 49" in html and "Lũ &lt;quét" not in html
        status, html, _ = await operator.get("/console/province-notices?page=2")
        assert "Trang 2/2" in html and "Lũ &lt;quét&gt;" in html and "2 xã" in html
    finally:
        coord.publish = publish
        await operator.close()
        await running.runner.cleanup()


async def test_waits_for_leaders_escapes_and_refuses(running):
    """Province 15 does not send emergencies directly: an emergency waits for each leader like
    any notice. Markup in the headline and in a leader's note is shown as text. Another
    province's operator cannot send to this province's communes. ``?page=²`` is page 1. An
    operator whose commune has no province sees no link to the screen."""
    operator = await signed_in(running, "tinh.qt", role="operator")
    leader1 = await signed_in(running, "hung.ct", role="leader", name="Lò <i>Văn</i> Hùng")
    far = await signed_in(running, "tinh.66", role="operator", code=CODE4)
    published: list[str] = []
    coord = running.runner.app[CONSOLE].coord
    publish = coord.publish

    async def spy(topic: str, message: str = "") -> None:
        published.append(topic)
        await publish(topic, message)

    coord.publish = spy
    try:
        token = await operator.csrf(NEW)
        status, _, r = await post(
            operator,
            NEW,
            form(token, "e" * 22, priority="emergency", headline="<script>alert(1)</script> Lũ"),
        )
        assert status == 303 and r.headers["Location"].endswith("?done=created")
        pid = int(r.headers["Location"].split("/")[-1].split("?")[0])
        found = await copies(running, pid)
        assert {n.status for n in found.values()} == {"submitted"}
        assert NOTICES_TOPIC not in published  # nothing went out: the dispatcher is not woken
        status, html, _ = await operator.get(f"/console/province-notices/{pid}")
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Lũ" in html
        assert "<dd>Lãnh đạo từng xã duyệt</dd>" in html

        ltoken = await leader1.csrf(f"/console/notices/{found[CODE].id}")
        status, _, _ = await leader1.post(
            f"/console/notices/{found[CODE].id}/return",
            {"csrf": ltoken, "note": "<b>Trùng</b> nội dung"},
        )
        assert status == 303
        status, html, _ = await operator.get(f"/console/province-notices/{pid}")
        assert "&lt;b&gt;Trùng&lt;/b&gt; nội dung" in html and "<b>Trùng</b>" not in html
        assert "Lò &lt;i&gt;Văn&lt;/i&gt; Hùng" in html

        # both lists: a superscript two is no page number (page 1, not an error)
        for path in ("/console/province-notices", "/console/notices"):
            status, html, _ = await operator.get(path + "?page=%C2%B2")
            assert status == 200, (path, html)
        status, html, _ = await operator.get("/console/province-notices?page=%C2%B2")
        assert "alert(1)" in html  # the first page, with the notice

        # another province's operator naming this province's communes: refused, nothing written
        ftoken = await far.csrf(NEW)
        before = await count(running, Notice)
        status, html, _ = await post(far, NEW, form(ftoken, "f" * 22, communes=[CODE, CODE2]))
        assert status == 400 and "Vui lòng chọn xã trong danh sách." in html
        assert await count(running, Notice) == before

        # an operator of a commune without a province: no link, the pages are not there
        async with running.services.sm() as s, s.begin():
            await s.execute(
                update(CommuneRow).where(CommuneRow.code == CODE3).values(province_code=None)
            )
        lone = await signed_in(running, "mot.xa", role="operator", code=CODE3)
        try:
            status, html, _ = await lone.get("/console/")
            assert status == 200 and 'href="/console/province-notices"' not in html
            assert (await lone.get("/console/province-notices"))[0] == 404
        finally:
            await lone.close()
    finally:
        coord.publish = publish
        for b in (operator, leader1, far):
            await b.close()
