"""The web chat page and its websocket go through the same processor and sender as Zalo."""

from __future__ import annotations

import uuid

import aiohttp

from tests.conftest import commune_code, make_settings, oa_id, start_service


async def chat(url: str, session: str):  # type: ignore[no-untyped-def]
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(f"{url}/chat/{commune_code(1)}/ws?session={session}")
    return http, ws


async def test_page_and_office_hours_over_websocket(service):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{service.url}/chat/{commune_code(1)}") as r:
            html = await r.text()
            assert r.status == 200 and "Xã Thử Nghiệm 1" in html and "viewport" in html
        async with http.get(f"{service.url}/chat/00000") as r:
            assert r.status == 404
        async with http.get(f"{service.url}/") as r:
            assert f"/chat/{commune_code(2)}" in await r.text()
    session = uuid.uuid4().hex
    http, ws = await chat(service.url, session)
    try:
        welcome = await ws.receive_json(timeout=5)
        assert welcome["kind"] == "choices" and welcome["options"][0]["payload"] == "/office_hours"
        await ws.send_json({"id": "m1", "text": "uy ban xa lam viec may gio"})
        reply = await ws.receive_json(timeout=10)
        assert reply["kind"] == "text" and "Xã Thử Nghiệm 1 làm việc" in reply["text"]
        await ws.send_json({"id": "m2", "payload": "/office_contact", "text": "Địa chỉ"})
        contact = await ws.receive_json(timeout=10)
        assert "0214 000 001" in contact["text"]
        await ws.send_json({"id": "m2", "payload": "/office_contact"})  # resent: ignored
        await ws.send_json({"id": "m3", "text": ""})
        error = await ws.receive_json(timeout=10)
        assert error["type"] == "error"
    finally:
        await ws.close()
        await http.close()
    # a reload shows the conversation so far
    http, ws = await chat(service.url, session)
    try:
        history = await ws.receive_json(timeout=5)
        assert history["type"] == "history"
        assert [m["direction"] for m in history["messages"]] == ["in", "out", "in", "out"]
    finally:
        await ws.close()
        await http.close()
    assert service.sim.messages() == []  # nothing went to Zalo


async def test_bad_session_refused(service):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{service.url}/chat/{commune_code(1)}/ws?session=x") as r:
            assert r.status == 400


async def test_redis_coordination_end_to_end(pg_url, redis_url, sim):
    """The production shape: PostgreSQL store and Redis coordination, Zalo and web chat."""
    running = await start_service(make_settings(pg_url, sim, communes=2, redis=redis_url), sim)
    try:
        assert running.services.coord.name == "redis"
        await sim.user_sends_text(oa_id(2), "7401", "gio lam viec")
        [msg] = await sim.wait_for_messages(1, oa_id=oa_id(2), user_id="7401")
        assert "Xã Thử Nghiệm 2" in msg.body["message"]["text"]
        http, ws = await chat(running.url, uuid.uuid4().hex)
        try:
            await ws.receive_json(timeout=5)
            await ws.send_json({"id": "r1", "text": "so dien thoai xa"})
            reply = await ws.receive_json(timeout=10)
            assert "0214 000 001" in reply["text"]
        finally:
            await ws.close()
            await http.close()
    finally:
        await running.runner.cleanup()


async def test_a_session_cannot_flood(service):
    from bot.channels.webchat import PER_MINUTE

    http, ws = await chat(service.url, uuid.uuid4().hex)
    try:
        await ws.receive_json(timeout=5)
        for i in range(PER_MINUTE + 1):
            await ws.send_json({"id": f"f{i}", "text": "chao"})
        seen = [await ws.receive_json(timeout=10) for _ in range(PER_MINUTE + 1)]
        errors = [m for m in seen if m["type"] == "error"]
        assert len(errors) == 1 and "nhanh quá" in errors[0]["error"]
    finally:
        await ws.close()
        await http.close()
