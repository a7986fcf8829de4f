"""A conversation with staff (issue 10 "Silent handoff") and a reopened ticket ("Reopen"),
through the real path: the resident's Zalo messages in, the staff API, what the simulator
records as sent. Time is driven through the store (a handoff's ``expires_at``) and the SLA
clock's ``run_once``, never by sleeping. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.config import Commune as CommuneConfig
from bot.config import FeedbackSettings
from bot.feedback import sla
from bot.feedback.intake import staff_answer_when
from bot.feedback.sla import WorkingCalendar
from bot.store.models import Handoff, Ticket
from bot.timeutil import from_vn_local, to_vn, utcnow
from tests.helpers import OA, Commune, ticket_code


async def handed_over(commune: Commune, user: str) -> str:
    said = await commune.says(user, "cho tôi gặp cán bộ")
    assert "đã chuyển cuộc trò chuyện cho cán bộ" in said, said
    return said


async def time_runs_out(commune: Commune) -> int:
    """Every open handoff's wait has run out; the clock looks (twice: once)."""
    async with commune.running.services.sm() as s, s.begin():
        await s.execute(
            update(Handoff)
            .where(Handoff.closed_at.is_(None))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    clock = commune.running.services.sla
    return await clock.run_once() + await clock.run_once()


async def test_while_with_staff_the_bot_still_answers_what_it_is_sure_of(commune):
    officer = await commune.hire("officer", office="vanphong")
    user = "8201"
    code = await commune.report(user, "đèn đường hỏng ở Nậm Mòn")
    said = await handed_over(commune, user)

    # told when a person will answer, from the working calendar
    settings = commune.running.settings
    cal = sla.calendar(settings.communes[0], settings.feedback)
    now = utcnow()
    if cal.in_office(now):
        assert "trong giờ làm việc" in said, said
    else:
        assert f"từ {to_vn(cal.next_open(now)):%H:%M}" in said and "khi xã mở cửa" in said, said
    assert "tình hình phản ánh" in said

    # a ticket's status, the office's hours and contact: answered
    status = await commune.says(user, f"{code} sao rồi")
    assert code in status and "đã tiếp nhận" in status
    assert "7:30" in await commune.says(user, "ủy ban làm việc mấy giờ")
    assert "0214 000 001" in await commune.says(user, "số điện thoại của xã là gì")
    # a follow-up without the code: the resident's tickets
    assert code in await commune.says(user, "hôm qua tôi gửi phản ánh mà chưa thấy trả lời")
    # anything else waits for staff, in the log
    await commune.quiet(user, "con tôi cần làm giấy khai sinh nhưng mất giấy chứng sinh")
    await commune.quiet(user, "giờ làm sao")

    [handoff] = (await commune.call(officer, "GET", "/handoffs"))[1]["handoffs"]
    assert handoff["status"] == "open" and handoff["expires_at"]
    _, full = await commune.call(officer, "GET", f"/handoffs/{handoff['id']}")
    texts = [m["text"] for m in full["messages"]]
    assert texts[-1] == "giờ làm sao" and any(t.startswith("con tôi cần") for t in texts)


async def test_nobody_takes_it_in_time_the_bot_hands_back_with_what_to_do(commune):
    officer = await commune.hire("officer", office="vanphong")
    sim, user = commune.running.sim, "8202"
    await handed_over(commune, user)
    await commune.quiet(user, "tôi muốn hỏi chuyện nhà đất")

    before = len(sim.messages(OA, user))
    assert await time_runs_out(commune) == 1  # once, not twice
    back = await commune.replies_after(user, before)
    assert "chưa trả lời kịp" in back and "0214 000 001" in back and "114" in back, back
    assert len(sim.messages(OA, user)) == before + 1

    # staff see it expired (residents to call back), no longer waiting
    assert (await commune.call(officer, "GET", "/handoffs"))[1]["handoffs"] == []
    [expired] = (await commune.call(officer, "GET", "/handoffs?status=expired"))[1]["handoffs"]
    assert expired["status"] == "expired" and expired["expired_at"] and expired["closed_at"]
    assert (await commune.call(officer, "GET", "/handoffs?status=closed"))[1]["handoffs"] == []
    assert (
        await commune.call(officer, "POST", f"/handoffs/{expired['id']}/reply", {"text": "Dạ"})
    )[0] == 409
    assert (await commune.call(officer, "GET", "/handoffs?status=late"))[0] == 400
    _, full = await commune.call(officer, "GET", f"/handoffs/{expired['id']}")
    assert "chưa trả lời kịp" in full["messages"][-1]["text"]

    # the bot is back: a report starts its form again
    assert "thuộc loại nào" in await commune.says(user, "tôi muốn phản ánh")


@pytest.mark.parametrize("how", ["take", "reply"])
async def test_a_handoff_taken_or_answered_by_staff_does_not_expire(commune, how):
    officer = await commune.hire("officer", office="vanphong")
    sim, user = commune.running.sim, "8203"
    await handed_over(commune, user)
    [handoff] = (await commune.call(officer, "GET", "/handoffs"))[1]["handoffs"]
    path, body = (
        (f"/handoffs/{handoff['id']}/take", None)
        if how == "take"
        else (f"/handoffs/{handoff['id']}/reply", {"text": "Dạ, cán bộ xã nghe đây."})
    )
    got, taken = await commune.call(officer, "POST", path, body)
    assert got == 200 and taken["taken_by"], taken
    if how == "reply":
        await commune.replies_after(user, len(sim.messages(OA, user)) - 1)
    before = len(sim.messages(OA, user))
    assert await time_runs_out(commune) == 0
    [still] = (await commune.call(officer, "GET", "/handoffs"))[1]["handoffs"]
    assert still["status"] == "open" and still["id"] == handoff["id"]
    await commune.quiet(user, "tôi muốn hỏi chuyện nhà đất")
    assert len(sim.messages(OA, user)) == before


@pytest.mark.parametrize("reopen", ["mở lại {code}", "6"])
async def test_after_a_reopening_the_next_message_belongs_to_the_ticket(commune, reopen):
    leader = await commune.hire("leader")
    await commune.hire("officer", office="vanphong", zalo="7205")
    sim, user = commune.running.sim, "8204"
    code = await commune.report(user, "đèn đường hỏng ở Nậm Mòn")
    before = len(sim.messages(OA, user))
    await commune.call(leader, "POST", f"/tickets/{code}/answer", {"note": "Đã thay bóng."})
    assert "hài lòng" in await commune.replies_after(user, before)

    said = await commune.says(user, reopen.format(code=code))
    assert "đã mở lại phản ánh" in said and "nhắn thêm tình hình" in said, said
    said = await commune.says(user, "vẫn chưa sáng, tối qua lại tắt rồi")
    assert code in said and "đã ghi thêm" in said and "thuộc loại nào" not in said, said

    _, ticket = await commune.call(leader, "GET", f"/tickets/{code}")
    last = ticket["history"][-1]
    assert last["action"] == "note" and last["note"] == "vẫn chưa sáng, tối qua lại tắt rồi"
    assert ticket["status"] == "in_progress"
    [alert] = await commune.alerts("7205", 1)  # the office hears it
    assert code in alert and "tối qua lại tắt" in alert
    async with commune.running.services.sm() as s:  # no new report was started
        assert len((await s.execute(select(Ticket.id))).scalars().all()) == 1
    # the message after that is the chat's again
    assert "7:30" in await commune.says(user, "ủy ban làm việc mấy giờ")


async def test_a_photo_sent_after_reopening_joins_the_ticket(commune):
    leader = await commune.hire("leader")
    sim, user = commune.running.sim, "8205"
    code = await commune.report(user, "cống bị tắc ngập đường ở Bản Phố")
    before = len(sim.messages(OA, user))
    await commune.call(leader, "POST", f"/tickets/{code}/answer", {"note": "Đã nạo vét."})
    await commune.replies_after(user, before)
    await commune.says(user, f"/reopen {code}")
    before = len(sim.messages(OA, user))
    await sim.user_sends(OA, user, "user_send_image", url="https://example.org/cong.jpg")
    assert "đã thêm ảnh/vị trí" in await commune.replies_after(user, before)
    _, ticket = await commune.call(leader, "GET", f"/tickets/{code}")
    assert {"type": "image", "url": "https://example.org/cong.jpg"} in ticket["media"]
    assert ticket["history"][-1]["action"] == "note"


# -- the wait, in office time (pure) ---------------------------------------------------------
CONFIG = CommuneConfig(
    code="02839",
    name="Xã Bắc Hà",
    address="UBND",
    phone="0214 3880 123",
    office_hours=[
        {"days": "mon-fri", "open": "07:30", "close": "11:30"},
        {"days": "mon-fri", "open": "13:30", "close": "17:00"},
    ],
)


def vn(*args: int) -> datetime:
    return from_vn_local(datetime(*args))


def test_the_wait_counts_office_time_only():
    cal = WorkingCalendar(CONFIG, FeedbackSettings())
    # Tuesday 2026-10-13 10:00 + 120 office minutes: 1 h 30 before noon, 30 min after lunch
    assert to_vn(cal.add_office_minutes(vn(2026, 10, 13, 10), 120)) == to_vn(
        vn(2026, 10, 13, 14, 0)
    )
    # Friday 16:50 + 30: 10 minutes on Friday, 20 on Monday morning
    assert to_vn(cal.add_office_minutes(vn(2026, 10, 16, 16, 50), 30)) == to_vn(
        vn(2026, 10, 19, 7, 50)
    )
    # Saturday night: from Monday's opening
    assert to_vn(cal.add_office_minutes(vn(2026, 10, 17, 22), 60)) == to_vn(vn(2026, 10, 19, 8, 30))


def test_the_resident_is_told_when_from_the_calendar():
    cal = WorkingCalendar(CONFIG, FeedbackSettings())
    now = vn(2026, 10, 13, 10)  # Tuesday, open
    assert (
        staff_answer_when(cal, now, cal.add_office_minutes(now, 120))
        == "trong giờ làm việc hôm nay"
    )
    late = vn(2026, 10, 16, 16, 50)  # Friday just before closing
    assert (
        staff_answer_when(cal, late, cal.add_office_minutes(late, 30))
        == "trong giờ làm việc, chậm nhất 07:50 thứ Hai 19/10"
    )
    night = vn(2026, 10, 17, 22)  # Saturday night
    assert (
        staff_answer_when(cal, night, cal.add_office_minutes(night, 120))
        == "từ 07:30 thứ Hai 19/10, khi xã mở cửa"
    )


async def test_a_photo_sent_just_after_filing_joins_the_ticket_and_the_question_stays(commune):
    """An emergency is filed first and consent asked after; the resident's photo comes before
    the answer: it goes to that ticket (its office and the leaders hear), the question is asked
    again, and the answer still counts."""
    leader = await commune.hire("leader", zalo="7301")
    sim, user = commune.running.sim, "8206"
    said = await commune.says(user, "Nước đang dâng vào nhà, bà tôi không tự đi được, ở Nậm Mòn")
    code = ticket_code(said)
    assert "đồng ý cho xã lưu tên" in said
    before = len(sim.messages(OA, user))
    await sim.user_sends(OA, user, "user_send_image", url="https://example.org/nuoc.jpg")
    after = await commune.replies_after(user, before)
    assert "đã thêm ảnh/vị trí" in after and code in after and "vài chữ" not in after
    assert "đồng ý cho xã lưu tên" in after  # the consent question, again
    _, ticket = await commune.call(leader, "GET", f"/tickets/{code}")
    assert {"type": "image", "url": "https://example.org/nuoc.jpg"} in ticket["media"]
    alerts = await commune.alerts("7301", 2)  # the alarm, then the photo
    assert any(code in a and "gửi thêm" in a for a in alerts), alerts
    assert "Cán bộ sẽ liên hệ" in await commune.says(user, "đồng ý")
    async with commune.running.services.sm() as s:  # still one ticket
        assert len((await s.execute(select(Ticket.id))).scalars().all()) == 1
