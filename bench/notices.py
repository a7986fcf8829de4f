"""Notices to many residents, through the running service and the Zalo simulator.

    .venv/bin/python bench/notices.py --communes 100 --followers 1000 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1/test [--kill-after 30]
    .venv/bin/python bench/notices.py --communes 100 --followers 100 --rate-limit 4000 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1/test

With PostgreSQL the benchmark creates a database of its own next to the one named (dropped at
the end).

Every commune's followers interacted an hour ago (so each gets a consultation message); one
notice per commune is drafted, submitted and approved through the staff API of a `bot serve`
process. Measured: recipients per second from the first approval to the last message the
simulator recorded, time to the last send, duplicates (a resident with the notice twice: must
be 0) and losses (a resident without it: must be 0). ``--kill-after S`` kills the service with
SIGKILL S seconds into the sending and starts it again. ``--rate-limit N`` turns on the
simulator's per-app limit and the service's own (N calls/min): reported as the achieved
fraction of the limit while sending, the simulator's -32 count (must stay 0), and a resident's
reply latency asked during the broadcast against the same question asked before it. The last
line printed is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook import APP_ID, APP_SECRET, oa, pct  # noqa: E402
from tests.helpers import admin, free_port, wait_healthy  # noqa: E402
from zalosim.driver import ZaloSimulator  # noqa: E402

HEADLINE = "Lịch tiêm chủng tháng 12"
SEED = """
import asyncio, json, sys
from datetime import timedelta
from sqlalchemy import insert
from bot.cli.zalo import with_tokens
from bot.config import load_settings
from bot.staff import add_staff
from bot.store.db import create_engine, sessionmaker
from bot.store.models import Resident
from bot.tenants import sync
from bot.timeutil import utcnow

spec = json.loads(sys.stdin.read())
settings = load_settings()

async def tokens(tm):
    for o, (a, r) in spec["tokens"].items():
        await tm.store(o, a, r, 90000)

async def people():
    engine = create_engine(settings.database_url)
    sm = sessionmaker(engine)
    tenants = await sync(settings, sm)
    keys = {}
    async with sm() as s, s.begin():
        for t in tenants:
            _, keys[t.code] = await add_staff(s, t.code, "Chủ tịch", "leader")
            ago = utcnow() - timedelta(hours=1)
            rows = [dict(commune_id=t.id, channel="zalo", external_id=u, language="vi",
                         is_follower=True, last_interaction_at=ago, created_at=ago,
                         updated_at=ago) for u in spec["users"][t.code]]
            await s.execute(insert(Resident.__table__), rows)
    await engine.dispose()
    print(json.dumps(keys))

asyncio.run(with_tokens(settings, tokens))
asyncio.run(people())
"""


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--communes", type=int, default=100)
    ap.add_argument("--followers", type=int, default=1000)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    ap.add_argument("--redis-url", default=None)
    ap.add_argument(
        "--kill-after",
        type=float,
        default=None,
        help="SIGKILL the service this many seconds into the sending, restart it",
    )
    ap.add_argument("--rate-limit", type=int, default=None, help="calls/min per app")
    ap.add_argument("--drain", type=float, default=900)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-notices-"))
    db_url = args.database_url or f"sqlite+aiosqlite:///{work}/bench.db"
    fresh = None
    if db_url.startswith("postgresql"):  # a database of its own, dropped at the end
        fresh = f"bench_notices_{os.getpid()}"
        await admin(db_url, f'CREATE DATABASE "{fresh}"')
        db_url = make_url(db_url).set(database=fresh).render_as_string(hide_password=False)
    sim = ZaloSimulator(rate_limit=args.rate_limit)
    await sim.start()
    sim.add_app(APP_ID, APP_SECRET)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    got: Counter[str] = Counter()
    first_at: dict[str, float] = {}
    original = sim.state.record_message

    def record(oa_id, user_id, path, body):  # type: ignore[no-untyped-def]
        text = (body.get("message") or {}).get("text") or ""
        if HEADLINE in text:
            got[user_id] += 1
            first_at.setdefault(user_id, time.perf_counter())
        return original(oa_id, user_id, path, body)

    sim.state.record_message = record  # type: ignore[method-assign]
    communes, tokens, users = [], {}, {}
    for n in range(1, args.communes + 1):
        code = f"{90000 + n:05d}"
        sim.add_oa(oa(n), APP_ID, f"oa-secret-{n}", webhook_url=f"{url}/webhooks/zalo")
        tokens[oa(n)] = sim.mint_tokens(oa(n))
        users[code] = [f"{7_000_000 + n * 100_000 + i}" for i in range(args.followers)]
        for u in users[code]:
            sim.add_user(oa(n), u, follower=True, interacted_ago_s=3600)
        communes.append(
            {
                "code": code,
                "name": f"Xã Đo Tải {n}",
                "address": f"UBND xã {n}",
                "phone": "0214 000 000",
                "office_hours": [{"days": "mon-sun", "open": "00:00", "close": "23:59"}],
                "zalo": {"oa_id": oa(n), "app_id": APP_ID, "oa_secret_key": f"oa-secret-{n}"},
            }
        )
    asker = (oa(1), "6999999")  # a resident who asks a question during the broadcast
    sim.add_user(*asker, follower=True, interacted_ago_s=60)
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
                    "app_calls_per_minute": args.rate_limit,
                    "apps": [{"app_id": APP_ID, "app_secret": APP_SECRET}],
                },
                "notices": {
                    "quiet_start": "00:00",
                    "quiet_end": "00:00",
                },  # never quiet: a benchmark
                "communes": communes,
            },
            allow_unicode=True,
        )
    )
    env = {**os.environ, "BOT_CONFIG": str(cfg)}
    seeded = subprocess.run(
        [sys.executable, "-c", SEED],
        input=json.dumps({"tokens": tokens, "users": users}),
        text=True,
        env=env,
        cwd=work,
        check=True,
        capture_output=True,
    )
    keys = json.loads(seeded.stdout.strip().splitlines()[-1])
    everyone = {u for group in users.values() for u in group}
    expected = len(everyone)  # (the asker gets the notice too; it is not counted)

    def serve() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "serve.log", "a"),
        )

    proc = serve()
    kills = 0
    try:
        await wait_healthy(url, proc, timeout=120)
        async with aiohttp.ClientSession() as http:

            async def ask() -> float:
                before = len(sim.messages(*asker))
                t = time.perf_counter()
                await sim.user_sends_text(*asker, "uy ban xa lam viec may gio")
                await sim.wait_for_messages(
                    before + 1, oa_id=asker[0], user_id=asker[1], timeout=120
                )
                return (time.perf_counter() - t) * 1000

            idle = [await ask() for _ in range(5)]

            async def publish(code: str) -> None:
                headers = {"Authorization": f"Bearer {keys[code]}"}
                base = f"{url}/api/v1/communes/{code}/notices"
                async with http.post(
                    base,
                    json={
                        "category": "safety",
                        "priority": "normal",
                        "headline": HEADLINE,
                        "body": "Trạm y tế xã tiêm chủng ngày 25/12.",
                    },
                    headers=headers,
                ) as r:
                    notice = await r.json()
                for action in ("submit", "approve"):
                    async with http.post(f"{base}/{notice['id']}/{action}", headers=headers) as r:
                        assert r.status == 200, await r.text()

            start = time.perf_counter()
            await asyncio.gather(*(publish(c["code"]) for c in communes))
            approved_s = time.perf_counter() - start
            busy: list[float] = []
            killed_at = None
            deadline = start + args.drain
            next_ask = time.perf_counter()
            while sum(1 for u in everyone if got[u]) < expected and time.perf_counter() < deadline:
                now = time.perf_counter()
                if (
                    args.kill_after is not None
                    and killed_at is None
                    and now - start >= args.kill_after
                ):
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    killed_at = now - start
                    kills += 1
                    proc = serve()
                    await wait_healthy(url, proc, timeout=120)
                if killed_at is None and now >= next_ask and len(got) < expected * 0.9:
                    busy.append(await ask())
                    next_ask = time.perf_counter() + 2.0
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # late duplicates would show up here
        received = [u for u in everyone if got[u]]
        last = max((first_at[u] for u in received), default=start)
        elapsed = last - start
        stats = sim.stats()
        result = {
            "bench": "notices",
            "store": db_url.split(":")[0],
            "communes": args.communes,
            "followers_per_commune": args.followers,
            "recipients": expected,
            "approve_all_s": round(approved_s, 2),
            "time_to_last_send_s": round(elapsed, 1),
            "recipients_per_s": round(len(received) / elapsed, 1) if elapsed else None,
            "duplicates": sum(1 for u in everyone if got[u] > 1),
            "losses": expected - len(received),
            "killed_at_s": round(killed_at, 1) if killed_at is not None else None,
            "reply_idle_p50_ms": round(pct(idle, 50), 1),
            "reply_during_send_p50_ms": round(pct(busy, 50), 1) if busy else None,
            "reply_during_send_max_ms": round(max(busy), 1) if busy else None,
            "sim_rate_limited": stats["rate_limited"],
        }
        if args.rate_limit:
            # the limit is per wall-clock minute (Zalo's, the simulator's and ours): judge the
            # minutes wholly inside the sending, from the simulator's own call counts
            wall_start = time.time() - (time.perf_counter() - start)
            wall_last = time.time() - (time.perf_counter() - last)
            full = range(int(wall_start // 60) + 1, int(wall_last // 60))
            per_minute = [sim.state.calls_for(APP_ID).get(m, 0) for m in full]
            result["rate_limit_per_min"] = args.rate_limit
            result["calls_in_full_minutes"] = per_minute
            result["achieved_fraction_of_limit"] = (
                round(sum(per_minute) / len(per_minute) / args.rate_limit, 3)
                if per_minute
                else None
            )
        print(json.dumps(result))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await sim.stop()
        if fresh:
            await admin(args.database_url, f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
