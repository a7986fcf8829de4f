"""The chat's report form and the words it reads, without the store (bot/feedback/chat.py,
bot/feedback/categories.py, through bot/conversation/engine.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import load_settings
from bot.conversation import engine
from bot.feedback.categories import guess
from bot.timeutil import utcnow

COMMUNE = load_settings("config.yml").communes[0]  # Xã Bắc Hà: Nậm Mòn, Bản Phố, …


@pytest.mark.parametrize(
    "text, category",
    [
        ("đường thôn Nậm Mòn bị sạt lở", "disaster"),
        ("duong thon nam mon bi o ga", "road"),
        ("chay nha o ban pho", "fire"),
        ("có cháy ở bản phố", "fire"),
        ("nha toi bi mat trom", "security"),
        ("gà chết nhiều không rõ lý do", "epidemic"),
        ("cống bị tắc ngập đường", "road"),
        ("mat dien tu sang", "utilities"),
        # everyday words that lose their meaning without accents, or share a syllable
        ("báo mất điện ở xóm 3", "utilities"),  # báo, not bão
        ("xe tải chạy quá tốc độ", None),  # chạy, not cháy
        ("thủ tục dịch vụ công chậm", "services"),  # dịch vụ, not dịch bệnh
        ("người có công chưa được trợ cấp", "social"),  # có công, not cống
        ("khỏi bệnh rồi", None),
        ("tôi muốn hỏi", None),
    ],
)
def test_categories_from_the_words(text, category):
    assert guess(text) == category


def test_a_typed_number_in_the_form_is_an_answer_not_a_rating():
    start = engine.respond(COMMUNE, "tôi muốn phản ánh", pending_rating="PA-2026-000007")
    assert start.state["report"]["asking"] == "category"
    pick = engine.respond(COMMUNE, "3", state=start.state, pending_rating="PA-2026-000007")
    assert pick.effects == [] and pick.state["report"]["category"] == "utilities"
    # outside a form, the first message after the answer may be a rating…
    rated = engine.respond(COMMUNE, "3", pending_rating="PA-2026-000007")
    assert rated.effects == [{"kind": "rate", "code": "PA-2026-000007", "rating": 3}]
    # …and "mở lại <code>", which the bot itself suggests, reopens
    assert engine.respond(COMMUNE, "mở lại PA-2026-000007").effects == [
        {"kind": "reopen", "code": "PA-2026-000007"}
    ]
    # without a rating question just read, "3" is an ordinary message
    assert engine.respond(COMMUNE, "3").effects == []


def test_an_emergency_told_in_full_is_filed_at_once():
    result = engine.respond(COMMUNE, "có cháy nhà ở Bản Phố, khói rất to")
    [effect] = result.effects
    assert effect["kind"] == "ticket" and effect["category"] == "fire"
    assert effect["consent"] is None and effect["village"] == "Bản Phố"
    assert "report" not in result.state


def test_the_form_can_be_left():
    start = engine.respond(COMMUNE, "tôi muốn phản ánh")
    assert "HỦY" in start.reply_text
    gone = engine.respond(COMMUNE, "hủy", state=start.state)
    assert "đã hủy" in gone.reply_text and "report" not in gone.state
    # asking for a person is not an answer to the form
    staff = engine.respond(COMMUNE, "cho tôi gặp cán bộ", state=start.state)
    assert staff.effects == [{"kind": "handoff", "reason": "asked"}]
    # a form left for hours is forgotten: the next message is a new question
    later = engine.respond(
        COMMUNE, "ủy ban làm việc mấy giờ", state=start.state, now=utcnow() + timedelta(hours=3)
    )
    assert later.parse.intent == "office_hours" and "report" not in later.state


def test_consent_words_and_numbers():
    first = engine.respond(COMMUNE, "tôi muốn phản ánh")
    state = first.state
    for answer in ("/report category road", "2", "ổ gà trước cổng trường", "bỏ qua"):
        state = engine.respond(COMMUNE, answer, state=state).state
    assert state["report"]["asking"] == "consent"
    # "đúng" (right) is a yes, not a way out of the form
    done = engine.respond(COMMUNE, "đúng vậy, đồng ý", state=state)
    assert done.effects and done.effects[0]["consent"] is True
    anonymous = engine.respond(COMMUNE, "2", state=state)
    assert anonymous.effects[0]["consent"] is False
