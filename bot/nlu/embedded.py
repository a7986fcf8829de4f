"""The embedded NLU engine (the default backend): trains from `data/nlu/` in about two seconds,
in-process, no network.

Text is normalised first (NFC, lower case, Vietnamese accent folding, teencode expansion —
``bot/nlu/text.normalise``), then represented by TF-IDF over character n-grams (robust to
typos and missing diacritics) and word uni/bi-grams, and classified by ``Paired``: the intent
is the best of a blend of logistic regression and linear SVM (scikit-learn), the confidence the
regression's probability of it (``KIND``; docs/nlu.md, "Paired"). Entities come from the data's
regexes (ticket codes) and the commune's own villages (``bot/nlu/villages.py``).
"""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from bot.envelope import Parse
from bot.nlu import data as nlu_data
from bot.nlu.entities import EntityExtractor
from bot.nlu.fastpath import FastPath
from bot.nlu.text import normalise
from bot.nlu.villages import VillageLike

#: the logistic regression's inverse regularisation (docs/nlu.md: why 20)
C = 20.0
#: the linear SVM's, and the temperatures tried for its margins (``Blend``)
SVM_C = 1.0
TEMPERATURES = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
#: the SVM's share of the blended logits
SVM_WEIGHT = 0.5
#: the service's classifier: ``paired`` (the blend chooses, the regression tells how sure:
#: as accurate as the linear SVM on the public set, and the knowledge rule decides as with the
#: regression — docs/nlu.md, "Paired"), ``blend`` or ``logreg`` (the logistic regression alone,
#: in service until 2026-12-04). Every threshold that reads the confidence is chosen for this one.
KIND = "paired"


def features() -> FeatureUnion:
    """What every classifier here sees of a normalised text: TF-IDF over character 2–5-grams
    (within words) and word 1–2-grams. The benchmark's linear SVM uses the very same."""
    return FeatureUnion(
        [
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
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
    )


class Blend(ClassifierMixin, BaseEstimator):
    """One linear softmax model: the mean of a logistic regression's logits and a linear
    SVM's margins times a temperature. The SVM alone is the more accurate (docs/nlu.md: engine
    against a linear SVM), the regression alone gives the better confidences; the SVM's
    temperature is the one whose softmax best predicts held-out labels (least out-of-fold log
    loss, 5 folds of the training data), so its margins read as probabilities before they are
    mixed. The blend is a single ``coef_``/``intercept_`` pair: the fast path
    (``bot/nlu/fastpath.py``) runs it unchanged."""

    def __init__(self, c: float = C, svm_c: float = SVM_C, svm_weight: float = SVM_WEIGHT):
        self.c, self.svm_c, self.svm_weight = c, svm_c, svm_weight

    def fit(self, x: Any, y: Sequence[str]) -> Blend:
        labels = np.asarray(y)
        lr = LogisticRegression(C=self.c, max_iter=3000).fit(x, labels)
        svm = LinearSVC(C=self.svm_c, random_state=0).fit(x, labels)
        self.classes_ = lr.classes_
        self.temperature_ = self._temperature(x, labels)
        (lr_coef, lr_intercept), (svm_coef, svm_intercept) = (
            _per_class(lr.coef_, lr.intercept_),
            _per_class(svm.coef_, svm.intercept_),
        )
        w = self.svm_weight
        self.coef_ = (1 - w) * lr_coef + w * self.temperature_ * svm_coef
        self.intercept_ = (1 - w) * lr_intercept + w * self.temperature_ * svm_intercept
        self.lr_coef_, self.lr_intercept_ = lr_coef, lr_intercept  # ``Paired`` reads these
        return self

    def _temperature(self, x: Any, labels: np.ndarray) -> float:
        column = {c: i for i, c in enumerate(self.classes_)}
        margins = np.zeros((x.shape[0], len(self.classes_)))
        most = int(np.unique(labels, return_counts=True)[1].max())
        if most < 2:  # no held-out readings to choose from: the margins as they are
            return 1.0
        folds = StratifiedKFold(n_splits=min(5, most), shuffle=True, random_state=0)
        with warnings.catch_warnings():  # a class with fewer than 5 examples: fewer folds see it
            warnings.simplefilter("ignore", UserWarning)
            splits = list(folds.split(np.zeros(len(labels)), labels))
        for train, test in splits:
            part = LinearSVC(C=self.svm_c, random_state=0).fit(x[train], labels[train])
            found = part.decision_function(x[test])
            if found.ndim == 1:  # two intents: one margin, for the second
                found = np.column_stack([-found / 2, found / 2])
            margins[np.ix_(test, [column[c] for c in part.classes_])] = found
        truth = np.array([column[c] for c in labels])

        def log_loss(t: float) -> float:
            return float(-_log_softmax(margins * t)[np.arange(len(truth)), truth].mean())

        return min(TEMPERATURES, key=log_loss)

    def decision_function(self, x: Any) -> np.ndarray:
        return np.asarray(x @ self.coef_.T + self.intercept_)

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.exp(_log_softmax(self.decision_function(x)))

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self.classes_[self.decision_function(x).argmax(axis=1)])


class Paired(Blend):
    """The blend chooses, the regression tells how sure: the intent is the blend's best (as
    accurate as the linear SVM), its confidence the logistic regression's probability of that
    intent. Where the two agree — almost always — this is the regression as it was, so every
    threshold that reads the confidence keeps its meaning; where they disagree, the confidence
    is the regression's for the blend's choice, lower than its own best and so under 0.5: a
    disagreement reads as doubt (docs/nlu.md, "Paired"). One ``coef_`` / ``intercept_`` pair
    of 2 × K columns — the blend's, then the regression's — so the fast path computes both in
    one product."""

    def fit(self, x: Any, y: Sequence[str]) -> Paired:
        super().fit(x, y)
        self.coef_ = np.vstack([self.coef_, self.lr_coef_])
        self.intercept_ = np.concatenate([self.intercept_, self.lr_intercept_])
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        return chosen(self.decision_function(x))[1]

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self.classes_[chosen(self.decision_function(x))[0]])


def chosen(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Paired``'s logits (rows of 2 × K: the blend's, then the regression's) read: the blend's
    best intent per row, and the regression's probabilities."""
    k = z.shape[-1] // 2
    return z[..., :k].argmax(axis=-1), np.exp(_log_softmax(z[..., k:]))


def _per_class(coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A linear model's weights with one row per class. With two classes scikit-learn keeps
    one row, the second class's logit against the first; split in halves, its softmax is the
    same sigmoid — so the blend and ``Paired``'s split into two halves hold for two intents."""
    if coef.shape[0] > 1:
        return coef, intercept
    return np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Over the last axis: one row of logits, or each row of many."""
    z = z - z.max(axis=-1, keepdims=True)
    return np.asarray(z - np.log(np.exp(z).sum(axis=-1, keepdims=True)))


def classifier(kind: str | None = None) -> LogisticRegression | Blend | Paired:
    """The service's classifier (``KIND``): the pair, the blend, or the logistic regression
    alone. The thresholds that read its probabilities (``CONFIDENCE_THRESHOLD``, the knowledge
    rule's ``CONFIDENT`` / ``T_OVER_INTENT``, follow-ups' ``OWN_TOPIC``) are chosen for
    ``KIND``."""
    kind = kind or KIND
    if kind == "paired":
        return Paired()
    return Blend() if kind == "blend" else LogisticRegression(C=C, max_iter=3000)


@dataclass(frozen=True)
class Ranked:
    intent: str
    confidence: float


class EmbeddedNLU:
    name = "embedded"

    def __init__(self, training: nlu_data.NluData, kind: str | None = None) -> None:
        self.training = training
        self.entities = EntityExtractor(training.regexes, training.lookups, training.synonyms)
        started = time.perf_counter()
        texts = [normalise(t) for t, _ in training.examples]
        labels = [i for _, i in training.examples]
        self.pipeline = Pipeline([("features", features()), ("clf", classifier(kind))])
        with threadpool_limits(1):  # OpenBLAS threads fighting on a busy host: many times slower
            self.pipeline.fit(texts, labels)
        self.train_seconds = time.perf_counter() - started
        self.classes = [str(c) for c in self.pipeline.classes_]
        self.paired = isinstance(self.pipeline.named_steps["clf"], Paired)
        self._compile()
        self.fingerprint = hashlib.sha256(
            "\n".join(f"{i}\t{t}" for t, i in training.examples).encode()
        ).hexdigest()[:12]

    def _compile(self) -> None:
        self._fast = FastPath(self.pipeline)  # one string at a time, without the overhead

    def proba(self, normalised: str) -> np.ndarray:
        """The confidence of each intent (``classes``); for ``Paired``, the regression's."""
        return self.choose(normalised)[1]

    def choose(self, normalised: str) -> tuple[int, np.ndarray]:
        """The best intent's index and the confidence of each intent. Only ``Paired`` may
        choose an intent that is not the most probable."""
        if not self.paired:
            probs = self._fast.proba(normalised)
            return int(probs.argmax()), probs
        pick, probs = chosen(self._fast.logits(normalised))
        return int(pick), probs

    def rank(self, text: str, top: int = 3) -> list[Ranked]:
        pick, probs = self.choose(normalise(text))
        order = [pick, *(i for i in probs.argsort()[::-1] if i != pick)][:top]
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
    already was: the same examples are not trained twice. Blocking (about two seconds): call it
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
