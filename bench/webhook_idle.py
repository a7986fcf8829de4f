"""One webhook at a time against an idle service: the latency floor of the write-before-200.

    .venv/bin/python bench/webhook_idle.py [--database-url URL] [--events 300]

Service and simulator run in this one process (in-process app, real HTTP on loopback). Prints a
final JSON line with p50/p99 of the webhook's HTTP 200 as the simulator's client sees it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import APP_ID, APP_SECRET, make_settings, oa_id, start_service  # noqa: E402
from zalosim.driver import ZaloSimulator  # noqa: E402


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--events", type=int, default=300)
    args = ap.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/idle.db"
    sim = ZaloSimulator(rate_limit=None)
    await sim.start()
    sim.add_app(APP_ID, APP_SECRET)
    running = await start_service(make_settings(url, sim, communes=1), sim)
    lat = []
    try:
        for i in range(args.events):
            event = sim.emitter.prepare(oa_id(1), str(100 + i), "user_send_text", text="chao")
            t = time.perf_counter()
            await sim.emitter.emit(oa_id(1), event, retry=False)
            lat.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.01)
    finally:
        await running.runner.cleanup()
        await sim.stop()
    lat.sort()
    print(
        json.dumps(
            {
                "bench": "webhook_idle",
                "store": url.split(":")[0],
                "events": len(lat),
                "p50_ms": round(lat[len(lat) // 2], 2),
                "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 2),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
