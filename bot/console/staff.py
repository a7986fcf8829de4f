"""The console's staff screen ("Cán bộ", issue 13, docs/console-staff.md).

``/console/staff``: a commune's staff — role, office, village, console login (and whether its
password is set), active, last sign-in, live API keys (prefix, last use) — with the forms to add
someone (the one-time invitation link shown once, in the answer to that POST, never stored but
as its hash), re-issue an invitation, deactivate or reactivate an account, revoke its keys.

Nothing here re-decides a rule: who may manage whom is the staff API's ``permit`` (leaders their
commune's staff but operators, province operators their province's; nobody deactivates or
revokes themself), the changes are ``bot.staff``'s (deactivating ends the console sessions,
revokes the keys, voids the invitations), logins, passwords and invitations ``console.auth``'s,
tenancy ``auth.owned`` (another commune's staff member, or another province's for an operator,
is the 404 of one that does not exist). Every change writes its line through ``audit.action``
in the change's own transaction.

A staff member added here gets no API key: ``add_staff`` issues one, which nobody would ever
see, so it is revoked in the same transaction; keys are issued with `bot staff rotate-key`.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot import staff as staffing
from bot.api.auth import Identity
from bot.api.staff import LEADER_MANAGES, permit
from bot.console import auth
from bot.console.web import ROLE_NAMES, add_screen, vn_date
from bot.i18n import _, use_language
from bot.store.models import AuditEvent, Commune, Staff, StaffKey, Village
from bot.store.ops import forget_zalo_login

ROUTES = (
    ("GET", "/console/staff", "page"),
    ("POST", "/console/staff", "add"),
    ("POST", r"/console/staff/{id}/invite", "reinvite"),
    ("POST", r"/console/staff/{id}/deactivate", "deactivate"),
    ("POST", r"/console/staff/{id}/reactivate", "reactivate"),
    ("POST", r"/console/staff/{id}/revoke-keys", "revoke_keys"),
    ("POST", r"/console/staff/{id}/unlink-zalo", "unlink_zalo"),
)
MANAGERS = ("leader", "operator")
#: roles the console adds (a province operator is made with `bot staff add`); a province
#: operator also adds a province department's publisher (``publisher``), a leader never
ADDABLE = LEADER_MANAGES
OPERATOR_ADDS = (*LEADER_MANAGES, "publisher")


def may_manage(role: str) -> bool:
    return role in MANAGERS


def addable(role: str) -> tuple[str, ...]:
    """The roles this user's staff screen may add."""
    return OPERATOR_ADDS if role == "operator" else ADDABLE


def identity(user: auth.ConsoleUser) -> Identity:
    """The signed-in user as the staff API's ``permit`` knows a caller."""
    return Identity(user.staff_id, user.commune_id, user.commune_code, user.role, user.village_id)


class StaffScreen:
    def __init__(self, console: Any) -> None:
        self.c = console
        self.sm = console.sm

    # -- plumbing ---------------------------------------------------------------------------
    async def _user(self, request: web.Request) -> auth.ConsoleUser:
        user = await self.c.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if not may_manage(user.role):
            raise self._page_error(
                request,
                user,
                403,
                _("Không có quyền"),
                _("Trang này dành cho lãnh đạo xã và quản trị viên cấp tỉnh."),
            )
        return user

    def _page_error(
        self, request: web.Request, user: auth.ConsoleUser, status: int, title: str, text: str
    ) -> web.HTTPException:
        with use_language(self.c.language(request)):
            response = self.c.render(
                request,
                "questions_message.html",
                {"title": title, "text": text},
                status=status,
                user=user,
            )
        kind = {403: web.HTTPForbidden, 409: web.HTTPConflict}.get(status, web.HTTPBadRequest)
        exc = kind(text=response.text, content_type="text/html")
        for name in ("Content-Security-Policy", "Cache-Control", "X-Frame-Options"):
            exc.headers[name] = response.headers[name]
        return exc

    async def _form(self, request: web.Request, user: auth.ConsoleUser) -> dict[str, str]:
        data = await self.c.form(request, user.csrf)
        if data is None:
            response = self.c.refused_form(request)
            exc = web.HTTPForbidden(text=response.text, content_type="text/html")
            exc.headers["Content-Security-Policy"] = response.headers["Content-Security-Policy"]
            raise exc
        return data

    def _permit(
        self, request: web.Request, user: auth.ConsoleUser, target: Staff | None, action: str
    ) -> None:
        """``permit`` (bot/api/staff.py) decides; its refusals become the console's pages."""
        try:
            permit(identity(user), target, action)
        except web.HTTPException as exc:
            with use_language(self.c.language(request)):
                if exc.status == 409:
                    raise self._page_error(
                        request,
                        user,
                        409,
                        _("Không thể tự làm việc này"),
                        _("Anh/chị không thể tự khóa tài khoản hay tự thu hồi khóa của mình."),
                    ) from None
                raise self._page_error(
                    request,
                    user,
                    403,
                    _("Không có quyền"),
                    _("Anh/chị không quản lý được tài khoản này."),
                ) from None

    async def _commune(self, s: AsyncSession, user: auth.ConsoleUser, code: str | None) -> Commune:
        """The commune asked for (an operator: one of their province's), else the user's; one
        outside the user's reach is a 404."""
        if not code or code == user.commune_code:
            return await s.get_one(Commune, user.commune_id)
        found = (
            await s.execute(
                select(Commune).where(Commune.code == code, auth.in_scope(user, Commune.id))
            )
        ).scalar_one_or_none()
        if found is None:
            raise web.HTTPNotFound()
        return found

    def _offices(self, commune: Commune) -> list[tuple[str, str]]:
        config = self.c.settings.commune(commune.code)
        return [(o.code, o.name) for o in config.offices] if config else []

    # -- the list ---------------------------------------------------------------------------
    async def page(
        self,
        request: web.Request,
        *,
        user: auth.ConsoleUser | None = None,
        commune_code: str | None = None,
        error: str | None = None,
        form: dict[str, str] | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        user = user or await self._user(request)
        self._permit(request, user, None, "list")
        async with self.sm() as s:
            commune = await self._commune(s, user, commune_code or request.query.get("commune"))
            people = await self._people(s, commune.id)
            villages = (
                (
                    await s.execute(
                        select(Village.name)
                        .where(Village.commune_id == commune.id)
                        .order_by(Village.name)
                    )
                )
                .scalars()
                .all()
            )
            communes: list[tuple[str, str]] = []
            if user.role == "operator":
                communes = [
                    (code, name)
                    for code, name in (
                        await s.execute(
                            select(Commune.code, Commune.name)
                            .where(auth.in_scope(user, Commune.id))
                            .order_by(Commune.name)
                        )
                    ).all()
                ]
        offices = self._offices(commune)
        with use_language(self.c.language(request)):
            done = {
                "deactivated": _(
                    "Đã khóa tài khoản: các phiên đăng nhập và khóa API đã hết hiệu lực."
                ),
                "reactivated": _("Đã mở lại tài khoản. Hãy gửi liên kết đặt mật khẩu mới nếu cần."),
                "revoked": _("Đã thu hồi các khóa API."),
                "zalo_unlinked": _(
                    "Đã gỡ liên kết Zalo và đăng xuất người này khỏi bảng điều khiển."
                ),
            }.get(request.query.get("done", ""))
            roles = [(r, _(ROLE_NAMES[r])) for r in addable(user.role)]
            office_names = dict(offices)
            rows = [
                {
                    **p,
                    "role_name": _(ROLE_NAMES.get(p["role"], p["role"])),
                    "office_name": office_names.get(p["office"] or "", p["office"] or ""),
                    "self": p["id"] == user.staff_id,
                    "manageable": user.role == "operator" or p["role"] in LEADER_MANAGES,
                }
                for p in people
            ]
        return self.c.render(
            request,
            "staff.html",
            {
                "commune": {"code": commune.code, "name": commune.name},
                "communes": communes,
                "people": rows,
                "roles": roles,
                "offices": offices,
                "villages": villages,
                "values": form
                or {"name": "", "role": "officer", "office": "", "village": "", "login": ""},
                "error": error,
                "done": done,
                "active": "staff",
            },
            status=status,
            user=user,
        )

    async def _people(self, s: AsyncSession, commune_id: int) -> list[dict[str, Any]]:
        people = (
            await s.execute(
                select(Staff, Village.name)
                .outerjoin(Village, Village.id == Staff.village_id)
                .where(Staff.commune_id == commune_id)
                .order_by(Staff.active.desc(), Staff.name, Staff.id)
            )
        ).all()
        keys: dict[int, list[dict[str, str]]] = {}
        for key in (
            await s.execute(
                select(StaffKey)
                .where(StaffKey.commune_id == commune_id, StaffKey.revoked_at.is_(None))
                .order_by(StaffKey.id)
            )
        ).scalars():
            keys.setdefault(key.staff_id, []).append(
                {
                    "prefix": key.prefix or "?",
                    "created": vn_date(key.created_at, with_time=False),
                    "used": vn_date(key.used_at),
                }
            )
        signed_in = dict(
            (
                await s.execute(
                    select(AuditEvent.staff_id, func.max(AuditEvent.at))
                    .where(AuditEvent.commune_id == commune_id, AuditEvent.action == "signed_in")
                    .group_by(AuditEvent.staff_id)
                )
            ).all()
        )
        return [
            {
                "id": p.id,
                "name": p.name,
                "role": p.role,
                "office": p.office,
                "village": village or "",
                "login": p.login or "",
                "password": bool(p.password_hash),
                "active": p.active,
                "signed_in": vn_date(signed_in.get(p.id)),
                "keys": keys.get(p.id, []),
                "zalo": p.zalo_login_name or ("Zalo" if p.zalo_login_id else ""),
                "zalo_linked": vn_date(p.zalo_linked_at) if p.zalo_login_id else "",
            }
            for p, village in people
        ]

    # -- changes ----------------------------------------------------------------------------
    def _back(self, commune_code: str, done: str) -> web.HTTPException:
        return web.HTTPSeeOther(f"/console/staff?commune={commune_code}&done={done}")

    async def add(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        data = await self._form(request, user)
        self._permit(request, user, None, "list")
        form = {k: data.get(k, "").strip() for k in ("name", "role", "office", "village", "login")}
        code = data.get("commune") or user.commune_code
        with use_language(self.c.language(request)):
            try:
                async with self.sm() as s, s.begin():
                    commune = await self._commune(s, user, code)
                    offices = [o for o, _name in self._offices(commune)]
                    problem = self._problem(form, offices, addable(user.role))
                    if problem:
                        raise auth.AccountError(problem)
                    try:
                        member, _key = await staffing.add_staff(
                            s,
                            commune.code,
                            form["name"],
                            form["role"],
                            form["village"] or None,
                            None,
                            form["office"] or None,
                            offices or None,
                        )
                    except staffing.StaffError as exc:
                        raise auth.AccountError(
                            _("Chưa thêm được cán bộ: {problem}").format(problem=str(exc))
                        ) from None
                    await staffing.revoke_keys(s, member)  # nobody saw it (module docstring)
                    await auth.set_login(s, member, form["login"])
                    token = await auth.invite(s, member, self.c.clock())
                    detail = {"role": member.role, "login": member.login}
                    audit.action(
                        s,
                        commune.id,
                        user.staff_id,
                        "staff_added",
                        "staff",
                        member.id,
                        member.name,
                        detail,
                    )
                    audit.action(
                        s,
                        commune.id,
                        user.staff_id,
                        "invitation_issued",
                        "staff",
                        member.id,
                        member.name,
                    )
                    shown = {"name": member.name, "login": member.login}
            except auth.AccountError as exc:  # rolled back: nobody added
                return await self.page(
                    request, user=user, commune_code=code, error=str(exc), form=form, status=400
                )
        return self._invited(request, user, shown, token, code)

    @staticmethod
    def _problem(form: dict[str, str], offices: list[str], roles: tuple[str, ...]) -> str | None:
        if not form["name"] or len(form["name"]) > 200:
            return _("Vui lòng nhập họ và tên (tối đa 200 ký tự).")
        if form["role"] not in roles:
            return _("Vui lòng chọn vai trò.")
        if form["role"] == "propagandist" and not form["village"]:
            return _("Tuyên truyền viên cần có thôn, bản.")
        if form["office"] and form["office"] not in offices:
            return _("Vui lòng chọn bộ phận trong danh sách.")
        if not form["login"]:
            return _("Vui lòng nhập tên đăng nhập.")
        return None

    def _invited(
        self,
        request: web.Request,
        user: auth.ConsoleUser,
        member: dict[str, Any],
        token: str,
        commune_code: str,
    ) -> web.Response:
        """The link, once: in this answer only (no-store), never in a URL we redirect to."""
        hours = int(auth.INVITE_TTL.total_seconds() // 3600)
        return self.c.render(
            request,
            "staff_invited.html",
            {
                "member": member,
                "link": auth.invitation_link(self.c.settings.public_url, token),
                "hours": hours,
                "commune_code": commune_code,
                "active": "staff",
            },
            user=user,
        )

    async def _member(self, request: web.Request) -> tuple[auth.ConsoleUser, dict[str, str]]:
        """The user (leader or operator) and their form, CSRF checked, before anything is read."""
        user = await self._user(request)
        return user, await self._form(request, user)

    async def reinvite(self, request: web.Request) -> web.StreamResponse:
        user, data = await self._member(request)
        with use_language(self.c.language(request)):
            try:
                async with self.sm() as s, s.begin():
                    member = await auth.owned(s, user, Staff, request.match_info["id"])
                    self._permit(request, user, member, "invite")
                    code = (await s.get_one(Commune, member.commune_id)).code
                    if not member.active:
                        raise auth.AccountError(
                            _("Tài khoản đã bị khóa; vui lòng mở lại trước khi gửi liên kết.")
                        )
                    if not member.login:
                        await auth.set_login(s, member, data.get("login", ""))
                        audit.action(
                            s,
                            member.commune_id,
                            user.staff_id,
                            "staff_changed",
                            "staff",
                            member.id,
                            member.name,
                            {"login": member.login},
                        )
                    token = await auth.invite(s, member, self.c.clock())
                    audit.action(
                        s,
                        member.commune_id,
                        user.staff_id,
                        "invitation_issued",
                        "staff",
                        member.id,
                        member.name,
                    )
                    shown = {"name": member.name, "login": member.login}
            except auth.AccountError as exc:
                async with self.sm() as s:
                    member = await auth.owned(s, user, Staff, request.match_info["id"])
                    code = (await s.get_one(Commune, member.commune_id)).code
                return await self.page(
                    request, user=user, commune_code=code, error=str(exc), status=400
                )
        return self._invited(request, user, shown, token, code)

    async def deactivate(self, request: web.Request) -> web.StreamResponse:
        user, _data = await self._member(request)
        async with self.sm() as s, s.begin():
            member = await auth.owned(s, user, Staff, request.match_info["id"])
            self._permit(request, user, member, "deactivate")
            code = (await s.get_one(Commune, member.commune_id)).code
            if member.active:
                cancelled = await staffing.deactivate(s, member)
                audit.action(
                    s,
                    member.commune_id,
                    user.staff_id,
                    "staff_deactivated",
                    "staff",
                    member.id,
                    member.name,
                    {"alerts_cancelled": cancelled},
                )
        raise self._back(code, "deactivated")

    async def reactivate(self, request: web.Request) -> web.StreamResponse:
        user, _data = await self._member(request)
        async with self.sm() as s, s.begin():
            member = await auth.owned(s, user, Staff, request.match_info["id"])
            self._permit(request, user, member, "reactivate")
            code = (await s.get_one(Commune, member.commune_id)).code
            if not member.active:
                await staffing.reactivate(s, member)
                await staffing.revoke_keys(s, member)  # its new key is not shown here either
                audit.action(
                    s,
                    member.commune_id,
                    user.staff_id,
                    "staff_reactivated",
                    "staff",
                    member.id,
                    member.name,
                )
        raise self._back(code, "reactivated")

    async def revoke_keys(self, request: web.Request) -> web.StreamResponse:
        user, _data = await self._member(request)
        async with self.sm() as s, s.begin():
            member = await auth.owned(s, user, Staff, request.match_info["id"])
            self._permit(request, user, member, "revoke-key")
            code = (await s.get_one(Commune, member.commune_id)).code
            revoked = await staffing.revoke_keys(s, member)
            if revoked:
                audit.action(
                    s,
                    member.commune_id,
                    user.staff_id,
                    "keys_revoked",
                    "staff",
                    member.id,
                    member.name,
                    {"keys": revoked},
                )
        raise self._back(code, "revoked")

    async def unlink_zalo(self, request: web.Request) -> web.StreamResponse:
        """What `bot staff unlink-zalo` does (``ops.forget_zalo_login``): a leader removes a
        Zalo sign-in they do not trust; the person signs in with their password again."""
        user, _data = await self._member(request)
        async with self.sm() as s, s.begin():
            member = await auth.owned(s, user, Staff, request.match_info["id"])
            self._permit(request, user, member, "unlink-zalo")
            code = (await s.get_one(Commune, member.commune_id)).code
            name = member.zalo_login_name
            if await forget_zalo_login(s, member, sign_out=True):
                audit.action(
                    s,
                    member.commune_id,
                    user.staff_id,
                    "zalo_unlinked",
                    "staff",
                    member.id,
                    member.name,
                    {"zalo_name": name} if name else None,
                )
        raise self._back(code, "zalo_unlinked")


def setup(app: web.Application, console_key: web.AppKey[Any]) -> None:
    """The screen's routes over the console registered at ``console_key``."""
    add_screen(app, ROUTES, lambda app: StaffScreen(app[console_key]))
    aiohttp_jinja2.get_env(app).globals["may_manage_staff"] = may_manage
