"""Steps for a question the bot asked just before: "delete my data?", "is it happening now?",
and the follow-ups of a ticket just filed or reopened (a photo or pin for it, consent, the
phone number, how things are after reopening). A rating is its own step (``rating``)."""

from __future__ import annotations

from typing import Any

from bot.conversation import erasure
from bot.conversation import village as village_chat
from bot.conversation.steps.emergency import emergency
from bot.conversation.turn import Turn, TurnResult
from bot.conversation.types import Erase, effect_of
from bot.envelope import Parse, Text
from bot.feedback import chat as report_form
from bot.feedback import triage
from bot.i18n import _
from bot.nlu.text import normalise
from bot.nlu.villages import best_village

NOTE_TTL_S = 24 * 3600  # after a reopening, the next message within a day is for the ticket
PHOTO_AFTER_FILING_S = 30 * 60  # a photo alone this soon after filing belongs to that ticket


def erase_confirmation(t: Turn) -> TurnResult | None:
    """The answer to "xóa thông tin của tôi?" asked just before: a yes erases."""
    erase = erasure.answer(t.state, t.text, t.now_s)
    if erase is None:
        return None
    t.state.pop("choices", None)
    if erase:  # the caller erases, then says so
        return TurnResult(Parse("delete_my_data_confirmed", 1.0), [], t.state, None, [Erase()])
    return TurnResult(Parse("delete_my_data_kept", 1.0), [erasure.kept()], t.state)


def triage_answer(t: Turn) -> TurnResult | None:
    """The answer to "is it happening now?": yes files the emergency; no puts the first words
    back for the steps after this one, to be read as a report or a question."""
    if (asked := t.state.pop("triage", None)) is None:
        return None
    in_time = t.now_s - asked["at"] <= triage.QUESTION_TTL_S
    said = triage.answer_of(t.text) if in_time else None
    if said is not None:  # the matter's village goes with its answer, not a new message
        t.village = asked.get("village")
    if said is None and in_time and (place := _only_a_village(t)) is not None:
        # "ở Nậm Mòn": where it happens — the report goes on with it, the question again
        t.state["triage"] = {**asked, "village": place}
        question = triage.question()
        t.state["choices"] = [c.payload for c in question.options]
        return TurnResult(
            Parse("emergency_check", asked["p"]),
            [Text(_("Dạ, ở {village}.").format(village=place)), question],
            t.state,
        )
    if said is not None:
        t.state.pop("choices", None)
    if said:  # "có, ở Nậm Mòn": the village said with the yes, or the one said before
        t.village = _only_a_village(t, with_words=True) or t.village
        found = triage.Assessment("emergency", asked["p"], asked["kind"])
        return emergency(t, asked["text"], found, None)
    if said is False:  # not urgent: the first words carry on as a report or a question
        t.text, t.attachments, t.understood, t.reread = asked["text"], None, None, True
    return None


#: words around a village named alone ("ở thôn Nậm Mòn ạ")
_AROUND_A_VILLAGE = {"o", "tai", "thon", "xom", "ban", "ap", "lang", "to", "khu", "cho", "a", "nhe"}


def _only_a_village(t: Turn, with_words: bool = False) -> str | None:
    """The village a message names when that is all it says ("Nậm Mòn", "ở thôn Bản Phố"),
    or (``with_words``) whatever else it says."""
    text = t.text or ""
    if not text.strip() or text.strip().startswith("/") or not t.commune.villages:
        return None
    place = best_village(text, t.commune.villages)
    rest = village_chat.without_villages(t.commune, text)
    if place is None or rest is None:
        return None
    if not with_words and set(normalise(rest).split()) - _AROUND_A_VILLAGE:
        return None
    return place


def rating(t: Turn) -> TurnResult | None:
    """A rating of the answered ticket (a typed number only as the first message since the
    answer, and never while a report form is open; a tapped star always)."""
    form = t.state.get("report")
    rated = report_form.rating_reply(t.text, None if form else t.given.pending_rating)
    if rated is None:
        return None
    t.state.pop("choices", None)
    return TurnResult(Parse(rated["kind"], 1.0), [], t.state, None, [effect_of(rated)])


def late_attachment(t: Turn) -> TurnResult | None:
    """A photo or a pin just after filing: for that ticket; a question waiting stays asked."""
    late = _photo_for_filed(t.state, t.text, t.attachments, t.now_s)
    if late is None:
        return None
    return TurnResult(Parse("ticket_note", 1.0), [], t.state, None, [effect_of(late)])


def consent(t: Turn) -> TurnResult | None:
    """The answer to "may the commune keep your name and phone?" asked right after an
    emergency was filed (asked once: any message takes the question away)."""
    if not t.state.get("consent_for"):
        return None
    said = report_form.consent_reply(t.text, t.state.pop("consent_for"))
    t.state.pop("choices", None)
    # "bà tôi không đi được, nhanh lên" is more news of the danger, not a "không"
    if said is not None and not triage.assess(t.text).emergency:
        return TurnResult(Parse("report_consent", 1.0), [], t.state, None, [effect_of(said)])
    return None


def phone(t: Turn) -> TurnResult | None:
    """The phone number asked after a web chat report was filed with consent (asked again
    after a number that is not one)."""
    if not t.state.get("phone_for"):
        return None
    said = report_form.phone_reply(t.text, t.state["phone_for"])
    if said is None or not said.get("invalid"):
        t.state.pop("phone_for")  # answered, skipped, or the resident moved on
        t.state.pop("choices", None)
    if said is not None:
        return TurnResult(Parse("report_phone", 1.0), [], t.state, None, [effect_of(said)])
    return None


def reopened_note(t: Turn) -> TurnResult | None:
    """The ticket just reopened: this message tells how things are (a note on it)."""
    note = _note_for_reopened(t.state.pop("note_for", None), t.text, t.attachments, t.now_s)
    if note is None:
        return None
    t.state.pop("choices", None)
    return TurnResult(Parse("ticket_note", 1.0), [], t.state, None, [effect_of(note)])


def _note_for_reopened(
    note_for: dict[str, Any] | None,
    text: str | None,
    attachments: list[dict[str, Any]] | None,
    now_s: float,
) -> dict[str, Any] | None:
    """The resident's message right after reopening a ticket, as a note on it — unless it is a
    tapped choice (answered as usual) or came more than a day later (a new matter)."""
    said = (text or "").strip()
    if not note_for or now_s - float(note_for.get("at") or 0) > NOTE_TTL_S:
        return None
    if said.startswith("/") or not (said or attachments):
        return None
    return {
        "kind": "ticket_note",
        "code": note_for["code"],
        "text": said,
        "attachments": list(attachments or []),
        "why": "reopened",
    }


def _photo_for_filed(
    state: dict[str, Any], text: str | None, attachments: list[dict[str, Any]] | None, now_s: float
) -> dict[str, Any] | None:
    """A photo or a map pin alone, sent soon after a ticket was filed (while the consent or
    phone question may still wait): added to that ticket, not read as a new matter."""
    filed = state.get("filed") or {}
    if (
        not attachments
        or (text or "").strip()
        or state.get("report")
        or not filed
        or now_s - float(filed.get("at") or 0) > PHOTO_AFTER_FILING_S
    ):
        return None
    return {
        "kind": "ticket_note",
        "code": filed["code"],
        "text": "",
        "attachments": list(attachments),
        "why": "attachment",
    }
