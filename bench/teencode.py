"""The normaliser's teencode reading on the hand-labelled sets, and its speed.

    .venv/bin/python bench/teencode.py              # both sets, the figures and the time
    .venv/bin/python bench/teencode.py --errors     # also every wrong change and every miss

Precision: of the words the normaliser changed, those changed right. Coverage: of the words the
labels change (the teencode), those read right (``bot/nlu/teencode_eval.py``). Time: per message,
``normalise`` over every message of both sets and the NLU's held-out split, each message's best
of five calls (mean, p50, p99 over messages); and the worst cases a message may be — 2,000 and
8,000 characters of chat, of one letter held ("ooo…ox"), of links, of single letters — whose
time should grow with the length, not its square. Prints a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.nlu import data as nlu_data  # noqa: E402
from bot.nlu.teencode_eval import LABELLED, load, measure  # noqa: E402
from bot.nlu.text import normalise  # noqa: E402

HELD_OUT = LABELLED.with_name("teencode_heldout.tsv")
ROUNDS = 5


def timing(messages: list[str]) -> dict[str, float]:
    """Per message the best of ``ROUNDS`` calls (the machine is shared: a call that lost the
    CPU says nothing about the normaliser), then the mean and percentiles over messages."""
    for text in messages:  # the table and the English word list are read once
        normalise(text)
    best = [float("inf")] * len(messages)
    for _ in range(ROUNDS):
        for n, text in enumerate(messages):
            start = time.perf_counter()
            normalise(text)
            best[n] = min(best[n], time.perf_counter() - start)
    best.sort()
    return {
        "messages": len(best),
        "mean_us": round(statistics.fmean(best) * 1e6, 1),
        "p50_us": round(best[len(best) // 2] * 1e6, 1),
        "p99_us": round(best[int(len(best) * 0.99)] * 1e6, 1),
    }


#: long or adversarial messages, built to a given length
WORST: dict[str, str] = {
    "chat": "nha e bi chay r a oi, ko ai o nha, cuu voi ad. ",
    "held": "o",  # one word: "ooo…ox"
    "links": "https://dichvucong.gov.vn/p/home/dvc-chi-tiet-thu-tuc.html?ma=1.001 ",
    "letters": "k a e r v h ",
}


def worst(lengths: tuple[int, ...] = (2000, 8000)) -> dict[str, dict[str, float]]:
    """Best of ``ROUNDS`` calls on each worst case at each length, in ms."""
    out: dict[str, dict[str, float]] = {}
    for name, unit in WORST.items():
        for n in lengths:
            text = (unit * n)[:n] + ("x" if name == "held" else "")
            best = float("inf")
            for _ in range(ROUNDS):
                start = time.perf_counter()
                normalise(text)
                best = min(best, time.perf_counter() - start)
            out.setdefault(name, {})[str(n)] = round(best * 1e3, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--errors", action="store_true", help="list wrong changes and misses")
    args = parser.parse_args()
    out: dict[str, object] = {}
    messages: list[str] = []
    for name, path in (("labelled", LABELLED), ("held_out", HELD_OUT)):
        examples = load(path)
        messages += [e.message for e in examples]
        r = measure(examples)
        print(
            f"{name:9} {r.messages} messages ({r.unchanged_messages} without teencode), "
            f"{r.words} words: precision {r.precision:.3f} ({r.changed_right}/{r.changed} "
            f"changes right), coverage {r.coverage:.3f} ({r.covered}/{r.teencode} teencode "
            "words read)"
        )
        if args.errors:
            for line in r.wrong:
                print("  wrong ", line)
            for line in r.missed:
                print("  missed", line)
        out[name] = {
            "messages": r.messages,
            "precision": round(r.precision, 4),
            "coverage": round(r.coverage, 4),
            "changed": r.changed,
            "teencode": r.teencode,
        }
    test = nlu_data.load(nlu_data.NLU_DIR / "test", skip=())
    messages += [t for t, _ in test.examples]
    out["time"] = timing(messages)
    t = out["time"]
    print(
        f"normalise: {t['messages']} messages, mean {t['mean_us']} µs, "  # type: ignore[index]
        f"p50 {t['p50_us']} µs, p99 {t['p99_us']} µs per message"  # type: ignore[index]
    )
    out["worst_ms"] = w = worst()
    print(
        "worst cases (ms at 2,000 / 8,000 characters): "
        + ", ".join(f"{name} {t['2000']} / {t['8000']}" for name, t in w.items())
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
