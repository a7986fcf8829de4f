"""Tickets: filing, every state change, and what each change tells whom — in one place.

The chat (bot/inbound.py), the staff API (bot/feedback/api.py), Open311 (bot/feedback/open311.py),
the CLI and the SLA clock (bot/feedback/clock.py) all change tickets through ``file_ticket`` and
``change``. Each change writes a ``ticket_events`` row and, when the resident should hear of it,
an outbound row keyed ``ticket:<id>:ev:<event id>`` in the same transaction (so a crash sends
it once or not at all, and staff can see whether it reached the resident).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Commune, FeedbackSettings
from bot.envelope import Choice, Choices, Reply, Text
from bot.feedback import access
from bot.feedback.categories import CATEGORIES
from bot.feedback.sla import WorkingCalendar
from bot.i18n import N_, _, gettext_for, in_language_argument
from bot.store.models import (
    OutboundMessage,
    Resident,
    Staff,
    Ticket,
    TicketCounter,
    TicketEvent,
    Village,
)
from bot.store.ops import insert_for, outbound_row
from bot.text import search_key
from bot.timeutil import as_utc, to_vn, utcnow

OPEN = ("received", "assigned", "in_progress")  # the clock runs
ENDED = ("returned", "transferred", "rejected", "duplicate", "closed")
STATES = (*OPEN, "answered", *ENDED)


#: resident-facing names of the states (msgids)
STATE_NAMES = {
    "received": N_("đã tiếp nhận, đang chuyển bộ phận phụ trách"),
    "assigned": N_("đã giao cán bộ phụ trách"),
    "in_progress": N_("đang xử lý"),
    "answered": N_("đã có trả lời"),
    "closed": N_("đã hoàn thành"),
    "returned": N_("được trả lại (không thuộc thẩm quyền của xã hoặc thiếu thông tin)"),
    "transferred": N_("đã chuyển cơ quan có thẩm quyền"),
    "rejected": N_("không được thụ lý"),
    "duplicate": N_("trùng với phản ánh khác đang được xử lý"),
}
CODE_RE = re.compile(r"^PA-\d{4}-\d{6}$")
LANE = 0  # ticket messages and staff alerts go in the replies' lane, ahead of any broadcast
#: staff actions: the states they apply to, the state they lead to (None: unchanged), the roles
ACTIONS: dict[str, tuple[tuple[str, ...], str | None, tuple[str, ...]]] = {
    "accept": (("received", "assigned"), "in_progress", ("officer", "leader")),
    "assign": (OPEN, "assigned", ("officer", "leader")),
    # to another office: back to "received" there, unassigned; to an outside body: transferred
    "transfer": (OPEN, None, ("officer", "leader")),
    "return": (OPEN, "returned", ("officer", "leader")),
    "reject": (OPEN, "rejected", ("officer", "leader")),
    "duplicate": (OPEN, "duplicate", ("officer", "leader")),
    "answer": ((*OPEN, "answered"), "answered", ("officer", "leader")),
    "close": (("answered",), "closed", ("officer", "leader")),
    "publish": (("answered", "closed"), None, ("officer", "leader")),
    "note": (STATES, None, ("officer", "leader", "propagandist")),
}
NEEDS_NOTE = {
    "return": "lý do trả lại",
    "reject": "lý do không thụ lý",
    "answer": "nội dung trả lời",
    "note": "nội dung ghi chú",
}


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """Open past its answer deadline (the clock's ``overdue_at`` records when it escalated)."""
    return ticket.status in OPEN and as_utc(ticket.due_at) <= now


def overdue_clause(now: datetime):  # type: ignore[no-untyped-def]
    """``is_overdue`` as a SQL condition."""
    return Ticket.status.in_(OPEN) & (Ticket.due_at <= now)


class TicketError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


_CALENDARS: dict[str, tuple[Commune, FeedbackSettings, WorkingCalendar]] = {}


def calendar(commune: Commune, settings: FeedbackSettings) -> WorkingCalendar:
    """The commune's calendar, built once per configuration."""
    cached = _CALENDARS.get(commune.code)
    if cached is None or cached[0] is not commune or cached[1] is not settings:
        cached = _CALENDARS[commune.code] = (commune, settings, WorkingCalendar(commune, settings))
    return cached[2]


def route(commune: Commune, category: str, village: str | None) -> str:
    """The office a report goes to: the first rule matching category × village, else the
    commune's first office."""
    vkey = search_key(village) if village else None
    for rule in commune.routing:
        if rule.category not in ("*", category):
            continue
        if rule.villages and vkey not in {search_key(v) for v in rule.villages}:
            continue
        return rule.office
    return commune.offices[0].code


def office_name(commune: Commune, code: str) -> str:
    return next((o.name for o in commune.offices if o.code == code), code)


async def _next_code(s: AsyncSession, commune_id: int, year: int) -> str:
    """PA-<year>-<n>: a per-commune, per-year counter taken in the filing transaction."""
    insert = pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(TicketCounter).values(commune_id=commune_id, year=year, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[TicketCounter.commune_id, TicketCounter.year],
        set_={"last": TicketCounter.last + 1},
    ).returning(TicketCounter.last)
    number = (await s.execute(stmt)).scalar_one()
    return f"PA-{year}-{number:06d}"


@dataclass
class Report:
    """What a resident (or an Open311 client) reports."""

    category: str
    description: str
    source: str
    resident: Resident | None = None
    village_id: int | None = None
    media: list[dict[str, Any]] | None = None
    lat: float | None = None
    long: float | None = None
    address: str | None = None
    consent: bool = False
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    filed_by: int | None = None  # the staff member who took it (phone, office, Open311 key)
    #: the chat's triage decision (bot/feedback/triage.py); None: the category's default
    emergency: bool | None = None


async def file_ticket(
    s: AsyncSession,
    commune_id: int,
    commune: Commune,
    settings: FeedbackSettings,
    report: Report,
    now: datetime | None = None,
) -> Ticket:
    """A new ticket, routed, with its deadlines; the village's propagandist and (for an
    emergency) the leaders and the office are told at once."""
    if report.category not in CATEGORIES:
        raise TicketError(f"category: loại không hợp lệ / one of {', '.join(CATEGORIES)}")
    now = as_utc(now or utcnow())
    cal = calendar(commune, settings)
    category = CATEGORIES[report.category]
    emergency = category.emergency if report.emergency is None else report.emergency
    ack_due, due = cal.deadlines(report.category, now, emergency)
    village = await s.get(Village, report.village_id) if report.village_id else None
    resident = report.resident
    ticket = Ticket(
        commune_id=commune_id,
        code=await _next_code(s, commune_id, to_vn(now).year),
        token=secrets.token_urlsafe(18),
        source=report.source,
        resident_id=resident.id if resident else None,
        category=report.category,
        emergency=emergency,
        village_id=village.id if village else None,
        description=report.description.strip()[:4000],
        media=report.media or [],
        lat=report.lat,
        long=report.long,
        address=report.address,
        consent_at=now if report.consent else None,
        reporter_name=(report.name or (resident.display_name if resident else None))
        if report.consent
        else None,
        reporter_phone=(report.phone or (resident.phone if resident else None))
        if report.consent
        else None,
        reporter_email=report.email if report.consent else None,
        status="received",
        office=route(commune, report.category, village.name if village else None),
        received_at=now,
        ack_due_at=ack_due,
        due_at=due,
        reopened=0,
        progress_sent=0,
        next_progress_at=None
        if emergency
        else cal.morning_after(now, settings.progress_every_days),
        warn_at=cal.warn_at(report.category, now, due, emergency),
    )
    s.add(ticket)
    await s.flush()
    s.add(
        TicketEvent(
            commune_id=commune_id,
            ticket_id=ticket.id,
            actor=report.source if report.source in ("open311", "staff") else "resident",
            staff_id=report.filed_by,
            action="create",
            from_status=None,
            to_status="received",
            note="đồng ý lưu tên, số điện thoại" if report.consent else "ẩn danh",
        )
    )
    await tell_staff(s, ticket, commune, "new")
    return ticket


async def change(
    s: AsyncSession,
    ticket: Ticket,
    commune: Commune,
    settings: FeedbackSettings,
    action: str,
    *,
    actor: str = "staff",
    staff: Staff | None = None,
    note: str | None = None,
    assignee: Staff | None = None,
    office: str | None = None,
    body: str | None = None,
    duplicate_of: Ticket | None = None,
    rating: int | None = None,
    public_text: str | None = None,
) -> TicketEvent:
    """Apply one action to a locked ticket. Raises TicketError (nothing changed) when the
    action does not fit the ticket's state or the caller's role."""
    now = utcnow()
    if actor == "staff":
        if action not in ACTIONS:
            raise TicketError(f"không có thao tác này / action: one of {', '.join(ACTIONS)}", 404)
        allowed_from, _to, roles = ACTIONS[action]
        if staff is None or staff.role not in roles:
            raise TicketError("vai trò này không được làm việc này / role may not do this", 403)
        if ticket.status not in allowed_from:
            raise TicketError(
                f"không thể {action} khi phản ánh đang '{ticket.status}' / cannot "
                f"{action} a ticket that is {ticket.status}",
                409,
            )
        if action in NEEDS_NOTE and not (note or "").strip():
            raise TicketError(f"note: cần {NEEDS_NOTE[action]} / note is required")
    before = ticket.status
    to = ACTIONS[action][1] if action in ACTIONS else None
    tell: str | None = None  # the resident hears this message key
    if action == "accept":
        ticket.assignee_id = ticket.assignee_id or staff.id
        ticket.acked_at = ticket.acked_at or now
        tell = "accepted"
    elif action == "assign":
        if (
            assignee is None
            or assignee.commune_id != ticket.commune_id
            or assignee.role not in ("officer", "leader")
            or not assignee.active
        ):
            raise TicketError("assignee: một cán bộ của xã / an officer of this commune")
        ticket.assignee_id = assignee.id
        ticket.office = assignee.office or ticket.office
        ticket.acked_at = ticket.acked_at or now
        note = note or f"giao cho {assignee.name}"
        tell = "assigned" if before == "received" else None
    elif action == "transfer":
        if bool(office) == bool(body):
            raise TicketError(
                "transfer: cho một trong hai: office (bộ phận của xã) hoặc body "
                "(cơ quan bên ngoài) / give office or body"
            )
        if office:
            if office not in {o.code for o in commune.offices}:
                raise TicketError(
                    "office: không có bộ phận này / one of "
                    f"{', '.join(o.code for o in commune.offices)}"
                )
            ticket.office, ticket.assignee_id, to = office, None, "received"
            note = f"→ {office_name(commune, office)}" + (f": {note}" if note else "")
        else:
            if not body.strip():
                raise TicketError("body: tên cơ quan nhận / the receiving body's name")
            ticket.transferred_to, to = body.strip()[:200], "transferred"
            ticket.acked_at = ticket.acked_at or now
            tell = "transferred"
    elif action in ("return", "reject"):
        ticket.acked_at = ticket.acked_at or now
        tell = action
    elif action == "duplicate":
        if (
            duplicate_of is None
            or duplicate_of.id == ticket.id
            or duplicate_of.commune_id != ticket.commune_id
        ):
            raise TicketError("of: mã một phản ánh khác của xã / another ticket of this commune")
        if duplicate_of.status not in OPEN:
            raise TicketError(
                "of: phản ánh gốc phải đang được xử lý; nếu đã có trả lời, hãy trả "
                "lời phản ánh này / the original must still be open",
                409,
            )
        ticket.duplicate_of = duplicate_of.id
        note = f"trùng {duplicate_of.code}" + (f": {note}" if note else "")
        tell = "duplicate"
    elif action == "answer":
        ticket.answer = note.strip()
        ticket.answered_at = now
        ticket.acked_at = ticket.acked_at or now
        tell = "answered"
    elif action == "close":
        ticket.closed_at = now
        tell = "closed"
    elif action == "publish":
        if CATEGORIES[ticket.category].sensitive:
            raise TicketError(
                "phản ánh thuộc loại nhạy cảm không được công khai / a ticket of "
                "a sensitive category is never public",
                409,
            )
        text = (public_text or ticket.answer or "").strip()
        if not text:
            raise TicketError("text: nội dung công khai / the text to publish")
        ticket.public_answer = anonymise(text, ticket)
        ticket.published_at = now
    elif action == "rate":
        ticket.rating = rating
        ticket.closed_at = now
        to = "closed"
    elif action == "reopen":
        cal = calendar(commune, settings)
        ticket.reopened += 1
        ticket.answered_at = ticket.closed_at = ticket.rating = None
        ticket.due_at = cal.deadlines(ticket.category, now, ticket.emergency)[1]
        ticket.warn_at = cal.warn_at(ticket.category, now, ticket.due_at, ticket.emergency)
        ticket.overdue_at = None
        ticket.next_progress_at = (
            None if ticket.emergency else cal.morning_after(now, settings.progress_every_days)
        )
        to = "in_progress"
        tell = "reopened"
    elif action not in ("note", "progress", "overdue", "warn"):
        raise TicketError(f"không có thao tác này / unknown action {action}", 404)
    if to is not None:
        ticket.status = to
    if ticket.status not in OPEN:
        ticket.next_progress_at = None
        ticket.warn_at = None
    event = TicketEvent(
        commune_id=ticket.commune_id,
        ticket_id=ticket.id,
        actor=actor,
        staff_id=staff.id if staff else None,
        action=action,
        from_status=before,
        to_status=ticket.status,
        note=(note or "").strip()[:4000] or None,
        at=now,
    )
    s.add(event)
    await s.flush()
    if tell and ticket.resident_id:
        await notify_resident(s, ticket, commune, event, tell)
    if action == "answer":
        for dup in (
            await s.execute(
                select(Ticket).where(Ticket.duplicate_of == ticket.id, Ticket.status == "duplicate")
            )
        ).scalars():
            dup_event = TicketEvent(
                commune_id=dup.commune_id,
                ticket_id=dup.id,
                actor="system",
                action="answer",
                from_status="duplicate",
                to_status="duplicate",
                note=f"theo {ticket.code}",
                at=now,
            )
            s.add(dup_event)
            await s.flush()
            # the original's reporter may be named in the answer: others get it anonymised
            dup.answer, dup.answered_at = anonymise(ticket.answer, ticket), now
            if dup.resident_id:
                await notify_resident(s, dup, commune, dup_event, "answered")
    ticket.updated_at = now
    return event


_PHONE = re.compile(r"(?<!\d)(?:\+?84|\(?0)(?:[\s.)-]{0,2}\d){8,10}(?!\d)")  # (0214) 3880 123
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
#: CMND (9 digits) and CCCD (12 digits), written whole or in groups (001 234 567 890,
#: 001-234-567-890); dots
#: are left alone, since 100.000.000 is an amount of money
_ID_CARD = re.compile(
    r"(?<![\d.,])(?:\d{12}|\d{9}|\d{3}(?:[ -]\d{3}){3}|\d{4}(?:[ -]\d{4}){2}|"
    r"\d{3}(?:[ -]\d{3}){2})(?![\d.,]?\d)"
)


def anonymise(text: str, ticket: Ticket | None = None) -> str:
    """Text for the public — the one masking function, used wherever a ticket's words are
    shown outside the commune: phone numbers, e-mail addresses, ID-card numbers (CMND 9 digits,
    CCCD 12) and the reporter's name taken out."""
    text = _EMAIL.sub("***", text)
    text = _ID_CARD.sub("***", text)  # before phones: a CCCD starts with 0 too
    text = _PHONE.sub("***", text)
    if ticket is not None and ticket.reporter_name:
        text = re.sub(rf"(?<!\w){re.escape(ticket.reporter_name)}(?!\w)", "***", text, flags=re.I)
    return text


def status_line(ticket: Ticket) -> str:
    return _(STATE_NAMES[ticket.status])


def when_text(ticket: Ticket, now: datetime | None = None) -> str:
    """When the resident will hear back, said for the moment it is read (in the current
    language)."""
    due, today = to_vn(ticket.due_at), to_vn(now or utcnow()).date()
    if due.date() < today or (due.date() == today and as_utc(ticket.due_at) < (now or utcnow())):
        return _("sớm nhất có thể (đã quá hạn {date}, xã xin lỗi anh/chị)").format(
            date=f"{due:%d/%m/%Y}"
        )
    if due.date() == today:
        return _("trong ngày hôm nay (trước {time})").format(time=f"{due:%H:%M}")
    if (due.date() - today).days == 1:
        return _("trước {time} ngày mai ({date})").format(
            time=f"{due:%H:%M}", date=f"{due:%d/%m/%Y}"
        )
    return _("trước {time} ngày {date}").format(time=f"{due:%H:%M}", date=f"{due:%d/%m/%Y}")


async def _resident(s: AsyncSession, ticket: Ticket) -> Resident | None:
    return await s.get(Resident, ticket.resident_id) if ticket.resident_id else None


@in_language_argument
def resident_message(
    ticket: Ticket,
    commune: Commune,
    what: str,
    language: str,
    transferred_to: str | None = None,
    note: str | None = None,
    other: str | None = None,
) -> list[Reply]:
    """What the resident reads about their ticket, for each kind of change (in ``language``,
    theirs: staff change the ticket, outside the resident's turn)."""
    head = _("Phản ánh {code}:").format(code=ticket.code)
    if what == "accepted":
        text = _("{head} {office} đã tiếp nhận và đang xử lý. Xã sẽ trả lời anh/chị {when}.")
        return [
            Text(
                text.format(
                    head=head, office=office_name(commune, ticket.office), when=when_text(ticket)
                )
            )
        ]
    if what == "assigned":
        return [
            Text(
                _("{head} đã được giao cán bộ phụ trách. Xã sẽ trả lời anh/chị {when}.").format(
                    head=head, when=when_text(ticket)
                )
            )
        ]
    if what == "transferred":
        return [
            Text(
                _(
                    "{head} việc này thuộc thẩm quyền của {body}; xã đã chuyển phản ánh "
                    "đến {body} để giải quyết."
                ).format(head=head, body=transferred_to)
            )
        ]
    if what == "return":
        return [
            Text(
                _(
                    "{head} xã trả lại phản ánh vì: {note}. Anh/chị có thể gửi lại khi có "
                    "thêm thông tin."
                ).format(head=head, note=note)
            )
        ]
    if what == "reject":
        return [
            Text(_("{head} xã không thụ lý phản ánh này vì: {note}.").format(head=head, note=note))
        ]
    if what == "duplicate":
        return [
            Text(
                _(
                    "{head} việc này trùng với phản ánh {other} xã đang xử lý; anh/chị "
                    "sẽ nhận kết quả cùng phản ánh đó."
                ).format(head=head, other=other)
            )
        ]
    if what == "answered":
        return [
            Text(_("{head} xã trả lời:\n{answer}").format(head=head, answer=ticket.answer)),
            rating_question(ticket, language),
        ]
    if what == "closed":
        return [
            Text(_("{head} xã đã hoàn thành xử lý. Cảm ơn anh/chị đã phản ánh.").format(head=head))
        ]
    if what == "reopened":
        return [
            Text(
                _(
                    "{head} xã đã mở lại phản ánh và sẽ trả lời anh/chị {when}. Anh/chị có "
                    "thể nhắn thêm tình hình hiện nay."
                ).format(head=head, when=when_text(ticket))
            )
        ]
    if what == "progress":
        return [
            Text(
                _(
                    "{head} xã vẫn đang xử lý ({state}). Xã sẽ trả lời anh/chị {when}. "
                    "Cảm ơn anh/chị đã kiên nhẫn."
                ).format(head=head, state=status_line(ticket), when=when_text(ticket))
            )
        ]
    raise ValueError(what)


@in_language_argument
def rating_question(ticket: Ticket, language: str) -> Choices:
    return Choices(
        _(
            "Anh/chị hài lòng với cách xã giải quyết không? Chọn từ 1 (không hài "
            "lòng) đến 5 (rất hài lòng), hoặc 6 nếu việc chưa được giải quyết:"
        ),
        (
            Choice(_("1 - Không hài lòng"), f"/rate {ticket.code} 1"),
            Choice(_("2 - Chưa hài lòng"), f"/rate {ticket.code} 2"),
            Choice(_("3 - Tạm được"), f"/rate {ticket.code} 3"),
            Choice(_("4 - Hài lòng"), f"/rate {ticket.code} 4"),
            Choice(_("5 - Rất hài lòng"), f"/rate {ticket.code} 5"),
            Choice(_("6 - Chưa giải quyết xong, mở lại"), f"/reopen {ticket.code}"),
        ),
    )


async def notify_resident(
    s: AsyncSession, ticket: Ticket, commune: Commune, event: TicketEvent, what: str
) -> None:
    resident = await _resident(s, ticket)
    if resident is None or resident.erased_at is not None:
        return
    other = None
    if ticket.duplicate_of:
        other = (
            await s.execute(select(Ticket.code).where(Ticket.id == ticket.duplicate_of))
        ).scalar_one_or_none()
    replies = resident_message(
        ticket, commune, what, resident.language, ticket.transferred_to, event.note, other
    )
    key = f"ticket:{ticket.id}:ev:{event.id}"
    event.outbound_key = key
    rows = [
        outbound_row(
            ticket.commune_id,
            resident.id,
            resident.channel,
            resident.external_id,
            key if n == 0 else f"{key}:{n}",
            reply,
            LANE,
        )
        for n, reply in enumerate(replies)
    ]
    await s.execute(OutboundMessage.__table__.insert(), rows)


async def tell_staff(s: AsyncSession, ticket: Ticket, commune: Commune, what: str) -> int:
    """The village's propagandist hears of a new report from their village (without the
    reporter's identity) and can add what they know; for an emergency, a deadline near or
    passed, the leaders and the office's officers hear it on Zalo. Returns messages queued."""
    _ = gettext_for("vi")
    category = _(CATEGORIES[ticket.category].name)
    village = await s.get(Village, ticket.village_id) if ticket.village_id else None
    where = village.name if village else _("chưa rõ thôn")
    due = to_vn(ticket.due_at)
    targets: list[tuple[Staff, str]] = []
    if what == "new" and village is not None and not CATEGORIES[ticket.category].sensitive:
        text = _(
            "Phản ánh mới ở {village} ({code}, {category}): {description}\nAnh/chị biết "
            "thêm tình hình, nhắn: {code}: <nội dung>"
        ).format(
            village=where, code=ticket.code, category=category, description=ticket.description[:500]
        )
        for staff in (
            await s.execute(
                select(Staff).where(
                    Staff.commune_id == ticket.commune_id,
                    Staff.role == "propagandist",
                    Staff.village_id == village.id,
                    Staff.active.is_(True),
                    Staff.zalo_user_id.is_not(None),
                )
            )
        ).scalars():
            targets.append((staff, text))
    alert = {
        "new": _(
            "KHẨN: phản ánh {code} ({category}) ở {village}: {description}. Hạn xử lý "
            "{time} ngày {date}."
        ),
        "warn": _(
            "Sắp đến hạn: phản ánh {code} ({category}, {village}) phải trả lời trước "
            "{time} ngày {date}."
        ),
        "overdue": _(
            "QUÁ HẠN: phản ánh {code} ({category}, {village}) đã quá hạn trả lời "
            "({time} ngày {date})."
        ),
        "unacknowledged": _(
            "Chưa thụ lý: phản ánh {code} ({category}, {village}) chưa được "
            "bộ phận nào nhận xử lý; đã đến hạn báo cho người dân."
        ),
    }[what]
    if what != "new" or ticket.emergency:
        text = alert.format(
            code=ticket.code,
            category=category,
            village=where,
            description=ticket.description[:300],
            time=f"{due:%H:%M}",
            date=f"{due:%d/%m/%Y}",
        )
        targets += [
            (staff, text)
            for staff in await _desk(s, ticket.commune_id, ticket.office, ticket.assignee_id)
        ]
    return await _queue_once(
        s,
        [
            outbound_row(
                ticket.commune_id,
                None,
                "zalo",
                staff.zalo_user_id,
                f"ticket:{ticket.id}:{what}:{ticket.reopened}:staff:{staff.id}",
                Text(text),
                LANE,
            )
            for staff, text in targets
        ],
    )


async def _desk(
    s: AsyncSession,
    commune_id: int,
    office: str,
    assignee_id: int | None = None,
    leaders: bool = True,
) -> list[Staff]:
    """Who is alerted on Zalo about a ticket or a waiting resident: the leaders (unless
    ``leaders`` is false), the officers of ``office`` and the assignee — those reachable on
    Zalo."""
    desk = (Staff.role == "officer") & (Staff.office == office)
    if assignee_id:
        desk = desk | (Staff.id == assignee_id)
    return list(
        (
            await s.execute(
                select(Staff).where(
                    Staff.commune_id == commune_id,
                    Staff.active.is_(True),
                    Staff.zalo_user_id.is_not(None),
                    ((Staff.role == "leader") | desk) if leaders else desk,
                )
            )
        ).scalars()
    )


async def _queue_once(s: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Queue staff alerts; one already queued under the same key is not queued again.
    Returns how many were new."""
    if not rows:
        return 0
    result = await s.execute(
        insert_for(s, OutboundMessage)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(OutboundMessage.id)
    )
    return len(result.all())


_NOTE = re.compile(r"^\s*(PA-\d{4}-\d{6})\s*:\s*(\S.*)$", re.I | re.S)


def propagandist_note(text: str | None) -> tuple[str, str] | None:
    """ "PA-2026-000123: đã ra xem, sạt khoảng 10 m" → (code, text)."""
    m = _NOTE.match(text or "")
    return (m.group(1).upper(), m.group(2)) if m else None


async def tell_staff_of_handoff(
    s: AsyncSession,
    commune_id: int,
    commune: Commune,
    handoff_id: int,
    reason: str,
    channel: str = "zalo",
) -> int:
    """A resident waits for a person: the leader and the first office's officers hear it on
    Zalo (the inbox is ``GET …/handoffs``), with where the resident writes."""
    _ = gettext_for("vi")
    where = (
        _("trang hỏi đáp trên cổng thông tin") if channel == "webchat" else _("trang Zalo của xã")
    )
    text = _(
        "Một người dân đang chờ cán bộ trả lời trên {where} (cuộc trò chuyện #{id}, "
        "{why}). Xem và trả lời trong hộp thư của xã."
    ).format(
        where=where,
        id=handoff_id,
        why=_("người dân muốn gặp cán bộ") if reason == "asked" else _("trợ lý không hiểu câu hỏi"),
    )
    return await _queue_once(
        s,
        [
            outbound_row(
                commune_id,
                None,
                "zalo",
                person.zalo_user_id,
                f"handoff:{handoff_id}:staff:{person.id}",
                Text(text),
                LANE,
            )
            for person in await _desk(s, commune_id, commune.offices[0].code)
        ],
    )


async def add_propagandist_note(
    s: AsyncSession, staff: Staff, commune: Commune, code: str, text: str
) -> Ticket | None:
    """A propagandist's "PA-2026-000123: …" in the chat (``staff``: who wrote it, as
    ``bot.chat_staff.sender`` decided): a note on a ticket they may read (their village's, not
    sensitive). None when they may not: the message is then an ordinary one."""
    ticket = (
        await s.execute(
            select(Ticket)
            .where(Ticket.commune_id == staff.commune_id, Ticket.code == code)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if ticket is None or not access.may_read(staff, ticket, commune):
        return None
    commune_id = staff.commune_id
    s.add(
        TicketEvent(
            commune_id=commune_id,
            ticket_id=ticket.id,
            actor="staff",
            staff_id=staff.id,
            action="note",
            from_status=ticket.status,
            to_status=ticket.status,
            note=text.strip()[:4000],
        )
    )
    ticket.updated_at = utcnow()
    return ticket


#: what staff are told when a resident adds to their ticket, by why they added
_NOTE_ALERTS = {
    "reopened": N_("Người dân bổ sung phản ánh {code} ({category}) vừa mở lại: {text}"),
    "emergency": N_("KHẨN – tin thêm về phản ánh {code} ({category}): {text}"),
    "attachment": N_("Người dân gửi thêm cho phản ánh {code} ({category}): {text}"),
}


async def add_resident_note(
    s: AsyncSession,
    ticket: Ticket,
    commune: Commune,
    text: str,
    media: list[dict[str, Any]],
    now: datetime,
    why: str = "reopened",
) -> TicketEvent:
    """What the resident adds to their ticket (after reopening it, more news of their
    emergency, a photo just after filing): a ``note`` event staff see in the history, a photo
    kept with the ticket's media, and the ticket's office and assignee told on Zalo — the
    leaders too when it is an emergency."""
    if media:
        ticket.media = [*(ticket.media or []), *media][:10]
    what = text or "(ảnh/vị trí)"
    event = TicketEvent(
        commune_id=ticket.commune_id,
        ticket_id=ticket.id,
        actor="resident",
        action="note",
        from_status=ticket.status,
        to_status=ticket.status,
        note=what[:4000],
        at=now,
    )
    s.add(event)
    await s.flush()
    ticket.updated_at = now
    _ = gettext_for("vi")
    alert = _(_NOTE_ALERTS[why]).format(
        code=ticket.code, category=_(CATEGORIES[ticket.category].name), text=what[:300]
    )
    await _queue_once(
        s,
        [
            outbound_row(
                ticket.commune_id,
                None,
                "zalo",
                staff.zalo_user_id,
                f"ticket:{ticket.id}:note:{event.id}:staff:{staff.id}",
                Text(alert),
                LANE,
            )
            for staff in await _desk(
                s,
                ticket.commune_id,
                ticket.office,
                ticket.assignee_id,
                leaders=bool(ticket.emergency),
            )
        ],
    )
    return event


async def by_code(s: AsyncSession, commune_id: int, code: str, lock: bool = False) -> Ticket | None:
    query = select(Ticket).where(Ticket.commune_id == commune_id, Ticket.code == code.upper())
    return (await s.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
