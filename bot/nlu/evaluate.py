"""`bot nlu eval`: train on one Rasa-format data set, test on a held-out one and on its
unaccented copy, for the embedded engine and a real Rasa server side by side; per-intent
precision/recall/F1, the most frequent confusions, a Markdown report.

Both backends are asked the way the service asks them: the embedded engine in-process, Rasa
over HTTP (``/model/parse``) through ``RasaBackend.parse_remote`` — with no fallback, so a Rasa
failure is an error here, not a silently embedded answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sklearn.metrics import precision_recall_fscore_support

from bot.config import ROOT, NluSettings
from bot.nlu import data as nlu_data
from bot.nlu.embedded import EmbeddedNLU, Ranked
from bot.text import fold

TEST_SETS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("accented", lambda t: t),
    ("unaccented", fold),
)


@dataclass
class Result:
    name: str
    accuracy: float
    per_intent: dict[str, tuple[float, float, float, int]]  # precision, recall, f1, support
    confusions: list[tuple[str, str, int]]  # (true, predicted, count)
    macro_f1: float


@dataclass
class BackendRun:
    backend: str
    results: list[Result]
    train_s: float
    notes: list[str] = field(default_factory=list)

    def result(self, name: str) -> Result:
        return next(r for r in self.results if r.name == name)


def score(name: str, truth: list[str], predicted: list[str]) -> Result:
    labels = sorted(set(truth) | set(predicted))
    p, r, f, n = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    per = {
        label: (float(p[i]), float(r[i]), float(f[i]), int(n[i]))
        for i, label in enumerate(labels)
        if n[i] or p[i]
    }
    confusions = Counter((t, q) for t, q in zip(truth, predicted) if t != q)
    accuracy = sum(t == q for t, q in zip(truth, predicted)) / max(len(truth), 1)
    supported = [v[2] for v in per.values() if v[3]]
    return Result(
        name,
        accuracy,
        per,
        [(t, q, c) for (t, q), c in confusions.most_common(10)],
        sum(supported) / max(len(supported), 1),
    )


def decide(ranked: list[Ranked], threshold: float) -> str:
    """The bot's decision, the same for every backend: the best intent, or a clarifying
    question (``nlu_fallback``) below the threshold."""
    best = ranked[0] if ranked else None
    return best.intent if best and best.confidence >= threshold else "nlu_fallback"


def evaluate(train_dir: Path, test_dir: Path, threshold: float) -> tuple[EmbeddedNLU, list[Result]]:
    engine = EmbeddedNLU(nlu_data.load(train_dir))
    test = nlu_data.load(test_dir, skip=())
    results = []
    for name, transform in TEST_SETS:
        truth = [intent for _, intent in test.examples]
        predicted = [decide(engine.rank(transform(text)), threshold) for text, _ in test.examples]
        results.append(score(name, truth, predicted))
    return engine, results


def embedded_run(train_dir: Path, test_dir: Path, threshold: float) -> BackendRun:
    engine, results = evaluate(train_dir, test_dir, threshold)
    return BackendRun("embedded", results, engine.train_seconds)


async def rasa_rankings(url: str, texts: list[str], concurrency: int = 4) -> list[list[Ranked]]:
    """Rasa's ranking for each text, through the backend's own client (no fallback)."""
    from bot.nlu.backends import RasaBackend

    settings = NluSettings(backend="rasa", rasa_url=url, timeout_s=30.0, concurrency=concurrency)
    async with aiohttp.ClientSession() as http:
        backend = RasaBackend(http, settings)
        return list(await asyncio.gather(*(backend.parse_remote(t) for t in texts)))


def rasa_run(
    train_dir: Path,
    test_dir: Path,
    threshold: float,
    profile: str = "full",
    say: Callable[[str], None] = print,
) -> BackendRun:
    """Train (or reuse) a Rasa model on ``train_dir``, serve it on a free loopback port and ask
    it every test example, accented and unaccented."""
    from bot.nlu import rasa_project
    from bot.nlu.rasa_env import setup

    setup(say=say)
    trained = rasa_project.train(nlu_data.load(train_dir), profile, say=say)
    test = nlu_data.load(test_dir, skip=())
    results = []
    with rasa_project.RasaServer(trained.model, free_port()) as server:
        for name, transform in TEST_SETS:
            rankings = asyncio.run(
                rasa_rankings(server.url, [transform(t) for t, _ in test.examples])
            )
            results.append(
                score(name, [i for _, i in test.examples], [decide(r, threshold) for r in rankings])
            )
    notes = [
        f"Rasa {rasa_project.rasa_env.RASA_VERSION}, profile `{profile}` "
        f"({rasa_project.PROFILES[profile]} epochs), model `{trained.model.name}`"
        + (
            " (reused from the model cache; training time is from the run that built it)"
            if trained.cached
            else ""
        )
        + f", server ready in {server.startup_s:.0f} s."
    ]
    return BackendRun("rasa", results, trained.train_s, notes)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _prf(values: tuple[float, float, float, int] | None) -> str:
    return (
        " – | – | – " if values is None else f"{values[0]:.2f} | {values[1]:.2f} | {values[2]:.2f}"
    )


def report(
    runs: list[BackendRun],
    train: nlu_data.NluData,
    train_dir: Path,
    test_dir: Path,
    threshold: float,
) -> str:
    names = [r.backend for r in runs]
    lines = [
        "# NLU evaluation",
        "",
        f"Generated by `bot nlu eval` on {time.strftime('%Y-%m-%d')}. Train: "
        f"`{_shown(train_dir)}` ({len(train.examples)} examples, {len(train.intents)} intents); "
        f"test: `{_shown(test_dir)}` (held out, never trained on) and its unaccented copy. "
        f"Below a confidence of {threshold} the answer counts as `nlu_fallback` (a clarifying "
        "question), which is scored as wrong. Both backends see the same normalised text.",
        "",
        "| test set | " + " | ".join(f"{n} accuracy | {n} macro F1" for n in names) + " |",
        "|---|" + "---|---|" * len(names),
    ]
    for test_name, _ in TEST_SETS:
        cells = [
            f"{r.result(test_name).accuracy:.3f} | {r.result(test_name).macro_f1:.3f}" for r in runs
        ]
        lines.append(f"| {test_name} | " + " | ".join(cells) + " |")
    lines += ["", "| backend | training |", "|---|---|"]
    lines += [f"| {r.backend} | {r.train_s:.1f} s |" for r in runs]
    lines.append("")
    for run in runs:
        lines += [f"- {note}" for note in run.notes]
    for test_name, _ in TEST_SETS:
        per = [r.result(test_name).per_intent for r in runs]
        intents = sorted(set().union(*per))
        lines += [
            "",
            f"## {test_name}: per intent (precision | recall | F1)",
            "",
            "| intent | " + " | ".join(f"{n} P | {n} R | {n} F1" for n in names) + " | support |",
            "|---|" + "---|---|---|" * len(names) + "---|",
        ]
        for intent in intents:
            support = max(p.get(intent, (0, 0, 0, 0))[3] for p in per)
            lines.append(
                f"| {intent} | " + " | ".join(_prf(p.get(intent)) for p in per) + f" | {support} |"
            )
        for run in runs:
            result = run.result(test_name)
            lines += [
                "",
                f"Most frequent confusions ({run.backend}, {test_name}):",
                "",
                "| true | predicted | count |",
                "|---|---|---|",
            ]
            lines += [f"| {t} | {q} | {c} |" for t, q, c in result.confusions] or ["| – | – | 0 |"]
    return "\n".join(lines) + "\n"
