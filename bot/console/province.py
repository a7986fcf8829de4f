"""The console's "Thông báo toàn tỉnh" screen (issue 14, docs/console.md): the province operator
or a province department's publisher sends one notice to many communes of their province and
follows each commune's copy.

Nothing here re-implements a rule. The fields are checked by the province API's own model
(``bot.api.provinces.ProvinceNoticeIn``: the notice's ``NoticeFields`` and the communes) and
said in words by the compose form's ``field_problem``; the communes are ``province.resolve``'s
(active communes of the province only); whether the copies skip their leaders' approval is
``province.skips_approval`` over ``provinces.<code>.emergency_direct``; the rows are written by
``province.send`` in one transaction, as the API writes them; a form sent twice makes one
notice through the compose form's one-time key (``first_sending``). The detail page's rows are
``province.children``; a copy in the state a commune leader returned it to shows the leader's
note (``province.returns``, from the copy's audit trail), and no longer once resubmitted. An
emergency that would skip the leaders' approval is asked first on a page of its own
(``province_confirm.html``, as the notice pages ask before "Phát ngay"); its "Quay lại" posts the
same fields back (``back``) and gets the compose form filled with them, nothing written.

Who: the province's operators and department publishers (``workflow.PROVINCE_ROLES``, the same
rights here); other roles get the 403 page, and a province notice of another province is the 404
of one that does not exist. A publisher opens no commune's pages (``notices.READ``): their
detail page links no copy.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import func, select

from bot.api.provinces import ProvinceNoticeIn, columns
from bot.console import auth
from bot.console.notices import (
    PAGE,
    PRIORITY_NAMES,
    STATE_NAMES,
    FormError,
    _Again,
    field_problem,
    first_sending,
    form_text,
    may_read_notices,
)
from bot.console.web import CONSOLE, Console, add_screen, page_number, vn_date
from bot.i18n import N_, _, use_language
from bot.loops import NOTICES_TOPIC
from bot.notices import province, workflow
from bot.store.models import Notice, ProvinceNotice, Staff

BASE = "/console/province-notices"
ROUTES = (
    ("GET", BASE, "index"),
    ("GET", BASE + "/new", "compose"),
    ("POST", BASE + "/new", "create"),
    ("GET", BASE + r"/{id:[0-9]{1,30}}", "page"),
)
DONE = {
    "created": N_("Đã gửi thông báo tới các xã. Lãnh đạo từng xã duyệt bản của xã mình."),
    "direct": N_("Đã phát thông báo khẩn tới các xã, không chờ lãnh đạo xã duyệt."),
}


def may_send_province(role: str) -> bool:
    return role in workflow.PROVINCE_ROLES


def may_open_province(user: auth.ConsoleUser) -> bool:
    """Whether the screen has anything for this user (the navigation's link): a province
    operator or a department publisher whose commune belongs to a province."""
    return may_send_province(user.role) and bool(user.province_code)


class ProvinceScreen:
    def __init__(self, console: Console) -> None:
        self.c = console
        self.sm = console.sm

    async def _user(self, request: web.Request) -> auth.ConsoleUser | web.StreamResponse:
        user = await self.c.allowed(
            request,
            may_send_province,
            N_(
                "Trang thông báo toàn tỉnh dành cho quản trị viên cấp tỉnh và cán bộ sở, ngành "
                "được giao."
            ),
        )
        if isinstance(user, auth.ConsoleUser) and not user.province_code:
            raise web.HTTPNotFound()  # their commune has no province: nothing here
        return user

    # -- the list ---------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        if not isinstance(user, auth.ConsoleUser):
            return user
        page = page_number(request.query.get("page", "1"))
        mine = ProvinceNotice.province_code == user.province_code
        async with self.sm() as s:
            total = (
                await s.execute(select(func.count()).select_from(ProvinceNotice).where(mine))
            ).scalar_one()
            pages = max(1, -(-total // PAGE))
            page = min(page, pages)
            parents = list(
                (
                    await s.execute(
                        select(ProvinceNotice)
                        .where(mine)
                        .order_by(ProvinceNotice.id.desc())
                        .offset((page - 1) * PAGE)
                        .limit(PAGE)
                    )
                ).scalars()
            )
            counts = await province.states(s, [p.id for p in parents])
        with use_language(self.c.language(request)):
            rows = [
                {
                    "id": p.id,
                    "headline": p.headline,
                    "category": _(workflow.CATEGORIES.get(p.category, p.category)),
                    "priority": p.priority,
                    "priority_name": _(PRIORITY_NAMES.get(p.priority, p.priority)),
                    "created": vn_date(p.created_at),
                    "communes": sum(counts[p.id].values()),
                    "states": _states(counts[p.id]),
                }
                for p in parents
            ]
        return self.c.render(
            request,
            "province_notices.html",
            {
                "notices": rows,
                "page": page,
                "pages": pages,
                "prev_url": _list_url(page - 1) if page > 1 else "",
                "next_url": _list_url(page + 1) if page < pages else "",
                "active": "province",
            },
            user=user,
        )

    # -- composing --------------------------------------------------------------------------
    async def _communes(self, user: auth.ConsoleUser) -> list[tuple[str, str]]:
        async with self.sm() as s:
            found = await province.resolve(s, user.province_code or "", province.ALL)
        return [(c.code, c.name) for c in found.communes]

    async def compose(
        self,
        request: web.Request,
        *,
        user: auth.ConsoleUser | None = None,
        values: dict[str, Any] | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        if user is None:
            found = await self._user(request)
            if not isinstance(found, auth.ConsoleUser):
                return found
            user = found
        communes = await self._communes(user)
        values = dict(values or _blank())
        # the form's one-time key: the same form sent twice makes one province notice
        values["once"] = values.get("once") or secrets.token_urlsafe(16)
        with use_language(self.c.language(request)):
            return self.c.render(
                request,
                "province_compose.html",
                {
                    "values": values,
                    "communes": communes,
                    "categories": [(k, _(v)) for k, v in workflow.CATEGORIES.items()],
                    "priorities": [(k, _(v)) for k, v in PRIORITY_NAMES.items()],
                    "emergency_direct": self.c.settings.province(
                        user.province_code or ""
                    ).emergency_direct,
                    "error": error,
                    "active": "province",
                },
                status=status,
                user=user,
            )

    async def create(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        if not isinstance(user, auth.ConsoleUser):
            return user
        data = await self.c.form(request, user.csrf)
        if data is None:
            return self.c.refused_form(request)
        chosen = (await request.post()).getall("communes", [])
        values: dict[str, Any] = {
            "category": form_text(data, "category"),
            "priority": form_text(data, "priority") or "normal",
            "headline": form_text(data, "headline"),
            "body": form_text(data, "body"),
            "to": "all" if data.get("to") == "all" else "chosen",
            "communes": [c for c in chosen if isinstance(c, str)][:2000],
            "once": form_text(data, "once")[:64],
        }
        code = user.province_code or ""
        if data.get("back") == "1":  # "Quay lại" on the confirmation: the form as it was typed,
            # with a one-time key of its own — what is sent after going back is a new sending,
            # even if the first was sent from a tab the browser's Back brought again
            return await self.compose(request, user=user, values={**_echo(values), "once": ""})
        with use_language(self.c.language(request)):
            try:
                checked = _checked(values)
                async with self.sm() as s, s.begin():
                    resolved = await province.resolve(s, code, checked.communes)
                    if resolved.unknown:
                        raise FormError(_("Vui lòng chọn xã trong danh sách."))
                    if not resolved.communes:
                        raise FormError(_("Tỉnh chưa có xã nào đang dùng trợ lý."))
                    direct = province.skips_approval(
                        checked.priority, self.c.settings.province(code).emergency_direct
                    )
                    if direct and data.get("confirmed") != "1":  # asked first; nothing written
                        raise _Confirm(len(resolved.communes))
                    parent, _copies = await province.send(
                        s,
                        province_code=code,
                        publisher_id=user.staff_id,
                        publisher_commune_id=user.commune_id,
                        communes=resolved.communes,
                        direct=direct,
                        **columns(checked),
                    )
                    first = await first_sending(
                        self.c.coord, "province-form", user.staff_id, values["once"], parent.id
                    )
                    if first is not None:  # the same form again: undo this one, show the first
                        raise _Again(first)
            except FormError as exc:
                return await self.compose(
                    request, user=user, values=_echo(values), error=str(exc), status=400
                )
            except _Confirm as ask:
                return self.c.render(
                    request,
                    "province_confirm.html",
                    {"values": values, "communes": ask.communes, "active": "province"},
                    user=user,
                )
            except _Again as again:  # the first one's message: it went out directly or not
                async with self.sm() as s:
                    first_direct = (
                        await s.execute(
                            select(ProvinceNotice.direct).where(
                                ProvinceNotice.id == again.notice_id
                            )
                        )
                    ).scalar_one()
                raise web.HTTPSeeOther(_done_url(again.notice_id, first_direct)) from None
        if direct:  # the dispatcher looks again
            await self.c.coord.publish(NOTICES_TOPIC)
        raise web.HTTPSeeOther(_done_url(parent.id, direct))

    # -- one province notice ----------------------------------------------------------------
    async def page(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        if not isinstance(user, auth.ConsoleUser):
            return user
        raw = request.match_info["id"]
        if len(raw) > 18:
            raise web.HTTPNotFound()
        async with self.sm() as s:
            parent = (
                await s.execute(
                    select(ProvinceNotice).where(
                        ProvinceNotice.id == int(raw),
                        ProvinceNotice.province_code == user.province_code,
                    )
                )
            ).scalar_one_or_none()
            if parent is None:  # another province's, or none: the same answer
                raise web.HTTPNotFound()
            copies = await province.children(s, parent.id)
            ids = [c["notice"] for c in copies]
            returned = await province.returns(s, ids)
            approvers = {c["approved_by"] for c in copies if c["approved_by"]}
            names = dict(
                (await s.execute(select(Staff.id, Staff.name).where(Staff.id.in_(approvers)))).all()
                if approvers
                else []
            )
            # the copies this user may open (the notice pages' own tenancy rule)
            openable = (
                set(
                    (
                        await s.execute(
                            select(Notice.id).where(
                                Notice.id.in_(ids), auth.in_scope(user, Notice.commune_id)
                            )
                        )
                    ).scalars()
                )
                if ids and may_read_notices(user.role)
                else set()
            )
            author = (
                await s.execute(select(Staff.name).where(Staff.id == parent.created_by))
            ).scalar_one_or_none()
        with use_language(self.c.language(request)):
            rows = []
            for c in copies:
                # a leader's note only while their return stands: a copy resubmitted since
                # (approved, sent…) shows its state, not an old reason
                back = returned.get(c["notice"]) if c["status"] == "returned" else None
                rows.append(
                    {
                        "commune": c["commune_name"],
                        "status": c["status"],
                        "state": _(STATE_NAMES.get(c["status"], c["status"])),
                        "approved_by": names.get(c["approved_by"], ""),
                        "sent_at": vn_date(c["sent_at"]),
                        "planned": c["planned"],
                        "delivered": c["delivered"],
                        "returned": (
                            {"note": back.note, "by": back.by, "at": vn_date(back.at)}
                            if back is not None
                            else None
                        ),
                        "href": f"/console/notices/{c['notice']}"
                        if c["notice"] in openable
                        else "",
                    }
                )
            done = DONE.get(request.query.get("done", ""))
            counts: dict[str, int] = {}
            for c in copies:
                counts[c["status"]] = counts.get(c["status"], 0) + 1
            return self.c.render(
                request,
                "province_notice.html",
                {
                    "n": {
                        "id": parent.id,
                        "headline": parent.headline,
                        "category": _(workflow.CATEGORIES.get(parent.category, parent.category)),
                        "priority": parent.priority,
                        "priority_name": _(PRIORITY_NAMES.get(parent.priority, parent.priority)),
                        "created": vn_date(parent.created_at),
                        "author": author or "",
                        "direct": parent.direct,
                    },
                    "states": _states(counts),
                    "copies": rows,
                    "done": _(done) if done else None,
                    "active": "province",
                },
                user=user,
            )


class _Confirm(Exception):
    """The copies would go out without their leaders' approval: ask on a page of their own
    first (as the notice pages ask before "Phát ngay")."""

    def __init__(self, communes: int) -> None:
        self.communes = communes


def _done_url(parent_id: int, direct: bool) -> str:
    return f"{BASE}/{parent_id}?done={'direct' if direct else 'created'}"


def _checked(values: dict[str, Any]) -> ProvinceNoticeIn:
    """The form by the province API's own model; its problems said in words (``FormError``)."""
    communes: Any = province.ALL if values["to"] == "all" else values["communes"]
    if not communes:
        raise FormError(_("Vui lòng chọn ít nhất một xã, hoặc chọn toàn tỉnh."))
    body = {k: values[k] for k in ("category", "priority", "headline", "body")}
    try:
        return ProvinceNoticeIn.checked({**body, "communes": communes})
    except ValidationError as exc:
        if exc.errors()[0]["loc"][:1] == ("communes",):
            raise FormError(_("Vui lòng chọn xã trong danh sách.")) from None
        raise FormError(field_problem(exc)) from None
    except web.HTTPBadRequest:  # a value that is no commune's code
        raise FormError(_("Vui lòng chọn xã trong danh sách.")) from None


def _states(counts: Any) -> list[dict[str, Any]]:
    """Copies by state, in the workflow's order (the console's state names)."""
    return [
        {"status": k, "name": _(v), "n": counts[k]} for k, v in STATE_NAMES.items() if counts.get(k)
    ]


def _blank() -> dict[str, Any]:
    return {
        "category": "",
        "priority": "normal",
        "headline": "",
        "body": "",
        "to": "chosen",
        "communes": [],
        "once": "",
    }


def _echo(values: dict[str, Any]) -> dict[str, Any]:
    """The values an error page shows again, cut to their longest allowed length."""
    return {
        **values,
        "category": values["category"][:40],
        "priority": values["priority"][:40],
        "headline": values["headline"][:150],
        "body": values["body"][:2000],
    }


def _list_url(page: int) -> str:
    return BASE + (f"?{urlencode({'page': str(page)})}" if page > 1 else "")


def setup(app: web.Application) -> None:
    """The screen's routes, over the console's object; the nav's gate as a template global."""
    add_screen(app, ROUTES, lambda app: ProvinceScreen(app[CONSOLE]))
    # the navigation shows "Thông báo toàn tỉnh" only to those who may use it
    aiohttp_jinja2.get_env(app).globals["may_open_province"] = may_open_province
