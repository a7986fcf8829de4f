"""Numbers people and clients type, read one way (``bot.text.number``): ASCII digits only.
``str.isdigit()`` is true of "²", "①" and "¹²", whose ``int()`` raises — a resident's
message made of one of them crashed the turn, and a console address with one answered 500."""

from __future__ import annotations

import pytest

from bot.text import number
from tests.helpers import Visitor, make_settings, start_service, text
from tests.test_console import CODE, CSRF, running, signed_in  # noqa: F401
from tests.test_webchat import with_webchat

ODD = ("²", "①", "¹²", "٣")


def test_only_ascii_digits_are_a_number():
    assert [number(s) for s in ("0", "7", "042", "123456789012345678")] == [
        0,
        7,
        42,
        123456789012345678,
    ]
    assert [number(s) for s in (*ODD, "", None, "1 2", "-1", "1.5", " 3", "3\n")] == [None] * 11
    assert number("1234", 3) is None and number("123", 3) == 123


async def test_a_resident_typing_odd_digits_gets_an_answer(store_url, sim):
    """In the web chat, a new conversation: each odd digit is read as words — the honest "not
    understood" and the menu — never as a menu's pick, and never a crash."""
    service = await start_service(with_webchat(make_settings(store_url, sim)), sim)
    try:
        for said in ODD:
            tab = Visitor(service.url)
            try:
                await tab.open()
                replies = await tab.says(said)
                assert replies and all(r["type"] == "reply" for r in replies), (said, replies)
                assert text(replies).startswith("Xin lỗi, tôi chưa hiểu"), (said, replies)
            finally:
                await tab.close()
    finally:
        await service.runner.cleanup()


@pytest.mark.parametrize(
    "path",
    [
        "/console/audit?page=²",
        "/console/audit?staff=①",
        "/console/dashboard?days=²",
        "/console/knowledge?imported=¹²",
        "/console/notices?page=①",
    ],
)
async def test_console_addresses_with_odd_digits_are_pages_not_errors(running, path):  # noqa: F811
    leader = await signed_in(running, "hoa.ct", role="leader")
    status, html, _ = await leader.get(path)
    assert status == 200, (path, html[:300])


async def test_a_facts_form_naming_an_odd_village_is_not_found(running):  # noqa: F811
    officer = await signed_in(running, "lan.vp")
    path = f"/console/facts/{CODE}"
    status, html, _ = await officer.get(path)
    token = CSRF.search(html).group(1)  # type: ignore[union-attr]
    for section in ("village-²", "village-①"):
        status, _, _ = await officer.post(
            path, {"csrf": token, "section": section, "village_name": "Thôn Mới"}
        )
        assert status == 404, section
