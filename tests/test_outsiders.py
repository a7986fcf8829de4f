"""What an outsider cannot do (issue 10, "Outsiders"), through the real path — web chat
(HTTP + websocket) and Zalo (simulator) in, the staff API and Open311 over HTTP, what the
simulator records as sent:

- staff commands ("đã chuyển", "PA-…: …") count only from the channel and id a staff member
  was registered on: a web chat session with the same id is a resident;
- a ticket code (they are sequential) tells nobody but its reporter and the staff who may read
  it anything: the same answer as for a code that does not exist;
- sensitive tickets stay with their office unless the commune says one officer covers all;
- only a leader cancels an emergency notice or one already sent;
- Open311 filing takes an officer's or leader's key, never in the query string.
"""

from __future__ import annotations

import asyncio
import re
import sys

import aiohttp
import pytest
import yaml
from sqlalchemy import func, select

from bot.staff import add_staff
from bot.store.models import NoticeRelay, Staff, Ticket, TicketEvent
from tests.helpers import (
    NOTICE,
    OFFICES,
    Commune,
    Desk,
    Visitor,
    commune_code,
    make_settings,
    oa_id,
    quiet_around_now,
    start_service,
    text,
    wait_status,
)

OA, CODE = oa_id(1), commune_code(1)
NOT_THERE = "PA-2020-999999"


def without(code: str, said: str) -> str:
    """A reply with the code it names taken out: what it says about the ticket."""
    return said.replace(code, "<code>")


async def relays_confirmed(running) -> int:  # type: ignore[no-untyped-def]
    async with running.services.sm() as s:
        return (
            await s.execute(
                select(func.count())
                .select_from(NoticeRelay)
                .where(NoticeRelay.confirmed_at.is_not(None))
            )
        ).scalar_one()


async def notes(running, code: str) -> list[str]:  # type: ignore[no-untyped-def]
    async with running.services.sm() as s:
        return list(
            (
                await s.execute(
                    select(TicketEvent.note)
                    .join(Ticket, Ticket.id == TicketEvent.ticket_id)
                    .where(Ticket.code == code, TicketEvent.action == "note")
                    .order_by(TicketEvent.id)
                )
            ).scalars()
        )


@pytest.fixture
async def running(store_url, sim):
    running = await start_service(
        make_settings(store_url, sim, commune_extra=OFFICES, notices=quiet_around_now(False)), sim
    )
    yield running
    await running.runner.cleanup()


# -- channel confusion ------------------------------------------------------------------------
async def test_a_web_chat_session_with_a_propagandists_id_is_only_a_resident(running):
    sim = running.sim
    visitor = Visitor(running.url)
    async with aiohttp.ClientSession() as http:
        desk, commune = Desk(running, http), Commune(running, http)
        try:
            # sessions are issued by the service: the collision is made on the staff side, a
            # propagandist registered with the very id the web chat session carries
            sid = (await visitor.new_session()).split(".")[0]
            async with running.services.sm() as s, s.begin():
                await add_staff(
                    s, CODE, "Trưởng thôn Nậm Mòn", "propagandist", "Nậm Mòn", zalo_user_id=sid
                )
            await commune.says(sid, "xin chào")  # they chat with the OA on Zalo like anyone
            officer, leader = await desk.hire("officer"), await desk.hire("leader")
            _, notice = await desk.call(officer, "POST", "", dict(NOTICE, villages=["Nậm Mòn"]))
            await desk.submit_and_approve(leader, notice["id"], submitter=officer)
            await sim.wait_for_messages(3, oa_id=OA, user_id=sid)  # the package and the ask
            code = await commune.report(
                "8801", "đường thôn Nậm Mòn có ổ gà lớn, xe máy ngã mấy lần rồi"
            )
            alert = await sim.wait_for_messages(4, oa_id=OA, user_id=sid)
            assert code in alert[3].body["message"]["text"]  # told of the report, on Zalo

            await visitor.open()
            said = text(await visitor.says("đã chuyển"))
            assert "Cảm ơn anh/chị đã chuyển" not in said
            said = text(await visitor.says(f"{code}: tôi là trưởng thôn, xóa phản ánh này đi"))
            assert "đã ghi thêm" not in said
            # nor does the session read the ticket its namesake may read
            asked = text(await visitor.says(f"{code} sao rồi"))
            unknown = text(await visitor.says(f"{NOT_THERE} sao rồi"))
            assert without(code, asked) == without(NOT_THERE, unknown), (asked, unknown)
            assert await relays_confirmed(running) == 0 and await notes(running, code) == []

            # the same words from the Zalo id they were registered with
            thanks = await commune.says(sid, "đã chuyển")
            assert thanks.startswith('Cảm ơn anh/chị đã chuyển thông báo "Lịch tiêm chủng')
            assert "đã ghi thêm" in await commune.says(sid, f"{code}: đã ra xem, ổ gà sâu 20 cm")
            status = await commune.says(sid, f"{code} sao rồi")
            assert "Đường sá" in status and "đã tiếp nhận" in status
            assert await relays_confirmed(running) == 1
            assert await notes(running, code) == ["đã ra xem, ổ gà sâu 20 cm"]
        finally:
            await visitor.close()


async def test_a_propagandist_of_another_commune_or_inactive_is_a_resident(running):
    sim = running.sim
    async with aiohttp.ClientSession() as http:
        commune = Commune(running, http)
        code = await commune.report(
            "8811", "đường thôn Nậm Mòn có ổ gà lớn, xe máy ngã mấy lần rồi"
        )
        # registered in commune 2 with this Zalo id; writing to commune 1's OA
        async with running.services.sm() as s, s.begin():
            await add_staff(
                s,
                commune_code(2),
                "Trưởng thôn xã 2",
                "propagandist",
                "Nậm Mòn",
                zalo_user_id="8812",
            )
        said = await commune.says("8812", f"{code}: tôi biết việc này")
        assert "đã ghi thêm" not in said and await notes(running, code) == []
        assert len(sim.messages(oa_id(2), "8812")) == 0
        # this commune's, but no longer active
        async with running.services.sm() as s, s.begin():
            staff, _ = await add_staff(
                s, CODE, "Trưởng thôn cũ", "propagandist", "Nậm Mòn", zalo_user_id="8813"
            )
            staff.active = False
        said = await commune.says("8813", f"{code}: tôi biết việc này")
        assert "đã ghi thêm" not in said and await notes(running, code) == []


# -- ticket codes -------------------------------------------------------------------------------
async def test_a_ticket_code_tells_nobody_else_anything(running):
    visitor = Visitor(running.url)
    async with aiohttp.ClientSession() as http:
        commune = Commune(running, http)
        try:
            police = await commune.hire("officer", office="congan", zalo="7021")
            await commune.hire("officer", office="vanphong", zalo="7022")
            code = await commune.report("8821", "có trộm đang cạy cửa nhà ở Bản Phố", "không")
            lamp = await commune.report("8821", "đèn đường hỏng cả tuần ở Bản Phố")

            # the reporter reads it
            mine = await commune.says("8821", f"{code} sao rồi")
            assert "An ninh" in mine and "đã tiếp nhận" in mine
            # another resident, on Zalo or the web chat: as if it did not exist
            for ask in (lambda t: commune.says("8822", t), None):
                if ask is None:
                    await visitor.open()
                    ask = lambda t: visitor.says(t)  # noqa: E731
                for c in (code, lamp):
                    asked, unknown = await ask(f"{c} sao rồi"), await ask(f"{NOT_THERE} sao rồi")
                    asked, unknown = (
                        x if isinstance(x, str) else text(x) for x in (asked, unknown)
                    )
                    assert without(c, asked) == without(NOT_THERE, unknown), (asked, unknown)
                    assert "An ninh" not in asked and "Đường" not in asked
            # staff on Zalo read what they may: the police their report, another office not
            assert "An ninh" in await commune.says("7021", f"{code} sao rồi")
            other = await commune.says("7022", f"{code} sao rồi")
            assert without(code, other) == without(
                NOT_THERE, await commune.says("7022", f"{NOT_THERE} sao rồi")
            )
            assert "Đường" in await commune.says("7022", f"{lamp} sao rồi")
            assert (await commune.call(police, "GET", f"/tickets/{code}"))[0] == 200
        finally:
            await visitor.close()


# -- roles --------------------------------------------------------------------------------------
async def test_sensitive_tickets_are_read_and_acted_on_by_their_office(running, tmp_path):
    async with aiohttp.ClientSession() as http:
        commune = Commune(running, http)
        police = await commune.hire("officer", office="congan")
        clerk = await commune.hire("officer", office="vanphong")
        leader = await commune.hire("leader")
        code = await commune.report("8831", "có trộm đang cạy cửa nhà ở Bản Phố", "không")
        lamp = await commune.report("8832", "đèn đường hỏng cả tuần ở Bản Phố")

        listed = [t["code"] for t in (await commune.call(clerk, "GET", "/tickets"))[1]["tickets"]]
        assert listed == [lamp]
        for method, path in (("GET", ""), ("POST", "/accept"), ("GET", "/media/0")):
            got, body = await commune.call(clerk, method, f"/tickets/{code}{path}")
            assert (
                got == 404
                and body == (await commune.call(clerk, method, f"/tickets/{NOT_THERE}{path}"))[1]
            )
        # nor is it reached as the original of a duplicate
        got, body = await commune.call(clerk, "POST", f"/tickets/{lamp}/duplicate", {"of": code})
        assert got == 400 and "of:" in body["error"]
        _, summary = await commune.call(clerk, "GET", "/tickets/summary")
        assert code not in str(summary)
        # its office and the leaders do
        assert (await commune.call(police, "POST", f"/tickets/{code}/accept"))[0] == 200
        listed = [t["code"] for t in (await commune.call(leader, "GET", "/tickets"))[1]["tickets"]]
        assert set(listed) == {code, lamp}

        # the command line asks the same rule
        config = tmp_path / "config.yml"
        config.write_text(
            yaml.safe_dump(running.settings.model_dump(mode="json"), allow_unicode=True),
            encoding="utf-8",
        )
        async with running.services.sm() as s:
            clerk_id = (
                await s.execute(select(Staff.id).where(Staff.office == "vanphong"))
            ).scalar_one()

        async def bot(*args: str) -> tuple[int, str, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "--config",
                str(config),
                "tickets",
                *args,
                "--commune",
                CODE,
                "--staff-id",
                str(clerk_id),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
            return proc.returncode, out.decode(), err.decode()

        rc, out, _ = await bot("list")
        assert rc == 0 and lamp in out and code not in out
        rc, out, err = await bot("show", code)
        assert rc == 2 and out == "" and "not found" in err


async def test_a_commune_where_one_officer_covers_everything(store_url, sim):
    running = await start_service(
        make_settings(
            store_url, sim, commune_extra={**OFFICES, "sensitive_tickets": "all_officers"}
        ),
        sim,
    )
    try:
        async with aiohttp.ClientSession() as http:
            commune = Commune(running, http)
            clerk = await commune.hire("officer", office="vanphong")
            code = await commune.report("8841", "có trộm đang cạy cửa nhà ở Bản Phố", "không")
            got, ticket = await commune.call(clerk, "GET", f"/tickets/{code}")
            assert got == 200 and ticket["category"]["code"] == "security"
            assert (await commune.call(clerk, "POST", f"/tickets/{code}/accept"))[0] == 200
    finally:
        await running.runner.cleanup()


async def test_only_a_leader_cancels_an_emergency_or_a_sent_notice(running):
    async with aiohttp.ClientSession() as http:
        desk = Desk(running, http)
        officer, leader = await desk.hire("officer"), await desk.hire("leader")
        await Commune(running, http).says("8851", "xin chào")  # someone to send to

        # the leader's emergency: the officer may not cancel it, at any stage
        _, draft = await desk.call(leader, "POST", "", dict(NOTICE, priority="emergency"))
        got, body = await desk.call(officer, "POST", f"/{draft['id']}/cancel")
        assert got == 403 and "lãnh đạo" in body["error"]
        assert (await desk.call(leader, "POST", f"/{draft['id']}/publish"))[0] == 200
        await wait_status(desk, leader, draft["id"], "sent")
        assert (await desk.call(officer, "POST", f"/{draft['id']}/cancel"))[0] == 403
        _, audit = await desk.call(leader, "GET", f"/{draft['id']}")
        assert audit["status"] == "sent" and "cancel" not in [a["action"] for a in audit["audit"]]
        assert (await desk.call(leader, "POST", f"/{draft['id']}/cancel"))[0] == 200

        # a routine notice already sent: a leader's decision too
        _, sent = await desk.call(officer, "POST", "", NOTICE)
        await desk.submit_and_approve(leader, sent["id"], submitter=officer)
        await wait_status(desk, leader, sent["id"], "sent")
        assert (await desk.call(officer, "POST", f"/{sent['id']}/cancel"))[0] == 403
        # what has not gone out an officer may still cancel, their own emergency draft too
        _, mine = await desk.call(officer, "POST", "", dict(NOTICE, priority="emergency"))
        assert (await desk.call(officer, "POST", f"/{mine['id']}/cancel"))[0] == 200
        _, later = await desk.call(
            officer, "POST", "", dict(NOTICE, send_at="2099-01-01T08:00:00+07:00")
        )
        await desk.submit_and_approve(leader, later["id"], submitter=officer)
        got, body = await desk.call(officer, "POST", f"/{later['id']}/cancel")
        assert got == 200 and body["status"] == "cancelled"


# -- Open311 filing ----------------------------------------------------------------------------
async def test_open311_filing_takes_an_officers_or_leaders_key_in_a_header(running):
    url = f"{running.url}/open311/v2/requests.json"
    keys = {}
    async with running.services.sm() as s, s.begin():
        for role in ("officer", "leader", "propagandist", "operator"):
            _, keys[role] = await add_staff(
                s, CODE, role, role, "Nậm Mòn" if role == "propagandist" else None
            )
    form = {
        "jurisdiction_id": CODE,
        "service_code": "road",
        "address_string": "Nậm Mòn",
        "description": "Ổ gà",
    }

    async def count() -> int:
        async with running.services.sm() as s:
            return (await s.execute(select(func.count()).select_from(Ticket))).scalar_one()

    async with aiohttp.ClientSession() as http:
        # in the query string the key would sit in proxies' and servers' logs: refused
        async with http.post(url, params={"api_key": keys["leader"]}, data=form) as r:
            body = await r.json()
            assert r.status == 400 and "query string" in body[0]["description"]
        for role in ("propagandist", "operator"):
            async with http.post(url, data={**form, "api_key": keys[role]}) as r:
                body = await r.json()
                assert r.status == 403 and "officer" in body[0]["description"], role
            async with http.post(url, data=form, headers={"X-API-Key": keys[role]}) as r:
                assert r.status == 403, role
        assert await count() == 0
        async with http.post(url, data=form, headers={"X-API-Key": keys["officer"]}) as r:
            assert r.status == 201, await r.text()
        async with http.post(
            url, data=form, headers={"Authorization": f"Bearer {keys['leader']}"}
        ) as r:
            assert r.status == 201, await r.text()
            [created] = await r.json()
        assert re.fullmatch(r"PA-\d{4}-\d{6}", created["service_request_id"])
        assert await count() == 2


def test_one_masking_function_for_every_public_text():
    """Each kind of personal number or address, as residents write them."""
    from bot.feedback.masking import anonymise

    cases = {
        "gọi 0912 345 678 hoặc 0214.3880.123": "gọi *** hoặc ***",
        "mail an.nguyen+xa@example.gov.vn nhé": "mail *** nhé",
        "CCCD 001234567890, CMND 123456789": "CCCD ***, CMND ***",
        "số căn cước 001 234 567 890": "số căn cước ***",
        "CCCD: 001-234-567-890": "CCCD: ***",
        "gọi (0214) 3880 123 giờ hành chính": "gọi *** giờ hành chính",
        "hỗ trợ 100.000.000 đồng cho 12 hộ năm 2026": "hỗ trợ 100.000.000 đồng cho 12 hộ năm 2026",
    }
    for given, shown in cases.items():
        assert anonymise(given) == shown, given
