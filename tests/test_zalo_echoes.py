"""What the OA said, as Zalo reports it back: staff typing in OA Manager is logged and pauses the
bot for that resident; the bot's own sends come back too and change nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from bot.store.models import Conversation, InboundEvent, Message, Resident
from bot.timeutil import as_utc, utcnow
from tests.helpers import CS, make_settings, oa_id, start_service, wait_until

OA = oa_id(1)


async def count(running, *where) -> int:  # type: ignore[no-untyped-def]
    async with running.services.sm() as s:
        return (
            await s.execute(select(func.count()).select_from(Message).where(*where))
        ).scalar_one()


async def conversation(running, user: str) -> Conversation:
    async with running.services.sm() as s:
        return (
            await s.execute(
                select(Conversation)
                .join(Resident, Resident.id == Conversation.resident_id)
                .where(Resident.external_id == user)
            )
        ).scalar_one()


def replies(sim, user: str) -> list[str]:
    """What the bot sent through the API (not what staff typed in OA Manager)."""
    return [m.body["message"]["text"] for m in sim.messages(OA, user) if m.path == CS]


async def test_staff_typing_pauses_the_bot_and_our_own_echoes_do_not(store_url, sim):
    sim.configure(emit_echoes=True)  # Zalo echoes every message the OA sends
    running = await start_service(
        make_settings(store_url, sim, communes=1, staff_echo_pause_s=1800), sim
    )
    try:
        await sim.user_sends_text(OA, "7801", "xin chao")
        await sim.wait_for_messages(1, oa_id=OA, user_id="7801")

        async def echoes_done(n: int) -> bool:
            async with running.services.sm() as s:
                return (
                    await s.execute(
                        select(func.count())
                        .select_from(InboundEvent)
                        .where(
                            InboundEvent.event_name == "oa_send_text",
                            InboundEvent.status == "processed",
                        )
                    )
                ).scalar_one() >= n

        await wait_until(lambda: echoes_done(1))  # the echo of the bot's own greeting
        assert (await conversation(running, "7801")).paused_until is None
        assert await count(running, Message.intent == "staff_oa_manager") == 0

        # a commune officer answers from Zalo's OA Manager
        await sim.staff_types(OA, "7801", "Chào anh, em là cán bộ xã, anh cần gì ạ?")
        await wait_until(lambda: echoes_done(2))
        [logged] = await _messages(running, Message.intent == "staff_oa_manager")
        assert logged.direction == "out" and logged.text.startswith("Chào anh, em là cán bộ")
        paused = as_utc((await conversation(running, "7801")).paused_until)
        assert timedelta(minutes=29) < paused - utcnow() <= timedelta(minutes=30)

        # the resident answers the officer: logged for staff, the bot keeps out of it
        await sim.user_sends_text(OA, "7801", "uy ban lam viec may gio")

        async def logged_for_staff() -> bool:
            return await count(running, Message.intent == "staff_paused") == 1

        await wait_until(logged_for_staff)
        assert len(replies(sim, "7801")) == 1

        # the pause is over (as time passes): the bot answers again
        async with running.services.sm() as s, s.begin():
            await s.execute(
                update(Conversation).values(paused_until=utcnow() - timedelta(seconds=1))
            )
        await sim.user_sends_text(OA, "7801", "uy ban lam viec may gio")
        await wait_until(lambda: _has(sim, "7801", 2))
        assert "làm việc" in replies(sim, "7801")[1]
    finally:
        await running.runner.cleanup()


async def _messages(running, *where) -> list[Message]:  # type: ignore[no-untyped-def]
    async with running.services.sm() as s:
        return list((await s.execute(select(Message).where(*where))).scalars())


async def _has(sim, user: str, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(replies(sim, user)) >= n


async def test_an_echo_of_our_send_that_beats_its_ids_is_not_taken_for_staff(store_url, sim):
    """Zalo's echo of our own send may arrive before the sender has stored the message id Zalo
    gave it: while a send to that person is in flight the echo waits, then is found ours."""
    from bot.store.models import OutboundMessage, ProviderMessage

    running = await start_service(make_settings(store_url, sim, communes=1), sim)
    try:
        await sim.user_sends_text(OA, "7802", "xin chao")
        await sim.wait_for_messages(1, oa_id=OA, user_id="7802")
        async with running.services.sm() as s, s.begin():  # another worker is sending to them
            who = (
                await s.execute(select(Resident).where(Resident.external_id == "7802"))
            ).scalar_one()
            row = OutboundMessage(
                commune_id=who.commune_id,
                resident_id=who.id,
                channel="zalo",
                recipient="7802",
                idempotency_key="t:in-flight",
                kind="text",
                payload={"text": "Lịch tiêm chủng"},
                priority=3,
                status="sending",
                attempts=1,
                claimed_at=utcnow(),
                claimed_by="other-host:1",
            )
            s.add(row)
        # Zalo took it and echoes it (no admin_id: an API send) before the ids are stored
        echo = await sim.staff_types(OA, "7802", "Lịch tiêm chủng", admin_id=None)
        msg_id = echo.event["message"]["msg_id"]

        async def deferred() -> bool:  # looked at, left for later (its claim set to lapse)
            async with running.services.sm() as s:
                event = (
                    await s.execute(
                        select(InboundEvent).where(InboundEvent.event_name == "oa_send_text")
                    )
                ).scalar_one()
                return event.status == "processing" and as_utc(
                    event.claimed_at
                ) < utcnow() - timedelta(seconds=30)

        await wait_until(deferred)
        async with running.services.sm() as s, s.begin():  # the other worker records its send
            await s.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == row.id)
                .values(status="sent", provider_message_ids=[msg_id])
            )
            s.add(
                ProviderMessage(
                    commune_id=who.commune_id,
                    channel="zalo",
                    provider_message_id=msg_id,
                    outbound_id=row.id,
                )
            )

        async def processed() -> bool:
            async with running.services.sm() as s:
                return (
                    await s.execute(
                        select(InboundEvent.status).where(InboundEvent.event_name == "oa_send_text")
                    )
                ).scalar_one() == "processed"

        await wait_until(processed)
        assert await count(running, Message.intent == "staff_oa_manager") == 0
        assert (await conversation(running, "7802")).paused_until is None
    finally:
        await running.runner.cleanup()
