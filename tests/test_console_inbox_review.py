"""Second reading of the console inbox: a long list comes in pages (a commune with thousands of
tickets does not get the first 200 and nothing else), and an action that takes the ticket out of
the staff member's sight (a sensitive ticket sent to another office) ends on the inbox with what
was done, not on a "not found" page."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.console import inbox
from bot.privacy import erase_resident
from bot.store.models import Commune as CommuneRow
from bot.store.models import Handoff, Resident, Ticket, Village
from tests.helpers import CODE, CODE2, JPEG, Visitor, text, ticket_code
from tests.test_console_inbox import commune, items, person  # noqa: F401  (the fixture)


async def test_a_long_inbox_comes_in_pages_and_keeps_its_filters(commune, monkeypatch):  # noqa: F811
    running = commune.running
    monkeypatch.setattr(inbox.Inbox, "PAGE", 2, raising=False)
    await person(running, "chu.tich", "leader")
    codes = [
        await commune.report(f"83{n:02d}", f"phản ánh rác thải đổ bừa bãi ở Nậm Mòn số {n}")
        for n in range(3)
    ]
    leader = commune.browser()
    await leader.login("chu.tich")

    status, first = await leader.get("/console/inbox?state=all")
    assert status == 200 and len(items(first)) == 2
    assert "(3)" in first  # the whole count, not the page's
    more = re.search(r'href="(/console/inbox\?[^"]*page=2[^"]*)"', first)
    assert more is not None and "state=all" in more.group(1)
    status, second = await leader.get(more.group(1).replace("&amp;", "&"))
    assert status == 200 and set(items(first)) | set(items(second)) == set(codes)
    assert len(items(second)) == 1 and "page=3" not in second
    assert 'page=1"' in second or "page=1&" in second  # back to the first page

    for bad in ("0", "x", "-1", "9" * 18, "9" * 30):
        status, html = await leader.get(f"/console/inbox?page={bad}")
        assert status == 400 and items(html) == []


async def test_a_ticket_sent_out_of_sight_ends_on_the_inbox(commune):  # noqa: F811
    running = commune.running
    await person(running, "dc.officer", "officer", office="diachinh")
    leader_key = await commune.hire("leader")
    status, land = await commune.call(
        leader_key,
        "POST",
        "/tickets",
        {"category": "land", "description": "tranh chấp đất giữa hai nhà ở Nậm Mòn"},
    )
    assert status == 201 and land["office"]["code"] == "diachinh"
    dc = commune.browser()
    await dc.login("dc.officer")
    status, _, where = await dc.act(land["code"], "transfer", office="vanphong", note="nhầm")
    assert status == 303 and where.startswith("/console/inbox")
    status, html = await dc.get(where)
    assert status == 200 and "Đã lưu: Chuyển" in html and land["code"] not in items(html)


async def test_every_route_keeps_to_its_commune_and_its_readers(commune):  # noqa: F811
    """Issue 13: tenancy tested for every page and action — the poll's mark, the filters, the
    chat's two POSTs (CSRF and another commune), and the photo route's headers."""
    running = commune.running
    await person(running, "vp.officer", "officer", office="vanphong")
    await person(running, "leader.two", "leader", code=CODE2)
    vp, two = commune.browser(), commune.browser()
    await vp.login("vp.officer")
    await two.login("leader.two")

    async def mark(b) -> str:
        async with b.http.get(f"{running.url}/console/inbox/count") as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            return (await r.json())["newest"]

    vp_before, two_before = await mark(vp), await mark(two)
    leader_key = await commune.hire("leader")
    status, land = await commune.call(
        leader_key,
        "POST",
        "/tickets",
        {"category": "land", "description": "tranh chấp đất giữa hai nhà ở Nậm Mòn"},
    )
    assert status == 201
    # a sensitive ticket of another office, and anything of another commune: no change
    assert (await mark(vp), await mark(two)) == (vp_before, two_before)
    await commune.report("8501", "phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
    assert await mark(vp) != vp_before and await mark(two) == two_before

    # another commune's village, an office it does not have: 400, nothing listed
    async with running.services.sm() as s:
        village = (
            (
                await s.execute(
                    select(Village.id)
                    .join(CommuneRow, CommuneRow.id == Village.commune_id)
                    .where(CommuneRow.code == CODE)
                )
            )
            .scalars()
            .first()
        )
    status, html = await two.get(f"/console/inbox?state=all&village={village}")
    assert status == 400 and items(html) == []
    status, html = await two.get("/console/inbox?state=all&office=nope")
    assert status == 400 and items(html) == []

    # a chat: its POSTs need the token, and another commune gets 404 with it
    await commune.says("8502", "cho tôi gặp cán bộ")
    status, html = await vp.get("/console/inbox")
    [chat] = re.findall(r'href="/console/chats/(\d+)"', html)
    for path in (f"/console/chats/{chat}/reply", f"/console/chats/{chat}/close"):
        assert (await vp.post(path, {"text": "không có mã"}))[0] == 403
        token = await two.csrf("/console/")
        assert (await two.post(path, {"csrf": token, "text": "xã khác"}))[0] == 404
    async with running.services.sm() as s:
        h = await s.get(Handoff, int(chat))
        assert h is not None and h.closed_at is None and h.replies == 0


async def test_a_stored_photo_is_served_as_an_image_only(commune):  # noqa: F811
    running = commune.running
    await person(running, "chu.tich", "leader")
    tab = Visitor(running.url)
    try:
        await tab.open()
        await tab.says("phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
        status, uploaded = await tab.photo(JPEG)
        assert status == 201
        await tab.says(attachments=[{"type": "image", "payload": {"upload": uploaded["upload"]}}])
        code = ticket_code(text(await tab.says("không")))
    finally:
        await tab.close()
    leader = commune.browser()
    await leader.login("chu.tich")
    async with leader.http.get(f"{running.url}/console/tickets/{code}/media/0") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in r.headers["Content-Security-Policy"]
        assert "no-store" in r.headers["Cache-Control"]


async def test_why_a_resident_cannot_be_reached_is_said_in_the_pages_language(commune):  # noqa: F811
    """The API's reasons are bilingual and technical ("… / no chat"); the
    console says them in its own words, in Vietnamese or English, not both at once."""
    running = commune.running
    await person(running, "chu.tich", "leader")
    code = await commune.report("8601", "phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
    await commune.says("8601", "cho tôi gặp cán bộ")
    async with running.services.sm() as s, s.begin():
        ticket = (await s.execute(select(Ticket).where(Ticket.code == code))).scalar_one()
        resident = await s.get(Resident, ticket.resident_id)
        handoff = (
            await s.execute(select(Handoff).where(Handoff.resident_id == resident.id))
        ).scalar_one()
        await erase_resident(s, resident)
    leader = commune.browser()
    await leader.login("chu.tich")
    status, page = await leader.get(f"/console/tickets/{code}")
    # erased: the ticket no longer names its resident, so there is no chat to reach
    assert status == 200 and "qua trò chuyện: không có kênh trò chuyện</p>" in page
    assert "/ no chat" not in page
    status, page = await leader.get(f"/console/tickets/{code}?lang=en")
    assert status == 200 and "không có kênh" not in page
    status, page = await leader.get(f"/console/chats/{handoff.id}?lang=vi")
    assert status == 200 and "resident erased" not in page
