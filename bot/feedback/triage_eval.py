"""How well the emergency triage does, for docs/triage.md (`bot triage eval`).

Against the three labels (emergency, unsure, routine) on the held-out split
(``data/triage/test/``, never trained on; all of it and each file), as written and with every
accent removed, at the thresholds in ``bot/feedback/triage.py`` and through its own decision
(``triage.decide``): precision and recall of the sure alarm (alerted) and of the question
(asked), emergencies caught (alerted or asked), false alerts, misses. The same out of fold
over the training split (5-fold cross-validation, repeated with two shuffles, each message's
accent-free copy kept on the side of its original), and — with ``--sweep`` — the alarm's
figures for other thresholds on those cross-validated probabilities, which is where the
thresholds were chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bot.feedback import triage
from bot.nlu import data as nlu_data
from bot.text import fold


@dataclass
class Scored:
    example: triage.Example
    probability: float
    kinds: dict[str, float]  # the kind classifier's probabilities
    shown: frozenset[str]  # who or what the message shows at risk (triage.at_risk)
    helped: bool  # an explicit call for help (triage.calls_for_help)

    def assessed(self, emergency_at: float, unsure_at: float) -> triage.Assessment:
        """The level at these thresholds, through the triage's own decision."""
        if triage.routine(self.probability, unsure_at, self.helped):
            return triage.Assessment("routine", self.probability)
        return triage.decide(self.probability, self.kinds, self.shown, emergency_at)


def _scores(model: triage.Triage, examples: Sequence[triage.Example], plain: bool) -> list[Scored]:
    out = []
    for e in examples:
        text = fold(e.text) if plain else e.text
        out.append(
            Scored(
                e,
                model.probability(text),
                model.kind_probabilities(text),
                triage.at_risk(text),
                triage.calls_for_help(text),
            )
        )
    return out


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def figures(scored: Sequence[Scored], emergency_at: float, unsure_at: float) -> dict[str, Any]:
    """Of the sure alarm (alerted: the leaders told, the resident given a number) and of the
    question (asked), against the labels: emergency, unsure, routine."""
    got = [s.assessed(emergency_at, unsure_at) for s in scored]
    pairs = [(s.example.level, a.level) for s, a in zip(scored, got, strict=True)]

    def n(truth: str | None = None, said: str | None = None) -> int:
        return sum((truth is None or t == truth) and (said is None or p == said) for t, p in pairs)

    asked_kinds = [
        (s.example.label, a.kind)
        for s, a in zip(scored, got, strict=True)
        if s.example.level != "routine" and a.level != "routine"
    ]
    return {
        "n": {level: n(truth=level) for level in triage.LEVELS},
        "precision": _ratio(n("emergency", "emergency"), n(said="emergency")),
        "recall": _ratio(n("emergency", "emergency"), n(truth="emergency")),
        "ask_precision": _ratio(n("unsure", "unsure"), n(said="unsure")),
        "ask_recall": _ratio(n("unsure", "unsure"), n(truth="unsure")),
        # an emergency asked about is not dropped: "có" files it
        "caught": _ratio(n("emergency") - n("emergency", "routine"), n(truth="emergency")),
        "false_alerts": (n("routine", "emergency"), n("unsure", "emergency")),
        "missed": n("emergency", "routine"),
        "asked": (n("emergency", "unsure"), n("routine", "unsure")),
        "kind_accuracy": _ratio(sum(k == g for k, g in asked_kinds), len(asked_kinds)),
    }


def out_of_fold(
    examples: list[triage.Example],
    extra: list[triage.Example],
    folds: int = 5,
    seeds: Sequence[int] = (0, 1),
) -> tuple[list[Scored], list[Scored]]:
    """Cross-validated scores over ``examples`` (``extra`` always trained on, never scored):
    (as written, accents removed), one entry per example and shuffle."""
    y = [e.level for e in examples]
    written: list[Scored] = []
    plain: list[Scored] = []
    for seed in seeds:
        for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
            examples, y
        ):
            model = triage.Triage([examples[i] for i in train] + extra)
            part = [examples[i] for i in held]
            written += _scores(model, part, plain=False)
            plain += _scores(model, part, plain=True)
    return written, plain


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _row(name: str, f: dict[str, Any]) -> str:
    n = f["n"]
    return (
        f"| {name} | {n['emergency']} / {n['unsure']} / {n['routine']} | "
        f"{_f(f['precision'])} | {_f(f['recall'])} | {_f(f['ask_precision'])} | "
        f"{_f(f['ask_recall'])} | {_f(f['caught'])} | {f['false_alerts'][0]} / "
        f"{f['false_alerts'][1]} | {f['missed']} | {f['asked'][0]} / {f['asked'][1]} | "
        f"{_f(f['kind_accuracy'])} |"
    )


HEADER = (
    "| set | emergency / unsure / routine | alert precision | alert recall "
    "| question precision | question recall | caught (alerted or asked) "
    "| false alerts: routine / unsure | missed | asked: emergencies / routine "
    "| kind right |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def _counts(examples: Sequence[triage.Example]) -> str:
    return " / ".join(str(sum(e.level == level for e in examples)) for level in triage.LEVELS)


def report(
    train_dir: Path | str = triage.DATA_DIR, test_dir: Path | str | None = None, sweep: bool = False
) -> str:
    train = triage.load(train_dir)
    test_path = Path(test_dir or Path(train_dir) / "test")
    held = triage.load(test_path, skip=())
    if not train or not held:
        raise ValueError("no labelled examples found (data/triage/*.yml, data/triage/test/)")
    # each held-out file on its own as well (test/adversarial.yml: the look-alikes)
    parts = (
        []
        if test_path.is_file()
        else [(f.name, triage.load(f)) for f in sorted(test_path.rglob("*.yml"))]
    )
    extra = triage.ordinary()
    everyday = triage.ordinary(Path(nlu_data.NLU_DIR) / "test", skip=())
    model = triage.Triage(train + extra)
    hi, lo = triage.EMERGENCY_AT, triage.UNSURE_AT
    summary = (
        f"Training split (emergency / unsure / routine): {_counts(train)}, and "
        f"{len(extra)} ordinary questions from data/nlu/ (each accented message also "
        f"learnt without accents); held-out: {_counts(held)}. Thresholds: alert at "
        f"p ≥ {hi} with a person, home or livestock at risk named, question at p ≥ "
        f"{lo}. Trained in {model.train_seconds:.2f} s."
    )
    lines = [summary, "", HEADER]
    written, plain = _scores(model, held, False), _scores(model, held, True)
    lines.append(_row("held-out, as written", figures(written, hi, lo)))
    lines.append(_row("held-out, accents removed", figures(plain, hi, lo)))
    if len(parts) > 1:
        for name, examples in parts:
            texts = {e.text for e in examples}
            for how, scored in (("as written", written), ("accents removed", plain)):
                lines.append(
                    _row(
                        f"held-out {name}, {how}",
                        figures([x for x in scored if x.example.text in texts], hi, lo),
                    )
                )
    cv_written, cv_plain = out_of_fold(train, extra)
    lines.append(_row("training split, 5-fold CV ×2, as written", figures(cv_written, hi, lo)))
    lines.append(_row("training split, 5-fold CV ×2, accents removed", figures(cv_plain, hi, lo)))
    for name, plain_text in (("as written", False), ("accents removed", True)):
        f = figures(_scores(model, everyday, plain_text), hi, lo)
        lines.append(
            f"| ordinary questions, data/nlu/test, {name} | 0 / 0 / "
            f"{f['n']['routine']} | – | – | – | – | – | {f['false_alerts'][0]} / 0 | – "
            f"| 0 / {f['asked'][1]} | – |"
        )
    wrong = []
    for scored, how in ((written, "as written"), (plain, "no accents")):
        for x in scored:
            got = x.assessed(hi, lo)
            if got.level != x.example.level:
                wrong.append(
                    f"- {x.example.level} → {got.level} [{x.example.label} → "
                    f"{got.kind or '-'}, {how}, p={x.probability:.2f}]: "
                    f"{x.example.text if how == 'as written' else fold(x.example.text)}"
                )
    if wrong:
        lines += ["", "Held-out messages on another level than their label:", "", *wrong]
    if sweep:
        title = (
            "Alert thresholds on the cross-validated probabilities (both spellings; the "
            "question's threshold no higher than the alert's; the at-risk rule applies "
            "throughout):"
        )
        lines += ["", title, "", "| threshold | alert precision | alert recall |", "|---|---|---|"]
        both = cv_written + cv_plain
        for t in np.arange(0.2, 0.91, 0.05):
            f = figures(both, float(t), min(float(t), lo))
            lines.append(f"| {t:.2f} | {_f(f['precision'])} | {_f(f['recall'])} |")
    return "\n".join(lines)
