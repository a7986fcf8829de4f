"""The commune's knowledge at scale (issue 12, Required: "knowledge lookup plus intent parse p99 <
5 ms with 1,000 entries in each of 100 communes loaded; memory for those entries reported").

    PYTHONPATH=$PWD .venv/bin/python bench/knowledge.py                  # 100 × 1,000
    PYTHONPATH=$PWD .venv/bin/python bench/knowledge.py --communes 10 --entries 200

1. 100 communes (two provinces) each get 1,000 entries — question + 2 paraphrases, built from
   the kinds of things residents ask (offices, villages, fees, procedures, schedules) with each
   commune's own village and place names — written through ``bot.knowledge.store.save`` into a
   real SQLite store (``--db``, kept between runs; made again when its counts differ).
2. Every commune's index is loaded through ``bot.knowledge.retrieval.index_of`` (the service's
   path: the store's rows, built in a worker thread): build time per commune, and the process's
   RSS before and after (per commune = the difference / communes).
3. Per message, as the service does: ``index_of`` (cached, the store's fingerprint re-read every
   2 s per commune), ``lookup`` (valid today, top 3) and the embedded intent engine's ``parse``,
   over residents' questions (tests/data/ held-out queries and generated ones, with and without
   diacritics) to random communes: p50 / p99 / max in ms, each part and the sum.
Prints a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import os
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, select  # noqa: E402

from bot.knowledge import retrieval, store  # noqa: E402
from bot.knowledge.io import Item  # noqa: E402
from bot.nlu.embedded import default_engine  # noqa: E402
from bot.store.db import create_engine, sessionmaker  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import Commune, KnowledgeEntry  # noqa: E402
from bot.text import fold, search_key  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"

PLACES = [
    "trạm y tế",
    "công an xã",
    "bưu điện",
    "nhà văn hóa",
    "trường mầm non",
    "trường tiểu học",
    "trường THCS",
    "chợ",
    "bến xe",
    "bộ phận một cửa",
    "hội nông dân",
    "hội phụ nữ",
    "đoàn thanh niên",
    "hội cựu chiến binh",
    "ngân hàng chính sách",
    "quỹ tín dụng",
    "điện lực",
    "trạm cấp nước",
    "ban chỉ huy quân sự",
    "địa chính xã",
    "văn hóa xã hội",
    "tư pháp hộ tịch",
    "khuyến nông",
    "thú y",
    "nghĩa trang",
    "sân vận động",
    "thư viện",
    "nhà thờ",
    "chùa",
    "đình làng",
]
PROCEDURES = [
    "đăng ký khai sinh",
    "đăng ký khai tử",
    "đăng ký kết hôn",
    "xác nhận tình trạng hôn nhân",
    "chứng thực bản sao",
    "chứng thực chữ ký",
    "đăng ký thường trú",
    "đăng ký tạm trú",
    "đăng ký hộ kinh doanh",
    "trợ cấp người cao tuổi",
    "trợ cấp khuyết tật",
    "hỗ trợ hộ nghèo",
    "cấp giấy chứng nhận quyền sử dụng đất",
    "tách thửa đất",
    "xin giấy phép xây dựng",
    "cấp căn cước",
    "làm bảo hiểm y tế",
    "đăng ký nghĩa vụ quân sự",
    "vay vốn sinh viên",
    "hỗ trợ giống cây trồng",
    "tiêm phòng cho gia súc",
    "cấp nước sạch",
    "đăng ký xe máy",
    "trích lục khai sinh",
    "nhận con nuôi",
]
ABOUT_PLACE = [
    "{p} {v} ở đâu?",
    "{p} {v} mở cửa mấy giờ?",
    "số điện thoại {p} {v} là bao nhiêu?",
    "ai phụ trách {p} {v}?",
    "{p} {v} làm việc thứ bảy không?",
    "đường đến {p} {v} đi thế nào?",
]
ABOUT_PROCEDURE = [
    "{p} cần giấy tờ gì?",
    "lệ phí {p} bao nhiêu?",
    "{p} mất mấy ngày?",
    "{p} nộp hồ sơ ở đâu?",
    "{p} làm online được không?",
    "{p} ở {v} thì làm thế nào?",
]
VILLAGE_THINGS = [
    "trưởng thôn {v} là ai?",
    "lịch họp thôn {v}?",
    "điểm tập kết rác thôn {v} ở đâu?",
    "loa truyền thanh thôn {v} hỏng báo ai?",
    "nhà văn hóa thôn {v} cho thuê không?",
    "đường vào thôn {v} có xe khách không?",
]
SYLLABLES = (
    "nậm mòn bản phố lùng phình tả văn cốc ly na hối bảo nhai thải giàng sín chéng pha long "
    "khánh yên hòa mạc sơn trung đông tây bắc nam an phú thịnh vinh quang tân lập"
).split()


def villages(rng: random.Random) -> list[str]:
    return [" ".join(rng.sample(SYLLABLES, 2)).title() for _ in range(24)]


def entries_for(n: int, count: int) -> list[Item]:
    """``count`` entries of one commune: its own village names in them, question + 2 variants."""
    rng = random.Random(n)
    vs = villages(rng)
    made: dict[str, Item] = {}
    forms = [(ABOUT_PLACE, PLACES), (ABOUT_PROCEDURE, PROCEDURES), (VILLAGE_THINGS, [""])]
    while len(made) < count:
        templates, subjects = rng.choice(forms)
        p, v = rng.choice(subjects), rng.choice(vs)
        question, *variants = [t.format(p=p, v=v) for t in rng.sample(templates, 3)]
        question = question[0].upper() + question[1:]
        key = search_key(question)
        if key not in made:
            answer = f"{question} — trả lời của xã số {n}: gọi 0214 3{n:03d} {len(made):03d}."
            made[key] = Item(question, answer, tuple(variants), None, None, None, "bench")
    return list(made.values())


def questions(count: int, rng: random.Random) -> list[str]:
    """Residents' questions: the labelled sets', and generated ones, accented and folded."""
    said: list[str] = []
    for name in ("knowledge_labelled.csv", "knowledge_heldout_queries.csv"):
        path = DATA / name
        if path.exists():
            with path.open(encoding="utf-8") as f:
                said += [row.get("text") or row.get("query") or "" for row in csv.DictReader(f)]
    made = [i.question for i in entries_for(10_000, 200)]
    said += made + [fold(q).lower() for q in made]
    said = [s for s in said if s]
    return [rng.choice(said) for _ in range(count)]


async def load(db: Path, communes: int, entries: int) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await upgrade(engine)
        sm = sessionmaker(engine)
        async with sm() as s:
            have = (await s.execute(select(func.count()).select_from(KnowledgeEntry))).scalar()
            towns = (await s.execute(select(func.count()).select_from(Commune))).scalar()
        if have == communes * entries and towns == communes:
            return
        started = time.perf_counter()
        async with sm() as s, s.begin():
            await s.execute(delete(KnowledgeEntry))
            await s.execute(delete(Commune))
        for n in range(communes):
            async with sm() as s, s.begin():
                row = Commune(code=f"{n:05d}", name=f"Xã {n}", province_code=f"{10 + n % 2}")
                s.add(row)
                await s.flush()
                await store.save(s, store.Owner(commune_id=row.id), entries_for(n, entries))
        print(
            f"stored {communes} × {entries} in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
    finally:
        await engine.dispose()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {
        "p50": round(statistics.median(v), 3),
        "p99": round(v[min(len(v) - 1, int(len(v) * 0.99))], 3),
        "max": round(v[-1], 3),
    }


async def run(db: Path, communes: int, messages: int) -> dict[str, object]:
    nlu = default_engine()  # trained before measuring, as at the service's start
    nlu.parse("xin chào")
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    sm = sessionmaker(engine)
    try:
        async with sm() as s:
            towns = [(c.id, c.province_code) for c in (await s.execute(select(Commune))).scalars()]
        gc.collect()
        before = rss_mb()
        builds = []
        for cid, province in towns:
            async with sm() as s:
                t0 = time.perf_counter()
                index = await retrieval.index_of(s, cid, province)
                builds.append((time.perf_counter() - t0) * 1000)
        gc.collect()
        after = rss_mb()
        build_cpu = []
        for cid, province in towns[:10]:  # the build alone, CPU time of the building thread
            async with sm() as s:
                rows = await store.visible(s, cid, province)
            entries = [retrieval.Entry(e.id, e.question, e.answer, tuple(e.variants)) for e in rows]
            t0 = time.thread_time()
            retrieval.Index(entries)
            build_cpu.append((time.thread_time() - t0) * 1000)
        reads = 0
        version = store.version

        async def counted(*args: object) -> object:
            nonlocal reads
            reads += 1
            return await version(*args)  # type: ignore[arg-type]

        store.version = counted  # type: ignore[assignment]
        rng = random.Random(7)
        sample = questions(messages, rng)
        today = date.today()
        wall: dict[str, list[float]] = {"index_of": [], "lookup": [], "parse": []}
        cpu: dict[str, list[float]] = {"lookup": [], "parse": []}
        load_before = os.getloadavg()[0]
        async with sm() as s:
            for i, text in enumerate([*sample[:200], *sample]):  # 200 warm-up messages
                if i == 200:
                    reads = 0
                cid, province = rng.choice(towns)
                t0 = time.perf_counter()
                index = await retrieval.index_of(s, cid, province)
                t1, c1 = time.perf_counter(), time.thread_time()
                index.lookup(text, day=today)
                t2, c2 = time.perf_counter(), time.thread_time()
                nlu.parse(text)
                t3, c3 = time.perf_counter(), time.thread_time()
                if i >= 200:
                    wall["index_of"].append((t1 - t0) * 1000)
                    wall["lookup"].append((t2 - t1) * 1000)
                    wall["parse"].append((t3 - t2) * 1000)
                    cpu["lookup"].append((c2 - c1) * 1000)
                    cpu["parse"].append((c3 - c2) * 1000)
        store.version = version
        both = [a + b for a, b in zip(wall["lookup"], wall["parse"], strict=True)]
        return {
            "bench": "knowledge",
            "communes": len(towns),
            "entries_per_commune": len(index.entries),
            "sayings_per_commune": index.shape[0],
            "terms_per_commune": index.shape[1],
            "messages": messages,
            "wall_ms": {
                "lookup+parse": pct(both),
                "index_of+lookup+parse": pct(
                    [a + b for a, b in zip(wall["index_of"], both, strict=True)]
                ),
                **{part: pct(v) for part, v in wall.items()},
            },
            "cpu_ms": {
                "lookup+parse": pct(
                    [a + b for a, b in zip(cpu["lookup"], cpu["parse"], strict=True)]
                ),
                **{part: pct(v) for part, v in cpu.items()},
            },
            "fingerprint_reads": reads,
            "build_ms_per_commune_wall_via_index_of": pct(builds),
            "build_ms_per_commune_cpu": pct(build_cpu),
            "rss_mb_before_indexes": round(before, 1),
            "rss_mb_after_indexes": round(after, 1),
            "rss_mb_per_commune": round((after - before) / len(towns), 2),
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "cpus": os.cpu_count(),
        }
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--communes", type=int, default=100)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/bench-knowledge.db"))
    parser.add_argument(
        "--recheck-s",
        type=float,
        default=retrieval.RECHECK_S,
        help="how often the store's fingerprint is re-read per commune (the service: 2 s)",
    )
    args = parser.parse_args()
    retrieval.RECHECK_S = args.recheck_s
    asyncio.run(load(args.db, args.communes, args.entries))
    print(json.dumps(asyncio.run(run(args.db, args.communes, args.messages))))


if __name__ == "__main__":
    main()
