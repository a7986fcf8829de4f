"""A fitted TF-IDF + linear classifier pipeline as plain arrays, for a one-string fast path.

scikit-learn's transform/predict_proba spend ~1.7 ms per call on validation and sparse matrix
assembly for a single short string; the same arithmetic on the few active features takes a
small fraction of that. Used by the embedded NLU engine and the emergency triage, which both
read every resident message. ``proba`` is checked equal to the pipeline's ``predict_proba`` in
tests/test_nlu.py and tests/test_triage.py.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.pipeline import Pipeline


class FastPath:
    """``pipeline``: ``("features", FeatureUnion of TfidfVectorizer(sublinear_tf=True))`` then
    ``("clf", …)`` with ``coef_`` / ``intercept_``: a LogisticRegression, binary or multinomial,
    or the NLU engine's ``Blend`` / ``Paired`` (bot/nlu/embedded.py). ``proba`` is the softmax
    (or sigmoid) of ``logits``; a ``Paired`` reads ``logits`` itself."""

    def __init__(self, pipeline: Pipeline) -> None:
        union = pipeline.named_steps["features"]
        clf = pipeline.named_steps["clf"]
        self.parts = []
        offset = 0
        for _, vec in union.transformer_list:
            self.parts.append((vec.build_analyzer(), vec.vocabulary_, vec.idf_, offset))
            offset += len(vec.vocabulary_)
        self.coef_t = np.ascontiguousarray(clf.coef_.T)
        self.intercept = clf.intercept_.copy()
        self.binary = clf.coef_.shape[0] == 1  # one decision column: a sigmoid, not a softmax

    def proba(self, text: str) -> np.ndarray:
        z = self.logits(text)
        if self.binary:
            p = 1.0 / (1.0 + np.exp(-z[0]))
            return np.array([1.0 - p, p])
        z -= z.max()
        e = np.exp(z)
        return e / e.sum()

    def logits(self, text: str) -> np.ndarray:
        """The classifier's decision values (``decision_function``) for ``text``."""
        columns, weights = [], []
        for analyzer, vocab, idf, offset in self.parts:
            counts = Counter(j for tok in analyzer(text) if (j := vocab.get(tok)) is not None)
            if not counts:
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            w = (1.0 + np.log(tf)) * idf[idx]  # sublinear tf × idf, then l2 per vectorizer
            w /= np.sqrt(w @ w)
            columns.append(idx + offset)
            weights.append(w)
        z = self.intercept.copy()
        if columns:
            z += np.concatenate(weights) @ self.coef_t[np.concatenate(columns)]
        return z
