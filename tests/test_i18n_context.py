"""The current language (bot/i18n.py): one ``ContextVar``, entered once per turn with
``use_language``; ``_()`` reads it when called, so a module that imported ``_`` long before
still speaks the turn's language, and two residents answered at once never share one."""

from __future__ import annotations

import asyncio

import pytest

from bot.conversation import erasure  # imported before any language is entered
from bot.i18n import (
    DEFAULT,
    N_,
    _,
    current_language,
    gettext_for,
    in_language_argument,
    use_language,
)

HOURS = "Giờ làm việc"  # a msgid the English catalog translates
ENGLISH = gettext_for("en")(HOURS)


def test_the_english_catalog_translates_the_probe():
    assert ENGLISH and ENGLISH != HOURS


def test_outside_a_turn_the_source_language_is_spoken():
    assert current_language() == DEFAULT == "vi"
    assert _(HOURS) == HOURS


def test_use_language_restores_the_language_before_on_exit():
    with use_language("en"):
        assert current_language() == "en" and _(HOURS) == ENGLISH
        with use_language("vi"):
            assert _(HOURS) == HOURS
        assert _(HOURS) == ENGLISH  # the inner turn gave the outer one its language back
    assert current_language() == "vi" and _(HOURS) == HOURS
    with pytest.raises(RuntimeError), use_language("en"):
        raise RuntimeError("a turn that fails")
    assert current_language() == "vi"  # restored on an exception too


def test_a_regional_code_and_none_are_understood():
    with use_language("en-US"):
        assert current_language() == "en" and _(HOURS) == ENGLISH
    with use_language(None):
        assert current_language() == "vi"
    with use_language("hnj"):  # no catalog (yet): Vietnamese, as gettext_for does
        assert _(HOURS) == gettext_for("hnj")(HOURS) == HOURS


def test_underscore_is_resolved_when_called_not_when_imported():
    vietnamese = erasure.kept().text
    with use_language("en"):
        english = erasure.kept().text
    assert english == gettext_for("en")(vietnamese) and english != vietnamese
    assert erasure.kept().text == vietnamese


def test_n_marks_without_translating():
    with use_language("en"):
        assert N_(HOURS) == HOURS and _(N_(HOURS)) == ENGLISH


async def test_two_tasks_at_once_each_speak_their_own_language():
    both_inside = asyncio.Barrier(2)
    said: dict[str, list[str]] = {}

    async def turn(language: str) -> None:
        with use_language(language):
            await both_inside.wait()  # both languages are entered now, in two tasks
            words = [_(HOURS)]
            await asyncio.sleep(0)  # the other task runs in between
            words += [_(HOURS), erasure.kept().text, current_language()]
            await both_inside.wait()
        said[language] = words

    await asyncio.gather(turn("vi"), turn("en"))
    assert said["vi"] == [HOURS, HOURS, gettext_for("vi")(erasure.kept().text), "vi"]
    assert said["en"] == [ENGLISH, ENGLISH, gettext_for("en")(erasure.kept().text), "en"]
    assert current_language() == "vi"  # neither task's language leaked into the caller


def test_a_turn_function_speaks_its_language_argument():
    @in_language_argument
    def turn(text: str, *, language: str = "vi") -> tuple[str, str]:
        return current_language(), _(text)

    assert turn(HOURS) == ("vi", HOURS)
    assert turn(HOURS, language="en") == ("en", ENGLISH)
    assert current_language() == "vi"
    with pytest.raises(TypeError):
        in_language_argument(lambda text: text)  # no language argument to take
