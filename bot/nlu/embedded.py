"""The embedded NLU engine (the default backend): trains from `data/nlu/` in about a second,
in-process, no network.

Text is normalised first (NFC, lower case, Vietnamese accent folding, teencode expansion —
``bot/nlu/text.normalise``), then represented by TF-IDF over character n-grams (robust to
typos and missing diacritics) and word uni/bi-grams, and classified by multinomial logistic
regression (scikit-learn), whose probabilities are the confidence. Entities come from the data's
regexes (ticket codes) and the commune's own villages (``bot/nlu/villages.py``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

from bot.envelope import Parse
from bot.nlu import data as nlu_data
from bot.nlu.entities import EntityExtractor
from bot.nlu.fastpath import FastPath
from bot.nlu.text import normalise
from bot.nlu.villages import VillageLike


@dataclass(frozen=True)
class Ranked:
    intent: str
    confidence: float


class EmbeddedNLU:
    name = "embedded"

    def __init__(self, training: nlu_data.NluData) -> None:
        self.training = training
        self.entities = EntityExtractor(training.regexes, training.lookups, training.synonyms)
        started = time.perf_counter()
        texts = [normalise(t) for t, _ in training.examples]
        labels = [i for _, i in training.examples]
        self.pipeline = Pipeline(
            [
                (
                    "features",
                    FeatureUnion(
                        [
                            (
                                "chars",
                                TfidfVectorizer(
                                    analyzer="char_wb",
                                    ngram_range=(2, 5),
                                    sublinear_tf=True,
                                    min_df=1,
                                ),
                            ),
                            (
                                "words",
                                TfidfVectorizer(
                                    analyzer="word",
                                    ngram_range=(1, 2),
                                    sublinear_tf=True,
                                    token_pattern=r"(?u)\b\w+\b",
                                ),
                            ),
                        ]
                    ),
                ),
                ("clf", LogisticRegression(C=20.0, max_iter=3000)),
            ]
        )
        with threadpool_limits(1):  # OpenBLAS threads fighting on a busy host: many times slower
            self.pipeline.fit(texts, labels)
        self.train_seconds = time.perf_counter() - started
        self.classes = [str(c) for c in self.pipeline.classes_]
        self._compile()
        self.fingerprint = hashlib.sha256(
            "\n".join(f"{i}\t{t}" for t, i in training.examples).encode()
        ).hexdigest()[:12]

    def _compile(self) -> None:
        self._fast = FastPath(self.pipeline)  # one string at a time, without the overhead

    def proba(self, normalised: str) -> np.ndarray:
        return self._fast.proba(normalised)

    def rank(self, text: str, top: int = 3) -> list[Ranked]:
        probs = self.proba(normalise(text))
        order = probs.argsort()[::-1][:top]
        return [Ranked(str(self.classes[i]), float(probs[i])) for i in order]

    def parse(
        self, text: str, villages: Sequence[str | VillageLike] = ()
    ) -> tuple[Parse, list[Ranked]]:
        ranked = self.rank(text)
        best = ranked[0]
        return Parse(best.intent, round(best.confidence, 3), self.entities(text, villages)), ranked


@lru_cache(maxsize=1)
def _base() -> nlu_data.NluData:
    return nlu_data.load()


#: the engine every backend falls back to, and the staff examples it was trained with
_default: tuple[EmbeddedNLU, tuple[tuple[str, str], ...]] | None = None
_lock = threading.Lock()


def training(staff: Sequence[tuple[str, str]] = ()) -> nlu_data.NluData:
    """`data/nlu/` (held-out split excluded) and the examples staff taught from misses
    (``training_examples``, bot/knowledge/misses.py) — one data set for every backend."""
    base = _base()
    return replace(base, examples=[*base.examples, *staff]) if staff else base


def default_engine() -> EmbeddedNLU:
    """Trained once per process from `data/nlu/` and the staff examples it was last given
    (``with_staff_examples``: the service at start-up and after a promotion)."""
    if _default is None:
        with _lock:
            if _default is None:
                _train(())
    assert _default is not None
    return _default[0]


def with_staff_examples(staff: Sequence[tuple[str, str]]) -> EmbeddedNLU:
    """The default engine trained again with ``staff`` (text, intent) examples — unless it
    already was: the same examples are not trained twice. Blocking (about a second): call it
    from a thread."""
    wanted = tuple(sorted(staff))
    with _lock:
        if _default is None or _default[1] != wanted:
            _train(wanted)
    assert _default is not None
    return _default[0]


def _train(staff: tuple[tuple[str, str], ...]) -> None:
    global _default
    _default = (EmbeddedNLU(training(staff)), staff)
