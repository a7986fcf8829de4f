"""Webhook in → reply out, through the running service and the Zalo simulator.

    .venv/bin/python bench/webhook.py --rate 500 --duration 20 [--communes 100]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1/bench] [--redis-url redis://…]

The service runs as its own process (`bot serve`, like production); this process runs the
simulator (rate limit lifted) and an open-loop load generator that signs and posts
`user_send_text` events at a fixed rate, every message from its own resident. It measures the
latency of the webhook's HTTP 200 (as the simulator's client sees it) and from posting the event
to the simulator receiving the consultation message, then checks that every message got exactly
one reply. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port, wait_healthy  # noqa: E402
from zalosim.driver import ZaloSimulator  # noqa: E402

APP_ID, APP_SECRET = "3608465249409039670", "bench-app-secret"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def oa(n: int) -> str:
    return str(4000000000000000000 + n)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=500, help="messages per second offered")
    ap.add_argument("--duration", type=float, default=20, help="seconds of load")
    ap.add_argument("--communes", type=int, default=100)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    ap.add_argument("--redis-url", default=None)
    ap.add_argument("--drain", type=float, default=60, help="seconds to wait for the last replies")
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run `bot serve --web-only` plus this many `bot worker` processes "
        "(needs PostgreSQL and --redis-url)",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    db_url = args.database_url or f"sqlite+aiosqlite:///{work}/bench.db"
    sim = ZaloSimulator(rate_limit=None)
    await sim.start()
    sim.add_app(APP_ID, APP_SECRET)
    port = free_port()
    received: dict[str, float] = {}
    replies: dict[str, int] = {}
    original = sim.state.record_message

    def record(oa_id, user_id, path, body):  # type: ignore[no-untyped-def]
        received.setdefault(user_id, time.perf_counter())
        replies[user_id] = replies.get(user_id, 0) + 1
        return original(oa_id, user_id, path, body)

    sim.state.record_message = record  # type: ignore[method-assign]
    communes = []
    tokens = {}
    for n in range(1, args.communes + 1):
        sim.add_oa(
            oa(n), APP_ID, f"oa-secret-{n}", webhook_url=f"http://127.0.0.1:{port}/webhooks/zalo"
        )
        tokens[oa(n)] = sim.mint_tokens(oa(n))
        communes.append(
            {
                "code": f"{90000 + n:05d}",
                "name": f"Xã Đo Tải {n}",
                "address": f"UBND xã {n}",
                "phone": "0214 000 000",
                "office_hours": [
                    {"days": "mon-fri", "open": "07:30", "close": "11:30"},
                    {"days": "mon-fri", "open": "13:30", "close": "17:00"},
                ],
                "zalo": {"oa_id": oa(n), "app_id": APP_ID, "oa_secret_key": f"oa-secret-{n}"},
            }
        )
    cfg = work / "config.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "service": {
                    "host": "127.0.0.1",
                    "port": port,
                    "secret_key": "bench",
                    "log_level": "WARNING",
                },
                "database": {"url": db_url},
                "redis": {"url": args.redis_url},
                "zalo": {
                    "api_base": sim.base_url,
                    "oauth_base": sim.base_url,
                    "app_calls_per_minute": None,  # the simulator's limit is lifted too
                    "apps": [{"app_id": APP_ID, "app_secret": APP_SECRET}],
                },
                "communes": communes,
            },
            allow_unicode=True,
        )
    )
    env = {**os.environ, "BOT_CONFIG": str(cfg)}
    bot = [sys.executable, "-m", "bot.cli"]
    # seed every OA's tokens in one process (100 `bot zalo set-tokens` starts would dominate)
    seed = (
        "import asyncio,json,sys\nfrom bot.config import load_settings\n"
        "from bot.cli.zalo import with_tokens\n"
        "t=json.loads(sys.stdin.read())\n"
        "async def go(tm):\n    for o,(a,r) in t.items(): await tm.store(o,a,r,90000)\n"
        "asyncio.run(with_tokens(load_settings(), go))\n"
    )
    subprocess.run(
        [sys.executable, "-c", seed],
        input=json.dumps(tokens),
        text=True,
        env=env,
        cwd=work,
        check=True,
    )
    serve = bot + ["serve"] + (["--web-only"] if args.workers else [])
    proc = subprocess.Popen(
        serve, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "w")
    )
    workers = [
        subprocess.Popen(
            bot + ["worker"],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=open(work / f"worker{i}.log", "w"),
        )
        for i in range(args.workers)
    ]
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", proc)
        total = int(args.rate * args.duration)
        sent_at: dict[str, float] = {}
        ack_ms: list[float] = []
        statuses: dict[int | None, int] = {}
        sem = asyncio.Semaphore(512)

        async def one(i: int) -> None:
            user = f"{9_000_000 + i}"
            async with sem:
                t = time.perf_counter()
                sent_at[user] = t
                result = await sim.emitter.emit(
                    oa(1 + i % args.communes),
                    sim.emitter.prepare(
                        oa(1 + i % args.communes),
                        user,
                        "user_send_text",
                        text="uy ban xa lam viec may gio",
                    ),
                    retry=False,
                )
                ack_ms.append((time.perf_counter() - t) * 1000)
                statuses[result.status] = statuses.get(result.status, 0) + 1

        start = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = start + i / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        offered_s = time.perf_counter() - start
        deadline = time.perf_counter() + args.drain
        while len(received) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # let late duplicates show up
        last = max(received.values()) if received else start
        e2e = [(received[u] - sent_at[u]) * 1000 for u in received if u in sent_at]
        result = {
            "bench": "webhook",
            "store": db_url.split(":")[0],
            "redis": bool(args.redis_url),
            "worker_processes": args.workers,
            "communes": args.communes,
            "offered_rate": args.rate,
            "messages": total,
            "offered_s": round(offered_s, 2),
            "messages_per_s": round(len(received) / (last - start), 1) if received else 0,
            "webhook_200_p50_ms": round(pct(ack_ms, 50), 2),
            "webhook_200_p99_ms": round(pct(ack_ms, 99), 2),
            "reply_p50_ms": round(pct(e2e, 50), 1),
            "reply_p99_ms": round(pct(e2e, 99), 1),
            "reply_mean_ms": round(statistics.fmean(e2e), 1) if e2e else None,
            "statuses": {str(k): v for k, v in statuses.items()},
            "lost": total - len(received),
            "doubled": sum(1 for n in replies.values() if n > 1),
            "sim_rate_limited": sim.stats()["rate_limited"],
        }
        print(json.dumps(result))
    finally:
        for p in [proc, *workers]:
            p.terminate()
        for p in [proc, *workers]:
            p.wait(timeout=30)
        await sim.stop()


if __name__ == "__main__":
    asyncio.run(main())
