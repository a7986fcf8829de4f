"""Languages (issue 10): the English catalog is complete and stays so, the language of a message
is told right — unaccented Vietnamese is never English — and English is understood."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import i18n
from bot.conversation.engine import CONFIDENCE_THRESHOLD
from bot.feedback import triage
from bot.nlu import data as nlu_data
from bot.nlu.embedded import default_engine
from bot.nlu.evaluate import decide
from bot.nlu.language import choose, detect
from bot.text import fold

HELD_OUT_EN = Path(__file__).resolve().parent / "data" / "nlu_en_heldout.yml"
#: Vietnamese training examples that are written in English words
WRITTEN_IN_ENGLISH = {"change language", "delete my data"}


def test_english_catalog_is_complete():
    """Every message id of the code and data is in the English catalog, translated, not fuzzy,
    with no placeholder the Vietnamese lacks (``bash scripts/i18n.sh`` lists what is left)."""
    assert "en" in i18n.available()
    assert i18n.problems("en") == []


def test_extraction_finds_code_data_and_marked_names():
    found = i18n.extracted()
    assert "Gặp cán bộ" in found  # _() in code
    assert "Đường sá, cầu cống" in found  # N_() in a table (categories)
    assert "đang xử lý" in found  # a ticket state's name
    assert "Việc này đang xảy ra, cần xử lý ngay không ạ?" in found  # triage
    assert any(m.startswith("Anh/chị có quyền yêu cầu xóa") for m in found)  # data/answers
    # data/procedures: the texts residents read, not the words matched nor the sources
    assert "Đăng ký khai sinh" in found and "Không mất phí." in found
    assert "giấy chứng sinh" not in found and "Luật Cư trú số 68/2020/QH14" not in found


def _vietnamese_examples() -> list[str]:
    texts = [t for t, _ in nlu_data.load(nlu_data.NLU_DIR / "nlu.yml").examples]
    texts += [t for t, _ in nlu_data.load(nlu_data.NLU_DIR / "test", skip=()).examples]
    texts += [e.text for e in triage.load(triage.DATA_DIR / "examples.yml")]
    texts += [e.text for e in triage.load(triage.DATA_DIR / "test", skip=())]
    return [t for t in texts if t not in WRITTEN_IN_ENGLISH]


def test_unaccented_vietnamese_is_never_taken_for_english():
    texts = _vietnamese_examples()
    assert len(texts) > 1500
    for text in texts:  # as written, without accents, and without accents in lower case
        for variant in (text, fold(text), fold(text).lower()):
            assert detect(variant) != "en", variant
    # most of them say Vietnamese outright even without accents; the rest keep the language
    told = sum(detect(fold(t)) == "vi" for t in texts)
    assert told / len(texts) > 0.85


@pytest.mark.parametrize(
    "text",
    [
        "uy ban xa lam viec may gio vay ad",
        "cho hoi so dien thoai xa",
        "nha toi bi mat dien",
        "Cay do keo dut day dien, day nam ngay vung nuoc truoc cong truong",
        "t out day",
        "chao ad",
        "lm the bhyt cho be o dau",
        "photo cc cccd o dau z",
        "ok em cam on",
    ],
)
def test_short_and_chat_vietnamese_is_not_english(text):
    assert detect(text) != "en"


@pytest.mark.parametrize(
    "text",
    [
        "what are the office hours",
        "someone is drowning",
        "my house is on fire",
        "I live in Nậm Mòn village",
        "can you speak English",
        "How do I register a birth?",
        "the street light in front of my house is broken",
        "Fire! Fire!",
    ],
)
def test_english_is_detected(text):
    assert detect(text) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "hi",
        "hello",
        "1",
        "/office_hours",
        "thanks",
        "",
        "PA-2026-000123",
        "yes please",
        "ừ",
        "fire",
    ],
)
def test_short_or_ambiguous_texts_keep_the_language(text):
    assert detect(text) is None
    assert choose("en", text) == "en" and choose("vi", text) == "vi"


def test_choose_switches_between_vietnamese_and_english_only():
    assert choose("vi", "what are the office hours") == "en"
    assert choose("en", "cho tôi hỏi giờ làm việc") == "vi"
    # a resident who chose a minority language for notices keeps it when writing Vietnamese
    assert choose("hnj", "cho tôi hỏi giờ làm việc") == "hnj"
    assert choose(None, "ok") == "vi"


def test_english_held_out_examples_are_understood():
    engine = default_engine()
    examples = nlu_data.load(HELD_OUT_EN).examples
    train = {t.lower() for t, _ in nlu_data.load().examples}
    assert len(examples) >= 30 and not [t for t, _ in examples if t.lower() in train]
    right = [decide(engine.rank(t), CONFIDENCE_THRESHOLD) == intent for t, intent in examples]
    assert sum(right) / len(right) >= 0.9, [t for (t, _), ok in zip(examples, right) if not ok]


@pytest.mark.parametrize(
    "text, kind",
    [
        ("someone is drowning", "drowning"),
        ("my house is on fire, please help", "fire"),
        ("a child fell into the river and cannot swim", "drowning"),
        ("the water is rising in my house", "flood"),
        ("our pigs are dying one after another", "livestock"),
    ],
)
def test_english_emergencies_are_not_missed(text, kind):
    found = triage.assess(text)
    assert found.emergency and found.kind == kind, found


@pytest.mark.parametrize("text, kind", [("fire", "fire"), ("flood", "flood")])
def test_an_english_alarm_word_alone_is_asked_about(text, kind):
    """Naming nobody and no home, a danger is asked about ("is it happening now?"), as in
    Vietnamese (docs/triage.md) — never taken for routine."""
    found = triage.assess(text)
    assert found.level == "unsure" and found.kind == kind, found


@pytest.mark.parametrize(
    "text",
    [
        "there was a fire in the village last year",
        "the street light is broken",
        "what are the office hours",
        "is there a flood warning",
    ],
)
def test_english_routine_messages_raise_no_alert(text):
    assert not triage.assess(text).emergency
