"""The send path reads Zalo's error codes once: -32 back off and retry, -216/-220 refresh once,
window errors recorded on the resident, the rest permanent with the reason kept."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.channels.zalo.errors import ZaloError, classify, seconds_until_morning
from bot.sending import Outcome
from bot.store.models import OutboundMessage, Resident, ZaloToken
from tests.helpers import (
    CS,
    ManualClock,
    make_settings,
    oa_id,
    row_reaches,
    row_where,
    rows,
    start_service,
    wait_idle,
    wait_until,
)


async def queue(service, recipient: str, *items: tuple) -> None:
    """Queue outbound rows ``(key, kind, payload[, channel])`` for the only resident in one
    transaction, as later issues will (notices, staff replies), and wake the sender."""
    async with service.services.sm() as s, s.begin():
        resident = (await s.execute(select(Resident))).scalar_one()
        for key, kind, payload, *channel in items:
            s.add(
                OutboundMessage(
                    commune_id=resident.commune_id,
                    resident_id=resident.id,
                    channel=channel[0] if channel else "zalo",
                    recipient=recipient,
                    idempotency_key=key,
                    kind=kind,
                    payload=payload,
                    priority=0,
                )
            )
    await service.services.coord.publish("outbound")


def test_classification_is_one_table():
    assert classify(-32) is Outcome.THROTTLED
    assert classify(-216) is classify(-220) is Outcome.REFRESH_TOKEN
    for code in (-230, -232, -213, -227, -244):
        assert classify(code) is Outcome.WINDOW_CLOSED
    assert classify(-201) is Outcome.PERMANENT
    # night refusal: retried at 06:00 Vietnam time
    at_23h_vn = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert seconds_until_morning(at_23h_vn) == 7 * 3600
    assert ZaloError(-234).outcome is Outcome.RETRY and ZaloError(-234).retry_after > 0


async def test_rate_limited_send_is_retried_and_delivered(service):
    sim, oa = service.sim, oa_id(1)
    sim.inject_error(CS, -32, times=2)
    await sim.user_sends_text(oa, "7101", "may gio lam viec")
    [sent] = await sim.wait_for_messages(1, oa_id=oa, user_id="7101", timeout=20)
    row = await row_reaches(service, "sent")
    # rate limits do not use up the message's attempts
    assert row.attempts == 1 and sim.stats()["errors"].get("-32") == 2
    assert "lam viec" not in sent.body["message"]["text"]  # the answer, not an echo


async def test_server_errors_are_retried(service):
    sim, oa = service.sim, oa_id(1)
    sim.inject_http_status(CS, 502, times=1)
    await sim.user_sends_text(oa, "7102", "dia chi xa")
    await sim.wait_for_messages(1, oa_id=oa, user_id="7102", timeout=20)
    row = await row_reaches(service, "sent")
    assert row.attempts == 2


async def test_expired_token_is_refreshed_once_and_rotated(service):
    sim, oa = service.sim, oa_id(1)
    async with service.services.sm() as s:
        before = (await s.get(ZaloToken, oa)).version
    sim.inject_error(CS, -216, times=1)
    await sim.user_sends_text(oa, "7103", "chao")
    await sim.wait_for_messages(1, oa_id=oa, user_id="7103")
    assert service.services.tokens.refresh_count == 1
    async with service.services.sm() as s:
        token = await s.get(ZaloToken, oa)
    assert token.version == before + 1 and token.broken_reason is None
    # tokens are encrypted at rest: the stored value is not the token Zalo issued
    assert sim.state.oas[oa] is not None
    assert all(t not in token.access_token_enc for t in sim.state.access_tokens)


async def test_window_closed_is_recorded_not_retried(service):
    sim, oa = service.sim, oa_id(1)
    await sim.user_sends_text(oa, "7104", "chao")
    await sim.wait_for_messages(1, oa_id=oa, user_id="7104")
    await row_reaches(service, "sent")
    # eight days later (the sim's access token has expired too, so this also refreshes it)
    sim.advance(8 * 24 * 3600)
    await queue(service, "7104", ("test:late", "text", {"text": "Thông báo muộn"}))
    row = await row_reaches(service, "window_closed")
    assert row.attempts == 1 and row.error_code == "-230"
    async with service.services.sm() as s:
        resident = (await s.execute(select(Resident))).scalar_one()
    assert resident.window_closed_at is not None and "-230" in resident.window_error
    assert len(sim.messages(oa, "7104")) == 1


async def test_permanent_error_keeps_reason(service):
    sim, oa = service.sim, oa_id(1)
    sim.inject_error(CS, -201, times=1)
    await sim.user_sends_text(oa, "7105", "chao")
    row = await row_reaches(service, "failed")
    assert row.attempts == 1 and row.error_code == "-201" and "-201" in row.error_reason
    await wait_idle(service)
    assert sim.messages(oa, "7105") == []


async def test_long_answer_split_into_ordered_parts(service):
    sim, oa = service.sim, oa_id(1)
    await sim.user_sends_text(oa, "7106", "chao")
    await sim.wait_for_messages(1, oa_id=oa, user_id="7106")
    text = "".join(f"Câu số {i} của một thông báo dài về lịch tiêm chủng. " for i in range(120))
    await queue(service, "7106", ("test:long", "text", {"text": text}))
    msgs = await sim.wait_for_messages(1 + 4, oa_id=oa, user_id="7106")
    parts = [m.body["message"]["text"] for m in msgs[1:]]
    assert all(len(p) <= 2000 for p in parts) and all(p.endswith(".") for p in parts)
    assert " ".join(parts) == text.strip()
    row = await row_reaches(service, "sent")
    assert len(row.provider_message_ids) in (1, 4)


async def test_choices_as_buttons_when_enabled(store_url, sim):
    running = await start_service(make_settings(store_url, sim, communes=1, buttons=True), sim)
    try:
        await sim.user_sends_text(oa_id(1), "7107", "hom nay gia vang bao nhieu")
        [msg] = await sim.wait_for_messages(1, oa_id=oa_id(1), user_id="7107")
        payload = msg.body["message"]["attachment"]["payload"]
        assert payload["template_type"] == "list"
        assert [b["payload"] for b in payload["buttons"]] == [
            "/office_hours",
            "/office_contact",
            "/talk_to_staff",
        ]
        # a tap arrives as user_send_text with the payload
        await sim.user_sends_text(oa_id(1), "7107", "/office_contact")
        msgs = await sim.wait_for_messages(2, oa_id=oa_id(1), user_id="7107")
        assert "0214 000 001" in msgs[1].body["message"]["text"]
    finally:
        await running.runner.cleanup()


async def test_numbered_menu_reply_picks_choice(service):
    sim, oa = service.sim, oa_id(1)
    await sim.user_sends_text(oa, "7108", "hom nay gia vang bao nhieu")
    [menu] = await sim.wait_for_messages(1, oa_id=oa, user_id="7108")
    assert "1. Giờ làm việc" in menu.body["message"]["text"]
    await sim.user_sends_text(oa, "7108", "1")
    msgs = await sim.wait_for_messages(2, oa_id=oa, user_id="7108")
    assert "làm việc:" in msgs[1].body["message"]["text"]


async def test_image_and_request_user_info_reach_zalo(service):
    sim, oa = service.sim, oa_id(1)
    await sim.user_sends_text(oa, "7109", "chao")
    await sim.wait_for_messages(1, oa_id=oa, user_id="7109")
    await queue(
        service,
        "7109",
        (
            "t:img",
            "image",
            {
                "url": "https://example.gov.vn/lich-tiem.png",
                "attachment_id": None,
                "caption": "Lịch tiêm chủng tháng 12",
            },
        ),
        (
            "t:info",
            "request_user_info",
            {
                "title": "Xã Bắc Hà xin thông tin liên hệ",
                "subtitle": "Để cán bộ gọi lại cho anh/chị",
                "image_url": "https://example.gov.vn/logo.png",
            },
        ),
    )
    msgs = await sim.wait_for_messages(3, oa_id=oa, user_id="7109")
    image, info = msgs[1].body["message"], msgs[2].body["message"]
    assert image["text"] == "Lịch tiêm chủng tháng 12"
    assert image["attachment"]["payload"]["elements"][0] == {
        "media_type": "image",
        "url": "https://example.gov.vn/lich-tiem.png",
    }
    assert info["attachment"]["payload"]["template_type"] == "request_user_info"
    assert info["attachment"]["payload"]["elements"][0]["title"].startswith("Xã Bắc Hà")


async def test_long_rate_limiting_never_fails_a_reply(service):
    sim, oa = service.sim, oa_id(1)
    sender = service.services.sender
    sim.inject_error(CS, -32, times=sender.max_attempts + 3)
    await sim.user_sends_text(oa, "7110", "chao")

    async def nudge_until_sent() -> bool:  # skip the waits: make the row due again now
        async with service.services.sm() as s, s.begin():
            await s.execute(
                OutboundMessage.__table__.update()
                .where(OutboundMessage.status == "pending")
                .values(next_attempt_at=datetime(2000, 1, 1, tzinfo=UTC))
            )
        await service.services.coord.publish("outbound")
        return bool(sim.messages(oa, "7110"))

    await wait_until(nudge_until_sent, timeout=20)
    row = await row_reaches(service, "sent")
    assert row.attempts == 1


async def test_unknown_commune_fails_its_row_and_not_the_batch(service):
    sim, oa = service.sim, oa_id(1)
    await sim.user_sends_text(oa, "7111", "chao")
    await sim.wait_for_messages(1, oa_id=oa, user_id="7111")
    await queue(
        service,
        "7111",
        ("t:fax", "text", {"text": "?"}, "fax"),
        ("t:ok", "text", {"text": "Thông báo"}),
    )
    bad = await row_reaches(service, "failed")
    assert "no longer configured" in bad.error_reason
    msgs = await sim.wait_for_messages(2, oa_id=oa, user_id="7111")
    assert msgs[1].body["message"]["text"] == "Thông báo"


async def test_a_send_interrupted_by_a_crash_is_not_sent_twice(service):
    """A worker died between Zalo accepting a message and recording it: the row's lease
    lapses, the next worker finds the message in the conversation and does not resend it; a
    row Zalo never got is sent once."""
    from datetime import timedelta

    from bot.timeutil import utcnow

    sim, oa = service.sim, oa_id(1)
    await sim.user_sends_text(oa, "7301", "xin chao")
    await sim.wait_for_messages(1, oa_id=oa, user_id="7301")
    lapsed = utcnow() - timedelta(minutes=2)
    async with service.services.sm() as s, s.begin():
        resident = (await s.execute(select(Resident))).scalar_one()
        for key, text in (("crash:reached", "Tin đã tới Zalo"), ("crash:lost", "Tin chưa tới")):
            s.add(
                OutboundMessage(
                    commune_id=resident.commune_id,
                    resident_id=resident.id,
                    channel="zalo",
                    recipient="7301",
                    idempotency_key=key,
                    kind="text",
                    payload={"text": text},
                    priority=3,
                    status="sending",
                    attempts=1,
                    claimed_at=lapsed,
                    claimed_by="dead-host:1",
                    created_at=lapsed,
                )
            )
    # what the dead worker managed before it died: Zalo has the first one
    sim.state.record_message(
        oa, "7301", CS, {"recipient": {"user_id": "7301"}, "message": {"text": "Tin đã tới Zalo"}}
    )
    await service.services.coord.publish("outbound")

    async def settled() -> bool:
        return (
            sum(
                r.status == "sent"
                for r in await rows(service)
                if r.idempotency_key.startswith("crash:")
            )
            == 2
        )

    await wait_until(settled, timeout=15)
    texts = [m.body["message"]["text"] for m in sim.messages(oa, "7301")]
    assert texts.count("Tin đã tới Zalo") == 1 and texts.count("Tin chưa tới") == 1
    reached = next(r for r in await rows(service) if r.idempotency_key == "crash:reached")
    assert reached.resumed and reached.provider_message_ids  # the id found in the conversation


async def test_a_broadcast_leaves_budget_for_residents_replies(store_url, sim):
    """With 10 calls a minute and 50 % for routine notices: 8 notices queued, 5 go this minute,
    and a resident's question asked after them is still answered at once."""
    running = await start_service(
        make_settings(store_url, sim, app_calls_per_minute=10, bulk_share=0.5), sim
    )
    running.services.coord.clock = ManualClock()  # the limiter's minute turns only if told
    try:
        oa = oa_id(1)
        await sim.user_sends_text(oa, "7401", "xin chao")  # 1 call: the greeting's reply
        await sim.wait_for_messages(1, oa_id=oa, user_id="7401")
        async with running.services.sm() as s, s.begin():
            resident = (await s.execute(select(Resident))).scalar_one()
            for n in range(8):
                s.add(
                    OutboundMessage(
                        commune_id=resident.commune_id,
                        resident_id=resident.id,
                        channel="zalo",
                        recipient="7401",
                        kind="text",
                        idempotency_key=f"bulk:{n}",
                        payload={"text": f"Tin {n}"},
                        priority=3,
                    )
                )
        await running.services.coord.publish("outbound")
        await sim.wait_for_messages(5, oa_id=oa, user_id="7401")  # greeting + 4 notices
        await wait_idle(running)  # the rest wait for the next minute
        sent_before = len(sim.messages(oa, "7401"))
        await sim.user_sends_text(oa, "7401", "uy ban lam viec may gio")
        msgs = await sim.wait_for_messages(sent_before + 1, oa_id=oa, user_id="7401", timeout=5)
        assert "làm việc" in msgs[-1].body["message"]["text"]
        notices = [
            m for m in sim.messages(oa, "7401") if m.body["message"]["text"].startswith("Tin")
        ]
        assert len(notices) <= 5 and sim.stats()["rate_limited"] == 0
    finally:
        await running.runner.cleanup()


async def test_an_oa_budget_holds_on_top_of_the_apps(store_url, sim):
    running = await start_service(make_settings(store_url, sim, oa_calls_per_minute=4), sim)
    running.services.coord.clock = ManualClock()  # the limiter's minute turns only if told
    try:
        oa, other = oa_id(1), oa_id(2)
        for user, where in (("7501", oa), ("7502", other)):
            await sim.user_sends_text(where, user, "xin chao")  # 1 call on each OA
            await sim.wait_for_messages(1, oa_id=where, user_id=user)
        async with running.services.sm() as s, s.begin():
            for resident in (await s.execute(select(Resident))).scalars():
                for n in range(4):
                    s.add(
                        OutboundMessage(
                            commune_id=resident.commune_id,
                            resident_id=resident.id,
                            channel="zalo",
                            recipient=resident.external_id,
                            kind="text",
                            priority=3,
                            idempotency_key=f"oa:{resident.external_id}:{n}",
                            payload={"text": f"Tin {n}"},
                        )
                    )
        await running.services.coord.publish("outbound")
        await sim.wait_for_messages(3, oa_id=oa, user_id="7501")
        await sim.wait_for_messages(3, oa_id=other, user_id="7502")
        await wait_idle(running)  # the rest wait for the next minute
        # 4 calls a minute per OA, routine notices up to 95 % (3.8): the reply and 2 notices
        assert len(sim.messages(oa, "7501")) == 3 and len(sim.messages(other, "7502")) == 3
        assert sim.stats()["rate_limited"] == 0
    finally:
        await running.runner.cleanup()


async def test_a_send_that_timed_out_is_read_back_not_sent_blindly(store_url, sim):
    """Zalo took the message but its answer did not arrive in time: the next try finds it in
    the conversation and records it, once. A message Zalo did not take (it answered too late,
    with an error) is found missing and sent — once."""
    running = await start_service(
        make_settings(store_url, sim, communes=1, request_timeout_s=0.5), sim
    )
    oa = oa_id(1)
    try:
        await sim.user_sends_text(oa, "7601", "xin chao")
        await sim.wait_for_messages(1, oa_id=oa, user_id="7601")
        sim.inject_delay(CS, 1.0, times=1)  # Zalo records it, our client has given up
        await queue(running, "7601", ("timeout:taken", "text", {"text": "Tin Zalo đã nhận"}))
        taken = await row_where(
            running, lambda r: r.idempotency_key == "timeout:taken" and r.status == "sent"
        )
        assert taken.resumed and taken.provider_message_ids
        assert [m.body["message"]["text"] for m in sim.messages(oa, "7601")].count(
            "Tin Zalo đã nhận"
        ) == 1

        sim.inject_delay(CS, 1.0, times=1)  # … and this time Zalo refused it, too late
        sim.inject_error(CS, -32, times=1)
        await queue(running, "7601", ("timeout:lost", "text", {"text": "Tin Zalo chưa nhận"}))
        lost = await row_where(
            running, lambda r: r.idempotency_key == "timeout:lost" and r.status == "sent"
        )
        assert lost.resumed
        assert [m.body["message"]["text"] for m in sim.messages(oa, "7601")].count(
            "Tin Zalo chưa nhận"
        ) == 1
    finally:
        await running.runner.cleanup()
