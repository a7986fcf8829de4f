"""``OWN_TOPIC`` (bot/conversation/follow.py: the NLU's confidence from which a short message
with a follow-up cue has a topic of its own) chosen on held-out data, not by hand: the procedure
``bench/follow_threshold.py`` prints and ``tests/test_followups.py`` re-runs.

``tests/data/follow_labelled.yml``: pairs of (the message answered before, the message after,
``follow`` — it continues the topic kept — or ``own`` — it is read as it is), split ``dev`` /
``test``. Each pair runs through the real steps (``bot.conversation.engine``): the first message
as a whole turn (its answer keeps the topic in the state), the second through the steps in
order up to ``follow_up``; a step before it that answers (the triage, a form) reads it as it is.
Each threshold on ``GRID`` is scored on dev by the pairs it decides right (a follow-up read as a
message of its own and a message of its own rewritten into the old topic are both a wrong
answer); ties go to the lower threshold (a message read as it is). The test half is never used
to choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.config import ROOT, Commune, load_settings
from bot.conversation import follow
from bot.conversation.engine import STEPS, TurnInput, prepare, turn
from bot.conversation.steps.follow import follow_up

DATA = ROOT / "tests" / "data" / "follow_labelled.yml"
GRID = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 1.01)
#: a working Tuesday morning, Vietnamese time (the hours' follow-ups read the day)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Pair:
    before: str
    said: str
    expect: str  # follow | own


def load(path: Path = DATA) -> dict[str, list[Pair]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {half: [Pair(**p) for p in doc[half]] for half in ("dev", "test")}


def commune() -> Commune:
    found = load_settings(ROOT / "config.yml").commune("02839")
    assert found is not None
    return found


def state_after(place: Commune, before: str) -> dict[str, Any]:
    return turn(TurnInput(place, before, now=NOW)).state


def read(place: Commune, state: dict[str, Any], said: str) -> str:
    """``follow`` when the steps rewrite ``said`` as a follow-up on the topic in ``state``,
    ``own`` when they read it as it is."""
    t = prepare(TurnInput(place, said, state=state, now=NOW + timedelta(minutes=1)))
    for step in STEPS:
        if step is follow_up:
            step(t)
            return "follow" if t.follow is not None else "own"
        if step(t) is not None:
            return "own"
    raise AssertionError("follow_up is one of the steps")


def score(place: Commune, pairs: list[Pair], states: list[dict[str, Any]]) -> dict[str, Any]:
    wrong = [
        {"before": p.before, "said": p.said, "expect": p.expect}
        for p, state in zip(pairs, states)
        if read(place, state, p.said) != p.expect
    ]
    return {"right": len(pairs) - len(wrong), "of": len(pairs), "wrong": wrong}


def measure(grid: tuple[float, ...] = GRID) -> dict[str, Any]:
    """The table over ``grid`` on both halves, the threshold chosen on dev, and both halves at
    the code's ``OWN_TOPIC``."""
    place, halves = commune(), load()
    states = {k: [state_after(place, p.before) for p in v] for k, v in halves.items()}
    in_code = follow.OWN_TOPIC
    rows: list[dict[str, Any]] = []
    try:
        for t in grid:
            follow.OWN_TOPIC = t
            rows.append({"own_topic": t, **{k: score(place, halves[k], states[k]) for k in halves}})
        follow.OWN_TOPIC = in_code
        current = {k: score(place, halves[k], states[k]) for k in halves}
    finally:
        follow.OWN_TOPIC = in_code
    best = max(r["dev"]["right"] for r in rows)
    chosen = next(r for r in rows if r["dev"]["right"] == best)
    return {"rows": rows, "chosen": chosen, "in_code": in_code, "at_code": current}
