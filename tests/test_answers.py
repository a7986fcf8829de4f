"""Answers as data (data/answers/answers.yml): every intent answered for every commune, in
every catalog, from the commune's own facts — and the texts reach Babel's extraction."""

from __future__ import annotations

import re

import pytest

from bot.config import load_settings
from bot.conversation import answers, engine
from bot.envelope import Choices, Parse
from bot.i18n import available, extract_answers, use_language

SETTINGS = load_settings()


@pytest.mark.parametrize("language", available())
@pytest.mark.parametrize("commune", SETTINGS.communes, ids=lambda c: c.code)
def test_every_intent_has_an_answer_filled_from_the_communes_facts(commune, language):
    for intent in sorted(engine.INTENTS):
        with use_language(language):
            replies = engine.answer(commune, intent, Parse(intent, 1.0))
        text = "\n".join(engine.text_of(r) for r in replies)
        assert text and not re.search(r"\{\w+\}", text), (intent, text)
        if intent in ("talk_to_staff", "greet", "out_of_scope"):
            assert commune.phone in text or commune.name in text


def test_village_and_topic_placeholders():
    commune = SETTINGS.communes[0]
    said, _menu = answers.render("propagandist_contact", commune, village="Nậm Mòn")
    assert "của Nậm Mòn" in said
    said, _menu = answers.render("power_outage", commune)
    assert "lịch cắt điện" in said and commune.phone in said
    said, menu = answers.render("greet", commune)
    assert menu and commune.name in said
    assert isinstance(engine.answer(commune, "deny", Parse("deny", 1.0))[0], Choices)


def test_answer_texts_are_extracted_for_translation():
    with open(answers.ANSWERS, "rb") as fh:
        messages = [m for _, _, m, _ in extract_answers(fh, None, None, None)]
    fragments, intents = answers.templates()
    assert set(fragments.values()) <= set(messages)
    assert {e["text"] for e in intents.values()} <= set(messages)
    pot = (answers.ROOT / "bot" / "locales" / "messages.pot").read_text(encoding="utf-8")
    assert "Chào anh/chị, chúc anh/chị một ngày tốt lành!" in pot
