"""What the chat's feedback effects do in the store, inside the inbound processor's
transaction: file a ticket, look one up, rate or reopen one, add a note, take consent or a
phone, hand the conversation to staff. ``apply`` is the one door (typed effects,
bot/conversation/types.py) and returns the replies the resident gets, in the resident's
language: it makes it the current one (bot/i18n.py) for everything it calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, chat_staff
from bot.config import Commune, FeedbackSettings
from bot.conversation.types import (
    Consent,
    Effect,
    FileTicket,
    HandOff,
    Phone,
    Rate,
    Reopen,
    TicketNote,
    TicketStatus,
)
from bot.envelope import Reply, RequestUserInfo, Text
from bot.feedback import access, flood, service, sla, workflow
from bot.feedback.categories import CATEGORIES
from bot.feedback.chat import consent_question, hotline, media_of, phone_question
from bot.feedback.phone import display as display_phone
from bot.feedback.sla import WorkingCalendar
from bot.i18n import N_, _, use_language
from bot.store.models import Conversation, Handoff, Resident, Ticket
from bot.store.ops import village_by_name
from bot.timeutil import to_vn, utcnow

WEEKDAYS = (
    N_("thứ Hai"),
    N_("thứ Ba"),
    N_("thứ Tư"),
    N_("thứ Năm"),
    N_("thứ Sáu"),
    N_("thứ Bảy"),
    N_("Chủ nhật"),
)
CONSENT_IMAGE = "https://stc-zaloprofile.zdn.vn/pc/v1/images/logo.svg"


async def apply(
    s: AsyncSession,
    commune_id: int,
    commune: Commune,
    settings: FeedbackSettings,
    resident: Resident,
    conv: Conversation,
    effect: Effect,
    now: datetime,
) -> list[Reply]:
    """The one door of the chat's feedback into the store: one effect of a turn (the engine's,
    or a handler's — an emergency told while staff have the conversation), carried out; the
    replies it needs (a ticket's code, its state)."""
    with use_language(resident.language):
        if isinstance(effect, FileTicket):
            return await _file(
                s, commune_id, commune, settings, resident, conv, effect.as_dict(), now
            )
        if isinstance(effect, TicketStatus):
            return await _status(s, commune_id, commune, resident, effect.code)
        if isinstance(effect, (Rate, Reopen)):
            return await _rate(
                s, commune_id, commune, settings, resident, effect.as_dict(), conv, now
            )
        if isinstance(effect, TicketNote):
            return await _note(s, commune_id, commune, resident, conv, effect.as_dict(), now)
        if isinstance(effect, Consent):
            return await _consent(s, commune_id, resident, conv, effect.as_dict(), now)
        if isinstance(effect, Phone):
            return await _phone(s, commune_id, resident, conv, effect.as_dict(), now)
        if isinstance(effect, HandOff):
            return await _handoff(
                s, commune_id, commune, settings, resident, conv, effect.reason, now
            )
    return []


async def _file(
    s: AsyncSession,
    commune_id: int,
    commune: Commune,
    settings: FeedbackSettings,
    resident: Resident,
    conv: Conversation,
    form: dict[str, Any],
    now: datetime,
) -> list[Reply]:
    if refusal := await flood.refused(
        s,
        commune,
        settings.web_reports,
        resident,
        form["category"],
        now,
        bool(form.get("emergency")),
    ):
        return refusal  # the public web chat: too many reports from this session or address
    village_id = None
    if form.get("village"):
        village = await village_by_name(s, commune_id, form["village"])
        village_id = village.id if village else None
    ticket = await service.file_ticket(
        s,
        commune_id,
        commune,
        settings,
        service.Report(
            category=form["category"],
            description=form.get("description") or "",
            source="zalo" if resident.channel == "zalo" else resident.channel,
            resident=resident,
            village_id=village_id,
            media=form.get("media"),
            lat=form.get("lat"),
            long=form.get("long"),
            consent=bool(form.get("consent")),
            emergency=bool(form.get("emergency")),
        ),
        now,
    )
    ticket.origin_key = resident.origin_key  # web chat: counted per address (flood.py)
    lines = [
        _("Xã đã nhận phản ánh của anh/chị. Mã phản ánh: {code}. Xã sẽ trả lời {when}.").format(
            code=ticket.code, when=service.when_text(ticket)
        )
    ]
    if ticket.emergency:
        lines.append(_("Việc khẩn cấp đã được báo ngay cho lãnh đạo xã."))
        # what the resident adds about it in the next minutes goes to this ticket
        conv.state = {
            **(conv.state or {}),
            "emergency": {"code": ticket.code, "category": ticket.category, "at": now.timestamp()},
        }
        # the number and first advice came first, from the triage (engine); else the number
        if not form.get("emergency_kind") and (call := hotline(ticket.category)):
            lines.append(call)
    lines.append(_("Muốn hỏi tình hình, anh/chị nhắn: {code} sao rồi").format(code=ticket.code))
    if form.get("consent") is False:
        lines.append(
            _("Phản ánh được gửi ẩn danh: cán bộ không thấy tên, số điện thoại của anh/chị.")
        )
    replies: list[Reply] = [Text("\n".join(lines))]
    conv.state = {**(conv.state or {}), "filed": {"code": ticket.code, "at": now.timestamp()}}
    if form.get("consent") is None:  # an emergency, filed first: now ask
        question = consent_question(ticket.code)
        replies.append(question)
        conv.state = {
            **(conv.state or {}),
            "consent_for": ticket.code,
            "choices": [c.payload for c in question.options],
        }
    elif ticket.consent_at:
        replies += _phone_request(ticket, resident, conv)
    return replies


def _phone_request(ticket: Ticket, resident: Resident, conv: Conversation) -> list[Reply]:
    """With consent and no phone on record: on Zalo, the card that lets the resident share
    it; on the web chat, the question (its answer: ``_phone``)."""
    if ticket.reporter_phone:
        return []
    if resident.channel == "webchat":
        question = phone_question(ticket.code)
        conv.state = {
            **(conv.state or {}),
            "phone_for": ticket.code,
            "choices": [c.payload for c in question.options],
        }
        return [question]
    if resident.channel != "zalo":
        return []
    return [
        RequestUserInfo(
            _("Gửi số điện thoại cho xã"),
            _("Để cán bộ gọi lại về phản ánh {code}").format(code=ticket.code),
            CONSENT_IMAGE,
        )
    ]


async def _phone(
    s: AsyncSession,
    commune_id: int,
    resident: Resident,
    conv: Conversation,
    effect: dict[str, Any],
    now: datetime,
) -> list[Reply]:
    """The web chat resident's answer to the phone question: kept on the ticket and the
    resident only because they agreed (the ticket's consent)."""
    if effect.get("invalid"):
        question = phone_question(effect["code"])
        conv.state = {**(conv.state or {}), "choices": [c.payload for c in question.options]}
        # the examples are patterns, not numbers: the page makes numbers tappable
        return [
            Text(
                _(
                    "Số điện thoại chưa đúng. Số di động có 10 chữ số (dạng 09xx xxx xxx), "
                    "số cố định có mã vùng (dạng 02xx xxx xxxx)."
                )
            ),
            question,
        ]
    ticket = await service.by_code(s, commune_id, effect["code"], lock=True)
    if ticket is None or ticket.resident_id != resident.id or not ticket.consent_at:
        return []
    if effect.get("phone") is None:
        return [
            Text(
                _("Dạ, xã sẽ trả lời anh/chị ngay tại trang này về phản ánh {code}.").format(
                    code=ticket.code
                )
            )
        ]
    ticket.reporter_phone = resident.phone = effect["phone"]
    resident.consent_at = resident.consent_at or now
    resident.consent_source = resident.consent_source or "webchat_report"
    audit.ticket(s, ticket, "phone", actor="resident", note="người dân để lại số điện thoại")
    return [
        Text(
            _("Cảm ơn anh/chị. Cán bộ sẽ gọi số {phone} khi cần về phản ánh {code}.").format(
                phone=display_phone(effect["phone"]), code=ticket.code
            )
        )
    ]


async def _consent(
    s: AsyncSession,
    commune_id: int,
    resident: Resident,
    conv: Conversation,
    effect: dict[str, Any],
    now: datetime,
) -> list[Reply]:
    """The answer to "may we keep your name and phone?" after an emergency was filed."""
    ticket = await service.by_code(s, commune_id, effect["code"], lock=True)
    if ticket is None or ticket.resident_id != resident.id:
        return []
    if not effect["consent"]:
        return [Text(_("Dạ, phản ánh {code} được giữ ẩn danh.").format(code=ticket.code))]
    ticket.consent_at = now
    ticket.reporter_name, ticket.reporter_phone = resident.display_name, resident.phone
    audit.ticket(s, ticket, "consent", actor="resident", note="đồng ý lưu tên, số điện thoại")
    return [
        Text(
            _("Cảm ơn anh/chị. Cán bộ sẽ liên hệ khi cần về phản ánh {code}.").format(
                code=ticket.code
            )
        ),
        *_phone_request(ticket, resident, conv),
    ]


async def _status(
    s: AsyncSession, commune_id: int, commune: Commune, resident: Resident, code: str | None
) -> list[Reply]:
    if code:
        ticket = await service.by_code(s, commune_id, code)
        mine = ticket is not None and access.is_reporter(resident, ticket)
        if ticket is not None and not mine:  # staff on Zalo may ask about what they may read
            staff = await chat_staff.sender(
                s,
                commune_id,
                resident.channel,
                resident.external_id,
                ("officer", "leader", "propagandist"),
            )
            if staff is None or not access.may_read(staff, ticket, commune):
                ticket = None  # someone else's: the same answer as for a code that is not there
        if ticket is None:
            return [
                Text(
                    _(
                        "Xã không tìm thấy phản ánh {code}. Anh/chị kiểm tra lại mã (dạng "
                        "PA-2026-000123) giúp xã ạ."
                    ).format(code=code)
                )
            ]
        return [Text(describe(ticket, commune, mine=mine))]
    tickets = (
        (
            await s.execute(
                select(Ticket)
                .where(Ticket.commune_id == commune_id, Ticket.resident_id == resident.id)
                .order_by(Ticket.id.desc())
                .limit(3)
            )
        )
        .scalars()
        .all()
    )
    if not tickets:
        return [
            Text(
                _(
                    "Anh/chị chưa gửi phản ánh nào qua trang này. Muốn phản ánh, anh/chị "
                    'nhắn ví dụ: "đường thôn bị sạt lở".'
                )
            )
        ]
    return [Text("\n\n".join(describe(t, commune, mine=True) for t in tickets))]


def describe(ticket: Ticket, commune: Commune, mine: bool) -> str:
    """A ticket's state as the resident reads it (someone else's: only the state)."""
    text = _("Phản ánh {code} ({category}) {state}.").format(
        code=ticket.code,
        category=_(CATEGORIES[ticket.category].name),
        state=service.status_line(ticket),
    )
    if ticket.status in workflow.OPEN:
        text += " " + _("Xã sẽ trả lời {when}.").format(when=service.when_text(ticket))
    elif ticket.status == "transferred" and ticket.transferred_to:
        text += " " + _("Nơi giải quyết: {body}.").format(body=ticket.transferred_to)
    if mine and ticket.status in ("answered", "closed") and ticket.answer:
        text += "\n" + _("Trả lời của xã: {answer}").format(answer=ticket.answer)
    return text


async def _rate(
    s: AsyncSession,
    commune_id: int,
    commune: Commune,
    settings: FeedbackSettings,
    resident: Resident,
    effect: dict[str, Any],
    conv: Conversation | None = None,
    now: datetime | None = None,
) -> list[Reply]:
    ticket = await service.by_code(s, commune_id, effect["code"], lock=True)
    if ticket is None or ticket.resident_id != resident.id:
        return [
            Text(_("Xã không tìm thấy phản ánh {code} của anh/chị.").format(code=effect["code"]))
        ]
    rateable = ticket.status == "answered" or (
        ticket.status == "duplicate" and ticket.answer and ticket.rating is None
    )
    if effect["kind"] == "rate":
        if not rateable:
            return [
                Text(
                    _("Phản ánh {code} đã được đánh giá. Cảm ơn anh/chị.").format(code=ticket.code)
                )
            ]
        await service.change(
            s,
            ticket,
            commune,
            settings,
            "rate",
            actor="resident",
            rating=effect["rating"],
            note=f"{effect['rating']}/5",
        )
        text = _(
            "Cảm ơn anh/chị đã đánh giá {rating}/5. Ý kiến của anh/chị giúp xã phục vụ tốt hơn."
        ).format(rating=effect["rating"])
        if effect["rating"] <= 2:
            text += " " + _('Nếu việc chưa ổn, anh/chị nhắn "mở lại {code}" để xã xem lại.').format(
                code=ticket.code
            )
        return [Text(text)]
    if ticket.status not in ("answered", "closed") and not rateable:
        return [Text(describe(ticket, commune, mine=True))]
    await service.change(
        s,
        ticket,
        commune,
        settings,
        "reopen",
        actor="resident",
        note="người dân báo chưa được giải quyết",
    )
    if conv is not None:  # "anh/chị có thể nhắn thêm tình hình": the next message is for it
        conv.state = {
            **(conv.state or {}),
            "note_for": {"code": ticket.code, "at": (now or utcnow()).timestamp()},
        }
    return []  # the reopening message is the ticket's own notification


async def _note(
    s: AsyncSession,
    commune_id: int,
    commune: Commune,
    resident: Resident,
    conv: Conversation,
    effect: dict[str, Any],
    now: datetime,
) -> list[Reply]:
    """What the resident adds to their own ticket — more news of their emergency, their next
    message after reopening it, a photo or a pin sent just after filing: a note for staff.
    A question still waiting (consent, phone) is asked again after the thanks."""
    ticket = await service.by_code(s, commune_id, effect["code"], lock=True)
    if ticket is None or ticket.resident_id != resident.id:
        return []
    media, place = media_of(effect.get("attachments"))
    if place and ticket.lat is None:
        ticket.lat, ticket.long = place
    await service.add_resident_note(
        s,
        ticket,
        commune,
        effect.get("text") or "",
        media,
        now,
        why=effect.get("why") or "reopened",
    )
    if effect.get("why") == "emergency":
        return [
            Text(
                _(
                    "Xã đã ghi thêm tin này vào phản ánh khẩn {code}; lãnh đạo xã đã được báo."
                ).format(code=ticket.code)
            )
        ]
    thanks = (
        _(
            "Dạ, xã đã ghi thêm nội dung này vào phản ánh {code} và báo cán bộ phụ "
            "trách. Xã sẽ trả lời anh/chị {when}."
        )
        if (effect.get("text") or "").strip()
        else _(
            "Dạ, xã đã thêm ảnh/vị trí anh/chị gửi vào phản ánh {code} và báo cán bộ "
            "phụ trách. Xã sẽ trả lời anh/chị {when}."
        )
    )
    replies: list[Reply] = [
        Text(thanks.format(code=ticket.code, when=service.when_text(ticket, now)))
    ]
    waiting = conv.state or {}
    if waiting.get("consent_for") == ticket.code:
        replies.append(consent_question(ticket.code))
    elif waiting.get("phone_for") == ticket.code:
        replies.append(phone_question(ticket.code))
    return replies


async def _handoff(
    s: AsyncSession,
    commune_id: int,
    commune: Commune,
    settings: FeedbackSettings,
    resident: Resident,
    conv: Conversation,
    reason: str,
    now: datetime,
) -> list[Reply]:
    """The conversation goes to the commune inbox; the bot is quiet until staff close it."""
    conv.mode = "handoff"
    conv.state = {}
    cal = sla.calendar(commune, settings)
    expires = (
        cal.add_office_minutes(now, settings.handoff_timeout_minutes)
        if settings.handoff_timeout_minutes
        else None
    )
    handoff = Handoff(
        commune_id=commune_id,
        conversation_id=conv.id,
        resident_id=resident.id,
        reason=reason,
        opened_at=now,
        replies=0,
        expires_at=expires,
    )
    s.add(handoff)
    await s.flush()
    await service.tell_staff_of_handoff(
        s, commune_id, commune, handoff.id, reason, resident.channel
    )
    first = _("Xin lỗi, tôi chưa hiểu ý anh/chị. ") if reason == "misunderstood" else ""
    return [
        Text(
            first
            + _(
                "Tôi đã chuyển cuộc trò chuyện cho cán bộ {name}; cán bộ sẽ trả lời "
                "anh/chị ngay tại đây {when}. Anh/chị cứ nhắn nội dung cần hỏi. "
                "Việc gấp xin gọi {phone}."
            ).format(
                name=commune.name, when=staff_answer_when(cal, now, expires), phone=commune.phone
            )
            + " "
            + _(
                "Trong lúc chờ, tôi vẫn trả lời giờ làm việc, địa chỉ của xã và "
                "tình hình phản ánh (nhắn mã PA-… sao rồi)."
            )
        )
    ]


def staff_answer_when(cal: WorkingCalendar, now: datetime, expires: datetime | None) -> str:
    """When a person will answer, said from the working calendar: soon, today, while the
    office is open; from its next opening when it is closed; at the latest by ``expires``
    when that falls on a later day."""
    if not cal.in_office(now):
        opens = to_vn(cal.next_open(now))
        return _("từ {time} {weekday} {date}, khi xã mở cửa").format(
            time=f"{opens:%H:%M}", weekday=_(WEEKDAYS[opens.weekday()]), date=f"{opens:%d/%m}"
        )
    if expires is None or to_vn(expires).date() == to_vn(now).date():
        return _("trong giờ làm việc hôm nay")
    by = to_vn(expires)
    return _("trong giờ làm việc, chậm nhất {time} {weekday} {date}").format(
        time=f"{by:%H:%M}", weekday=_(WEEKDAYS[by.weekday()]), date=f"{by:%d/%m}"
    )
