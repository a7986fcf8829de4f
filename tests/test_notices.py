"""Essential-information notices through the real path: staff JSON API in (HTTP, API keys),
the workflow, the delivery planner, the sender, and the Zalo simulator out."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from bot import facts_store
from bot.config import Settings
from bot.staff import add_staff
from bot.store.models import (
    Notice,
    NoticeAudit,
    NoticeDelivery,
    OutboundMessage,
    Resident,
    TopicPreference,
    Village,
)
from bot.timeutil import utcnow
from tests.helpers import (
    NOTICE,
    Desk,
    commune_code,
    make_settings,
    oa_id,
    quiet_around_now,
    resident,
    start_service,
    wait_idle,
    wait_status,
)

OA = oa_id(1)
CODE = commune_code(1)


@pytest.fixture
async def desk(store_url, sim):
    running = await start_service(
        make_settings(store_url, sim, notices=quiet_around_now(False)), sim
    )
    running.services.broadcasts.verify_poll_s = 0.05  # the simulator answers -214 once
    async with aiohttp.ClientSession() as http:
        yield Desk(running, http)
    await running.runner.cleanup()


async def test_draft_approve_deliver_by_the_route_zalo_allows(desk):
    recent = "9101"
    await resident(desk.running, recent)
    await resident(desk.running, "9102", days_since_contact=10)
    officer, leader = await desk.hire("officer"), await desk.hire("leader")

    status, draft = await desk.call(officer, "POST", "", NOTICE)
    assert status == 201 and draft["status"] == "draft"
    assert draft["cap"] == {"urgency": "Future", "severity": "Minor", "certainty": "Likely"}
    nid = draft["id"]
    assert (await desk.call(officer, "POST", f"/{nid}/approve"))[0] == 403  # not their role
    assert (await desk.call(officer, "POST", f"/{nid}/submit"))[1]["status"] == "submitted"
    assert (await desk.call(leader, "POST", f"/{nid}/approve"))[1]["status"] == "scheduled"

    msg = (await desk.running.sim.wait_for_messages(2, oa_id=OA, user_id=recent))[1]
    text = msg.body["message"]["text"]
    assert text.startswith("THÔNG BÁO: Lịch tiêm chủng tháng 12") and "Xã Thử Nghiệm 1" in text
    assert len(desk.running.sim.messages(OA, "9102")) == 1  # only the reply to "xin chao"

    done = await wait_status(desk, leader, nid, "sent")
    delivery = done["delivery"]
    assert delivery["planned"] == 2
    assert delivery["routes"] == {"consultation": 1, "broadcast": 1}
    assert delivery["reasons"] == {"in_free_window_48h": 1, "outside_7d_window": 1}
    assert delivery["sends"] == {"sent": 1}
    assert [a["action"] for a in done["audit"]] == [
        "create",
        "submit",
        "approve",
        "dispatch",
        "finish",
    ]
    assert done["audit"][2]["staff_id"] is not None and done["approved_by"] is not None
    # the follower outside the window: the notice as an article, broadcast once
    sim = desk.running.sim
    for _ in range(200):
        if sim.state.broadcasts:
            break
        await asyncio.sleep(0.05)
    [broadcast] = sim.state.broadcasts
    [article] = [a for a in sim.state.articles.values() if a.article_id in broadcast.article_ids]
    assert article.body["title"] == "Lịch tiêm chủng tháng 12"
    for _ in range(100):  # the broadcast's message id is stored just after Zalo answers
        figures = (await desk.call(leader, "GET", f"/{nid}"))[1]["delivery"]["broadcast"]
        if figures["status"] == "sent":
            break
        await asyncio.sleep(0.05)
    assert figures["status"] == "sent" and figures["article_id"] == article.article_id


async def test_night_waits_for_morning_but_an_emergency_goes_at_once(store_url, sim):
    running = await start_service(
        make_settings(store_url, sim, notices=quiet_around_now(True)), sim
    )
    try:
        async with aiohttp.ClientSession() as http:
            desk = Desk(running, http)
            await resident(running, "9201")
            officer, leader = await desk.hire("officer"), await desk.hire("leader")
            _, routine = await desk.call(officer, "POST", "", NOTICE)
            await desk.submit_and_approve(leader, routine["id"], submitter=officer)
            await wait_status(desk, leader, routine["id"], "sending")
            async with running.services.sm() as s:
                row = (
                    await s.execute(
                        select(OutboundMessage).where(
                            OutboundMessage.idempotency_key.like(f"notice:{routine['id']}:%")
                        )
                    )
                ).scalar_one()
            assert row.status == "pending" and row.next_attempt_at > utcnow() + timedelta(
                minutes=30
            )  # held until the quiet hours end
            # an emergency: drafted and published by the leader in one step, sent at night
            storm = dict(
                NOTICE,
                category="safety",
                priority="emergency",
                headline="Bão số 9 đổ bộ",
                body="Sơ tán khỏi vùng trũng trước 18 giờ.",
            )
            _, urgent = await desk.call(leader, "POST", "", storm)
            assert (await desk.call(leader, "POST", f"/{urgent['id']}/publish"))[0] == 200
            msgs = await sim.wait_for_messages(2, oa_id=OA, user_id="9201")
            assert msgs[1].body["message"]["text"].startswith("THÔNG BÁO KHẨN: Bão số 9")
            await wait_idle(running)
            assert len(sim.messages(OA, "9201")) == 2  # the routine one still waits
            # a routine notice cannot be published in one step
            _, other = await desk.call(leader, "POST", "", NOTICE)
            assert (await desk.call(leader, "POST", f"/{other['id']}/publish"))[0] == 409
    finally:
        await running.runner.cleanup()


async def test_daily_cap_skips_routine_notices_not_emergencies(store_url, sim):
    running = await start_service(
        make_settings(store_url, sim, notices={**quiet_around_now(False), "daily_cap": 1}), sim
    )
    try:
        async with aiohttp.ClientSession() as http:
            desk = Desk(running, http)
            await resident(running, "9301")
            leader = await desk.hire("leader")
            ids = []
            for n, priority in enumerate(["normal", "normal", "emergency"]):
                _, d = await desk.call(
                    leader, "POST", "", dict(NOTICE, priority=priority, headline=f"Tin {n}")
                )
                action = "publish" if priority == "emergency" else "submit"
                await desk.call(leader, "POST", f"/{d['id']}/{action}")
                if action == "submit":
                    await desk.call(leader, "POST", f"/{d['id']}/approve")
                await wait_status(desk, leader, d["id"], "sent")
                ids.append(d["id"])
            texts = [m.body["message"]["text"] for m in sim.messages(OA, "9301")[1:]]
            assert [t.split("\n")[0].split(": ", 1)[1] for t in texts] == ["Tin 0", "Tin 2"]
            second = (await desk.call(leader, "GET", f"/{ids[1]}"))[1]["delivery"]
            assert second["routes"] == {"skipped": 1} and second["reasons"] == {"daily_cap": 1}
    finally:
        await running.runner.cleanup()


async def test_cancel_stops_what_is_not_sent_and_corrects_what_was(desk):
    await resident(desk.running, "9401")
    leader = await desk.hire("leader")
    _, sent = await desk.call(leader, "POST", "", NOTICE)
    await desk.submit_and_approve(leader, sent["id"])
    await wait_status(desk, leader, sent["id"], "sent")
    status, cancelled = await desk.call(
        leader, "POST", f"/{sent['id']}/cancel", {"note": "sai ngày"}
    )
    assert status == 200 and cancelled["corrections_queued"] == 1
    msgs = await desk.running.sim.wait_for_messages(3, oa_id=OA, user_id="9401")
    assert msgs[2].body["message"]["text"].startswith('HỦY THÔNG BÁO: "Lịch tiêm chủng tháng 12"')
    # a notice scheduled for later and cancelled before its time never goes out
    later = (utcnow() + timedelta(hours=2)).isoformat()
    _, future = await desk.call(leader, "POST", "", dict(NOTICE, send_at=later))
    await desk.submit_and_approve(leader, future["id"])
    assert (await desk.call(leader, "POST", f"/{future['id']}/cancel"))[1]["status"] == "cancelled"
    async with desk.running.services.sm() as s:
        planned = (
            await s.execute(
                select(func.count())
                .select_from(NoticeDelivery)
                .where(NoticeDelivery.notice_id == future["id"])
            )
        ).scalar()
    assert planned == 0
    assert (await desk.call(leader, "POST", f"/{future['id']}/cancel"))[0] == 409


async def test_roles_scope_tenancy_and_bad_input(desk):
    officer = await desk.hire("officer")
    propagandist = await desk.hire("propagandist", village="Nậm Mòn")
    other_commune = await desk.hire("leader", code=commune_code(2))
    # a propagandist drafts for their own village only
    status, own = await desk.call(propagandist, "POST", "", dict(NOTICE, villages=[]))
    assert status == 201 and own["villages"] == ["Nậm Mòn"]
    status, body = await desk.call(propagandist, "POST", "", dict(NOTICE, villages=["Bản Phố"]))
    assert status == 403 and "thôn của mình" in body["error"]
    assert (await desk.call(propagandist, "POST", f"/{own['id']}/approve"))[0] == 403
    # villages are matched without accents; an unknown one is named back
    status, body = await desk.call(officer, "POST", "", dict(NOTICE, villages=["ban pho"]))
    assert status == 201 and body["villages"] == ["Bản Phố"]
    status, body = await desk.call(officer, "POST", "", dict(NOTICE, villages=["Thôn Ma"]))
    assert status == 400 and body["villages"] == ["Thôn Ma"]
    # another commune's key: 404 on this commune's path and on its notices
    assert (await desk.call(other_commune, "GET", f"/{own['id']}"))[0] == 404
    assert (await desk.call(other_commune, "GET", f"/{own['id']}", code=commune_code(2)))[0] == 404
    assert (await desk.call(None, "GET", ""))[0] == 401
    assert (await desk.call("cb_wrong", "GET", ""))[0] == 401
    # bad input: 400 with the fields named, nothing stored
    async with desk.running.services.sm() as s:
        before = (await s.execute(select(func.count()).select_from(Notice))).scalar()
    status, body = await desk.call(
        officer, "POST", "", dict(NOTICE, category="weather", headline="", extra=1)
    )
    assert status == 400
    assert {d["field"] for d in body["details"]} == {"category", "headline", "extra"}
    async with desk.running.services.sm() as s:
        after = (await s.execute(select(func.count()).select_from(Notice))).scalar()
        audits = (await s.execute(select(func.count()).select_from(NoticeAudit))).scalar()
    assert after == before and audits == before  # one "create" row per stored notice
    async with desk.http.post(
        f"{desk.running.url}/api/v1/communes/{CODE}/notices",
        data=b"{not json",
        headers={"Authorization": f"Bearer {officer}"},
    ) as r:
        assert r.status == 400


async def test_resident_unsubscribes_by_topic_in_the_chat_and_asks_for_current_notices(desk):
    sim = desk.running.sim
    await resident(desk.running, "9501")
    leader = await desk.hire("leader")
    await sim.user_sends_text(OA, "9501", "ko muốn nhận tin cắt điện nữa")
    msgs = await sim.wait_for_messages(2, oa_id=OA, user_id="9501")
    assert "không gửi tin về lịch điện, nước sạch" in msgs[1].body["message"]["text"]

    async def publish(notice: dict) -> int:
        _, d = await desk.call(leader, "POST", "", notice)
        if notice["priority"] == "emergency":
            await desk.call(leader, "POST", f"/{d['id']}/publish")
        else:
            await desk.submit_and_approve(leader, d["id"])
        await wait_status(desk, leader, d["id"], "sent")
        return d["id"]

    power = await publish(
        dict(
            NOTICE,
            category="services",
            headline="Cắt điện thứ Bảy",
            body="Cắt điện 7:00–11:00 để bảo trì.",
        )
    )
    await publish(
        dict(
            NOTICE,
            category="services",
            priority="emergency",
            headline="Sự cố lưới điện",
            body="Tránh xa dây điện bị đứt.",
        )
    )
    texts = [m.body["message"]["text"] for m in sim.messages(OA, "9501")]
    assert not any("Cắt điện thứ Bảy" in t for t in texts)
    assert any(t.startswith("THÔNG BÁO KHẨN: Sự cố lưới điện") for t in texts)
    skipped = (await desk.call(leader, "GET", f"/{power}"))[1]["delivery"]
    assert skipped["reasons"] == {"unsubscribed": 1}
    # back in: subscribing to everything clears the choice
    await sim.user_sends_text(OA, "9501", "đăng ký nhận tin")
    await sim.wait_for_messages(len(texts) + 1, oa_id=OA, user_id="9501")
    async with desk.running.services.sm() as s:
        assert (await s.execute(select(func.count()).select_from(TopicPreference))).scalar() == 0
    # "có thông báo gì mới": the notices the commune has sent, newest first
    await sim.user_sends_text(OA, "9501", "xa co thong bao gi moi ko")
    reply = (await sim.wait_for_messages(len(texts) + 2, oa_id=OA, user_id="9501"))[-1]
    lines = reply.body["message"]["text"].splitlines()
    assert lines[0] == "Thông báo mới của Xã Thử Nghiệm 1:"
    assert lines[1].endswith("Sự cố lưới điện") and lines[2].endswith("Cắt điện thứ Bảy")


async def test_propagandist_gets_a_package_confirms_and_is_reminded(store_url, sim):
    running = await start_service(
        make_settings(
            store_url, sim, notices={**quiet_around_now(False), "relay_reminder_after_s": 0.5}
        ),
        sim,
    )
    try:
        async with aiohttp.ClientSession() as http:
            desk = Desk(running, http)
            officer, leader = await desk.hire("officer"), await desk.hire("leader")
            async with running.services.sm() as s, s.begin():
                await add_staff(
                    s, CODE, "Trưởng thôn Nậm Mòn", "propagandist", "Nậm Mòn", zalo_user_id="9601"
                )
                await add_staff(
                    s, CODE, "Trưởng bản Bản Phố", "propagandist", "Bản Phố", zalo_user_id="9602"
                )
            for user in ("9601", "9602"):
                await resident(running, user)  # they chat with the OA like anyone
            _, d = await desk.call(officer, "POST", "", dict(NOTICE, villages=["Nậm Mòn"]))
            await desk.submit_and_approve(leader, d["id"], submitter=officer)
            msgs = await sim.wait_for_messages(3, oa_id=OA, user_id="9601")
            package, ask = (m.body["message"]["text"] for m in msgs[1:3])
            assert package.startswith("THÔNG BÁO: Lịch tiêm chủng tháng 12")
            assert "nhóm Zalo của Nậm Mòn" in ask and "ĐÃ CHUYỂN" in ask
            assert len(sim.messages(OA, "9602")) == 1  # another village's head: nothing
            # Bản Phố's head has nothing to confirm: "đã chuyển" is an ordinary message there
            await sim.user_sends_text(OA, "9602", "đã chuyển")
            other = await sim.wait_for_messages(2, oa_id=OA, user_id="9602")
            assert not other[1].body["message"]["text"].startswith("Cảm ơn anh/chị đã chuyển")
            # Nậm Mòn's head forgets: one reminder, then confirms by typing
            remind = await sim.wait_for_messages(4, oa_id=OA, user_id="9601")
            assert remind[3].body["message"]["text"].startswith("Nhắc anh/chị")
            await sim.user_sends_text(OA, "9601", "Đã chuyển!")
            thanks = await sim.wait_for_messages(5, oa_id=OA, user_id="9601")
            assert (
                thanks[4]
                .body["message"]["text"]
                .startswith(
                    'Cảm ơn anh/chị đã chuyển thông báo "Lịch tiêm chủng tháng 12" vào nhóm Nậm Mòn'
                )
            )
            body = (await desk.call(leader, "GET", f"/{d['id']}"))[1]
            [relay] = body["delivery"]["relays"]
            assert relay["village"] == "Nậm Mòn" and relay["package"] == "sent"
            assert relay["confirmed_at"] and relay["reminded_at"]
            # time must pass: past relay_reminder_after_s again, a second reminder would be due
            await asyncio.sleep(0.8)
            await wait_idle(running)
            assert len(sim.messages(OA, "9601")) == 5  # reminded once only
    finally:
        await running.runner.cleanup()


async def _move_job(running, notice_id: int, when) -> None:
    """Between two runs of the service: the job's next firing moved (as if it had been down)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from sqlalchemy import create_engine

    from bot.notices.schedule import sync_url

    engine = create_engine(sync_url(running.settings.database_url))
    try:
        store = SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")
        job = store.lookup_job(f"notice-{notice_id}")
        job.next_run_time = when
        store.update_job(job)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "late_by, caught_up", [(timedelta(minutes=10), True), (timedelta(hours=2), False)]
)
async def test_recurring_notice_fires_and_a_missed_firing_is_caught_up_after_restart(
    store_url, sim, late_by, caught_up
):
    from bot.timeutil import VN_TZ

    settings = make_settings(store_url, sim, notices=quiet_around_now(False))
    running = await start_service(settings, sim)
    async with aiohttp.ClientSession() as http:
        desk = Desk(running, http)
        await resident(running, "9801")
        leader = await desk.hire("leader")
        status, body = await desk.call(leader, "POST", "", dict(NOTICE, recurrence="0 x * * *"))
        assert status == 400 and body["details"][0]["field"] == "recurrence"
        _, d = await desk.call(
            leader,
            "POST",
            "",
            dict(NOTICE, headline="Nộp thuế đất hằng tháng", recurrence="0 8 25 * *"),
        )
        await desk.call(leader, "POST", f"/{d['id']}/submit")
        _, approved = await desk.call(leader, "POST", f"/{d['id']}/approve")
        assert approved["status"] == "recurring"
        for _ in range(100):
            if running.services.scheduler.next_run(d["id"]):
                break
            await asyncio.sleep(0.05)
        first = running.services.scheduler.next_run(d["id"]).astimezone(VN_TZ)
        assert (first.day, first.hour, first.minute) == (25, 8, 0)
        await running.runner.cleanup()  # the service stops …
        await _move_job(running, d["id"], utcnow() - late_by)  # … and misses a firing
        running = await start_service(settings, sim)  # back up
        desk.running = running
        # time must pass: the scheduler (not a worker loop wait_idle sees) catches up at start
        await asyncio.sleep(0.5)
        texts = [
            m.body["message"]["text"]
            for m in (
                await sim.wait_for_messages(2, oa_id=OA, user_id="9801")
                if caught_up
                else sim.messages(OA, "9801")
            )
        ]
        sent = [t for t in texts if "Nộp thuế đất hằng tháng" in t]
        assert len(sent) == (1 if caught_up else 0)
        await asyncio.sleep(0.3)  # time must pass: a second firing by the scheduler would show
        assert len(
            [m for m in sim.messages(OA, "9801") if "Nộp thuế đất" in m.body["message"]["text"]]
        ) == len(sent)  # once
        # the next firing is the next 25th again; cancelling removes it
        nxt = running.services.scheduler.next_run(d["id"]).astimezone(VN_TZ)
        assert (nxt.day, nxt.hour) == (25, 8) and nxt > datetime.now(VN_TZ)
        await desk.call(leader, "POST", f"/{d['id']}/cancel")
        for _ in range(100):
            if running.services.scheduler.next_run(d["id"]) is None:
                break
            await asyncio.sleep(0.05)
        assert running.services.scheduler.next_run(d["id"]) is None
    await running.runner.cleanup()


async def test_one_scheduler_leads_across_processes(redis_url):
    from bot.coord import create_coordinator

    a, b = create_coordinator(redis_url), create_coordinator(redis_url)
    await a.start()
    await b.start()
    try:
        assert await a.hold("notice-scheduler", "host:1", 0.3)
        assert not await b.hold("notice-scheduler", "host:2", 0.3)  # taken
        assert await a.hold("notice-scheduler", "host:1", 0.3)  # renewed by its holder
        await asyncio.sleep(0.4)  # the holder died: the lease lapses
        assert await b.hold("notice-scheduler", "host:2", 0.3)
        assert not await a.hold("notice-scheduler", "host:1", 0.3)
    finally:
        await a.close()
        await b.close()


async def test_an_update_reaches_the_same_people(desk):
    sim = desk.running.sim
    await resident(desk.running, "9901")
    leader = await desk.hire("leader")
    _, first = await desk.call(leader, "POST", "", NOTICE)
    await desk.submit_and_approve(leader, first["id"])
    await wait_status(desk, leader, first["id"], "sent")
    await resident(desk.running, "9902")  # chats after the first notice went out
    status, body = await desk.call(leader, "POST", "", dict(NOTICE, updates=10**6))
    assert status == 400 and body["field"] == "updates"
    _, fix = await desk.call(
        leader,
        "POST",
        "",
        dict(
            NOTICE,
            headline="Lịch tiêm chủng tháng 12 (đổi ngày)",
            body="Chuyển sang ngày 26/12.",
            updates=first["id"],
        ),
    )
    assert fix["msg_type"] == "update" and fix["references"] == first["id"]
    await desk.submit_and_approve(leader, fix["id"])
    done = await wait_status(desk, leader, fix["id"], "sent")
    assert done["delivery"]["planned"] == 1
    texts = [m.body["message"]["text"] for m in sim.messages(OA, "9901")]
    assert texts[-1].startswith("CẬP NHẬT THÔNG BÁO: Lịch tiêm chủng tháng 12 (đổi ngày)")
    assert not any("đổi ngày" in m.body["message"]["text"] for m in sim.messages(OA, "9902"))


async def test_a_resident_who_chose_hmong_gets_the_hmong_version(store_url, sim):
    settings = make_settings(store_url, sim, notices=quiet_around_now(False))
    raw = settings.model_dump()
    raw["communes"][0]["languages"] = ["vi", "hnj"]
    running = await start_service(Settings.model_validate(raw), sim)
    try:
        async with aiohttp.ClientSession() as http:
            desk = Desk(running, http)
            await resident(running, "9911")
            await resident(running, "9912")
            await sim.user_sends_text(OA, "9911", "cho tôi đổi sang tiếng H'Mông")
            msgs = await sim.wait_for_messages(2, oa_id=OA, user_id="9911")
            assert "bằng tiếng H'Mông" in msgs[1].body["message"]["text"]
            leader = await desk.hire("leader")
            _, d = await desk.call(
                leader,
                "POST",
                "",
                dict(
                    NOTICE,
                    translations={
                        "hnj": {"headline": "Hnub txhaj tshuaj", "body": "Hnub 25 lub 12."}
                    },
                ),
            )
            await desk.submit_and_approve(leader, d["id"])
            await wait_status(desk, leader, d["id"], "sent")
            hmong = sim.messages(OA, "9911")[-1].body["message"]["text"]
            viet = sim.messages(OA, "9912")[-1].body["message"]["text"]
            assert "Hnub txhaj tshuaj" in hmong and "Hnub 25 lub 12." in hmong
            assert viet.startswith("THÔNG BÁO: Lịch tiêm chủng tháng 12")
    finally:
        await running.runner.cleanup()


async def test_image_follows_the_text_and_the_village_group_gets_its_language(store_url, sim):
    settings = make_settings(store_url, sim, notices=quiet_around_now(False))
    raw = settings.model_dump()
    raw["communes"][0]["villages"] = [{"name": "Nậm Mòn", "language": "hnj"}, {"name": "Bản Phố"}]
    running = await start_service(Settings.model_validate(raw), sim)
    try:
        async with aiohttp.ClientSession() as http:
            desk = Desk(running, http)
            async with running.services.sm() as s, s.begin():
                await add_staff(
                    s, CODE, "Trưởng thôn", "propagandist", "Nậm Mòn", zalo_user_id="9921"
                )
            await resident(running, "9921")
            await resident(running, "9922")
            leader = await desk.hire("leader")
            status, bad = await desk.call(leader, "POST", "", dict(NOTICE, image_url="ftp://x"))
            assert status == 400 and bad["details"][0]["field"] == "image_url"
            _, d = await desk.call(
                leader,
                "POST",
                "",
                dict(
                    NOTICE,
                    image_url="https://xa.example.gov.vn/tiem-chung.jpg",
                    translations={"hnj": {"headline": "Hnub txhaj tshuaj", "body": "Hnub 25."}},
                ),
            )
            await desk.submit_and_approve(leader, d["id"])
            await wait_status(desk, leader, d["id"], "sent")
            text, image = sim.messages(OA, "9922")[-2:]
            assert text.body["message"]["text"].startswith("THÔNG BÁO: Lịch tiêm chủng")
            element = image.body["message"]["attachment"]["payload"]["elements"][0]
            assert element == {
                "media_type": "image",
                "url": "https://xa.example.gov.vn/tiem-chung.jpg",
            }
            package, picture, ask = sim.messages(OA, "9921")[-3:]
            assert "Hnub txhaj tshuaj" in package.body["message"]["text"]  # the group's language
            assert picture.body["message"]["attachment"]["payload"]["elements"][0]["url"]
            assert "ĐÃ CHUYỂN" in ask.body["message"]["text"]
    finally:
        await running.runner.cleanup()


async def test_a_village_renamed_in_the_console_keeps_its_groups_language(store_url, sim):
    """A rename made in the console (``facts_store``: the row keeps its id, config.yml keeps the
    old name) reaches the fan-out: the propagandist of the renamed Hmông village still gets
    the package in Hmông, and the ask names the village by its new name."""
    settings = make_settings(store_url, sim, notices=quiet_around_now(False))
    raw = settings.model_dump()
    raw["communes"][0]["villages"] = [{"name": "Nậm Mòn", "language": "hnj"}, {"name": "Bản Phố"}]
    running = await start_service(Settings.model_validate(raw), sim)
    try:
        async with aiohttp.ClientSession() as http:
            desk = Desk(running, http)
            cid = running.services.tenants.by_code(CODE).id
            async with running.services.sm() as s, s.begin():
                await add_staff(
                    s, CODE, "Trưởng thôn", "propagandist", "Nậm Mòn", zalo_user_id="9941"
                )
                await facts_store.save(
                    s, cid, {"villages.renamed": {"Nậm Mòn": "Nậm Mòn Thượng"}}, None, "test"
                )
                await facts_store.place_village(s, cid, "Nậm Mòn Thượng", "thôn", was="Nậm Mòn")
            facts_store.forget(cid)
            await resident(running, "9941")
            leader = await desk.hire("leader")
            _, d = await desk.call(
                leader,
                "POST",
                "",
                dict(
                    NOTICE,
                    translations={"hnj": {"headline": "Hnub txhaj tshuaj", "body": "Hnub 25."}},
                ),
            )
            await desk.submit_and_approve(leader, d["id"])
            await wait_status(desk, leader, d["id"], "sent")
            package, ask = sim.messages(OA, "9941")[-2:]
            assert "Hnub txhaj tshuaj" in package.body["message"]["text"]  # still Hmông
            assert "Nậm Mòn Thượng" in ask.body["message"]["text"]
    finally:
        await running.runner.cleanup()


async def test_a_notice_for_subscribers_of_its_category_only(desk):
    sim = desk.running.sim
    await resident(desk.running, "9931")
    await resident(desk.running, "9932")
    await sim.user_sends_text(OA, "9931", "đăng ký nhận tin khuyến nông")
    await sim.wait_for_messages(2, oa_id=OA, user_id="9931")
    leader = await desk.hire("leader")
    _, d = await desk.call(
        leader,
        "POST",
        "",
        dict(
            NOTICE,
            category="knowledge",
            headline="Lớp tập huấn trồng chè",
            body="Thứ Bảy tại nhà văn hóa thôn.",
            subscribers_only=True,
        ),
    )
    assert d["subscribers_only"] is True
    await desk.submit_and_approve(leader, d["id"])
    done = await wait_status(desk, leader, d["id"], "sent")
    assert done["delivery"]["planned"] == 1
    assert "Lớp tập huấn" in sim.messages(OA, "9931")[-1].body["message"]["text"]
    assert not any("Lớp tập huấn" in m.body["message"]["text"] for m in sim.messages(OA, "9932"))


async def test_cancel_with_an_image_corrects_each_person_once_and_targeted_skips_broadcast(desk):
    sim = desk.running.sim
    await resident(desk.running, "9941")
    old = await resident(desk.running, "9942", days_since_contact=10)
    async with desk.running.services.sm() as s, s.begin():
        village = (await s.execute(select(Village.id).where(Village.name == "Nậm Mòn"))).scalar()
        (await s.get(Resident, old)).village_id = village
    leader = await desk.hire("leader")
    _, d = await desk.call(
        leader,
        "POST",
        "",
        dict(NOTICE, image_url="https://xa.example.gov.vn/a.jpg", villages=["Nậm Mòn"]),
    )
    await desk.submit_and_approve(leader, d["id"])
    done = await wait_status(desk, leader, d["id"], "sent")
    # a village notice: the follower outside the window is for the propagandist, not an
    # article to every follower of the commune
    assert done["delivery"]["routes"].get("broadcast") is None
    assert done["delivery"]["broadcast"] is None
    status, cancelled = await desk.call(leader, "POST", f"/{d['id']}/cancel")
    assert status == 200 and cancelled["corrections_queued"] == 0  # 9941 is not in Nậm Mòn
    assert not sim.state.broadcasts


async def test_cancel_of_a_notice_with_an_image_reaches_each_person_once(desk):
    sim = desk.running.sim
    await resident(desk.running, "9951")
    leader = await desk.hire("leader")
    _, d = await desk.call(
        leader, "POST", "", dict(NOTICE, image_url="https://xa.example.gov.vn/a.jpg")
    )
    await desk.submit_and_approve(leader, d["id"])
    await wait_status(desk, leader, d["id"], "sent")
    status, cancelled = await desk.call(leader, "POST", f"/{d['id']}/cancel")
    assert status == 200 and cancelled["corrections_queued"] == 1
    msgs = await sim.wait_for_messages(4, oa_id=OA, user_id="9951")
    assert msgs[3].body["message"]["text"].startswith("HỦY THÔNG BÁO")


async def test_a_pdf_goes_after_the_text_uploaded_once(desk):
    sim = desk.running.sim
    for user in ("9961", "9962"):
        await resident(desk.running, user)
    officer, leader = await desk.hire("officer"), await desk.hire("leader")
    _, d = await desk.call(officer, "POST", "", NOTICE)
    url = f"{desk.running.url}/api/v1/communes/{CODE}/notices/{d['id']}/file"
    headers = {"Authorization": f"Bearer {officer}"}
    pdf = b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF"
    async with desk.http.put(url + "?name=lich.docx", data=b"PK\x03\x04", headers=headers) as r:
        assert r.status == 400
    async with desk.http.put(url, data=b"%PDF-" + b"0" * (5 * 1024 * 1024), headers=headers) as r:
        assert r.status == 413
    async with desk.http.put(url + "?name=lich-tiem-chung.pdf", data=pdf, headers=headers) as r:
        assert r.status == 200 and (await r.json())["size"] == len(pdf)
    await desk.submit_and_approve(leader, d["id"], submitter=officer)
    await wait_status(desk, leader, d["id"], "sent")
    for user in ("9961", "9962"):
        text, document = sim.messages(OA, user)[-2:]
        assert text.body["message"]["text"].startswith("THÔNG BÁO: Lịch tiêm chủng")
        assert document.body["message"]["attachment"]["type"] == "file"
    uploads = [u for u in sim.state.uploads.values() if u.kind == "file"]
    assert len(uploads) == 1 and uploads[0].filename == "lich-tiem-chung.pdf"
    async with desk.http.put(url, data=pdf, headers=headers) as r:
        assert r.status == 409  # no longer a draft
