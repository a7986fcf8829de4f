"""The console's log ("Nhật ký", issue 13, docs/console-staff.md): who did what and when, newest
first, 50 a page, searchable by text, person, kind and dates (dd/mm/yyyy, Vietnamese days).

Three tables, read as one (``UNION ALL``, each part filtered with its own indexes before the
union is sorted): ``audit_events`` (everything ``audit.action`` writes), ``notice_audit`` (a
notice's transitions, named by its headline) and ``ticket_events`` (a ticket's, named by its code
and states only — a resident's words are never shown here).

Text search folds Vietnamese accents on both databases without an extension: ``audit_events``
keeps its summary folded (``search_key``, written once by ``audit.action``) and is matched by a
``LIKE``; staff names and notice headlines are folded in Python over the scope's rows (a
commune's or province's staff, its newest ``HEADLINES`` notices: bounded) and matched by id;
ticket codes are ASCII. So "nguyen" finds "Nguyễn" on SQLite and PostgreSQL alike, with no
``unaccent`` to install and no copy of residents' text in a search column.

Leaders see their commune's log; a province operator their province's, with a commune filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import String, and_, cast, false, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console import auth
from bot.console.web import add_screen, page_number, vn_date
from bot.i18n import N_, _, use_language
from bot.store.models import (
    AuditEvent,
    Commune,
    Notice,
    NoticeAudit,
    Staff,
    Ticket,
    TicketEvent,
)
from bot.text import number, search_key
from bot.timeutil import VN_TZ

ROUTES = (("GET", "/console/audit", "page"),)
READERS = ("leader", "operator")
PAGE = 50
HEADLINES = 5000  # the newest notices whose headlines a text search folds in Python
DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")

#: the log's kinds (``object_kind``); a kind written by a later screen and not named here is
#: still listed and filtered, under its own word
KINDS = {
    "account": N_("Đăng nhập"),
    "staff": N_("Cán bộ"),
    "knowledge": N_("Kiến thức"),
    "notice": N_("Thông báo"),
    "ticket": N_("Phản ánh"),
    "facts": N_("Thông tin xã"),
}
#: kinds whose object is a staff member: the person filter shows what was done to them too
PERSON_KINDS = ("account", "staff")
#: ``audit.action``'s actions as the log says them; an unknown one is shown as written
ACTION_LABELS = {
    "signed_in": N_("Đăng nhập"),
    "signed_out": N_("Đăng xuất"),
    "sign_in_failed": N_("Đăng nhập sai mật khẩu"),
    "locked_out": N_("Tạm khóa đăng nhập do sai nhiều lần"),
    "password_set": N_("Đặt mật khẩu"),
    "staff_added": N_("Thêm cán bộ"),
    "staff_changed": N_("Sửa thông tin cán bộ"),
    "staff_deactivated": N_("Khóa tài khoản"),
    "staff_reactivated": N_("Mở lại tài khoản"),
    "invitation_issued": N_("Gửi liên kết đặt mật khẩu"),
    "keys_revoked": N_("Thu hồi khóa API"),
    "key_rotated": N_("Cấp khóa API mới"),
    "zalo_linked": N_("Liên kết đăng nhập Zalo"),
    "zalo_unlinked": N_("Bỏ liên kết Zalo"),
    "knowledge_created": N_("Thêm câu trả lời"),
    "knowledge_changed": N_("Sửa câu trả lời"),
    "knowledge_deleted": N_("Xóa câu trả lời"),
    "knowledge_hidden": N_("Ẩn câu trả lời của tỉnh"),
    "knowledge_shown": N_("Dùng lại câu trả lời của tỉnh"),
    "knowledge_imported": N_("Nhập tệp kiến thức"),
    "intent_taught": N_("Dạy trợ lý câu hỏi mới"),
    "facts_changed": N_("Sửa thông tin xã"),
}


def may_read(role: str) -> bool:
    return role in READERS


class BadFilter(ValueError):
    """A filter the person typed that cannot be read; the message is for them."""


def vn_day(text: str) -> datetime | None:
    """dd/mm/yyyy → that day's start in Vietnamese time (aware), ``None`` for nothing typed."""
    text = text.strip()
    if not text:
        return None
    m = DMY.fullmatch(text)
    try:
        if m is None:
            raise ValueError(text)
        return datetime(int(m[3]), int(m[2]), int(m[1]), tzinfo=VN_TZ)
    except ValueError:
        raise BadFilter(
            _("Ngày {text} không đúng dạng ngày/tháng/năm.").format(text=text)
        ) from None


def _like(folded: str) -> str:
    return "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Filters:
    """The query string, read and checked once."""

    def __init__(self, query: Any) -> None:
        self.q = query.get("q", "").strip()[:100]
        self.staff = query.get("staff", "")
        self.kind = query.get("kind", "")
        self.commune = query.get("commune", "")
        self.since_text = query.get("from", "").strip()[:10]
        self.until_text = query.get("to", "").strip()[:10]
        self.page = page_number(query.get("page", "1"))
        if self.staff and number(self.staff, 9) is None:
            self.staff = ""
        if self.kind and not re.fullmatch(r"[a-z_]{1,24}", self.kind):
            self.kind = ""
        self.since = vn_day(self.since_text)
        until = vn_day(self.until_text)
        self.until = until + timedelta(days=1) if until else None  # the whole last day

    def link(self, **change: Any) -> str:
        values = {
            "q": self.q,
            "staff": self.staff,
            "kind": self.kind,
            "commune": self.commune,
            "from": self.since_text,
            "to": self.until_text,
            "page": str(self.page),
            **{k: str(v) for k, v in change.items()},
        }
        from urllib.parse import urlencode

        return "/console/audit?" + urlencode({k: v for k, v in values.items() if v})


async def _matching_staff(s: AsyncSession, scope: Any, folded: str) -> list[int]:
    rows = (await s.execute(select(Staff.id, Staff.name, Staff.login).where(scope(Staff)))).all()
    return [i for i, name, login in rows if folded in search_key(f"{name} {login or ''}")]


async def _matching_notices(s: AsyncSession, scope: Any, folded: str) -> list[int]:
    rows = (
        await s.execute(
            select(Notice.id, Notice.headline)
            .where(scope(Notice))
            .order_by(Notice.id.desc())
            .limit(HEADLINES)
        )
    ).all()
    return [i for i, headline in rows if folded in search_key(headline)]


async def read_log(
    s: AsyncSession, communes: Callable[[Any], Any], f: Filters
) -> tuple[list[Any], bool]:
    """One page of the log in ``communes`` (a function: model → its SQL scope condition) with
    the filters; and whether there is a next page."""

    def scoped(model: Any) -> Any:
        return communes(model.commune_id)

    a: Any = select(
        AuditEvent.at.label("at"),
        literal("a").label("src"),
        AuditEvent.id.label("rid"),
        AuditEvent.commune_id.label("commune_id"),
        AuditEvent.staff_id.label("staff_id"),
        AuditEvent.actor.label("actor"),
        AuditEvent.action.label("action"),
        AuditEvent.object_kind.label("kind"),
        AuditEvent.object_id.label("object"),
        AuditEvent.summary.label("summary"),
        literal(None, String).label("from_status"),
        literal(None, String).label("to_status"),
    ).where(scoped(AuditEvent))
    n: Any = (
        select(
            NoticeAudit.at,
            literal("n"),
            NoticeAudit.id,
            NoticeAudit.commune_id,
            NoticeAudit.staff_id,
            literal("staff"),
            NoticeAudit.action,
            literal("notice"),
            cast(NoticeAudit.notice_id, String),
            Notice.headline,
            NoticeAudit.from_status,
            NoticeAudit.to_status,
        )
        .join(Notice, Notice.id == NoticeAudit.notice_id)
        .where(scoped(NoticeAudit))
    )
    t: Any = (
        select(
            TicketEvent.at,
            literal("t"),
            TicketEvent.id,
            TicketEvent.commune_id,
            TicketEvent.staff_id,
            TicketEvent.actor,
            TicketEvent.action,
            literal("ticket"),
            Ticket.code,
            Ticket.code,
            TicketEvent.from_status,
            TicketEvent.to_status,
        )
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(scoped(TicketEvent))
    )
    if f.kind:
        a = a.where(AuditEvent.object_kind == f.kind)
        n = n if f.kind == "notice" else n.where(false())
        t = t if f.kind == "ticket" else t.where(false())
    if f.staff:
        who = int(f.staff)
        a, n, t = (
            a.where(
                or_(
                    AuditEvent.staff_id == who,
                    and_(
                        AuditEvent.object_kind.in_(PERSON_KINDS),
                        AuditEvent.object_id == str(who),
                    ),
                )
            ),
            n.where(NoticeAudit.staff_id == who),
            t.where(TicketEvent.staff_id == who),
        )
    if f.since is not None:
        a, n, t = (
            a.where(AuditEvent.at >= f.since),
            n.where(NoticeAudit.at >= f.since),
            t.where(TicketEvent.at >= f.since),
        )
    if f.until is not None:
        a, n, t = (
            a.where(AuditEvent.at < f.until),
            n.where(NoticeAudit.at < f.until),
            t.where(TicketEvent.at < f.until),
        )
    folded = search_key(f.q)
    if folded:
        people = await _matching_staff(s, scoped, folded)
        notices = await _matching_notices(s, scoped, folded)
        a = a.where(
            or_(
                AuditEvent.search_key.like(_like(folded), escape="\\"),
                AuditEvent.staff_id.in_(people) if people else false(),
            )
        )
        n = n.where(
            or_(
                NoticeAudit.notice_id.in_(notices) if notices else false(),
                NoticeAudit.staff_id.in_(people) if people else false(),
            )
        )
        t = t.where(
            or_(
                Ticket.code.ilike(_like(f.q), escape="\\"),
                TicketEvent.staff_id.in_(people) if people else false(),
            )
        )
    # each part brings at most the rows this page could need, newest first by its own index
    # (commune, at): the union then sorts a few hundred rows, not a commune's whole history
    wanted = f.page * PAGE + 1
    parts = []
    for part, model in ((a, AuditEvent), (n, NoticeAudit), (t, TicketEvent)):
        inner = part.order_by(model.at.desc(), model.id.desc()).limit(wanted).subquery()
        parts.append(select(inner))
    both = union_all(*parts).subquery()
    rows = (
        await s.execute(
            select(both)
            .order_by(both.c.at.desc(), both.c.src, both.c.rid.desc())
            .limit(PAGE + 1)
            .offset((f.page - 1) * PAGE)
        )
    ).all()
    return list(rows[:PAGE]), len(rows) > PAGE


class AuditLog:
    def __init__(self, console: Any) -> None:
        self.c = console
        self.sm = console.sm

    async def page(self, request: web.Request) -> web.StreamResponse:
        user = await self.c.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        with use_language(self.c.language(request)):
            if not may_read(user.role):
                return self.c.render(
                    request,
                    "questions_message.html",
                    {
                        "title": _("Không có quyền"),
                        "text": _("Trang này dành cho lãnh đạo xã và quản trị viên cấp tỉnh."),
                    },
                    status=403,
                    user=user,
                )
            error, status = None, 200
            try:
                f = Filters(request.query)
            except BadFilter as exc:
                f = Filters({k: v for k, v in request.query.items() if k not in ("from", "to")})
                error, status = str(exc), 400
        async with self.sm() as s:
            communes = (
                await s.execute(
                    select(Commune.id, Commune.code, Commune.name)
                    .where(auth.in_scope(user, Commune.id))
                    .order_by(Commune.name)
                )
            ).all()
            chosen = next((c for c in communes if c.code == f.commune), None)
            if f.commune and chosen is None:
                raise web.HTTPNotFound()  # another province's commune: as if it did not exist

            def scope(column: Any) -> Any:
                return column == chosen.id if chosen else auth.in_scope(user, column)

            rows, more = await read_log(s, scope, f)
            people = (
                await s.execute(
                    select(Staff.id, Staff.name, Staff.commune_id)
                    .where(scope(Staff.commune_id))
                    .order_by(Staff.name)
                )
            ).all()
        names = {p.id: p.name for p in people}
        commune_names = {c.id: c.name for c in communes}
        with use_language(self.c.language(request)):
            lines = [self._line(r, names, commune_names, user) for r in rows]
            kinds = [(k, _(label)) for k, label in KINDS.items()]
        return self.c.render(
            request,
            "audit.html",
            {
                "lines": lines,
                "f": f,
                "people": [(p.id, p.name) for p in people],
                "kinds": kinds,
                "communes": [(c.code, c.name) for c in communes] if user.role == "operator" else [],
                "newer": f.link(page=f.page - 1) if f.page > 1 else None,
                "older": f.link(page=f.page + 1) if more else None,
                "error": error,
                "active": "audit",
            },
            status=status,
            user=user,
        )

    @staticmethod
    def _line(
        r: Any, names: dict[int, str], communes: dict[int, str], user: auth.ConsoleUser
    ) -> dict[str, str]:
        if r.actor == "cli":
            who = "CLI"
        elif r.staff_id is not None:
            who = names.get(r.staff_id, f"#{r.staff_id}")
        elif r.actor == "resident":
            who = _("Người dân")
        else:
            who = _("Hệ thống")
        label = ACTION_LABELS.get(r.action)
        what = _(label) if label else r.action
        if r.src == "n":
            what = _("Thông báo: {action}").format(action=r.action)
        elif r.src == "t":
            what = _("Phản ánh: {action}").format(action=r.action)
        states = f"{r.from_status or '–'} → {r.to_status}" if r.to_status else ""
        return {
            "at": vn_date(r.at),
            "who": who,
            "what": what,
            "summary": r.summary or "",
            "states": states,
            "kind": _(KINDS[r.kind]) if r.kind in KINDS else r.kind,
            "commune": communes.get(r.commune_id, "") if user.role == "operator" else "",
        }


def setup(app: web.Application, console_key: web.AppKey[Any]) -> None:
    """The screen's route over the console registered at ``console_key``."""
    import aiohttp_jinja2

    add_screen(app, ROUTES, lambda app: AuditLog(app[console_key]))
    aiohttp_jinja2.get_env(app).globals["may_read_log"] = may_read
