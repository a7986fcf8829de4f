"""The handlers' chain (bot/handlers/): its order and its filters, through the real path — web
chat (websocket) and Zalo (simulator) in, outbound rows and what the simulator records out —
and the conversation's steps (bot/conversation/steps/) each alone, pure."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.config import load_settings
from bot.conversation import engine, steps
from bot.conversation.engine import Turn
from bot.conversation.types import Rate, Topic
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


#: the conversation's handlers, after the staff handlers (bot/handlers/conversation.py)
CONVERSATION = [
    "pending_question",
    "village_choice",
    "rating",
    "after_filing",
    "report_form",
    "no_words",
    "village_number",
    "triage",
    "follow_up",  # a follow-up rewritten into its full question (never answers)
    "knowledge",  # the commune's own knowledge (bot/handlers/knowledge.py): no engine step
    "facts",  # offices, village people, procedures (docs/procedures.md)
    "misunderstood",
    "report_start",
    "ticket_status",
    "talk_to_staff",
    "village_words",
    "topics",
    "intent_answer",
]


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
        *CONVERSATION,
    ]
    by_name = {h.name: h for h in chain}
    for name in ("relay_confirmation", "staff_note"):  # Zalo only, a propagandist only
        assert by_name[name].channels == {"zalo"} and by_name[name].roles == ("propagandist",)
    for name in CONVERSATION:  # a resident's message, on any channel, from anyone
        handler = by_name[name]
        assert handler.kinds == {"message"} and not handler.channels and not handler.roles
    # the conversation's handlers run the engine's steps, in the engine's order
    steps = [step for name in CONVERSATION if name != "knowledge" for step in by_name[name].steps]
    assert tuple(steps) == engine.STEPS


def answered_by(seen: list[tuple[str, str, str | None]], said: str) -> str:
    """The handler that answered the message: the last one handed it (the chain stops there)."""
    names = [name for name, _c, t in seen if (t or "") == said]
    assert names == CONVERSATION[: len(names)], names  # in order, none skipped
    return names[-1]


async def replies_to(running, event_text: str) -> list[OutboundMessage]:
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
        on_webchat = [name for name, channel, _t in seen if channel == "webchat"]
        assert on_webchat == CONVERSATION[: len(on_webchat)]  # the conversation's handlers only
        [row] = await replies_to(service, "đã chuyển")
        assert row.channel == "webchat" and row.priority == 0

        async with aiohttp.ClientSession() as http:
            commune = Commune(service, http)
            said = await commune.says(sid, "đã chuyển")  # nothing to confirm: an ordinary message
        assert not said.startswith("Cảm ơn anh/chị đã chuyển")
        zalo = [name for name, channel, t in seen if channel == "zalo" and t == "đã chuyển"]
        assert zalo[:2] == ["relay_confirmation", "pending_question"]
        assert zalo[1:] == CONVERSATION[: len(zalo) - 1]  # then the conversation's handlers
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


async def test_each_feature_answers_in_its_own_handler(service):
    """One web chat resident through the real path: each message is answered by the handler of
    its feature, the handlers before it passing it on in order."""
    seen = spy(service.services.processor.chain)
    tab = Visitor(service.url)
    try:
        async with service.services.sm() as s, s.begin():
            _, leader = await add_staff(s, CODE, "Chủ tịch", "leader", None, None, None)
        await tab.open()
        assert "7:30–11:30" in text(await tab.says("giờ làm việc"))
        assert answered_by(seen, "giờ làm việc") == "intent_answer"
        await tab.says("con mèo của tôi")
        assert answered_by(seen, "con mèo của tôi") == "misunderstood"
        await tab.says("đăng ký nhận tin")
        assert answered_by(seen, "đăng ký nhận tin") == "topics"
        pin = {"coordinates": {"latitude": 22.5352, "longitude": 104.2271}}
        said = text(await tab.says(attachments=[{"type": "location", "payload": pin}]))
        assert "vài chữ" in said, said  # a pin alone: a few words asked for
        assert answered_by(seen, "") == "no_words"

        # a report: begun, then its form answered (an aside answered within it), then filed
        asked = text(await tab.says("phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi"))
        assert answered_by(seen, "phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi") == "report_start"
        aside = text(await tab.says("ủy ban làm việc mấy giờ"))
        assert "7:30–11:30" in aside and "đang gửi dở" in aside, (asked, aside)
        assert answered_by(seen, "ủy ban làm việc mấy giờ") == "report_form"
        await tab.says("không có ảnh")
        assert answered_by(seen, "không có ảnh") == "report_form"
        said = text(await tab.says("đồng ý"))
        assert answered_by(seen, "đồng ý") == "report_form"
        code = re.search(r"PA-\d{4}-\d{6}", said).group(0)  # type: ignore[union-attr]
        assert "số điện thoại" in said
        await tab.says("0912345678")  # the phone question after filing
        assert answered_by(seen, "0912345678") == "after_filing"
        await tab.says(f"{code} sao rồi")
        assert answered_by(seen, f"{code} sao rồi") == "ticket_status"

        # the answer asks for a rating: the first message after it rates
        url = f"{service.url}/api/v1/communes/{CODE}/tickets/{code}/answer"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {leader}"}) as http:
            async with http.post(url, json={"note": "Đã dọn."}) as r:
                assert r.status == 200, await r.text()
        for _ in range(20):  # the answer, pushed to the open tab
            if "hài lòng" in (await tab.ws.receive_json(timeout=10)).get("text", ""):  # type: ignore[union-attr]
                break
        rated = text(await tab.says("5"))
        assert "5/5" in rated and answered_by(seen, "5") == "rating"
    finally:
        await tab.close()


async def test_an_emergency_is_the_triage_handlers(service):
    """A danger told in full is filed by the triage handler (consent is asked after it); an
    unsure one is asked about, and the answer to that question is a pending question."""
    seen = spy(service.services.processor.chain)
    tab, other = Visitor(service.url), Visitor(service.url)
    try:
        await tab.open()
        fire = "cháy nhà ở Nậm Mòn, lửa to lắm, có người mắc kẹt"
        said = text(await tab.says(fire))
        assert "114" in said and "PA-" in said
        assert answered_by(seen, fire) == "triage"
        await tab.says("đồng ý")  # consent to keep name and phone, asked after filing
        assert answered_by(seen, "đồng ý") == "after_filing"

        await other.open()
        asked = text(await other.says("có cháy ở Bản Phố"))
        assert "Việc này đang xảy ra" in asked and "PA-" not in asked
        assert answered_by(seen, "có cháy ở Bản Phố") == "triage"
        done = text(await other.says("có"))
        assert "114" in done and "PA-" in done
        assert answered_by(seen, "có") == "pending_question"
    finally:
        await tab.close()
        await other.close()


def test_each_step_alone():
    """A step is a pure function of one prepared turn: it answers its own kind of message and
    passes ("not mine") on the others — the rating only while a rating waits, the report form
    only while one is open, topics only for (un)subscribing."""
    commune = load_settings("config.yml").communes[0]

    def prepared(text: str, **given: Any) -> Turn:
        return engine.prepare(engine.TurnInput(commune, text, **given))

    assert steps.rating(prepared("5")) is None  # no rating waits: a menu's number
    rated = steps.rating(prepared("5", pending_rating="PA-2026-000007"))
    assert rated is not None and rated.effects == [Rate("PA-2026-000007", 5)]
    assert steps.report_form_step(prepared("bỏ qua")) is None  # no form open
    form = engine.respond(commune, "phản ánh rác thải đổ bừa bãi ở Nậm Mòn bốc mùi").state
    answered = steps.report_form_step(prepared("bỏ qua", state=form))
    assert answered is not None and answered.parse.intent in ("report_issue", "report_filed")
    assert steps.topics(prepared("giờ làm việc")) is None
    subscribed = steps.topics(prepared("đăng ký nhận tin thời tiết"))
    assert subscribed is not None
    [topic] = subscribed.effects
    assert isinstance(topic, Topic) and topic.subscribed
    whole = engine.turn(engine.TurnInput(commune, "đăng ký nhận tin thời tiết"))
    assert whole.effects == subscribed.effects
    # the whole turn is the same steps in order: the first that answers
    assert engine.turn(engine.TurnInput(commune, "giờ làm việc")).parse.intent == "office_hours"
