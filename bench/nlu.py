"""NLU backends side by side on the held-out split: accuracy (accented, unaccented), parses/s,
p50/p99 latency, resident memory, training time — the embedded engine and a real Rasa 3.6.21
server, measured in one run on the same machine.

    .venv/bin/python bench/nlu.py                 # both (sets Rasa up first if needed)
    .venv/bin/python bench/nlu.py --backend embedded

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["both", "embedded", "rasa"], default="both")
    parser.add_argument(
        "--rasa-rounds",
        type=int,
        default=1,
        help="passes over the 2 × held-out texts for Rasa's timing",
    )
    args = parser.parse_args()
    out: dict[str, object] = {"bench": "nlu", "test_examples": len(texts()) // 2}
    if args.backend in ("both", "embedded"):
        out["embedded"] = bench_embedded()
    if args.backend in ("both", "rasa"):
        out["rasa"] = bench_rasa(args.rasa_rounds)
    if "embedded" in out and "rasa" in out:
        e, r = out["embedded"], out["rasa"]
        out["throughput_ratio"] = round(e["parses_per_s"] / r["parses_per_s"], 1)  # type: ignore[index,operator]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
