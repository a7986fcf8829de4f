"""Normalisation, message splitting, the stand-in NLU and the answers, without any channel."""

from datetime import UTC, datetime

import pytest

from bot.channels.zalo.messages import MAX_TEXT, split_text
from bot.config import load_settings
from bot.conversation import engine
from bot.nlu.text import normalise
from bot.text import fold, search_key

COMMUNE = load_settings().communes[0]


def test_fold_keeps_minority_letters():
    assert search_key("Ủy ban  xã Làm việc MẤY GIỜ") == "uy ban xa lam viec may gio"
    assert fold("Đắk Lắk") == "Dak Lak"
    # Ê Đê / M'Nông / Jrai letters that Vietnamese does not have stay intact
    assert fold("ƀuôn ĕ ĭ ŏ ŭ č ñ") == "ƀuon ĕ ĭ ŏ ŭ č ñ"
    # decomposed input folds like composed input
    assert fold("xa\u0303") == "xa"


def test_teencode_expansion():
    assert normalise("ub lv may h ko ad") == "uy ban lam viec may gio khong admin"


@pytest.mark.parametrize(
    "text, intent",
    [
        ("uy ban xa lam viec may gio", "office_hours"),
        ("Ủy ban xã làm việc mấy giờ ạ?", "office_hours"),
        ("xa co lam viec thu 7 ko", "office_hours"),
        ("sdt ubnd xa", "office_contact"),
        ("dia chi uy ban o dau", "office_contact"),
        ("chào ad", "greet"),
        ("cho tôi gặp cán bộ", "talk_to_staff"),
        ("cam on xa nhe", "thanks"),
        ("giá vàng hôm nay", "out_of_scope"),
    ],
)
def test_intents(text, intent):
    assert engine.respond(COMMUNE, text).parse.intent == intent


def test_split_text_at_sentences():
    sentence = "Đây là một câu thông báo của xã về lịch tiêm chủng. "
    text = sentence * 100  # ~5,300 characters
    parts = split_text(text)
    assert len(parts) == 3
    assert all(len(p) <= MAX_TEXT for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == text.strip()
    assert split_text("ngắn") == ["ngắn"]
    long_word = "a" * 4500
    assert [len(p) for p in split_text(long_word)] == [2000, 2000, 500]


def test_office_hours_answer_from_config():
    monday_9am_vn = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    result = engine.respond(COMMUNE, "uy ban xa lam viec may gio", now=monday_9am_vn)
    assert result.parse.intent == "office_hours"
    text = result.reply_text
    assert "Xã Bắc Hà" in text and "7:30–11:30, 13:30–17:00" in text and "Thứ Bảy" in text
    assert "đang trong giờ làm việc" in text
    sunday = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert (
        "ngoài giờ làm việc" in engine.respond(COMMUNE, "may gio lam viec", now=sunday).reply_text
    )


def test_fallback_offers_menu_and_numbers_pick():
    miss = engine.respond(COMMUNE, "xyz qwerty")
    assert miss.parse.intent == "nlu_fallback"
    assert "1. Giờ làm việc" in miss.reply_text and "Gặp cán bộ" in miss.reply_text
    assert miss.state["misses"] == 1
    pick = engine.respond(COMMUNE, "2", state=miss.state)
    assert pick.parse.intent == "office_contact"
    assert COMMUNE.phone in pick.reply_text and pick.state["misses"] == 0
    # a button tap arrives as its payload
    assert engine.respond(COMMUNE, "/office_hours").parse.intent == "office_hours"


def test_low_confidence_asks_and_second_miss_hands_over_to_staff():
    first = engine.respond(COMMUNE, "con mèo của tôi")
    assert first.parse.intent == "nlu_fallback" and "Có phải anh/chị muốn hỏi" in first.reply_text
    assert first.state["choices"][-1] == "/talk_to_staff"
    second = engine.respond(COMMUNE, "asdf", state=first.state)
    # the caller (bot/feedback/intake.py) opens the handoff and says so
    assert second.effects == [{"kind": "handoff", "reason": "misunderstood"}]
    assert second.state["misses"] == 0


@pytest.mark.parametrize(
    "text, intent, words",
    [
        ("lam giay khai sinh cho con can gi", "procedure_birth", "giấy chứng sinh"),
        ("gia hạn thẻ bhyt ở đâu", "health_insurance", "bảo hiểm y tế"),
        ("co bao lu thi so tan o dau", "disaster_warning", "112"),
        ("xa co thong bao gi moi ko", "latest_notices", "chưa đăng"),
        ("ai là trưởng thôn Nậm Mòn", "propagandist_contact", "Nậm Mòn"),
        ("giá vàng hôm nay", "out_of_scope", "chỉ hỗ trợ"),
    ],
)
def test_every_intent_has_an_honest_answer(text, intent, words):
    result = engine.respond(COMMUNE, text)
    assert result.parse.intent == intent
    assert words.lower() in result.reply_text.lower()


def test_a_ticket_code_asks_for_its_state_and_a_report_starts_the_form():
    result = engine.respond(COMMUNE, "PA-2026-000123 sao roi")
    assert result.parse.intent == "ticket_status"
    assert {
        "entity": "ticket_code",
        "value": "PA-2026-000123",
        "start": 0,
        "end": 14,
    } in result.parse.entities
    assert result.effects == [{"kind": "ticket_status", "code": "PA-2026-000123"}]
    report = engine.respond(COMMUNE, "tôi muốn phản ánh")
    assert report.parse.intent == "report_issue" and report.state["report"]["asking"] == "category"


def test_english_catalog_through_babel():
    result = engine.respond(COMMUNE, "cam on", language="en")
    assert result.reply_text.startswith("You're welcome")


def test_an_unsure_report_that_names_a_matter_starts_the_form():
    result = engine.respond(COMMUNE, "ổ gà lớn trước nhà văn hóa, xe máy ngã mấy lần rồi")
    assert result.parse.intent == "report_issue" and result.state["report"]["category"] == "road"
    # unsure and naming nothing to report: still a clarifying question
    assert engine.respond(COMMUNE, "con mèo của tôi").parse.intent == "nlu_fallback"
