"""The confidence threshold chosen on held-out data, not by hand.

Procedure (docs/nlu.md, "Thresholds"): stratified 5-fold cross-validation over the training
data (``data/nlu/``; the held-out split ``data/nlu/test`` and the out-of-scope file are never
looked at). Every training example is read once by an engine trained without it, which gives an
out-of-fold (best intent, confidence) per example. On a grid of thresholds (0.10 … 0.90, step
0.05) each threshold is scored by the bot's own decision — at or above it the intent is
answered, below it a clarifying question is asked:

    utility(t) = right answers − WRONG_COST × wrong answers      (a clarifying question: 0)

A wrong answer costs twice a right one earns: a resident who reads an unrelated answer has lost
more than one who is asked "did you mean …". The chosen threshold maximises the utility; ties go
to the lower threshold (fewer questions). ``bot.conversation.turn.CONFIDENCE_THRESHOLD`` holds
the value this procedure chose, and ``tests/test_nlu.py`` re-runs it: a change in the training
data that moves the choice fails that test until the constant is updated (``python bench/nlu.py
--calibrate`` prints the table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bot.nlu import data as nlu_data

FOLDS = 5
SEED = 0
WRONG_COST = 2.0
GRID = tuple(round(0.10 + 0.05 * i, 2) for i in range(17))


@dataclass(frozen=True)
class Scored:
    truth: str
    predicted: str
    confidence: float


@dataclass(frozen=True)
class Choice:
    threshold: float
    utility: float
    right: int
    wrong: int
    asked: int


#: a fitted model's reading of one text: (best intent, its score)
Reader = Callable[[str], tuple[str, float]]


def out_of_fold(
    examples: Sequence[tuple[str, str]],
    fit: Callable[[list[tuple[str, str]]], Reader],
    folds: int = FOLDS,
    seed: int = SEED,
) -> list[Scored]:
    """Each example read by a model ``fit`` on the other folds."""
    labels = [i for _, i in examples]
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out: list[Scored | None] = [None] * len(examples)
    for train_idx, test_idx in split.split(np.zeros(len(labels)), labels):
        read = fit([examples[i] for i in train_idx])
        for i in test_idx:
            intent, score = read(examples[i][0])
            out[i] = Scored(labels[i], intent, score)
    return [s for s in out if s is not None]


def table(scored: Sequence[Scored], grid: Sequence[float] = GRID) -> list[Choice]:
    rows = []
    for t in grid:
        right = sum(s.confidence >= t and s.predicted == s.truth for s in scored)
        wrong = sum(s.confidence >= t and s.predicted != s.truth for s in scored)
        rows.append(
            Choice(t, right - WRONG_COST * wrong, right, wrong, len(scored) - right - wrong)
        )
    return rows


def choose(scored: Sequence[Scored], grid: Sequence[float] = GRID) -> Choice:
    """The threshold of highest utility; the lower one on a tie."""
    rows = table(scored, grid)
    best = max(r.utility for r in rows)
    return next(r for r in rows if r.utility == best)


def engine_reader(examples: list[tuple[str, str]]) -> Reader:
    from bot.nlu.embedded import EmbeddedNLU

    engine = EmbeddedNLU(nlu_data.NluData(examples=examples))

    def read(text: str) -> tuple[str, float]:
        best = engine.rank(text, top=1)[0]
        return best.intent, best.confidence

    return read


def engine_threshold(training: nlu_data.NluData | None = None) -> tuple[Choice, list[Choice]]:
    """The embedded engine's threshold on ``training`` (default: ``data/nlu/``), with the
    whole table."""
    training = training or nlu_data.load()
    scored = out_of_fold(training.examples, engine_reader)
    return choose(scored), table(scored)
