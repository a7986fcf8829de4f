"""zalo-sdk (synchronous `requests`) in a bounded executor vs one shared aiohttp session, for the
hot send path: N consultation messages to the simulator, same concurrency for both.

    .venv/bin/python bench/zalo_client.py --messages 2000 --concurrency 16

The simulator runs in a separate process so that both clients pay the same server. Prints one
JSON line per client, then a final JSON line with the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.channels.zalo.messages import text_body  # noqa: E402

APP, OA = "3608465249409039670", "4000000000000000001"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def run_aiohttp(base: str, token: str, users: list[str], conc: int) -> list[float]:
    sem = asyncio.Semaphore(conc)
    lat: list[float] = []
    async with aiohttp.ClientSession() as http:

        async def one(u: str) -> None:
            async with sem:
                t = time.perf_counter()
                async with http.post(
                    f"{base}/v3.0/oa/message/cs",
                    json=text_body(u, "Xin chào"),
                    headers={"access_token": token},
                ) as r:
                    body = await r.json()
                assert body["error"] == 0, body
                lat.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(one(u) for u in users))
    return lat


async def run_sdk(base: str, token: str, users: list[str], conc: int) -> list[float]:
    from zalo_sdk.oa import Client, ZaloMessageBody, ZaloRecipient

    client = Client(APP, "secret", access_token=token, endpoint_prefix=base)
    loop = asyncio.get_running_loop()
    lat: list[float] = []

    def send(u: str) -> None:
        t = time.perf_counter()
        resp = client.send_message(ZaloRecipient(user_id=u), ZaloMessageBody(text="Xin chào"))
        assert resp is not None
        lat.append((time.perf_counter() - t) * 1000)

    with ThreadPoolExecutor(conc) as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, send, u) for u in users))
    return lat


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--port", type=int, default=8931)
    args = ap.parse_args()
    users = [str(7_000_000 + i) for i in range(args.messages)]
    setup = {
        "settings": {"rate_limit": None},
        "apps": [{"app_id": APP, "app_secret": "s"}],
        "oas": [{"oa_id": OA, "app_id": APP, "oa_secret_key": "k", "mint_tokens": True}],
        "users": [{"oa_id": OA, "user_id": u} for u in users],
    }
    spec = ROOT / "var" / "bench-zalo-client-setup.json"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(json.dumps(setup))
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zalosim",
            "--port",
            str(args.port),
            "--rate-limit",
            "none",
            "--setup",
            str(spec),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        started = json.loads(sim.stdout.readline())
        base = started["base_url"]
        token = next(t["access_token"] for t in started["tokens"] if t["oa_id"] == OA)
        results = {}
        for name, fn in (
            ("aiohttp_shared_session", run_aiohttp),
            ("zalo_sdk_executor", run_sdk),
            ("aiohttp_shared_session#2", run_aiohttp),
            ("zalo_sdk_executor#2", run_sdk),
        ):
            t = time.perf_counter()
            lat = await fn(base, token, users, args.concurrency)
            wall = time.perf_counter() - t
            key = name.split("#")[0]
            row = {
                "client": key,
                "messages": len(lat),
                "concurrency": args.concurrency,
                "per_s": round(len(lat) / wall, 1),
                "p50_ms": round(pct(lat, 50), 2),
                "p99_ms": round(pct(lat, 99), 2),
                "mean_ms": round(statistics.fmean(lat), 2),
            }
            print(json.dumps(row))
            results.setdefault(key, []).append(row["per_s"])
        a = statistics.median(results["aiohttp_shared_session"])
        s = statistics.median(results["zalo_sdk_executor"])
        print(
            json.dumps(
                {
                    "bench": "zalo_client",
                    "aiohttp_per_s": round(a, 1),
                    "sdk_executor_per_s": round(s, 1),
                    "aiohttp_over_sdk": round(a / s, 2),
                }
            )
        )
    finally:
        sim.terminate()
        sim.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
