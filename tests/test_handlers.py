"""The handlers' chain (bot/handlers/): its order and its filters, through the real path — web
chat (websocket) and Zalo (simulator) in, outbound rows and what the simulator records out."""

from __future__ import annotations

import asyncio

import aiohttp
from sqlalchemy import select

from bot.handlers import Context, Handler
from bot.staff import add_staff
from bot.store.models import Message, OutboundMessage, Ticket
from tests.helpers import Commune, Visitor, commune_code, oa_id, text

CODE, OA = commune_code(1), oa_id(1)


def spy(chain: list[Handler]) -> list[tuple[str, str, str | None]]:
    """Record (handler, channel, text) for every handler that is handed an event."""
    seen: list[tuple[str, str, str | None]] = []
    for handler in chain:
        original = handler.handle

        async def handle(ctx: Context, original=original, name=handler.name):  # type: ignore[no-untyped-def]
            seen.append((name, ctx.channel, ctx.text))
            return await original(ctx)

        handler.handle = handle  # type: ignore[method-assign]
    return seen


def test_the_chain_keeps_todays_precedence(service):
    chain = service.services.processor.chain
    assert [h.name for h in chain] == [
        "follow",
        "chatnow",
        "submit_info",
        "erasure_with_staff",
        "staff_paused",
        "with_staff",
        "relay_confirmation",
        "staff_note",
        "conversation",
    ]
    by_name = {h.name: h for h in chain}
    for name in ("relay_confirmation", "staff_note"):  # Zalo only, a propagandist only
        assert by_name[name].channels == {"zalo"} and by_name[name].roles == ("propagandist",)
    assert not by_name["conversation"].channels and not by_name["conversation"].roles


async def replies_to(running, event_text: str) -> list[OutboundMessage]:  # type: ignore[no-untyped-def]
    """The outbound rows written for the resident message with this text."""
    async with running.services.sm() as s:
        event_id = (
            await s.execute(
                select(Message.inbound_event_id).where(
                    Message.direction == "in", Message.text == event_text
                )
            )
        ).scalar_one()
        return list(
            (
                await s.execute(
                    select(OutboundMessage)
                    .where(OutboundMessage.idempotency_key.like(f"reply:{event_id}:%"))
                    .order_by(OutboundMessage.id)
                )
            ).scalars()
        )


async def test_staff_handlers_do_not_see_a_web_chat_resident(service):
    """A propagandist registered with the very id a web chat session carries: on the web chat
    the staff handlers are never handed the message (the conversation answers it); on Zalo,
    from that id, they are, in order — and one with nothing to do passes it on."""
    seen = spy(service.services.processor.chain)
    tab = Visitor(service.url)
    try:
        sid = (await tab.new_session()).split(".")[0]
        async with service.services.sm() as s, s.begin():
            await add_staff(
                s, CODE, "Trưởng thôn Nậm Mòn", "propagandist", "Nậm Mòn", zalo_user_id=sid
            )
        await tab.open()
        said = text(await tab.says("đã chuyển"))
        assert "Cảm ơn anh/chị đã chuyển" not in said
        assert [name for name, channel, _t in seen if channel == "webchat"] == ["conversation"]
        [row] = await replies_to(service, "đã chuyển")
        assert row.channel == "webchat" and row.priority == 0

        async with aiohttp.ClientSession() as http:
            commune = Commune(service, http)
            said = await commune.says(sid, "đã chuyển")  # nothing to confirm: an ordinary message
        assert not said.startswith("Cảm ơn anh/chị đã chuyển")
        zalo = [name for name, channel, t in seen if channel == "zalo" and t == "đã chuyển"]
        assert zalo == ["relay_confirmation", "conversation"]
    finally:
        await tab.close()


async def test_while_with_staff_the_handoff_handlers_answer_first(service):
    """After "cho tôi gặp cán bộ" the conversation is with staff: the bot answers only what it
    is sure of, files an emergency through the feedback intake, and keeps the rest for staff."""
    seen = spy(service.services.processor.chain)
    tab = Visitor(service.url)
    try:
        await tab.open()
        handed = text(await tab.says("cho tôi gặp cán bộ"))
        assert "chuyển cuộc trò chuyện cho cán bộ" in handed
        hours = text(await tab.says("ủy ban làm việc mấy giờ"))
        assert "7:30–11:30" in hours
        assert [n for n, _c, t in seen if t == "ủy ban làm việc mấy giờ"] == [
            "erasure_with_staff",
            "with_staff",
        ]
        fire = text(await tab.says("cháy nhà ở Nậm Mòn, lửa to lắm, có người mắc kẹt"))
        assert "114" in fire and "PA-" in fire
        async with service.services.sm() as s:
            [ticket] = (await s.execute(select(Ticket))).scalars().all()
            logged = (
                await s.execute(
                    select(Message.direction, Message.intent)
                    .where(Message.text.like("cháy nhà%") | (Message.intent == "report_filed"))
                    .order_by(Message.id)
                )
            ).all()
        assert ticket.emergency and ticket.category == "fire"
        assert logged[0] == ("in", "report_emergency") and {i for _d, i in logged[1:]} == {
            "report_filed"
        }
        # a question the bot is not sure of waits for staff: logged, not answered
        question = "anh ơi cho em hỏi chuyện đất đai nhà em"
        await tab.send(question)
        for _ in range(100):
            if any(t == question for _n, _c, t in seen):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # its transaction committed
        assert await replies_to(service, question) == []
        assert [n for n, _c, t in seen if t == question] == ["erasure_with_staff", "with_staff"]
    finally:
        await tab.close()
