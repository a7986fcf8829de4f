"""The console's "Commune facts" screen (issue 13) through the real path: staff edit over HTTP
with a cookie jar like a browser's, residents ask on the web chat and are answered from the new
value at once. Bad values change nothing (their message beside the field); CSRF; roles; another
commune is 404 for the page and the save; ``<script>`` typed in a value is shown as text; the
cache of another process forgets a commune when told over the coordinator (Redis).
SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot import facts_store
from bot.coord import create_coordinator
from bot.store.models import AuditEvent, CommuneFactChange, CommuneFacts
from tests.helpers import Visitor, text
from tests.test_console import CODE, CODE2, CODE3, CSRF, Browser, account, running, signed_in  # noqa: F401

HEALTH_Q = "số điện thoại trạm y tế xã"
HOURS_Q = "ủy ban xã làm việc mấy giờ"
WEEK = {f"hours_{i}": "07:30-11:30, 13:30-17:00" for i in range(5)} | {
    "hours_5": "",
    "hours_6": "",
}


@pytest.fixture(autouse=True)
def fresh_cache():
    """Facts are cached per process by (database, commune id); each test has its own store."""
    facts_store._cache.clear()


async def ask(url: str, words: str, code: str = CODE) -> str:
    tab = Visitor(url, code=code)
    try:
        await tab.open()
        return text(await tab.says(words, settle=0.3))
    finally:
        await tab.close()


async def changes(running) -> int:  # noqa: F811
    async with running.services.sm() as s:
        return (await s.execute(select(func.count()).select_from(CommuneFactChange))).scalar_one()


def field_error(html: str, section: str, name: str) -> str:
    found = re.search(rf'id="{section}-{name}-error" role="alert">([^<]*)<', html)
    return found.group(1) if found else ""


async def test_edits_are_answered_at_once(running):  # noqa: F811
    url = running.url
    before = await ask(url, HEALTH_Q)
    assert "0912 345 678" not in before
    officer = await signed_in(running, "lan.vp", name="Nguyễn Thị Lan")
    try:
        status, _, r = await officer.get("/console/facts")
        assert status == 303 and r.headers["Location"] == f"/console/facts/{CODE}"
        status, html, _ = await officer.get(f"/console/facts/{CODE}")
        assert status == 200, html
        assert 'href="/console/facts"' in html and "Thông tin xã" in html
        assert "Theo cấu hình" in html and "Chưa có thay đổi nào." in html
        assert 'value="07:30-11:30, 13:30-17:00"' in html  # Monday, from config
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]

        # the health station's phone (typed as people type it) and hours
        status, _, r = await officer.post(
            f"/console/facts/{CODE}",
            {
                "csrf": token,
                "section": "health",
                "name": "Trạm Y tế xã",
                "address": "Thôn Nậm Mòn",
                "phone": "+84 912.345.678",
                **WEEK,
            },
        )
        assert status == 303 and r.headers["Location"].endswith("?done=saved#health")
        said = await ask(url, HEALTH_Q)
        assert "0912 345 678" in said and said != before

        # the commune office's hours: Saturday morning added, answered at once
        assert "Thứ 7" not in await ask(url, HOURS_Q)
        status, _, _ = await officer.post(
            f"/console/facts/{CODE}",
            {
                "csrf": token,
                "section": "commune",
                "address": "UBND xã Thử Nghiệm 1",
                "phone": "0214 000 001",
                **WEEK,
                "hours_5": "7:30-11:00",
            },
        )
        assert status == 303
        said = await ask(url, HOURS_Q)
        assert "11:00" in said, said

        # who and when, which values are edited, config's beside them
        status, html, _ = await officer.get(f"/console/facts/{CODE}?done=saved")
        assert "Đã lưu." in html
        assert re.search(r"Sửa lần cuối bởi Nguyễn Thị Lan, ngày \d\d/\d\d/\d{4}", html)
        assert "Đã sửa" in html and 'value="0912 345 678"' in html
        assert 'value="07:30-11:00"' in html  # Saturday as stored
        assert "Theo cấu hình: nghỉ" in html
        async with running.services.sm() as s:
            row = (await s.execute(select(CommuneFacts))).scalar_one()
        assert row.data["health.phone"] == "0912 345 678"
        assert "commune.phone" not in row.data  # typed as config has it: not an edit
        assert row.data["commune.office_hours"][-1] == {
            "days": "sat",
            "open": "07:30",
            "close": "11:00",
        }
        # the console's log says who changed which facts (the values stay in their history)
        async with running.services.sm() as s:
            logged = (
                (await s.execute(select(AuditEvent).where(AuditEvent.action == "facts_changed")))
                .scalars()
                .all()
            )
        assert logged and all(e.staff_id is not None for e in logged)
        assert any("health.phone" in e.summary for e in logged)
        # the same form again: nothing changes, no history
        n = await changes(running)
        status, _, r = await officer.post(
            f"/console/facts/{CODE}",
            {
                "csrf": token,
                "section": "commune",
                "address": "UBND xã Thử Nghiệm 1",
                "phone": "0214 000 001",
                **WEEK,
                "hours_5": "07:30-11:00",
            },
        )
        assert r.headers["Location"].endswith("?done=same#commune") and await changes(running) == n
        # back to config's values
        status, _, _ = await officer.post(
            f"/console/facts/{CODE}", {"csrf": token, "section": "commune", "reset": "1"}
        )
        assert status == 303 and "11:00" not in await ask(url, HOURS_Q)
    finally:
        await officer.close()


async def test_village_contacts(running):  # noqa: F811
    officer = await signed_in(running, "lan.vp")
    try:
        token = await officer.csrf(f"/console/facts/{CODE}")
        status, _, _ = await officer.post(
            f"/console/facts/{CODE}",
            {
                "csrf": token,
                "section": "village-0",
                "head_name": "Giàng A Pao",
                "head_phone": "0987654321",
                "p_name_0": "Sùng Thị Mai",
                "p_phone_0": "0978 111 222",
            },
        )
        assert status == 303
        said = await ask(running.url, "trưởng thôn Nậm Mòn là ai")
        assert "Giàng A Pao" in said and "0987 654 321" in said, said
        said = await ask(running.url, "tuyên truyền viên thôn Nậm Mòn")
        assert "Sùng Thị Mai" in said and "0978 111 222" in said, said
        # a village that is not the commune's: 404, nothing saved
        n = await changes(running)
        status, _, _ = await officer.post(
            f"/console/facts/{CODE}",
            {"csrf": token, "section": "village-9", "head_name": "X"},
        )
        assert status == 404 and await changes(running) == n
    finally:
        await officer.close()


async def test_bad_values_change_nothing(running):  # noqa: F811
    officer = await signed_in(running, "lan.vp")
    try:
        token = await officer.csrf(f"/console/facts/{CODE}")
        path = f"/console/facts/{CODE}"
        status, html, _ = await officer.post(
            path,
            {"csrf": token, "section": "health", "phone": "12345", "address": "x", **WEEK},
        )
        assert status == 400
        assert field_error(html, "health", "phone").startswith("Số điện thoại không đúng.")
        assert 'value="12345"' in html  # kept as typed
        status, html, _ = await officer.post(
            path,
            {
                "csrf": token,
                "section": "commune",
                "address": "UBND",
                "phone": "0214 000 001",
                **WEEK,
                "hours_2": "25:00-26:00",
                "hours_3": "11:00-07:00",
            },
        )
        assert status == 400
        assert "Không đọc được “25:00-26:00”" in field_error(html, "commune", "hours_2")
        assert "Không đọc được" in field_error(html, "commune", "hours_3")
        status, html, _ = await officer.post(
            path, {"csrf": token, "section": "commune", "address": "", "phone": ""}
        )
        assert status == 400
        assert field_error(html, "commune", "address") == "Vui lòng nhập địa chỉ."
        assert field_error(html, "commune", "phone") == "Vui lòng nhập số điện thoại."
        assert "Vui lòng nhập giờ làm việc" in field_error(html, "commune", "hours_0")
        status, html, _ = await officer.post(
            path, {"csrf": token, "section": "office-vanphong", "address": "x" * 301}
        )
        assert status == 400 and "tối đa 300 ký tự" in html
        status, html, _ = await officer.post(
            path, {"csrf": token, "section": "village-0", "p_phone_0": "0912345678"}
        )
        assert status == 400 and "Vui lòng nhập họ tên" in field_error(
            html, "village-0", "p_name_0"
        )
        # CSRF: none, wrong, another site's origin
        good = {"csrf": token, "section": "health", "phone": "0912345678", **WEEK}
        assert (await officer.post(path, {**good, "csrf": ""}))[0] == 403
        assert (await officer.post(path, {**good, "csrf": "x" * 43}))[0] == 403
        assert (await officer.post(path, good, headers={"Origin": "https://evil.example"}))[
            0
        ] == 403
        assert await changes(running) == 0
        assert "0912 345 678" not in await ask(running.url, HEALTH_Q)

        # <script> typed in a value: stored as typed, shown as text, said as text
        nasty = "<script>alert(1)</script> Thôn Nậm Mòn"
        status, _, _ = await officer.post(path, {**good, "address": nasty})
        assert status == 303
        status, html, _ = await officer.get(path)
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    finally:
        await officer.close()


async def test_roles_and_other_communes(running):  # noqa: F811
    propagandist = await signed_in(running, "pao.ttv", role="propagandist", village="Nậm Mòn")
    leader = await signed_in(running, "chu.tich", role="leader")
    neighbour = await signed_in(running, "hoa.xa2", code=CODE2)  # same province
    operator = await signed_in(running, "tinh.qt", role="operator")  # province 15
    far = await signed_in(running, "xa.khac", role="operator", code=CODE3)  # province 66
    try:
        # a propagandist: no page, no link, no save
        assert (await propagandist.get("/console/facts"))[0] == 404
        assert (await propagandist.get(f"/console/facts/{CODE}"))[0] == 404
        status, html, _ = await propagandist.get("/console/")
        assert 'href="/console/facts"' not in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        good = {"csrf": token, "section": "health", "phone": "0912345678", **WEEK}
        assert (await propagandist.post(f"/console/facts/{CODE}", good))[0] == 404
        # the leader edits their commune
        token = await leader.csrf(f"/console/facts/{CODE}")
        assert (await leader.post(f"/console/facts/{CODE}", {**good, "csrf": token}))[0] == 303
        # another commune's officer: 404 for the page and the save
        assert (await neighbour.get(f"/console/facts/{CODE}"))[0] == 404
        token = await neighbour.csrf(f"/console/facts/{CODE2}")
        n = await changes(running)
        status, html, _ = await neighbour.post(
            f"/console/facts/{CODE}", {**good, "csrf": token, "phone": "0987000111"}
        )
        assert status == 404 and await changes(running) == n
        # the province's operator: the province's communes, not another province's
        token = await operator.csrf(f"/console/facts/{CODE2}")
        status, _, _ = await operator.post(
            f"/console/facts/{CODE2}", {**good, "csrf": token, "phone": "0987000222"}
        )
        assert status == 303
        assert "0987 000 222" in await ask(running.url, HEALTH_Q, code=CODE2)
        assert "0987 000 222" not in await ask(running.url, HEALTH_Q, code=CODE)
        assert (await far.get(f"/console/facts/{CODE}"))[0] == 404
        token = await far.csrf(f"/console/facts/{CODE3}")
        assert (await far.post(f"/console/facts/{CODE}", {**good, "csrf": token}))[0] == 404
        assert (await far.get("/console/facts/99999"))[0] == 404
    finally:
        for b in (propagandist, leader, neighbour, operator, far):
            await b.close()


async def test_another_process_forgets_when_told(running, redis_url):  # noqa: F811
    """Two processes' caches over one store and one Redis: a save in one is published; the
    other's listener forgets the commune, so its next message reads the new value at once
    (without the message it would keep the old one for up to ``RECHECK_S``)."""
    sm = running.services.sm
    config = running.services.tenants.by_code(CODE)
    here, there = create_coordinator(redis_url), create_coordinator(redis_url)
    await here.start()
    await there.start()
    listener = facts_store.Listener(there)
    import asyncio

    task = asyncio.create_task(listener.run_forever())
    try:
        await asyncio.sleep(0.3)  # subscribed
        async with sm() as s:
            assert (
                await facts_store.effective(s, config.id, config.config)
            ).phone == "0214 000 001"
        async with sm() as s, s.begin():  # "the other process" saves …
            await facts_store.save(s, config.id, {"commune.phone": "0912 000 333"}, None, "A")
        async with sm() as s:  # … unheard, the cache still answers the old value
            assert (
                await facts_store.effective(s, config.id, config.config)
            ).phone == "0214 000 001"
        await here.publish(facts_store.TOPIC, str(config.id))
        for _ in range(50):
            if not any(k[1] == config.id for k in facts_store._cache):
                break
            await asyncio.sleep(0.05)
        async with sm() as s:
            assert (
                await facts_store.effective(s, config.id, config.config)
            ).phone == "0912 000 333"
    finally:
        await listener.stop()
        await task
        await here.close()
        await there.close()
