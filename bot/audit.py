"""Every audit row, written here and nowhere else: a notice's transitions (``notice_audit``),
a ticket's history (``ticket_events``) and the record of an erasure (``erasures``).

Each function adds the row to the caller's session — the same transaction as the change it
records, so the row and the change commit together or not at all — and returns it; a caller
that needs the row's id (a notification keyed by it) flushes. Nothing here decides whether a
change is allowed: the workflows do (bot/notices/workflow.py, bot/feedback/workflow.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Erasure, Notice, NoticeAudit, Ticket, TicketEvent


def notice(
    s: AsyncSession,
    row: Notice,
    action: str,
    to_status: str,
    staff_id: int | None,
    note: str | None = None,
    *,
    created: bool = False,
) -> NoticeAudit:
    """A notice's transition from its current state to ``to_status`` (``created``: its first
    row, from no state). The caller changes the state itself."""
    audit = NoticeAudit(
        commune_id=row.commune_id,
        notice_id=row.id,
        staff_id=staff_id,
        action=action,
        from_status=None if created else row.status,
        to_status=to_status,
        note=note,
    )
    s.add(audit)
    return audit


def ticket(
    s: AsyncSession,
    row: Ticket,
    action: str,
    *,
    actor: str,
    staff_id: int | None = None,
    note: str | None = None,
    from_status: str | None = None,
    created: bool = False,
    at: datetime | None = None,
) -> TicketEvent:
    """One line of a ticket's history, ending in its current state: from ``from_status``
    (default: the current state, unchanged), or from no state when ``created``. ``actor``:
    resident | staff | system | open311."""
    values: dict[str, Any] = {"at": at} if at is not None else {}
    event = TicketEvent(
        commune_id=row.commune_id,
        ticket_id=row.id,
        actor=actor,
        staff_id=staff_id,
        action=action,
        from_status=None if created else (from_status or row.status),
        to_status=row.status,
        note=note,
        **values,
    )
    s.add(event)
    return event


def erasure(
    s: AsyncSession,
    commune_id: int,
    resident_id: int | None,
    *,
    scope: str,
    source: str,
    staff_id: int | None,
    tickets: int,
    at: datetime,
) -> Erasure:
    """That a resident's data was erased: when, how far, on whose request, how many tickets —
    never what."""
    row = Erasure(
        commune_id=commune_id,
        resident_id=resident_id,
        scope=scope,
        source=source,
        staff_id=staff_id,
        tickets=tickets,
        at=at,
    )
    s.add(row)
    return row
