"""The console's dashboard, "Tổng quan" (issue 13, docs/console-dashboard.md): messages a day,
answered and missed, the top questions, tickets by state, the on-time rate, notices sent and
their reach — for the last 7, 30 or 90 Vietnamese days (``?days=``, 30 by default).

Commune staff (officers, leaders) see their commune; a province operator sees the province's
totals with one row per commune, and one commune with ``?commune=CODE``. A commune that is not
the user's (another province's, for an operator) is the 404 of one that does not exist.
Propagandists are refused (403) as on the questions screen: the figures include residents'
questions. Counts only: no ticket's content, so sensitive tickets count like the others.

The figures are ``bot.figures.queries`` (SQL, reused by the yearly report), the charts
``bot.figures.svg`` (inline SVG, no script or style: the console's CSP holds); each chart is
followed by its numbers in a table inside ``<details>``.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from bot.console import auth
from bot.console.inbox import STATES
from bot.console.web import CONSOLE, Console, add_screen
from bot.figures import svg
from bot.figures.queries import STATE_ORDER, CommuneFigures, Figures, figures
from bot.figures.window import CHOICES, Window
from bot.i18n import N_, _, use_language
from bot.store.models import Commune

ROUTES = (("GET", "/console/dashboard", "dashboard"),)
#: who sees the figures: the commune's officers and leaders, the province's operators
ROLES = ("officer", "leader", "operator")
QUESTION_CHARS = 48  # a question's label in the chart (the table has it whole)


def may_see_dashboard(role: str) -> bool:
    return role in ROLES


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _dm(day: Any) -> str:
    return day.strftime("%d/%m")


def _short(text: str) -> str:
    return text if len(text) <= QUESTION_CHARS else text[: QUESTION_CHARS - 1] + "…"


class Dashboard:
    def __init__(self, console: Console) -> None:
        self.c = console

    async def dashboard(self, request: web.Request) -> web.StreamResponse:
        user = await self.c.allowed(
            request,
            may_see_dashboard,
            N_(
                "Trang tổng quan dành cho cán bộ, công chức, lãnh đạo xã và quản trị viên cấp tỉnh."
            ),
        )
        if isinstance(user, web.Response):
            return user
        now = self.c.clock()
        window = Window.chosen(request.query.get("days"), now)
        async with self.c.sm() as s:
            communes = [
                (cid, code, name)
                for cid, code, name in (
                    await s.execute(
                        select(Commune.id, Commune.code, Commune.name)
                        .where(auth.in_scope(user, Commune.id))
                        .order_by(Commune.name, Commune.code)
                    )
                ).all()
            ]
            wanted = request.query.get("commune", "")
            province = user.role == "operator" and bool(user.province_code)
            if wanted:
                chosen = [c for c in communes if c[1] == wanted]
                if not chosen:  # not theirs, or no such commune: the same answer
                    raise web.HTTPNotFound()
            elif province:
                chosen = communes
            else:
                chosen = [c for c in communes if c[0] == user.commune_id]
            found = await figures(s, [c[0] for c in chosen], window, now)
        with use_language(self.c.language(request)):
            context = self._context(found, chosen, communes, province and not wanted)
        return self.c.render(
            request,
            "dashboard.html",
            {
                **context,
                "days": window.days,
                "choices": CHOICES,
                "first": window.first.strftime("%d/%m/%Y"),
                "last": window.last.strftime("%d/%m/%Y"),
                "communes": [(code, name) for _cid, code, name in communes] if province else [],
                "commune": wanted,
                "active": "dashboard",
            },
            user=user,
        )

    def _context(
        self,
        found: Figures,
        chosen: list[tuple[int, str, str]],
        communes: list[tuple[int, str, str]],
        whole_province: bool,
    ) -> dict[str, Any]:
        total = found.total
        traffic = total.traffic
        series = found.series(total)
        labels = [_dm(day) for day, _t in series]
        states = [(name, total.states.get(name, 0)) for name in STATE_ORDER]
        state_names = [_(STATES[name]) for name, _n in states]
        due = total.deadlines
        reach = total.notices
        scope = _("Toàn tỉnh") if whole_province else (chosen[0][2] if chosen else "")
        answered, missed = _("Đã trả lời"), _("Chưa trả lời được")
        charts = {
            "messages": svg.bars(
                _("Tin nhắn của người dân mỗi ngày"),
                _("{n} tin nhắn từ {a} đến {b}: {ok} đã trả lời, {miss} chưa trả lời được.").format(
                    n=traffic.messages,
                    a=labels[0] if labels else "",
                    b=labels[-1] if labels else "",
                    ok=traffic.answered,
                    miss=traffic.missed,
                ),
                labels,
                [
                    svg.Series(answered, [t.answered for _d, t in series], svg.PALETTE[0]),
                    svg.Series(missed, [t.missed for _d, t in series], svg.PALETTE[1]),
                ],
            ),
            "questions": svg.hbars(
                _("Câu hỏi nhiều nhất"),
                _("Số lần người dân hỏi mỗi câu."),
                [_short(q.text) for q in found.questions],
                [q.count for q in found.questions],
            )
            if found.questions
            else "",
            "states": svg.hbars(  # the states that have tickets (the table has them all)
                _("Phản ánh theo trạng thái"),
                _("Phản ánh nhận trong khoảng thời gian này, theo trạng thái hiện nay."),
                [name for name, (_s, n) in zip(state_names, states, strict=True) if n],
                [n for _s, n in states if n],
                svg.PALETTE[2],
            )
            if any(n for _s, n in states)
            else "",
            "deadlines": svg.hbars(
                _("Giải quyết phản ánh đúng hạn"),
                _("Tỷ lệ đúng hạn {rate}: {a} đúng hạn, {b} trễ hạn, {c} đang quá hạn.").format(
                    rate=_pct(due.rate), a=due.on_time, b=due.late, c=due.overdue
                ),
                [_("Đúng hạn"), _("Trễ hạn"), _("Đang quá hạn")],
                [due.on_time, due.late, due.overdue],
                (svg.PALETTE[2], svg.PALETTE[1], svg.PALETTE[4]),
            ),
            "notices": svg.hbars(
                _("Thông báo và số người nhận"),
                _("{n} thông báo: {p} người dự kiến nhận, {r} đã nhận, {s} đã xem.").format(
                    n=reach.notices, p=reach.planned, r=reach.reached, s=reach.seen
                ),
                [_("Người dự kiến nhận"), _("Đã nhận"), _("Đã xem")],
                [reach.planned, reach.reached, reach.seen],
                svg.PALETTE[3],
            ),
        }
        rows = []
        if whole_province:
            names = {cid: (code, name) for cid, code, name in communes}
            for cid, one in found.communes.items():
                rows.append({"code": names[cid][0], "name": names[cid][1], **_row(one)})
        return {
            "scope": scope,
            "whole_province": whole_province,
            "summary": _row(total),
            "charts": charts,
            "series": [
                (day.strftime("%d/%m/%Y"), t.messages, t.answered, t.missed) for day, t in series
            ],
            "questions": found.questions,
            "states": list(zip(state_names, [n for _s, n in states], strict=True)),
            "due": due,
            "reach": reach,
            "rows": rows,
        }


def _row(one: CommuneFigures) -> dict[str, Any]:
    traffic = one.traffic
    return {
        "messages": traffic.messages,
        "answered": traffic.answered,
        "missed": traffic.missed,
        "answered_pct": _pct(traffic.answered / traffic.messages if traffic.messages else None),
        "tickets": sum(one.states.values()),
        "on_time": _pct(one.deadlines.rate),
        "judged": one.deadlines.judged,
        "notices": one.notices.notices,
        "reached": one.notices.reached,
    }


def setup(app: web.Application) -> None:
    """The dashboard's route over the console registered at ``CONSOLE``."""
    add_screen(app, ROUTES, lambda app: Dashboard(app[CONSOLE]))
    # the navigation shows "Tổng quan" only to those who may see it
    aiohttp_jinja2.get_env(app).globals["may_see_dashboard"] = may_see_dashboard
