"""The sender: claims outbound rows and hands each to its channel; records every outcome.

The send contract is ``bot/sending.py``: a channel declares the reply kinds it carries (a reply
it cannot carry is fitted — choices as a numbered text, an image as its caption and link — or
failed once as ``unsupported``) and raises a ``SendError`` whose outcome its own error reading
decided (Zalo: ``channels/zalo/errors.py``). This is the one place that turns an outcome into a
row state: retry later with backoff, window closed (recorded on the resident, not retried), or
failed with the reason kept. Rows are claimed in priority order (reply 0 < emergency 1 <
priority 2 < normal 3), so replies are never starved by broadcasts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.coord import Coordinator
from bot.envelope import Delivered, Reply, from_payload
from bot.loops import LEASE, OUTBOUND_TOPIC, Worker, backoff, worker_id
from bot.sending import NO_TOKEN_CODE, OutboundChannel, Outcome, SendError, Unsupported, fit
from bot.store.models import OutboundMessage, ProviderMessage, Resident
from bot.store.ops import table_of
from bot.tenants import Tenants
from bot.timeutil import utcnow

log = logging.getLogger(__name__)
#: a message held because its OA has no usable token is looked at again this often; it is
#: released at once when tokens are stored (bot/channels/zalo/oauth.py: release_held)
HELD_RECHECK = timedelta(hours=1)


class Sender(Worker):
    topic = OUTBOUND_TOPIC

    def __init__(
        self,
        sm: async_sessionmaker,
        tenants: Tenants,
        coord: Coordinator,
        channels: dict[str, OutboundChannel],
        max_attempts: int = 8,
        batch: int = 100,
        concurrency: int = 32,
    ) -> None:
        super().__init__(coord)
        self.sm = sm
        self.tenants = tenants
        self.channels = channels
        self.max_attempts = max_attempts
        self.batch = batch
        self.sem = asyncio.Semaphore(concurrency)
        self.worker = worker_id()
        self._sent_queue: list[tuple[OutboundMessage, Delivered, asyncio.Future[None]]] = []
        self._write_lock = asyncio.Lock()

    async def claim(self) -> list[OutboundMessage]:
        now = utcnow()
        async with self.sm() as s, s.begin():
            ids = (
                select(OutboundMessage.id)
                .where(
                    or_(
                        (OutboundMessage.status == "pending")
                        & (OutboundMessage.next_attempt_at <= now),
                        (OutboundMessage.status == "sending")
                        & (OutboundMessage.claimed_at < now - LEASE),
                    )
                )
                .order_by(OutboundMessage.priority, OutboundMessage.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            # Core rows (attribute access like the model), not ORM objects: cheaper by far
            table = table_of(OutboundMessage)
            claimed = (
                await s.execute(
                    update(table)
                    .where(table.c.id.in_(ids.scalar_subquery()))
                    .values(
                        status="sending",
                        claimed_at=now,
                        claimed_by=self.worker,
                        attempts=table.c.attempts + 1,
                        # SET reads the old row: was a lease lapsed on this one? (sticky: a
                        # row once in doubt is checked on every later try)
                        resumed=(table.c.status == "sending") | table.c.resumed,
                    )
                    .returning(*table.c)
                )
            ).all()
        return sorted(claimed, key=lambda r: (r.priority, r.id))

    async def run_once(self) -> int:
        rows = await self.claim()
        by_recipient: dict[tuple[int, str, str], list[OutboundMessage]] = defaultdict(list)
        for row in rows:
            by_recipient[(row.commune_id, row.channel, row.recipient)].append(row)
        # a TaskGroup, not gather: if this is cancelled it waits for every send to settle, so
        # no send outlives the loop holding a database connection
        async with asyncio.TaskGroup() as tg:
            for group in by_recipient.values():
                tg.create_task(self._send_in_order(group))
        return len(rows)

    async def _send_in_order(self, rows: list[OutboundMessage]) -> None:
        for row in rows:  # one resident's messages keep their order
            async with self.sem:
                try:
                    await self.send(row)
                except Exception:  # noqa: BLE001 - never let one row cancel its batch
                    log.exception(
                        "outbound %s: recording its outcome failed; the lease will "
                        "return it to the queue",
                        row.id,
                    )

    def _mine(self, row: OutboundMessage):
        """Only the worker holding the claim may write a row's outcome (another worker may
        have taken it over after the lease ran out)."""
        table = table_of(OutboundMessage)
        return (
            (table.c.id == row.id)
            & (table.c.claimed_by == self.worker)
            & (table.c.status == "sending")
        )

    async def send(self, row: OutboundMessage) -> None:
        try:
            tenant = self.tenants.by_id(row.commune_id)
            channel = self.channels[row.channel]
        except KeyError:
            # the sender's own failures keep code 0 and the "0 …" reason they were stored with
            await self._failed(
                row,
                SendError(
                    0,
                    f"0 commune {row.commune_id} or channel {row.channel!r} is no longer "
                    "configured",
                    Outcome.PERMANENT,
                ),
            )
            return
        try:  # what the channel can carry, or failed once: it will not carry it on a retry
            reply = self._fitted(row, channel)
        except SendError as exc:
            await self._failed(row, exc)
            return

        if row.resumed and hasattr(channel, "already_delivered"):
            # its last worker died mid-send: Zalo may have it already (no idempotency key)
            try:
                found = await channel.already_delivered(row, tenant)
            except SendError as exc:  # cannot tell: wait and check again, never send blind
                log.warning(
                    "outbound %s: could not check the conversation (%s); later", row.id, exc.reason
                )
                if exc.outcome is not Outcome.NO_TOKEN:
                    exc = SendError(
                        exc.code, exc.reason, Outcome.THROTTLED, retry_after=exc.retry_after or 30.0
                    )
                await self._failed(row, exc)
                return
            if found is not None and await self._known(found.provider_ids):
                found = None  # those messages are another row's: this one was not sent
            if found is not None:
                log.info("outbound %s was delivered before a crash; not sent again", row.id)
                await self._record_sent(row, found)
                return

        claimed_at = cast(datetime, row.claimed_at)  # a claimed row has its time
        if utcnow() - claimed_at > LEASE * 0.8 and not await self._still_mine(row):
            return  # waited too long behind others: the lease went to another worker

        async def progress(parts_sent: int, provider_ids: list[str]) -> None:
            async with self.sm() as s, s.begin():
                await s.execute(
                    update(table_of(OutboundMessage))
                    .where(self._mine(row))
                    .values(
                        parts_sent=parts_sent,
                        provider_message_ids=provider_ids,
                        claimed_at=utcnow(),
                    )
                )  # renew the lease between parts

        try:
            delivered = await channel.deliver(row, reply, tenant, progress)
        except SendError as exc:
            await self._failed(row, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in a channel must not lose the row
            log.exception("channel %s failed on outbound %s", row.channel, row.id)
            await self._failed(row, SendError(0, f"0 {type(exc).__name__}: {exc}", Outcome.RETRY))
            return
        await self._record_sent(row, delivered)

    @staticmethod
    def _fitted(row: OutboundMessage, channel: OutboundChannel) -> Reply:
        """The row's reply as ``channel`` can carry it (``sending.fit``); a kind nobody knows
        is unsupported too."""
        try:
            reply = from_payload(row.kind, row.payload)
        except (ValueError, TypeError, KeyError) as exc:
            raise Unsupported(row.kind, row.channel) from exc
        return fit(reply, channel.capabilities, row.channel)

    async def _still_mine(self, row: OutboundMessage) -> bool:
        """Renew the claim if this worker still holds it."""
        async with self.sm() as s, s.begin():
            result = await s.execute(
                update(table_of(OutboundMessage)).where(self._mine(row)).values(claimed_at=utcnow())
            )
            return bool(result.rowcount)

    async def _known(self, provider_ids: list[str]) -> bool:
        async with self.sm() as s:
            return (
                await s.execute(
                    select(ProviderMessage.id)
                    .where(ProviderMessage.provider_message_id.in_(provider_ids))
                    .limit(1)
                )
            ).first() is not None

    async def _record_sent(self, row: OutboundMessage, delivered: Delivered) -> None:
        """Group commit: concurrent sends queue their result; whoever holds the lock writes
        everything queued in one transaction, so a batch of sends costs a few commits, not one
        per send. Each send still returns only once its own result is durable."""
        done = asyncio.get_running_loop().create_future()
        self._sent_queue.append((row, delivered, done))
        async with self._write_lock:
            if not done.done():
                batch, self._sent_queue = self._sent_queue, []
                try:
                    async with self.sm() as s, s.begin():
                        now = utcnow()
                        table = table_of(OutboundMessage)
                        await s.execute(
                            update(table)
                            .where(
                                (table.c.id == bindparam("row_id"))
                                & (table.c.claimed_by == self.worker)
                                & (table.c.status == "sending")
                            )
                            .values(
                                status="sent",
                                sent_at=now,
                                error_code=None,
                                error_reason=None,
                                provider_message_ids=bindparam("pids"),
                            ),
                            [{"row_id": r.id, "pids": d.provider_ids} for r, d, _ in batch],
                        )
                        provider_rows = [
                            {
                                "commune_id": r.commune_id,
                                "channel": r.channel,
                                "provider_message_id": pid,
                                "outbound_id": r.id,
                            }
                            for r, d, _ in batch
                            for pid in d.provider_ids
                        ]
                        if provider_rows:
                            await s.execute(insert(table_of(ProviderMessage)), provider_rows)
                except BaseException as exc:
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    raise
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
        await done

    async def _failed(self, row: OutboundMessage, exc: SendError) -> None:
        values: dict[str, object] = {"error_code": str(exc.code), "error_reason": exc.reason}
        if exc.maybe_sent:
            # Zalo may have it (a timeout, a dropped connection): the next try reads the
            # conversation back first, as after a lapsed lease — never a blind second send
            values["resumed"] = True
        if exc.outcome is Outcome.NO_TOKEN:
            # the OA must be reconnected: not the message's fault; it goes when tokens return
            values.update(
                status="pending",
                attempts=max(0, row.attempts - 1),
                error_code=NO_TOKEN_CODE,
                next_attempt_at=utcnow() + HELD_RECHECK,
            )
            log.info("outbound %s held: %s", row.id, exc.reason)  # the OA's state is logged
            # once, where it changed (bot/channels/zalo/oauth.py, bot/echoes.py)
        elif exc.outcome is Outcome.THROTTLED:
            # a rate limit or a busy lock is not the message's fault: give the attempt back
            values.update(
                status="pending",
                attempts=max(0, row.attempts - 1),
                next_attempt_at=utcnow() + timedelta(seconds=exc.retry_after or backoff(1)),
            )
            log.info("outbound %s: %s; waiting", row.id, exc.reason)
        elif exc.outcome is Outcome.RETRY and row.attempts < self.max_attempts:
            values.update(
                status="pending",
                next_attempt_at=utcnow()
                + timedelta(seconds=backoff(row.attempts, exc.retry_after)),
            )
            log.info("outbound %s: %s; retry #%s", row.id, exc.reason, row.attempts)
        elif exc.outcome is Outcome.WINDOW_CLOSED:
            values["status"] = "window_closed"
            log.info("outbound %s: resident unreachable (%s)", row.id, exc.reason)
        else:
            values["status"] = "failed"
            log.warning("outbound %s failed: %s", row.id, exc.reason)
        async with self.sm() as s, s.begin():
            result = await s.execute(
                update(table_of(OutboundMessage)).where(self._mine(row)).values(**values)
            )
            if result.rowcount and values["status"] == "window_closed" and row.resident_id:
                await s.execute(
                    update(Resident)
                    .where(Resident.id == row.resident_id)
                    .values(window_closed_at=utcnow(), window_error=exc.reason[:200])
                )
