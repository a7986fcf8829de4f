"""Finding a commune's entry for what a resident wrote: TF-IDF over accent-folded character
n-grams (2–4, within words) and words, of the text as the NLU normalises it (folded, lower case,
teencode expanded: ``bot.nlu.text.normalise``), cosine similarity against each entry's question
and variants — an entry scores its best. An ``Index`` is built once per commune and kept until
the commune's entries change (``indexes``: the store's fingerprint checked per lookup — one
indexed query — so a change in any process is answered from at once)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.knowledge import store
from bot.nlu.text import normalise


@dataclass(frozen=True)
class Entry:
    """An entry as the index keeps it (detached from the session)."""

    id: int
    question: str
    answer: str
    variants: tuple[str, ...] = ()
    valid_from: date | None = None
    valid_until: date | None = None
    commune_id: int | None = None

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


def _analyzer(text: str) -> list[str]:
    words = text.split()
    grams = [f"w:{w}" for w in words]
    for w in words:
        padded = f" {w} "
        for n in (2, 3, 4):
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


class Index:
    """The entries of one commune, searchable."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        docs, owners = [], []
        for i, e in enumerate(entries):
            for said in (e.question, *e.variants):
                docs.append(normalise(said))
                owners.append(i)
        self._owners = np.array(owners, dtype=int)
        self._vectorizer: TfidfVectorizer | None = None
        self._matrix: Any = None
        if docs:
            self._vectorizer = TfidfVectorizer(analyzer=_analyzer, sublinear_tf=True)
            self._matrix = self._vectorizer.fit_transform(docs)

    def lookup(self, text: str, limit: int = 3) -> list[tuple[Entry, float]]:
        """The entries closest to ``text``, best first, each with its score (cosine, 0–1)."""
        if self._vectorizer is None or not text.strip():
            return []
        query = self._vectorizer.transform([normalise(text)])
        sims = (self._matrix @ query.T).toarray().ravel()  # rows are L2-normalised
        best = np.zeros(len(self.entries))
        np.maximum.at(best, self._owners, sims)
        order = np.argsort(-best)[:limit]
        return [(self.entries[i], float(best[i])) for i in order if best[i] > 0]


_EMPTY = Index([])
#: how long an index is trusted before the store's fingerprint is read again (a change made by
#: another process is answered within this; one made by this process at once)
RECHECK_S = 2.0
_cache: dict[int, tuple[tuple[Any, ...], Index, float, int]] = {}


async def index_of(s: AsyncSession, commune_id: int, province_code: str | None) -> Index:
    """The commune's index, rebuilt when its entries (or its province's) changed. The store's
    fingerprint is read at most every ``RECHECK_S`` per commune (not a statement per message),
    and at once after this process saved entries."""
    cached = _cache.get(commune_id)
    moment = time.monotonic()
    if (
        cached is not None
        and cached[3] == store.changes
        and moment - cached[2] < RECHECK_S
        and cached[0][0] == province_code
    ):
        return cached[1]
    seen = (province_code, *await store.version(s, commune_id, province_code))
    if cached is not None and cached[0] == seen:
        _cache[commune_id] = (seen, cached[1], moment, store.changes)
        return cached[1]
    if seen[1] == 0:
        index = _EMPTY
    else:
        rows = await store.visible(s, commune_id, province_code)
        index = Index(
            [
                Entry(
                    e.id,
                    e.question,
                    e.answer,
                    tuple(e.variants or ()),
                    e.valid_from,
                    e.valid_until,
                    e.commune_id,
                )
                for e in rows
            ]
        )
    _cache[commune_id] = (seen, index, moment, store.changes)
    return index
