"""A province's notice to many communes (issue 14) through the real path: the province API in
(HTTP, API keys), one notice per commune in each commune's workflow, the commune leader's
approval through the commune API, the dispatcher and sender, the Zalo simulator out."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.config import ProvinceSettings, Settings
from bot.store.models import Notice, NoticeAudit, ProvinceNotice, Resident
from tests.helpers import (
    Desk,
    commune_code,
    make_settings,
    oa_id,
    quiet_around_now,
    start_service,
    wait_idle,
)

C1, C2, C3, C4 = (commune_code(n) for n in (1, 2, 3, 4))  # 1–3 in province 10, 4 in 20
NOTICE = {
    "category": "safety",
    "priority": "normal",
    "headline": "Phòng chống rét đậm cho gia súc",
    "body": "Sở Nông nghiệp khuyến cáo che chắn chuồng trại, dự trữ thức ăn cho trâu bò.",
}


def settings(store_url: str, sim, emergency_direct: bool = False) -> Settings:
    base = make_settings(store_url, sim, communes=4, notices=quiet_around_now(False))
    communes = [
        c.model_copy(update={"province_code": "10" if i < 3 else "20"})
        for i, c in enumerate(base.communes)
    ]
    provinces = {"10": ProvinceSettings(emergency_direct=True)} if emergency_direct else {}
    return base.model_copy(update={"communes": communes, "provinces": provinces})


class Province(Desk):
    async def send(self, key: str | None, body: Any, code: str = "10", headers=None):
        return await self.province(key, "POST", "", body, code, headers)

    async def province(
        self, key: str | None, method: str, path: str, json=None, code: str = "10", headers=None
    ):
        headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
        url = f"{self.running.url}/api/v1/provinces/{code}/notices{path}"
        async with self.http.request(method, url, json=json, headers=headers) as r:
            return r.status, await r.json(), r.headers

    async def resident(self, n: int) -> str:
        """A follower of commune n who chatted (the notice goes to them by consultation)."""
        user, sim = f"95{n}1", self.running.sim
        await sim.user_sends_text(oa_id(n), user, "xin chao")
        await sim.wait_for_messages(1, oa_id=oa_id(n), user_id=user)
        async with self.running.services.sm() as s, s.begin():
            row = (
                await s.execute(select(Resident).where(Resident.external_id == user))
            ).scalar_one()
            row.is_follower = True
        return user

    async def settled(self, key: str, parent_id: int, states: dict[str, int]) -> dict:
        """The parent once its copies are in ``states`` (a copy is ``sending`` until the
        dispatcher sees every send of it done)."""
        for _ in range(400):
            status, parent, _ = await self.province(key, "GET", f"/{parent_id}")
            assert status == 200, parent
            if parent["states"] == states:
                return parent
            await asyncio.sleep(0.05)
        raise AssertionError(f"province notice {parent_id} stayed {parent['states']}")

    def received(self, n: int, user: str) -> int:
        return len(self.running.sim.messages(oa_id(n), user))

    async def count(self, model) -> int:  # type: ignore[no-untyped-def]
        async with self.running.services.sm() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _province(store_url, sim, emergency_direct: bool = False):
    running = await start_service(settings(store_url, sim, emergency_direct), sim)
    running.services.broadcasts.verify_poll_s = 0.05
    http = aiohttp.ClientSession()
    return Province(running, http)


@pytest.fixture
async def desk(store_url, sim):
    province = await _province(store_url, sim)
    yield province
    await province.http.close()
    await province.running.runner.cleanup()


@pytest.fixture
async def direct_desk(store_url, sim):
    province = await _province(store_url, sim, emergency_direct=True)
    yield province
    await province.http.close()
    await province.running.runner.cleanup()


async def test_each_commune_leader_approves_their_own_copy(desk):
    users = {n: await desk.resident(n) for n in (1, 2, 3)}
    operator = await desk.hire("operator", code=C1)
    leader2 = await desk.hire("leader", code=C2)

    status, sent, _ = await desk.send(operator, {**NOTICE, "communes": [C1, C2, C3]})
    assert status == 201, sent
    assert sent["direct"] is False and sent["states"] == {"submitted": 3}
    children = {c["commune"]: c for c in sent["communes"]}
    assert list(children) == [C1, C2, C3]
    assert all(c["delivered"] == 0 for c in children.values())

    # each copy is the commune's own notice, waiting in its workflow for its leader
    status, copy = await desk.call(leader2, "GET", f"/{children[C2]['notice']}", code=C2)
    assert status == 200 and copy["status"] == "submitted"
    assert copy["headline"] == NOTICE["headline"] and copy["villages"] == []
    assert copy["province_notice"] == sent["id"]
    assert [(a["action"], a["to"], a["staff_id"]) for a in copy["audit"]] == [
        ("create", "draft", sent["created_by"]),
        ("submit", "submitted", sent["created_by"]),
    ]
    assert "#" + str(sent["id"]) in copy["audit"][0]["note"]
    # another commune's copy is not theirs
    status, _ = await desk.call(leader2, "GET", f"/{children[C1]['notice']}", code=C2)
    assert status == 404

    status, approved = await desk.call(
        leader2, "POST", f"/{children[C2]['notice']}/approve", code=C2
    )
    assert status == 200 and approved["status"] == "scheduled"
    await desk.running.sim.wait_for_messages(2, oa_id=oa_id(2), user_id=users[2])
    await wait_idle(desk.running)
    text = desk.running.sim.messages(oa_id(2), users[2])[1].body["message"]["text"]
    assert NOTICE["headline"] in text and "Xã Thử Nghiệm 2" in text
    assert desk.received(1, users[1]) == 1 and desk.received(3, users[3]) == 1  # the reply only

    parent = await desk.settled(operator, sent["id"], {"submitted": 2, "sent": 1})
    assert parent["delivered"] == 1
    by_code = {c["commune"]: c for c in parent["communes"]}
    assert by_code[C2]["status"] == "sent" and by_code[C2]["delivered"] == 1
    assert by_code[C2]["sends"] == {"sent": 1} and by_code[C2]["sent_at"]
    assert by_code[C1]["status"] == by_code[C3]["status"] == "submitted"


async def test_an_emergency_still_waits_unless_the_province_says_otherwise(desk):
    operator = await desk.hire("operator", code=C1)
    status, sent, _ = await desk.send(
        operator, {**NOTICE, "priority": "emergency", "communes": "all"}
    )
    assert status == 201, sent
    assert sent["direct"] is False and sent["states"] == {"submitted": 3}
    assert [c["commune"] for c in sent["communes"]] == [C1, C2, C3]  # not province 20's


async def test_emergency_goes_out_directly_when_configured(direct_desk):
    desk = direct_desk
    users = {n: await desk.resident(n) for n in (1, 2, 3)}
    operator = await desk.hire("operator", code=C1)

    # a routine notice still waits for each leader
    status, routine, _ = await desk.send(operator, {**NOTICE, "communes": [C1]})
    assert status == 201 and routine["states"] == {"submitted": 1}

    emergency = {**NOTICE, "priority": "emergency", "headline": "Lũ quét: sơ tán ngay"}
    status, sent, _ = await desk.send(operator, {**emergency, "communes": [C1, C2, C3]})
    assert status == 201, sent
    assert sent["direct"] is True
    for n in (1, 2, 3):
        await desk.running.sim.wait_for_messages(2, oa_id=oa_id(n), user_id=users[n])
    await wait_idle(desk.running)
    for n in (1, 2, 3):
        text = desk.running.sim.messages(oa_id(n), users[n])[1].body["message"]["text"]
        assert "Lũ quét: sơ tán ngay" in text

    parent = await desk.settled(operator, sent["id"], {"sent": 3})
    assert parent["delivered"] == 3
    publisher = sent["created_by"]
    async with desk.running.services.sm() as s:
        notices = list(
            (
                await s.execute(select(Notice).where(Notice.province_notice_id == sent["id"]))
            ).scalars()
        )
        assert {n.approved_by for n in notices} == {publisher}
        for notice in notices:
            steps = [
                (a.action, a.to_status, a.staff_id)
                for a in (
                    await s.execute(
                        select(NoticeAudit)
                        .where(NoticeAudit.notice_id == notice.id)
                        .order_by(NoticeAudit.id)
                    )
                ).scalars()
            ]
            assert steps[:3] == [
                ("create", "draft", publisher),
                ("submit", "submitted", publisher),
                ("publish", "scheduled", publisher),
            ]


async def test_only_the_province_operator_and_nothing_half_done(desk):
    operator = await desk.hire("operator", code=C1)
    other_province = await desk.hire("operator", code=C4)
    officer, leader = await desk.hire("officer", code=C1), await desk.hire("leader", code=C2)
    body = {**NOTICE, "communes": [C1, C2, C3]}

    assert (await desk.send(None, body))[0] == 401
    assert (await desk.send(officer, body))[0] == 403
    assert (await desk.send(leader, body))[0] == 403
    assert (await desk.send(other_province, body))[0] == 404
    assert (await desk.send(operator, body, code="20"))[0] == 404  # not their province

    # a commune that is not the province's (unknown, or another province's): all refused
    for bad in ([C1, "99999"], [C1, C2, C4]):
        status, answer, _ = await desk.send(operator, {**NOTICE, "communes": bad})
        assert status == 400 and answer["communes"] == [bad[-1]], answer
    for bad_body in (
        {**NOTICE, "communes": []},
        {**NOTICE, "communes": ["1"]},
        {**NOTICE, "communes": "some"},
        {**NOTICE, "communes": [C1], "villages": ["Bản Phố"]},
        {**NOTICE, "communes": [C1], "priority": "urgent"},
        {**NOTICE},
    ):
        status, answer, _ = await desk.send(operator, bad_body)
        assert status == 400, (bad_body, answer)
    assert await desk.count(Notice) == 0 and await desk.count(ProvinceNotice) == 0

    # the parent is the province operator's to read
    status, sent, _ = await desk.send(operator, body)
    assert status == 201
    assert (await desk.province(officer, "GET", f"/{sent['id']}"))[0] == 403
    assert (await desk.province(other_province, "GET", f"/{sent['id']}", code="20"))[0] == 404
    assert (await desk.province(other_province, "GET", f"/{sent['id']}"))[0] == 404
    assert (await desk.province(operator, "GET", f"/{sent['id'] + 1}"))[0] == 404


async def test_idempotency_key(desk):
    operator = await desk.hire("operator", code=C1)
    body = {**NOTICE, "communes": [C2, C3]}
    key = {"Idempotency-Key": "sở-nn/2026-12-04/1".encode().hex()}
    status, first, headers = await desk.send(operator, body, headers=key)
    assert status == 201 and "Idempotent-Replayed" not in headers
    status, again, headers = await desk.send(operator, body, headers=key)
    assert status == 201 and headers["Idempotent-Replayed"] == "true"
    assert again["id"] == first["id"] and again["communes"] == first["communes"]
    assert await desk.count(ProvinceNotice) == 1 and await desk.count(Notice) == 2

    status, answer, _ = await desk.send(operator, {**body, "headline": "Khác"}, headers=key)
    assert status == 422, answer
    status, answer, _ = await desk.send(operator, body, headers={"Idempotency-Key": "a b"})
    assert status == 400, answer
    assert await desk.count(ProvinceNotice) == 1 and await desk.count(Notice) == 2
