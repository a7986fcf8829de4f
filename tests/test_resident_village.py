"""Residents' village through the real path: Zalo events in (simulator → webhook), notices made
by staff through the JSON API, and what the simulator records as sent; SQLite and PostgreSQL.

Nothing used to set a resident's village, so village notices reached only propagandists
(``village_unknown``). Now the bot asks once — after following, or when a village notice
cannot reach them — understands a tap, a number or words, lets them change it, and turns an
address shared with ``user_submit_info`` into a question to confirm."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from bot.staff import add_staff
from bot.store.models import Resident, Village
from bot.timeutil import utcnow
from tests.helpers import (
    NOTICE,
    OA,
    Commune,
    _text,
    make_settings,
    quiet_around_now,
    start_service,
    wait_idle,
)

VILLAGES = ["Na Hối Tày", "Na Hối Nùng", "Nậm Mòn", "Bản Phố", "Lùng Phình"]  # the README's


class Residents(Commune):
    async def texts(self, user: str, n: int) -> list[str]:
        """The first ``n`` messages sent to ``user`` (waiting for them), as text."""
        await self.running.sim.wait_for_messages(n, oa_id=OA, user_id=user)
        await wait_idle(self.running)  # nothing more should follow; the caller checks the count
        return [_text(m) for m in self.running.sim.messages(OA, user)]

    async def village_of(self, user: str) -> tuple[str | None, bool]:
        """The resident's village (name) and whether they were ever asked for it."""
        async with self.running.services.sm() as s:
            row = (
                await s.execute(select(Resident).where(Resident.external_id == user))
            ).scalar_one()
            village = await s.get(Village, row.village_id) if row.village_id else None
            return (village.name if village else None), row.village_asked_at is not None

    async def notice(self, leader: str, village: str, headline: str) -> dict:
        """A village notice drafted, submitted and approved by the leader; once sent, its
        figures (``GET …/notices/{id}``)."""
        status, draft = await self.call(
            leader, "POST", "/notices", dict(NOTICE, villages=[village], headline=headline)
        )
        assert status == 201, draft
        for action in ("submit", "approve"):
            status, body = await self.call(leader, "POST", f"/notices/{draft['id']}/{action}")
            assert status == 200, body
        for _ in range(200):
            status, body = await self.call(leader, "GET", f"/notices/{draft['id']}")
            if body["status"] == "sent":
                return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"notice stayed {body['status']}")


@pytest.fixture
async def commune(store_url, sim):
    running = await start_service(
        make_settings(
            store_url, sim, notices=quiet_around_now(False), commune_extra={"villages": VILLAGES}
        ),
        sim,
    )
    async with aiohttp.ClientSession() as http:
        yield Residents(running, http)
    await running.runner.cleanup()


@pytest.mark.parametrize(
    "answer", ["/village Nậm Mòn", "3", "nha e o thon nam mong"], ids=["tap", "number", "words"]
)
async def test_asked_after_following_and_the_answer_brings_village_notices(commune, answer):
    sim, user = commune.running.sim, "8101"
    await sim.user_sends(OA, user, "follow")
    welcome, question = await commune.texts(user, 2)
    assert welcome.startswith("Cảm ơn anh/chị đã quan tâm")
    assert question.startswith("Anh/chị ở thôn nào ạ?") and "3. Nậm Mòn" in question
    assert "6. Nơi khác" in question
    assert await commune.village_of(user) == (None, True)

    said = await commune.says(user, answer)
    assert "đã ghi nhận anh/chị ở thôn Nậm Mòn" in said and "để đổi" in said
    assert await commune.village_of(user) == ("Nậm Mòn", True)

    leader = await commune.hire("leader")
    sent = await commune.notice(leader, "Nậm Mòn", "Họp dân thôn Nậm Mòn")
    assert sent["delivery"]["routes"] == {"consultation": 1}
    assert sent["delivery"]["reasons"] == {"in_free_window_48h": 1}  # not village_unknown
    assert (
        sim.messages(OA, user)[-1]
        .body["message"]["text"]
        .startswith("THÔNG BÁO: Họp dân thôn Nậm Mòn")
    )
    # following again: welcomed, not asked a second time
    before = len(sim.messages(OA, user))
    await sim.user_sends(OA, user, "unfollow")
    await sim.user_sends(OA, user, "follow")
    texts = await commune.texts(user, before + 1)
    assert len(texts) == before + 1 and texts[-1].startswith("Cảm ơn anh/chị đã quan tâm")


async def test_a_village_notice_asks_those_it_cannot_reach_once(commune):
    sim = commune.running.sim
    leader = await commune.hire("leader")
    await commune.says("8201", "xin chào")  # in the window, village unknown, never asked
    await commune.says("8202", "xin chào")  # … but last wrote 10 days ago
    async with commune.running.services.sm() as s, s.begin():
        row = (await s.execute(select(Resident).where(Resident.external_id == "8202"))).scalar_one()
        row.last_interaction_at = utcnow() - timedelta(days=10)
        row.is_follower = True
    await sim.user_sends(OA, "8203", "follow")  # asked when following already
    await commune.texts("8203", 2)
    async with commune.running.services.sm() as s, s.begin():  # a village head chats too
        await add_staff(
            s,
            commune_code_of(commune),
            "Trưởng thôn",
            "propagandist",
            "Bản Phố",
            zalo_user_id="8204",
        )
    await commune.says("8204", "xin chào")

    first = await commune.notice(leader, "Nậm Mòn", "Lịch cắt nước thôn Nậm Mòn")
    assert first["delivery"]["reasons"] == {"village_unknown": 4}
    assert "village_asked=1" in next(a["note"] for a in first["audit"] if a["action"] == "dispatch")
    question = (await commune.texts("8201", 2))[1]
    assert question.startswith("Xã Thử Nghiệm 1 vừa có thông báo cho một số thôn")
    assert "3. Nậm Mòn" in question
    assert len(sim.messages(OA, "8202")) == 1  # outside the window: Zalo would refuse
    assert len(sim.messages(OA, "8203")) == 2 and len(sim.messages(OA, "8204")) == 1

    await commune.notice(leader, "Nậm Mòn", "Lịch tiêm phòng dại thôn Nậm Mòn")
    assert len(await commune.texts("8201", 2)) == 2  # asked once only

    said = await commune.says("8201", "3")
    assert "đã ghi nhận anh/chị ở thôn Nậm Mòn" in said
    assert "Thông báo gần đây cho Nậm Mòn:" in said  # what they missed, not lost
    assert "Lịch cắt nước thôn Nậm Mòn" in said and "Lịch tiêm phòng dại" in said
    third = await commune.notice(leader, "Nậm Mòn", "Thu quỹ đường thôn Nậm Mòn")
    assert third["delivery"]["reasons"]["in_free_window_48h"] == 1
    assert (
        sim.messages(OA, "8201")[-1]
        .body["message"]["text"]
        .startswith("THÔNG BÁO: Thu quỹ đường thôn Nậm Mòn")
    )


def commune_code_of(commune: Commune) -> str:
    return commune.running.settings.communes[0].code


async def test_a_resident_changes_village_and_a_place_not_in_the_commune_changes_nothing(commune):
    user = "8301"
    assert "ở thôn Nậm Mòn" in await commune.says(user, "tôi ở thôn Nậm Mòn")
    refused = await commune.says(user, "tôi mới chuyển sang thôn Khe Lếch")
    assert '"thôn Khe Lếch" không có trong danh sách thôn của Xã Thử Nghiệm 1' in refused
    assert "4. Bản Phố" in refused
    assert await commune.village_of(user) == ("Nậm Mòn", True)
    assert "ở Bản Phố" in await commune.says(user, "e chuyển qua bản phố rồi ad")
    assert await commune.village_of(user) == ("Bản Phố", True)
    leader = await commune.hire("leader")
    old = await commune.notice(leader, "Nậm Mòn", "Họp thôn Nậm Mòn")
    assert old["delivery"]["planned"] == 0  # no longer theirs
    new = await commune.notice(leader, "Bản Phố", "Họp thôn Bản Phố")
    assert new["delivery"]["routes"] == {"consultation": 1}
    assert (
        commune.running.sim.messages(OA, user)[-1]
        .body["message"]["text"]
        .startswith("THÔNG BÁO: Họp thôn Bản Phố")
    )
    # "Nơi khác": none of the commune's villages
    assert "thông báo chung" in await commune.says(user, "/village -")
    assert await commune.village_of(user) == (None, True)


async def test_a_shared_address_suggests_the_village_to_confirm(commune):
    sim = commune.running.sim

    async def shares(user: str, street: str) -> list[str]:
        """The bot's answer to an address shared with ``user_submit_info``."""
        before = len(sim.messages(OA, user))
        await sim.user_sends(
            OA,
            user,
            "user_submit_info",
            name="Lò Văn Pao",
            phone="0912345678",
            address=street,
            ward="Xã Thử Nghiệm 1",
            city="Lào Cai",
        )
        return (await commune.texts(user, before + 1))[before:]

    thanks, ask = await shares("8401", "Thôn Na Hối Tày, gần chợ")
    assert thanks.startswith("Cảm ơn anh/chị đã gửi thông tin")
    assert ask == "Anh/chị ở thôn Na Hối Tày phải không ạ?\n1. Có\n2. Không"
    assert await commune.village_of("8401") == (None, False)  # a suggestion, not set
    assert "đã ghi nhận anh/chị ở thôn Na Hối Tày" in await commune.says("8401", "có")
    assert await commune.village_of("8401") == ("Na Hối Tày", True)

    await shares("8402", "ban pho")
    listed = await commune.says("8402", "không")
    assert listed.startswith("Dạ, anh/chị ở thôn nào ạ?") and "5. Lùng Phình" in listed
    assert "ở thôn Lùng Phình" in await commune.says("8402", "5")
    assert await commune.village_of("8402") == ("Lùng Phình", True)

    assert len(await shares("8403", "Số 1 đường Hùng Vương")) == 1  # names no village
    assert len(await shares("8401", "Thôn Na Hối Tày")) == 1  # the one on record already
