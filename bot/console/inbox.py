"""The console's inbox (issue 13, second slice): the commune's tickets and the chats waiting for
staff, one ticket's whole history, and the staff's actions on it — as pages and forms.

Nothing here decides who may read or do what: a ticket is loaded by its commune and code and
shown only when ``bot/feedback/access.py`` says the staff member may read it (anything else is
the 404 of a code that does not exist, another commune's included); the list is filtered by the
same rule as SQL (``access.readable``); every action goes through ``service.change``, which checks
it against the table in ``bot/feedback/workflow.py`` (a role that may not take it: 403, a state
it does not fit: 409, a missing note: 400). The page offers only the actions that table allows
this role from this state. Photos stored with a ticket are served here with the same check.
Handed-off chats: officers and leaders, as the API; a reply is queued through the API's own
``_send`` (the message log and the outbound row, in one transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Commune as CommuneConfig
from bot.console import auth
from bot.console.web import CONSOLE, Console, add_screen, vn_date
from bot.feedback import access, photos, routing, service, workflow
from bot.feedback.api import (
    _delivery,
    _history_item,
    events_with_sends,
    handoff_status,
    window,
)
from bot.feedback.categories import CATEGORIES
from bot.i18n import N_, _, use_language
from bot.loops import OUTBOUND_TOPIC, TICKETS_TOPIC
from bot.store.models import (
    Handoff,
    Message,
    Resident,
    Staff,
    Ticket,
    Village,
)
from bot.text import number
from bot.timeutil import as_utc

#: who may open the inbox: whoever the ticket API lets list tickets (each sees what
#: ``access.readable`` allows: a propagandist their village's, an operator the non-sensitive)
ROLES = ("officer", "leader", "propagandist", "operator")
#: who sees and answers the chats handed to staff (the API's handoff rule)
CHAT_ROLES = ("officer", "leader")
#: the staff's short names of the states
STATES = {
    "received": N_("Mới tiếp nhận"),
    "assigned": N_("Đã giao cán bộ"),
    "in_progress": N_("Đang xử lý"),
    "answered": N_("Đã trả lời"),
    "closed": N_("Đã hoàn thành"),
    "returned": N_("Đã trả lại"),
    "transferred": N_("Đã chuyển cơ quan khác"),
    "rejected": N_("Không thụ lý"),
    "duplicate": N_("Trùng phản ánh khác"),
}
#: the actions' names on buttons and in the history
ACTIONS = {
    "create": N_("Người dân gửi phản ánh"),
    "accept": N_("Nhận xử lý"),
    "assign": N_("Giao cán bộ"),
    "transfer": N_("Chuyển"),
    "return": N_("Trả lại"),
    "reject": N_("Không thụ lý"),
    "duplicate": N_("Đánh dấu trùng"),
    "answer": N_("Trả lời người dân"),
    "close": N_("Hoàn thành"),
    "publish": N_("Công khai"),
    "note": N_("Ghi chú"),
    "rate": N_("Người dân đánh giá"),
    "reopen": N_("Người dân mở lại"),
    "progress": N_("Báo tiến độ"),
    "overdue": N_("Quá hạn"),
    "warn": N_("Sắp đến hạn"),
}
#: what became of a message to the resident
DELIVERY = {
    "pending": N_("đang chờ gửi"),
    "sending": N_("đang gửi"),
    "sent": N_("đã gửi"),
    "seen": N_("người dân đã xem"),
    "failed": N_("không gửi được"),
    "cancelled": N_("đã hủy"),
    "window_closed": N_("không gửi được (quá 7 ngày)"),
}
#: the actions the ticket page offers as forms (the others stay in the API)
FORMS = ("answer", "accept", "assign", "transfer", "close", "return", "reject", "note")
#: polite answers an officer can start from (the reply box is filled, then edited)
CANNED = (
    N_(
        "Xã đã nhận được phản ánh của anh/chị và đã cử cán bộ xuống kiểm tra. Xã sẽ báo kết "
        "quả sớm. Cảm ơn anh/chị."
    ),
    N_(
        "Cán bộ xã đã kiểm tra thực tế và xử lý xong việc anh/chị phản ánh. Cảm ơn anh/chị đã "
        "quan tâm, theo dõi."
    ),
    N_(
        "Xã cần thêm thông tin để xử lý: anh/chị vui lòng cho biết địa điểm cụ thể (thôn, gần "
        "nhà ai) hoặc gửi thêm ảnh. Cảm ơn anh/chị."
    ),
    N_(
        "Việc anh/chị phản ánh đã được đưa vào kế hoạch của xã. Xã sẽ thông báo khi triển khai. "
        "Cảm ơn anh/chị."
    ),
    N_(
        "Anh/chị vui lòng liên hệ trực tiếp bộ phận Một cửa của UBND xã trong giờ hành chính để "
        "được hướng dẫn cụ thể. Cảm ơn anh/chị."
    ),
)
CODE = r"{code:[A-Za-z0-9-]{1,40}}"
NOTE_MAX = 4000


def age(since: datetime, now: datetime) -> str:
    """How long ago, in the largest whole unit (phút, giờ, ngày)."""
    seconds = max(0, int((now - as_utc(since)).total_seconds()))
    if seconds < 3600:
        return _("{n} phút").format(n=max(1, seconds // 60))
    if seconds < 86400:
        return _("{n} giờ").format(n=seconds // 3600)
    return _("{n} ngày").format(n=seconds // 86400)


def map_link(lat: float | None, long: float | None) -> str | None:
    """OpenStreetMap at the resident's pin (a link: no map script on the page)."""
    if lat is None or long is None:
        return None
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={long:.6f}#map=17/{lat:.6f}/{long:.6f}"
    )


class Inbox:
    #: tickets on one page of the list (a commune with thousands pages through them)
    PAGE = 100
    ROUTES = (
        ("GET", "/console/inbox", "inbox"),
        ("GET", "/console/inbox/count", "count"),
        ("GET", "/console/tickets/" + CODE, "ticket"),
        ("GET", "/console/tickets/" + CODE + r"/media/{n:\d{1,3}}", "media"),
        ("POST", "/console/tickets/" + CODE + r"/{action:[a-z]{1,20}}", "act"),
        ("GET", r"/console/chats/{id:\d{1,18}}", "chat"),
        ("POST", r"/console/chats/{id:\d{1,18}}/reply", "chat_reply"),
        ("POST", r"/console/chats/{id:\d{1,18}}/close", "chat_close"),
    )

    def __init__(self, console: Console, services: Any) -> None:
        self.console = console
        self.sm = services.sm
        self.coord = services.coord
        self.tenants = services.tenants
        self.settings = services.settings.feedback
        self.api = services.feedback_api

    # -- plumbing ---------------------------------------------------------------------------
    async def _user(self, request: web.Request) -> auth.ConsoleUser:
        user = await self.console.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if user.role not in ROLES:
            raise web.HTTPNotFound()
        return user

    def _commune(self, user: auth.ConsoleUser) -> CommuneConfig:
        return self.tenants.by_id(user.commune_id).config

    async def _ticket(
        self, s: AsyncSession, user: auth.ConsoleUser, code: str, lock: bool = False
    ) -> tuple[Ticket, Staff]:
        """The ticket when this user may read it (``access.may_read``), else 404 — the same
        answer as for a code that does not exist or belongs to another commune."""
        ticket = await service.by_code(s, user.commune_id, code, lock=lock)
        me = await s.get(Staff, user.staff_id)
        if ticket is None or me is None or not access.may_read(me, ticket, self._commune(user)):
            raise web.HTTPNotFound()
        return ticket, me

    def _page(
        self,
        request: web.Request,
        user: auth.ConsoleUser,
        template: str,
        context: dict[str, Any],
        status: int = 200,
    ) -> web.Response:
        return self.console.render(
            request,
            template,
            {"active": "inbox", "chat_roles": CHAT_ROLES, **context},
            status,
            user=user,
        )

    # -- the list ---------------------------------------------------------------------------
    async def _filters(
        self, s: AsyncSession, user: auth.ConsoleUser, q: Any
    ) -> tuple[dict[str, str], list[Any], str | None]:
        """The query's filters, as chosen and as SQL conditions; a bad value: its message."""
        chosen = {
            "state": q.get("state", "open"),
            "office": q.get("office", ""),
            "village": q.get("village", ""),
            "overdue": "1" if q.get("overdue") in ("1", "on", "true") else "",
        }
        where: list[Any] = []
        if not 1 <= (_int(q.get("page", "1")) or 0) <= 1_000_000:
            return chosen, where, _("Trang không hợp lệ.")
        state = chosen["state"]
        if state == "open":
            where.append(Ticket.status.in_(workflow.OPEN))
        elif state in workflow.STATES:
            where.append(Ticket.status == state)
        elif state not in ("", "all"):
            return chosen, where, _("Trạng thái không hợp lệ.")
        if chosen["office"]:
            if chosen["office"] not in {o.code for o in self._commune(user).offices}:
                return chosen, where, _("Không có bộ phận này.")
            where.append(Ticket.office == chosen["office"])
        if chosen["village"]:
            village = (
                await s.execute(
                    select(Village.id).where(
                        Village.commune_id == user.commune_id,
                        Village.id == _int(chosen["village"]),
                    )
                )
            ).scalar_one_or_none()
            if village is None:
                return chosen, where, _("Không có thôn này trong xã.")
            where.append(Ticket.village_id == village)
        if chosen["overdue"]:
            where.append(service.overdue_clause(self.console.clock()))
        return chosen, where, None

    async def _readable(self, s: AsyncSession, user: auth.ConsoleUser) -> Any:
        me = await s.get(Staff, user.staff_id)
        if me is None:
            raise web.HTTPNotFound()
        return (Ticket.commune_id == user.commune_id) & access.readable(me, self._commune(user))

    async def inbox(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        now = self.console.clock()
        with use_language(self.console.language(request)):
            async with self.sm() as s:
                chosen, where, problem = await self._filters(s, user, request.query)
                readable = await self._readable(s, user)
                page = _int(request.query.get("page", "1")) or 1
                tickets: list[Any] = []
                total = 0
                if not problem:
                    total = (
                        await s.execute(
                            select(func.count()).select_from(Ticket).where(readable, *where)
                        )
                    ).scalar_one()
                    tickets = list(
                        (
                            await s.execute(
                                select(Ticket, Village.name)
                                .outerjoin(Village, Village.id == Ticket.village_id)
                                .where(readable, *where)
                                .order_by(Ticket.emergency.desc(), Ticket.due_at, Ticket.id)
                                .offset((page - 1) * self.PAGE)
                                .limit(self.PAGE)
                            )
                        ).all()
                    )
                villages = (
                    await s.execute(
                        select(Village.id, Village.name)
                        .where(Village.commune_id == user.commune_id)
                        .order_by(Village.name)
                    )
                ).all()
                chats = await self._waiting_chats(s, user)
                newest = await self._newest(s, user)
            commune = self._commune(user)
            rows = [
                {
                    "code": t.code,
                    "category": _(CATEGORIES[t.category].name),
                    "village": village or "",
                    "state": t.status,
                    "state_name": _(STATES[t.status]),
                    "office": routing.office_name(commune, t.office),
                    "age": age(t.received_at, now),
                    "received": vn_date(t.received_at),
                    "overdue": service.is_overdue(t, now),
                    "emergency": t.emergency,
                }
                for t, village in tickets
            ]
            kept = {k: v for k, v in chosen.items() if v}
            pages = max(1, -(-total // self.PAGE))
            return self._page(
                request,
                user,
                "inbox.html",
                {
                    "tickets": rows,
                    "total": total,
                    "page": page,
                    "pages": pages,
                    "prev_url": _list_url(kept, min(page - 1, pages)) if page > 1 else "",
                    "next_url": _list_url(kept, page + 1) if page < pages else "",
                    "done": _(ACTIONS[done])
                    if (done := request.query.get("done", "")) in FORMS
                    else "",
                    "chats": chats,
                    "chosen": chosen,
                    "problem": problem,
                    "states": [(k, _(v)) for k, v in STATES.items()],
                    "offices": [(o.code, o.name) for o in commune.offices],
                    "villages": [(str(i), n) for i, n in villages],
                    "newest": newest,
                    "count_url": "/console/inbox/count",
                },
                status=400 if problem else 200,
            )

    async def _waiting_chats(self, s: AsyncSession, user: auth.ConsoleUser) -> list[dict]:
        if user.role not in CHAT_ROLES:
            return []
        now = self.console.clock()
        rows = (
            await s.execute(
                select(Handoff, Resident.display_name)
                .outerjoin(Resident, Resident.id == Handoff.resident_id)
                .where(Handoff.commune_id == user.commune_id, Handoff.closed_at.is_(None))
                .order_by(Handoff.id)
                .limit(100)
            )
        ).all()
        return [
            {
                "id": h.id,
                "name": name or _("Người dân"),
                "why": _("muốn gặp cán bộ") if h.reason == "asked" else _("trợ lý không hiểu"),
                "age": age(h.opened_at, now),
                "taken": h.taken_by is not None,
            }
            for h, name in rows
        ]

    async def _newest(self, s: AsyncSession, user: auth.ConsoleUser) -> str:
        """A mark that changes when a ticket the user may read is filed or a chat waits."""
        tickets = (
            await s.execute(
                select(func.count(), func.max(Ticket.id)).where(await self._readable(s, user))
            )
        ).one()
        chats: tuple[Any, ...] = (0, 0)
        if user.role in CHAT_ROLES:
            chats = tuple(
                (
                    await s.execute(
                        select(func.count(), func.max(Handoff.id)).where(
                            Handoff.commune_id == user.commune_id, Handoff.closed_at.is_(None)
                        )
                    )
                ).one()
            )
        return f"{tickets[0]}.{tickets[1] or 0}.{chats[0]}.{chats[1] or 0}"

    async def count(self, request: web.Request) -> web.StreamResponse:
        """For the page's poll: the mark of what is new (no ticket's content)."""
        user = await self._user(request)
        async with self.sm() as s:
            newest = await self._newest(s, user)
        return web.json_response({"newest": newest}, headers={"Cache-Control": "no-store"})

    # -- one ticket -------------------------------------------------------------------------
    async def ticket(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        with use_language(self.console.language(request)):
            return await self._ticket_page(request, user, request.match_info["code"])

    async def _ticket_page(
        self,
        request: web.Request,
        user: auth.ConsoleUser,
        code: str,
        error: str | None = None,
        status: int = 200,
        note: str = "",
    ) -> web.Response:
        now = self.console.clock()
        commune = self._commune(user)
        async with self.sm() as s:
            ticket, me = await self._ticket(s, user, code)
            village = await s.get(Village, ticket.village_id) if ticket.village_id else None
            assignee = await s.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
            events, sends = await events_with_sends(s, ticket)
            staff = (
                (
                    await s.execute(
                        select(Staff)
                        .where(
                            Staff.commune_id == user.commune_id,
                            Staff.active.is_(True),
                            Staff.role.in_(workflow.STAFF),
                        )
                        .order_by(Staff.name)
                    )
                )
                .scalars()
                .all()
            )
            resident = await s.get(Resident, ticket.resident_id) if ticket.resident_id else None
            reach = _reach(resident)
        names = {p.id: p.name for p in staff}
        missing = {e.staff_id for e in events if e.staff_id and e.staff_id not in names}
        if missing:
            async with self.sm() as s:
                names.update(
                    dict(
                        (
                            await s.execute(
                                select(Staff.id, Staff.name).where(Staff.id.in_(missing))
                            )
                        ).all()
                    )
                )
        history = []
        for e in events:
            delivery = _delivery(sends.get(e.outbound_key)) if e.outbound_key else None
            if delivery is not None:
                seen = "seen" if delivery.get("seen_at") else delivery["status"]
                if seen == "window_closed":  # the label says it; the API's text is bilingual
                    delivery.pop("problem", None)
                delivery["status"] = _(DELIVERY[seen]) if seen in DELIVERY else seen
            history.append(
                {
                    "action": _(ACTIONS.get(e.action, e.action)),
                    "who": names.get(e.staff_id, "")
                    if e.actor == "staff"
                    else _("Người dân")
                    if e.actor == "resident"
                    else _("Hệ thống"),
                    "resident": e.actor == "resident" and e.action != "create",
                    "said": e.action != "create",
                    "note": e.note or "",
                    "from": _(STATES[e.from_status]) if e.from_status in STATES else "",
                    "to": _(STATES[e.to_status]) if e.to_status in STATES else "",
                    "changed": e.from_status != e.to_status,
                    "at": vn_date(e.at),
                    "delivery": delivery,
                }
            )
        media = []
        for n, item in enumerate(ticket.media or []):
            if item.get("upload"):
                media.append({"src": f"/console/tickets/{ticket.code}/media/{n}", "stored": True})
            elif str(item.get("url") or "").startswith(("https://", "http://")):
                media.append({"src": str(item["url"]), "stored": False})
        actions = [
            a
            for a in FORMS
            if user.role in workflow.ACTIONS[a].roles
            and ticket.status in workflow.ACTIONS[a].from_states
        ]
        sees_reporter = user.role == "leader" or (
            user.role == "officer"
            and (ticket.assignee_id == user.staff_id or me.office == ticket.office)
        )
        return self._page(
            request,
            user,
            "ticket.html",
            {
                "t": ticket,
                "category": _(CATEGORIES[ticket.category].name),
                "village": village.name if village else "",
                "state_name": _(STATES[ticket.status]),
                "office": routing.office_name(commune, ticket.office),
                "assignee": assignee.name if assignee else "",
                "received": vn_date(ticket.received_at),
                "due": vn_date(ticket.due_at),
                "age": age(ticket.received_at, now),
                "overdue": service.is_overdue(ticket, now),
                "map": map_link(ticket.lat, ticket.long),
                "media": media,
                "history": history,
                "actions": actions,
                "action_names": {a: _(ACTIONS[a]) for a in FORMS},
                "staff": [(p.id, p.name) for p in staff],
                "offices": [(o.code, o.name) for o in commune.offices if o.code != ticket.office],
                "canned": [_(c) for c in CANNED],
                "reach": reach,
                "reporter": (
                    {"name": ticket.reporter_name, "phone": ticket.reporter_phone}
                    if ticket.consent_at and sees_reporter
                    else None
                ),
                "anonymous": not ticket.consent_at,
                "error": error,
                "note": note,
                "done": _(ACTIONS[done])
                if (done := request.query.get("done", "")) in FORMS
                else "",
            },
            status,
        )

    async def media(self, request: web.Request) -> web.StreamResponse:
        """A photo stored with the ticket, for whoever may read the ticket (else 404)."""
        user = await self._user(request)
        async with self.sm() as s:
            ticket, _me = await self._ticket(s, user, request.match_info["code"])
            n = int(request.match_info["n"])
            items = ticket.media or []
            item = items[n] if n < len(items) else {}
            upload = (
                await photos.by_token(s, user.commune_id, item["upload"])
                if item.get("upload")
                else None
            )
        if upload is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=upload.content,
            content_type=upload.content_type,
            headers={
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def act(self, request: web.Request) -> web.StreamResponse:
        """One action from the ticket page, through ``service.change`` (the workflow's rules):
        a refusal re-shows the page with its reason and status, nothing changed."""
        user = await self._user(request)
        code, action = request.match_info["code"], request.match_info["action"]
        data = await self.console.form(request, user.csrf)
        if data is None:
            return self.console.refused_form(request)
        with use_language(self.console.language(request)):
            note = data.get("note", "").strip()
            pick = number(data.get("canned", ""), 3)
            if not note and pick is not None:
                note = _(CANNED[pick]) if pick < len(CANNED) else ""
            if len(note) > NOTE_MAX:
                return await self._ticket_page(
                    request,
                    user,
                    code,
                    _("Nội dung dài quá {n} ký tự.").format(n=NOTE_MAX),
                    400,
                    note,
                )
            try:
                async with self.sm() as s, s.begin():
                    ticket, me = await self._ticket(s, user, code, lock=True)
                    if action not in workflow.STAFF_ACTIONS:
                        raise web.HTTPNotFound()
                    assignee = duplicate_of = None
                    if action == "assign":
                        assignee = await s.get(Staff, _int(data.get("staff_id", "")) or 0)
                    if action == "duplicate":
                        duplicate_of = await service.by_code(
                            s, user.commune_id, data.get("of", "")[:40]
                        )
                        if duplicate_of is not None and not access.may_read(
                            me, duplicate_of, self._commune(user)
                        ):
                            duplicate_of = None
                    await service.change(
                        s,
                        ticket,
                        self._commune(user),
                        self.settings,
                        action,
                        staff=me,
                        note=note or None,
                        assignee=assignee,
                        office=data.get("office") or None,
                        body=(data.get("body") or "").strip()[:200] or None,
                        duplicate_of=duplicate_of,
                    )
                    code = ticket.code
                    # a sensitive ticket sent to another office (or officer) may leave this
                    # officer's sight: the ticket page would be a 404, so back to the list
                    still = access.may_read(me, ticket, self._commune(user))
            except workflow.TicketError as exc:
                if exc.status in (403, 404):
                    raise (web.HTTPForbidden if exc.status == 403 else web.HTTPNotFound)() from None
                return await self._ticket_page(
                    request, user, code, _why(action, exc), exc.status, note
                )
        await self.coord.publish(OUTBOUND_TOPIC)
        await self.coord.publish(TICKETS_TOPIC)
        page = f"/console/tickets/{code}" if still else "/console/inbox"
        raise web.HTTPSeeOther(f"{page}?{urlencode({'done': action})}")

    # -- a chat waiting for staff -----------------------------------------------------------
    async def _handoff(
        self, s: AsyncSession, user: auth.ConsoleUser, lock: bool = False, hid: str = ""
    ) -> Handoff:
        if user.role not in CHAT_ROLES:
            raise web.HTTPNotFound()
        query = select(Handoff).where(Handoff.id == int(hid), Handoff.commune_id == user.commune_id)
        found = (await s.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
        if found is None:
            raise web.HTTPNotFound()
        return found

    async def chat(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        with use_language(self.console.language(request)):
            return await self._chat_page(request, user)

    async def _chat_page(
        self, request: web.Request, user: auth.ConsoleUser, error: str | None = None, status=200
    ) -> web.Response:
        async with self.sm() as s:
            h = await self._handoff(s, user, hid=request.match_info["id"])
            resident = await s.get(Resident, h.resident_id)
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
        items = []
        for m in reversed(messages):
            item = _history_item(m)
            items.append(
                {
                    "mine": m.direction == "out",
                    "staff": m.intent == "staff",
                    "text": item["text"] or "",
                    "at": vn_date(m.created_at),
                }
            )
        return self._page(
            request,
            user,
            "chat.html",
            {
                "h": h,
                "status": handoff_status(h),
                "name": (resident.display_name if resident else None) or _("Người dân"),
                "messages": items,
                "reach": _reach(resident),
                "error": error,
                "opened": vn_date(h.opened_at),
                "canned": [_(c) for c in CANNED],
            },
            status,
        )

    async def chat_reply(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        data = await self.console.form(request, user.csrf)
        if data is None:
            return self.console.refused_form(request)
        text = data.get("text", "").strip()
        with use_language(self.console.language(request)):
            async with self.sm() as s, s.begin():
                h = await self._handoff(s, user, lock=True, hid=request.match_info["id"])
                resident = await s.get(Resident, h.resident_id)
                problem = None
                if not text or len(text) > 2000:
                    problem = _("Vui lòng nhập nội dung trả lời (1–2.000 ký tự).")
                elif h.closed_at is not None:
                    problem = _("Cuộc trò chuyện đã kết thúc.")
                elif resident is None or resident.erased_at is not None:
                    problem = _("Người dân đã xóa dữ liệu, không nhắn được nữa.")
                if problem is None:
                    h.replies += 1
                    h.taken_by = h.taken_by or user.staff_id
                    await self.api._send(s, h, resident, f"handoff:{h.id}:{h.replies}", text)
            if problem is not None:
                return await self._chat_page(request, user, problem, 400 if not text else 409)
        await self.coord.publish(OUTBOUND_TOPIC)
        raise web.HTTPSeeOther(f"/console/chats/{h.id}")

    async def chat_close(self, request: web.Request) -> web.StreamResponse:
        """End the chat: the bot takes it back and the resident is told (the API's close)."""
        user = await self._user(request)
        if await self.console.form(request, user.csrf) is None:
            return self.console.refused_form(request)
        with use_language(self.console.language(request)):
            async with self.sm() as s, s.begin():
                h = await self._handoff(s, user, lock=True, hid=request.match_info["id"])
                if h.closed_at is None:
                    await self.api.close_handoff(s, h, user.staff_id)
                    closed = True
                else:
                    closed = False
            if not closed:
                return await self._chat_page(request, user, _("Cuộc trò chuyện đã kết thúc."), 409)
        await self.coord.publish(OUTBOUND_TOPIC)
        raise web.HTTPSeeOther(f"/console/chats/{h.id}")


def _reach(resident: Resident | None) -> dict[str, Any]:
    """The API's ``window`` with its reason in the console's words (the API's is bilingual)."""
    reach = window(resident)
    if not reach["open"]:
        if resident is None:
            reach["why"] = _("không có kênh trò chuyện")
        elif resident.erased_at is not None:
            reach["why"] = _("Người dân đã xóa dữ liệu, không nhắn được nữa.")
        else:
            reach["why"] = _(
                "đã quá 7 ngày kể từ tin nhắn cuối của người dân (quy định của Zalo); hãy gọi "
                "điện nếu có số"
            )
    return reach


def _list_url(chosen: dict[str, str], page: int) -> str:
    """The list's address with the same filters, on ``page``."""
    return "/console/inbox?" + urlencode({**chosen, "page": str(page)})


def _int(value: str) -> int | None:
    return number(value, 18)


def _why(action: str, exc: workflow.TicketError) -> str:
    """The workflow's refusal, said for a person (the API's text is bilingual and technical)."""
    if exc.status == 409:
        return _("Không thể làm việc này ở trạng thái hiện tại của phản ánh.")
    if action in ("answer", "return", "reject", "note"):
        return _("Vui lòng nhập nội dung.")
    if action == "assign":
        return _("Vui lòng chọn một cán bộ của xã.")
    if action == "transfer":
        return _("Vui lòng chọn bộ phận nhận, hoặc ghi tên cơ quan bên ngoài (chỉ một trong hai).")
    return str(exc)


def setup(app: web.Application, services_key: web.AppKey[Any]) -> None:
    """The inbox's routes; its handlers' object is built at start-up, over the console's."""
    add_screen(app, Inbox.ROUTES, lambda app: Inbox(app[CONSOLE], app[services_key]), once=True)
