"""The send contract (bot/sending.py) through the real path — web chat or the Zalo simulator in,
the sender's outcome rows out: a channel declares the reply kinds it carries; a kind it cannot
carry is fitted by one rule (choices → numbered text, image → caption + link) or failed once as
``unsupported``, never retried; Zalo carries every kind."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import insert, select

from bot.envelope import (
    Choice,
    Choices,
    File,
    Image,
    Reply,
    RequestUserInfo,
    Text,
    from_payload,
)
from bot.sending import ALL_KINDS, UNSUPPORTED_CODE, Outcome, Unsupported, fit
from bot.store.models import Notice, NoticeFile, OutboundMessage, Resident
from bot.store.ops import outbound_row
from tests.helpers import (
    Visitor,
    make_settings,
    oa_id,
    row_where,
    rows,
    start_service,
    wait_until,
)

MENU = Choices("Anh/chị cần gì?", (Choice("Giờ làm việc", "/office_hours"), Choice("Gọi", "/x")))
PICTURE = Image(url="https://xa.example.gov.vn/lich-tiem.png", caption="Lịch tiêm tháng 12")
FORM = RequestUserInfo("Gửi số điện thoại", "Để cán bộ gọi lại", "https://xa.example.gov.vn/a.png")


def test_the_one_rule():
    assert fit(MENU, ALL_KINDS) is MENU
    assert fit(MENU, frozenset({"text"})) == Text("Anh/chị cần gì?\n1. Giờ làm việc\n2. Gọi")
    assert fit(PICTURE, frozenset({"text"})) == Text(
        "Lịch tiêm tháng 12\nhttps://xa.example.gov.vn/lich-tiem.png"
    )
    assert fit(Image(url="https://a.vn/x.png"), frozenset({"text"})) == Text("https://a.vn/x.png")
    for reply in (FORM, File(1, "a.pdf"), Image(attachment_id="zalo-upload-id")):
        try:
            fit(reply, frozenset({"text", "choices"}), "webchat")
        except Unsupported as exc:
            assert exc.code == UNSUPPORTED_CODE and exc.outcome is Outcome.PERMANENT
            assert exc.reason == f"webchat cannot carry a {reply.kind} reply"
        else:
            raise AssertionError(f"{reply.kind} should not fit")


async def queue(service, resident: Resident, *replies: tuple[str, Reply]) -> None:
    async with service.services.sm() as s, s.begin():
        await s.execute(
            insert(OutboundMessage.__table__),
            [
                outbound_row(
                    resident.commune_id,
                    resident.id,
                    resident.channel,
                    resident.external_id,
                    key,
                    reply,
                    0,
                )
                for key, reply in replies
            ],
        )
    await service.services.coord.publish("outbound")


async def the_resident(service, channel: str) -> Resident:
    async with service.services.sm() as s:
        return (await s.execute(select(Resident).where(Resident.channel == channel))).scalar_one()


async def frames(tab: Visitor, settle: float = 1.5) -> list[dict]:
    said = []
    while True:
        try:
            said.append(await tab.ws.receive_json(timeout=settle))
        except TimeoutError:
            return said


async def test_a_channel_without_choices_gets_a_numbered_text(service):
    service.services.webchat.capabilities = frozenset({"text"})  # as a text-only channel would
    tab = Visitor(service.url)
    try:
        await tab.open()
        [menu] = await tab.says("con mèo của tôi")  # not understood: a menu to choose from
        assert menu["kind"] == "text" and "options" not in menu
        assert re.search(r"^1\. .+\n2\. ", menu["text"], re.M)
        [row] = [r for r in await rows(service) if r.kind == "choices"]
        assert row.status == "sent"  # the row keeps its choices: a typed number answers it
        first = from_payload(row.kind, row.payload).options[0]  # type: ignore[union-attr]
        assert f"1. {first.title}" in menu["text"]
        typed = await tab.says("1")
    finally:
        await tab.close()
    other = Visitor(service.url)  # the same menu on another tab, answered by a tap
    try:
        await other.open()
        await other.says("con mèo của tôi")
        tapped = await other.says(first.title, payload=first.payload)
    finally:
        await other.close()
    assert [f["text"] for f in typed] == [f["text"] for f in tapped]


async def test_web_chat_image_as_caption_and_link_and_unsupported_failed_once(service):
    tab = Visitor(service.url)
    try:
        await tab.open()
        await tab.says("xin chào")
        resident = await the_resident(service, "webchat")
        await queue(
            service,
            resident,
            ("t:img", PICTURE),
            ("t:form", FORM),
            ("t:file", File(1, "lich.pdf")),
            ("t:text", Text("Hết.")),
        )
        said = await frames(tab)
        assert [(f["kind"], f["text"]) for f in said] == [
            ("text", "Lịch tiêm tháng 12\nhttps://xa.example.gov.vn/lich-tiem.png"),
            ("text", "Hết."),
        ]
    finally:
        await tab.close()
    by_key = {r.idempotency_key: r for r in await rows(service)}
    assert by_key["t:img"].status == by_key["t:text"].status == "sent"
    assert by_key["t:img"].kind == "image"  # stored as written; fitted on the way out
    for key, kind in (("t:form", "request_user_info"), ("t:file", "file")):
        row = by_key[key]
        assert (row.status, row.error_code, row.attempts) == ("failed", UNSUPPORTED_CODE, 1)
        assert row.error_reason == f"webchat cannot carry a {kind} reply"
    # not retried: woken again, nothing moves
    await service.services.coord.publish("outbound")
    await asyncio.sleep(1.0)
    again = {r.idempotency_key: r for r in await rows(service)}
    assert again["t:form"].attempts == again["t:file"].attempts == 1


async def test_an_unknown_kind_fails_once(service):
    tab = Visitor(service.url)
    try:
        await tab.open()
        await tab.says("xin chào")
        resident = await the_resident(service, "webchat")
        async with service.services.sm() as s, s.begin():
            s.add(
                OutboundMessage(
                    commune_id=resident.commune_id,
                    resident_id=resident.id,
                    channel="webchat",
                    recipient=resident.external_id,
                    idempotency_key="t:carousel",
                    kind="carousel",
                    payload={"cards": []},
                    priority=0,
                )
            )
        await service.services.coord.publish("outbound")
        row = await row_where(service, lambda r: r.idempotency_key == "t:carousel" and r.error_code)
        assert (row.status, row.error_code, row.attempts) == ("failed", UNSUPPORTED_CODE, 1)
    finally:
        await tab.close()


async def test_zalo_carries_every_kind(store_url, sim):
    running = await start_service(make_settings(store_url, sim, communes=1, buttons=True), sim)
    oa = oa_id(1)
    try:
        await sim.user_sends_text(oa, "7301", "chao")
        await sim.wait_for_messages(1, oa_id=oa, user_id="7301")
        resident = await the_resident(running, "zalo")
        async with running.services.sm() as s, s.begin():
            notice = Notice(
                commune_id=resident.commune_id,
                category="health",
                priority="normal",
                headline="Lịch tiêm",
                body="Lịch tiêm chủng tháng 12.",
            )
            s.add(notice)
            await s.flush()
            stored = NoticeFile(
                commune_id=resident.commune_id,
                notice_id=notice.id,
                filename="lich.pdf",
                content=b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF",
                size=2015,
            )
            s.add(stored)
            await s.flush()
            document = File(stored.id, stored.filename)
        replies = [Text("Chào anh/chị."), MENU, PICTURE, FORM, document]
        assert {r.kind for r in replies} == ALL_KINDS
        await queue(running, resident, *((f"t:{r.kind}", r) for r in replies))

        async def settled() -> bool:
            return all(r.status == "sent" for r in await rows(running))

        await wait_until(settled, timeout=15)
        msgs = await sim.wait_for_messages(1 + len(replies), oa_id=oa, user_id="7301")
        text, menu, image, form, pdf = (m.body["message"] for m in msgs[1:])
        assert text["text"] == "Chào anh/chị."
        assert menu["attachment"]["payload"]["template_type"] == "list"
        assert image["text"] == PICTURE.caption
        assert image["attachment"]["payload"]["elements"][0]["url"] == PICTURE.url
        assert form["attachment"]["payload"]["template_type"] == "request_user_info"
        assert pdf["attachment"]["type"] == "file"
        assert all(
            from_payload(r.kind, r.payload).kind == r.kind and r.attempts == 1
            for r in await rows(running)
        )
    finally:
        await running.runner.cleanup()
