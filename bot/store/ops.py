"""Dialect-aware statements used on hot paths."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.envelope import Reply, to_payload
from bot.store.models import ConsoleSession, Staff, Village, ZaloLoginState
from bot.text import search_key
from bot.timeutil import utcnow


def table_of(model: type) -> Table:
    """A model's Core table, for executemany inserts and updates of plain rows (typed as a
    Table: ``Model.__table__`` is typed as any FromClause)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (``execute`` is typed as returning a plain Result)."""
    return cast(CursorResult[Any], result).rowcount or 0


def insert_for(session: AsyncSession, model: Any):
    """INSERT for the session's dialect (PostgreSQL or SQLite), so callers can add
    ``on_conflict_do_nothing``."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return (postgresql if dialect == "postgresql" else sqlite).insert(model)


class GroupInserter:
    """Group commit for INSERT … ON CONFLICT DO NOTHING.

    Concurrent callers queue their row; whoever holds the lock writes every queued row in one
    multi-row statement and one commit. Each caller returns only when its own row is durable
    (or known to be a duplicate: ``None``). Under load this turns hundreds of commits a second
    into a few dozen; alone, a caller pays one statement as before.
    """

    def __init__(self, sm: async_sessionmaker, model: Any, key: tuple[str, ...]) -> None:
        self.sm = sm
        self.model = model
        self.key = key
        self._queue: list[tuple[dict[str, Any], asyncio.Future[int | None]]] = []
        self._lock = asyncio.Lock()

    async def insert(self, values: dict[str, Any]) -> int | None:
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append((values, future))
        async with self._lock:
            if not future.done():
                batch, self._queue = self._queue, []
                await self._write(batch)
        return await future

    async def _write(self, batch: list[tuple[dict[str, Any], asyncio.Future[int | None]]]) -> None:
        columns = [getattr(self.model, k) for k in self.key]
        try:
            async with self.sm() as s, s.begin():
                stmt = (
                    insert_for(s, self.model)
                    .values([v for v, _ in batch])
                    .on_conflict_do_nothing()
                    .returning(self.model.id, *columns)
                )
                inserted = {tuple(row[1:]): row[0] for row in (await s.execute(stmt)).all()}
        except BaseException as exc:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        for values, fut in batch:
            # pop: a second copy of the same event in this batch is the duplicate
            fut.set_result(inserted.pop(tuple(values[k] for k in self.key), None))


def outbound_row(
    commune_id: int,
    resident_id: int | None,
    channel: str,
    recipient: str,
    key: str,
    reply: Reply,
    priority: int,
    at: datetime | None = None,
    notice_id: int | None = None,
) -> dict[str, Any]:
    """A new ``outbound_messages`` row (for a Core insert): ``reply`` to ``recipient``, queued
    under the idempotency ``key`` in lane ``priority``, not to be sent before ``at``;
    ``notice_id``: the notice it carries (its open sends and cancellation are found by it)."""
    now = utcnow()
    return dict(
        commune_id=commune_id,
        resident_id=resident_id,
        channel=channel,
        notice_id=notice_id,
        recipient=recipient,
        idempotency_key=key,
        kind=reply.kind,
        payload=to_payload(reply),
        priority=priority,
        status="pending",
        attempts=0,
        parts_sent=0,
        next_attempt_at=at or now,
        created_at=now,
    )


async def village_by_name(s: AsyncSession, commune_id: int, name: str) -> Any:
    """A commune's village named ``name`` (accent- and case-insensitive), or None. The row,
    not its id: later ``s.get(Village, id)`` in the same session then costs no query."""

    return (
        await s.execute(
            select(Village).where(
                Village.commune_id == commune_id, Village.search_key == search_key(name)
            )
        )
    ).scalar_one_or_none()


async def forget_zalo_login(s: AsyncSession, staff: Staff, *, sign_out: bool = False) -> bool:
    """Cut ``staff``'s "Đăng nhập bằng Zalo": the linked account and any round trip still
    pending. A Zalo link is a second credential, so whatever ends the password's trust (a new
    password, deactivation, a leader's ``bot staff unlink-zalo``) ends it too — an intruder who
    linked their own Zalo with a stolen session must not keep a way in. ``sign_out``: their
    console sessions end too (a leader removing a sign-in they do not trust: the sessions it
    opened must not outlive it). True if one was linked."""
    was = staff.zalo_login_id is not None
    staff.zalo_login_id = staff.zalo_login_name = staff.zalo_linked_at = None
    await s.execute(delete(ZaloLoginState).where(ZaloLoginState.staff_id == staff.id))
    if sign_out and was:
        await s.execute(delete(ConsoleSession).where(ConsoleSession.staff_id == staff.id))
    await s.flush()
    return was
