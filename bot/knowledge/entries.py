"""One knowledge entry at a time, for the JSON API and promotions (bot/api/knowledge.py,
bot/knowledge/misses.py): an entry given as fields is checked by the very rules a file's row is
(``io.read_csv`` on a one-row file: empty question or answer, dates, ``valid_until`` before
``valid_from``), and an entry changed or deleted by id. Whole files, merges and replacements
stay in ``io`` and ``store``."""

from __future__ import annotations

import csv
import io as stdio
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.knowledge import io, store
from bot.store.models import KnowledgeEntry
from bot.timeutil import utcnow


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "|".join(str(v) for v in value)
    return str(value)


def item_from(fields: Mapping[str, Any]) -> io.Item:
    """An entry's fields (``variants`` a list or ``|``-separated) as a checked ``io.Item``;
    ``io.KnowledgeFileError`` naming the problem ("entry: the answer is empty")."""
    out = stdio.StringIO()
    writer = csv.writer(out)
    writer.writerow(io.COLUMNS)
    writer.writerow([_cell(fields.get(c)) for c in io.COLUMNS])
    try:
        items = io.read_csv(out.getvalue())
    except io.KnowledgeFileError as exc:
        raise io.KnowledgeFileError(str(exc).replace("row 2: ", "entry: ", 1)) from None
    if not items:
        raise io.KnowledgeFileError("entry: the question is empty")
    return items[0]


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
    }


def _changed() -> None:
    """This process's retrieval indexes look at the store again on their next lookup (the
    counter ``store.save`` moves; a change by id is a change too)."""
    store.changes += 1


async def update(s: AsyncSession, entry: KnowledgeEntry, item: io.Item) -> None:
    """``entry`` becomes ``item`` (its question may change: its key follows)."""
    _changed()
    entry.key = item.key
    entry.question, entry.answer, entry.variants = item.question, item.answer, list(item.variants)
    entry.topic, entry.source = item.topic, item.source
    entry.valid_from, entry.valid_until = item.valid_from, item.valid_until
    entry.updated_at = utcnow()
    await s.flush()


async def remove(s: AsyncSession, entry: KnowledgeEntry) -> None:
    _changed()
    await s.delete(entry)
    await s.flush()
