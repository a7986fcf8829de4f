"""From a resident's message to what the bot says. No I/O: the caller persists state and replies.

Used by every channel (Zalo, web chat) through the inbound processor, and by ``bot ask``.
``turn`` prepares the message once (bot/conversation/turn.py) and runs the conversation's steps
in order (bot/conversation/steps/: ``STEPS``) until one answers; the handlers' chain runs the
same steps, a feature's steps per handler (bot/handlers/conversation.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.config import Commune
from bot.conversation import erasure, rules
from bot.conversation import village as village_chat
from bot.conversation.steps import STEPS
from bot.conversation.steps.intent import CLARIFY_FLOOR, NEVER_GUESSED, answer
from bot.conversation.steps.intent import menu as _menu
from bot.conversation.steps.pending import NOTE_TTL_S, PHOTO_AFTER_FILING_S
from bot.conversation.steps.reading import effects_of
from bot.conversation.turn import (
    CONFIDENCE_THRESHOLD,
    INTENTS,
    NoticeSummary,
    Turn,
    TurnInput,
    TurnResult,
    entity,
    from_choice,
    run,
    text_of,
    village_names,
    words_to_read,
)
from bot.conversation.turn import (
    prepare as _prepare,
)
from bot.conversation.types import Erase, TicketStatus
from bot.envelope import Choices, Parse, Reply
from bot.i18n import _, in_language_argument
from bot.nlu.backends import Understanding, understand_embedded
from bot.timeutil import utcnow

__all__ = [
    "CLARIFY_FLOOR",
    "CONFIDENCE_THRESHOLD",
    "INTENTS",
    "NEVER_GUESSED",
    "NOTE_TTL_S",
    "PHOTO_AFTER_FILING_S",
    "STEPS",
    "SURE",
    "SURE_WHILE_WITH_STAFF",
    "NoticeSummary",
    "Turn",
    "TurnInput",
    "TurnResult",
    "answer",
    "effects_of",
    "erasure_while_with_staff",
    "needs_nlu",
    "prepare",
    "respond",
    "run",
    "text_of",
    "turn",
    "village_names",
    "welcome",
    "while_with_staff",
]

#: while staff have the conversation the bot still answers these — when it is sure
SURE_WHILE_WITH_STAFF = ("ticket_status", "office_hours", "office_contact", "health_station")
SURE = 0.9  # "sure": the NLU's confidence ("giờ làm sao" reads 0.8 office_hours), a rule, a code


def needs_nlu(text: str | None, state: dict[str, Any] | None) -> bool:
    """Whether ``respond`` will ask an NLU backend about this text (a tapped choice or a
    number picked from the last menu needs none) — so a caller can parse it ahead, async."""
    return bool(text and text.strip()) and from_choice(text or "", state or {}) is None


def prepare(given: TurnInput) -> Turn:
    """One message prepared once for the steps (the state copied, the clock read); an aside
    within the report form runs every step again."""
    return _prepare(given, STEPS)


def turn(given: TurnInput) -> TurnResult:
    """What the bot says to one message, and the effects the caller carries out. No I/O."""
    result = run(prepare(given), STEPS)
    assert result is not None, "the last step answers every message"
    return result


class Response:
    """``respond``'s answer: the turn's result (its attributes read through), with the effects
    in their dict form, as ``bot ask --json`` prints them."""

    def __init__(self, result: TurnResult, effects: list[dict[str, Any]]) -> None:
        self.result = result
        self.effects = effects

    def __getattr__(self, name: str) -> Any:
        return getattr(self.result, name)


@in_language_argument
def respond(
    commune: Commune,
    text: str | None,
    *,
    language: str = "vi",
    state: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    now: datetime | None = None,
    understood: Understanding | None = None,
    notices: Sequence[NoticeSummary] = (),
    pending_rating: str | None = None,
    resident_village: str | None = None,
    handoff_after: int = 2,
    channel: str = "zalo",
) -> Response:
    """``turn`` with keyword arguments (``bot ask``, tests); its effects in their dict form
    (``{"kind": …}``, ``types.Effect.as_dict``)."""
    result = turn(
        TurnInput(
            commune,
            text,
            language,
            state,
            attachments,
            now,
            understood,
            notices,
            pending_rating,
            resident_village,
            handoff_after,
            channel,
        )
    )
    return Response(result, [e.as_dict() for e in result.effects])


@in_language_argument
def while_with_staff(
    commune: Commune,
    text: str | None,
    *,
    language: str = "vi",
    understood: Understanding | None = None,
    now: datetime | None = None,
    channel: str = "zalo",
) -> TurnResult | None:
    """While staff have the conversation: the bot's answer when it is sure of one it may give
    (a ticket's status, office hours, the contact card, the health station), else None — the
    message waits for staff. (Emergencies are the caller's, before this.)"""
    if not words_to_read(text):
        return None
    understood = understood or understand_embedded(text or "", village_names(commune))
    parse = understood.parse
    intent, rule = rules.decide(
        parse.intent if parse.confidence >= CONFIDENCE_THRESHOLD else "nlu_fallback", text
    )
    code = entity(parse, "ticket_code")
    if code:
        intent = "ticket_status"
    sure = bool(code) or rule is not None or parse.confidence >= SURE
    if intent not in SURE_WHILE_WITH_STAFF or not sure:
        return None
    reading = Parse(intent, parse.confidence, parse.entities)
    if intent == "ticket_status":
        return TurnResult(reading, [], {}, understood.backend, [TicketStatus(code)])
    return TurnResult(
        reading, answer(commune, intent, parse, now, channel=channel), {}, understood.backend
    )


#: asides after which the report form is not taken up again
@in_language_argument
def erasure_while_with_staff(
    state: Mapping[str, Any] | None,
    text: str | None,
    *,
    language: str = "vi",
    understood: Understanding | None = None,
    now: datetime | None = None,
) -> tuple[TurnResult | None, dict[str, Any]]:
    """While staff have the conversation (a handoff, or staff writing from Zalo's OA Manager)
    a request to erase is still the bot's: the question when the words surely ask for it, the
    erasure on a yes to it. (None, state): the message is staff's. The state comes back either
    way: any message after the question takes it away."""
    state = dict(state or {})
    now_s = (now or utcnow()).timestamp()
    said = erasure.answer(state, text, now_s)
    if said is not None:
        state.pop("choices", None)
        if said:
            return TurnResult(
                Parse("delete_my_data_confirmed", 1.0), [], state, None, [Erase()]
            ), state
        return TurnResult(Parse("delete_my_data_kept", 1.0), [erasure.kept()], state), state
    if not words_to_read(text):
        return None, state
    understood = understood or understand_embedded(text or "", ())
    intent, _rule = rules.decide(understood.parse.intent, text)
    if intent != "delete_my_data" or understood.parse.confidence < SURE:
        return None, state
    question = erasure.question()
    erasure.ask(state, now_s)
    state["choices"] = [c.payload for c in question.options]
    return TurnResult(
        Parse(intent, understood.parse.confidence), [question], state, understood.backend
    ), state


@in_language_argument
def welcome(
    commune: Commune, language: str = "vi", channel: str = "zalo", ask_village: bool = False
) -> list[Reply]:
    """What a resident sees after following the OA or tapping "Nhắn tin" — or opening the web
    chat page, which is not Zalo and says so. With ``ask_village``, one short question more:
    which village they live in (the caller asks each resident once)."""
    if channel == "webchat":
        return [
            Choices(
                _(
                    "Xin chào anh/chị! Đây là trang hỏi đáp trực tuyến của {name}. "
                    "Anh/chị có thể hỏi giờ làm việc, địa chỉ, số điện thoại của xã, gửi "
                    "phản ánh, hoặc chọn:"
                ).format(name=commune.name),
                _menu(),
            )
        ]
    ask: list[Reply] = (
        [village_chat.question(commune, "welcome")] if ask_village and commune.villages else []
    )
    return [
        Choices(
            _(
                "Cảm ơn anh/chị đã quan tâm trang Zalo của {name}. Anh/chị có thể hỏi "
                "giờ làm việc, địa chỉ, số điện thoại của xã, hoặc chọn:"
            ).format(name=commune.name),
            _menu(),
        )
    ] + ask
