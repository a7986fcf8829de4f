"""The console's "Tình trạng" screen (issue 14, docs/console-health.md): every commune's health
for the province operator, worst first, each problem said with what to do; one commune's page
with its health and its propagandist registry (per village who, phone, since when, Zalo linked,
last relay confirmed) and coverage.

A province operator sees the communes of their province (``/console/health``: the province's
coverage and one card per commune) and each one's page; officers and leaders see their own
commune's page (``/console/health`` sends them there). Another commune's page is the 404 of a
code that does not exist (``auth.in_scope``); propagandists are refused (403) as on the
dashboard. Figures and words: ``bot.health`` and ``bot.registry`` (shared with
``bot tenants health`` and ``bot staff propagandists``).
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console import auth
from bot.console.web import CONSOLE, Console, add_screen
from bot.health import health, scope_ids, vn_date
from bot.i18n import N_, use_language
from bot.registry import registry
from bot.store.models import Commune

ROUTES = (
    ("GET", "/console/health", "index"),
    ("GET", r"/console/health/{code:\d{5}}", "page"),
)
#: who may: the commune's officers and leaders (their commune), the province's operators
ROLES = ("officer", "leader", "operator")


def may_see_health(role: str) -> bool:
    return role in ROLES


class HealthScreen:
    def __init__(self, console: Console, services: Any) -> None:
        self.c = console
        self.services = services

    async def _user(self, request: web.Request) -> auth.ConsoleUser | web.StreamResponse:
        return await self.c.allowed(
            request,
            may_see_health,
            N_(
                "Trang tình trạng dành cho cán bộ, công chức, lãnh đạo xã và quản trị viên cấp "
                "tỉnh."
            ),
        )

    async def _token_said(self) -> dict[str, str]:
        tokens = getattr(self.services, "tokens", None)
        return await tokens.states() if tokens is not None else {}

    async def index(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        if not isinstance(user, auth.ConsoleUser):
            return user
        if not (user.role == "operator" and user.province_code):
            raise web.HTTPSeeOther(f"/console/health/{user.commune_code}")
        now = self.c.clock()
        said = await self._token_said()  # its own session: before ours (SQLite has one)
        configs = {c.code: c for c in self.c.settings.communes}
        async with self.c.sm() as s:
            ids = await scope_ids(s, province=user.province_code)
            with use_language(self.c.language(request)):
                rows = await health(s, ids, now, said)
            found = await registry(s, ids, configs)
        coverage = {c.code: c.coverage for c in found.communes}
        return self.c.render(
            request,
            "health.html",
            {
                "rows": rows,
                "coverage": coverage,
                "province": found.coverage,
                "with_problems": sum(1 for r in rows if r.problems),
                "now": vn_date(now),
                "vn_date": vn_date,
                "active": "health",
            },
            user=user,
        )

    async def page(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        if not isinstance(user, auth.ConsoleUser):
            return user
        code = request.match_info["code"]
        now = self.c.clock()
        said = await self._token_said()  # its own session: before ours (SQLite has one)
        async with self.c.sm() as s:
            ids = await scope_ids(s, codes=[code])
            # not theirs, or no such commune: the same answer
            allowed = await scope_ids_in(s, user, ids)
            if not allowed:
                raise web.HTTPNotFound()
            with use_language(self.c.language(request)):
                [row] = await health(s, allowed, now, said)
            config = self.c.settings.commune(code)
            found = await registry(s, allowed, {code: config} if config else None)
        [commune] = found.communes
        return self.c.render(
            request,
            "health_commune.html",
            {
                "row": row,
                "commune": commune,
                "coverage": commune.coverage,
                "province_view": user.role == "operator",
                "now": vn_date(now),
                "vn_date": vn_date,
                "active": "health",
            },
            user=user,
        )


async def scope_ids_in(s: AsyncSession, user: auth.ConsoleUser, ids: list[int]) -> list[int]:
    """Those of ``ids`` the user may see (``auth.in_scope``)."""
    if not ids:
        return []
    return list(
        (
            await s.execute(
                select(Commune.id).where(Commune.id.in_(ids), auth.in_scope(user, Commune.id))
            )
        ).scalars()
    )


def setup(app: web.Application, services_key: web.AppKey[Any]) -> None:
    """The screen's routes; its object is built at start-up over the console's."""
    add_screen(app, ROUTES, lambda app: HealthScreen(app[CONSOLE], app[services_key]), once=True)
    # the navigation shows "Tình trạng" only to those who may see it
    aiohttp_jinja2.get_env(app).globals["may_see_health"] = may_see_health
