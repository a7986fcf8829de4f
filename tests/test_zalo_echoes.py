"""What the OA said, as Zalo reports it back: staff typing in OA Manager is logged and pauses the
bot for that resident; the bot's own sends come back too and change nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from bot.store.models import Conversation, InboundEvent, Message, Resident
from bot.timeutil import as_utc, utcnow
from tests.conftest import make_settings, oa_id, start_service
from tests.test_zalo_e2e import CS, wait_until

OA = oa_id(1)


async def count(running, *where) -> int:  # type: ignore[no-untyped-def]
    async with running.services.sm() as s:
        return (await s.execute(select(func.count()).select_from(Message).where(*where))
                ).scalar_one()


async def conversation(running, user: str) -> Conversation:
    async with running.services.sm() as s:
        return (await s.execute(select(Conversation).join(
            Resident, Resident.id == Conversation.resident_id).where(
                Resident.external_id == user))).scalar_one()


def replies(sim, user: str) -> list[str]:
    """What the bot sent through the API (not what staff typed in OA Manager)."""
    return [m.body["message"]["text"] for m in sim.messages(OA, user) if m.path == CS]


async def test_staff_typing_pauses_the_bot_and_our_own_echoes_do_not(store_url, sim):
    sim.configure(emit_echoes=True)  # Zalo echoes every message the OA sends
    running = await start_service(make_settings(store_url, sim, communes=1,
                                                staff_echo_pause_s=1800), sim)
    try:
        await sim.user_sends_text(OA, "7801", "xin chao")
        await sim.wait_for_messages(1, oa_id=OA, user_id="7801")

        async def echoes_done(n: int) -> bool:
            async with running.services.sm() as s:
                return (await s.execute(select(func.count()).select_from(InboundEvent).where(
                    InboundEvent.event_name == "oa_send_text",
                    InboundEvent.status == "processed"))).scalar_one() >= n
        await wait_until(lambda: echoes_done(1))  # the echo of the bot's own greeting
        assert (await conversation(running, "7801")).paused_until is None
        assert await count(running, Message.intent == "staff_oa_manager") == 0

        # a commune officer answers from Zalo's OA Manager
        await sim.staff_types(OA, "7801", "Chào anh, em là cán bộ xã, anh cần gì ạ?")
        await wait_until(lambda: echoes_done(2))
        [logged] = (await _messages(running, Message.intent == "staff_oa_manager"))
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
            await s.execute(update(Conversation).values(
                paused_until=utcnow() - timedelta(seconds=1)))
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
