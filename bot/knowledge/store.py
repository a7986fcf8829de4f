"""Knowledge entries in the store: a commune's own (``commune_id``) or its province's
(``commune_id`` null, ``province_code``). ``save`` merges a file's items (upsert by the
question's key) or replaces the owner's entries, in the caller's transaction; ``visible`` is
what a commune answers from: its own entries and the province's it does not override or hide.
One entry per owner and question key (unique indexes, migration 0016). ``changes`` moves when a
transaction that saved entries has committed, never before (a reader would rebuild its index
from the old rows and keep it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, event, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from bot.knowledge.io import Item
from bot.store.models import KnowledgeEntry
from bot.timeutil import utcnow


@dataclass(frozen=True)
class Owner:
    """Whose entries: a commune's (``commune_id``) or a province's (``province_code``)."""

    commune_id: int | None = None
    province_code: str | None = None

    def __post_init__(self) -> None:
        assert (self.commune_id is None) != (self.province_code is None), "one owner"

    def where(self):
        if self.commune_id is not None:
            return KnowledgeEntry.commune_id == self.commune_id
        return and_(
            KnowledgeEntry.commune_id.is_(None),
            KnowledgeEntry.province_code == self.province_code,
        )


@dataclass(frozen=True)
class Saved:
    added: int
    updated: int
    deleted: int


def item_of(e: KnowledgeEntry) -> Item:
    return Item(
        e.question,
        e.answer,
        tuple(e.variants or ()),
        e.topic,
        e.valid_from,
        e.valid_until,
        e.source,
        tuple((str(name), str(value)) for name, value in e.extra or ()),
        bool(e.hidden),
    )


async def entries(s: AsyncSession, owner: Owner) -> list[KnowledgeEntry]:
    """The owner's own entries, in the order they were added."""
    rows = await s.execute(select(KnowledgeEntry).where(owner.where()).order_by(KnowledgeEntry.id))
    return list(rows.scalars())


#: saves committed by this process (``retrieval`` re-reads the store's fingerprint when it moves)
changes = 0
_SAVED = "knowledge_saved"  # in ``Session.info``: this transaction wrote entries


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    global changes
    if session.in_nested_transaction():
        return  # a savepoint released: nothing is committed until the outer transaction is
    if session.info.pop(_SAVED, False):
        changes += 1  # this process's indexes look at the store again on their next lookup


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back, or closed without either: nothing saved
        session.info.pop(_SAVED, None)


async def save(s: AsyncSession, owner: Owner, items: list[Item], replace: bool = False) -> Saved:
    """The items written for ``owner`` in the caller's transaction: merged (an entry with the
    same question key updated, others added) or, with ``replace``, instead of every entry the
    owner had. A province has nothing to hide: hidden items are for a commune."""
    if owner.commune_id is None and any(i.hidden for i in items):
        raise ValueError("hidden entries hide a province's entry from a commune, not a province")
    s.info[_SAVED] = True
    now = utcnow()
    deleted = 0
    existing: dict[str, KnowledgeEntry] = {}
    if replace:
        result = await s.execute(delete(KnowledgeEntry).where(owner.where()))
        deleted = int(getattr(result, "rowcount", 0) or 0)
    else:
        existing = {e.key: e for e in await entries(s, owner)}
    added = updated = 0
    for item in items:
        row = existing.get(item.key)
        if row is None:
            row = KnowledgeEntry(
                commune_id=owner.commune_id,
                province_code=owner.province_code,
                key=item.key,
                created_at=now,
            )
            s.add(row)
            existing[item.key] = row
            added += 1
        else:
            updated += 1
        row.question, row.answer, row.variants = item.question, item.answer, list(item.variants)
        row.topic, row.source = item.topic, item.source
        row.valid_from, row.valid_until = item.valid_from, item.valid_until
        row.extra = [[name, value] for name, value in item.extra] or None
        row.hidden = item.hidden
        row.updated_at = now
    await s.flush()
    return Saved(added, updated, deleted)


def _of_commune(commune_id: int, province_code: str | None):
    province = and_(
        KnowledgeEntry.commune_id.is_(None), KnowledgeEntry.province_code == province_code
    )
    return (
        or_(KnowledgeEntry.commune_id == commune_id, province)
        if province_code
        else KnowledgeEntry.commune_id == commune_id
    )


async def visible(
    s: AsyncSession, commune_id: int, province_code: str | None
) -> list[KnowledgeEntry]:
    """What the commune answers from: its own entries, and its province's whose question key
    it has no entry for (an own hidden entry hides the province's and answers nothing)."""
    rows = list(
        (
            await s.execute(
                select(KnowledgeEntry)
                .where(_of_commune(commune_id, province_code))
                .order_by(KnowledgeEntry.id)
            )
        ).scalars()
    )
    own = {e.key for e in rows if e.commune_id == commune_id}
    return [
        e
        for e in rows
        if (e.commune_id == commune_id and not e.hidden)
        or (e.commune_id != commune_id and e.key not in own)
    ]


async def remove(s: AsyncSession, owner: Owner, key: str, *, hidden_only: bool = False) -> int:
    """The owner's entry for the question ``key`` deleted (``hidden_only``: only if it is a
    hidden one — `bot knowledge unhide`); how many rows went (0 or 1)."""
    where = and_(owner.where(), KnowledgeEntry.key == key)
    if hidden_only:
        where = and_(where, KnowledgeEntry.hidden.is_(True))
    s.info[_SAVED] = True
    result = await s.execute(delete(KnowledgeEntry).where(where))
    return int(getattr(result, "rowcount", 0) or 0)


async def version(
    s: AsyncSession, commune_id: int, province_code: str | None
) -> tuple[int, datetime | None, int | None]:
    """A cheap fingerprint of what the commune answers from (count, newest change, newest id):
    any import, replace or deletion changes it, in this process or another."""
    row = (
        await s.execute(
            select(
                func.count(), func.max(KnowledgeEntry.updated_at), func.max(KnowledgeEntry.id)
            ).where(_of_commune(commune_id, province_code))
        )
    ).one()
    return int(row[0]), row[1], row[2]
