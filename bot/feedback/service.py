"""Tickets: filing, every state change, and what each change tells whom — in one place.

The chat (bot/inbound.py), the staff API (bot/feedback/api.py), Open311 (bot/feedback/open311.py),
the CLI and the SLA clock (bot/feedback/clock.py) all change tickets through ``file_ticket`` and
``change``. Each change writes a ``ticket_events`` row and, when the resident should hear of it,
an outbound row keyed ``ticket:<id>:ev:<event id>`` in the same transaction (so a crash sends
it once or not at all, and staff can see whether it reached the resident). Which change is
allowed from which state, for whom, and what it does: the table in bot/feedback/workflow.py;
the rows themselves: bot/audit.py.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.config import Commune, FeedbackSettings
from bot.envelope import Choice, Choices, Reply, Text
from bot.feedback import access, workflow
from bot.feedback.categories import CATEGORIES
from bot.feedback.masking import anonymise
from bot.feedback.routing import office_name, route
from bot.feedback.sla import calendar
from bot.feedback.workflow import OPEN, STAFF_ACTIONS, TicketError
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
from bot.store.ops import insert_for, outbound_row, table_of
from bot.timeutil import as_utc, to_vn, utcnow

#: what staff may do (bot/feedback/workflow.py's table; the name callers know)
ACTIONS = STAFF_ACTIONS

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
LANE = 0  # ticket messages and staff alerts go in the replies' lane, ahead of any broadcast


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """Open past its answer deadline (the clock's ``overdue_at`` records when it escalated)."""
    return ticket.status in OPEN and as_utc(ticket.due_at) <= now


def overdue_clause(now: datetime):
    """``is_overdue`` as a SQL condition."""
    return Ticket.status.in_(OPEN) & (Ticket.due_at <= now)


async def _next_code(s: AsyncSession, commune_id: int, year: int) -> str:
    """PA-<year>-<n>: a per-commune, per-year counter taken in the filing transaction."""
    stmt = insert_for(s, TicketCounter).values(commune_id=commune_id, year=year, last=1)
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
    audit.ticket(
        s,
        ticket,
        "create",
        actor=report.source if report.source in ("open311", "staff") else "resident",
        staff_id=report.filed_by,
        note="đồng ý lưu tên, số điện thoại" if report.consent else "ẩn danh",
        created=True,
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
    """Apply one action to a locked ticket, by the table in bot/feedback/workflow.py. Raises
    TicketError (nothing changed) when the action does not fit the ticket's state or the
    caller's role; staff are checked, the resident's actions (rate, reopen) the chat allowed."""
    if actor == "staff":
        rule = workflow.check(ticket, action, staff, note)
    elif (found := workflow.ACTIONS.get(action)) is not None:
        rule = found
    else:
        raise TicketError(f"không có thao tác này / unknown action {action}", 404)
    c = workflow.Change(
        ticket,
        commune,
        settings,
        utcnow(),
        staff=staff,
        note=note,
        assignee=assignee,
        office=office,
        body=body,
        duplicate_of=duplicate_of,
        rating=rating,
        public_text=public_text,
    )
    workflow.apply(rule, c)
    event = audit.ticket(
        s,
        ticket,
        action,
        actor=actor,
        staff_id=staff.id if staff else None,
        note=(c.note or "").strip()[:4000] or None,
        from_status=c.before,
        at=c.now,
    )
    await s.flush()
    if c.tell and ticket.resident_id:
        await notify_resident(s, ticket, commune, event, c.tell)
    if rule.answers_duplicates:
        await _answer_duplicates(s, ticket, commune, c.now)
    ticket.updated_at = c.now
    return event


async def _answer_duplicates(
    s: AsyncSession, ticket: Ticket, commune: Commune, now: datetime
) -> None:
    """The answer reaches the reporters of the tickets marked as duplicates of this one."""
    for dup in (
        await s.execute(
            select(Ticket).where(Ticket.duplicate_of == ticket.id, Ticket.status == "duplicate")
        )
    ).scalars():
        dup_event = audit.ticket(
            s, dup, "answer", actor="system", note=f"theo {ticket.code}", at=now
        )
        await s.flush()
        # the original's reporter may be named in the answer: others get it anonymised
        dup.answer, dup.answered_at = anonymise(ticket.answer or "", ticket), now
        if dup.resident_id:
            await notify_resident(s, dup, commune, dup_event, "answered")


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
    await s.execute(table_of(OutboundMessage).insert(), rows)


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
                cast(str, staff.zalo_user_id),  # the query kept those with a Zalo id
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
                cast(str, person.zalo_user_id),  # the query kept those with a Zalo id
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
    audit.ticket(s, ticket, "note", actor="staff", staff_id=staff.id, note=text.strip()[:4000])
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
    event = audit.ticket(s, ticket, "note", actor="resident", note=what[:4000], at=now)
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
                cast(str, staff.zalo_user_id),  # the query kept those with a Zalo id
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
