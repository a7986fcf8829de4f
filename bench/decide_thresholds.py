"""The knowledge rule's thresholds that read the NLU's confidence (``CONFIDENT``,
``T_OVER_INTENT``, ``T_SURE`` in bot/knowledge/decide.py), chosen on one set and reported on
another (docs/knowledge.md, "Thresholds that read the NLU's confidence"):

    PYTHONPATH=$PWD .venv/bin/python bench/decide_thresholds.py [--kind blend --threshold 0.55]

dev = tests/data/knowledge_labelled.csv against data/knowledge/02839.csv (what
tests/test_knowledge.py measures); test = tests/data/knowledge_heldout_queries.csv against
tests/data/knowledge_heldout_entries.csv, never used to choose. Each pair on the grid is scored
on dev by right − 2 × wrong (bot/nlu/calibrate.py's utility; a pass scores 0); ties go to the
highest T_OVER_INTENT, then the lowest CONFIDENT, then the lowest T_SURE (the nearest to the
NLU's own threshold). The NLU is the default engine at the code's CONFIDENCE_THRESHOLD, read as
the bot reads it (``reading``); ``--kind`` / ``--threshold`` measure another classifier
(``bot.nlu.embedded.KIND``) at its own NLU threshold without editing the code (T_SURE's grid: 0,
then from that threshold up).

Then, at the code's CONFIDENT, T_OVER_INTENT and T_SURE, the rule for an entry that shares only the
asking with the resident's words (``decide.uncovered``): ``UNCOVERED_SHARE`` (the share of the
words naming the thing asked about an entry covers at most) × ``T_UNCOVERED`` (the score such
an entry needs; 0: the rule off), scored on dev the same way; ties go to the lowest share, then
the lowest T_UNCOVERED (the rule that changes least). Prints both tables, the choices and the
figures at the code's current values, then a JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import ROOT, load_settings  # noqa: E402
from bot.conversation.engine import TurnInput, prepare  # noqa: E402
from bot.conversation.steps.reading import reading  # noqa: E402
from bot.knowledge import decide as rule  # noqa: E402
from bot.knowledge import io  # noqa: E402
from bot.knowledge.retrieval import Entry, Index  # noqa: E402

DATA = ROOT / "tests" / "data"
CONFIDENT_GRID = (0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99, 1.01)  # 1.01: never
OVER_GRID = (0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90)
#: 0: no "sure" of the rule's own (every reading not ``nlu_fallback`` is sure, a rule's too)
SURE_GRID = (0.0, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80)
SHARE_GRID = (0.0, 0.34, 0.5, 0.67)
UNCOVERED_GRID = (0.0, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 1.01)  # 0: off; 1.01: never kept


@dataclass(frozen=True)
class Case:
    text: str
    expected: str
    scored: list[tuple[Entry, float]]
    intent: str
    code: str | None
    confidence: float
    live: bool
    ruled: bool


def cases(entries: Path, queries: Path, column: str) -> list[Case]:
    items = io.read(entries)
    index = Index([Entry(n, i.question, i.answer, i.variants) for n, i in enumerate(items)])
    commune = load_settings(ROOT / "config.yml").commune("02839")
    assert commune is not None
    out = []
    with queries.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            r = reading(prepare(TurnInput(commune, row[column])))
            out.append(
                Case(
                    row[column],
                    row["expected"],
                    index.lookup(row[column]),
                    r.intent,
                    r.code,
                    r.parse.confidence,
                    rule.live_data(r.intent, commune),
                    r.rule is not None,
                )
            )
    return out


def outcome(c: Case) -> str:
    """``pass``, ``right`` or ``wrong``: what the rule at the current thresholds does with ``c``."""
    d = rule.decide(
        c.scored,
        c.intent,
        c.intent != "nlu_fallback",
        c.code,
        c.confidence,
        c.live,
        c.text,
        ruled=c.ruled,
    )
    if d.kind == "pass":
        return "pass"
    return "right" if c.expected in [e.question for e in d.entries] else "wrong"


def score(data: list[Case]) -> dict[str, float]:
    right = wrong = positives = 0
    for c in data:
        positives += bool(c.expected)
        o = outcome(c)
        right += o == "right"
        wrong += o == "wrong"
    return {
        "precision": round(right / max(right + wrong, 1), 3),
        "recall": round(right / max(positives, 1), 3),
        "right": right,
        "wrong": wrong,
        "positives": positives,
        "utility": right - 2 * wrong,
    }


def use_classifier(kind: str, threshold: float) -> None:
    """Every module that read the NLU threshold, and the default engine, as for ``kind``."""
    from bot.nlu import embedded

    embedded.KIND = kind
    for name, module in list(sys.modules.items()):
        if name.startswith("bot.") and hasattr(module, "CONFIDENCE_THRESHOLD"):
            module.CONFIDENCE_THRESHOLD = threshold  # type: ignore[attr-defined]


def uncovered_grid(
    dev: list[Case], test: list[Case]
) -> tuple[list[tuple[float, float, dict[str, float], dict[str, float]]], tuple[Any, ...]]:
    """``decide.uncovered``'s grid (the first row: the rule off) and the pair chosen on dev."""
    in_code = (rule.UNCOVERED_SHARE, rule.T_UNCOVERED)
    rows = []
    try:
        for share in SHARE_GRID:
            for needed in UNCOVERED_GRID:
                if needed == 0.0 and share != SHARE_GRID[0]:
                    continue  # off is off whatever the share
                rule.UNCOVERED_SHARE, rule.T_UNCOVERED = share, needed
                rows.append((share, needed, score(dev), score(test)))
    finally:
        rule.UNCOVERED_SHARE, rule.T_UNCOVERED = in_code
    best = max(r[2]["utility"] for r in rows)
    chosen = min((r for r in rows if r[2]["utility"] == best), key=lambda r: (r[0], r[1]))
    return rows, chosen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=("logreg", "blend", "paired"))
    parser.add_argument("--threshold", type=float, help="the NLU's threshold for --kind")
    args = parser.parse_args()
    from bot.conversation.turn import CONFIDENCE_THRESHOLD

    nlu_threshold = args.threshold if args.threshold is not None else CONFIDENCE_THRESHOLD
    if args.kind:
        use_classifier(args.kind, nlu_threshold)
    sure_grid = tuple(sorted({0.0, nlu_threshold, *(t for t in SURE_GRID if t >= nlu_threshold)}))
    dev = cases(ROOT / "data" / "knowledge" / "02839.csv", DATA / "knowledge_labelled.csv", "text")
    test = cases(
        DATA / "knowledge_heldout_entries.csv", DATA / "knowledge_heldout_queries.csv", "query"
    )
    in_code = (rule.CONFIDENT, rule.T_OVER_INTENT, rule.T_SURE)
    rows = []
    try:
        for confident in CONFIDENT_GRID:
            for over in OVER_GRID:
                for sure in sure_grid:
                    rule.CONFIDENT, rule.T_OVER_INTENT, rule.T_SURE = confident, over, sure
                    rows.append((confident, over, sure, score(dev), score(test)))
        rule.CONFIDENT, rule.T_OVER_INTENT, rule.T_SURE = in_code
        current = (score(dev), score(test))
        before = [outcome(c) for c in dev + test]
        best = max(r[3]["utility"] for r in rows)
        chosen = max(
            (r for r in rows if r[3]["utility"] == best), key=lambda r: (r[1], -r[0], -r[2])
        )
        rule.CONFIDENT, rule.T_OVER_INTENT, rule.T_SURE = chosen[:3]
        after = [outcome(c) for c in dev + test]
    finally:
        rule.CONFIDENT, rule.T_OVER_INTENT, rule.T_SURE = in_code
    print(f"classifier {args.kind or 'in code'}, NLU threshold {nlu_threshold}")
    print(
        "CONFIDENT T_OVER_INTENT T_SURE | dev P R right wrong utility | test P R right wrong utility"
    )
    for confident, over, sure, d, t in rows:
        print(
            f"{confident:.2f} {over:.2f} {sure:.2f} | {d['precision']:.3f} {d['recall']:.3f} "
            f"{d['right']} {d['wrong']} {d['utility']:g} | {t['precision']:.3f} "
            f"{t['recall']:.3f} {t['right']} {t['wrong']} {t['utility']:g}"
        )
    names = ("CONFIDENT", "T_OVER_INTENT", "T_SURE")
    print("chosen on dev: " + ", ".join(f"{n} {v}" for n, v in zip(names, chosen[:3])))
    print(f"  dev {chosen[3]}\n  test {chosen[4]}")
    # T_SURE alone, the other two as in code: the same criterion, ties to the lowest
    alone = [r for r in rows if r[:2] == in_code[:2]]
    top = max((r[3]["utility"] for r in alone), default=None)
    kept = min((r for r in alone if r[3]["utility"] == top), key=lambda r: r[2], default=None)
    if kept is not None:
        print(f"chosen on dev, CONFIDENT / T_OVER_INTENT as in code: T_SURE {kept[2]}")
        print(f"  dev {kept[3]}\n  test {kept[4]}")
    print("in code: " + ", ".join(f"{n} {v}" for n, v in zip(names, in_code)))
    print(f"  dev {current[0]}\n  test {current[1]}")
    under = [c for c in dev + test if c.intent != "nlu_fallback" and c.confidence < nlu_threshold]
    print(f"read surely, the NLU under its threshold (a rule's; a report guessed): {len(under)}")
    for c in under:
        how = "rule" if c.ruled else "guess"
        print(f"  {c.text!r} {c.intent} {c.confidence:.3f} {how}, expected {c.expected!r}")
    print("decided otherwise by the choice than in code (set, words, intent, confidence):")
    for n, (c, b, a) in enumerate(zip(dev + test, before, after)):
        if a != b:
            side = "dev" if n < len(dev) else "test"
            print(f"  {side} {b} → {a}: {c.text!r} {c.intent} {c.confidence:.3f}")
    uncovered, picked = uncovered_grid(dev, test)
    print("UNCOVERED_SHARE T_UNCOVERED | dev right wrong utility | test right wrong utility")
    for share, needed, d, t in uncovered:
        print(
            f"{share:.2f} {needed:.2f} | {d['right']} {d['wrong']} {d['utility']:g} | "
            f"{t['right']} {t['wrong']} {t['utility']:g}"
        )
    print(f"chosen on dev: UNCOVERED_SHARE {picked[0]}, T_UNCOVERED {picked[1]}")
    print(f"in code: UNCOVERED_SHARE {rule.UNCOVERED_SHARE}, T_UNCOVERED {rule.T_UNCOVERED}")
    print(
        json.dumps(
            {
                "bench": "decide_thresholds",
                "classifier": args.kind or "in code",
                "nlu_threshold": nlu_threshold,
                "chosen": dict(zip(names, chosen[:3])),
                "chosen_dev": chosen[3],
                "chosen_test": chosen[4],
                "t_sure_with_code": kept and {"T_SURE": kept[2], "dev": kept[3], "test": kept[4]},
                "in_code": dict(zip(names, in_code)),
                "in_code_dev": current[0],
                "in_code_test": current[1],
                "uncovered_chosen": {"UNCOVERED_SHARE": picked[0], "T_UNCOVERED": picked[1]},
                "uncovered_chosen_dev": picked[2],
                "uncovered_chosen_test": picked[3],
                "uncovered_off_dev": uncovered[0][2],
                "uncovered_off_test": uncovered[0][3],
            }
        )
    )


if __name__ == "__main__":
    main()
