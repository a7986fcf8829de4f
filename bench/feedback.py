"""Residents' reports through the chat, and the SLA clock over many open tickets.

    .venv/bin/python bench/feedback.py --residents 300 --communes 10 \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1/test] [--tickets 10000]

The service and the Zalo simulator run in this process (like the tests). Every resident files
a report at the same moment through the three-message chat flow ("ổ gà lớn trước nhà văn hóa
Nậm Mòn" → "bỏ qua" → "không"), each message sent when the previous answer arrived. Measured:
the time from a resident's last answer to the message with the ticket code (p50/p99), the whole
flow per resident, tickets filed per second, and that every resident got exactly one ticket;
beside it, the same burst of residents each asking the office hours (one message, no ticket):
what the harness itself costs, to compare against.
Then ``--tickets`` open tickets whose progress message is due are put in the store and the
clock is run until none is left: tickets per second (each one a resident's progress message
and an event). With PostgreSQL the benchmark uses a database of its own next to the one named
(dropped at the end). The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.webhook import pct  # noqa: E402
from bot.store.models import Resident, Ticket  # noqa: E402
from bot.timeutil import utcnow  # noqa: E402
from tests.helpers import APP_ID, APP_SECRET, admin, make_settings, oa_id, start_service  # noqa: E402
from zalosim.driver import ZaloSimulator  # noqa: E402

CODE = re.compile(r"PA-\d{4}-\d{6}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=300)
    ap.add_argument("--communes", type=int, default=10)
    ap.add_argument("--tickets", type=int, default=10000)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-feedback-"))
    url, dropdb = f"sqlite+aiosqlite:///{tmp}/bench.db", None
    if args.database_url:
        base = make_url(args.database_url)
        name = f"bench_feedback_{int(time.time())}"
        await admin(base.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
        dropdb = (base.render_as_string(hide_password=False), f'DROP DATABASE "{name}"')

    sim = ZaloSimulator(time_scale=0.001, webhook_timeout=5.0)
    await sim.start()
    sim.add_app(APP_ID, APP_SECRET)
    running = await start_service(make_settings(url, sim, communes=args.communes), sim)
    try:
        result = await chat(running, sim, args)
        result.update(await clock(running, args.tickets))
    finally:
        await running.runner.cleanup()
        await sim.stop()
        if dropdb:
            await admin(*dropdb)
    result["store"] = url.split(":")[0]
    print(json.dumps(result))


async def chat(running, sim, args) -> dict:  # type: ignore[no-untyped-def]
    # each user's messages as the simulator records them, and a wake-up per waiting user
    # (the simulator's own wait_for_messages polls a list of every message: too slow here)
    received: dict[str, list[str]] = {}
    waiting: dict[str, asyncio.Event] = {}
    original = sim.state.record_message

    def record(oa_id, user_id, path, body):  # type: ignore[no-untyped-def]
        received.setdefault(user_id, []).append((body.get("message") or {}).get("text") or "")
        if user_id in waiting:
            waiting[user_id].set()
        return original(oa_id, user_id, path, body)

    sim.state.record_message = record  # type: ignore[method-assign]

    answered: dict[str, float] = {}

    async def turn(oa: str, user: str, text: str) -> str:
        """Send; the reply's text. ``answered[user]``: when its first part arrived."""
        before = len(received.get(user, []))
        waiting[user] = asyncio.Event()
        await sim.user_sends_text(oa, user, text)
        await asyncio.wait_for(waiting[user].wait(), timeout=120)
        answered[user] = time.perf_counter()
        await asyncio.sleep(0.2)  # a reply may have several parts
        return "\n".join(received[user][before:])

    filing: list[float] = []
    flows: list[float] = []
    codes: list[str] = []

    async def resident(n: int) -> None:
        oa, user = oa_id(n % args.communes + 1), f"9{n:06d}"
        start = time.perf_counter()
        await turn(oa, user, "ổ gà lớn trước nhà văn hóa Nậm Mòn, xe máy ngã mấy lần rồi")
        await turn(oa, user, "bỏ qua")
        last = time.perf_counter()
        said = await turn(oa, user, "không")
        done = answered[user]
        match = CODE.search(said)
        if match:
            codes.append(match.group(0))
        filing.append((done - last) * 1000)
        flows.append((done - start) * 1000)

    # the same burst of plain questions first: what this harness costs without any ticket
    asked: list[float] = []

    async def question(n: int) -> None:
        oa, user = oa_id(n % args.communes + 1), f"8{n:06d}"
        start = time.perf_counter()
        await turn(oa, user, "ủy ban xã làm việc mấy giờ")
        asked.append((answered[user] - start) * 1000)

    await asyncio.gather(*(question(n) for n in range(args.residents)))
    began = time.perf_counter()
    await asyncio.gather(*(resident(n) for n in range(args.residents)))
    elapsed = time.perf_counter() - began
    async with running.services.sm() as s:
        tickets = (await s.execute(select(func.count()).select_from(Ticket))).scalar_one()
        per_resident = (
            await s.execute(select(func.count(func.distinct(Ticket.resident_id))))
        ).scalar_one()
    return {
        "residents": args.residents,
        "communes": args.communes,
        "tickets_filed": tickets,
        "residents_with_one_ticket": per_resident,
        "codes_told": len(codes),
        "tickets_per_s": round(tickets / elapsed, 1),
        "code_reply_ms_p50": round(pct(filing, 50), 1),
        "code_reply_ms_p99": round(pct(filing, 99), 1),
        "flow_ms_p50": round(pct(flows, 50), 1),
        "flow_ms_p99": round(pct(flows, 99), 1),
        "question_burst_ms_p50": round(pct(asked, 50), 1),
        "question_burst_ms_p99": round(pct(asked, 99), 1),
    }


async def clock(running, n: int) -> dict:  # type: ignore[no-untyped-def]
    """``n`` open tickets with a progress message due, then the clock until none is left."""
    if n <= 0:
        return {}
    sm, now = running.services.sm, utcnow()
    worker = running.services.sla
    await worker.stop()  # the service's own loop would take a share: measure one worker
    async with sm() as s, s.begin():
        residents = (await s.execute(select(Resident.id, Resident.commune_id))).all()
        rows = [
            dict(
                commune_id=c,
                code=f"PA-1999-{i:06d}",
                token=f"bench-{i}",
                source="zalo",
                resident_id=r,
                category="land",
                emergency=False,
                description="bench",
                media=[],
                status="received",
                office="vanphong",
                reopened=0,
                progress_sent=0,
                received_at=now,
                ack_due_at=now + timedelta(days=14),
                due_at=now + timedelta(days=21),
                next_progress_at=now - timedelta(minutes=1),
                updated_at=now,
            )
            for i, (r, c) in enumerate(residents[j % len(residents)] for j in range(n))
        ]
        for start in range(0, n, 2000):
            await s.execute(insert(Ticket), rows[start : start + 2000])
    began = time.perf_counter()
    swept = 0
    while True:
        done = await worker.run_once()
        if done == 0:
            break
        swept += done
    elapsed = time.perf_counter() - began
    return {"clock_tickets": swept, "clock_tickets_per_s": round(swept / elapsed, 1)}


if __name__ == "__main__":
    asyncio.run(main())
