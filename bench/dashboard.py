"""The dashboard's figures on PostgreSQL over generated activity: ``--communes`` communes ×
``--days`` days of residents' messages, tickets (with their answering events) and notices with
their deliveries, outbound sends, article broadcasts and village relays.

    .venv/bin/python bench/dashboard.py --database-url postgresql+asyncpg://postgres@127.0.0.1/test
    .venv/bin/python bench/dashboard.py --communes 100 --days 90 --messages 200 --runs 15 ...

A database of its own is created next to the one named and dropped at the end. The data are
generated in SQL (``generate_series``, foreign-key triggers off while generating). Measured: the median
(and slowest) time of ``bot.figures.queries.figures`` — every figure the dashboard page shows —
for one commune and for the whole province, for 7, 30 and 90 days, and of drawing its charts.
The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.figures import queries, svg  # noqa: E402
from bot.figures.queries import figures  # noqa: E402
from bot.figures.window import Window  # noqa: E402
from bot.store.db import create_engine, sessionmaker  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import Commune  # noqa: E402
from bot.timeutil import utcnow  # noqa: E402
from tests.helpers import admin  # noqa: E402

QUESTIONS = [
    "giờ làm việc của xã",
    "đăng ký khai sinh cần giấy tờ gì",
    "làm căn cước ở đâu",
    "số điện thoại công an xã",
    "lịch cắt điện tuần này",
    "xin giấy xác nhận tình trạng hôn nhân",
    "trạm y tế mở cửa mấy giờ",
    "đóng bảo hiểm y tế ở đâu",
    "đăng ký tạm trú online",
    "trợ cấp xã hội cho người già",
]

GENERATE = [
    # communes of one province, their residents and conversations
    """INSERT INTO communes (code, name, province_code, active, created_at, updated_at)
       SELECT lpad((80000 + g)::text, 5, '0'), 'Xã ' || g, '15', true, now(), now()
       FROM generate_series(1, :communes) g""",
    """INSERT INTO residents (commune_id, channel, external_id, language, is_follower,
                             created_at, updated_at)
       SELECT c.id, 'zalo', c.id || '-' || g, 'vi', true, now(), now()
       FROM communes c, generate_series(1, :residents) g""",
    """INSERT INTO conversations (commune_id, resident_id, mode, state, updated_at)
       SELECT commune_id, id, 'bot', '{}'::jsonb, now() FROM residents""",
    # residents' messages (half of the rows are the bot's answers), spread over the days
    """INSERT INTO messages (commune_id, conversation_id, direction, text, intent, confidence,
                            created_at)
       SELECT v.commune_id, v.id, CASE WHEN g % 2 = 0 THEN 'in' ELSE 'out' END,
              (CAST(:questions AS text[]))[1 + (g * 7 + v.id) % :nquestions],
              CASE WHEN g % 9 = 0 THEN 'nlu_fallback' ELSE 'office_hours' END,
              random(), now() - random() * make_interval(days => CAST(:days AS int))
       FROM conversations v, generate_series(1, :per_conversation) g
       ORDER BY 7""",  # stored in the order they arrive, as the service writes them
    # tickets: a deadline five days on; most answered (one event each), some still open
    """INSERT INTO tickets (commune_id, code, token, source, category, emergency, description,
                           media, status, office, reopened, progress_sent, received_at,
                           ack_due_at, due_at, updated_at)
       SELECT c.id, 'PA-2026-' || lpad(g::text, 6, '0'), md5(c.id || ':' || g), 'zalo',
              'other', false, 'ổ gà', '[]'::jsonb,
              (ARRAY['received','in_progress','answered','closed','answered','closed'])
                  [1 + g % 6],
              'vp', 0, 0, r.at, r.at + interval '1 day', r.at + interval '5 days', now()
       FROM communes c, generate_series(1, :tickets) g,
            LATERAL (SELECT now() - random() * make_interval(days => CAST(:days AS int)) + c.id * interval '0'
                     AS at) r""",
    """INSERT INTO ticket_events (commune_id, ticket_id, actor, action, from_status, to_status,
                                 at)
       SELECT commune_id, id, 'staff', 'answer', 'in_progress', 'answered',
              received_at + random() * interval '8 days'
       FROM tickets WHERE status IN ('answered', 'closed')""",
    # notices, each to every resident of its commune: most by a consultation message
    """INSERT INTO notices (commune_id, msg_type, category, priority, headline, body,
                           translations, village_ids, languages, subscribers_only, status,
                           created_at, updated_at, sent_at)
       SELECT c.id, 'alert', 'other', 'normal', 'Lịch cắt điện', 'Cắt điện', '{}'::jsonb,
              '[]'::jsonb, '[]'::jsonb, false, 'sent', now(), now(),
              now() - random() * make_interval(days => CAST(:days AS int)) + c.id * interval '0'
       FROM communes c, generate_series(1, :notices) g""",
    """INSERT INTO outbound_messages (commune_id, resident_id, channel, recipient,
                                     idempotency_key, kind, payload, priority, status,
                                     attempts, parts_sent, resumed, notice_id,
                                     next_attempt_at, created_at, seen_at)
       SELECT n.commune_id, r.id, 'zalo', r.external_id, 'notice:' || n.id || ':' || r.id,
              'text', '{}'::jsonb, 3,
              CASE WHEN r.id % 10 = 0 THEN 'failed' ELSE 'sent' END, 1, 1, false, n.id,
              n.sent_at, n.sent_at,
              CASE WHEN r.id % 3 = 0 THEN n.sent_at + interval '1 hour' END
       FROM notices n JOIN residents r ON r.commune_id = n.commune_id
       WHERE r.id % 5 <> 0""",
    """INSERT INTO notice_deliveries (commune_id, notice_id, resident_id, route, reason,
                                     outbound_id, created_at)
       SELECT n.commune_id, n.id, r.id,
              CASE WHEN r.id % 5 = 0 THEN 'broadcast' ELSE 'consultation' END, 'bench',
              o.id, n.sent_at
       FROM notices n JOIN residents r ON r.commune_id = n.commune_id
       LEFT JOIN outbound_messages o ON o.idempotency_key = 'notice:' || n.id || ':' || r.id""",
    """INSERT INTO notice_broadcasts (commune_id, notice_id, status, attempts, next_attempt_at,
                                     created_at, sent_at)
       SELECT commune_id, id, 'sent', 1, sent_at, sent_at, sent_at FROM notices""",
    """INSERT INTO villages (commune_id, name, kind, search_key)
       SELECT id, 'Thôn 1', 'thôn', 'thon 1' FROM communes""",
    """INSERT INTO staff (commune_id, name, role, village_id, active, created_at,
                         failed_logins)
       SELECT commune_id, 'TTV', 'propagandist', id, true, now(), 0 FROM villages""",
    """INSERT INTO notice_relays (commune_id, notice_id, village_id, staff_id, created_at,
                                 confirmed_at)
       SELECT n.commune_id, n.id, s.village_id, s.id, n.sent_at,
              CASE WHEN n.id % 2 = 0 THEN n.sent_at + interval '2 hours' END
       FROM notices n JOIN staff s ON s.commune_id = n.commune_id""",
    "ANALYZE",
]


def ms(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


@contextlib.asynccontextmanager
async def seeded(
    args: argparse.Namespace, prefix: str
) -> AsyncIterator[tuple[AsyncEngine, dict[str, Any]]]:
    """A PostgreSQL database of its own next to ``args.database_url``, migrated and filled by
    ``GENERATE`` from ``args`` (communes, residents, days, messages, tickets, notices); yields
    its engine and what was made (row counts, seconds), and is dropped at the end — for this
    bench and bench/report.py."""
    base = args.database_url
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    await admin(base, f'CREATE DATABASE "{name}"')
    engine = create_engine(url)
    try:
        await upgrade(engine)
        params = {
            "communes": args.communes,
            "residents": args.residents,
            "days": args.days,
            "questions": QUESTIONS,
            "nquestions": len(QUESTIONS),
            "per_conversation": max(1, round(args.messages * 2 * args.days / args.residents)),
            "tickets": args.tickets,
            "notices": args.notices,
        }
        started = time.perf_counter()
        async with engine.begin() as conn:
            # generated rows are consistent by construction: no per-row foreign-key triggers
            # (a bench database of its own, dropped at the end)
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for sql in GENERATE:
                if sql == "ANALYZE":
                    continue
                await conn.execute(text(sql), {k: v for k, v in params.items() if f":{k}" in sql})
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
                text("ANALYZE")
            )
            counts = {
                table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                for table in ("messages", "tickets", "notices", "notice_deliveries")
            }
        generated = time.perf_counter() - started
        print(f"generated in {generated:.1f} s: {counts}", flush=True)
        yield engine, {"rows": counts, "generated_s": round(generated, 1)}
    finally:
        await engine.dispose()
        await admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--communes", type=int, default=100)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--residents", type=int, default=100, help="per commune")
    ap.add_argument("--messages", type=int, default=100, help="residents' per commune and day")
    ap.add_argument("--tickets", type=int, default=180, help="per commune over the days")
    ap.add_argument("--notices", type=int, default=30, help="per commune over the days")
    ap.add_argument("--runs", type=int, default=11)
    args = ap.parse_args()

    async with seeded(args, "bench_dashboard") as (engine, made):
        sm = sessionmaker(engine)
        now = utcnow()
        async with sm() as s:
            ids = list((await s.execute(select(Commune.id).order_by(Commune.id))).scalars())
        results: dict[str, object] = {}
        for days in (7, 30, 90):
            window = Window.last_days(days, now)
            for scope, chosen in (("commune", ids[:1]), ("province", ids)):
                times = []
                for _ in range(args.runs):
                    async with sm() as s:
                        t0 = time.perf_counter()
                        found = await figures(s, chosen, window, now)
                        times.append(time.perf_counter() - t0)
                results[f"{scope}_{days}d"] = ms(times)
                print(f"{scope:8} {days:2} days: {results[f'{scope}_{days}d']}", flush=True)
        # where the province's 90 days go, figure by figure
        window = Window.last_days(90, now)
        parts = {
            "traffic": lambda s: queries.traffic(s, ids, window),
            "top_questions": lambda s: queries.top_questions(s, ids, window),
            "ticket_states": lambda s: queries.ticket_states(s, ids, window),
            "deadlines": lambda s: queries.deadlines(s, ids, window, now),
            "notices": lambda s: queries.notices(s, ids, window),
        }
        breakdown = {}
        for part, run in parts.items():
            times = []
            for _ in range(args.runs):
                async with sm() as s:
                    t0 = time.perf_counter()
                    await run(s)
                    times.append(time.perf_counter() - t0)
            breakdown[part] = ms(times)["median_ms"]
        results["province_90d_by_figure_ms"] = breakdown
        print(f"province 90 days by figure (median ms): {breakdown}", flush=True)
        series = found.series(found.total)
        draw = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            svg.bars(
                "t",
                "d",
                [d.strftime("%d/%m") for d, _t in series],
                [
                    svg.Series("a", [t.answered for _d, t in series]),
                    svg.Series("m", [t.missed for _d, t in series]),
                ],
            )
            draw.append(time.perf_counter() - t0)
        results["chart_90d"] = ms(draw)
        print(
            json.dumps(
                {
                    "communes": args.communes,
                    "days": args.days,
                    "rows": made["rows"],
                    "generate_s": made["generated_s"],
                    **results,
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
