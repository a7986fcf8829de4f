"""The yearly report of a province on PostgreSQL over generated activity: ``--communes``
communes × ``--days`` days (default 100 × 365: ≈ 1 M message rows, 20 k tickets, 1,000
notices with 100 k ledger rows, their sends, broadcasts and relays).

    .venv/bin/python bench/report.py --database-url postgresql+asyncpg://postgres@127.0.0.1/test

A database of its own is created next to the one named and dropped at the end. The rows are
generated server-side in bulk by the dashboard benchmark's statements (``bench/dashboard.py:
GENERATE``, ``INSERT … SELECT … generate_series``: no row crosses the wire). Measured: the
median (and slowest) time of ``bot.report.figures.build`` for the province and for one
commune, then of writing each format; peak memory as Python's own allocations during the
province's report (``tracemalloc``) and the process's peak resident set. The last line printed
is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dashboard import ms, seeded  # noqa: E402
from bot.figures.window import Window  # noqa: E402
from bot.i18n import use_language  # noqa: E402
from bot.report import figures, writers  # noqa: E402
from bot.store.db import sessionmaker  # noqa: E402
from bot.timeutil import utcnow  # noqa: E402


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--communes", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--residents", type=int, default=100, help="per commune")
    ap.add_argument("--messages", type=int, default=14, help="residents' per commune and day")
    ap.add_argument("--tickets", type=int, default=200, help="per commune over the days")
    ap.add_argument("--notices", type=int, default=10, help="per commune over the days")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    async with seeded(args, "bench_report") as (engine, made):
        sm = sessionmaker(engine)
        now = utcnow()
        window = Window.last_days(args.days, now)
        results: dict[str, object] = dict(made)
        for scope, code in (("province", "15"), ("commune", "80001")):
            times = []
            for _ in range(args.runs):
                async with sm() as s:
                    t0 = time.perf_counter()
                    report = await figures.build(s, scope, code, window, now, ())
                    times.append(time.perf_counter() - t0)
            results[f"{scope}_figures"] = ms(times)
            print(f"{scope} figures: {results[f'{scope}_figures']}", flush=True)
        async with sm() as s:
            report = await figures.build(s, "province", "15", window, now, ())
        assert len(report.communes) == args.communes
        for fmt in ("csv", "xlsx", "html"):
            times, size = [], 0
            for _ in range(args.runs):
                with use_language("vi"):
                    t0 = time.perf_counter()
                    size = len(writers.write(report, fmt))
                    times.append(time.perf_counter() - t0)
            results[f"write_{fmt}"] = {**ms(times), "bytes": size}
            print(f"write {fmt}: {results[f'write_{fmt}']}", flush=True)
        # the whole province report once, figures and the three formats, under tracemalloc
        tracemalloc.start()
        t0 = time.perf_counter()
        async with sm() as s:
            report = await figures.build(s, "province", "15", window, now, ())
        with use_language("vi"):
            for fmt in ("csv", "xlsx", "html"):
                writers.write(report, fmt)
        whole = time.perf_counter() - t0
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results["whole_report_s"] = round(whole, 2)
        results["python_peak_mb"] = round(peak / 2**20, 1)
        results["process_max_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
        print(json.dumps(results), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
