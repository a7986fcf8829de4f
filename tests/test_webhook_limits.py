"""What outsiders send: JSON nested to blow the parser's stack gets a 4xx on every JSON
endpoint (the Zalo webhook, the staff API, Open311, web chat frames), and a signed Zalo event
dated outside Zalo's retry ladder is acknowledged (so Zalo stops) but neither stored nor
answered. Through the real path: HTTP / WebSocket in, the Zalo simulator out."""

from __future__ import annotations

import time

import aiohttp
import pytest

from bot.config import ZaloSettings
from bot.staff import add_staff
from bot.store.models import InboundEvent, Ticket
from tests.helpers import (
    Visitor,
    commune_code,
    count,
    make_settings,
    oa_id,
    start_service,
    text,
    wait_idle,
)

CODE, OA = commune_code(1), oa_id(1)
DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB: under the body limit, far over any depth
DEEP_OBJECT = b'{"a":' * 20_000 + b"1" + b"}" * 20_000


async def test_deeply_nested_json_is_a_4xx_on_every_json_endpoint(service):
    async with service.services.sm() as s, s.begin():
        _, officer = await add_staff(s, CODE, "Cán bộ", "officer")
    api = f"{service.url}/api/v1/communes/{CODE}"
    json_type = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for body in (DEEP, DEEP_OBJECT):
            async with http.post(service.webhook, data=body, headers=json_type) as r:
                assert r.status == 400 and (await r.json())["error"] == -400
            for path in ("/notices", "/tickets"):
                async with http.post(
                    api + path,
                    data=body,
                    headers={**json_type, "Authorization": f"Bearer {officer}"},
                ) as r:
                    assert r.status == 400 and "JSON" in (await r.json())["error"]
            async with http.post(
                f"{service.url}/open311/v2/requests.json", data=body, headers=json_type
            ) as r:
                assert r.status == 400 and "JSON" in (await r.json())[0]["description"]
        async with http.get(f"{service.url}/healthz") as r:
            assert r.status == 200
    tab = Visitor(service.url)
    try:
        await tab.open()
        await tab.ws.send_str("[" * 8000 + "]" * 8000)  # a frame is at most 16 KB
        frame = await tab.ws.receive_json(timeout=10)
        assert frame["type"] == "error" and "không hợp lệ" in frame["error"]
        # the connection is still there and answers
        assert "điện thoại" in text(await tab.says("số điện thoại của xã")).lower()
    finally:
        await tab.close()
    assert await count(service, InboundEvent) == 1 and await count(service, Ticket) == 0


async def emit_dated(sim, user: str, text_: str, ms: int):  # type: ignore[no-untyped-def]
    event = sim.emitter.prepare(OA, user, "user_send_text", text=text_)
    event["timestamp"] = str(ms)
    return await sim.emitter.emit(OA, event, retry=False)


@pytest.fixture
async def strict(store_url, sim):
    """The service with Zalo's event window at its defaults (conftest widens it)."""
    defaults = ZaloSettings()
    assert (defaults.event_max_age_s, defaults.event_future_skew_s) == (86400, 300)
    running = await start_service(
        make_settings(
            store_url,
            sim,
            communes=1,
            event_max_age_s=defaults.event_max_age_s,
            event_future_skew_s=defaults.event_future_skew_s,
        ),
        sim,
    )
    yield running
    await running.runner.cleanup()


async def test_a_signed_event_outside_the_retry_window_is_acknowledged_not_kept(strict, caplog):
    sim = strict.sim
    now = int(time.time() * 1000)
    for user, ms in (
        ("7201", now - 25 * 3600 * 1000),  # a day and more old: a replay
        ("7202", now + 10 * 60 * 1000),
    ):  # ten minutes ahead of our clock
        result = await emit_dated(sim, user, "số điện thoại của xã", ms)
        assert result.status == 200 and result.attempts == 1  # Zalo is not made to retry
    assert "outside the accepted window" in caplog.text
    # Zalo's last retry (about 2 h after the first try) and a clock a little ahead still count
    for user, ms in (("7203", now - 2 * 3600 * 1000), ("7204", now + 60 * 1000)):
        assert (await emit_dated(sim, user, "số điện thoại của xã", ms)).status == 200
        await sim.wait_for_messages(1, oa_id=OA, user_id=user)
    await wait_idle(strict)
    assert sim.messages(OA, "7201") == [] and sim.messages(OA, "7202") == []
    assert await count(strict, InboundEvent) == 2


def test_the_window_is_configuration():
    with pytest.raises(ValueError):
        ZaloSettings(event_max_age_s=0)
    assert ZaloSettings(event_max_age_s=3600, event_future_skew_s=0).event_max_age_s == 3600
