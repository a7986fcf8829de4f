"""The triage step (bot/feedback/triage.py, the one place for emergencies): the whole message
decides — a sure emergency is filed at once, an unsure one gets one short question."""

from __future__ import annotations

from bot.conversation.turn import Turn, TurnResult, village_names
from bot.conversation.types import FileTicket, TicketNote
from bot.envelope import Parse, Reply
from bot.feedback import chat as report_form
from bot.feedback import triage
from bot.nlu.backends import Understanding, understand_embedded


def triage_message(t: Turn) -> TurnResult | None:
    """A message the triage does not find routine (a tapped choice, or the words of a message
    already triaged, are not read again). Its reading is kept for the answer either way."""
    text = t.text or ""
    chosen = t.chosen()
    found = None if chosen or t.reread else triage.assess(text)  # the whole message decides
    t.found = found
    if found is not None and found.level != "routine":
        return triaged(t, text, found, t.understood)
    return None


def triaged(
    t: Turn, text: str, found: triage.Assessment, understood: Understanding | None
) -> TurnResult:
    """A message the triage did not find routine: a sure emergency is filed at once; an
    unsure one gets one short question (Có/Không), its words kept for the answer."""
    if found.emergency:
        return emergency(t, text, found, understood)
    question = triage.question()
    t.state["triage"] = {"text": text, "kind": found.kind, "p": found.probability, "at": t.now_s}
    t.state["choices"] = [c.payload for c in question.options]
    return TurnResult(
        Parse("emergency_check", found.probability), [question], t.state, None, [], found
    )


def emergency(
    t: Turn, text: str, found: triage.Assessment, understood: Understanding | None
) -> TurnResult:
    """File an emergency now (the leaders are alerted) and tell the resident the number to
    call and what to do first; the caller adds the code. Another alarm in the same category
    just after one was filed is added to that ticket instead of filing a second one."""
    assert found.kind is not None
    commune, state = t.commune, t.state
    form = state.pop("report", None) or {}
    state.pop("choices", None)
    state["misses"] = 0
    advice: list[Reply] = [triage.advice(found.kind, commune)]
    filed = state.get("emergency") or {}
    if (
        filed.get("category") == found.category
        and t.now_s - float(filed.get("at") or 0) <= triage.FOLLOW_UP_S
    ):
        return TurnResult(
            Parse("report_emergency", found.probability),
            advice,
            state,
            None,
            [TicketNote(filed["code"], text, "emergency")],
            found,
        )
    understood = understood or understand_embedded(text, village_names(commune))
    new, _questions = report_form.start(
        commune,
        text,
        understood.parse.entities,
        form.get("village") or t.village or t.given.resident_village,
        t.now_s,
        category=found.category,
        emergency=True,
    )
    if form.get("description") and form["description"] != text:  # told earlier in the form
        new["description"] = f"{form['description']}\n{text}"
    effect = FileTicket(**report_form.report_of(new), emergency_kind=found.kind)
    return TurnResult(
        Parse("report_emergency", found.probability),
        advice,
        state,
        understood.backend,
        [effect],
        found,
    )
