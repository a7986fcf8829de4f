"""Zalo's rules on the notice path, through the real path (staff JSON API in, the Zalo simulator
out): the article's cover, broadcast quotas and hours, uploads that expire, and the
propagandist relay's 7-day window."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import select, update

from bot.envelope import File
from bot.staff import add_staff
from bot.store.models import NoticeFile, OutboundMessage, Resident
from bot.store.ops import outbound_row
from bot.timeutil import to_vn, utcnow
from tests.helpers import (
    ANY_HOUR_BROADCASTS,
    CODE,
    NOTICE,
    OA,
    Desk,
    make_settings,
    quiet_around_now,
    resident,
    start_service,
    wait_status,
    wait_until,
)

COVER = "https://xa1.example.gov.vn/anh-bia-xa.png"


def with_zalo(settings, **fields):  # type: ignore[no-untyped-def]
    """The first commune's own Zalo settings changed (its cover, its OA package's quota)."""
    first = settings.communes[0]
    zalo = first.zalo.model_copy(update=fields)
    return settings.model_copy(
        update={"communes": [first.model_copy(update={"zalo": zalo}), *settings.communes[1:]]}
    )


@contextlib.asynccontextmanager
async def desk_for(settings, sim) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]
    running = await start_service(settings, sim)
    running.services.broadcasts.verify_poll_s = 0.05  # the simulator answers -214 once
    try:
        async with aiohttp.ClientSession() as http:
            yield Desk(running, http)
    finally:
        await running.runner.cleanup()


async def publish(desk: Desk, officer: str, leader: str, **fields) -> int:  # type: ignore[no-untyped-def]
    status, draft = await desk.call(officer, "POST", "", dict(NOTICE, **fields))
    assert status == 201, draft
    await desk.submit_and_approve(leader, draft["id"], submitter=officer)
    return draft["id"]


async def broadcast_figures(desk: Desk, key: str, notice_id: int, status: str) -> dict:
    for _ in range(300):
        body = (await desk.call(key, "GET", f"/{notice_id}"))[1]
        figures = body["delivery"]["broadcast"] if "delivery" in body else None
        if figures and figures["status"] == status:
            return body["delivery"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"broadcast of notice {notice_id}: {figures}")


# -- the article's cover ---------------------------------------------------------------------
async def test_an_article_has_the_notices_image_or_the_communes_cover(store_url, sim):
    settings = with_zalo(
        make_settings(store_url, sim, communes=1, notices=quiet_around_now(False)),
        article_cover_url=COVER,
    )
    async with desk_for(settings, sim) as desk:
        await resident(desk.running, "9102", days_since_contact=10)  # the broadcast route
        officer, leader = await desk.hire("officer"), await desk.hire("leader")
        for fields, cover in (
            ({}, COVER),
            (
                {"image_url": "https://xa1.example.gov.vn/lich.png"},
                "https://xa1.example.gov.vn/lich.png",
            ),
        ):
            before = len(sim.state.articles)
            nid = await publish(desk, officer, leader, **fields)
            await broadcast_figures(desk, leader, nid, "sent")
            article = list(sim.state.articles.values())[before]
            assert article.body["cover"] == {
                "cover_type": "photo",
                "photo_url": cover,
                "status": "show",
            }


async def test_no_cover_anywhere_is_a_clear_failure_not_a_coverless_article(store_url, sim):
    settings = make_settings(
        store_url, sim, communes=1, notices=quiet_around_now(False), article_cover_url=None
    )
    async with desk_for(settings, sim) as desk:
        await resident(desk.running, "9102", days_since_contact=10)
        officer, leader = await desk.hire("officer"), await desk.hire("leader")
        nid = await publish(desk, officer, leader)
        figures = await broadcast_figures(desk, leader, nid, "failed")
        assert "article_cover_url" in figures["broadcast"]["error"]
        assert not sim.state.articles and not sim.state.broadcasts


# -- broadcast quotas and hours --------------------------------------------------------------
async def test_the_months_quota_used_means_quota_exhausted_never_sent(store_url, sim):
    """A Basic-package OA (1 broadcast a month per follower): the month's second whole-commune
    notice is not broadcast; its figures say why."""
    settings = with_zalo(
        make_settings(store_url, sim, communes=1, notices=quiet_around_now(False)),
        broadcasts_per_month=1,
    )
    async with desk_for(settings, sim) as desk:
        await resident(desk.running, "9102", days_since_contact=10)
        officer, leader = await desk.hire("officer"), await desk.hire("leader")
        first = await publish(desk, officer, leader)
        await broadcast_figures(desk, leader, first, "sent")
        second = await publish(desk, officer, leader, headline="Lịch cắt điện")
        done = await wait_status(desk, leader, second, "sent")
        delivery = done["delivery"]
        assert delivery["routes"] == {"broadcast": 1}
        assert delivery["reasons"] == {"broadcast_quota_exhausted": 1}
        assert delivery["broadcast"]["status"] == "no_quota"
        assert delivery["broadcast"]["error"].startswith("quota exhausted: 1 article broadcast")
        assert delivery["sends"] == {} and len(sim.state.broadcasts) == 1


async def test_the_days_quota_used_waits_for_tomorrow(store_url, sim):
    settings = make_settings(
        store_url,
        sim,
        communes=1,
        notices=quiet_around_now(False),
        broadcasts={**ANY_HOUR_BROADCASTS, "per_follower_day": 1},
    )
    async with desk_for(settings, sim) as desk:
        await resident(desk.running, "9102", days_since_contact=10)
        officer, leader = await desk.hire("officer"), await desk.hire("leader")
        first = await publish(desk, officer, leader)
        await broadcast_figures(desk, leader, first, "sent")
        second = await publish(desk, officer, leader, headline="Lịch cắt điện")
        delivery = await broadcast_figures(desk, leader, second, "pending")
        when = to_vn(datetime.fromisoformat(delivery["broadcast"]["next_attempt_at"]))
        assert when.date() == to_vn(utcnow()).date() + timedelta(days=1)
        assert when.strftime("%H:%M") == "00:00"  # send_from of these rules
        assert delivery["reasons"] == {"outside_7d_window": 1}  # it will go: not exhausted
        body = (await desk.call(leader, "GET", f"/{second}"))[1]
        assert body["status"] == "sending" and len(sim.state.broadcasts) == 1


async def test_a_broadcast_waits_for_zalos_hours(store_url, sim):
    """Sent from ``send_from``, out of review by ``deliver_by``: outside those hours the
    article waits for the next ``send_from``."""
    now = to_vn(utcnow())
    send_from = (now + timedelta(hours=1)).strftime("%H:%M")
    rules = {
        **ANY_HOUR_BROADCASTS,
        "send_from": send_from,
        "review_s": 1800,
        "deliver_by": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    settings = make_settings(
        store_url, sim, communes=1, notices=quiet_around_now(False), broadcasts=rules
    )
    async with desk_for(settings, sim) as desk:
        await resident(desk.running, "9102", days_since_contact=10)
        officer, leader = await desk.hire("officer"), await desk.hire("leader")
        nid = await publish(desk, officer, leader)
        delivery = await broadcast_figures(desk, leader, nid, "pending")
        when = to_vn(datetime.fromisoformat(delivery["broadcast"]["next_attempt_at"]))
        assert when > now and when.strftime("%H:%M") == send_from
        assert not sim.state.broadcasts


async def test_zalos_own_quota_refusal_is_reported_as_exhausted(store_url, sim):
    """Our quota figures allow it, Zalo's do not (its count differs, e.g. staff broadcast from
    OA Manager): the refusal is "quota exhausted", for the broadcast and its residents."""
    sim.configure(broadcast_day_quota=1)
    settings = make_settings(store_url, sim, communes=1, notices=quiet_around_now(False))
    async with desk_for(settings, sim) as desk:
        await resident(desk.running, "9102", days_since_contact=10)
        officer, leader = await desk.hire("officer"), await desk.hire("leader")
        first = await publish(desk, officer, leader)
        await broadcast_figures(desk, leader, first, "sent")
        second = await publish(desk, officer, leader, headline="Lịch cắt điện")
        delivery = await broadcast_figures(desk, leader, second, "no_quota")
        assert delivery["broadcast"]["error"].startswith("quota exhausted: -211")
        assert delivery["reasons"] == {"broadcast_quota_exhausted": 1}
        assert len(sim.state.broadcasts) == 1


# -- uploads expire after about 7 days -------------------------------------------------------
async def test_an_old_upload_is_uploaded_again(store_url, sim):
    settings = make_settings(store_url, sim, communes=1, notices=quiet_around_now(False))
    async with desk_for(settings, sim) as desk:
        running = desk.running
        await resident(running, "9961")
        officer, leader = await desk.hire("officer"), await desk.hire("leader")
        _, d = await desk.call(officer, "POST", "", NOTICE)
        pdf = b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF"
        async with desk.http.put(
            f"{running.url}/api/v1/communes/{CODE}/notices/{d['id']}/file?name=lich.pdf",
            data=pdf,
            headers={"Authorization": f"Bearer {officer}"},
        ) as r:
            assert r.status == 200
        await desk.submit_and_approve(leader, d["id"], submitter=officer)
        await wait_status(desk, leader, d["id"], "sent")
        [first] = [u for u in sim.state.uploads.values() if u.kind == "file"]

        async def send_file_to(user: str, key: str) -> dict:
            await resident(running, user)  # they write in: Zalo lets the OA answer
            async with running.services.sm() as s, s.begin():
                stored = (await s.execute(select(NoticeFile))).scalar_one()
                who = (
                    await s.execute(select(Resident).where(Resident.external_id == user))
                ).scalar_one()
                await s.execute(
                    OutboundMessage.__table__.insert(),
                    [
                        outbound_row(
                            who.commune_id,
                            who.id,
                            "zalo",
                            user,
                            key,
                            File(stored.id, stored.filename),
                            3,
                        )
                    ],
                )
            await running.services.coord.publish("outbound")
            sent = (await sim.wait_for_messages(2, oa_id=OA, user_id=user))[-1]
            return sent.body["message"]["attachment"]["payload"]

        # a week later: the token we kept is too old (and Zalo has forgotten it)
        async with running.services.sm() as s, s.begin():
            stored = (await s.execute(select(NoticeFile))).scalar_one()
            old = {
                oa: {**kept, "at": (utcnow() - timedelta(days=7)).isoformat()}
                for oa, kept in stored.zalo_tokens.items()
            }
            await s.execute(update(NoticeFile).values(zalo_tokens=old))
        sim.advance(7 * 86400 + 60)
        payload = await send_file_to("9962", "t:file:week-old")
        uploads = [u for u in sim.state.uploads.values() if u.kind == "file"]
        assert len(uploads) == 2 and payload["token"] == uploads[1].ref != first.ref

        # a young token Zalo forgot early anyway (-100): uploaded once more, then sent
        sim.advance(8 * 86400)
        payload = await send_file_to("9963", "t:file:forgotten")
        uploads = [u for u in sim.state.uploads.values() if u.kind == "file"]
        assert len(uploads) == 3 and payload["token"] == uploads[2].ref
        assert sim.stats()["errors"].get("-100") == 1


# -- the propagandist relay and the 7-day window ---------------------------------------------
async def test_a_propagandist_outside_the_window_is_not_sent_blindly_and_staff_are_told(
    store_url, sim
):
    settings = make_settings(store_url, sim, communes=1, notices=quiet_around_now(False))
    async with desk_for(settings, sim) as desk:
        running = desk.running
        officer = await desk.hire("officer")  # the author: no Zalo id, cannot be told there
        async with running.services.sm() as s, s.begin():
            _, leader = await add_staff(
                s, CODE, "Chủ tịch Lò Văn Hùng", "leader", zalo_user_id="9701"
            )
            await add_staff(
                s, CODE, "Trưởng thôn Nậm Mòn", "propagandist", "Nậm Mòn", zalo_user_id="9601"
            )
            await add_staff(
                s, CODE, "Trưởng bản Bản Phố", "propagandist", "Bản Phố", zalo_user_id="9602"
            )
        for user in ("9701", "9601", "9602"):
            await resident(running, user)
        await resident(running, "9602", days_since_contact=10)  # silent for 10 days
        nid = await publish(desk, officer, leader, villages=["Nậm Mòn", "Bản Phố"])

        package, ask = (await sim.wait_for_messages(3, oa_id=OA, user_id="9601"))[1:3]
        assert package.body["message"]["text"].startswith("THÔNG BÁO: Lịch tiêm chủng")
        assert "nhóm Zalo của Nậm Mòn" in ask.body["message"]["text"]
        [alert] = (await sim.wait_for_messages(2, oa_id=OA, user_id="9701"))[1:]
        assert alert.body["message"]["text"].startswith(
            'Chưa gửi được thông báo "Lịch tiêm chủng tháng 12" cho tuyên truyền viên '
            "Trưởng bản Bản Phố (Bản Phố)"
        )
        assert len(sim.messages(OA, "9602")) == 2  # the two replies to "xin chao": no package

        relays = {
            r["village"]: r
            for r in (await desk.call(leader, "GET", f"/{nid}"))[1]["delivery"]["relays"]
        }
        assert relays["Bản Phố"]["package"] == "not_sent"
        assert relays["Bản Phố"]["problem"] == "window_closed"
        assert relays["Bản Phố"]["staff_told"] == ["Chủ tịch Lò Văn Hùng"]
        assert relays["Nậm Mòn"]["problem"] is None and "staff_told" not in relays["Nậm Mòn"]

        # Bản Phố's head writes to the OA again: the package goes to them now
        await sim.user_sends_text(OA, "9602", "chào xã")
        msgs = await sim.wait_for_messages(5, oa_id=OA, user_id="9602", timeout=20)
        assert msgs[3].body["message"]["text"].startswith("THÔNG BÁO: Lịch tiêm chủng")
        assert "nhóm Zalo của Bản Phố" in msgs[4].body["message"]["text"]

        async def delivered() -> bool:
            body = (await desk.call(leader, "GET", f"/{nid}"))[1]
            return {r["village"]: r for r in body["delivery"]["relays"]}["Bản Phố"][
                "package"
            ] == "sent"

        await wait_until(delivered)

        # Zalo refuses a package (the head's window closed on Zalo's side), and nobody who
        # should hear it can be reached on Zalo: the figures are where it shows
        sim.state.get_user(OA, "9601").last_interaction_ms = sim.state.now_ms() - 8 * 86400 * 1000
        async with running.services.sm() as s, s.begin():
            await s.execute(
                update(Resident)
                .where(Resident.external_id == "9701")
                .values(last_interaction_at=utcnow() - timedelta(days=9))
            )
        second = await publish(
            desk, officer, leader, villages=["Nậm Mòn"], headline="Lịch cắt điện"
        )

        async def refused() -> dict | None:
            body = (await desk.call(leader, "GET", f"/{second}"))[1]
            relays = (body.get("delivery") or {}).get("relays") or [{"problem": None}]
            return relays[0] if relays[0]["problem"] else None

        await wait_until(refused, timeout=20)
        relay = await refused()
        assert relay["problem"] == "window_closed" and relay["package"] == "window_closed"
        assert relay["staff_told"] == []
        assert len(sim.messages(OA, "9701")) == 2  # no second alert: the leader is unreachable
