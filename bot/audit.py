"""Every audit row, written here and nowhere else: a notice's transitions (``notice_audit``),
a ticket's history (``ticket_events``), the record of an erasure (``erasures``) and everything
else staff do (``audit_events``: ``action`` — sign-ins, staff accounts, keys, knowledge, …).

Each function adds the row to the caller's session — the same transaction as the change it
records, so the row and the change commit together or not at all — and returns it; a caller
that needs the row's id (a notification keyed by it) flushes. Nothing here decides whether a
change is allowed: the workflows do (bot/notices/workflow.py, bot/feedback/workflow.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import AuditEvent, Erasure, Notice, NoticeAudit, Ticket, TicketEvent
from bot.text import search_key

#: ``action(actor=CLI)``: done with `bot …` on the server (no staff member signed in)
CLI = "cli"
SYSTEM = "system"


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


def action(
    s: AsyncSession,
    commune_id: int,
    staff_id: int | None,
    action: str,
    object_kind: str,
    object_id: int | str | None,
    summary: str,
    detail: dict[str, Any] | None = None,
    *,
    actor: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """One line of the console's log ("Nhật ký") for anything that is not a notice's or a
    ticket's transition, added to the caller's session: it commits with the change or not at
    all, so write it in the change's transaction, after the change succeeded.

    - ``commune_id``: whose log shows it (the object's commune);
    - ``staff_id``: who did it (``None`` with ``actor=CLI`` for `bot …` on the server);
    - ``action``: a short snake_case verb, past tense: ``"notice_saved"``, ``"fact_changed"``;
      the log shows ``ACTION_LABELS[action]`` when known, else the word itself;
    - ``object_kind`` / ``object_id``: what it was done to (``"staff"``, 12) — the log's kind
      filter is ``object_kind``;
    - ``summary``: the object's name as staff know it (a staff name, a question, a headline),
      at most 300 characters, folded into ``search_key`` for the text search. Never a
      resident's words, name or phone (a ticket is named by its code);
    - ``detail``: small JSON for the record (a role, a login) — never a secret, never a
      password or a token.
    """
    summary = summary.strip()[:300]
    row = AuditEvent(
        commune_id=commune_id,
        staff_id=staff_id,
        actor=actor or ("staff" if staff_id is not None else SYSTEM),
        action=action[:32],
        object_kind=object_kind[:24],
        object_id=None if object_id is None else str(object_id)[:64],
        summary=summary,
        detail=detail,
        search_key=search_key(summary)[:400],
        **({"at": at} if at is not None else {}),
    )
    s.add(row)
    return row
