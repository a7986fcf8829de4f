"""A ticket's states and every change of them, as one table: which states an action applies to,
the state it leads to, who may take it, whether it needs a note, and what it does besides —
the resident's message, the first handling (``acked_at``), the time it stamps, the SLA clock.

    received ─accept→ in_progress ─answer→ answered ─close→ closed
       │ assign → assigned (accept → in_progress)      │ publish (answered, closed: unchanged)
       │ transfer → received at another office, or transferred to an outside body
       └ return | reject | duplicate (any open state) → returned | rejected | duplicate
    the resident: rate (→ closed) or reopen (→ in_progress, the clock restarts), when the chat
    allows it (bot/feedback/intake.py); note: a line in the history, any state, any staff role

``check`` is what staff meet (``TicketError`` with the HTTP status to answer); ``apply`` carries
an action out on the ticket in memory. bot/feedback/service.py: ``change`` runs both, writes
the history row and the resident's message in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.categories import CATEGORIES
from bot.config import Commune, FeedbackSettings
from bot.feedback.masking import anonymise
from bot.feedback.routing import office_name
from bot.feedback.sla import calendar
from bot.store.models import Staff, Ticket

OPEN = ("received", "assigned", "in_progress")  # the clock runs
ENDED = ("returned", "transferred", "rejected", "duplicate", "closed")
STATES = (*OPEN, "answered", *ENDED)
STAFF = ("officer", "leader")


class TicketError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Change:
    """One action being carried out: what the caller gave, and what the effect decides (the
    state it leads to, what the resident is told, the note written in the history)."""

    ticket: Ticket
    commune: Commune
    settings: FeedbackSettings
    now: datetime
    staff: Staff | None = None
    note: str | None = None
    assignee: Staff | None = None
    office: str | None = None
    body: str | None = None
    duplicate_of: Ticket | None = None
    rating: int | None = None
    public_text: str | None = None
    to: str | None = None
    tell: str | None = None
    before: str = ""


Effect = Callable[[Change], None]


@dataclass(frozen=True)
class Action:
    from_states: tuple[str, ...]
    #: the state it leads to; None: unchanged (or the effect decides: transfer)
    to_state: str | None
    #: the staff roles that may take it; () : not a staff action (the resident's, the clock's)
    roles: tuple[str, ...] = ()
    #: the note is required: what it is (named in the error)
    needs_note: str | None = None
    #: what the resident is told (``service.resident_message``); the effect may change it
    tell: str | None = None
    #: the ticket's first handling: sets ``acked_at`` if not set yet
    acknowledges: bool = False
    #: the time column set to now
    stamps: str | None = None
    #: deadlines computed again from now, the escalations reset (a reopened ticket)
    restarts_clock: bool = False
    #: tickets marked as its duplicates get the answer too
    answers_duplicates: bool = False
    #: validation and changes of its own (raises TicketError before changing anything)
    effect: Effect | None = field(default=None, compare=False)


def _accept(c: Change) -> None:
    c.ticket.assignee_id = c.ticket.assignee_id or c.staff.id  # type: ignore[union-attr]


def _assign(c: Change) -> None:
    assignee, ticket = c.assignee, c.ticket
    if (
        assignee is None
        or assignee.commune_id != ticket.commune_id
        or assignee.role not in STAFF
        or not assignee.active
    ):
        raise TicketError("assignee: một cán bộ của xã / an officer of this commune")
    ticket.assignee_id = assignee.id
    ticket.office = assignee.office or ticket.office
    c.note = c.note or f"giao cho {assignee.name}"
    if c.before != "received":  # the resident heard "received"; a reassignment is internal
        c.tell = None


def _transfer(c: Change) -> None:
    """To another office of the commune: back to "received" there, unassigned, nothing said;
    to an outside body: transferred, and the resident told where."""
    if bool(c.office) == bool(c.body):
        raise TicketError(
            "transfer: cho một trong hai: office (bộ phận của xã) hoặc body "
            "(cơ quan bên ngoài) / give office or body"
        )
    ticket = c.ticket
    if c.office:
        if c.office not in {o.code for o in c.commune.offices}:
            raise TicketError(
                "office: không có bộ phận này / one of "
                f"{', '.join(o.code for o in c.commune.offices)}"
            )
        ticket.office, ticket.assignee_id, c.to = c.office, None, "received"
        c.note = f"→ {office_name(c.commune, c.office)}" + (f": {c.note}" if c.note else "")
        return
    body = (c.body or "").strip()
    if not body:
        raise TicketError("body: tên cơ quan nhận / the receiving body's name")
    ticket.transferred_to, c.to = body[:200], "transferred"
    ticket.acked_at = ticket.acked_at or c.now
    c.tell = "transferred"


def _duplicate(c: Change) -> None:
    original, ticket = c.duplicate_of, c.ticket
    if original is None or original.id == ticket.id or original.commune_id != ticket.commune_id:
        raise TicketError("of: mã một phản ánh khác của xã / another ticket of this commune")
    if original.status not in OPEN:
        raise TicketError(
            "of: phản ánh gốc phải đang được xử lý; nếu đã có trả lời, hãy trả "
            "lời phản ánh này / the original must still be open",
            409,
        )
    ticket.duplicate_of = original.id
    c.note = f"trùng {original.code}" + (f": {c.note}" if c.note else "")


def _answer(c: Change) -> None:
    c.ticket.answer = (c.note or "").strip()


def _publish(c: Change) -> None:
    ticket = c.ticket
    if CATEGORIES[ticket.category].sensitive:
        raise TicketError(
            "phản ánh thuộc loại nhạy cảm không được công khai / a ticket of "
            "a sensitive category is never public",
            409,
        )
    text = (c.public_text or ticket.answer or "").strip()
    if not text:
        raise TicketError("text: nội dung công khai / the text to publish")
    ticket.public_answer = anonymise(text, ticket)


def _rate(c: Change) -> None:
    c.ticket.rating = c.rating


def _reopen(c: Change) -> None:
    ticket = c.ticket
    ticket.reopened += 1
    ticket.answered_at = ticket.closed_at = ticket.rating = None


#: every action; the staff's first, in the order the API lists them
ACTIONS: dict[str, Action] = {
    "accept": Action(
        ("received", "assigned"),
        "in_progress",
        STAFF,
        tell="accepted",
        acknowledges=True,
        effect=_accept,
    ),
    "assign": Action(OPEN, "assigned", STAFF, tell="assigned", acknowledges=True, effect=_assign),
    "transfer": Action(OPEN, None, STAFF, effect=_transfer),
    "return": Action(
        OPEN, "returned", STAFF, needs_note="lý do trả lại", tell="return", acknowledges=True
    ),
    "reject": Action(
        OPEN, "rejected", STAFF, needs_note="lý do không thụ lý", tell="reject", acknowledges=True
    ),
    "duplicate": Action(OPEN, "duplicate", STAFF, tell="duplicate", effect=_duplicate),
    "answer": Action(
        (*OPEN, "answered"),
        "answered",
        STAFF,
        needs_note="nội dung trả lời",
        tell="answered",
        acknowledges=True,
        stamps="answered_at",
        answers_duplicates=True,
        effect=_answer,
    ),
    "close": Action(("answered",), "closed", STAFF, tell="closed", stamps="closed_at"),
    "publish": Action(("answered", "closed"), None, STAFF, stamps="published_at", effect=_publish),
    "note": Action(STATES, None, (*STAFF, "propagandist"), needs_note="nội dung ghi chú"),
    # the resident's, when the chat allows them (bot/feedback/intake.py decides)
    "rate": Action(STATES, "closed", stamps="closed_at", effect=_rate),
    "reopen": Action(STATES, "in_progress", tell="reopened", restarts_clock=True, effect=_reopen),
    # the SLA clock's lines in the history (bot/feedback/clock.py): nothing changes
    "progress": Action(STATES, None),
    "overdue": Action(STATES, None),
    "warn": Action(STATES, None),
}
#: what staff may do (the API's ``/tickets/{ticket}/{action}``)
STAFF_ACTIONS = {name: rule for name, rule in ACTIONS.items() if rule.roles}


def check(ticket: Ticket, action: str, staff: Staff | None, note: str | None) -> Action:
    """The rule for a staff member's action on this ticket; TicketError (404 no such action,
    403 not their role, 409 not from this state, 400 the note missing) when it may not be."""
    rule = STAFF_ACTIONS.get(action)
    if rule is None:
        raise TicketError(f"không có thao tác này / action: one of {', '.join(STAFF_ACTIONS)}", 404)
    if staff is None or staff.role not in rule.roles:
        raise TicketError("vai trò này không được làm việc này / role may not do this", 403)
    if ticket.status not in rule.from_states:
        raise TicketError(
            f"không thể {action} khi phản ánh đang '{ticket.status}' / cannot "
            f"{action} a ticket that is {ticket.status}",
            409,
        )
    if rule.needs_note and not (note or "").strip():
        raise TicketError(f"note: cần {rule.needs_note} / note is required")
    return rule


def apply(rule: Action, c: Change) -> None:
    """Carry ``rule`` out on ``c.ticket`` (in memory): its effect first — which may refuse,
    before anything changed — then the state, the stamps and the clock."""
    ticket = c.ticket
    c.before, c.to, c.tell = ticket.status, rule.to_state, rule.tell
    if rule.effect is not None:
        rule.effect(c)
    if rule.acknowledges:
        ticket.acked_at = ticket.acked_at or c.now
    if rule.stamps:
        setattr(ticket, rule.stamps, c.now)
    if rule.restarts_clock:
        restart_clock(ticket, c.commune, c.settings, c.now)
    if c.to is not None:
        ticket.status = c.to
    if ticket.status not in OPEN:  # the clock stops
        ticket.next_progress_at = None
        ticket.warn_at = None


def restart_clock(
    ticket: Ticket, commune: Commune, settings: FeedbackSettings, now: datetime
) -> None:
    """New deadlines from ``now`` (a reopened ticket), its escalations reset."""
    cal = calendar(commune, settings)
    ticket.due_at = cal.deadlines(ticket.category, now, ticket.emergency)[1]
    ticket.warn_at = cal.warn_at(ticket.category, now, ticket.due_at, ticket.emergency)
    ticket.overdue_at = None
    ticket.next_progress_at = (
        None if ticket.emergency else cal.morning_after(now, settings.progress_every_days)
    )
