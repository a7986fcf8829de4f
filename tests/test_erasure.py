"""Erasure (issue 10, docs/privacy.md): a resident asks in the chat — on Zalo or the web chat —
and confirms; staff erase one who asked, from the API or the command line. Each test files real
reports through the real path, erases, then searches every text column of every table for the
words the resident wrote."""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp
import pytest
import yaml
from sqlalchemy import JSON, String, Text, cast, func, select

from bot.privacy import ERASED
from bot.store.models import Base, Erasure, Resident, Staff, Ticket, Upload
from tests.helpers import (
    CODE,
    CODE2,
    JPEG,
    LEADER_ZALO,
    OA,
    OFFICES,
    PROPAGANDIST_ZALO,
    Commune,
    Visitor,
    make_settings,
    start_service,
    text,
    ticket_code,
    wait_for,
)

MARK, NOTE = "ZQXMARK41", "ZQXNOTE42"  # ASCII: found in JSON columns as stored by SQLite too
NAME, PHONE = "Lo Van Zeb", "0977000333"


@pytest.fixture
async def commune(store_url, sim):
    running = await start_service(make_settings(store_url, sim, commune_extra=OFFICES), sim)
    async with aiohttp.ClientSession() as http:
        yield Commune(running, http)
    await running.runner.cleanup()


async def holding(sm, *needles: str) -> list[str]:  # type: ignore[no-untyped-def]
    """``table.column`` of every stored text (strings, JSON) that still holds a needle."""
    found = []
    async with sm() as s:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (String, Text, JSON)):
                    continue
                for needle in needles:
                    n = (
                        await s.execute(
                            select(func.count())
                            .select_from(table)
                            .where(cast(column, Text).like(f"%{needle}%"))
                        )
                    ).scalar_one()
                    if n:
                        found.append(f"{table.name}.{column.name}:{needle}")
    return found


async def erasures(sm) -> list[Erasure]:  # type: ignore[no-untyped-def]
    async with sm() as s:
        return list((await s.execute(select(Erasure).order_by(Erasure.id))).scalars())


async def test_a_resident_erases_themself_on_zalo_after_confirming(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    await commune.hire("propagandist", village="Nậm Mòn", zalo=PROPAGANDIST_ZALO)
    sm, user = commune.running.services.sm, "8101"
    await commune.shared_info(user, NAME, PHONE)
    code = ticket_code(
        await commune.says(  # an emergency: the leader is alerted at once
            user, f"đường thôn Nậm Mòn bị sạt lở, đất đá vùi một góc nhà, cả nhà còn ở trong {MARK}"
        )
    )
    await commune.says(user, "đồng ý")  # name and phone kept with the report
    [alert] = await commune.alerts(LEADER_ZALO, 1)
    assert MARK in alert  # the leader's alert quotes the resident's words
    [relay] = await commune.alerts(PROPAGANDIST_ZALO, 1)
    assert MARK in relay
    assert "đã ghi thêm" in await commune.says(PROPAGANDIST_ZALO, f"{code}: đã ra xem {NOTE}")

    # asked in any wording: one question, two quick replies; "Không" erases nothing
    asked = await commune.says(user, "xoa du lieu cua toi")
    assert "không khôi phục" in asked and "1. Đồng ý xóa" in asked and "2. Không" in asked
    assert "không xóa gì" in await commune.says(user, "Không")
    # asked again, then something else: answered as usual, nothing erased
    assert "1. Đồng ý xóa" in await commune.says(user, "tôi muốn xóa hết dữ liệu")
    assert "làm việc" in await commune.says(user, "giờ làm việc của xã")
    assert await holding(sm, MARK, NOTE, NAME, PHONE)
    assert await erasures(sm) == []
    _, before = await commune.call(leader, "GET", f"/tickets/{code}")
    assert before["reporter"]["phone"] == PHONE and before["description"].endswith(MARK)

    assert "1. Đồng ý xóa" in await commune.says(user, "xóa thông tin của tôi")
    done = await commune.says(user, "1")  # the first quick reply, by its number
    assert "đã xóa thông tin của anh/chị" in done

    assert await holding(sm, MARK, NOTE, NAME, PHONE) == []
    _, ticket = await commune.call(leader, "GET", f"/tickets/{code}")
    assert ticket["description"] == ERASED  # an anonymous record of the matter stays
    assert [ticket[k] for k in ("category", "status", "emergency", "village", "received_at")] == [
        before[k] for k in ("category", "status", "emergency", "village", "received_at")
    ]
    assert ticket["reporter"].get("phone") is None and ticket["chat"]["channel"] is None
    assert ticket["lat"] is None and ticket["media"] == []
    assert ticket["history"][-1]["action"] == "erase"
    assert all(h["note"] in (None, ERASED) for h in ticket["history"])
    [audit] = await erasures(sm)
    assert (audit.scope, audit.source, audit.tickets, audit.staff_id) == ("all", "chat", 1, None)
    async with sm() as s:
        resident = (
            await s.execute(select(Resident).where(Resident.external_id == user))
        ).scalar_one()
        assert resident.erased_at is not None and resident.village_id is None
        assert audit.resident_id == resident.id
    # the resident may write again: a new start
    assert "làm việc" in await commune.says(user, "giờ làm việc")


async def test_a_web_chat_resident_erases_their_report_photo_and_phone(store_url, sim):
    running = await start_service(make_settings(store_url, sim), sim)
    tab = Visitor(running.url)
    sm = running.services.sm
    try:
        await tab.open()
        await tab.says(f"phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi {MARK}")
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
        code = ticket_code(text(await tab.says("đồng ý")))
        assert "0912 345 678" in text(await tab.says("0912345678"))
        assert await count(sm, Upload) == 1 and await holding(sm, MARK, "0912345678")
        async with sm() as s:
            category = (await s.execute(select(Ticket.category))).scalar_one()

        asked = await tab.says("Xóa thông tin của tôi")
        assert [o["payload"] for o in asked[-1]["options"]] == ["/erase yes", "/erase no"]
        assert [o["title"] for o in asked[-1]["options"]] == ["Đồng ý xóa", "Không"]
        assert "đã xóa thông tin" in text(await tab.says("Đồng ý xóa", payload="/erase yes"))

        assert await holding(sm, MARK, "0912345678", "22.5352", uploaded["upload"]) == []
        assert await count(sm, Upload) == 0  # the photo's bytes are gone
        async with sm() as s:
            ticket = (await s.execute(select(Ticket).where(Ticket.code == code))).scalar_one()
            assert ticket.description == ERASED and ticket.lat is None and ticket.media == []
            assert ticket.resident_id is None and ticket.category == category
        # a reload shows nothing of it
        await tab.ws.close()
        history = await tab.open()
        assert MARK not in json.dumps(history, ensure_ascii=False)
        [audit] = await erasures(sm)
        assert (audit.source, audit.tickets) == ("chat", 1)
    finally:
        await tab.close()
        await running.runner.cleanup()


async def count(sm, model) -> int:  # type: ignore[no-untyped-def]
    async with sm() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_staff_erase_a_resident_on_request_leader_only_own_commune(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    officer = await commune.hire("officer", office="vanphong")
    other = await commune.hire("leader", code=CODE2)
    sm, user = commune.running.services.sm, "8102"
    await commune.shared_info(user, NAME, PHONE)
    code = await commune.report(
        user,
        f"karaoke ồn ào tới khuya ở Bản Phố {MARK}",
        "/report category other",
        "bỏ qua",
        "đồng ý",
    )
    path = f"/residents/{user}/erase"

    got, body = await commune.call(officer, "POST", path, {"confirm": True})
    assert got == 403, body
    got, body = await commune.call(leader, "POST", path, {})
    assert got == 400 and "confirm" in body["error"]
    got, body = await commune.call(leader, "POST", path, {"confirm": "yes"})
    assert got == 400
    got, _ = await commune.call(other, "POST", path, {"confirm": True})  # commune 1's path
    assert got == 404
    got, _ = await commune.call(other, "POST", path, {"confirm": True}, code=CODE2)
    assert got == 404  # no such resident in commune 2
    got, _ = await commune.call(leader, "POST", "/residents/999999/erase", {"confirm": True})
    assert got == 404
    assert await holding(sm, MARK, NAME, PHONE) and await erasures(sm) == []  # nothing changed

    got, body = await commune.call(leader, "POST", path, {"confirm": True})
    assert got == 200 and body["erased"] is True and body["tickets"] == 1, body
    assert body["erased_at"].endswith("+07:00")
    assert await holding(sm, MARK, NAME, PHONE) == []
    _, ticket = await commune.call(leader, "GET", f"/tickets/{code}")
    assert ticket["description"] == ERASED
    async with sm() as s:
        leader_id = (
            await s.execute(
                select(Staff.id).where(Staff.role == "leader", Staff.zalo_user_id == LEADER_ZALO)
            )
        ).scalar_one()
    [audit] = await erasures(sm)
    assert (audit.source, audit.staff_id, audit.scope) == ("api", leader_id, "all")

    # by a ticket's code: the web chat or Zalo resident who filed it
    code2 = await commune.report(
        "8103", f"đèn đường hỏng ở Nậm Mòn {NOTE}", "/report category other", "bỏ qua", "không"
    )
    got, body = await commune.call(
        leader, "POST", f"/residents/by-ticket/{code2}/erase", {"confirm": True}
    )
    assert got == 200 and body["tickets"] == 1 and body["resident_id"]
    assert await holding(sm, NOTE) == []
    got, _ = await commune.call(
        leader, "POST", "/residents/by-ticket/PA-2020-000999/erase", {"confirm": True}
    )
    assert got == 404
    # a ticket filed by staff from a phone call: that ticket is made anonymous
    got, filed = await commune.call(
        leader,
        "POST",
        "/tickets",
        {
            "category": "road",
            "description": f"ổ gà đầu bản {MARK}",
            "village": "Bản Phố",
            "name": NAME,
            "phone": PHONE,
            "consent": True,
        },
    )
    assert got == 201, filed
    # answered and published: Open311 shows the answer, until the erasure
    await commune.call(
        leader,
        "POST",
        f"/tickets/{filed['code']}/answer",
        {"note": f"Đã vá ổ gà trước nhà {NAME} {NOTE}"},
    )
    got, _ = await commune.call(leader, "POST", f"/tickets/{filed['code']}/publish")
    assert got == 200
    public = f"{commune.running.url}/open311/v2/requests/{filed['code']}.json"
    where = {"jurisdiction_id": CODE}
    async with aiohttp.ClientSession() as http, http.get(public, params=where) as r:
        assert r.status == 200 and NOTE in await r.text()
    got, body = await commune.call(
        leader, "POST", f"/residents/by-ticket/{filed['code']}/erase", {"confirm": True}
    )
    assert got == 200 and body["resident_id"] is None
    assert await holding(sm, MARK, NAME, PHONE, NOTE) == []
    async with aiohttp.ClientSession() as http, http.get(public, params=where) as r:
        assert r.status == 200 and NOTE not in await r.text() and MARK not in await r.text()


async def test_staff_erase_from_the_command_line_needs_yes(commune, tmp_path):
    await commune.hire("leader")
    sm, user = commune.running.services.sm, "8104"
    await commune.shared_info(user, NAME, PHONE)
    code = await commune.report(user, f"cống bị tắc ngập đường ở Nậm Mòn {MARK}")
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(commune.running.settings.model_dump(mode="json"), allow_unicode=True),
        encoding="utf-8",
    )
    async with sm() as s:
        leader_id = (await s.execute(select(Staff.id).where(Staff.role == "leader"))).scalar()

    async def bot(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "--config",
            str(config),
            "resident",
            "erase",
            "--commune",
            CODE,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode, out.decode(), err.decode()

    rc, _, err = await bot("--zalo-id", user)
    assert rc == 2 and "--yes" in err
    rc, _, err = await bot("--zalo-id", "42", "--yes")
    assert rc == 2 and "not found" in err
    rc, _, err = await bot("--ticket", code, "--staff-id", "999", "--yes")
    assert rc == 2  # not a leader of this commune
    assert await holding(sm, MARK, NAME, PHONE)
    rc, out, err = await bot("--ticket", code, "--staff-id", str(leader_id), "--yes")
    assert rc == 0, err
    assert json.loads(out)["tickets"] == 1
    assert await holding(sm, MARK, NAME, PHONE) == []
    [audit] = await erasures(sm)
    assert (audit.source, audit.staff_id) == ("cli", leader_id)


async def test_withdrawing_consent_keeps_the_matter_and_records_it(commune):
    user = "8105"
    await commune.shared_info(user, NAME, PHONE)
    await commune.report(user, f"có dịch gà chết nhiều ở Nậm Mòn {MARK}", "đồng ý")
    await commune.running.sim.user_sends(OA, user, "user_withdraw")
    sm = commune.running.services.sm

    async def recorded():  # type: ignore[no-untyped-def]
        return await erasures(sm)

    [audit] = await wait_for(recorded)
    assert (audit.scope, audit.source) == ("identity", "withdraw")
    assert await holding(sm, NAME, PHONE) == []
    async with sm() as s:  # the matter stays: only who told it goes
        ticket = (await s.execute(select(Ticket))).scalar_one()
        assert MARK in ticket.description and ticket.reporter_phone is None


def test_only_a_yes_to_the_question_erases_and_the_question_leaves_a_report_form():
    from datetime import timedelta

    from bot.config import load_settings
    from bot.conversation import engine
    from bot.timeutil import utcnow

    bac_ha = load_settings("config.yml").communes[0]
    now = utcnow()
    asked = engine.respond(bac_ha, "xóa hết tt của mik đi", now=now)
    assert asked.parse.intent == "delete_my_data" and asked.effects == []
    for yes in ("/erase yes", "1", "đồng ý", "Đồng ý xóa", "yes, delete it"):
        assert engine.respond(bac_ha, yes, state=asked.state, now=now).effects == [
            {"kind": "erase"}
        ], yes
    for no in ("/erase no", "2", "không", "no"):
        kept = engine.respond(bac_ha, no, state=asked.state, now=now)
        assert kept.effects == [] and "không xóa gì" in kept.reply_text, no
    # an hour later a "yes" is not an answer to it; a tapped menu choice is not either
    later = engine.respond(bac_ha, "đồng ý", state=asked.state, now=now + timedelta(hours=2))
    assert {"kind": "erase"} not in later.effects
    other = engine.respond(bac_ha, "/office_hours", state=asked.state, now=now)
    assert other.effects == [] and other.parse.intent == "office_hours"
    for question in ("có thông báo gì mới không", "có ai trực không ạ", "giờ làm việc"):
        other = engine.respond(bac_ha, question, state=asked.state, now=now)
        assert {"kind": "erase"} not in other.effects and "không xóa gì" not in other.reply_text, (
            question
        )
    # asked in the middle of a report: the form is left, the question asked
    form = engine.respond(bac_ha, "tôi muốn phản ánh", now=now)
    assert form.state.get("report")
    asked = engine.respond(bac_ha, "xóa thông tin của tôi", state=form.state, now=now)
    assert asked.parse.intent == "delete_my_data" and "report" not in asked.state
    # a wording the NLU is less sure of ("xóa ảnh vừa gửi") leaves the form just the same, and
    # a "1" typed for another menu shown after the question never erases
    asked = engine.respond(bac_ha, "xóa ảnh vừa gửi", state=form.state, now=now)
    assert "report" not in asked.state and asked.then == []
    assert asked.state["choices"] == ["/erase yes", "/erase no"]
    menu = {**asked.state, "choices": ["/report category road", "/report category other"]}
    assert {"kind": "erase"} not in engine.respond(bac_ha, "1", state=menu, now=now).effects
    # asking for a person mid-form: staff take over, no form question follows
    staff = engine.respond(bac_ha, "cho em hỏi anh cán bộ địa chính", state=form.state, now=now)
    assert {"kind": "handoff", "reason": "asked"} in staff.effects
    assert staff.then == [] and "report" not in staff.state


async def test_while_staff_have_the_chat_the_bot_still_erases_on_request(commune):
    officer = await commune.hire("officer", office="vanphong")
    sm, user = commune.running.services.sm, "8106"
    await commune.shared_info(user, NAME, PHONE)
    assert "đã chuyển cuộc trò chuyện cho cán bộ" in await commune.says(user, "cho tôi gặp cán bộ")
    await commune.quiet(user, f"tôi cần hỏi về đất đai nhà {MARK}")  # waits for staff
    assert "2. Không" in await commune.says(user, "xóa thông tin của tôi")
    await commune.quiet(user, "đồng ý với cán bộ")  # not only agreement: staff's, no erasure
    assert await holding(sm, MARK, NAME, PHONE) and await erasures(sm) == []
    assert "2. Không" in await commune.says(user, "xoa du lieu cua toi")
    assert "đã xóa thông tin" in await commune.says(user, "Đồng ý xóa")
    assert await holding(sm, MARK, NAME, PHONE) == []
    assert (await commune.call(officer, "GET", "/handoffs"))[1]["handoffs"] == []  # closed
    [audit] = await erasures(sm)
    assert (audit.source, audit.tickets) == ("chat", 0)
