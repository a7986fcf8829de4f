"""Embedded NLU engine: accuracy (accented, unaccented), parses/s, p50/p99 latency, resident
memory and training time on the held-out split.

    .venv/bin/python bench/nlu.py

Runs in a fresh process so the memory figure is the engine's (Python + scikit-learn + model).
Prints a final JSON line. (The Rasa backend's row comes with the Rasa server slice.)
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.conversation.engine import CONFIDENCE_THRESHOLD  # noqa: E402
from bot.nlu import data as nlu_data  # noqa: E402
from bot.nlu.evaluate import evaluate  # noqa: E402
from bot.nlu.normalize import fold  # noqa: E402


def main() -> None:
    engine, results = evaluate(nlu_data.NLU_DIR, nlu_data.NLU_DIR / "test", CONFIDENCE_THRESHOLD)
    test = nlu_data.load(nlu_data.NLU_DIR / "test", skip=())
    texts = [t for t, _ in test.examples] + [fold(t) for t, _ in test.examples]
    for t in texts[:50]:  # warm-up
        engine.parse(t)
    lat = []
    start = time.perf_counter()
    rounds = 5
    for _ in range(rounds):
        for t in texts:
            t0 = time.perf_counter()
            engine.parse(t)
            lat.append((time.perf_counter() - t0) * 1000)
    wall = time.perf_counter() - start
    lat.sort()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "bench": "nlu", "backend": "embedded",
        "train_examples": len(engine.training.examples), "test_examples": len(test.examples),
        "accuracy_accented": round(results[0].accuracy, 4),
        "accuracy_unaccented": round(results[1].accuracy, 4),
        "macro_f1_accented": round(results[0].macro_f1, 4),
        "parses_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(lat[len(lat) // 2], 3), "p99_ms": round(lat[int(len(lat) * 0.99)], 3),
        "max_rss_mb": round(rss_mb, 1), "train_s": round(engine.train_seconds, 3)}))


if __name__ == "__main__":
    main()
