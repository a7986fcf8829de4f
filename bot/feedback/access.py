"""Who may read (and so act on) a ticket, in one place — the staff API, the chat and
propagandists' notes all ask here.

- the resident who filed it (``is_reporter``);
- a propagandist: the tickets of their own village that are not sensitive;
- an officer: any ticket, except a sensitive one (categories marked ``sensitive`` in
  bot/feedback/categories.py: land disputes, complaints about staff, security), which only the
  officers of its office and its assignee read — unless the commune sets
  ``sensitive_tickets: all_officers`` (one officer covers everything there);
- a leader: every ticket of the commune (leaders are alerted to emergencies, sensitive ones
  included, and answer for complaints about staff);
- an operator (runs the service): the tickets that are not sensitive.

Anyone else gets the same answer as for a code that does not exist, so a ticket code (they are
sequential) tells an outsider nothing. ``may_read`` and ``readable`` are the same rule, for one
row and as a SQL condition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, true

from bot.config import Commune
from bot.feedback.categories import CATEGORIES
from bot.store.models import Resident, Staff, Ticket

SENSITIVE = tuple(c.code for c in CATEGORIES.values() if c.sensitive)


def _office_only(commune: Commune) -> bool:
    return commune.sensitive_tickets == "office"


def may_read(staff: Staff, ticket: Ticket, commune: Commune) -> bool:
    if staff.commune_id != ticket.commune_id or not staff.active:
        return False
    sensitive = ticket.category in SENSITIVE
    if staff.role == "propagandist":
        return (
            staff.village_id is not None and ticket.village_id == staff.village_id and not sensitive
        )
    if staff.role == "leader" or not sensitive:
        return staff.role in ("leader", "officer", "operator")
    if staff.role == "officer":
        return (
            not _office_only(commune)
            or staff.office == ticket.office
            or ticket.assignee_id == staff.id
        )
    return False


def readable(staff: Staff, commune: Commune) -> Any:
    """``may_read`` as a condition on ``Ticket`` rows of the staff member's commune."""
    not_sensitive = Ticket.category.not_in(SENSITIVE)
    if staff.role == "propagandist":
        return (
            (Ticket.village_id == staff.village_id) & not_sensitive
            if staff.village_id is not None
            else false()
        )
    if staff.role == "leader":
        return true()
    if staff.role == "officer":
        if not _office_only(commune):
            return true()
        return (
            not_sensitive
            | (Ticket.office == (staff.office or ""))
            | (Ticket.assignee_id == staff.id)
        )
    if staff.role == "operator":
        return not_sensitive
    return false()


def is_reporter(resident: Resident | None, ticket: Ticket) -> bool:
    return (
        resident is not None
        and ticket.resident_id is not None
        and ticket.resident_id == resident.id
    )
