"""The console on the service's app: its base (sign-in, sessions, templates: ``web.setup``) and
then each screen, from its own module — here, above them all, so the screens may use the base
(``web``) without the base importing them."""

from __future__ import annotations

from typing import Any

from aiohttp import web as aiohttp_web

from bot.console import (
    auditlog,
    dashboard,
    facts,
    health,
    inbox,
    notices,
    province,
    questions,
    report,
    staff,
    web,
    zalo_login,
    zalo_page,
)


def setup(app: aiohttp_web.Application, services_key: Any) -> None:
    web.setup(app, services_key)
    inbox.setup(app, services_key)
    questions.setup(app, web.CONSOLE)
    notices.setup(app, web.CONSOLE)
    province.setup(app)
    zalo_page.setup(app, services_key)
    zalo_login.setup(app, services_key)
    facts.setup(app, services_key)
    dashboard.setup(app)
    report.setup(app)
    health.setup(app, services_key)
    staff.setup(app, web.CONSOLE)
    auditlog.setup(app, web.CONSOLE)
