"""The report form (bot/feedback/chat.py): its next step while one is open — a danger told
mid-form goes to the triage, and something else asked meanwhile is answered, then the form's
question asked again (``TurnResult.then``) — and a report begun (``report_start``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.conversation import rules
from bot.conversation.steps.emergency import triaged
from bot.conversation.steps.reading import answered, reading
from bot.conversation.turn import CONFIDENCE_THRESHOLD, Turn, TurnResult, words_to_read
from bot.conversation.types import Effect, FileTicket, HandOff
from bot.envelope import Choices, Parse, Text
from bot.feedback import chat as report_form
from bot.feedback import triage
from bot.i18n import _
from bot.nlu.backends import Understanding, understand_embedded

#: asides after which the report form is not taken up again
_LEAVES_FORM = {"delete_my_data", "talk_to_staff"}
#: what a message may be read as while it still answers the report form's question
_FORM_TALK = {
    "report_issue",
    "nlu_fallback",
    "affirm",
    "deny",
    "thanks",
    "greet",
    "out_of_scope",
    "set_village",
    "goodbye",
}
#: form questions whose answer may be any text (a photo's "no, but…" adds to the description)
_TAKES_ANY_TEXT = {"media"}


def report_form_step(t: Turn) -> TurnResult | None:
    """The resident is filling in a report: their message answers the form's question —
    unless the form was left behind or they ask for a person (the form closes, the message
    goes on to the steps after this one)."""
    state, text = t.state, t.text
    form = state.get("report")
    if form is None:
        return None
    if words_to_read(text):  # read once: for "gặp cán bộ" here, the village in the step
        t.understood = t.understood or understand_embedded(text or "", t.commune.villages)
    if report_form.expired(form, t.now_s) or _asks_for_staff(text, t.understood):
        state.pop("report", None)  # left behind, or "cho tôi gặp cán bộ": not an answer
        state.pop("choices", None)
        return None
    found = None if t.reread or not words_to_read(text) else triage.assess(text)
    if found is not None and found.level != "routine":  # a danger told mid-form
        return triaged(t, text or "", found, t.understood)
    result = _report_step(t)
    result.triage = found
    if not _asks_else(text, t.understood) or not (
        form.get("asking") in _TAKES_ANY_TEXT or _stuck(form, result)
    ):
        return result
    # not an answer to the form's question, but something else the resident asks:
    # answered as usual, then the form's question again (the form stays open)
    aside = t.aside(
        replace(
            t.given,
            text=text,
            state={k: v for k, v in state.items() if k not in ("report", "choices")},
            attachments=None,
            understood=t.understood,
            pending_rating=None,
        )
    )
    if aside.parse.intent in _LEAVES_FORM or any(isinstance(e, HandOff) for e in aside.effects):
        return aside  # erasure asked, or staff take over: the form is left behind
    waiting, again = report_form.ask_again(t.commune, {**form, "at": t.now_s})
    aside.state["report"] = waiting  # an aside is not an answer, nor a try
    aside.state["choices"] = [c.payload for r in again if isinstance(r, Choices) for c in r.options]
    aside.then = [
        Text(_("Về phản ánh anh/chị đang gửi dở (nhắn HỦY nếu muốn dừng):")),
        *again,
    ]
    return aside


def report_start(t: Turn) -> TurnResult | None:
    """A report begun: the form's first question (an emergency told in full: filed at once)."""
    r = reading(t)
    if r.intent != "report_issue":
        return None
    form, replies = report_form.start(
        t.commune,
        t.text or "",
        r.parse.entities,
        t.village or t.given.resident_village,  # a village said to the triage's question
        t.now_s,
        category="utilities" if r.rule == "outage_now" else None,
    )
    extra: list[Effect] = []
    if form.get("asking") is None:  # an emergency told in full: filed at once
        extra = [FileTicket(**report_form.report_of(form))]
    else:
        t.state["report"] = form
    return answered(t, replies, extra)


def _stuck(form: dict[str, Any], result: TurnResult) -> bool:
    """Whether a message left the report form where it was: its question still unanswered."""
    after = result.state.get("report")
    return after is not None and after.get("asking") == form.get("asking") and not result.effects


def _asks_else(text: str | None, understood: Understanding | None) -> bool:
    """Whether typed words clearly ask something besides the report (the hours, a ticket's
    status, erasure, a person…)."""
    if not words_to_read(text) or understood is None:
        return False
    intent, _r = (
        rules.decide(understood.parse.intent, text or "")
        if understood.parse.confidence >= CONFIDENCE_THRESHOLD
        else ("nlu_fallback", None)
    )
    return intent not in _FORM_TALK


def _asks_for_staff(text: str | None, understood: Understanding | None) -> bool:
    """Words that leave a report form: "cho tôi gặp cán bộ", "xóa thông tin của tôi"."""
    if not words_to_read(text) or understood is None:
        return False
    return (
        understood.parse.intent in ("talk_to_staff", "delete_my_data")
        and understood.parse.confidence >= 0.8
    )


def _report_step(t: Turn) -> TurnResult:
    """The message as the answer to the form's question."""
    state, text, understood = t.state, t.text, t.understood
    entities: list[dict[str, Any]] = []
    if text and text.strip() and not text.strip().startswith("/"):
        understood = understood or understand_embedded(text, t.commune.villages)
        entities = understood.parse.entities
    form, replies, report = report_form.step(
        t.commune,
        dict(state["report"]),
        text,
        t.attachments,
        entities,
        list(state.pop("choices", None) or []),
        t.now_s,
    )
    state.pop("report", None)
    effects: list[Effect] = []
    if form is not None:
        state["report"] = form
    if report is not None:
        effects = [FileTicket(**report)]
    for reply in replies:
        if isinstance(reply, Choices):
            state["choices"] = [c.payload for c in reply.options]
    intent = (
        "report_issue"
        if report is None and form is not None
        else ("report_filed" if report is not None else "report_cancelled")
    )
    return TurnResult(Parse(intent, 1.0), replies, state, None, effects)
