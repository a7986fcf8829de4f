"""The dashboard's figures, counted in SQL over the real tables, per commune — the province's
are the sums (``Figures.total``). Each decision is made once, elsewhere, and used here:

- a *missed* message (the bot could not place it, or was unsure): ``knowledge.misses.MISSED``,
  the same condition the "What residents ask" screen lists;
- *overdue*: ``feedback.service.overdue_clause`` (open past the answer deadline);
- a Vietnamese day and the window: ``figures.window``.

What this module adds, written down here:

- *messages a day*: residents' messages (``direction = 'in'``) by the Vietnamese day they were
  written; *answered* are those not missed.
- *top questions*: residents' texts of two words or more (taps, "ok", a number are not
  questions; ``/commands`` neither), folded by ``text.search_key`` (accents and case), shown in
  their most written form through ``masking.anonymise`` (phones, e-mails, ID numbers), with how
  many of them were missed. Counted in SQL by exact text (``TOP_TEXTS`` most said), folded here.
- *tickets by state*: tickets received in the window, by their state now.
- *on time*: tickets whose answer deadline (``due_at``) falls in the window and has passed, or
  that were already dealt with: *on time* if the ticket left the open states (answered,
  returned, transferred, rejected, duplicate, closed — the last time it did, after a reopening)
  by its deadline; *late* if after; *overdue* if still open past it. The rate is on time of all
  three. A reopened ticket is judged on its new deadline.
- *notices sent*: notices whose ``sent_at`` falls in the window (whatever became of them
  since: expired or cancelled, they were sent); their *reach*: the residents planned (``notice_deliveries``), those reached directly (a
  consultation message sent, or the route ``broadcast`` once the commune's article broadcast
  went out), those who saw it (Zalo's seen receipt), and the village relays confirmed by the
  propagandist (``notice_relays.confirmed_at``; a village group's members are not counted).

Every query filters ``commune_id IN (…)`` and a raw timestamp range, then groups by commune
(and day, state, route): one round trip per figure whatever the number of communes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.feedback.masking import anonymise
from bot.feedback.service import overdue_clause
from bot.feedback.workflow import OPEN, STATES
from bot.figures.window import Window, as_day, vn_day
from bot.knowledge.misses import MISSED
from bot.store.models import (
    Message,
    Notice,
    NoticeBroadcast,
    NoticeDelivery,
    NoticeRelay,
    OutboundMessage,
    Ticket,
    TicketEvent,
)
from bot.text import search_key

#: a ledger row that reached its resident directly (with ``notice_deliveries`` joined to its
#: ``outbound_messages`` and the notice's ``notice_broadcasts``, both outer)
REACHED = or_(
    and_(NoticeDelivery.route == "consultation", OutboundMessage.status == "sent"),
    and_(NoticeDelivery.route == "broadcast", NoticeBroadcast.status == "sent"),
)

#: distinct texts counted in SQL before folding (a commune's month has far fewer questions
#: said more than once; the rest are said once and never reach the top)
TOP_TEXTS = 500
TOP = 10


@dataclass
class Traffic:
    """Residents' messages and how many of them the bot missed."""

    messages: int = 0
    missed: int = 0

    @property
    def answered(self) -> int:
        return self.messages - self.missed

    def __iadd__(self, other: Traffic) -> Traffic:
        self.messages += other.messages
        self.missed += other.missed
        return self


@dataclass
class OnTime:
    on_time: int = 0
    late: int = 0
    overdue: int = 0

    @property
    def judged(self) -> int:
        return self.on_time + self.late + self.overdue

    @property
    def rate(self) -> float | None:
        """On time of all judged (None: nothing was due)."""
        return self.on_time / self.judged if self.judged else None

    def __iadd__(self, other: OnTime) -> OnTime:
        self.on_time += other.on_time
        self.late += other.late
        self.overdue += other.overdue
        return self


@dataclass
class Reach:
    notices: int = 0
    planned: int = 0
    reached: int = 0
    seen: int = 0
    relays: int = 0
    relays_confirmed: int = 0

    def __iadd__(self, other: Reach) -> Reach:
        for name in ("notices", "planned", "reached", "seen", "relays", "relays_confirmed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


@dataclass(frozen=True)
class Question:
    text: str
    count: int
    missed: int


@dataclass
class CommuneFigures:
    """One commune's figures for the window."""

    days: dict[date, Traffic] = field(default_factory=dict)
    states: Counter[str] = field(default_factory=Counter)
    deadlines: OnTime = field(default_factory=OnTime)
    notices: Reach = field(default_factory=Reach)

    @property
    def traffic(self) -> Traffic:
        total = Traffic()
        for t in self.days.values():
            total += t
        return total

    def __iadd__(self, other: CommuneFigures) -> CommuneFigures:
        for day, t in other.days.items():
            self.days.setdefault(day, Traffic())
            self.days[day] += t
        self.states.update(other.states)
        self.deadlines += other.deadlines
        self.notices += other.notices
        return self


@dataclass
class Figures:
    """Every figure of the window, per commune (every commune asked, with zeros), and the top
    questions of them all."""

    window: Window
    communes: dict[int, CommuneFigures]
    questions: list[Question]

    @property
    def total(self) -> CommuneFigures:
        """The sum over the communes (the province's figures)."""
        total = CommuneFigures()
        for one in self.communes.values():
            total += one
        return total

    def series(self, one: CommuneFigures) -> list[tuple[date, Traffic]]:
        """Every day of the window in order, a day without messages as zeros."""
        return [(day, one.days.get(day, Traffic())) for day in self.window.each_day()]


# -- the figures ------------------------------------------------------------------------------
async def traffic(
    s: AsyncSession, commune_ids: Sequence[int], window: Window
) -> dict[int, dict[date, Traffic]]:
    """Residents' messages and misses per commune and Vietnamese day."""
    day = vn_day(Message.created_at)
    rows = await s.execute(
        select(
            Message.commune_id,
            day,
            func.count(),
            func.sum(case((MISSED, 1), else_=0)),
        )
        .where(
            Message.commune_id.in_(commune_ids),
            window.holds(Message.created_at),
            Message.direction == "in",
        )
        .group_by(Message.commune_id, day)
    )
    found: dict[int, dict[date, Traffic]] = {}
    for commune_id, on, n, missed in rows:
        found.setdefault(commune_id, {})[as_day(on)] = Traffic(int(n), int(missed or 0))
    return found


def _is_question(text: str) -> bool:
    return not text.startswith("/") and len(search_key(text).split()) >= 2


async def top_questions(
    s: AsyncSession, commune_ids: Sequence[int], window: Window, limit: int = TOP
) -> list[Question]:
    """The most asked questions of these communes (see the module's words)."""
    said = func.count()
    rows = await s.execute(
        select(Message.text, said, func.sum(case((MISSED, 1), else_=0)))
        .where(
            Message.commune_id.in_(commune_ids),
            window.holds(Message.created_at),
            Message.direction == "in",
            Message.text.is_not(None),
            Message.text != "",
        )
        .group_by(Message.text)
        .order_by(said.desc(), Message.text)
        .limit(TOP_TEXTS)
    )
    counts: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    for raw, n, m in rows:
        text = anonymise(" ".join(str(raw).split()))
        if not _is_question(text):
            continue
        key = search_key(text)
        counts[key] += int(n)
        missed[key] += int(m or 0)
        forms.setdefault(key, Counter())[text] += int(n)
    top = sorted(counts, key=lambda k: (-counts[k], k))[:limit]
    return [
        Question(
            max(forms[k], key=lambda f: (forms[k][f], sum(c > "~" for c in f), f)),
            counts[k],
            missed[k],
        )
        for k in top
    ]


async def ticket_states(
    s: AsyncSession, commune_ids: Sequence[int], window: Window
) -> dict[int, Counter[str]]:
    """Tickets received in the window, by their state now."""
    rows = await s.execute(
        select(Ticket.commune_id, Ticket.status, func.count())
        .where(Ticket.commune_id.in_(commune_ids), window.holds(Ticket.received_at))
        .group_by(Ticket.commune_id, Ticket.status)
    )
    found: dict[int, Counter[str]] = {}
    for commune_id, status, n in rows:
        found.setdefault(commune_id, Counter())[status] = int(n)
    return found


async def deadlines(
    s: AsyncSession, commune_ids: Sequence[int], window: Window, now: datetime
) -> dict[int, OnTime]:
    """Tickets due in the window: on time, late, still overdue (see the module's words)."""
    which = verdict(now)  # one expression: grouped by as selected (its parameters shared)
    rows = await s.execute(
        select(Ticket.commune_id, which, func.count())
        .where(Ticket.commune_id.in_(commune_ids), judged(window, now))
        .group_by(Ticket.commune_id, which)
    )
    found: dict[int, OnTime] = {}
    for commune_id, said, n in rows:
        one = found.setdefault(commune_id, OnTime())
        setattr(one, str(said), getattr(one, str(said)) + int(n))
    return found


def judged(window: Window, now: datetime) -> ColumnElement[bool]:
    """SQL: a ticket judged for its deadline in the window (see the module's words)."""
    return and_(window.holds(Ticket.due_at), or_(Ticket.status.not_in(OPEN), Ticket.due_at <= now))


def verdict(now: datetime) -> ColumnElement[str]:
    """SQL: a judged ticket's verdict, ``on_time`` | ``late`` | ``overdue``."""
    left_open = (
        select(func.max(TicketEvent.at))
        .where(
            TicketEvent.ticket_id == Ticket.id,
            TicketEvent.from_status.in_(OPEN),
            TicketEvent.to_status.not_in(OPEN),
        )
        .scalar_subquery()
    )
    dealt_at = func.coalesce(left_open, Ticket.answered_at, Ticket.closed_at, Ticket.updated_at)
    return case(
        (overdue_clause(now), literal("overdue")),
        (dealt_at <= Ticket.due_at, literal("on_time")),
        else_=literal("late"),
    )


async def notices(s: AsyncSession, commune_ids: Sequence[int], window: Window) -> dict[int, Reach]:
    """Notices sent in the window and their reach (see the module's words)."""
    sent = and_(Notice.commune_id.in_(commune_ids), window.holds(Notice.sent_at))
    found: dict[int, Reach] = {}

    def of(commune_id: int) -> Reach:
        return found.setdefault(commune_id, Reach())

    for commune_id, n in await s.execute(
        select(Notice.commune_id, func.count()).where(sent).group_by(Notice.commune_id)
    ):
        of(commune_id).notices = int(n)
    reached = REACHED
    rows = await s.execute(
        select(
            NoticeDelivery.commune_id,
            func.count(),
            func.sum(case((reached, 1), else_=0)),
            func.count(OutboundMessage.seen_at),
        )
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .outerjoin(OutboundMessage, OutboundMessage.id == NoticeDelivery.outbound_id)
        .outerjoin(NoticeBroadcast, NoticeBroadcast.notice_id == NoticeDelivery.notice_id)
        .where(sent)
        .group_by(NoticeDelivery.commune_id)
    )
    for commune_id, planned, got, seen in rows:
        one = of(commune_id)
        one.planned, one.reached, one.seen = int(planned), int(got or 0), int(seen)
    rows = await s.execute(
        select(NoticeRelay.commune_id, func.count(), func.count(NoticeRelay.confirmed_at))
        .join(Notice, Notice.id == NoticeRelay.notice_id)
        .where(sent)
        .group_by(NoticeRelay.commune_id)
    )
    for commune_id, relays, confirmed in rows:
        of(commune_id).relays, of(commune_id).relays_confirmed = int(relays), int(confirmed)
    return found


async def figures(
    s: AsyncSession, commune_ids: Sequence[int], window: Window, now: datetime
) -> Figures:
    """All of the dashboard's figures for these communes (each listed, zeros included)."""
    ids = list(dict.fromkeys(commune_ids))
    if not ids:
        return Figures(window, {}, [])
    days = await traffic(s, ids, window)
    states = await ticket_states(s, ids, window)
    due = await deadlines(s, ids, window, now)
    sent = await notices(s, ids, window)
    return Figures(
        window,
        {
            cid: CommuneFigures(
                days.get(cid, {}),
                states.get(cid, Counter()),
                due.get(cid, OnTime()),
                sent.get(cid, Reach()),
            )
            for cid in ids
        },
        await top_questions(s, ids, window),
    )


#: the states in the order they are shown (the workflow's)
STATE_ORDER = STATES
