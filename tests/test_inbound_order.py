"""One resident's messages are handled in order even with several workers (issue 11): two real
InboundProcessors on PostgreSQL claim batches concurrently, and an event waits while an older
event of the same resident is held by the other worker (bot/inbound.py ``claim``)."""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import insert, select

from bot.app import build_services
from bot.inbound import InboundProcessor
from bot.store.models import Conversation, InboundEvent, Message, Resident
from tests.helpers import commune_code, make_settings


async def _events(services, rows: list[tuple[str, str]], event_name: str = "webchat_text") -> None:  # type: ignore[no-untyped-def]
    """Store events as the web chat does: (session, text), in this order."""
    commune_id = services.tenants.by_code(commune_code(1)).id
    async with services.sm() as s, s.begin():
        await s.execute(
            insert(InboundEvent.__table__),
            [
                dict(
                    commune_id=commune_id,
                    channel="webchat",
                    event_name=event_name,
                    dedupe_key=uuid.uuid4().hex,
                    external_user_id=user,
                    payload={"text": text},
                    status="received",
                    attempts=0,
                )
                for user, text in rows
            ],
        )


def _worker(services, name: str, batch: int) -> InboundProcessor:  # type: ignore[no-untyped-def]
    worker = InboundProcessor(
        services.sm,
        services.tenants,
        services.coord,
        {"zalo": services.zalo, "webchat": services.webchat},
        batch=batch,
        nlu=services.nlu,
        feedback=services.settings.feedback,
    )
    worker.worker = name  # two workers in one process: told apart as two hosts would be
    return worker


async def test_an_event_waits_for_the_older_one_another_worker_holds(pg_url, sim):
    services = await build_services(make_settings(pg_url, sim, communes=1), background=False)
    try:
        a, b = _worker(services, "host-a:1", 10), _worker(services, "host-b:1", 1)
        await _events(services, [("r1", "giờ làm việc"), ("r1", "địa chỉ xã"), ("r2", "xin chào")])
        [first] = await b.claim()  # B holds r1's first message
        claimed = await a.claim()
        async with services.sm() as s:
            events = {e.id: e for e in (await s.execute(select(InboundEvent))).scalars().all()}
        by_text = {e.payload["text"]: e for e in events.values()}
        assert first == by_text["giờ làm việc"].id
        # r2 is taken; r1's second message is held back, not claimed and no attempt counted
        assert claimed == [by_text["xin chào"].id]
        second = by_text["địa chỉ xã"]
        assert second.status == "received" and second.attempts == 0
        await a.process_batch(claimed)
        assert await a.claim() == []  # still held while B has the first one
        await b.process_batch([first])
        assert await a.claim() == [second.id]  # B is done: A takes it
        await a.process_batch([second.id])
        # one worker's own claim keeps a resident's burst together (one batch, in id order)
        await _events(services, [("r3", "giờ làm việc"), ("r3", "cảm ơn")])
        assert len(await a.claim()) == 2
    finally:
        await services.close()


async def test_two_workers_keep_each_residents_order(pg_url, sim):
    services = await build_services(make_settings(pg_url, sim, communes=1), background=False)
    try:
        residents = [f"order-{n}" for n in range(6)]
        texts = ["giờ làm việc", "địa chỉ xã", "số điện thoại xã", "cảm ơn", "xin chào"]
        rows = [(r, f"{t} {i}") for i, t in enumerate(texts) for r in residents]
        await _events(services, rows)

        class Slow(InboundProcessor):
            async def process_batch(self, ids: list[int]) -> bool:
                await asyncio.sleep(random.uniform(0, 0.3))  # batches overlap and finish
                return await super().process_batch(ids)  # in any order

        workers = []
        for name in ("host-a:1", "host-b:1"):
            worker = _worker(services, name, 4)
            worker.__class__ = Slow
            workers.append(worker)

        async def drain(worker: InboundProcessor) -> None:
            idle = 0
            while idle < 3:
                idle = idle + 1 if await worker.run_once() == 0 else 0
                await asyncio.sleep(0.05)

        await asyncio.wait_for(asyncio.gather(*map(drain, workers)), 60)
        async with services.sm() as s:
            events = (await s.execute(select(InboundEvent))).scalars().all()
            assert {e.status for e in events} == {"processed"}
            assert {e.claimed_by for e in events} == {"host-a:1", "host-b:1"}  # both worked
            logged = (
                await s.execute(
                    select(
                        Resident.external_id, Message.inbound_event_id, InboundEvent.processed_at
                    )
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .join(Resident, Resident.id == Conversation.resident_id)
                    .join(InboundEvent, InboundEvent.id == Message.inbound_event_id)
                    .where(Message.direction == "in")
                    .order_by(Message.id)
                )
            ).all()
        for resident in residents:
            theirs = [(event, at) for who, event, at in logged if who == resident]
            assert len(theirs) == len(texts)
            # logged in the order they came, each processed no earlier than the one before
            assert [e for e, _ in theirs] == sorted(e for e, _ in theirs), resident
            assert [at for _, at in theirs] == sorted(at for _, at in theirs), resident
    finally:
        await services.close()


async def test_a_failed_event_keeps_its_residents_later_ones_behind_it(store_url, sim):
    """A batch that fails is retried one event at a time: once a resident's event fails, their
    later events in that batch wait for it (released without an attempt counted), while other
    residents' events go on."""
    services = await build_services(make_settings(store_url, sim, communes=1), background=False)
    try:
        worker = _worker(services, "host-a:1", 10)
        real_apply = worker._apply

        async def apply(s, tenant, event, inbound, *args, **kwargs):  # type: ignore[no-untyped-def]
            if inbound.text == "BOOM":
                raise RuntimeError("a bad event")
            return await real_apply(s, tenant, event, inbound, *args, **kwargs)

        worker._apply = apply  # type: ignore[method-assign]
        await _events(services, [("r1", "BOOM"), ("r1", "giờ làm việc"), ("r2", "xin chào")])
        assert await worker.run_once() == 3
        async with services.sm() as s:
            events = (await s.execute(select(InboundEvent).order_by(InboundEvent.id))).scalars()
            seen = [(e.external_user_id, e.status, e.attempts) for e in events]
        assert seen == [
            ("r1", "received", 1),  # failed once, to be tried again
            ("r1", "received", 0),  # waits behind it, no attempt spent
            ("r2", "processed", 1),  # another resident is not held up
        ]
    finally:
        await services.close()
