"""Zalo end to end: signed webhooks in from the simulator → the running service → consultation
messages out to the simulator's OA API. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.store.models import InboundEvent, OutboundMessage, Resident
from tests.helpers import (
    CS,
    commune_code,
    make_settings,
    oa_id,
    start_service,
    wait_idle,
    wait_until,
)


async def count(service, model, *where) -> int:
    async with service.services.sm() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar()


async def outbound_status(service, status: str, n: int = 1) -> None:
    async def done() -> bool:
        return await count(service, OutboundMessage, OutboundMessage.status == status) >= n

    await wait_until(done)


async def test_resident_question_answered_as_consultation_message(service):
    sim, oa = service.sim, oa_id(1)
    result = await sim.user_sends_text(oa, "7001", "uy ban xa lam viec may gio")
    assert result.status == 200 and result.attempts == 1
    [sent] = await sim.wait_for_messages(1, oa_id=oa, user_id="7001")
    assert sent.path == CS
    assert sent.body["recipient"] == {"user_id": "7001"}
    text = sent.body["message"]["text"]
    assert "Xã Thử Nghiệm 1 làm việc" in text and "7:30–11:30, 13:30–17:00" in text
    # the resident, the stored event and the sent row are all in the record
    async with service.services.sm() as s:
        resident = (await s.execute(select(Resident))).scalar_one()
        assert resident.external_id == "7001" and resident.last_interaction_at is not None
        event = (await s.execute(select(InboundEvent))).scalar_one()
        assert event.status == "processed" and event.event_name == "user_send_text"
    await outbound_status(service, "sent")
    async with service.services.sm() as s:
        row = (await s.execute(select(OutboundMessage))).scalar_one()
        assert row.provider_message_ids == [sent.message_id]


async def test_forged_or_missing_signature_is_401_and_stores_nothing(service):
    sim, oa = service.sim, oa_id(1)
    body = json.dumps(sim.emitter.build(oa, "7002", "user_send_text", text="xin chao")).encode()
    forged = await sim.send_forged(oa, body)
    missing = await sim.send_forged(oa, body, signature=None)
    assert forged.status == 401 and missing.status == 401
    # signed with another commune's secret
    other = sim.state.oas[oa_id(2)].oa_secret_key
    from bot.channels.zalo.signature import signature_header

    event = json.loads(body)
    wrong = await sim.send_forged(
        oa, body, signature=signature_header(event["app_id"], body, event["timestamp"], other)
    )
    assert wrong.status == 401
    assert await count(service, InboundEvent) == 0
    await wait_idle(service)
    assert sim.messages() == []


async def test_same_event_three_times_gets_one_reply(service):
    sim, oa = service.sim, oa_id(1)
    first = await sim.user_sends_text(oa, "7003", "sdt ubnd xa")
    again = await sim.send_duplicate(first)
    third = await sim.send_duplicate(first)
    assert [first.status, again.status, third.status] == [200, 200, 200]
    await sim.wait_for_messages(1, oa_id=oa, user_id="7003")
    await wait_idle(service)
    assert len(sim.messages(oa, "7003")) == 1
    assert await count(service, InboundEvent) == 1


async def test_bad_input_is_answered_and_changes_nothing(service):
    async with aiohttp.ClientSession() as http:
        async with http.post(service.webhook, data=b"{not json") as r:
            assert r.status == 400
        async with http.post(service.webhook, json={"hello": "world"}) as r:
            assert r.status == 400
        async with http.post(service.webhook, data=b"x" * (300 * 1024)) as r:
            assert r.status == 413
        unknown = {
            "app_id": "1",
            "event_name": "user_send_text",
            "sender": {"id": "9"},
            "recipient": {"id": "999"},
            "message": {"text": "hi", "msg_id": "m"},
            "timestamp": "1",
        }
        async with http.post(service.webhook, json=unknown) as r:
            assert r.status == 200 and (await r.json())["ignored"] == "unknown_oa"
        async with http.get(f"{service.url}/healthz") as r:
            assert r.status == 200 and (await r.json())["database"] == "ok"
    assert await count(service, InboundEvent) == 0


async def test_unknown_events_and_echoes_are_acknowledged_not_answered(service):
    sim, oa = service.sim, oa_id(1)
    echo = await sim.user_sends(oa, "7004", "oa_send_text", text="tin của cán bộ")
    reacted = await sim.user_sends(oa, "7004", "user_reacted_message", msg_id="abc")
    assert echo.status == 200 and reacted.status == 200

    async def settled() -> bool:  # the echo is read (staff's words, tests/test_zalo_echoes.py)
        async with service.services.sm() as s:
            return sorted((await s.execute(select(InboundEvent.status))).scalars()) == [
                "ignored",
                "processed",
            ]

    await wait_until(settled)
    assert sim.messages() == []  # neither is answered


async def test_follow_welcome_unfollow_and_attachments(service):
    sim, oa = service.sim, oa_id(1)
    await sim.user_sends(oa, "7005", "follow")
    welcome, village = await sim.wait_for_messages(2, oa_id=oa, user_id="7005")
    assert "Cảm ơn anh/chị đã quan tâm" in welcome.body["message"]["text"]
    assert "1. Giờ làm việc" in welcome.body["message"]["text"]  # numbered menu by default
    assert village.body["message"]["text"].startswith("Anh/chị ở thôn nào ạ?")  # asked once
    await sim.user_sends(oa, "7005", "user_send_image")
    await sim.user_sends(oa, "7005", "user_send_location", latitude="22.54", longitude="104.29")
    msgs = await sim.wait_for_messages(4, oa_id=oa, user_id="7005")
    assert "ảnh" in msgs[2].body["message"]["text"] and "vị trí" in msgs[3].body["message"]["text"]
    await sim.user_sends(oa, "7005", "unfollow")

    async def unfollowed() -> bool:
        async with service.services.sm() as s:
            r = (await s.execute(select(Resident))).scalar_one()
            return r.is_follower is False and r.followed_at is not None

    await wait_until(unfollowed)
    from bot.store.models import Message

    async with service.services.sm() as s:
        kept = (
            (await s.execute(select(Message.attachments).where(Message.direction == "in")))
            .scalars()
            .all()
        )
    types = [a[0]["type"] for a in kept if a]
    assert types == ["image", "location"]
    assert kept[1][0]["payload"]["coordinates"]["latitude"] == "22.54"


@pytest.mark.parametrize("legacy", [False, True])
async def test_submit_info_both_shapes(service, legacy):
    sim, oa = service.sim, oa_id(1)
    await sim.user_sends(
        oa,
        "7006",
        "user_submit_info",
        name="Lò Thị Mai",
        phone="84987654321",
        city="Lào Cai",
        ward="Xã Bắc Hà",
        address="Thôn Nậm Mòn",
        legacy_shape=legacy,
    )
    _, village = await sim.wait_for_messages(2, oa_id=oa, user_id="7006")
    # the street names a village: a question to confirm, not a village set silently
    assert village.body["message"]["text"].startswith("Anh/chị ở thôn Nậm Mòn phải không ạ?")
    async with service.services.sm() as s:
        r = (await s.execute(select(Resident))).scalar_one()
    assert r.display_name == "Lò Thị Mai" and r.phone == "84987654321"
    assert r.address["ward"] == "Xã Bắc Hà" and r.address["street"] == "Thôn Nậm Mòn"
    assert r.consent_source == "user_submit_info" and r.consent_at is not None
    assert r.village_id is None


async def test_delivery_and_seen_receipts_update_our_rows(service):
    sim, oa = service.sim, oa_id(1)
    await sim.user_sends_text(oa, "7007", "chao ad")
    await sim.wait_for_messages(1, oa_id=oa, user_id="7007")
    await outbound_status(service, "sent")
    await sim.user_sends(oa, "7007", "user_received_message")
    await sim.user_sends(oa, "7007", "user_seen_message")

    async def seen() -> bool:
        async with service.services.sm() as s:
            row = (await s.execute(select(OutboundMessage))).scalar_one()
            return row.delivered_at is not None and row.seen_at is not None

    await wait_until(seen)


async def test_user_withdraw_erases_personal_data(service):
    sim, oa = service.sim, oa_id(1)
    await sim.user_sends(oa, "7008", "user_submit_info", name="Giàng A Páo", phone="84911111111")
    await sim.user_sends_text(oa, "7008", "so dien thoai cua xa")
    await sim.wait_for_messages(2, oa_id=oa, user_id="7008")
    await sim.user_sends(oa, "7008", "user_withdraw")

    async def erased() -> bool:
        async with service.services.sm() as s:
            return (await s.execute(select(Resident))).scalar_one().erased_at is not None

    await wait_until(erased)
    from bot.store.models import Message

    async with service.services.sm() as s:
        r = (await s.execute(select(Resident))).scalar_one()
        assert r.display_name is None and r.phone is None and r.address is None
        texts = (await s.execute(select(Message.text))).scalars().all()
        assert texts and all(t is None for t in texts)
        payloads = (
            (
                await s.execute(
                    select(InboundEvent.payload).where(InboundEvent.event_name != "user_withdraw")
                )
            )
            .scalars()
            .all()
        )
        assert all(p == {"redacted": True} for p in payloads)


async def test_hundred_communes_in_one_process(store_url, sim):
    settings = make_settings(store_url, sim, communes=100)
    running = await start_service(settings, sim)
    try:
        assert len(running.services.tenants) == 100
        results = await asyncio.gather(
            *(sim.user_sends_text(oa_id(n), f"8{n:03d}", "gio lam viec") for n in range(1, 101))
        )
        assert all(r.status == 200 for r in results)
        await sim.wait_for_messages(100, timeout=30)
        for n in (1, 37, 100):
            [msg] = sim.messages(oa_id(n), f"8{n:03d}")
            assert f"Xã Thử Nghiệm {n} làm việc" in msg.body["message"]["text"]
        assert {m.oa_id for m in sim.messages()} == {oa_id(n) for n in range(1, 101)}
        assert len(sim.messages()) == 100
    finally:
        await running.runner.cleanup()


async def test_oa_moved_to_another_commune_on_restart(store_url, sim):
    """Communes merge: an OA id moves to another commune between two starts."""
    first = await start_service(make_settings(store_url, sim, communes=2), sim)
    await first.runner.cleanup()
    settings = make_settings(store_url, sim, communes=2)
    communes = [
        c.model_copy(update={"zalo": settings.communes[1 - i].zalo})
        for i, c in enumerate(settings.communes)
    ]
    swapped = settings.model_copy(update={"communes": communes})
    second = await start_service(swapped, sim)
    try:
        assert second.services.tenants.by_oa(oa_id(1)).code == commune_code(2)
    finally:
        await second.runner.cleanup()


async def test_group_and_anonymous_messages_are_not_answered(service):
    sim, oa = service.sim, oa_id(1)
    body = {
        "app_id": sim.state.oas[oa].app_id,
        "event_name": "user_send_group_text",
        "sender": {"id": "7010"},
        "recipient": {"id": "g1"},
        "oa_id": oa,
        "message": {"text": "chao ca nha", "msg_id": "gm1"},
        "timestamp": str(sim.state.now_ms()),
    }
    from bot.channels.zalo.signature import signature_header

    raw = json.dumps(body).encode()
    result = await sim.send_forged(
        oa,
        raw,
        signature=signature_header(
            body["app_id"], raw, body["timestamp"], sim.state.oas[oa].oa_secret_key
        ),
    )
    assert result.status == 200
    await wait_idle(service)
    assert sim.messages() == []
    assert await count(service, InboundEvent) == 1  # kept (in the window), not answered
    async with aiohttp.ClientSession() as http:  # attachments of the wrong type: 400, no crash
        bad = dict(body, event_name="user_send_image", message={"attachments": 5, "msg_id": "x"})
        async with http.post(service.webhook, json=bad) as r:
            assert r.status in (200, 401)


async def test_withdraw_in_the_same_batch_as_a_message_erases_it(store_url, sim):
    """A message and the resident's user_withdraw arrive before the processor runs: the batch
    that holds both must not write the message, its reply, or keep its payload."""
    settings = make_settings(store_url, sim, communes=1)
    running = await start_service(settings, sim)
    try:
        processor = running.services.processor
        await processor.stop()  # hold processing while both events arrive
        await asyncio.sleep(0.1)  # its loop ends (stop() does not wait for it)
        await sim.user_sends_text(oa_id(1), "7020", "so cua toi la 0912345678")
        await sim.user_sends(oa_id(1), "7020", "user_withdraw")
        assert await processor.run_once() == 2
        async with running.services.sm() as s:
            from bot.store.models import Message

            assert (await s.execute(select(Message.text))).scalars().all() == []
            assert (await s.execute(select(OutboundMessage))).scalars().all() == []
            payloads = (
                (
                    await s.execute(
                        select(InboundEvent.payload).where(
                            InboundEvent.event_name == "user_send_text"
                        )
                    )
                )
                .scalars()
                .all()
            )
            assert payloads == [{"redacted": True}]
    finally:
        await running.runner.cleanup()


async def test_missed_questions_are_kept_per_commune(service):
    sim = service.sim
    await sim.user_sends_text(oa_id(1), "7030", "xyz qwerty")
    await sim.user_sends_text(oa_id(2), "7031", "gio lam viec")
    await sim.wait_for_messages(2)
    from bot.store.models import Message

    async with service.services.sm() as s:
        rows = (
            await s.execute(
                select(Message.commune_id, Message.text, Message.intent).where(
                    Message.direction == "in"
                )
            )
        ).all()
    by_text = {text: (commune, intent) for commune, text, intent in rows}
    assert by_text["xyz qwerty"][1] == "nlu_fallback"
    assert by_text["gio lam viec"][1] == "office_hours"
    assert by_text["xyz qwerty"][0] != by_text["gio lam viec"][0]
