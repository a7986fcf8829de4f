"""Finding a commune's entry for what a resident wrote: TF-IDF over accent-folded character
n-grams (2–4, within words) and words, of the text as the NLU normalises it (folded, lower case,
teencode expanded: ``bot.nlu.text.normalise``), cosine similarity against each entry's question
and variants — an entry scores its best. An ``Index`` is built once per commune and kept until
what the commune answers from changes (``index_of``: the store's fingerprint, which covers the
province's entries too, read at most every ``RECHECK_S``; built in a worker thread).

The weights are scikit-learn's ``TfidfVectorizer(sublinear_tf=True)`` (smooth idf, L2 rows),
computed here without its Python vocabulary: a term is its ``hash`` (this process only — an
index is never stored), a commune keeps the sorted hashes of its terms, and a query's terms are
found with one ``searchsorted``; the matrix is CSR float32, multiplied by the query's dense
vector over the commune's terms (one C loop over the non-zeros). Scores are the same as scikit-learn's (tests/test_retrieval.py), the memory a fraction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import sparse
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from bot.knowledge import store
from bot.nlu.text import normalise

log = logging.getLogger(__name__)


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


def _terms(normalised: str) -> tuple[np.ndarray, np.ndarray]:
    """The text's distinct terms (as hashes, sorted) and their sublinear tf (1 + ln count)."""
    grams = _analyzer(normalised)
    hashes, counts = np.unique(
        np.fromiter(map(hash, grams), dtype=np.int64, count=len(grams)), return_counts=True
    )
    return hashes, 1.0 + np.log(counts)


_NEVER = date.max.toordinal()


@lru_cache(maxsize=1)
def _background() -> tuple[np.ndarray, np.ndarray, int]:
    """How common each term is in what residents ask in general — the intents' training
    sentences (``data/nlu/``, held-out tests left out): (sorted term hashes, document
    frequencies, documents). Counted into every commune's idf, so "khi nào", "ở đâu", "bao
    nhiêu" weigh little however few entries a commune has: with one entry, the commune's own
    idf is flat and any question sharing those words with it would match."""
    from bot.nlu import data as nlu_data

    said = [normalise(text) for text, _ in nlu_data.load().examples]
    hashes = [np.unique(np.fromiter(map(hash, _analyzer(t)), dtype=np.int64)) for t in said if t]
    terms, df = np.unique(np.concatenate(hashes), return_counts=True)
    return terms, df, len(hashes)


def _background_df(terms: np.ndarray) -> tuple[np.ndarray, int]:
    """The background document frequency of each of ``terms`` (sorted hashes), and how many
    background documents there are."""
    known, df, documents = _background()
    at = np.searchsorted(known, terms)
    at[at == len(known)] = 0
    return np.where(known[at] == terms, df[at], 0), documents


class Index:
    """The entries of one commune, searchable."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self._by_id = {e.id: e for e in entries}
        self._from = np.array(
            [e.valid_from.toordinal() if e.valid_from else 0 for e in entries], dtype=np.int64
        )
        self._until = np.array(
            [e.valid_until.toordinal() if e.valid_until else _NEVER for e in entries],
            dtype=np.int64,
        )
        self._dated = bool(np.any(self._from > 0) or np.any(self._until < _NEVER))
        grams: list[str] = []
        lengths: list[int] = []
        starts = []  # an entry's sayings are consecutive rows, from starts[i]
        for e in entries:
            starts.append(len(lengths))
            for said in (e.question, *e.variants):
                mine = _analyzer(normalise(said))
                grams.extend(mine)
                lengths.append(len(mine))
        self._starts = np.array(starts, dtype=np.intp)
        self._terms = np.zeros(0, dtype=np.int64)
        self._idf = np.zeros(0, dtype=np.float64)
        self._matrix: Any = None
        self._sayings = len(lengths)
        if not grams:
            return
        hashes = np.fromiter(map(hash, grams), dtype=np.int64, count=len(grams))
        self._terms, cols = np.unique(hashes, return_inverse=True)
        terms = len(self._terms)
        # (column, row) pairs, each with its count: sorted by column, as CSC keeps them
        pairs, counts = np.unique(
            cols.astype(np.int64) * self._sayings + np.repeat(np.arange(self._sayings), lengths),
            return_counts=True,
        )
        col, row = np.divmod(pairs, self._sayings)
        df = np.bincount(col, minlength=terms)
        common, documents = _background_df(self._terms)
        # scikit-learn's smooth idf over the commune's sayings and the background's sentences
        self._idf = np.log((1 + self._sayings + documents) / (1 + df + common)) + 1.0
        weights = (1.0 + np.log(counts)) * self._idf[col]
        norms = np.sqrt(np.bincount(row, weights=weights**2, minlength=self._sayings))
        self._matrix = sparse.csc_matrix(
            ((weights / norms[row]).astype(np.float32), row, np.concatenate(([0], np.cumsum(df)))),
            shape=(self._sayings, terms),
        ).tocsr()

    @property
    def shape(self) -> tuple[int, int]:
        """(sayings, terms) of the TF-IDF matrix."""
        return self._sayings, len(self._terms)

    def entry(self, entry_id: int) -> Entry | None:
        return self._by_id.get(entry_id)

    def scores(self, text: str) -> np.ndarray:
        """Every entry's score for ``text`` (cosine of its best saying, 0–1), in entry order."""
        best = np.zeros(len(self.entries), dtype=np.float32)
        if self._matrix is None or not text.strip():
            return best  # no entries, or none with a word (a question of only "???" or emoji)
        hashes, tf = _terms(normalise(text))
        at = np.searchsorted(self._terms, hashes)
        at[at == len(self._terms)] = 0
        known = self._terms[at] == hashes
        if not known.any():
            return best
        cols = at[known]
        weights = tf[known] * self._idf[cols]
        # Words no saying has still count in the question's length (scikit-learn drops them):
        # "nộp thuế ở đâu" is not "ở đâu" to a commune whose one entry is "gửi xe ở đâu".
        # Their idf is what the commune's would be for a term it never saw (the background's
        # frequency counted, as for every term).
        common, documents = _background_df(hashes[~known])
        unknown = tf[~known] * (np.log((1 + self._sayings + documents) / (1 + common)) + 1.0)
        weights /= np.sqrt(weights @ weights + unknown @ unknown)
        query = np.zeros(len(self._terms), dtype=np.float32)
        query[cols] = weights
        sims = self._matrix @ query  # rows are L2-normalised: cosine similarities
        return np.maximum.reduceat(sims, self._starts).astype(np.float32)

    def lookup(
        self, text: str, limit: int = 3, day: date | None = None
    ) -> list[tuple[Entry, float]]:
        """The entries closest to ``text``, best first, each with its score (cosine, 0–1); with
        ``day``, only the entries valid that day (left out before ranking, so expired entries
        never hide a valid one)."""
        best = self.scores(text)
        if day is not None and self._dated:
            d = day.toordinal()
            best[(self._from > d) | (self._until < d)] = 0.0
        if len(best) > limit:
            top = np.argpartition(-best, limit)[:limit]
            order = top[np.argsort(-best[top], kind="stable")]
        else:
            order = np.argsort(-best, kind="stable")
        return [(self.entries[i], float(best[i])) for i in order if best[i] > 0]


_EMPTY = Index([])
#: how long an index is trusted before the store's fingerprint is read again (a change made by
#: another process is answered within this; one made by this process at once)
RECHECK_S = 2.0


@dataclass
class _Cached:
    seen: tuple[Any, ...]  # the store's fingerprint the index was built from
    index: Index
    checked: float  # time.monotonic() of the last fingerprint read
    changes: int  # store.changes then


#: (database, commune, province) → its index. The database is part of the key: two stores
#: (tests, a benchmark, a second deployment in one process) may have the same commune ids
_cache: dict[tuple[str, int, str | None], _Cached] = {}
#: one rebuild at a time per key, per event loop (others keep the old index meanwhile)
_building: dict[asyncio.AbstractEventLoop, dict[Any, asyncio.Lock]] = {}


def _locks() -> dict[Any, asyncio.Lock]:
    """The running loop's rebuild locks. Those of closed loops are dropped here: a lock that made
    a coroutine wait holds its loop, so weak keys would never let a loop go (tests, ``bot ask``
    run several loops in one process)."""
    loop = asyncio.get_running_loop()
    locks = _building.get(loop)
    if locks is None:
        for ended in [other for other in list(_building) if other.is_closed()]:
            _building.pop(ended, None)  # list(): a loop in another thread may add its own
        locks = _building[loop] = {}
    return locks


def _database(s: AsyncSession) -> str:
    bind = s.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.url.render_as_string(hide_password=True)


async def index_of(s: AsyncSession, commune_id: int, province_code: str | None) -> Index:
    """The commune's index, rebuilt when its entries (or its province's) changed. The store's
    fingerprint (count, newest change, newest id of the commune's and its province's entries) is
    read at most every ``RECHECK_S`` per commune (not a statement per message), and at once
    after this process saved entries. The rebuild runs in a worker thread, one at a time per
    commune; while it runs, other messages of that commune are answered from the old index."""
    key = (_database(s), commune_id, province_code)
    cached = _cache.get(key)
    if (
        cached is not None
        and cached.changes == store.changes
        and time.monotonic() - cached.checked < RECHECK_S
    ):
        return cached.index
    locks = _locks()
    lock = locks.get(key) or locks.setdefault(key, asyncio.Lock())
    if lock.locked() and cached is not None:
        return cached.index  # being rebuilt: the old index meanwhile
    async with lock:
        changes, moment = store.changes, time.monotonic()
        cached = _cache.get(key)
        if cached is not None and cached.changes == changes and moment - cached.checked < RECHECK_S:
            return cached.index  # rebuilt while this one waited
        seen = tuple(await store.version(s, commune_id, province_code))
        if cached is not None and cached.seen == seen:
            _cache[key] = _Cached(seen, cached.index, moment, changes)
            return cached.index
        index = _EMPTY
        if seen[0]:
            entries = [
                Entry(
                    e.id,
                    e.question,
                    e.answer,
                    tuple(e.variants or ()),
                    e.valid_from,
                    e.valid_until,
                    e.commune_id,
                )
                for e in await store.visible(s, commune_id, province_code)
            ]
            try:
                index = await asyncio.to_thread(Index, entries)
            except Exception:
                # the resident is answered from the old index (none: the intents answer); the
                # old fingerprint is kept, so the rebuild is tried again in RECHECK_S
                log.exception("knowledge index of commune %s: rebuild failed", commune_id)
                old = cached.index if cached is not None else _EMPTY
                _cache[key] = _Cached(cached.seen if cached else (), old, moment, changes)
                return old
        _cache[key] = _Cached(seen, index, moment, changes)
        return index
