"""Standalone simulator: ``python -m zalosim --port 8900 [--setup s.json]``.

Prints one JSON line on start: ``{"base_url", "tokens": [{"oa_id", "access_token",
"refresh_token", "expires_in"}], "users": [...]}``; the setup file uses the
:mod:`.provision` spec (same as ``POST /_sim/setup``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

from .driver import ZaloSimulator
from .provision import apply_setup


def _rate_limit(value: str) -> int | None:
    return None if value.lower() in ("none", "unlimited") else int(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m zalosim", description="Local Zalo OA simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)
    p.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=4000,
        help="calls/minute per app, or 'none' (default 4000)",
    )
    p.add_argument("--setup", type=Path, help="JSON file: apps/oas/users/tokens to create")
    p.add_argument(
        "--webhook-url",
        help="post every OA's events here instead of the setup file's webhook_url "
        "(the service on another port: http://127.0.0.1:18080/webhooks/zalo)",
    )
    p.add_argument(
        "--retry-scale",
        type=float,
        default=1.0,
        help="multiply the webhook retry ladder (30s..1h) by this factor",
    )
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sim = ZaloSimulator(rate_limit=args.rate_limit, time_scale=args.retry_scale)
    minted = (
        apply_setup(sim.state, json.loads(args.setup.read_text()))
        if args.setup
        else {"tokens": [], "users": []}
    )
    if args.webhook_url:
        for oa in sim.state.oas.values():
            oa.webhook_url = args.webhook_url
    await sim.start(args.host, args.port)
    print(json.dumps({"base_url": sim.base_url, **minted}, ensure_ascii=False), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
