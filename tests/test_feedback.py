"""Residents' feedback through the real path: a resident's Zalo messages in (simulator →
webhook), the staff JSON API, and what the simulator records as sent to the resident and to
staff; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.store.models import Conversation, Resident, Ticket, TicketEvent
from bot.timeutil import utcnow
from tests.helpers import (
    CODE,
    CODE2,
    LEADER_ZALO,
    OA,
    PROPAGANDIST_ZALO,
    ticket_code,
    wait_for,
)


async def test_emergency_report_from_chat_to_rating(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    await commune.hire("propagandist", village="Nậm Mòn", zalo=PROPAGANDIST_ZALO)
    sim, user = commune.running.sim, "8001"

    # the words give category (landslide: disaster), village and description: an emergency is
    # filed at once, anonymous, and consent to keep name and phone is asked after (a road
    # blocked with nobody at risk would be asked about first: tests/test_triage.py)
    done = await commune.says(
        user, "đường thôn Nậm Mòn bị sạt lở, đất đá vùi một góc nhà, cả nhà còn ở trong"
    )
    code = ticket_code(done)
    assert re.fullmatch(r"PA-20\d\d-000001", code)
    # the emergency deadline is hours away: today, or tomorrow when filed late in the evening
    assert re.search(r"trong ngày hôm nay \(trước \d\d:\d\d\)|trước \d\d:\d\d ngày mai", done)
    assert "112" in done and f"{code} sao rồi" in done
    assert "đồng ý cho xã lưu tên và số điện thoại" in done and "2. Gửi ẩn danh" in done
    assert "Cán bộ sẽ liên hệ" in await commune.says(user, "đồng ý")

    # the leader (emergency) and the village's propagandist are told, without the reporter
    [alert] = await commune.alerts(LEADER_ZALO, 1)
    assert alert.startswith("KHẨN") and code in alert
    [relay] = await commune.alerts(PROPAGANDIST_ZALO, 1)
    assert "Nậm Mòn" in relay and code in relay and "sạt lở" in relay

    # the propagandist adds what they know, from the chat
    thanks = await commune.says(PROPAGANDIST_ZALO, f"{code}: đã ra xem, sạt khoảng 10 m")
    assert "đã ghi thêm" in thanks

    status = await commune.says(user, f"{code.lower()} sao rồi")
    assert code in status and "Thiên tai" in status and "đã tiếp nhận" in status

    before = len(sim.messages(OA, user))
    got, body = await commune.call(leader, "POST", f"/tickets/{code}/accept")
    assert got == 200 and body["status"] == "in_progress", body
    assert "đã tiếp nhận và đang xử lý" in await commune.replies_after(user, before)

    before = len(sim.messages(OA, user))
    got, body = await commune.call(
        leader,
        "POST",
        f"/tickets/{code}/answer",
        {"note": "Xã đã cho máy xúc dọn đất đá, đường đã thông."},
    )
    assert got == 200 and body["status"] == "answered"
    answer = await commune.replies_after(user, before)
    assert "đường đã thông" in answer and "hài lòng" in answer

    rated = await commune.says(user, "5")
    assert "5/5" in rated
    _, body = await commune.call(leader, "GET", f"/tickets/{code}")
    assert body["status"] == "closed" and body["rating"] == 5
    actions = [h["action"] for h in body["history"]]
    assert actions == ["create", "consent", "note", "accept", "answer", "rate"], actions
    assert body["history"][2]["note"] == "đã ra xem, sạt khoảng 10 m"
    assert all(h["message"]["status"] == "sent" for h in body["history"] if h["message"])
    assert body["reporter"]["consent_at"] and "anonymous" not in body["reporter"]


async def test_the_form_asks_what_is_missing_and_anonymous_stays_anonymous(commune):
    officer = await commune.hire("officer", office="diachinh")
    other = await commune.hire("officer", office="vanphong")
    sim, user = commune.running.sim, "8002"

    ask = await commune.says(user, "tôi muốn phản ánh")
    assert "thuộc loại nào" in ask and "1. Đường sá, cầu cống" in ask
    ask = await commune.says(user, "/report category road")
    assert "thôn/bản nào" in ask and "2. Bản Phố" in ask
    ask = await commune.says(user, "2")  # typed number: the second village
    assert "mô tả ngắn" in ask
    ask = await commune.says(user, "ổ gà lớn trước nhà văn hóa, xe máy ngã mấy lần rồi")
    assert "gửi một ảnh hoặc vị trí" in ask
    before = len(sim.messages(OA, user))
    await sim.user_sends(OA, user, "user_send_image", url="https://example.org/o-ga.jpg")
    ask = await commune.replies_after(user, before)
    assert "đồng ý cho xã lưu tên" in ask
    done = await commune.says(user, "không, gửi ẩn danh")
    code = ticket_code(done)
    assert "ẩn danh" in done and "trước 17:00 ngày" in done

    # road × Bản Phố → the land office (routing rule); the reporter stays unknown to all
    got, body = await commune.call(officer, "GET", f"/tickets/{code}")
    assert got == 200 and body["office"]["code"] == "diachinh"
    assert body["village"] == "Bản Phố" and body["category"]["code"] == "road"
    assert body["media"] == [{"type": "image", "url": "https://example.org/o-ga.jpg"}]
    assert body["reporter"] == {"anonymous": True}
    _, mine = await commune.call(officer, "GET", "/tickets?office=mine")
    assert [t["code"] for t in mine["tickets"]] == [code]
    _, theirs = await commune.call(other, "GET", "/tickets?office=mine")
    assert theirs["tickets"] == []

    # "hủy" leaves the form and files nothing
    await commune.says(user, "gửi phản ánh")
    assert "đã hủy" in await commune.says(user, "hủy")
    _, all_ = await commune.call(officer, "GET", "/tickets")
    assert len(all_["tickets"]) == 1


async def test_something_else_asked_mid_form_is_answered_and_the_form_waits(commune):
    """A resident in the middle of a report asks the hours, or says something that is not an
    answer: the question is answered and the form's question asked again; a village that
    still does not come does not hold the report up."""
    officer = await commune.hire("officer")
    sim, user = commune.running.sim, "8012"
    ask = await commune.says(user, "nhà tôi mất điện từ sáng đến giờ")
    assert "thôn/bản nào" in ask
    said = await commune.says(user, "uy ban xa lam viec may gio")
    assert "7:30" in said and said.index("7:30") < said.index("đang gửi dở")
    assert "thôn/bản" in said.split("đang gửi dở")[1]  # asked again, last
    before = len(sim.messages(OA, user))  # a photo now: acknowledged, the question stays
    await sim.user_sends(OA, user, "user_send_image", url="https://example.org/dien.jpg")
    said = await commune.replies_after(user, before)
    assert "đã nhận ảnh" in said and "thôn/bản" in said
    said = await commune.says(user, "đồng ý")  # not a village: asked once more, plainly
    assert "bấm chọn thôn/bản" in said
    said = await commune.says(user, "vâng")  # still none: the report goes on without it
    assert "đồng ý cho xã lưu tên" in said
    code = ticket_code(await commune.says(user, "gửi ẩn danh"))
    _, ticket = await commune.call(officer, "GET", f"/tickets/{code}")
    assert ticket["village"] is None and ticket["category"]["code"] == "utilities"
    assert ticket["media"] == [{"type": "image", "url": "https://example.org/dien.jpg"}]


async def test_a_question_asked_at_the_photo_step_is_not_taken_into_the_report(commune):
    officer = await commune.hire("officer")
    user = "8013"
    assert "gửi một ảnh" in await commune.says(user, "đèn đường ở thôn Nậm Mòn bị hỏng")
    said = await commune.says(user, "ủy ban ở đâu")
    assert "0214 000 001" in said and "gửi một ảnh" in said.split("đang gửi dở")[1]
    assert "đồng ý cho xã lưu tên" in await commune.says(user, "bỏ qua")
    code = ticket_code(await commune.says(user, "không"))
    _, ticket = await commune.call(officer, "GET", f"/tickets/{code}")
    assert ticket["description"] == "đèn đường ở thôn Nậm Mòn bị hỏng"


async def test_reporter_identity_only_for_those_who_need_it(commune):
    leader = await commune.hire("leader")
    police = await commune.hire("officer", office="congan")
    clerk = await commune.hire("officer", office="vanphong")
    propagandist = await commune.hire("propagandist", village="Bản Phố")
    user = "8003"
    await commune.shared_info(user, "Lò Văn A", "0912345678")
    # a burglary under way is an emergency (a theft last night is not: issue 10)
    code = await commune.report(user, "có trộm đang cạy cửa nhà ở Bản Phố", "đồng ý")

    _, seen = await commune.call(police, "GET", f"/tickets/{code}")
    assert seen["office"]["code"] == "congan" and seen["emergency"] is True
    assert seen["reporter"]["name"] == "Lò Văn A" and seen["reporter"]["phone"] == "0912345678"
    assert (await commune.call(leader, "GET", f"/tickets/{code}"))[1]["reporter"]["phone"]
    # a report to the police (sensitive) is not for another office, nor the village head
    assert (await commune.call(clerk, "GET", f"/tickets/{code}"))[0] == 404
    assert (await commune.call(propagandist, "GET", f"/tickets/{code}"))[0] == 404
    assert (await commune.call(propagandist, "GET", "/tickets"))[1]["tickets"] == []

    lamp = await commune.report(user, "đèn đường hỏng cả tuần ở Bản Phố", "bỏ qua", "đồng ý")
    got, view = await commune.call(propagandist, "GET", f"/tickets/{lamp}")
    assert got == 200 and view["reporter"] == {"hidden": True}
    assert (await commune.call(clerk, "GET", f"/tickets/{lamp}"))[1]["reporter"] == {
        "hidden": True
    }  # another office's officer reads the matter, not who told it
    # a propagandist can note, not act
    assert (await commune.call(propagandist, "POST", f"/tickets/{lamp}/accept"))[0] == 403
    assert (await commune.call(propagandist, "POST", f"/tickets/{lamp}/note", {}))[0] == 400
    got, noted = await commune.call(
        propagandist, "POST", f"/tickets/{lamp}/note", {"note": "cột đèn thứ ba từ đầu bản"}
    )
    assert got == 200 and noted["history"][-1]["note"] == "cột đèn thứ ba từ đầu bản"


async def test_staff_actions_reach_the_resident_and_bad_input_changes_nothing(commune):
    leader = await commune.hire("leader")
    officer = await commune.hire("officer", office="vanphong")
    sim, user = commune.running.sim, "8004"
    first = await commune.report(user, "phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
    second = await commune.report(user, "phản ánh rác thải ở bãi sông Nậm Mòn")

    async def history(code: str) -> list[str]:
        return [
            h["action"]
            for h in (await commune.call(leader, "GET", f"/tickets/{code}"))[1]["history"]
        ]

    # bad input: clear error, nothing changes
    assert (await commune.call(leader, "POST", f"/tickets/{first}/return"))[0] == 400
    assert (await commune.call(leader, "POST", f"/tickets/{first}/close"))[0] == 409
    assert (
        await commune.call(leader, "POST", f"/tickets/{first}/transfer", {"office": "khongco"})
    )[0] == 400
    assert (await commune.call(leader, "POST", f"/tickets/{first}/fly"))[0] == 404
    assert (
        await commune.call(leader, "POST", f"/tickets/{first}/answer", {"note": "x", "extra": 1})
    )[0] == 400
    assert await history(first) == ["create"]

    # assign → the resident hears; transfer between offices is internal
    _, staff_list = await commune.call(officer, "GET", f"/tickets/{first}")
    officer_id = (await commune.call(officer, "POST", f"/tickets/{first}/accept"))[1]["assignee"][
        "id"
    ]
    before = len(sim.messages(OA, user))
    got, body = await commune.call(leader, "POST", f"/tickets/{second}/duplicate", {"of": first})
    assert got == 200 and body["status"] == "duplicate" and body["duplicate_of"] == first
    assert first in await commune.replies_after(user, before)

    before = len(sim.messages(OA, user))
    await commune.call(
        leader,
        "POST",
        f"/tickets/{first}/answer",
        {"note": "Đã thu gom rác, nhắc các hộ đổ đúng giờ. Liên hệ 0912345678."},
    )
    text = await commune.replies_after(user, before)
    assert text.count("Đã thu gom rác") == 2  # the ticket and its duplicate
    got, body = await commune.call(leader, "POST", f"/tickets/{first}/publish")
    assert got == 200 and "0912345678" not in body["public_answer"] and body["published_at"]
    assert body["assignee"]["id"] == officer_id

    # the resident says it is not fixed: reopened, with a new deadline
    before = len(sim.messages(OA, user))
    await sim.user_sends_text(OA, user, f"/reopen {first}")
    assert "mở lại" in await commune.replies_after(user, before)
    _, body = await commune.call(leader, "GET", f"/tickets/{first}")
    assert body["status"] == "in_progress" and body["reopened"] == 1

    # transfer to an outside body ends it for the commune; the resident is told where
    before = len(sim.messages(OA, user))
    got, body = await commune.call(
        officer, "POST", f"/tickets/{first}/transfer", {"body": "Công ty Môi trường đô thị huyện"}
    )
    assert got == 200 and body["status"] == "transferred"
    assert "Công ty Môi trường" in await commune.replies_after(user, before)


async def test_a_closed_window_is_shown_to_staff_not_dropped(commune):
    leader = await commune.hire("leader")
    user = "8005"
    code = await commune.report(
        user, "có cháy rừng ở Bản Phố, lửa lan xuống gần nhà dân", "gửi ẩn danh"
    )
    # eight days pass without a word from the resident
    async with commune.running.services.sm() as s, s.begin():
        await s.execute(
            update(Resident)
            .where(Resident.external_id == user)
            .values(last_interaction_at=utcnow() - timedelta(days=8))
        )
    commune.running.sim.advance(8 * 86400)
    got, body = await commune.call(
        leader, "POST", f"/tickets/{code}/answer", {"note": "Đã dập tắt đám cháy."}
    )
    assert got == 200 and body["chat"]["open"] is False and "7" in body["chat"]["why"]

    async def delivered():
        _, body = await commune.call(leader, "GET", f"/tickets/{code}")
        message = body["history"][-1]["message"]
        return message if message["status"] not in ("pending", "sending") else None

    message = await wait_for(delivered)
    assert message["status"] == "window_closed" and "7 ngày" in message["problem"]


async def test_handoff_on_request_and_off_when_staff_close(commune):
    officer = await commune.hire("officer", office="vanphong")
    sim, user = commune.running.sim, "8006"
    said = await commune.says(user, "cho tôi gặp cán bộ")
    assert "đã chuyển cuộc trò chuyện cho cán bộ" in said
    await commune.quiet(user, "con tôi cần làm giấy khai sinh nhưng mất giấy chứng sinh")

    _, inbox = await commune.call(officer, "GET", "/handoffs")
    [handoff] = inbox["handoffs"]
    assert handoff["reason"] == "asked" and handoff["status"] == "open"
    _, full = await commune.call(officer, "GET", f"/handoffs/{handoff['id']}")
    texts = [m["text"] for m in full["messages"]]
    assert "cho tôi gặp cán bộ" in texts and texts[-1].startswith("con tôi cần")

    before = len(sim.messages(OA, user))
    got, body = await commune.call(
        officer,
        "POST",
        f"/handoffs/{handoff['id']}/reply",
        {"text": "Anh/chị mang giấy xác nhận của trạm y tế đến xã."},
    )
    assert got == 200 and body["reaches_resident"] is True
    assert "trạm y tế" in await commune.replies_after(user, before)
    assert (await commune.call(officer, "POST", f"/handoffs/{handoff['id']}/reply", {"text": ""}))[
        0
    ] == 400

    before = len(sim.messages(OA, user))
    got, _ = await commune.call(officer, "POST", f"/handoffs/{handoff['id']}/close")
    assert got == 200
    assert (await commune.call(officer, "POST", f"/handoffs/{handoff['id']}/close"))[0] == 409
    assert "kết thúc" in await commune.replies_after(user, before)  # told, before asking again
    assert "7:30" in await commune.says(user, "uy ban lam viec may gio")  # the bot is back
    _, inbox = await commune.call(officer, "GET", "/handoffs")
    assert inbox["handoffs"] == []


async def test_two_misses_hand_the_conversation_over(commune):
    user = "8007"
    first = await commune.says(user, "con mèo của tôi")
    assert "chưa chắc đã hiểu" in first
    second = await commune.says(user, "xyz qwe")
    assert "chưa hiểu ý" in second and "chuyển cuộc trò chuyện" in second
    async with commune.running.services.sm() as s:
        conv = (
            await s.execute(
                select(Conversation)
                .join(Resident, Resident.id == Conversation.resident_id)
                .where(Resident.external_id == user)
            )
        ).scalar_one()
        assert conv.mode == "handoff"


async def test_another_communes_staff_get_404(commune):
    theirs = await commune.hire("leader", code=CODE2)
    ours = await commune.hire("leader")
    code = await commune.report("8008", "đèn đường hỏng ở Nậm Mòn")
    assert (await commune.call(ours, "GET", f"/tickets/{code}"))[0] == 200
    assert (await commune.call(theirs, "GET", f"/tickets/{code}"))[0] == 404
    assert (await commune.call(theirs, "GET", f"/tickets/{code}", code=CODE2))[0] == 404
    assert (
        await commune.call(theirs, "POST", f"/tickets/{code}/answer", {"note": "x"}, code=CODE2)
    )[0] == 404
    assert (await commune.call(theirs, "GET", "/tickets", code=CODE2))[1]["tickets"] == []
    assert (await commune.call(None, "GET", f"/tickets/{code}"))[0] == 401


async def test_the_clock_sends_progress_warns_and_escalates(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    officer = await commune.hire("officer", office="diachinh", zalo="7003")
    sim, user = commune.running.sim, "8009"
    code = await commune.report(user, "tranh chấp đất với nhà bên cạnh ở Nậm Mòn")
    clock = commune.running.services.sla

    async def passes(column: str) -> None:
        """The time in ``column`` of the ticket is reached; the clock looks (twice: once)."""
        async with commune.running.services.sm() as s, s.begin():
            await s.execute(
                update(Ticket)
                .where(Ticket.code == code)
                .values({column: utcnow() - timedelta(minutes=1)})
            )
        await clock.run_once()
        await clock.run_once()

    # seven working days pass: the resident hears how it goes
    async with commune.running.services.sm() as s, s.begin():
        await s.execute(
            update(Ticket)
            .where(Ticket.code == code)
            .values(next_progress_at=utcnow() - timedelta(minutes=1))
        )
    before = len(sim.messages(OA, user))
    assert await clock.run_once() == 1
    assert "vẫn đang xử lý" in await commune.replies_after(user, before)
    assert await clock.run_once() == 0  # once

    # the deadline comes near, then passes: leader and the office are alerted, once each
    await passes("warn_at")
    [warn] = await commune.alerts(LEADER_ZALO, 1)
    assert warn.startswith("Sắp đến hạn") and code in warn
    await passes("due_at")
    overdue = await commune.alerts(LEADER_ZALO, 2)
    assert overdue[1].startswith("QUÁ HẠN") and len(sim.messages(OA, LEADER_ZALO)) == 3
    to_office = await commune.alerts("7003", 2)
    assert to_office[-1].startswith("QUÁ HẠN")

    _, summary = await commune.call(leader, "GET", "/tickets/summary")
    assert summary["overdue"] == [code] and summary["by_status"] == {"received": 1}
    _, listed = await commune.call(officer, "GET", "/tickets?overdue=1")
    assert [t["code"] for t in listed["tickets"]] == [code] and listed["tickets"][0]["overdue"]
    async with commune.running.services.sm() as s:
        actions = (
            (
                await s.execute(
                    select(TicketEvent.action)
                    .join(Ticket)
                    .where(Ticket.code == code)
                    .order_by(TicketEvent.id)
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["create", "progress", "warn", "overdue"]

    # nobody took it up by the day the resident must hear whether it is accepted
    await passes("ack_due_at")
    unacked = await commune.alerts(LEADER_ZALO, 3)
    assert unacked[2].startswith("Chưa thụ lý") and len(sim.messages(OA, LEADER_ZALO)) == 4


async def test_staff_file_a_report_taken_by_phone(commune):
    officer = await commune.hire("officer", office="vanphong")
    got, body = await commune.call(
        officer,
        "POST",
        "/tickets",
        {
            "category": "utilities",
            "description": "Mất nước 3 ngày ở Bản Phố",
            "village": "ban pho",
            "name": "Bà Lù Thị B",
            "phone": "0987000111",
            "consent": True,
        },
    )
    assert got == 201 and body["source"] == "staff" and body["village"] == "Bản Phố"
    assert body["reporter"]["phone"] == "0987000111" or body["reporter"] == {"hidden": True}
    bad = await commune.call(
        officer, "POST", "/tickets", {"category": "weather", "description": "mưa"}
    )
    assert bad[0] == 400
    assert len((await commune.call(officer, "GET", "/tickets"))[1]["tickets"]) == 1


async def test_staff_act_from_the_command_line(commune, tmp_path):
    import json
    import sys

    import yaml

    leader = await commune.hire("leader")
    async with commune.running.services.sm() as s:
        from bot.store.models import Staff

        leader_id = (await s.execute(select(Staff.id).where(Staff.role == "leader"))).scalar()
    user = "8010"
    code = await commune.report(user, "cống bị tắc ngập đường ở Nậm Mòn")
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(commune.running.settings.model_dump(mode="json"), allow_unicode=True),
        encoding="utf-8",
    )

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
            str(leader_id),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode, out.decode(), err.decode()

    rc, out, _ = await bot("list")
    assert rc == 0 and code in out and "received" in out
    sim = commune.running.sim
    before = len(sim.messages(OA, user))
    rc, out, err = await bot("act", code, "answer", "--note", "Đã nạo vét cống.")
    assert rc == 0, err
    assert json.loads(out)["status"] == "answered"
    assert "Đã nạo vét cống" in await commune.replies_after(user, before)
    rc, _, err = await bot("act", code, "answer")
    assert rc == 2 and "note" in err  # an answer needs its text; nothing changed
    rc, out, _ = await bot("show", code)
    assert [h["action"] for h in json.loads(out)["history"]] == ["create", "answer"]
    assert leader


async def test_withdrawing_consent_erases_the_reporter_from_tickets(commune):
    leader = await commune.hire("leader")
    user = "8011"
    await commune.shared_info(user, "Hà Thị C", "0977000222")
    code = await commune.report(user, "có dịch gà chết nhiều ở Nậm Mòn", "đồng ý")
    assert (await commune.call(leader, "GET", f"/tickets/{code}"))[1]["reporter"][
        "phone"
    ] == "0977000222"
    await commune.running.sim.user_sends(OA, user, "user_withdraw")

    async def erased():
        _, body = await commune.call(leader, "GET", f"/tickets/{code}")
        return body if body["reporter"].get("phone") is None else None

    body = await wait_for(erased)
    assert body["reporter"]["name"] is None and body["description"]  # the matter stays


@pytest.mark.parametrize(
    "steps",
    [
        [
            ("assign", "đã được giao cán bộ"),
            ("accept", "đã tiếp nhận và đang xử lý"),
            ("answer", "xã trả lời"),
            ("close", "đã hoàn thành"),
        ],
        [("return", "trả lại phản ánh vì: cần ghi rõ địa điểm")],
        [("reject", "không thụ lý phản ánh này vì: việc dân sự")],
    ],
)
async def test_every_state_change_reaches_the_resident(commune, steps):
    leader = await commune.hire("leader")
    officer = await commune.hire("officer", office="vanphong")
    async with commune.running.services.sm() as s:
        from bot.store.models import Staff

        officer_id = (await s.execute(select(Staff.id).where(Staff.role == "officer"))).scalar()
    user = "8012"
    code = await commune.report(
        user, "karaoke ồn ào tới khuya ở Bản Phố", "/report category other", "bỏ qua", "không"
    )
    bodies = {
        "assign": {"staff_id": officer_id},
        "answer": {"note": "Đã nhắc nhở hộ gia đình."},
        "return": {"note": "cần ghi rõ địa điểm"},
        "reject": {"note": "việc dân sự"},
    }
    for action, words in steps:
        before = len(commune.running.sim.messages(OA, user))
        got, body = await commune.call(
            leader, "POST", f"/tickets/{code}/{action}", bodies.get(action)
        )
        assert got == 200, body
        assert words in await commune.replies_after(user, before), action
    assert officer


async def test_a_staff_reply_past_the_window_says_it_cannot_reach(commune):
    officer = await commune.hire("officer", office="vanphong")
    user = "8013"
    await commune.says(user, "cho tôi gặp cán bộ")
    async with commune.running.services.sm() as s, s.begin():
        await s.execute(
            update(Resident)
            .where(Resident.external_id == user)
            .values(last_interaction_at=utcnow() - timedelta(days=8))
        )
    commune.running.sim.advance(8 * 86400)
    [handoff] = (await commune.call(officer, "GET", "/handoffs"))[1]["handoffs"]
    got, body = await commune.call(
        officer, "POST", f"/handoffs/{handoff['id']}/reply", {"text": "Dạ, xã đã nhận được."}
    )
    assert got == 200 and body["reaches_resident"] is False and "7 ngày" in body["problem"]

    async def outcome():
        _, full = await commune.call(officer, "GET", f"/handoffs/{handoff['id']}")
        [reply] = full["staff_replies"]
        return reply if reply["status"] not in ("pending", "sending") else None

    reply = await wait_for(outcome)
    assert reply["status"] == "window_closed" and reply["text"] == "Dạ, xã đã nhận được."


async def test_staff_hear_of_a_handoff_and_an_emergency_still_gets_through(commune):
    officer = await commune.hire("officer", office="vanphong", zalo="7004")
    user = "8014"
    assert "chuyển cuộc trò chuyện" in await commune.says(user, "cho tôi gặp cán bộ")
    [alert] = await commune.alerts("7004", 1)
    assert "đang chờ cán bộ" in alert and "muốn gặp cán bộ" in alert
    await commune.quiet(user, "tôi muốn hỏi về đất nhà tôi")
    # a fire is not left waiting for office hours
    urgent = await commune.says(user, "cháy nhà hàng xóm ở Bản Phố rồi, khói đen đầy trời")
    code = ticket_code(urgent)
    assert "114" in urgent
    got, ticket = await commune.call(officer, "GET", f"/tickets/{code}")
    assert got == 200 and ticket["category"]["code"] == "fire" and ticket["emergency"]
    assert ticket["village"] == "Bản Phố"  # the words name it, as outside a handoff
    # the chat view for staff shows neither the report's words (it may be anonymous, or of a
    # category only its office reads) nor the bot's answer with the code
    [handoff] = (await commune.call(officer, "GET", "/handoffs"))[1]["handoffs"]
    _, full = await commune.call(officer, "GET", f"/handoffs/{handoff['id']}")
    assert all("Mã phản ánh" not in (m["text"] or "") for m in full["messages"])
    assert all("khói đen" not in (m["text"] or "") for m in full["messages"])
    assert any(m["text"] == "tôi muốn hỏi về đất nhà tôi" for m in full["messages"])


async def test_a_number_typed_later_is_not_taken_as_a_rating(commune):
    leader = await commune.hire("leader")
    user = "8015"
    code = await commune.report(user, "đèn đường hỏng ở Nậm Mòn")
    await commune.call(leader, "POST", f"/tickets/{code}/answer", {"note": "Đã thay bóng."})
    await commune.replies_after(user, 0)
    # the resident starts another report instead of rating: "3" picks the third category
    await commune.says(user, "tôi muốn phản ánh")
    assert "thôn/bản nào" in await commune.says(user, "3")
    _, body = await commune.call(leader, "GET", f"/tickets/{code}")
    assert body["status"] == "answered" and body["rating"] is None


async def test_withdrawal_ends_a_handoff(commune):
    officer = await commune.hire("officer", office="vanphong")
    user = "8016"
    await commune.says(user, "cho tôi gặp cán bộ")
    await commune.running.sim.user_sends(OA, user, "user_withdraw")

    async def closed():
        return (await commune.call(officer, "GET", "/handoffs"))[1]["handoffs"] == []

    await wait_for(closed)
    assert "7:30" in await commune.says(user, "uy ban lam viec may gio")
