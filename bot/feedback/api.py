"""The staff JSON API for feedback tickets and handed-off conversations (documented in
docs/openapi.yaml; authentication and tenancy in bot/api/auth.py: another commune's ticket is a
404 like one that does not exist).

    GET  /api/v1/communes/{code}/tickets[?status=&office=&village=&overdue=1]
    POST /api/v1/communes/{code}/tickets                      file one (phone call, office visit)
    GET  /api/v1/communes/{code}/tickets/summary              counts, overdue, due soon
    GET  /api/v1/communes/{code}/tickets/{PA-…}               the ticket, its history
    GET  /api/v1/communes/{code}/tickets/{PA-…}/media/{n}     a photo stored with it (web chat)
    POST /api/v1/communes/{code}/tickets/{PA-…}/{action}      accept | assign | transfer | return |
                                                              reject | duplicate | answer | close |
                                                              publish | note
    GET  /api/v1/communes/{code}/handoffs[?status=open|closed|expired|all]
    GET  /api/v1/communes/{code}/handoffs/{id}                with the conversation's history
    POST /api/v1/communes/{code}/handoffs/{id}/take           "I am on it": it will not expire
    POST /api/v1/communes/{code}/handoffs/{id}/reply          {"text": "…"}
    POST /api/v1/communes/{code}/handoffs/{id}/close

Who sees the reporter: the leader, the officers of the ticket's office and its assignee — and
only when the reporter agreed to give their name and phone. A propagandist sees the tickets of
their own village, never who filed them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import facts_store
from bot.api.auth import Identity, bad_input, error, identify, iso, json_response, read_json
from bot.broadcasts.routes import WINDOW, route_for
from bot.config import FeedbackSettings
from bot.coord import Coordinator
from bot.coverage import warnings
from bot.envelope import Text
from bot.feedback import access, photos, routing, service, workflow
from bot.feedback.categories import CATEGORIES
from bot.i18n import gettext_for
from bot.loops import OUTBOUND_TOPIC, TICKETS_TOPIC
from bot.store.models import (
    Conversation,
    Handoff,
    Message,
    OutboundMessage,
    Resident,
    Staff,
    Ticket,
    TicketEvent,
    Village,
)
from bot.store.ops import outbound_row, table_of, village_by_name
from bot.tenants import Tenants
from bot.timeutil import as_utc, utcnow
from bot.web_headers import CSP, SANDBOX

CODE = r"{ticket:PA-\d{4}-\d{6}}"


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    category: str

    @field_validator("category")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"one of {', '.join(CATEGORIES)}")
        return value

    description: str = Field(min_length=3, max_length=4000)
    village: str | None = None
    address: str | None = Field(default=None, max_length=300)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=20)
    consent: bool = False


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=4000)
    staff_id: int | None = None  # assign
    office: str | None = None  # transfer within the commune
    body: str | None = Field(default=None, max_length=200)  # transfer to an outside body
    of: str | None = Field(default=None, pattern=r"^PA-\d{4}-\d{6}$")  # duplicate of
    text: str | None = Field(default=None, max_length=4000)  # publish: the public text


def window(resident: Resident | None) -> dict[str, Any]:
    """Whether a chat message can still reach the resident (Zalo's 7-day window)."""
    if resident is None:
        return {"channel": None, "open": False, "why": "không có kênh trò chuyện / no chat"}
    if resident.erased_at is not None:
        return {
            "channel": resident.channel,
            "open": False,
            "why": "người dân đã xóa dữ liệu / resident erased their data",
        }
    if resident.channel != "zalo":
        return {"channel": resident.channel, "open": True}
    last = resident.last_interaction_at
    open_ = route_for(resident, utcnow())[0] == "consultation"  # Zalo's rule, one place
    out: dict[str, Any] = {
        "channel": "zalo",
        "open": open_,
        "open_until": iso(as_utc(last) + WINDOW) if last else None,
    }
    if not open_:
        out["why"] = (
            "quá 7 ngày kể từ tin nhắn cuối của người dân: Zalo không cho gửi; hãy gọi "
            "điện nếu có số / Zalo's 7-day window has closed"
        )
    return out


def _sees_reporter(who: Identity, staff: Staff | None, ticket: Ticket) -> bool:
    if who.role == "leader":
        return True
    return who.role == "officer" and (
        ticket.assignee_id == who.staff_id or (staff is not None and staff.office == ticket.office)
    )


async def events_with_sends(
    s: AsyncSession, ticket: Ticket
) -> tuple[list[TicketEvent], dict[str, OutboundMessage]]:
    """A ticket's history in order, and the message to the resident each event sent (by its
    idempotency key): what the API's ticket and the console's ticket page both show."""
    events = list(
        (
            await s.execute(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
                .order_by(TicketEvent.id)
            )
        ).scalars()
    )
    keys = [e.outbound_key for e in events if e.outbound_key]
    if not keys:
        return events, {}
    sent = await s.execute(select(OutboundMessage).where(OutboundMessage.idempotency_key.in_(keys)))
    return events, {o.idempotency_key: o for o in sent.scalars()}


async def ticket_json(
    s: AsyncSession,
    ticket: Ticket,
    who: Identity,
    commune,
    full: bool = False,
) -> dict[str, Any]:
    village = await s.get(Village, ticket.village_id) if ticket.village_id else None
    assignee = await s.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
    me = await s.get(Staff, who.staff_id)
    now = utcnow()
    out: dict[str, Any] = {
        "code": ticket.code,
        "status": ticket.status,
        "source": ticket.source,
        "overdue": service.is_overdue(ticket, now),
        "category": {"code": ticket.category, "name": CATEGORIES[ticket.category].name},
        "emergency": ticket.emergency,
        "village": village.name if village else None,
        "description": ticket.description,
        "media": media_json(ticket, who.commune_code),
        "lat": ticket.lat,
        "long": ticket.long,
        "address": ticket.address,
        "office": {"code": ticket.office, "name": routing.office_name(commune, ticket.office)},
        "assignee": {"id": assignee.id, "name": assignee.name} if assignee else None,
        "transferred_to": ticket.transferred_to,
        "answer": ticket.answer,
        "public_answer": ticket.public_answer,
        "published_at": iso(ticket.published_at),
        "rating": ticket.rating,
        "reopened": ticket.reopened,
        "received_at": iso(ticket.received_at),
        "ack_due_at": iso(ticket.ack_due_at),
        "due_at": iso(ticket.due_at),
        "acked_at": iso(ticket.acked_at),
        "answered_at": iso(ticket.answered_at),
        "closed_at": iso(ticket.closed_at),
        "overdue_since": iso(ticket.overdue_at),
    }
    if ticket.duplicate_of:
        out["duplicate_of"] = (
            await s.execute(select(Ticket.code).where(Ticket.id == ticket.duplicate_of))
        ).scalar_one_or_none()
    if not ticket.consent_at:
        out["reporter"] = {"anonymous": True}
    elif _sees_reporter(who, me, ticket):
        out["reporter"] = {
            "name": ticket.reporter_name,
            "phone": ticket.reporter_phone,
            "email": ticket.reporter_email,
            "consent_at": iso(ticket.consent_at),
        }
    else:
        out["reporter"] = {"hidden": True}
    if not full:
        return out
    resident = await s.get(Resident, ticket.resident_id) if ticket.resident_id else None
    out["chat"] = window(resident)
    events, sends = await events_with_sends(s, ticket)
    names: dict[int | None, str] = dict(
        (
            await s.execute(
                select(Staff.id, Staff.name).where(
                    Staff.id.in_({e.staff_id for e in events if e.staff_id})
                )
            )
        ).all()
    )
    out["history"] = [
        {
            "action": e.action,
            "from": e.from_status,
            "to": e.to_status,
            "actor": e.actor,
            "staff": names.get(e.staff_id),
            "note": e.note,
            "at": iso(e.at),
            "message": _delivery(sends.get(e.outbound_key)) if e.outbound_key else None,
        }
        for e in events
    ]
    return out


def media_json(ticket: Ticket, code: str) -> list[dict[str, Any]]:
    """A ticket's photos and pins for staff: a photo sent from the web chat is stored here and
    fetched with the staff key from ``url`` (relative to the service), never a public link."""
    out = []
    for n, item in enumerate(ticket.media or []):
        if item.get("upload"):
            item = {
                "type": item.get("type", "image"),
                "stored": True,
                "url": f"/api/v1/communes/{code}/tickets/{ticket.code}/media/{n}",
            }
        out.append(item)
    return out


#: turns that carry a report's words: a report may be anonymous or of a sensitive category
#: (read only by its office), so the chat view does not show them — staff read them on the
#: ticket, where the access rule applies
REPORT_TURNS = {
    "report_issue",
    "report_filed",
    "report_cancelled",
    "report_consent",
    "report_phone",
    "ticket_status",
    "rate",
    "reopen",
    "report_emergency",
    "emergency_check",
    "ticket_note",
}


def handoff_status(h: Handoff) -> str:
    """open | closed (by staff) | expired (nobody took it in time: back with the bot)."""
    return "expired" if h.expired_at else "closed" if h.closed_at else "open"


def _history_item(m: Message) -> dict[str, Any]:
    hidden = m.intent in REPORT_TURNS
    return {
        "direction": m.direction,
        "text": "(phản ánh — xem trong danh sách phản ánh)" if hidden else m.text,
        "attachments": None if hidden else m.attachments,
        "by": m.intent,
        "at": iso(m.created_at),
    }


def _delivery(row: OutboundMessage | None) -> dict[str, Any] | None:
    """What became of a message to the resident — shown to staff, never silently dropped."""
    if row is None:
        return None
    out: dict[str, Any] = {
        "status": row.status,
        "sent_at": iso(row.sent_at),
        "seen_at": iso(row.seen_at),
    }
    if row.status == "window_closed":
        out["problem"] = (
            "không gửi được: đã quá 7 ngày kể từ tin nhắn cuối của người dân "
            "(quy định của Zalo) / Zalo's 7-day window had closed"
        )
    elif row.status in ("failed", "cancelled"):
        out["problem"] = row.error_reason
    return out


class FeedbackApi:
    BASE = r"/api/v1/communes/{code:\d{5}}"
    ROUTES = (
        ("GET", BASE + "/tickets", "list"),
        ("POST", BASE + "/tickets", "create"),
        ("GET", BASE + "/tickets/summary", "summary"),
        ("GET", BASE + "/tickets/" + CODE, "get"),
        ("GET", BASE + "/tickets/" + CODE + r"/media/{n:\d{1,18}}", "media"),
        ("POST", BASE + "/tickets/" + CODE + "/{action:[a-z]+}", "act"),
        ("GET", BASE + "/handoffs", "handoffs"),
        ("GET", BASE + r"/handoffs/{id:\d{1,18}}", "handoff"),
        ("POST", BASE + r"/handoffs/{id:\d{1,18}}/take", "handoff_take"),
        ("POST", BASE + r"/handoffs/{id:\d{1,18}}/reply", "handoff_reply"),
        ("POST", BASE + r"/handoffs/{id:\d{1,18}}/close", "handoff_close"),
    )

    def __init__(
        self,
        sm,
        tenants: Tenants,
        coord: Coordinator,
        settings: FeedbackSettings,
    ) -> None:
        self.sm, self.tenants, self.coord, self.settings = sm, tenants, coord, settings

    def _commune(self, who: Identity):
        return self.tenants.by_id(who.commune_id).config

    async def _ticket(
        self, s: AsyncSession, who: Identity, code: str, lock: bool = False
    ) -> Ticket:
        """The ticket if the caller may read it (bot/feedback/access.py); else 404, the same
        answer as for a code that does not exist."""
        ticket = await service.by_code(s, who.commune_id, code, lock=lock)
        me = await s.get(Staff, who.staff_id)
        if ticket is None or me is None or not access.may_read(me, ticket, self._commune(who)):
            raise error(404, "không tìm thấy / not found")
        return ticket

    # -- tickets ----------------------------------------------------------------------------
    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        async with self.sm() as s:
            who = await identify(request, s)
            me = await s.get(Staff, who.staff_id)
            query = select(Ticket).where(
                Ticket.commune_id == who.commune_id, access.readable(me, self._commune(who))
            )
            if q.get("status"):
                statuses = q["status"].split(",")
                if not set(statuses) <= set(workflow.STATES):
                    raise error(
                        400,
                        "trạng thái không hợp lệ / unknown status",
                        field="status",
                        known=list(workflow.STATES),
                    )
                query = query.where(Ticket.status.in_(statuses))
            if q.get("office"):
                office = q["office"]
                if office == "mine":
                    office = (await s.get(Staff, who.staff_id)).office or ""
                query = query.where(Ticket.office == office)
            if q.get("village"):
                village = await village_by_name(s, who.commune_id, q["village"])
                village_id = village.id if village else None
                if village_id is None:
                    raise error(
                        400, "không có thôn này trong xã / unknown village", field="village"
                    )
                query = query.where(Ticket.village_id == village_id)
            if q.get("overdue") in ("1", "true"):
                query = query.where(service.overdue_clause(utcnow()))
            tickets = (
                (await s.execute(query.order_by(Ticket.emergency.desc(), Ticket.due_at).limit(500)))
                .scalars()
                .all()
            )
            commune = self._commune(who)
            return json_response(
                {"tickets": [await ticket_json(s, t, who, commune) for t in tickets]}
            )

    async def summary(self, request: web.Request) -> web.Response:
        """What the leader looks at: counts per state, the overdue and the soon due."""
        async with self.sm() as s:
            who = await identify(request, s)
            if who.role not in ("officer", "leader"):
                raise error(403, "vai trò này không xem tổng hợp / role may not see the summary")
            now = utcnow()
            counts = dict(
                (
                    await s.execute(
                        select(Ticket.status, func.count())
                        .where(Ticket.commune_id == who.commune_id)
                        .group_by(Ticket.status)
                    )
                ).all()
            )
            me = await s.get(Staff, who.staff_id)
            open_ = (
                (
                    await s.execute(
                        select(Ticket)
                        .where(
                            Ticket.commune_id == who.commune_id,
                            Ticket.status.in_(workflow.OPEN),
                            access.readable(me, self._commune(who)),
                        )  # codes only of what they may read
                        .order_by(Ticket.due_at)
                    )
                )
                .scalars()
                .all()
            )
            ratings = (
                await s.execute(
                    select(func.avg(Ticket.rating), func.count(Ticket.rating)).where(
                        Ticket.commune_id == who.commune_id, Ticket.rating.is_not(None)
                    )
                )
            ).one()
            soon = now + timedelta(days=2)
            gaps = await warnings(s, who.commune_id, village_ids=[])  # who hears of overdue
        return json_response(
            {
                "by_status": counts,
                "overdue": [t.code for t in open_ if service.is_overdue(t, now)],
                "due_within_2_days": [t.code for t in open_ if now < t.due_at <= soon],
                "rating": {
                    "average": round(float(ratings[0]), 2) if ratings[0] else None,
                    "count": ratings[1],
                },
                "warnings": [g.to_json() for g in gaps],
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            who = await identify(request, s)
            ticket = await self._ticket(s, who, request.match_info["ticket"])
            return json_response(await ticket_json(s, ticket, who, self._commune(who), True))

    async def media(self, request: web.Request) -> web.Response:
        """A photo of the ticket stored here, for the staff who may see the ticket (another
        commune's key, or a propagandist outside the ticket's village: 404)."""
        async with self.sm() as s:
            who = await identify(request, s)
            ticket = await self._ticket(s, who, request.match_info["ticket"])
            n = int(request.match_info["n"])
            item = (ticket.media or [])[n] if n < len(ticket.media or []) else {}
            upload = (
                await photos.by_token(s, who.commune_id, item["upload"])
                if item.get("upload")
                else None
            )
            if upload is None:
                raise error(404, "không tìm thấy / not found")
            return web.Response(
                body=upload.content,
                content_type=upload.content_type,
                headers={
                    CSP: SANDBOX,
                    "Cache-Control": "private, no-store",
                    "Content-Disposition": f'inline; filename="{ticket.code}-{n}.'
                    f'{upload.content_type.split("/")[1]}"',
                },
            )

    async def create(self, request: web.Request) -> web.Response:
        """A report taken by phone or at the office, filed by staff."""
        body = await read_json(request)
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            if who.role not in ("officer", "leader"):
                raise error(403, "vai trò này không nhập phản ánh / role may not file tickets")
            try:
                data = TicketIn.model_validate(body)
            except ValidationError as exc:
                raise bad_input(exc) from None
            village_id = None
            if data.village:
                village = await village_by_name(s, who.commune_id, data.village)
                village_id = village.id if village else None
                if village_id is None:
                    raise error(
                        400, "không có thôn này trong xã / unknown village", field="village"
                    )
            commune = await facts_store.effective(s, who.commune_id, self._commune(who))
            ticket = await service.file_ticket(
                s,
                who.commune_id,
                commune,
                self.settings,
                service.Report(
                    category=data.category,
                    description=data.description,
                    source="staff",
                    village_id=village_id,
                    address=data.address,
                    lat=data.lat,
                    long=data.long,
                    consent=data.consent,
                    name=data.name,
                    phone=data.phone,
                    filed_by=who.staff_id,
                ),
            )
            out = await ticket_json(s, ticket, who, commune, True)
        await self.coord.publish(OUTBOUND_TOPIC)
        return json_response(out, status=201)

    async def act(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body = await read_json(request)
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            try:
                data = ActionIn.model_validate(body)
            except ValidationError as exc:
                raise bad_input(exc) from None
            ticket = await self._ticket(s, who, request.match_info["ticket"], lock=True)
            staff = await s.get(Staff, who.staff_id)
            assignee = duplicate_of = None
            if action == "assign":
                if data.staff_id is None:
                    raise error(400, "staff_id: cán bộ được giao / who to assign", field="staff_id")
                assignee = await s.get(Staff, data.staff_id)
            if action == "duplicate":
                if not data.of:
                    raise error(400, "of: mã phản ánh gốc / the original ticket's code", field="of")
                duplicate_of = await service.by_code(s, who.commune_id, data.of)
                if duplicate_of is not None and not access.may_read(
                    staff, duplicate_of, self._commune(who)
                ):
                    duplicate_of = None  # one the caller may not read: as if not there
            try:
                await service.change(
                    s,
                    ticket,
                    self._commune(who),
                    self.settings,
                    action,
                    staff=staff,
                    note=data.note,
                    assignee=assignee,
                    office=data.office,
                    body=data.body,
                    duplicate_of=duplicate_of,
                    public_text=data.text,
                )
            except workflow.TicketError as exc:
                raise error(exc.status, str(exc)) from None
            out = await ticket_json(s, ticket, who, self._commune(who), True)
        await self.coord.publish(OUTBOUND_TOPIC)
        await self.coord.publish(TICKETS_TOPIC)
        return json_response(out)

    # -- handoffs ---------------------------------------------------------------------------
    async def _handoff(
        self, s: AsyncSession, who: Identity, handoff_id: int, lock: bool = False
    ) -> Handoff:
        if who.role not in ("officer", "leader"):
            raise error(403, "vai trò này không trả lời người dân / role may not answer chats")
        query = select(Handoff).where(
            Handoff.id == handoff_id, Handoff.commune_id == who.commune_id
        )
        handoff = (await s.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
        if handoff is None:
            raise error(404, "không tìm thấy / not found")
        return handoff

    async def _handoff_json(
        self, s: AsyncSession, h: Handoff, history: bool = False
    ) -> dict[str, Any]:
        resident = await s.get(Resident, h.resident_id)
        out: dict[str, Any] = {
            "id": h.id,
            "status": handoff_status(h),
            "reason": h.reason,
            "opened_at": iso(h.opened_at),
            "closed_at": iso(h.closed_at),
            "replies": h.replies,
            "taken_by": h.taken_by,
            "expires_at": iso(h.expires_at),
            "expired_at": iso(h.expired_at),
            "resident": {
                "name": resident.display_name if resident else None,
                "language": resident.language if resident else None,
            },
            "chat": window(resident),
        }
        if history:
            messages = (
                (
                    await s.execute(
                        select(Message)
                        .where(Message.conversation_id == h.conversation_id)
                        .order_by(Message.id.desc())
                        .limit(50)
                    )
                )
                .scalars()
                .all()
            )
            out["messages"] = [_history_item(m) for m in reversed(messages)]
            keys = [f"handoff:{h.id}:{n}" for n in range(1, h.replies + 1)]
            sends = (
                (
                    await s.execute(
                        select(OutboundMessage)
                        .where(OutboundMessage.idempotency_key.in_(keys))
                        .order_by(OutboundMessage.id)
                    )
                )
                .scalars()
                .all()
                if keys
                else []
            )
            out["staff_replies"] = [
                {"text": o.payload.get("text"), **(_delivery(o) or {})} for o in sends
            ]
        return out

    async def handoffs(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            who = await identify(request, s)
            if who.role not in ("officer", "leader"):
                raise error(403, "vai trò này không trả lời người dân / role may not answer chats")
            query = select(Handoff).where(Handoff.commune_id == who.commune_id)
            status = request.query.get("status", "open")
            if status not in ("open", "closed", "expired", "all"):
                raise error(400, "status: open | closed | expired | all")
            if status == "open":
                query = query.where(Handoff.closed_at.is_(None))
            elif status == "closed":
                query = query.where(Handoff.closed_at.is_not(None), Handoff.expired_at.is_(None))
            elif status == "expired":  # nobody took them in time: residents to call back
                query = query.where(Handoff.expired_at.is_not(None))
            rows = (await s.execute(query.order_by(Handoff.id).limit(200))).scalars().all()
            return json_response({"handoffs": [await self._handoff_json(s, h) for h in rows]})

    async def handoff(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            who = await identify(request, s)
            h = await self._handoff(s, who, int(request.match_info["id"]))
            return json_response(await self._handoff_json(s, h, history=True))

    async def handoff_take(self, request: web.Request) -> web.Response:
        """A staff member takes the conversation (reading it, calling the resident): it stays
        with staff until closed instead of going back to the bot when its time runs out."""
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            h = await self._handoff(s, who, int(request.match_info["id"]), lock=True)
            if h.closed_at is not None:
                raise error(409, "cuộc trò chuyện đã đóng / the handoff is closed")
            h.taken_by = h.taken_by or who.staff_id
            return json_response(await self._handoff_json(s, h))

    async def handoff_reply(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            text = body.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > 2000:
                raise error(
                    400,
                    "text: nội dung trả lời (1–2000 ký tự) / text of 1–2000 characters",
                    field="text",
                )
            h = await self._handoff(s, who, int(request.match_info["id"]), lock=True)
            if h.closed_at is not None:
                raise error(409, "cuộc trò chuyện đã đóng / the handoff is closed")
            resident = await s.get(Resident, h.resident_id)
            if resident.erased_at is not None:
                raise error(
                    409,
                    "người dân đã xóa dữ liệu, không nhắn được nữa / the resident "
                    "erased their data",
                )
            reach = window(resident)
            h.replies += 1
            h.taken_by = h.taken_by or who.staff_id
            await self._send(s, h, resident, f"handoff:{h.id}:{h.replies}", text.strip())
            out = await self._handoff_json(s, h)
        await self.coord.publish(OUTBOUND_TOPIC)
        return json_response(
            {
                **out,
                "reaches_resident": reach["open"],
                **({"problem": reach["why"]} if not reach["open"] else {}),
            }
        )

    async def _send(
        self, s: AsyncSession, h: Handoff, resident: Resident, key: str, text: str
    ) -> None:
        s.add(
            Message(
                commune_id=h.commune_id,
                conversation_id=h.conversation_id,
                direction="out",
                text=text,
                intent="staff",
                confidence=1.0,
            )
        )
        await s.execute(
            table_of(OutboundMessage).insert(),
            [
                outbound_row(
                    h.commune_id,
                    resident.id,
                    resident.channel,
                    resident.external_id,
                    key,
                    Text(text),
                    0,
                )
            ],
        )

    async def close_handoff(self, s: AsyncSession, h: Handoff, staff_id: int) -> None:
        """Staff end the conversation (``h`` locked, open): the bot takes it back and the
        resident is told (the API's and the console's close)."""
        h.closed_at, h.closed_by = utcnow(), staff_id
        conv = await s.get(Conversation, h.conversation_id)
        if conv is not None:
            conv.mode, conv.state = "bot", {}
        resident = await s.get(Resident, h.resident_id)
        if resident is None:
            return
        _ = gettext_for(resident.language)
        await self._send(
            s,
            h,
            resident,
            f"handoff:{h.id}:closed",
            _(
                "Cán bộ xã đã kết thúc trao đổi. Cảm ơn anh/chị. Anh/chị có thể tiếp tục hỏi "
                "trợ lý tự động của xã bất cứ lúc nào."
            ),
        )

    async def handoff_close(self, request: web.Request) -> web.Response:
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            h = await self._handoff(s, who, int(request.match_info["id"]), lock=True)
            if h.closed_at is not None:
                raise error(409, "cuộc trò chuyện đã đóng / the handoff is closed")
            await self.close_handoff(s, h, who.staff_id)
            out = await self._handoff_json(s, h)
        await self.coord.publish(OUTBOUND_TOPIC)
        return json_response(out)
