"""The console's log ("Nhật ký", issue 13) through the real HTTP service: sign-ins (a failed one
without its password), staff changes from the console and the CLI, knowledge changes through the
JSON API (a refused change writes no line), notices and tickets from their own tables (a ticket
by its code, never the resident's words); search by text with or without Vietnamese accents,
by person, kind and dates (dd/mm/yyyy), newest first, 50 a page; leaders see their commune, the
province operator the province with a commune filter; others nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from bot import audit
from bot.store.models import AuditEvent, Commune, Notice, Ticket
from bot.timeutil import to_vn, utcnow
from tests.test_console import (  # noqa: F401
    CODE,
    CODE2,
    CODE3,
    CSRF,
    Browser,
    Cli,
    account,
    running,
)

LINE = re.compile(r'<li class="log-line">(.*?)</li>', re.S)
RESIDENT_WORDS = "Ổ gà trước nhà bà Đinh Thị Mơ, số 0912345678"


async def signed_in(running, login: str, **kw) -> tuple[Browser, int, str]:  # noqa: F811
    staff_id, key = await account(running, login, **kw)
    b = Browser(running)
    assert (await b.login(login))[0] == 303
    return b, staff_id, key


async def lines(b: Browser, query: str = "") -> list[str]:
    status, html, _ = await b.get("/console/audit" + query)
    assert status == 200, html
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", m)).strip() for m in LINE.findall(html)]


async def commune_id(running, code: str) -> int:  # noqa: F811
    async with running.services.sm() as s:
        return (await s.execute(select(Commune.id).where(Commune.code == code))).scalar_one()


async def notice_and_ticket(running, code: str, staff_id: int) -> str:  # noqa: F811
    """A notice and a ticket with their first audit rows, as their workflows write them."""
    cid = await commune_id(running, code)
    now = utcnow()
    async with running.services.sm() as s, s.begin():
        notice = Notice(
            commune_id=cid,
            category="services",
            priority="normal",
            headline="Lịch cắt điện thôn Nậm Mòn",
            body="Cắt điện từ 7 giờ đến 11 giờ.",
        )
        s.add(notice)
        await s.flush()
        audit.notice(s, notice, "create", "draft", staff_id, created=True)
        ticket = Ticket(
            commune_id=cid,
            code="PA-7QX2",
            token="t" * 32,
            source="web",
            category="roads",
            description=RESIDENT_WORDS,
            reporter_name="Đinh Thị Mơ",
            office="vp",
            received_at=now,
            ack_due_at=now + timedelta(hours=8),
            due_at=now + timedelta(days=5),
        )
        s.add(ticket)
        await s.flush()
        audit.ticket(s, ticket, "create", actor="resident", created=True)
    return ticket.code


async def test_the_log_says_who_did_what_and_finds_it(running, tmp_path):  # noqa: F811
    leader, leader_id, leader_key = await signed_in(
        running, "chu.tich", role="leader", name="Chủ tịch Hà"
    )
    try:
        # a failed sign-in: its line under the account, never the password typed
        other = Browser(running)
        assert (await other.login("chu.tich", "sai-mat-khau-9876"))[0] == 401
        await other.close()
        # a staff member added from the console
        token = await leader.csrf("/console/staff")
        status, _, _ = await leader.post(
            "/console/staff",
            {"csrf": token, "name": "Nguyễn Văn Nam", "role": "officer", "login": "nam.vp"},
        )
        assert status == 200
        # knowledge through the JSON API: one created; a change onto a taken question is
        # refused (409) and writes no line
        api = f"{running.url}/api/v1/communes/{CODE}/knowledge"
        auth = {"Authorization": f"Bearer {leader_key}"}
        async with aiohttp.ClientSession() as http:
            ids = []
            for q in ("Giờ làm việc của bộ phận một cửa?", "Nộp thuế đất ở đâu?"):
                async with http.post(
                    api, json={"question": q, "answer": "Xem bảng tin."}, headers=auth
                ) as r:
                    assert r.status == 201, await r.text()
                    ids.append((await r.json())["id"])
            async with http.put(
                f"{api}/{ids[1]}",
                json={"question": "Giờ làm việc của bộ phận một cửa?", "answer": "x"},
                headers=auth,
            ) as r:
                assert r.status == 409
        async with running.services.sm() as s:
            changed = (
                await s.execute(
                    select(func.count()).where(AuditEvent.action == "knowledge_changed")
                )
            ).scalar_one()
            kept = (await s.execute(select(AuditEvent.summary, AuditEvent.detail))).all()
        assert changed == 0
        assert all("sai-mat-khau" not in f"{a} {b}" for a, b in kept)
        # the CLI's staff commands, as "CLI"
        nam_id = await _id(running, "nam.vp")
        code, _, err = await Cli(running, tmp_path)(
            "revoke-key", "--commune", CODE, "--staff-id", str(nam_id)
        )
        assert code == 0, err
        ticket_code = await notice_and_ticket(running, CODE, leader_id)

        found = await lines(leader)
        text = "\n".join(found)
        assert (
            "sai-mat-khau" not in text and RESIDENT_WORDS not in text and "Đinh Thị Mơ" not in text
        )
        assert "Đăng nhập sai mật khẩu" in text and "Thêm cán bộ: Nguyễn Văn Nam" in text
        assert "CLI — Thu hồi khóa API: Nguyễn Văn Nam" in text
        assert "Thêm câu trả lời: Nộp thuế đất ở đâu?" in text
        assert f"Phản ánh: create: {ticket_code}" in text
        assert "Thông báo: create: Lịch cắt điện thôn Nậm Mòn" in text
        assert re.match(r"\d\d/\d\d/\d{4} \d\d:\d\d", found[0])
        # newest first: the ticket's line (written last) before the sign-in's
        assert found.index(next(ln for ln in found if ticket_code in ln)) < found.index(
            next(ln for ln in found if "Đăng nhập sai" in ln)
        )

        # text search: accents or none, any case; staff names and headlines too
        for query, wanted in (
            ("nguyen", "Nguyễn Văn Nam"),
            ("NGUYỄN văn", "Nguyễn Văn Nam"),
            ("nam mon", "Nậm Mòn"),
            ("thue dat", "Nộp thuế đất"),
            (ticket_code.lower(), ticket_code),
        ):
            got = await lines(leader, f"?q={query}")
            assert got and all(wanted in ln or "Nguyễn" in ln for ln in got), (query, got)
        assert await lines(leader, "?q=kh%C3%B4ng+c%C3%B3+g%C3%AC") == []
        assert await lines(leader, "?q=100%25") == []  # LIKE's wildcards are text
        # by person: what they did and what was done to their account
        by_nam = await lines(leader, f"?staff={nam_id}")
        assert by_nam and all("Nguyễn Văn Nam" in ln for ln in by_nam)
        knowledge = await lines(leader, "?kind=knowledge")
        assert len(knowledge) == 2 and all("Kiến thức" in ln for ln in knowledge)
        assert len(await lines(leader, "?kind=ticket")) == 1
        # by date, dd/mm/yyyy in Vietnamese days
        today = to_vn(utcnow()).strftime("%d/%m/%Y")
        tomorrow = to_vn(utcnow() + timedelta(days=1)).strftime("%d/%m/%Y")
        yesterday = to_vn(utcnow() - timedelta(days=1)).strftime("%d/%m/%Y")
        assert len(await lines(leader, f"?from={today}&to={today}")) == len(found)
        assert await lines(leader, f"?from={tomorrow}") == []
        assert await lines(leader, f"?to={yesterday}") == []
        status, html, _ = await leader.get("/console/audit?from=31/02/2026")
        assert status == 400 and "31/02/2026 không đúng dạng" in html
    finally:
        await leader.close()


async def _id(running, login: str) -> int:  # noqa: F811
    from bot.store.models import Staff

    async with running.services.sm() as s:
        return (await s.execute(select(Staff.id).where(Staff.login == login))).scalar_one()


async def test_pages_and_who_sees_which_commune(running):  # noqa: F811
    leader, leader_id, _ = await signed_in(running, "ct.xa1", role="leader")
    neighbour, _, _ = await signed_in(running, "ct.xa2", role="leader", code=CODE2)
    operator, _, _ = await signed_in(running, "qt.tinh", role="operator", code=CODE2)
    far, _, _ = await signed_in(running, "ct.xa3", role="leader", code=CODE3)
    officer, _, _ = await signed_in(running, "vt.xa1")
    cid = await commune_id(running, CODE)
    start = utcnow() - timedelta(hours=2)
    async with running.services.sm() as s, s.begin():
        for n in range(120):
            audit.action(
                s,
                cid,
                leader_id,
                "fact_changed",
                "fact",
                n,
                f"Mục số {n:03d}",
                at=start + timedelta(seconds=n),
            )
    try:
        first = await lines(leader, "?kind=fact")
        assert len(first) == 50 and "Mục số 119" in first[0] and "Mục số 070" in first[-1]
        status, html, _ = await leader.get("/console/audit?kind=fact")
        assert "page=2" in html and "Mới hơn" not in html
        third = await lines(leader, "?kind=fact&page=3")
        assert len(third) == 20 and "Mục số 019" in third[0] and "Mục số 000" in third[-1]
        assert await lines(leader, "?kind=fact&page=4") == []
        assert "fact_changed" in first[0]  # an action no label names yet: shown as written

        # the neighbour commune's leader sees none of it; the operator the province's
        assert not any("Mục số" in ln for ln in await lines(neighbour))
        assert not any("Mục số" in ln for ln in await lines(far))
        status, html, _ = await operator.get("/console/audit?kind=fact")
        assert status == 200 and "Mục số 119" in html and 'name="commune"' in html
        assert "Mục số" not in "".join(await lines(operator, f"?kind=fact&commune={CODE2}"))
        assert len(await lines(operator, f"?kind=fact&commune={CODE}")) == 50
        assert (await operator.get(f"/console/audit?commune={CODE3}"))[0] == 404
        assert (await leader.get(f"/console/audit?commune={CODE2}"))[0] == 404
        # officers see nothing, nor the link
        status, html, _ = await officer.get("/console/audit")
        assert status == 403 and "Mục số" not in html
        assert 'href="/console/audit"' not in (await officer.get("/console/"))[1]
        # signing out is a line too
        token = CSRF.search((await leader.get("/console/"))[1]).group(1)  # type: ignore[union-attr]
        assert (await leader.post("/console/logout", {"csrf": token}))[0] == 303
        assert "Đăng xuất" in (await lines(operator, f"?commune={CODE}&kind=account"))[0]
    finally:
        for b in (leader, neighbour, operator, far, officer):
            await b.close()


async def test_a_failed_change_writes_no_line(running):  # noqa: F811
    """``audit.action`` adds to the caller's transaction: rolled back with it."""
    cid = await commune_id(running, CODE)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with running.services.sm() as s, s.begin():
            audit.action(s, cid, None, "staff_changed", "staff", 1, "Nguyễn Văn Nam")
            await s.flush()
            raise Boom
    async with running.services.sm() as s:
        assert (await s.execute(select(func.count()).select_from(AuditEvent))).scalar_one() == 0
    # and committed with a change that commits: folded for the search
    async with running.services.sm() as s, s.begin():
        row = audit.action(
            s, cid, None, "staff_changed", "staff", 1, "  Nguyễn Văn Nam ", actor=audit.CLI
        )
    assert row.search_key == "nguyen van nam" and row.summary == "Nguyễn Văn Nam"
    assert row.actor == "cli"
