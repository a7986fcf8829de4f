"""The console's "Commune facts" screen, the rest of issue 13, through the real path: staff add a
village (with its head) and rename one over HTTP; residents are answered for it at once on the
web chat, file a ticket in it, a propagandist can be given it; a rename keeps the village's row
(a ticket filed under the old name shows the new one), moves its contacts, survives a restart's
mirroring of config, and refuses a name already taken. The commune's own procedure fee and its
province's public-service portal, set here, are in the bot's procedure answers at once. Bad
input changes nothing; CSRF; another commune's staff get a 404. SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot import facts_store, tenants
from bot.store.models import AuditEvent, CommuneFacts, Staff, Ticket, Village
from tests.helpers import Visitor, text
from tests.test_console import CODE, CODE2, CSRF, Browser, account, running  # noqa: F401
from tests.test_console_facts import ask, changes, field_error, signed_in

PATH = f"/console/facts/{CODE}"


@pytest.fixture(autouse=True)
def fresh_cache():
    facts_store._cache.clear()


async def commune_id(running, code: str = CODE) -> int:  # noqa: F811
    return running.services.tenants.by_code(code).id


async def village_rows(running, code: str = CODE) -> dict[str, int]:  # noqa: F811
    cid = await commune_id(running, code)
    async with running.services.sm() as s:
        rows = (await s.execute(select(Village).where(Village.commune_id == cid))).scalars()
        return {v.name: v.id for v in rows}


async def file_report(url: str, words: str) -> str:
    """A routine report (rubbish) from a resident on the web chat: the ticket's code."""
    tab = Visitor(url, code=CODE)
    try:
        await tab.open()
        await tab.says(words)
        await tab.says("bỏ qua")
        said = text(await tab.says("gửi ẩn danh"))
        found = re.search(r"Mã phản ánh:?\s*([A-Z0-9-]+)", said)
        assert found, said
        return found.group(1)
    finally:
        await tab.close()


async def ticket_village(running, code: str) -> int | None:  # noqa: F811
    async with running.services.sm() as s:
        return (await s.execute(select(Ticket.village_id).where(Ticket.code == code))).scalar_one()


async def test_a_village_added_is_answered_and_used_at_once(running):  # noqa: F811
    officer = await signed_in(running, "lan.vp", name="Nguyễn Thị Lan")
    try:
        status, html, _ = await officer.get(PATH)
        assert status == 200 and 'id="village-new"' in html and "Thêm thôn" in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        before = await village_rows(running)
        form = {
            "section": "village-new",
            "village_name": "Khe Lếch",
            "village_kind": "bản",
            "head_name": "Lò Văn Sáng",
            "head_phone": "0987 000 111",
        }
        # no token: refused, nothing added
        assert (await officer.post(PATH, form))[0] == 403
        assert (await officer.post(PATH, {**form, "csrf": "x" * 43}))[0] == 403
        n = await changes(running)
        # bad input: its message beside the field, nothing added
        for bad, name, message in (
            ({"village_name": "  "}, "village_name", "Vui lòng nhập tên thôn."),
            ({"village_name": "nam mon"}, "village_name", "Xã đã có thôn “nam mon”."),
            ({"village_kind": "phố"}, "village_kind", "Vui lòng chọn loại"),
            ({"head_phone": "12345"}, "head_phone", "Số điện thoại không đúng."),
            ({"village_name": "X" * 200}, "village_name", "Quá dài"),
        ):
            status, html, _ = await officer.post(PATH, {**form, **bad, "csrf": token})
            assert status == 400, bad
            assert field_error(html, "village-new", name).startswith(message), (bad, html)
        assert await changes(running) == n and await village_rows(running) == before

        status, _, r = await officer.post(PATH, {**form, "csrf": token})
        assert status == 303 and r.headers["Location"].endswith("?done=saved#village-2")
        rows = await village_rows(running)
        assert set(rows) == set(before) | {"Khe Lếch"}
        # residents are answered for it at once
        said = await ask(running.url, "trưởng bản Khe Lếch là ai")
        assert "Lò Văn Sáng" in said and "0987 000 111" in said, said
        # a resident's report in it is the village's ticket
        ticket = await file_report(running.url, "phản ánh rác thải đổ bừa bãi ở bản Khe Lếch")
        assert await ticket_village(running, ticket) == rows["Khe Lếch"]
        # a propagandist can be given it
        await account(running, "ttv.kl", role="propagandist", village="Khe Lếch")
        async with running.services.sm() as s:
            staff = (await s.execute(select(Staff).where(Staff.login == "ttv.kl"))).scalar_one()
        assert staff.village_id == rows["Khe Lếch"]
        # the page lists it with its head; the log says who added it and which row it is
        status, html, _ = await officer.get(PATH)
        assert 'id="village-2"' in html and 'value="Khe Lếch"' in html
        assert 'value="Lò Văn Sáng"' in html and "Thôn, bản được thêm" in html
        async with running.services.sm() as s:
            event = (
                await s.execute(select(AuditEvent).where(AuditEvent.action == "facts_changed"))
            ).scalar_one()
        assert event.detail["village_id"] == rows["Khe Lếch"]
        assert event.staff_id is not None and "villages.added" in event.summary
        # a restart mirrors it (no second row) and still answers for it
        await tenants.sync(running.services.settings, running.services.sm)
        assert await village_rows(running) == rows
    finally:
        await officer.close()


async def test_a_rename_keeps_the_village_and_its_history(running):  # noqa: F811
    old = (await village_rows(running))["Nậm Mòn"]
    ticket = await file_report(running.url, "phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
    assert await ticket_village(running, ticket) == old
    officer = await signed_in(running, "lan.vp")
    try:
        token = await officer.csrf(PATH)
        contacts = {"head_name": "Giàng A Pao", "head_phone": "0987654321"}
        status, _, _ = await officer.post(
            PATH, {"csrf": token, "section": "village-0", "village_name": "Nậm Mòn", **contacts}
        )
        assert status == 303
        n = await changes(running)
        # a name another village has (accents and case aside): refused, nothing changed
        status, html, _ = await officer.post(
            PATH, {"csrf": token, "section": "village-0", "village_name": "bản phố", **contacts}
        )
        assert status == 400 and "Xã đã có thôn" in field_error(html, "village-0", "village_name")
        assert await changes(running) == n and (await village_rows(running))["Nậm Mòn"] == old

        status, _, r = await officer.post(
            PATH,
            {"csrf": token, "section": "village-0", "village_name": "Nậm Mòn Thượng", **contacts},
        )
        assert status == 303 and r.headers["Location"].endswith("?done=saved#village-0")
        rows = await village_rows(running)
        assert rows["Nậm Mòn Thượng"] == old and "Nậm Mòn" not in rows  # the same row
        # the ticket filed under the old name shows the new one
        leader = await signed_in(running, "chu.tich", role="leader")
        try:
            status, html, _ = await leader.get(f"/console/tickets/{ticket}")
            assert status == 200 and "Nậm Mòn Thượng" in html, html
        finally:
            await leader.close()
        # its head moved with it; residents are answered by the new name at once
        async with running.services.sm() as s:
            data = (await s.execute(select(CommuneFacts.data))).scalar_one()
        assert data["villages.renamed"] == {"Nậm Mòn": "Nậm Mòn Thượng"}
        assert "village.Nậm Mòn.head" not in data
        assert data["village.Nậm Mòn Thượng.head"]["name"] == "Giàng A Pao"
        said = await ask(running.url, "trưởng thôn Nậm Mòn Thượng là ai")
        assert "Giàng A Pao" in said, said
        # a report naming the new name lands in the same village
        again = await file_report(running.url, "phản ánh rác thải ở thôn Nậm Mòn Thượng bốc mùi")
        assert await ticket_village(running, again) == old
        # a restart's mirroring of config does not bring the old name back
        await tenants.sync(running.services.settings, running.services.sm)
        assert await village_rows(running) == rows
        # the log: who renamed which row from what
        async with running.services.sm() as s:
            renamed = (
                await s.execute(
                    select(AuditEvent)
                    .where(AuditEvent.action == "facts_changed")
                    .order_by(AuditEvent.id.desc())
                    .limit(1)
                )
            ).scalar_one()
        assert renamed.detail["renamed_from"] == "Nậm Mòn"
        assert renamed.detail["village_id"] == old
        # back to config's name: the rename is dropped, the row keeps its id
        status, _, _ = await officer.post(
            PATH, {"csrf": token, "section": "village-0", "village_name": "Nậm Mòn", **contacts}
        )
        assert status == 303 and (await village_rows(running))["Nậm Mòn"] == old
        async with running.services.sm() as s:
            data = (await s.execute(select(CommuneFacts.data))).scalar_one()
        assert "villages.renamed" not in data and data["village.Nậm Mòn.head"]
    finally:
        await officer.close()


async def test_the_communes_fee_and_portal_are_answered_at_once(running):  # noqa: F811
    url = running.url
    assert "Miễn phí tại xã" not in await ask(url, "phí khai sinh bao nhiêu")
    officer = await signed_in(running, "lan.vp")
    try:
        status, html, _ = await officer.get(PATH)
        assert status == 200 and 'id="procedures"' in html and 'name="fee_birth"' in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        n = await changes(running)
        # a portal that is not a web address: refused, nothing saved (the fee neither)
        status, html, _ = await officer.post(
            PATH,
            {"csrf": token, "section": "procedures", "portal": "dichvucong", "fee_birth": "x"},
        )
        assert status == 400 and field_error(html, "procedures", "portal").startswith(
            "Địa chỉ trang web không đúng."
        )
        status, html, _ = await officer.post(
            PATH, {"csrf": token, "section": "procedures", "note_birth": "y" * 600}
        )
        assert status == 400 and field_error(html, "procedures", "note_birth").startswith("Quá dài")
        assert await changes(running) == n

        fee = "Miễn phí tại xã, kể cả đăng ký quá hạn."
        status, _, r = await officer.post(
            PATH,
            {
                "csrf": token,
                "section": "procedures",
                "portal": "https://dichvucong.thunghiem.gov.vn",
                "fee_birth": fee,
                "note_birth": "Mang theo sổ hộ khẩu cũ nếu còn.",
            },
        )
        assert status == 303 and r.headers["Location"].endswith("?done=saved#procedures")
        said = await ask(url, "phí khai sinh bao nhiêu")
        assert fee in said and "Mang theo sổ hộ khẩu cũ" in said, said
        said = await ask(url, "đăng ký tạm trú online được không")
        assert "https://dichvucong.thunghiem.gov.vn" in said, said
        status, html, _ = await officer.get(PATH)
        assert fee in html and "Đăng ký khai sinh: lệ phí" in html
        # back to config's: the national text again
        status, _, _ = await officer.post(
            PATH, {"csrf": token, "section": "procedures", "reset": "1"}
        )
        assert status == 303 and fee not in await ask(url, "phí khai sinh bao nhiêu")
    finally:
        await officer.close()


async def test_another_commune_gets_a_404(running):  # noqa: F811
    other = await signed_in(running, "vp.xa2", code=CODE2)
    try:
        token = await other.csrf(f"/console/facts/{CODE2}")
        n, before = await changes(running), await village_rows(running)
        for form in (
            {"section": "village-new", "village_name": "Lạ", "village_kind": "thôn"},
            {"section": "village-0", "village_name": "Lạ"},
            {"section": "procedures", "fee_birth": "1 đồng"},
        ):
            status, _, _ = await other.post(PATH, {"csrf": token, **form})
            assert status == 404, form
        assert await changes(running) == n and await village_rows(running) == before
        # a village that does not exist in their own commune: 404 too
        status, _, _ = await other.post(
            f"/console/facts/{CODE2}", {"csrf": token, "section": "village-7", "village_name": "Y"}
        )
        assert status == 404
    finally:
        await other.close()
    async with running.services.sm() as s:
        assert (
            await s.execute(select(func.count()).select_from(Village).where(Village.name == "Lạ"))
        ).scalar_one() == 0
