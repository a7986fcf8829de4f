"""The web chat page and its websocket go through the same processor and sender as Zalo — and,
being public, take nothing on trust: sessions issued and signed by the service, budgets per
network address, Origin checked, reports capped per hour, photos checked by their bytes."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot import images
from bot.channels.webchat import PHOTO_CHECKS, WebChatChannel
from bot.config import Settings, WebChatSettings
from bot.staff import add_staff
from bot.store.models import InboundEvent, Resident, Ticket, Upload
from tests.helpers import (
    JPEG,
    PNG,
    ManualClock,
    Running,
    Visitor,
    commune_code,
    count,
    make_settings,
    oa_id,
    start_service,
    text,
)
from tests.images import apng, bomb, jpeg_claiming, many_scans, png

CODE, CODE2 = commune_code(1), commune_code(2)


def with_webchat(settings: Settings, **webchat: Any) -> Settings:
    return settings.model_copy(update={"webchat": WebChatSettings(**webchat)})


def steady(running: Running) -> ManualClock:
    """Stop the service's rate windows from turning in the middle of a burst: its coordinator's
    clock stands still (the budgets count per minute or hour of that clock)."""
    clock = ManualClock()
    running.services.coord.clock = clock
    return clock


# -- the page ---------------------------------------------------------------------------------
async def test_page_headers_and_office_hours_over_websocket(service):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{service.url}/chat/{CODE}") as r:
            html = await r.text()
            assert r.status == 200 and "Xã Thử Nghiệm 1" in html and "viewport" in html
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "frame-ancestors 'self'" in csp
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["Referrer-Policy"] == "no-referrer"
            assert "<script>" not in html and "<style>" not in html  # no inline code
            # the privacy notice: what, why, how long, how to have it erased
            assert "Quyền riêng tư" in html and "Xóa thông tin của tôi" in html
            assert "cho đến khi anh/chị yêu cầu xóa" in html and 'href="tel:0214000001"' in html
            assert '<html lang="vi">' in html and "Nhập câu hỏi" in html
        # opened with ?lang=en (a portal's English page): the page's own words are English too,
        # those its script shows included; a language the bot does not speak gives Vietnamese
        async with http.get(f"{service.url}/chat/{CODE}", params={"lang": "en"}) as r:
            english = await r.text()
        assert '<html lang="en">' in english and "Privacy: what the commune keeps" in english
        assert "Type your question" in english and "Connection lost" in english
        words = re.sub(r"Xã Thử Nghiệm 1|{{\w+}}", "", english)
        assert not re.search(
            "[ăâđêôơưạảãáàấầẩẫậắằẳẵặếềểễệốồổỗộớờởỡợứừửữựíìỉĩịúùủũụóòỏõọéèẻẽẹýỳỷỹỵ]", words, re.I
        ), words
        async with http.get(f"{service.url}/chat/{CODE}", params={"lang": "xx"}) as r:
            assert '<html lang="vi">' in await r.text()
        async with http.get(f"{service.url}/chat/static/chat.js") as r:
            assert r.status == 200 and r.content_type == "application/javascript"
            assert ".innerHTML" not in await r.text()
        async with http.get(f"{service.url}/chat/static/../app.py") as r:
            assert r.status == 404
        async with http.get(f"{service.url}/chat/00000") as r:
            assert r.status == 404 and r.headers["X-Content-Type-Options"] == "nosniff"
        async with http.get(f"{service.url}/") as r:
            assert f"/chat/{CODE2}" in await r.text()
            assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
        for path in (
            "/healthz",
            "/zalo/oauth/callback",
            f"/feeds/{CODE}/notices.rss",
            f"/api/v1/communes/{CODE}/tickets",
        ):
            async with http.get(f"{service.url}{path}") as r:
                assert r.headers["X-Content-Type-Options"] == "nosniff", path
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path
                assert r.headers["Referrer-Policy"] == "no-referrer", path

    tab = Visitor(service.url)
    try:
        history = await tab.open()
        assert history["type"] == "history"
        [welcome] = history["messages"]
        assert welcome["options"][0]["payload"] == "/office_hours"
        assert "Zalo" not in welcome["text"] and "trang hỏi đáp" in welcome["text"]
        [reply] = await tab.says("uy ban xa lam viec may gio")
        assert reply["kind"] == "text" and "Xã Thử Nghiệm 1 làm việc" in reply["text"]
        [contact] = await tab.says("Địa chỉ", payload="/office_contact")
        assert "0214 000 001" in contact["text"]
        await tab.ws.send_json({"id": tab.last_id, "payload": "/office_contact"})  # resent
        [error] = await tab.says("")
        assert error["type"] == "error"
        # this page is not Zalo, and does not promise Zalo's notices
        said = text(await tab.says("xin chào"))
        assert "Zalo" not in said and "trang hỏi đáp" in said
        said = text(await tab.says("đăng ký nhận tin"))
        assert "trang Zalo này" not in said and "không tự gửi thông báo" in said
    finally:
        await tab.close()
    # a reload shows the conversation so far, and the last unanswered quick choices
    again = Visitor(service.url)
    try:
        history = await again.open(tab.session)
        assert history["type"] == "history"
        messages = history["messages"]
        assert [m["direction"] for m in messages][:4] == ["in", "out", "in", "out"]
        assert messages[-1]["direction"] == "out" and messages[-1].get("options") is None
        said = await again.says("con mèo của tôi")  # not understood: a menu to choose from
        assert said[0]["kind"] == "choices"
        await again.ws.close()
        history = await again.open(tab.session)
        last = history["messages"][-1]
        assert [o["payload"] for o in last["options"]] == [o["payload"] for o in said[0]["options"]]
        assert last["text"] == said[0]["text"]  # the question itself, not its numbered copy
        await again.says("2")  # answered: after a reload, no choices come back
        await again.ws.close()
        history = await again.open(tab.session)
        assert not any(m.get("options") for m in history["messages"])
    finally:
        await again.close()
    assert service.sim.messages() == []  # nothing went to Zalo


async def test_redis_coordination_end_to_end(pg_url, redis_url, sim):
    """The production shape: PostgreSQL store and Redis coordination, Zalo and web chat."""
    running = await start_service(make_settings(pg_url, sim, communes=2, redis=redis_url), sim)
    try:
        assert running.services.coord.name == "redis"
        await sim.user_sends_text(oa_id(2), "7401", "gio lam viec")
        [msg] = await sim.wait_for_messages(1, oa_id=oa_id(2), user_id="7401")
        assert "Xã Thử Nghiệm 2" in msg.body["message"]["text"]
        tab = Visitor(running.url)
        try:
            await tab.open()
            [reply] = await tab.says("so dien thoai xa")
            assert "0214 000 001" in reply["text"]
        finally:
            await tab.close()
    finally:
        await running.runner.cleanup()


# -- sessions and origins ---------------------------------------------------------------------
async def test_client_made_and_forged_sessions_are_refused(service):
    tab = Visitor(service.url)
    try:
        issued = await tab.new_session()
        sid, _, sig = issued.partition(".")
        other = Visitor(service.url, CODE2)
        for forged in (
            uuid.uuid4().hex,  # what the old page kept in localStorage
            f"{sid}.{'A' * 22}",  # a made-up signature
            f"{'x' * 24}.{sig}",  # someone else's signature on another id
            await other.new_session(),  # signed for another commune
            None,
            42,
        ):
            frame = await tab.open(forged)
            assert frame["type"] == "error" and frame["code"] == "session", forged
            assert "Phiên trò chuyện không hợp lệ" in frame["error"]
            closed = await tab.ws.receive(timeout=5)
            assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4401
        await other.close()
        assert await count(service, InboundEvent) == 0 and await count(service, Resident) == 0
        frame = await tab.open(issued)  # the real one works
        assert frame["type"] == "history"
        await tab.says("giờ làm việc")
        async with service.services.sm() as s:
            [resident] = (await s.execute(select(Resident))).scalars().all()
        assert resident.external_id == sid and resident.channel == "webchat"
        assert resident.origin_key and "127.0.0.1" not in resident.origin_key
    finally:
        await tab.close()


async def test_origin_is_checked(store_url, sim):
    portal = "https://xa-thu-nghiem.example.gov.vn"
    running = await start_service(
        with_webchat(make_settings(store_url, sim), portal_origins=[portal]), sim
    )
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.url}/chat/{CODE}") as r:
                assert f"frame-ancestors 'self' {portal}" in r.headers["Content-Security-Policy"]
            for origin in ("https://evil.example", "null", None):
                headers = {"Origin": origin} if origin else {}
                async with http.post(f"{running.url}/chat/{CODE}/session", headers=headers) as r:
                    assert r.status == 403, origin
                    assert "không được phép" in (await r.json())["error"]
        evil = Visitor(running.url, origin="https://evil.example")
        try:
            session = await Visitor(running.url).new_session()
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await evil.open(session)
            assert refused.value.status == 403
        finally:
            await evil.close()
        embedded = Visitor(running.url, origin=portal)  # the commune's portal embeds the chat
        try:
            assert (await embedded.open())["type"] == "history"
        finally:
            await embedded.close()
        assert await count(running, InboundEvent) == 0
    finally:
        await running.runner.cleanup()


# -- flooding ---------------------------------------------------------------------------------
async def test_a_session_cannot_flood(service):
    limit = service.settings.webchat.messages_per_minute
    tab = Visitor(service.url)
    try:
        await tab.open()
        steady(service)
        for _ in range(limit + 1):
            await tab.send("chao")
        seen = [await tab.ws.receive_json(timeout=10) for _ in range(limit + 1)]
        errors = [m for m in seen if m["type"] == "error"]
        assert len(errors) == 1 and "nhanh quá" in errors[0]["error"]
    finally:
        await tab.close()


async def flood_from_addresses(running: Running) -> dict[str, Any]:
    """Address budget 4 a minute (a connection counts, and each message): a tab that claims
    to be 198.51.100.7 uses it up; then tabs claiming .7 and .8 try to connect."""
    steady(running)
    url = running.url
    first = Visitor(url, headers={"X-Forwarded-For": "198.51.100.7"})
    try:
        await first.open()  # 1
        for _ in range(3):  # 2, 3, 4
            assert (await first.says("giờ làm việc"))[0]["type"] == "reply"
        [refused] = await first.says("giờ làm việc")
        assert refused["type"] == "error" and "nhanh quá" in refused["error"]
    finally:
        await first.close()
    out: dict[str, Any] = {}
    for name, chain in (
        ("same", "198.51.100.7"),
        ("other", "198.51.100.8"),
        ("spoofed", "198.51.100.8, 198.51.100.7"),
    ):
        tab = Visitor(url, headers={"X-Forwarded-For": chain})
        try:
            out[name] = (await tab.open())["type"]
        except aiohttp.WSServerHandshakeError as exc:
            out[name] = exc.status
        finally:
            await tab.close()
    return out


async def test_per_address_limit_without_a_trusted_proxy(store_url, sim):
    """Nobody is trusted to say who the client is: X-Forwarded-For is ignored, the peer
    (127.0.0.1) is the address — every tab shares its budget."""
    running = await start_service(
        with_webchat(make_settings(store_url, sim), address_messages_per_minute=4), sim
    )
    try:
        seen = await flood_from_addresses(running)
        assert seen == {"same": 429, "other": 429, "spoofed": 429}
    finally:
        await running.runner.cleanup()


async def test_per_address_limit_behind_a_trusted_proxy(store_url, sim):
    """Behind the configured proxy, the client is the rightmost address the proxy added."""
    running = await start_service(
        with_webchat(
            make_settings(store_url, sim),
            address_messages_per_minute=4,
            trusted_proxies=["127.0.0.0/8"],
        ),
        sim,
    )
    try:
        seen = await flood_from_addresses(running)
        # .7 is spent; .8 has its own budget; a client prepending a fake hop is still .7
        assert seen == {"same": 429, "other": "history", "spoofed": 429}
    finally:
        await running.runner.cleanup()


async def test_new_sessions_per_address_are_capped(store_url, sim):
    running = await start_service(
        with_webchat(make_settings(store_url, sim), sessions_per_hour=3), sim
    )
    tab = Visitor(running.url)
    try:
        steady(running)
        for _ in range(3):
            await tab.new_session()
        async with tab.http.post(
            f"{running.url}/chat/{CODE}/session", headers={"Origin": running.url}
        ) as r:
            assert r.status == 429 and "0214 000 001" in (await r.json())["error"]
    finally:
        await tab.close()
        await running.runner.cleanup()


async def test_the_limiter_memory_is_bounded(store_url, sim):
    """Thousands of addresses behind the trusted proxy: the in-process limiter keeps at most
    its cap of windows, dropping the least recently used."""
    running = await start_service(
        with_webchat(make_settings(store_url, sim), trusted_proxies=["127.0.0.0/8"]), sim
    )
    coord = running.services.coord
    coord.max_windows = 50
    try:
        async with aiohttp.ClientSession() as http:
            for n in range(300):
                async with http.post(
                    f"{running.url}/chat/{CODE}/session",
                    headers={
                        "Origin": running.url,
                        "X-Forwarded-For": f"198.18.{n // 250}.{n % 250}",
                    },
                ) as r:
                    assert r.status == 200
                assert len(coord._windows) <= coord.max_windows
        # windows whose time has passed are dropped at the next sweep
        coord._windows["old"] = (1, 1, time.time() - 1)
        coord._next_sweep = 0.0
        await coord.window_count("new", 60)
        assert "old" not in coord._windows and "new" in coord._windows
    finally:
        await running.runner.cleanup()


# -- reports ----------------------------------------------------------------------------------
async def file_report(tab: Visitor) -> str:
    """A routine report (rubbish), skipping the photo and staying anonymous: the reply."""
    await tab.says("phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
    await tab.says("bỏ qua")
    return text(await tab.says("gửi ẩn danh"))


async def file_emergency(
    tab: Visitor, category: str = "fire", described: str = "kho rơm cạnh nhà văn hóa đang cháy"
) -> str:
    """An emergency chosen from the form's categories: filed as soon as it is described."""
    await tab.says("tôi muốn phản ánh")
    await tab.says(payload=f"/report category {category}", text=category)
    await tab.says(payload="/report village Nậm Mòn", text="Nậm Mòn")
    return text(await tab.says(described))


async def test_new_reports_per_hour_are_capped(store_url, sim):
    settings = make_settings(
        store_url,
        sim,
        feedback={
            "web_reports": {
                "session": 2,
                "session_emergency": 3,
                "address": 3,
                "address_emergency": 4,
            }
        },
    )
    running = await start_service(
        with_webchat(settings, messages_per_minute=100, address_messages_per_minute=500), sim
    )
    one, two = Visitor(running.url), Visitor(running.url)
    try:
        await one.open()
        for _ in range(2):
            assert "Mã phản ánh" in await file_report(one)
        said = await file_report(one)  # the session's third routine report in the hour
        assert "Mã phản ánh" not in said and "nhiều phản ánh" in said and "0214 000 001" in said
        said = await file_emergency(one)  # an emergency still gets through: cap 3
        assert "Mã phản ánh" in said and "114" in said
        # … but not a fourth report (another danger: more news of the fire would be a note)
        said = await file_emergency(
            one, "disaster", "nước lũ đang dâng vào nhà văn hóa, mấy cụ già chưa ra được"
        )
        assert "Mã phản ánh" not in said
        assert "114" in said and "113" in said and "115" in said and "0214 000 001" in said
        # another session from the same address: the address has filed 3
        await two.open()
        said = await file_report(two)
        assert "Mã phản ánh" not in said and "nhiều phản ánh" in said
        assert "Mã phản ánh" in await file_emergency(two)  # the address's 4th: emergency cap
        assert "Mã phản ánh" not in await file_emergency(two)
        async with running.services.sm() as s:
            tickets = (await s.execute(select(Ticket))).scalars().all()
        assert len(tickets) == 4 and all(t.source == "webchat" for t in tickets)
        assert len({t.origin_key for t in tickets}) == 1 and tickets[0].origin_key
    finally:
        await one.close()
        await two.close()
        await running.runner.cleanup()


async def test_phone_after_consent_and_photo_and_location_reach_staff(store_url, sim):
    running = await start_service(make_settings(store_url, sim), sim)
    tab, stranger = Visitor(running.url), Visitor(running.url)
    try:
        async with running.services.sm() as s, s.begin():
            _, leader = await add_staff(s, CODE, "Chủ tịch", "leader", None, None, None)
            _, other = await add_staff(s, CODE2, "Chủ tịch xã 2", "leader", None, None, None)
        await tab.open()
        await tab.says("phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
        status, uploaded = await tab.photo(JPEG, content_type="application/octet-stream")
        assert status == 201 and uploaded["type"] == "image/jpeg"
        photo = {"type": "image", "payload": {"upload": uploaded["upload"]}}
        await stranger.open()  # another session cannot attach this photo
        [refused] = await stranger.says(attachments=[photo])
        assert refused["type"] == "error"
        [refused] = await tab.says(
            attachments=[
                {
                    "type": "location",
                    "payload": {"coordinates": {"latitude": 200, "longitude": 104.0}},
                }
            ]
        )
        assert refused["type"] == "error"
        # the photo and the pin answer the form's question
        await tab.says(
            attachments=[
                photo,
                {
                    "type": "location",
                    "payload": {"coordinates": {"latitude": 22.5352, "longitude": 104.2271}},
                },
            ]
        )
        said = await tab.says("đồng ý")
        code = re.search(r"PA-\d{4}-\d{6}", text(said)).group(0)
        assert said[-1]["kind"] == "choices"
        assert "số điện thoại" in said[-1]["text"]  # the promised call needs a number
        assert [o["payload"] for o in said[-1]["options"]] == ["/phone skip"]
        said = await tab.says("số em là 0912 345")
        assert "chưa đúng" in text(said)
        said = await tab.says("+84 912.345.678")
        assert "0912 345 678" in text(said) and code in text(said)

        async with aiohttp.ClientSession() as http:
            base = f"{running.url}/api/v1/communes/{CODE}/tickets/{code}"
            async with http.get(base, headers={"Authorization": f"Bearer {leader}"}) as r:
                ticket = await r.json()
            assert ticket["reporter"]["phone"] == "0912345678"
            assert (ticket["lat"], ticket["long"]) == (22.5352, 104.2271)
            [media] = ticket["media"]
            assert media["url"] == f"/api/v1/communes/{CODE}/tickets/{code}/media/0"
            async with http.get(
                running.url + media["url"], headers={"Authorization": f"Bearer {leader}"}
            ) as r:
                assert r.status == 200 and await r.read() == JPEG
                assert r.content_type == "image/jpeg"
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert "sandbox" in r.headers["Content-Security-Policy"]
            async with http.get(running.url + media["url"]) as r:
                assert r.status == 401  # never public
            async with http.get(
                running.url + media["url"], headers={"Authorization": f"Bearer {other}"}
            ) as r:
                assert r.status == 404  # another commune's key
            async with http.get(
                f"{running.url}/api/v1/communes/{CODE2}/tickets/{code}/media/0",
                headers={"Authorization": f"Bearer {other}"},
            ) as r:
                assert r.status == 404
        async with running.services.sm() as s:
            resident = (
                await s.execute(
                    select(Resident).where(
                        Resident.channel == "webchat",
                        Resident.external_id == tab.session.split(".")[0],
                    )
                )
            ).scalar_one()
        assert resident.phone == "0912345678" and resident.consent_at is not None
    finally:
        await tab.close()
        await stranger.close()
        await running.runner.cleanup()


async def test_a_photo_after_filing_joins_the_ticket_and_the_phone_question_stays(store_url, sim):
    running = await start_service(make_settings(store_url, sim), sim)
    tab = Visitor(running.url)
    try:
        async with running.services.sm() as s, s.begin():
            _, leader = await add_staff(s, CODE, "Chủ tịch", "leader", None, None, None)
        await tab.open()
        await tab.says("phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi")
        await tab.says("không có ảnh")
        said = await tab.says("đồng ý")
        code = re.search(r"PA-\d{4}-\d{6}", text(said)).group(0)
        assert "số điện thoại" in said[-1]["text"]
        status, uploaded = await tab.photo(JPEG)
        assert status == 201
        said = await tab.says(
            attachments=[{"type": "image", "payload": {"upload": uploaded["upload"]}}]
        )
        assert "đã thêm ảnh/vị trí" in text(said) and code in text(said), said
        assert "vài chữ" not in text(said)
        assert said[-1]["kind"] == "choices" and "số điện thoại" in said[-1]["text"]
        said = await tab.says("0912345678")
        assert "0912 345 678" in text(said)
        base = f"{running.url}/api/v1/communes/{CODE}/tickets/{code}"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {leader}"}) as http:
            async with http.get(base) as r:
                ticket = await r.json()
            assert len(ticket["media"]) == 1 and ticket["reporter"]["phone"] == "0912345678"
            async with http.get(base + "/media/0") as r:
                assert r.status == 200 and await r.read() == JPEG
    finally:
        await tab.close()
        await running.runner.cleanup()


async def test_anonymous_report_keeps_no_phone_and_skip_is_allowed(service):
    tab = Visitor(service.url)
    try:
        await tab.open()
        said = await file_report(tab)
        assert "ẩn danh" in said and "số điện thoại để cán bộ gọi lại" not in said
        await tab.says("phản ánh rác thải ở bãi sông Nậm Mòn")
        await tab.says("bỏ qua")
        said = await tab.says("đồng ý")
        assert said[-1]["options"][0]["payload"] == "/phone skip"
        said = text(await tab.says("Bỏ qua", payload="/phone skip"))
        assert "ngay tại trang này" in said
        async with service.services.sm() as s:
            tickets = (await s.execute(select(Ticket).order_by(Ticket.id))).scalars().all()
            resident = (await s.execute(select(Resident))).scalar_one()
        assert [t.reporter_phone for t in tickets] == [None, None]
        assert tickets[0].consent_at is None and tickets[1].consent_at is not None
        assert resident.phone is None
    finally:
        await tab.close()


async def test_uploads_accept_photos_only(store_url, sim):
    running = await start_service(
        with_webchat(make_settings(store_url, sim), max_upload_bytes=64 * 1024), sim
    )
    tab = Visitor(running.url)
    try:
        await tab.new_session()
        for data, claimed in ((JPEG, "image/jpeg"), (PNG, "text/plain")):
            status, body = await tab.photo(data, claimed)
            assert status == 201 and body["upload"], body
        refused = {
            "php": (b"<?php system($_GET['c']); ?>", "image/jpeg"),
            "html": (b"<!doctype html><script>alert(1)</script>", "image/png"),
            "gif named png": (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/png"),
            "animated png": (apng(), "image/png"),
        }
        for name, (data, claimed) in refused.items():
            status, body = await tab.photo(data, claimed)
            assert status == 415 and "JPEG hoặc PNG" in body["error"], name
        # starts as a photo but does not hold together: said as such
        broken = {
            "html behind a jpeg mark": b"\xff\xd8\xff<html><script>alert(1)</script>",
            "png without its end": PNG[:-12],
            "a page after the png": PNG + b"<html><script>alert(1)</script>",
        }
        for name, data in broken.items():
            status, body = await tab.photo(data, "image/png")
            assert status == 422 and body["error"] == (
                "Ảnh bị hỏng hoặc không đọc được. Anh/chị chụp lại hoặc chọn ảnh khác giúp ạ."
            ), name
        big = JPEG[:-2] + b"\x00" * (64 * 1024) + JPEG[-2:]
        status, body = await tab.photo(big)
        assert status == 413 and "MB" in body["error"]
        status, body = await tab.photo(big, chunked=True)  # no Content-Length: counted as read
        assert status == 413
        status, body = await tab.photo(JPEG, session=uuid.uuid4().hex)
        assert status == 401
        async with running.services.sm() as s:
            stored = (await s.execute(select(Upload))).scalars().all()
        assert sorted(u.content_type for u in stored) == ["image/jpeg", "image/png"]
        assert {u.content for u in stored} == {JPEG, PNG}
        assert all(u.session == tab.session.split(".")[0] for u in stored)
    finally:
        await tab.close()
        await running.runner.cleanup()


async def test_uploads_refuse_pictures_too_large_and_decompression_bombs(store_url, sim):
    """The public photo upload checks what a notice's image is checked for (bot/images.py):
    a PNG header claiming 60,000 × 60,000 or 6,000 × 5,000 (within the sides, over 24 Mpx), 3
    Mpx whose pixels inflate to 64 MB, a progressive JPEG of thousands of scans, a JPEG over
    50 Mpx is refused in polite words naming the limits, and nothing is stored; an ordinary
    photo, a phone's JPEG with its own data after the end marker and a phone's 50 Mpx JPEG are
    taken."""
    running = await start_service(with_webchat(make_settings(store_url, sim)), sim)
    tab = Visitor(running.url)
    try:
        await tab.new_session()
        huge = png(60_000, 60_000, rows=b"")  # 69 bytes claiming 3.6 billion pixels
        status, body = await tab.photo(huge, "image/png")
        assert status == 413 and "Ảnh quá lớn về kích thước" in body["error"], body
        assert "8.192 điểm ảnh" in body["error"] and "Anh/chị" in body["error"]
        both = (
            "xã nhận ảnh đến 8.192 điểm ảnh mỗi chiều và tổng cộng 24 triệu điểm ảnh. "
            "Anh/chị chọn ảnh nhỏ hơn hoặc chụp lại giúp ạ."
        )
        assert body["error"].endswith(both), body
        over = png(6000, 5000, rows=b"")  # within the sides, over 24 Mpx: both limits said
        status, body = await tab.photo(over, "image/png")
        assert status == 413 and body["error"].endswith(both), body
        bombed = bomb()
        assert len(bombed) < 512 * 1024  # under a megabyte sent, 64 MB if inflated
        for data in (bombed, many_scans(10_000)):
            status, body = await tab.photo(data, "image/png")
            assert status == 422 and "Ảnh bị hỏng" in body["error"], body
        assert await count(running, Upload) == 0
        # a JPEG over its own limit (50 Mpx: its pixels are never decoded here) is told so
        status, body = await tab.photo(jpeg_claiming(8192, 6200))
        assert status == 413 and body["error"].endswith(
            "xã nhận ảnh đến 8.192 điểm ảnh mỗi chiều và tổng cộng 50 triệu điểm ảnh. "
            "Anh/chị chọn ảnh nhỏ hơn hoặc chụp lại giúp ạ."
        ), body
        assert await count(running, Upload) == 0
        motion = JPEG + b"MotionPhoto_Data" + bytes(64)
        ordinary = png(1200, 900)
        fifty = jpeg_claiming(8160, 6120)  # a phone's 50 Mpx photo, as its header says
        for data in (JPEG, motion, ordinary, fifty):
            status, body = await tab.photo(data)
            assert status == 201 and body["upload"], body
        async with running.services.sm() as s:
            stored = (await s.execute(select(Upload).order_by(Upload.id))).scalars().all()
        assert [u.content for u in stored] == [JPEG, motion, ordinary, fifty]
        assert [u.content_type for u in stored] == [
            "image/jpeg",
            "image/jpeg",
            "image/png",
            "image/jpeg",
        ]
    finally:
        await tab.close()
        await running.runner.cleanup()


async def test_photo_checks_run_a_few_at_a_time(store_url, sim):
    """The check is CPU-bound and holds the GIL between zlib's pieces: at most
    ``PHOTO_CHECKS`` run at once. With every slot taken (held here) past the wait, an upload
    is told in words to try again (503) and nothing is stored; a slot free again, it is
    taken."""
    running = await start_service(with_webchat(make_settings(store_url, sim)), sim)
    channel = running.services.webchat
    channel.check_wait_s = 0  # do not wait for the slots held below
    tab = Visitor(running.url)
    try:
        await tab.new_session()
        for _slot in range(PHOTO_CHECKS):
            await channel._checks.acquire()
        status, body = await tab.photo(JPEG)
        assert status == 503 and body["error"] == (
            "Xã đang nhận nhiều ảnh cùng lúc. Anh/chị vui lòng gửi lại ảnh sau ít phút ạ."
        ), body
        assert await count(running, Upload) == 0
        channel._checks.release()
        status, body = await tab.photo(JPEG)
        assert status == 201 and body["upload"], body
        assert await count(running, Upload) == 1
    finally:
        await tab.close()
        await running.runner.cleanup()


async def test_a_photo_checks_slot_is_held_until_its_thread_ends(monkeypatch):
    """A request cancelled while its photo is checked does not free the slot: the thread
    still works, so the slot is freed when the thread ends — never more than
    ``PHOTO_CHECKS`` checks at once."""
    started, finish = threading.Event(), threading.Event()
    real, results = images.check_image, []

    def slow(data: bytes) -> images.CheckedImage:
        started.set()
        finish.wait(30)
        results.append(real(data))
        return results[-1]

    channel = WebChatChannel(None, None, None, None, secret="s")  # type: ignore[arg-type]
    for _slot in range(PHOTO_CHECKS - 1):
        await channel._checks.acquire()
    monkeypatch.setattr(images, "check_image", slow)
    checking = asyncio.create_task(channel._checked(JPEG))
    await asyncio.to_thread(started.wait, 30)
    checking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await checking
    assert channel._checks.locked()  # the thread still runs: its slot is still taken
    finish.set()
    await asyncio.wait_for(channel._checks.acquire(), 30)  # freed once the thread ended
    assert [r.content_type for r in results] == ["image/jpeg"]


def test_webchat_settings_are_checked_at_start():
    from bot.config import ConfigError, settings_from_dict

    base = {
        "communes": [
            {
                "code": "02839",
                "name": "Xã Bắc Hà",
                "address": "UBND",
                "phone": "0214 3880 123",
                "office_hours": [{"days": "mon-fri", "open": "07:30", "close": "11:30"}],
            }
        ]
    }
    ok = settings_from_dict(
        {
            **base,
            "webchat": {
                "trusted_proxies": ["10.0.0.0/8", "::1"],
                "portal_origins": ["https://Xa.Example.gov.vn/"],
            },
        },
        env={},
    )
    assert ok.webchat.portal_origins == ["https://xa.example.gov.vn"]
    for bad, key in (
        ({"portal_origins": ["https://xa.example.gov.vn/chat"]}, "portal_origins"),
        ({"trusted_proxies": ["proxy.local"]}, "trusted_proxies"),
        ({"max_upload_bytes": 0}, "max_upload_bytes"),
        ({"max_upload_bytes": 11 * 1024 * 1024}, "max_upload_bytes"),  # at most 10 MB
    ):
        with pytest.raises(ConfigError, match=f"webchat.{key}"):
            settings_from_dict({**base, "webchat": bad}, env={})


# -- honest limits ----------------------------------------------------------------------------
#: what the commune does not handle (lines of tests/data/nlu_out_of_scope.yml, never trained on)
NOT_THE_COMMUNES = [
    "giá vàng nhẫn hôm nay bao nhiêu một chỉ",
    "bong da hom nay co tran nao hay",
    "cách làm bánh chưng ngon",
    "cho e xin con lô đẹp hôm nay",
    "giải giúp em bài toán lớp 7 này",
    "co phieu HPG co nen mua khong",
    "mất điện thoại rồi làm sao tìm lại",  # not a power cut: no report form
]


async def test_what_the_commune_does_not_handle_gets_an_honest_answer_and_the_menu(service):
    tab = Visitor(service.url)
    try:
        await tab.open()
        for question in NOT_THE_COMMUNES:
            [reply] = await tab.says(question)
            assert reply["kind"] == "choices", (question, reply)
            assert "chỉ hỗ trợ thông tin và thủ tục của Xã Thử Nghiệm 1" in reply["text"], question
            assert [o["payload"] for o in reply["options"]] == [
                "/office_hours",
                "/office_contact",
                "/talk_to_staff",
            ], question
        # no guess counted as a miss: the next question is answered, not handed to staff
        [hours] = await tab.says("uy ban xa lam viec may gio")
        assert "Xã Thử Nghiệm 1 làm việc" in hours["text"]
    finally:
        await tab.close()
    assert service.sim.messages() == []
