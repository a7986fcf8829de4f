"""The shape every background worker shares: work while there is work, then sleep until woken
(a publish on its topic, from any process) or until the poll interval passes — the poll is what
makes Redis optional for correctness. Stopping is graceful: the current batch finishes first."""

from __future__ import annotations

import asyncio
import logging

from bot.coord import Coordinator

log = logging.getLogger(__name__)


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
