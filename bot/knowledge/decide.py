"""The one rule between the commune's knowledge and the intents (docs/knowledge.md). Pure: the
scored entries and the intents' reading in, a decision out.

``decide``:
1. the best entry scores at least ``T_HIGH`` and beats the second by ``MARGIN`` → its answer;
2. else two entries score at least ``T_LOW`` → both offered (quick replies);
3. else → pass: the intents answer as before.
A sure intent that needs the commune's own data or starts something (``GUARDED``: hours,
contact, a ticket's status, a report, staff, erasure, subscriptions, village, language) is not
overridden unless the best entry scores at least ``T_OVER_INTENT``; a ticket code, never; nor
is a sure intent (or a sure "not ours") overridden by an offer of two entries.
Thresholds measured on tests/data/knowledge_labelled.csv against data/knowledge/02839.csv
(tests/test_knowledge.py prints precision and recall; docs/knowledge.md has the figures)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.knowledge.retrieval import Entry

T_HIGH = 0.47
MARGIN = 0.1
T_LOW = 0.35
T_OVER_INTENT = 0.75

#: intents that answer from the commune's data or begin a workflow: an entry must be very close
GUARDED = frozenset(
    {
        "office_hours",
        "office_contact",
        "ticket_status",
        "report_issue",
        "talk_to_staff",
        "delete_my_data",
        "subscribe",
        "unsubscribe",
        "set_village",
        "change_language",
    }
)
#: what a message says besides a question: never answered from knowledge
SMALL_TALK = frozenset({"greet", "goodbye", "thanks", "affirm", "deny"})


@dataclass(frozen=True)
class Decision:
    kind: Literal["answer", "offer", "pass"]
    entries: tuple[Entry, ...] = ()


PASS = Decision("pass")


def decide(
    scored: Sequence[tuple[Entry, float]],
    intent: str,
    sure: bool,
    code: str | None = None,
) -> Decision:
    """What the bot does with a resident's words, given the commune's entries valid today as
    ``scored`` (best first) and the intents' reading (``intent``; ``sure``: its confidence
    passed the NLU's threshold; ``code``: a ticket code in the words)."""
    if not scored or code:
        return PASS
    if sure and intent in SMALL_TALK:
        return PASS
    best, top = scored[0]
    second = scored[1][1] if len(scored) > 1 else 0.0
    needed = T_OVER_INTENT if sure and intent in GUARDED else T_HIGH
    if top >= needed and top - second >= MARGIN:
        return Decision("answer", (best,))
    if sure and (intent in GUARDED or intent == "out_of_scope"):
        return PASS  # a guess between two entries does not beat a sure reading
    close = [e for e, score in scored[:2] if score >= T_LOW]
    if len(close) == 2:
        return Decision("offer", tuple(close))
    return PASS
