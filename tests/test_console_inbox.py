"""The console's inbox (issue 13, second slice) through the real path: a resident reports through
the Zalo simulator (or the web chat), staff sign in with a cookie jar like a browser's, read the
inbox and the ticket, act with the page's forms (CSRF), and the reply reaches the resident's
chat. The API's rules hold rule for rule: who reads what (bot/feedback/access.py), who may take
which action (bot/feedback/workflow.py), another commune's ticket is a 404. Residents' text is
shown as text. SQLite and PostgreSQL."""

from __future__ import annotations

import re

import aiohttp
import pytest
from sqlalchemy import select

from bot.console import auth
from bot.staff import add_staff
from bot.store.models import Ticket, TicketEvent
from tests.helpers import (
    CODE,
    CODE2,
    JPEG,
    OA,
    OFFICES,
    Commune,
    Visitor,
    make_settings,
    start_service,
    text,
    ticket_code,
    wait_idle,
)

PASSWORD = "Suoi-Nam-Mon-chay-qua"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    """One browser: its own cookies, forms sent as a browser sends them."""

    def __init__(self, url: str) -> None:
        self.base = url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path, allow_redirects=False) as r:
            return r.status, await r.text()

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        async with self.http.post(self.base + path, data=data, allow_redirects=False) as r:
            return r.status, await r.text(), r.headers.get("Location", "")

    async def csrf(self, path: str) -> str:
        status, html = await self.get(path)
        assert status == 200, html
        return CSRF.search(html).group(1)  # type: ignore[union-attr]

    async def login(self, login: str) -> None:
        token = await self.csrf("/console/login")
        status, html, where = await self.post(
            "/console/login", {"csrf": token, "login": login, "password": PASSWORD}
        )
        assert (status, where) == (303, "/console/"), html

    async def act(self, code: str, action: str, **form: str) -> tuple[int, str, str]:
        token = await self.csrf(f"/console/tickets/{code}")
        return await self.post(f"/console/tickets/{code}/{action}", {"csrf": token, **form})


async def person(
    running,
    login: str,
    role: str,
    code: str = CODE,
    office: str | None = None,
    village: str | None = None,
) -> int:
    async with running.services.sm() as s, s.begin():
        staff, _ = await add_staff(s, code, f"Cán bộ {login}", role, village, None, office)
        await auth.set_login(s, staff, login)
        await auth.set_password(s, staff, PASSWORD)
        return staff.id


@pytest.fixture
async def commune(store_url, sim):
    running = await start_service(make_settings(store_url, sim, commune_extra=OFFICES), sim)
    browsers: list[Browser] = []
    async with aiohttp.ClientSession() as http:
        c = Commune(running, http)
        c.browser = lambda: browsers.append(Browser(running.url)) or browsers[-1]  # type: ignore[attr-defined]
        yield c
    for b in browsers:
        await b.http.close()
    await running.runner.cleanup()


def items(html: str) -> list[str]:
    """The codes the inbox lists."""
    return re.findall(r'href="/console/tickets/(PA-\d{4}-\d{6})"', html)


async def test_the_inbox_lists_filters_and_a_reply_reaches_the_resident(commune):
    running, sim = commune.running, commune.running.sim
    await person(running, "lan.vp", "officer", office="vanphong")
    user = "8101"
    code = await commune.report(user, "phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
    other = await commune.report("8102", "đèn đường hỏng cả tuần ở Bản Phố")

    officer = commune.browser()
    assert (await officer.get("/console/inbox"))[0] == 303  # signed out: to the login
    await officer.login("lan.vp")
    status, home = await officer.get("/console/")
    nav = re.search(r'<nav class="nav".*?</nav>', home, re.S).group(0)  # type: ignore[union-attr]
    assert 'href="/console/inbox"' in nav and "Hộp thư" in nav

    status, html = await officer.get("/console/inbox")
    assert status == 200 and set(items(html)) == {code, other}
    assert "Mới tiếp nhận" in html and "Nậm Mòn" in html
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", html)  # dd/mm/yyyy, Vietnamese time
    assert 'data-poll="/console/inbox/count"' in html
    # filters as GET parameters, server-rendered
    village = re.search(r'<option value="(\d+)"[^>]*>Nậm Mòn</option>', html).group(1)  # type: ignore[union-attr]
    assert items((await officer.get(f"/console/inbox?village={village}"))[1]) == [code]
    assert items((await officer.get("/console/inbox?state=answered"))[1]) == []
    assert items((await officer.get("/console/inbox?overdue=1"))[1]) == []
    async with running.services.sm() as s:
        office = (await s.execute(select(Ticket.office).where(Ticket.code == code))).scalar_one()
    assert code in items((await officer.get(f"/console/inbox?office={office}"))[1])
    for bad in ("state=flying", "office=khongco", "village=999999", "village=abc"):
        status, html = await officer.get(f"/console/inbox?{bad}")
        assert status == 400 and 'role="alert"' in html and items(html) == []

    # the poll's mark changes when a new ticket comes in
    async with officer.http.get(running.url + "/console/inbox/count") as r:
        before = (await r.json())["newest"]
    third = await commune.report("8103", "phản ánh rác thải ở bãi sông Nậm Mòn")
    async with officer.http.get(running.url + "/console/inbox/count") as r:
        assert (await r.json())["newest"] != before
    assert third in items((await officer.get("/console/inbox"))[1])

    # the ticket: the resident's words, its history, the actions an officer may take now
    status, page = await officer.get(f"/console/tickets/{code}")
    assert status == 200 and "rác thải đổ bừa bãi" in page
    for action in ("answer", "accept", "assign", "transfer", "return", "reject", "note"):
        assert f'action="/console/tickets/{code}/{action}"' in page
    assert f'action="/console/tickets/{code}/close"' not in page  # not from "received"
    assert "Xã đã nhận được phản ánh của anh/chị" in page  # a canned answer to pick

    # a refused action: the reason, nothing changed
    status, page, _ = await officer.act(code, "close")
    assert status == 409 and "trạng thái hiện tại" in page
    status, page, _ = await officer.act(code, "answer", note="   ")
    assert status == 400 and "nhập nội dung" in page
    status, page, _ = await officer.post(f"/console/tickets/{code}/answer", {"note": "x"})
    assert status == 403  # no CSRF token
    async with running.services.sm() as s:
        assert (await s.execute(select(Ticket.status).where(Ticket.code == code))).scalar() == (
            "received"
        )

    # the reply reaches the resident's chat
    before = len(sim.messages(OA, user))
    status, _, where = await officer.act(
        code, "answer", note="Xã đã cho dọn bãi rác ở Nậm Mòn sáng nay."
    )
    assert (status, where) == (303, f"/console/tickets/{code}?done=answer")
    await sim.wait_for_messages(before + 1, oa_id=OA, user_id=user)
    await wait_idle(running)
    got = [m.body["message"].get("text") or "" for m in sim.messages(OA, user)[before:]]
    assert any("Xã đã cho dọn bãi rác ở Nậm Mòn sáng nay." in t and code in t for t in got)
    status, page = await officer.get(where)
    assert "Đã lưu: Trả lời người dân" in page and "Đã trả lời" in page
    assert f'action="/console/tickets/{code}/close"' in page
    # close (resolve), then no action but the note is left
    assert (await officer.act(code, "close"))[0] == 303
    status, page = await officer.get(f"/console/tickets/{code}")
    assert "Đã hoàn thành" in page and f'action="/console/tickets/{code}/answer"' not in page
    assert code not in items((await officer.get("/console/inbox"))[1])  # open ones by default
    assert code in items((await officer.get("/console/inbox?state=closed"))[1])

    # assign and transfer: the same rules as the API
    someone = await person(running, "hoa.dc", "officer", office="diachinh")
    assert (await officer.act(other, "assign", staff_id=str(someone)))[0] == 303
    assert (await officer.act(other, "transfer", office="khongco"))[0] == 400
    assert (await officer.act(other, "transfer", office="congan"))[0] == 303
    async with running.services.sm() as s:
        moved = (await s.execute(select(Ticket).where(Ticket.code == other))).scalar_one()
        actions = (
            (
                await s.execute(
                    select(TicketEvent.action)
                    .where(TicketEvent.ticket_id == moved.id)
                    .order_by(TicketEvent.id)
                )
            )
            .scalars()
            .all()
        )
    assert (moved.office, moved.status, moved.assignee_id) == ("congan", "received", None)
    assert actions == ["create", "assign", "transfer"]


async def test_roles_and_communes_see_and_do_only_what_the_api_allows(commune):
    running = commune.running
    await person(running, "chu.tich", "leader")
    await person(running, "ttv.nammon", "propagandist", village="Nậm Mòn")
    await person(running, "ttv.banpho", "propagandist", village="Bản Phố")
    await person(running, "vp.officer", "officer", office="vanphong")
    await person(running, "dc.officer", "officer", office="diachinh")
    await person(running, "leader.two", "leader", code=CODE2)
    code = await commune.report("8201", "phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
    leader_key = await commune.hire("leader")
    status, land = await commune.call(
        leader_key,
        "POST",
        "/tickets",
        {"category": "land", "description": "tranh chấp đất giữa hai nhà ở Nậm Mòn"},
    )
    assert status == 201 and land["office"]["code"] == "diachinh"
    land_code = land["code"]

    async def signed_in(login: str) -> Browser:
        b = commune.browser()
        await b.login(login)
        return b

    # another commune's leader: 404 for the page, every action and the photo, none listed
    two = await signed_in("leader.two")
    assert items((await two.get("/console/inbox"))[1]) == []
    assert (await two.get(f"/console/tickets/{code}"))[0] == 404
    assert (await two.get(f"/console/tickets/{code}/media/0"))[0] == 404
    token = await two.csrf("/console/")
    for action in ("answer", "close", "note", "fly"):
        status, _, _ = await two.post(
            f"/console/tickets/{code}/{action}", {"csrf": token, "note": "của xã khác"}
        )
        assert status == 404
    assert (await two.get("/console/tickets/PA-9999-000001"))[0] == 404
    assert (await two.get("/console/tickets/<script>"))[0] == 404

    # a sensitive ticket: its office and the leader, not another office's officer
    vp, dc, leader = (
        await signed_in("vp.officer"),
        await signed_in("dc.officer"),
        await signed_in("chu.tich"),
    )
    assert land_code not in items((await vp.get("/console/inbox?state=all"))[1])
    assert (await vp.get(f"/console/tickets/{land_code}"))[0] == 404
    assert land_code in items((await dc.get("/console/inbox"))[1])
    assert (await dc.get(f"/console/tickets/{land_code}"))[0] == 200
    assert {code, land_code} <= set(items((await leader.get("/console/inbox"))[1]))

    # a propagandist: their village's non-sensitive tickets; a note, nothing else
    nm, bp = await signed_in("ttv.nammon"), await signed_in("ttv.banpho")
    assert items((await nm.get("/console/inbox"))[1]) == [code]
    assert items((await bp.get("/console/inbox"))[1]) == []
    assert (await bp.get(f"/console/tickets/{code}"))[0] == 404
    status, page = await nm.get(f"/console/tickets/{code}")
    assert status == 200 and f'action="/console/tickets/{code}/note"' in page
    assert f'action="/console/tickets/{code}/answer"' not in page
    assert "Người dân đang chờ cán bộ" not in (await nm.get("/console/inbox"))[1]
    status, _, _ = await nm.act(code, "answer", note="tôi trả lời thay")
    assert status == 403  # posted anyway: refused, nothing changed
    assert (await nm.act(code, "note", note="Đã ra xem, rác nhiều thật"))[0] == 303
    status, page = await leader.get(f"/console/tickets/{code}")
    assert "Đã ra xem, rác nhiều thật" in page and "Cán bộ ttv.nammon" in page
    async with running.services.sm() as s:
        assert (await s.execute(select(Ticket.status).where(Ticket.code == code))).scalar() == (
            "received"
        )


async def test_residents_text_is_shown_as_text(commune):
    running = commune.running
    await person(running, "chu.tich", "leader")
    evil = "rác thải ở Nậm Mòn <script>alert(1)</script><img src=x onerror=alert(2)>"
    code = await commune.report("8301", evil)
    leader = commune.browser()
    await leader.login("chu.tich")
    status, page = await leader.get(f"/console/tickets/{code}")
    assert status == 200
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<script" not in page.replace(
        '<script src="/console/static/console.js?v=', ""
    )  # the page's only script is ours


async def test_a_web_chat_photo_and_pin_are_shown_to_who_may_read_the_ticket(commune):
    running = commune.running
    await person(running, "chu.tich", "leader")
    await person(running, "leader.two", "leader", code=CODE2)
    tab = Visitor(running.url)
    try:
        await tab.open()
        await tab.says("phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
        status, uploaded = await tab.photo(JPEG)
        assert status == 201
        await tab.says(
            attachments=[
                {"type": "image", "payload": {"upload": uploaded["upload"]}},
                {
                    "type": "location",
                    "payload": {"coordinates": {"latitude": 22.5352, "longitude": 104.2271}},
                },
            ]
        )
        code = ticket_code(text(await tab.says("không")))
        leader = commune.browser()
        await leader.login("chu.tich")
        status, page = await leader.get(f"/console/tickets/{code}")
        assert f'<img src="/console/tickets/{code}/media/0"' in page
        assert "https://www.openstreetmap.org/?mlat=22.535200&amp;mlon=104.227100" in page
        async with leader.http.get(f"{running.url}/console/tickets/{code}/media/0") as r:
            assert r.status == 200 and await r.read() == JPEG
            assert r.headers["Content-Type"] == "image/jpeg"
        assert (await leader.get(f"/console/tickets/{code}/media/1"))[0] == 404
        two = commune.browser()
        await two.login("leader.two")
        assert (await two.get(f"/console/tickets/{code}/media/0"))[0] == 404
        # the reply reaches the web chat
        status, _, _ = await leader.act(code, "answer", canned="0")
        assert status == 303
        frames = [await tab.ws.receive_json(timeout=10)]  # type: ignore[union-attr]
        assert code in text(frames) and "đã cử cán bộ xuống kiểm tra" in text(frames)
    finally:
        await tab.close()


async def test_a_chat_waiting_for_staff_is_answered_from_the_inbox(commune):
    running, sim = commune.running, commune.running.sim
    await person(running, "vp.officer", "officer", office="vanphong")
    await person(running, "ttv.nammon", "propagandist", village="Nậm Mòn")
    await person(running, "leader.two", "leader", code=CODE2)
    user = "8401"
    await commune.says(user, "cho tôi gặp cán bộ")
    officer = commune.browser()
    await officer.login("vp.officer")
    status, html = await officer.get("/console/inbox")
    [chat] = re.findall(r'href="/console/chats/(\d+)"', html)
    assert "muốn gặp cán bộ" in html
    for login in ("ttv.nammon", "leader.two"):  # not their role / not their commune
        b = commune.browser()
        await b.login(login)
        assert (await b.get(f"/console/chats/{chat}"))[0] == 404
    status, page = await officer.get(f"/console/chats/{chat}")
    assert status == 200 and "cho tôi gặp cán bộ" in page
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    assert (await officer.post(f"/console/chats/{chat}/reply", {"csrf": token, "text": ""}))[
        0
    ] == 400
    before = len(sim.messages(OA, user))
    status, _, where = await officer.post(
        f"/console/chats/{chat}/reply",
        {"csrf": token, "text": "Chào anh, tôi là cán bộ văn phòng xã, anh cần hỏi gì ạ?"},
    )
    assert (status, where) == (303, f"/console/chats/{chat}")
    sent = await sim.wait_for_messages(before + 1, oa_id=OA, user_id=user)
    assert "cán bộ văn phòng xã" in sent[-1].body["message"]["text"]
    assert "cán bộ văn phòng xã" in (await officer.get(where))[1]
    # ended from the console: the resident is told, the chat leaves the inbox
    status, _, _ = await officer.post(f"/console/chats/{chat}/close", {"csrf": token})
    assert status == 303
    sent = await sim.wait_for_messages(before + 2, oa_id=OA, user_id=user)
    assert "đã kết thúc trao đổi" in sent[-1].body["message"]["text"]
    assert f'href="/console/chats/{chat}"' not in (await officer.get("/console/inbox"))[1]
    assert (await officer.post(f"/console/chats/{chat}/close", {"csrf": token}))[0] == 409
