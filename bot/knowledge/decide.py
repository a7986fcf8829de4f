"""The one rule between the commune's knowledge and the intents (docs/knowledge.md). Pure: the
scored entries and the intents' reading in, a decision out.

``decide``:
1. the best entry scores at least ``T_HIGH`` and beats the second by ``MARGIN`` → its answer;
2. else two entries score at least ``T_LOW`` → both offered (quick replies);
3. else → pass: the intents answer as before.
A sure intent that starts something (``NEVER``: a report, a person, erasure, a ticket's status,
subscriptions, village, language) is overridden only by an entry's own words (``T_EXACT``: "xe
rac den ngay nao" is the rubbish schedule, "xe rác không đến lấy rác 3 ngày rồi" a report); a
ticket code never; one that answers from
the commune's live data (``GUARDED``: hours, contact, current notices, the health station) only
by an entry scoring at least ``T_OVER_INTENT``, or ``T_EXACT`` when the NLU is ``CONFIDENT``; and no sure intent (nor a sure "not ours") is
overridden by an offer of two entries — only rule 1 can beat a sure reading.
Before all, an entry about another aspect of the procedure the resident names is left out
(``other_aspect``: "làm giấy khai sinh cần gì" is not answered with the birth registration's
fee) unless its answer speaks of the aspect asked too, and so is one that has none of the words
naming what the resident asks about below ``T_UNCOVERED`` (``uncovered``: "nộp thuế ở đâu" is
not answered with "Tiền điện nộp ở đâu?" for sharing "nộp … ở đâu").
Thresholds measured on tests/data/knowledge_labelled.csv against data/knowledge/02839.csv
(tests/test_knowledge.py prints precision and recall; docs/knowledge.md has the figures)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from bot import procedures
from bot.config import Commune
from bot.conversation.follow import ASKING
from bot.conversation.topic_words import naming
from bot.knowledge.retrieval import Entry
from bot.nlu.text import normalise

T_HIGH = 0.47
MARGIN = 0.1
T_LOW = 0.35
T_OVER_INTENT = 0.75
T_EXACT = 0.95
#: an intent read this surely keeps the commune's live data unless the entry is nearly exact
CONFIDENT = 0.9
#: the knowledge rule's own "sure": a reading the NLU gives less surely than this (over its
#: threshold, or made a report by a guess from the words) keeps nothing from the entries; a
#: decision rule's reading (``ruled``) is sure by its words. OFF (0): at 0.45 it let the
#: entries answer residents whose report was only guessed from the words ("rác không thu",
#: 0.40, got the rubbish schedule; "điểm tập kết rác không thu" a menu of two entries) — no
#: confidence separates those reports from the schedule questions it was for (0.21–0.42
#: against 0.33–0.37). Measured by bench/decide_thresholds.py (docs/knowledge.md)
T_SURE = 0.0
#: an entry that covers at most ``UNCOVERED_SHARE`` of the words naming what the resident asks
#: about is kept only from this score (``uncovered``; both chosen on dev by
#: bench/decide_thresholds.py)
T_UNCOVERED = 0.6
UNCOVERED_SHARE = 0.0

#: intents that begin a workflow: a resident who reports, asks for a person, asks about a
#: ticket or changes a setting is never answered from knowledge instead
NEVER = frozenset(
    {
        "report_issue",
        "talk_to_staff",
        "delete_my_data",
        "ticket_status",
        "subscribe",
        "unsubscribe",
        "set_village",
        "change_language",
    }
)
#: intents that answer from the commune's live data: an entry must be very close
GUARDED = frozenset({"office_hours", "office_contact", "latest_notices", "health_station"})
#: what a message says besides a question: never answered from knowledge
SMALL_TALK = frozenset({"greet", "goodbye", "thanks", "affirm", "deny"})


def live_data(intent: str, commune: Commune) -> bool:
    """Whether the commune has the live data ``intent`` answers from (``decide``'s ``live``):
    the health station's only when one is configured (or edited in the console); the office's
    hours, contact and notices always."""
    return intent != "health_station" or commune.office_of("health") is not None


def other_aspect(asked: str, entry: Entry) -> bool:
    """Whether ``entry`` answers another aspect (``bot.procedures.ASPECTS``: what to bring,
    the fee, …) of the procedure the resident's words ``asked`` name: its question and
    paraphrases ask one aspect, the resident another, and its answer does not speak of the
    one asked. Only for a named procedure, whose own data answers every aspect (the
    intents then answer). Measured (bench/decide_thresholds.py, 2026-12-04): dev 38 right /
    1 wrong → 38 / 0 (the wrong one found walking the demo), held-out 103 / 5 → 102 / 5
    ("sao y giấy tờ hết bao nhiêu một trang" reads "giấy tờ" as the papers asked)."""
    wanted = procedures.detect_aspect(asked)
    if wanted is None or procedures.detect(asked) is None:
        return False
    theirs = {procedures.detect_aspect(s) for s in (entry.question, *entry.variants)} - {None}
    if not theirs or wanted in theirs:
        return False
    return re.search(procedures.PATTERNS[wanted], normalise(entry.answer)) is None


def naming_words(asked: str) -> list[str]:
    """The words naming what the resident's words ``asked`` are about — not the words that
    ask ("ở đâu", "bao nhiêu", "cần gì", ``follow.ASKING``), nor those said with every topic,
    nor numbers (``topic_words.naming``) — accent-folded, teencode expanded."""
    return naming(dict.fromkeys(normalise(asked).split()), ASKING)


@lru_cache(maxsize=4096)
def _entry_words(entry: Entry) -> frozenset[str]:
    """Every word of ``entry``'s question, paraphrases and answer, normalised once per entry
    (an entry is immutable; an edited one is a new ``Entry``)."""
    return frozenset(normalise(" ".join((entry.question, *entry.variants, entry.answer))).split())


def covered(asked: str | list[str], entry: Entry) -> float:
    """The share of the naming words of ``asked`` (the resident's words, or their
    ``naming_words``) that ``entry``'s question, paraphrases or answer use; 1.0 when the
    words name nothing."""
    said = naming_words(asked) if isinstance(asked, str) else asked
    if not said:
        return 1.0
    has = _entry_words(entry)
    return sum(w in has for w in said) / len(said)


def uncovered(asked: str | list[str], entry: Entry, score: float) -> bool:
    """Whether ``entry`` shares only the asking with the resident's words ``asked`` — none of
    the words naming the thing asked about ("thuế" in "nộp thuế ở đâu" against "Tiền điện nộp
    ở đâu?", 0.58) — and scores below ``T_UNCOVERED``: then it is about something else. A
    dropped entry still stands as the rival in ``decide``'s margin, so dropping one never
    lets a weaker entry answer in its place. Measured: docs/knowledge.md."""
    return score < T_UNCOVERED and covered(asked, entry) <= UNCOVERED_SHARE


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
    confidence: float = 1.0,
    live: bool = True,
    asked: str = "",
    ruled: bool = False,
) -> Decision:
    """What the bot does with a resident's words, given the commune's entries valid today as
    ``scored`` (best first) and the intents' reading (``intent``; ``sure``: its confidence
    passed the NLU's threshold; ``code``: a ticket code in the words; ``live``: the commune
    has the live data the intent answers from — a commune with no health station configured
    has nothing to guard, and its entry about the station answers; ``asked``: the resident's
    words, for ``other_aspect`` and ``uncovered``; ``ruled``: a decision rule of
    bot/conversation/rules.py made the reading, sure whatever the confidence — otherwise it is
    sure from ``T_SURE``)."""
    rivals = list(scored)  # what the best must beat by MARGIN: every entry left after
    if asked:  # other_aspect, the uncovered too (dropped, they still say the words are unsure)
        rivals = [(e, score) for e, score in scored if not other_aspect(asked, e)]
        said = naming_words(asked)
        scored = [(e, score) for e, score in rivals if not uncovered(said, e, score)]
    sure = sure and (ruled or confidence >= T_SURE)
    if not scored or code:
        return PASS
    if sure and intent in SMALL_TALK:
        return PASS
    if sure and intent in NEVER:  # only the entry's own words, nearly to the letter
        return Decision("answer", (scored[0][0],)) if scored[0][1] >= T_EXACT else PASS
    best, top = scored[0]
    second = max((score for e, score in rivals if e is not best), default=0.0)
    needed = T_HIGH
    if (
        sure and intent in GUARDED and live
    ):  # "số điện thoại xã" is the office, "sdt công an xã" not
        needed = T_EXACT if confidence >= CONFIDENT else T_OVER_INTENT
    if top >= needed and top - second >= MARGIN:
        return Decision("answer", (best,))
    if sure:
        return PASS  # a guess between two entries does not beat a sure reading
    close = [e for e, score in scored[:2] if score >= T_LOW]
    if len(close) == 2:
        return Decision("offer", tuple(close))
    return PASS
