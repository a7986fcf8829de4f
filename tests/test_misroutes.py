"""Issue 10's misroutes, each through the real path (simulator → webhook → processor → what the
simulator records as sent): death registration, the health station, a follow-up on a report,
"cho e phản ánh", a power cut told as happening, "xóa số tôi đi, không nhận tin nữa", topics with
their own polarity, a bereaved resident. SQLite and PostgreSQL."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.store.models import Resident, Ticket, TopicPreference
from tests.helpers import OFFICES, Commune, make_settings, start_service, ticket_code

MENUS = ("kết hôn", "cắt điện", "1. ", "Gặp cán bộ")


async def preferences(commune: Commune, user: str) -> dict[str, bool]:
    async with commune.running.services.sm() as s:
        rows = await s.execute(
            select(TopicPreference.topic, TopicPreference.subscribed)
            .join(Resident, Resident.id == TopicPreference.resident_id)
            .where(Resident.external_id == user)
        )
        return dict(rows.all())


async def tickets_of(commune: Commune, user: str) -> int:
    async with commune.running.services.sm() as s:
        return (
            await s.execute(
                select(func.count())
                .select_from(Ticket)
                .join(Resident, Resident.id == Ticket.resident_id)
                .where(Resident.external_id == user)
            )
        ).scalar_one()


@pytest.fixture
async def with_station(store_url, sim):
    """A commune whose health station's facts are configured."""
    station = {
        "name": "Trạm Y tế xã Thử Nghiệm",
        "address": "Thôn Nậm Mòn, cạnh chợ",
        "phone": "0214 111 115",
        "hours": [{"days": "mon-sun", "open": "07:00", "close": "17:00"}],
    }
    running = await start_service(
        make_settings(store_url, sim, commune_extra={**OFFICES, "health_station": station}), sim
    )
    async with aiohttp.ClientSession() as http:
        yield Commune(running, http)
    await running.runner.cleanup()


@pytest.mark.parametrize(
    "text",
    ["làm giấy khai tử cho bố tôi", "dang ky khai tu can gi", "thủ tục báo tử cho ông nội ntn ad"],
)
async def test_death_registration_is_not_birth_registration(commune, text):
    said = await commune.says("8101", text)
    assert "khai tử" in said and "khai sinh" not in said, said
    assert "chia buồn" not in said  # a question about the procedure: no condolence assumed


@pytest.mark.parametrize(
    "text",
    [
        "bố tôi mất rồi, làm giấy tờ thế nào",
        "me toi vua mat, can lam giay to gi",
        "ông nội em mới qua đời, giờ phải báo xã sao ạ",
    ],
)
async def test_a_bereaved_resident_gets_condolence_and_the_procedure_never_menus(commune, text):
    said = await commune.says("8102", text)
    assert said.startswith("Xin chia buồn cùng gia đình") and "khai tử" in said, said
    assert not any(menu in said for menu in MENUS), said


async def test_the_health_station_is_not_the_commune_office(commune):
    for text in ("trạm y tế mấy giờ mở cửa", "tyt xã ở đâu ad", "tram y te co truc dem khong"):
        said = await commune.says("8103", text)
        assert "chưa có thông tin về trạm y tế" in said and "0214 000 001" in said, said
        assert "7:30" not in said and "làm việc:" not in said, said  # not the office's hours


async def test_the_health_station_from_the_communes_facts(with_station):
    said = await with_station.says("8104", "trạm y tế mấy giờ mở cửa vậy")
    assert "Trạm Y tế xã Thử Nghiệm" in said and "cạnh chợ" in said and "0214 111 115" in said
    assert "7:00–17:00" in said and "7:30" not in said, said


async def test_a_follow_up_on_a_report_gets_its_status_not_a_new_report(commune):
    user = "8105"
    code = await commune.report(user, "đèn đường hỏng ở Nậm Mòn")
    for text in (
        "hôm qua tôi gửi phản ánh về đèn đường mà chưa thấy trả lời",
        "hom truoc em gui pa ma van chua thay ai xu ly",
    ):
        said = await commune.says(user, text)
        assert code in said and "đã tiếp nhận" in said, said
        assert "thuộc loại nào" not in said and "thôn/bản nào" not in said
    assert await tickets_of(commune, user) == 1


@pytest.mark.parametrize("text", ["cho e phản ánh", "cho mình gửi kiến nghị ạ", "cho toi phan anh"])
async def test_asking_to_report_starts_a_report(commune, text):
    said = await commune.says("8106", text)
    assert "thuộc loại nào" in said, said
    assert "chưa gửi phản ánh nào" not in said


async def test_a_power_cut_told_as_happening_is_a_report_on_the_supply(commune):
    officer = await commune.hire("officer", office="vanphong")
    user = "8107"
    said = await commune.says(user, "nhà tôi mất điện từ sáng")
    assert "thôn/bản nào" in said and "chưa đăng" not in said, said  # the category is known
    for answer in ("Nậm Mòn", "bỏ qua"):
        said = await commune.says(user, answer)
    code = ticket_code(await commune.says(user, "không"))
    _, ticket = await commune.call(officer, "GET", f"/tickets/{code}")
    assert ticket["category"]["code"] == "utilities" and "mất điện từ sáng" in ticket["description"]

    said = await commune.says("8108", "xóm em mất điện 2 hôm rồi")
    assert "thôn/bản nào" in said, said
    # the schedule question stays one
    said = await commune.says("8109", "lịch cắt điện tuần này")
    assert "lịch cắt điện" in said and "chưa đăng" in said and "thôn/bản" not in said, said


async def test_erase_my_number_and_no_more_notices_unsubscribes_and_keeps_the_data(commune):
    user = "8110"
    await commune.shared_info(user, "Lò Văn D", "0912000333")
    said = await commune.says(user, "xóa số tôi đi, không nhận tin nữa")
    assert "không gửi thông báo thường" in said and "vẫn được giữ" in said, said
    assert await preferences(commune, user) == {"*": False}
    async with commune.running.services.sm() as s:
        resident = (
            await s.execute(select(Resident).where(Resident.external_id == user))
        ).scalar_one()
    assert resident.phone == "0912000333" and resident.erased_at is None


@pytest.mark.parametrize(
    "text",
    [
        "không nhận tin điện nữa, chỉ nhận tin thời tiết",
        "khong nhan tin dien nua chi nhan tin thoi tiet",
    ],
)
async def test_each_topic_keeps_its_own_choice(commune, text):
    user = "8111"
    said = await commune.says(user, text)
    assert "không gửi tin về lịch điện" in said and "sẽ nhận tin về thiên tai" in said, said
    assert await preferences(commune, user) == {"services": False, "safety": True}
