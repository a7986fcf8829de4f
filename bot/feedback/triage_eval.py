"""How well the emergency triage does, for docs/triage.md (`bot triage eval`).

Precision and recall of the emergency class on the held-out split (``data/triage/test/``,
never trained on), as written and with every accent removed, at the thresholds in
``bot/feedback/triage.py``; the same out of fold over the training split (5-fold
cross-validation, repeated with two shuffles, each message's accent-free copy kept on the
side of its original), and — with ``--sweep`` — the figures for other thresholds on those
cross-validated probabilities, which is where the thresholds were chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bot.feedback import triage
from bot.nlu import data as nlu_data
from bot.nlu.normalize import fold


@dataclass
class Scored:
    example: triage.Example
    probability: float
    kind: str | None


def _scores(model: triage.Triage, examples: Sequence[triage.Example], plain: bool
            ) -> list[Scored]:
    out = []
    for e in examples:
        text = fold(e.text) if plain else e.text
        out.append(Scored(e, model.probability(text), model.kind(text)))
    return out


def figures(scored: Sequence[Scored], emergency_at: float, unsure_at: float) -> dict[str, float]:
    y = np.array([s.example.emergency for s in scored])
    p = np.array([s.probability for s in scored])
    alert, asked = p >= emergency_at, (p >= unsure_at) & (p < emergency_at)
    tp = int((alert & y).sum())
    urgent = [s for s in scored if s.example.emergency and s.probability >= unsure_at]
    return {
        "n_emergency": int(y.sum()), "n_routine": int((~y).sum()),
        "precision": tp / max(int(alert.sum()), 1),
        "recall": tp / max(int(y.sum()), 1),
        # an unsure message is asked, not dropped: emergencies alerted or asked about
        "caught": int(((alert | asked) & y).sum()) / max(int(y.sum()), 1),
        "false_alerts": int((alert & ~y).sum()), "missed": int((~(alert | asked) & y).sum()),
        "asked_emergency": int((asked & y).sum()), "asked_routine": int((asked & ~y).sum()),
        "kind_accuracy": sum(s.kind == s.example.label for s in urgent) / max(len(urgent), 1),
    }


def out_of_fold(examples: list[triage.Example], extra: list[triage.Example],
                folds: int = 5, seeds: Sequence[int] = (0, 1)
                ) -> tuple[list[Scored], list[Scored]]:
    """Cross-validated scores over ``examples`` (``extra`` always trained on, never scored):
    (as written, accents removed), one entry per example and shuffle."""
    y = [e.emergency for e in examples]
    written: list[Scored] = []
    plain: list[Scored] = []
    for seed in seeds:
        for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
                examples, y):
            model = triage.Triage([examples[i] for i in train] + extra)
            part = [examples[i] for i in held]
            written += _scores(model, part, plain=False)
            plain += _scores(model, part, plain=True)
    return written, plain


def _row(name: str, f: dict[str, float]) -> str:
    return (f"| {name} | {f['n_emergency']} / {f['n_routine']} | {f['precision']:.3f} | "
            f"{f['recall']:.3f} | {f['caught']:.3f} | {f['false_alerts']} | {f['missed']} | "
            f"{f['asked_emergency']} / {f['asked_routine']} | {f['kind_accuracy']:.3f} |")


HEADER = ("| set | emergencies / routine | precision | recall | caught (alerted or asked) "
          "| false alerts | missed | asked: emergencies / routine | kind right |\n"
          "|---|---|---|---|---|---|---|---|---|")


def report(train_dir: Path | str = triage.DATA_DIR, test_dir: Path | str | None = None,
           sweep: bool = False) -> str:
    train = triage.load(train_dir)
    held = triage.load(test_dir or Path(train_dir) / "test", skip=())
    if not train or not held:
        raise ValueError("no labelled examples found (data/triage/*.yml, data/triage/test/)")
    extra = triage.ordinary()
    everyday = triage.ordinary(Path(nlu_data.NLU_DIR) / "test", skip=())
    model = triage.Triage(train + extra)
    hi, lo = triage.EMERGENCY_AT, triage.UNSURE_AT
    summary = (f"Training split: {sum(e.emergency for e in train)} emergencies, "
               f"{sum(not e.emergency for e in train)} routine, and {len(extra)} ordinary "
               f"questions from data/nlu/ (each accented message also learnt without accents); "
               f"held-out: {sum(e.emergency for e in held)} / "
               f"{sum(not e.emergency for e in held)}. Thresholds: emergency ≥ {hi}, "
               f"question ≥ {lo}. Trained in {model.train_seconds:.2f} s.")
    lines = [summary, "", HEADER]
    written, plain = _scores(model, held, False), _scores(model, held, True)
    lines.append(_row("held-out, as written", figures(written, hi, lo)))
    lines.append(_row("held-out, accents removed", figures(plain, hi, lo)))
    cv_written, cv_plain = out_of_fold(train, extra)
    lines.append(_row("training split, 5-fold CV ×2, as written", figures(cv_written, hi, lo)))
    lines.append(_row("training split, 5-fold CV ×2, accents removed",
                      figures(cv_plain, hi, lo)))
    for name, plain_text in (("as written", False), ("accents removed", True)):
        f = figures(_scores(model, everyday, plain_text), hi, lo)
        lines.append(f"| ordinary questions, data/nlu/test, {name} | 0 / {f['n_routine']} | "
                     f"– | – | – | {f['false_alerts']} | – | 0 / {f['asked_routine']} | – |")
    wrong = [(s, how) for scored, how in ((written, "as written"), (plain, "no accents"))
             for s in scored if (s.probability >= hi) != s.example.emergency]
    if wrong:
        lines += ["", "Held-out messages on the wrong side of the emergency threshold:", ""]
        lines += [f"- {'missed' if s.example.emergency else 'false alert'}"
                  f"{' (asked)' if lo <= s.probability < hi else ''} "
                  f"[{s.example.label}, {how}, p={s.probability:.2f}]: {s.example.text}"
                  for s, how in wrong]
    if sweep:
        lines += ["", "Thresholds on the cross-validated probabilities (both spellings):", "",
                  "| threshold | precision | recall |", "|---|---|---|"]
        both = cv_written + cv_plain
        for t in np.arange(0.2, 0.91, 0.05):
            f = figures(both, float(t), float(t))
            lines.append(f"| {t:.2f} | {f['precision']:.3f} | {f['recall']:.3f} |")
    return "\n".join(lines)
