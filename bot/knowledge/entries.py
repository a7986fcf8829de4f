"""One knowledge entry at a time, for the JSON API and promotions (bot/api/knowledge.py,
bot/knowledge/misses.py): an entry given as fields is checked by the very rules a file's row is
(``io.parse_date``, ``io.make_item``, and the dates' order as a file's), and an entry changed or
deleted by id through ``store.save`` / ``store.remove`` (so the change counter moves when the
transaction commits). Whole files, merges and replacements stay in ``io`` and ``store``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.knowledge import io, store
from bot.store.models import KnowledgeEntry

WHERE = "entry"  # how the files' messages name it: "entry: the answer is empty"


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return io.parse_date(text)
    except ValueError as exc:
        raise io.KnowledgeFileError(f"{WHERE}: {exc}") from None


def item_from(fields: Mapping[str, Any]) -> io.Item:
    """An entry's fields as a checked ``io.Item``; ``io.KnowledgeFileError`` naming the problem
    ("entry: valid_until is before valid_from")."""
    item = io.make_item(
        WHERE,
        str(fields.get("question") or ""),
        str(fields.get("answer") or ""),
        [str(v) for v in fields.get("variants") or ()],
        fields.get("topic") or None,
        _date(fields.get("valid_from")),
        _date(fields.get("valid_until")),
        fields.get("source") or None,
        tuple(fields.get("extra") or ()),
        bool(fields.get("hidden")),
    )
    return io._checked([(WHERE, item)])[0]  # the dates' order, as for a file's row


def fields_of(entry: KnowledgeEntry) -> dict[str, Any]:
    item = store.item_of(entry)
    return {
        "question": item.question,
        "answer": item.answer,
        "variants": list(item.variants),
        "topic": item.topic,
        "valid_from": item.valid_from,
        "valid_until": item.valid_until,
        "source": item.source,
        "extra": item.extra,
        "hidden": item.hidden,
    }


def owner_of(entry: KnowledgeEntry) -> store.Owner:
    if entry.commune_id is not None:
        return store.Owner(commune_id=entry.commune_id)
    return store.Owner(province_code=entry.province_code)


async def update(s: AsyncSession, entry: KnowledgeEntry, item: io.Item) -> None:
    """``entry`` becomes ``item``, keeping its id: re-keyed to the new question first (the
    caller made sure no other entry of the owner has it), then saved over by ``store.save``."""
    entry.key = item.key
    await s.flush()
    await store.save(s, owner_of(entry), [item])


async def remove(s: AsyncSession, entry: KnowledgeEntry) -> None:
    await store.remove(s, owner_of(entry), entry.key)
