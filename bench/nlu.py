"""NLU backends side by side on the held-out split: accuracy (accented, unaccented), parses/s,
p50/p99 latency, resident memory, training time — the embedded engine and a real Rasa 3.6.21
server, measured in one run on the same machine.

    .venv/bin/python bench/nlu.py                 # both (sets Rasa up first if needed)
    .venv/bin/python bench/nlu.py --backend embedded
    .venv/bin/python bench/nlu.py --backend none      # only the accuracy comparison below

In the same run (skipped with ``--no-compare``): the engine's classifiers (``logreg``, the
logistic regression, ``blend`` and ``paired``; ``"engine"`` names the one in service,
``embedded.KIND``)
against a linear SVM (scikit-learn ``LinearSVC``) over the very same features (``bot.nlu.embedded.features`` on
``bot.nlu.text.normalise``d text) on (a) the held-out split and its unaccented copy, (b) a
public Vietnamese intent set fetched from PyPI (``bench/public_intents.py``), (c) repeated
stratified 5-fold cross-validation over the project's training data; the confidence threshold
chosen by ``bot/nlu/calibrate.py`` (and the SVM's margin threshold chosen the same way); and
out-of-scope detection on ``tests/data/nlu_out_of_scope.yml``. ``--calibrate`` prints the
threshold table.

Each backend is timed the way the service uses it: the embedded engine in-process, Rasa over
HTTP on loopback through the service's own client (``RasaBackend.parse_remote``), one request at
a time. Memory: the peak RSS of this process after the embedded engine has trained and answered
(Python + scikit-learn + model), and the peak RSS of the `rasa run` process. Rasa's training time
is the one recorded when its cached model was built (`bot nlu train --backend rasa --force`
re-measures it). Prints a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import NluSettings  # noqa: E402
from bot.conversation.engine import CONFIDENCE_THRESHOLD  # noqa: E402
from bot.nlu import data as nlu_data  # noqa: E402
from bot.nlu.evaluate import evaluate, free_port, rasa_run  # noqa: E402
from bot.text import fold  # noqa: E402

ROUNDS = 5


def texts() -> list[str]:
    test = nlu_data.load(nlu_data.NLU_DIR / "test", skip=())
    return [t for t, _ in test.examples] + [fold(t) for t, _ in test.examples]


def percentiles(lat: list[float]) -> dict[str, float]:
    lat = sorted(lat)
    return {"p50_ms": round(lat[len(lat) // 2], 3), "p99_ms": round(lat[int(len(lat) * 0.99)], 3)}


def bench_embedded() -> dict[str, object]:
    engine, results = evaluate(nlu_data.NLU_DIR, nlu_data.NLU_DIR / "test", CONFIDENCE_THRESHOLD)
    sample = texts()
    for t in sample[:50]:  # warm-up
        engine.parse(t)
    lat = []
    start = time.perf_counter()
    for _ in range(ROUNDS):
        for t in sample:
            t0 = time.perf_counter()
            engine.parse(t)
            lat.append((time.perf_counter() - t0) * 1000)
    wall = time.perf_counter() - start
    return {
        "accuracy_accented": round(results[0].accuracy, 4),
        "accuracy_unaccented": round(results[1].accuracy, 4),
        "macro_f1_accented": round(results[0].macro_f1, 4),
        "parses_per_s": round(len(lat) / wall, 1),
        **percentiles(lat),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "train_s": round(engine.train_seconds, 3),
        "parses": len(lat),
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def time_rasa(url: str, sample: list[str], rounds: int) -> tuple[list[float], float]:
    from bot.nlu.backends import RasaBackend

    async with aiohttp.ClientSession() as http:
        backend = RasaBackend(http, NluSettings(backend="rasa", rasa_url=url, timeout_s=30))
        for t in sample[:20]:
            await backend.parse_remote(t)
        lat = []
        start = time.perf_counter()
        for _ in range(rounds):
            for t in sample:
                t0 = time.perf_counter()
                await backend.parse_remote(t)
                lat.append((time.perf_counter() - t0) * 1000)
        return lat, time.perf_counter() - start


def bench_rasa(rounds: int) -> dict[str, object]:
    from bot.nlu import rasa_project

    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    run = rasa_run(
        nlu_data.NLU_DIR, nlu_data.NLU_DIR / "test", CONFIDENCE_THRESHOLD, "full", say=say
    )
    trained = rasa_project.train(nlu_data.load(), "full", say=say)  # cached by rasa_run
    with rasa_project.RasaServer(trained.model, free_port()) as server:
        lat, wall = asyncio.run(time_rasa(server.url, texts(), rounds))
        rss = peak_rss_mb(server.process.pid)  # type: ignore[union-attr]
    return {
        "accuracy_accented": round(run.result("accented").accuracy, 4),
        "accuracy_unaccented": round(run.result("unaccented").accuracy, 4),
        "macro_f1_accented": round(run.result("accented").macro_f1, 4),
        "parses_per_s": round(len(lat) / wall, 1),
        **percentiles(lat),
        "max_rss_mb": rss,
        "train_s": round(trained.train_s, 1),
        "startup_s": round(server.startup_s or float("nan"), 1),
        "parses": len(lat),
    }


# -- the engine against a linear SVM --------------------------------------------------------
OOS_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "nlu_out_of_scope.yml"
#: the logistic regression, the blend and the pair (bot/nlu/embedded.py; the service runs
#: ``embedded.KIND``, printed as "engine"), the SVM
MODELS = ("logreg", "blend", "paired", "svm")
SVM_GRID = tuple(round(-1.0 + 0.1 * i, 1) for i in range(21))


class Model:
    """A classifier over the engine's features, read the way the bot reads the engine: the
    best intent and its score (the engine: its probability; the SVM: its margin)."""

    def __init__(self, kind: str, examples: list[tuple[str, str]]) -> None:
        from sklearn.pipeline import Pipeline
        from sklearn.svm import LinearSVC
        from threadpoolctl import threadpool_limits

        from bot.nlu.data import NluData
        from bot.nlu.embedded import EmbeddedNLU, features
        from bot.nlu.text import normalise

        self.kind, self.normalise = kind, normalise
        if kind in ("logreg", "blend", "paired"):
            self.engine = EmbeddedNLU(NluData(examples=list(examples)), kind)
        else:
            self.svm = Pipeline(
                [("features", features()), ("clf", LinearSVC(C=1.0, random_state=0))]
            )
            with threadpool_limits(1):
                self.svm.fit([normalise(t) for t, _ in examples], [i for _, i in examples])

    def read_many(self, texts: list[str]) -> list[tuple[str, float]]:
        if self.kind != "svm":
            return [(r.intent, r.confidence) for r in (self.engine.rank(t, 1)[0] for t in texts)]
        scores = self.svm.decision_function([self.normalise(t) for t in texts])
        classes = self.svm.classes_
        return [(str(classes[row.argmax()]), float(row.max())) for row in scores]

    def read(self, text: str) -> tuple[str, float]:
        return self.read_many([text])[0]


def _acc(model: Model, test: list[tuple[str, str]], transform=lambda t: t, threshold=None):  # type: ignore[no-untyped-def]
    from sklearn.metrics import f1_score

    read = model.read_many([transform(t) for t, _ in test])
    truth = [i for _, i in test]
    pred = [i if threshold is None or s >= threshold else "nlu_fallback" for i, s in read]
    return {
        "accuracy": round(sum(a == b for a, b in zip(truth, pred)) / len(truth), 4),
        "macro_f1": round(float(f1_score(truth, pred, average="macro", zero_division=0)), 4),
    }


def oos_scores(
    model: Model, threshold: float, held_out: list[tuple[str, str]]
) -> dict[str, object]:
    """Out-of-scope detection: "out of scope" = the intent ``out_of_scope``, or a score below
    the threshold (the bot would not answer an intent). Precision and recall on the labelled
    file (off-domain vs its in-domain lines), and with the held-out split's in-domain lines
    added to the in-domain side; ``honest`` = off-domain lines answered ``out_of_scope`` at or
    above the threshold (the bot says plainly what it does not do)."""
    import yaml

    doc = yaml.safe_load(OOS_FILE.read_text(encoding="utf-8"))
    off = list(doc["out_of_scope"])
    on = [t for ts in doc["in_domain"].values() for t in ts]
    extra = [t for t, i in held_out if i != "out_of_scope"]
    texts = off + on + extra
    read = model.read_many(texts)
    flagged = [i == "out_of_scope" or s < threshold for i, s in read]
    honest = sum(i == "out_of_scope" and s >= threshold for i, s in read[: len(off)])
    tp = sum(flagged[: len(off)])

    def pr(n_in: int) -> dict[str, float]:
        fp = sum(flagged[len(off) : len(off) + n_in])
        return {
            "precision": round(tp / max(tp + fp, 1), 4),
            "recall": round(tp / len(off), 4),
            "in_domain_flagged": fp,
            "in_domain": n_in,
        }

    in_right = sum(
        i == want and s >= threshold
        for (i, s), want in zip(
            read[len(off) : len(off) + len(on)],
            [i for i, ts in doc["in_domain"].items() for _ in ts],
        )
    )
    return {
        "off_domain": len(off),
        "file": pr(len(on)),
        "file_and_held_out": pr(len(on) + len(extra)),
        "honest_recall": round(honest / len(off), 4),
        "in_domain_file_accuracy": round(in_right / len(on), 4),
    }


def compare(say) -> dict[str, object]:  # type: ignore[no-untyped-def]
    import statistics

    from sklearn.model_selection import RepeatedStratifiedKFold

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import public_intents

    from bot.nlu import calibrate

    train = nlu_data.load().examples
    held_out = nlu_data.load(nlu_data.NLU_DIR / "test", skip=()).examples
    from bot.nlu.embedded import KIND

    out: dict[str, object] = {"threshold_in_code": CONFIDENCE_THRESHOLD, "engine": KIND}

    say("thresholds: 5-fold cross-validation on the training data …")
    logreg_oof = calibrate.out_of_fold(train, lambda ex: Model("logreg", ex).read)
    svm_oof = calibrate.out_of_fold(train, lambda ex: Model("svm", ex).read)
    blend_oof = calibrate.out_of_fold(train, lambda ex: Model("blend", ex).read)
    paired_oof = calibrate.out_of_fold(train, lambda ex: Model("paired", ex).read)
    logreg_choice = calibrate.choose(logreg_oof)
    blend_choice = calibrate.choose(blend_oof)
    paired_choice = calibrate.choose(paired_oof)
    svm_choice = calibrate.choose(svm_oof, SVM_GRID)
    out["thresholds"] = {
        "criterion": f"max right - {calibrate.WRONG_COST:g} x wrong over out-of-fold readings",
        "logreg": vars(logreg_choice),
        "blend": vars(blend_choice),
        "paired": vars(paired_choice),
        "svm_margin": vars(svm_choice),
    }
    # each model at its own chosen threshold (the service's is the one in the code once
    # tests/test_nlu.py passes; "threshold_in_code" shows it)
    thresholds = {
        "logreg": logreg_choice.threshold,
        "blend": blend_choice.threshold,
        "paired": paired_choice.threshold,
        "svm": svm_choice.threshold,
    }

    say("held-out split …")
    models = {k: Model(k, train) for k in MODELS}
    out["held_out"] = {
        k: {
            "raw_accented": _acc(m, held_out),
            "raw_unaccented": _acc(m, held_out, fold),
            "thresholded_accented": _acc(m, held_out, threshold=thresholds[k]),
            "thresholded_unaccented": _acc(m, held_out, fold, thresholds[k]),
        }
        for k, m in models.items()
    }
    say("out-of-scope file …")
    out["out_of_scope"] = {k: oos_scores(m, thresholds[k], held_out) for k, m in models.items()}

    say(f"public set: {public_intents.SOURCE} …")
    pub_train, pub_test = public_intents.load(say)
    pub = {k: Model(k, pub_train) for k in MODELS}
    out["public"] = {
        "source": public_intents.SOURCE,
        "train": len(pub_train),
        "test": len(pub_test),
        "intents": len({i for _, i in pub_train}),
        **{
            k: {"accented": _acc(m, pub_test), "unaccented": _acc(m, pub_test, fold)}
            for k, m in pub.items()
        },
    }

    say("repeated stratified 5-fold x 3 over the project's training data …")
    labels = [i for _, i in train]
    folds: dict[str, list[float]] = {k: [] for k in MODELS}
    splitter = RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=0)
    for tr, te in splitter.split([t for t, _ in train], labels):
        part_train, part_test = [train[i] for i in tr], [train[i] for i in te]
        for k in folds:
            folds[k].append(_acc(Model(k, part_train), part_test)["accuracy"])
    out["kfold_project"] = {
        k: {"mean": round(statistics.mean(v), 4), "sd": round(statistics.stdev(v), 4)}
        for k, v in folds.items()
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["both", "embedded", "rasa", "none"], default="both")
    parser.add_argument("--no-compare", action="store_true", help="skip engine vs SVM")
    parser.add_argument(
        "--calibrate", action="store_true", help="print the threshold table and stop"
    )
    parser.add_argument(
        "--rasa-rounds",
        type=int,
        default=1,
        help="passes over the 2 × held-out texts for Rasa's timing",
    )
    args = parser.parse_args()
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    if args.calibrate:
        from bot.nlu import calibrate

        chosen, rows = calibrate.engine_threshold()
        for row in rows:
            print(json.dumps(vars(row)))
        print(json.dumps({"chosen": vars(chosen), "in_code": CONFIDENCE_THRESHOLD}))
        return
    out: dict[str, object] = {"bench": "nlu", "test_examples": len(texts()) // 2}
    if args.backend in ("both", "embedded"):
        out["embedded"] = bench_embedded()
    if args.backend in ("both", "rasa"):
        out["rasa"] = bench_rasa(args.rasa_rounds)
    if not args.no_compare:
        out["compare"] = compare(say)
    if "embedded" in out and "rasa" in out:
        e, r = out["embedded"], out["rasa"]
        out["throughput_ratio"] = round(e["parses_per_s"] / r["parses_per_s"], 1)  # type: ignore[index,operator]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
