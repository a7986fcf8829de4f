"""Village steps (bot/conversation/village.py asks; bot/nlu/villages.py reads): a village
choice tapped (whenever it was offered: a report form stays open), its number typed, and a
village said in words or confirmed after a suggestion ("ở thôn X phải không?")."""

from __future__ import annotations

from bot.conversation import village as village_chat
from bot.conversation.steps.reading import answered, reading
from bot.conversation.turn import Turn, TurnResult
from bot.conversation.types import effect_of
from bot.envelope import Choices, Parse


def village_tap(t: Turn) -> TurnResult | None:
    """A village choice tapped. The suggestion asked just before is taken from the state here
    (asked once), its answer read with the intents (``village_words``)."""
    t.suggested = t.state.pop("village_suggested", None)
    tapped = village_chat.picked(t.text, t.state, typed_number=False)
    return None if tapped is None else chosen(t, tapped)


def village_number(t: Turn) -> TurnResult | None:
    """The number of a village choice, typed."""
    typed = village_chat.picked(t.text, t.state)
    return None if typed is None else chosen(t, typed)


def village_words(t: Turn) -> TurnResult | None:
    """ "có" / "không" to the village suggested, or a village said in words."""
    r = reading(t)
    if t.suggested and r.intent in ("affirm", "deny"):  # "có" / "không" to the suggestion
        replies, said = village_chat.chosen(
            t.commune, t.suggested if r.intent == "affirm" else village_chat.ASK
        )
    elif r.intent == "set_village":
        replies, said = village_chat.said(t.commune, t.text or "")
    else:
        return None
    return answered(t, replies, [effect_of(e) for e in said])


def chosen(t: Turn, choice: str) -> TurnResult:
    """A village choice tapped or picked by number (``/village <name>``)."""
    state = t.state
    state.pop("choices", None)
    replies, said = village_chat.chosen(t.commune, choice)
    for reply in replies:
        if isinstance(reply, Choices):
            state["choices"] = [c.payload for c in reply.options]
    state["misses"] = 0
    state["last_intent"] = "set_village"
    return TurnResult(Parse("set_village", 1.0), replies, state, None, list(map(effect_of, said)))
