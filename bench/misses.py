"""How well and how fast misses are grouped (bot/knowledge/misses.py: ``group``).

    .venv/bin/python bench/misses.py [--similar 0.4 0.5 0.6] [--train]

Stand-in misses: the held-out intent examples (data/nlu/test/, each a resident's wording of one
of the intents, labelled), as distinct texts said once. Measured per threshold: groups formed,
**purity** (share of texts whose group's majority intent is their own: a group is one question),
**pairs kept together** (of the pairs of same-intent texts, the share in one group — an intent
is broader than one question, so this is low by nature and only compared between thresholds),
and the time to group. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import UTC, datetime

from bot.knowledge import misses
from bot.nlu import data as nlu_data
from bot.text import search_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--similar", type=float, nargs="+", default=[0.4, 0.5, 0.6])
    parser.add_argument(
        "--train", action="store_true", help="the training examples too (more texts: timing)"
    )
    args = parser.parse_args()
    examples = nlu_data.load(nlu_data.NLU_DIR / "test", skip=()).examples
    if args.train:
        examples += nlu_data.load().examples
    truth: dict[str, str] = {}
    for text, intent in examples:
        truth.setdefault(search_key(text), intent)  # distinct texts, as misses are counted
    now = datetime.now(UTC)
    firsts = {search_key(t): t for t, _ in reversed(examples)}
    said = [misses.Said(firsts[key], key, 1, now) for key in truth]
    results = {}
    for similar in args.similar:
        misses.SIMILAR = similar
        started = time.perf_counter()
        groups = misses.group(said)
        seconds = time.perf_counter() - started
        pure = together = 0
        for g in groups:
            counts = Counter(truth[t.key] for t in g.texts)
            pure += counts.most_common(1)[0][1]
            together += sum(n * (n - 1) // 2 for n in counts.values())
        per_intent = Counter(truth[s.key] for s in said)
        pairs = sum(n * (n - 1) // 2 for n in per_intent.values())
        results[similar] = {
            "texts": len(said),
            "groups": len(groups),
            "purity": round(pure / len(said), 3),
            "pairs_together": round(together / max(pairs, 1), 3),
            "seconds": round(seconds, 3),
        }
        print(f"SIMILAR={similar}: {results[similar]}")
    print(json.dumps({"similar": results}))


if __name__ == "__main__":
    main()
