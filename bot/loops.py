"""The shape every background worker shares: work while there is work, then sleep until woken
(a publish on its topic, from any process) or until the poll interval passes — the poll is what
makes Redis optional for correctness. Stopping is graceful: the current batch finishes first."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from datetime import timedelta

from bot.coord import Coordinator

log = logging.getLogger(__name__)

#: a claim (event, outbound row, notice) expires after this; a dead worker's work is taken over
LEASE = timedelta(seconds=60)

# Wake-up topics: a publish on one wakes the worker that listens (in any process with Redis).
EVENTS_TOPIC = "events"  # the inbound processor: a webhook or web chat message was stored
OUTBOUND_TOPIC = "outbound"  # the sender: outbound rows are pending
NOTICES_TOPIC = "notices"  # the notice dispatcher: a notice was scheduled or approved
BROADCAST_TOPIC = "broadcasts"  # the article broadcaster: whole-commune notices are queued
TICKETS_TOPIC = "tickets"  # the ticket clock: a deadline changed
TOKENS_TOPIC = "tokens"  # the token refresher: plan the next try of a failed refresh


def worker_id() -> str:
    """Who holds a claim: host and process, written in ``claimed_by``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: exponential (1 s, 2 s, 4 s … capped at 5 minutes) with
    jitter, never sooner than the provider's ``retry_after``."""
    base = min(300.0, 2.0 ** max(0, attempts - 1))
    return max(retry_after or 0.0, base * (0.5 + random.random()))


class Worker:
    topic: str = ""
    batch: int = 50

    def __init__(self, coord: Coordinator) -> None:
        self.coord = coord
        self.stopping = asyncio.Event()
        #: passes that found nothing to do (what tests wait on: tests/helpers.py wait_idle)
        self.idle_passes = 0

    async def run_once(self) -> int:
        raise NotImplementedError

    async def run_forever(self, poll_s: float = 1.0) -> None:
        sub = await self.coord.subscribe(self.topic)
        try:
            while not self.stopping.is_set():
                try:
                    n = await self.run_once()
                    if n == 0:
                        self.idle_passes += 1
                except Exception:  # noqa: BLE001 - a database blip must not end the loop
                    log.exception("%s failed; retrying", type(self).__name__)
                    n = 0
                if n < self.batch and not self.stopping.is_set():
                    await sub.get(timeout=self.wait_s(poll_s))
        finally:
            await sub.close()

    def wait_s(self, poll_s: float) -> float:
        """How long to sleep when idle (a worker may want to look again sooner)."""
        return poll_s

    async def stop(self) -> None:
        self.stopping.set()
        await self.coord.publish(self.topic)
