"""The console's "Báo cáo" page (issue 14, docs/report.md): the yearly report ``bot report``
makes, from a form. A GET form (it changes nothing, so no CSRF): the scope, a period preset
(this report year, the previous one, this year's halves — ``report.period``) or two dates
(dd/mm/yyyy), and how to have it — the printable page, an XLSX or a CSV file.

Who: as the dashboard (``dashboard.may_see_dashboard``): a commune's officers and leaders their
commune; a province operator the province (every commune rolled up, one row per commune) or
any one commune of it; propagandists 403. A commune that is not the user's is the 404 of one
that does not exist.

A wrong date, a first day after the last, or a window longer than ``MAX_DAYS`` is said on the
form (400) and nothing is computed. The report itself is the command's, written by
``report.writers`` in Vietnamese (it goes to the province): the files as attachments with an
ASCII name, the printable page as its own response with a Content-Security-Policy fitting it
(no script at all; its one ``<style>`` by hash; images ``data:`` only) — not the console's,
which refuses inline styles. Every answer ``Cache-Control: no-store``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from datetime import date
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.console import auth
from bot.console.dashboard import may_see_dashboard
from bot.console.web import CONSOLE, Console, add_screen
from bot.figures.window import Window
from bot.filenames import safe_filename
from bot.i18n import N_, _, use_language
from bot.report import FORMATS, period
from bot.store.models import Commune
from bot.timeutil import to_vn

ROUTES = (("GET", "/console/report", "report"),)
#: the longest window a request may ask for: a report year and a little more (the command,
#: run by an administrator, has no limit)
MAX_DAYS = 400
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}
STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def page_policy(html: str) -> str:
    """The printable page's CSP: nothing but its own ``<style>`` elements and data: images."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in STYLE.findall(html)
    )
    styles = hashes or "'none'"
    return (
        f"default-src 'none'; style-src {styles}; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def presets(today: date) -> list[tuple[str, str]]:
    """The periods offered: (value for ``period.preset``, name), this report year first (the
    form says their days once, under the list: a phone's select shows ~28 letters)."""
    y = period.report_year(today)
    return [
        (f"year-{y}", _("Năm báo cáo {y}").format(y=y)),
        (f"year-{y - 1}", _("Năm báo cáo {y}").format(y=y - 1)),
        (f"half-{y}-1", _("6 tháng đầu năm {y}").format(y=y)),
        (f"half-{y}-2", _("6 tháng cuối năm {y}").format(y=y)),
    ]


def chosen_window(form: dict[str, str], offered: list[tuple[str, str]]) -> Window:
    """The form's period: the two dates when either is filled, else the preset; raises
    ``period.PeriodError`` with the words to show."""
    first, last = form["from"].strip(), form["to"].strip()
    if first or last:
        if not (first and last):
            raise period.PeriodError(_("Hãy điền cả từ ngày và đến ngày."))
        for text in (first, last):
            try:
                period.parse_date(text)
            except period.PeriodError:
                raise period.PeriodError(
                    _("Ngày không hợp lệ: {d} (viết theo dạng dd/mm/yyyy).").format(d=text)
                ) from None
        window = Window(period.parse_date(first), period.parse_date(last))
        if window.last < window.first:
            raise period.PeriodError(_("Ngày kết thúc phải sau ngày bắt đầu."))
    else:
        if form["period"] not in {value for value, _label in offered}:
            raise period.PeriodError(_("Hãy chọn một kỳ báo cáo."))
        window = period.preset(form["period"])
    if window.days > MAX_DAYS:
        raise period.PeriodError(
            _("Khoảng thời gian dài {n} ngày, quá {m} ngày cho phép.").format(
                n=window.days, m=MAX_DAYS
            )
        )
    return window


def _render(report: Any, fmt: str) -> bytes:
    """The report's file, in Vietnamese (a thread's own context: ``asyncio.to_thread``)."""
    from bot.report import writers

    with use_language("vi"):
        return writers.write(report, fmt)


class ReportPage:
    def __init__(self, console: Console) -> None:
        self.c = console

    async def report(self, request: web.Request) -> web.StreamResponse:
        user = await self.c.allowed(
            request,
            may_see_dashboard,
            N_("Trang báo cáo dành cho cán bộ, công chức, lãnh đạo xã và quản trị viên cấp tỉnh."),
        )
        if isinstance(user, web.Response):
            return user
        now = self.c.clock()
        q = request.query
        form = {k: q.get(k, "") for k in ("commune", "period", "from", "to", "format")}
        async with self.c.sm() as s:
            communes = [
                (code, name)
                for code, name in (
                    await s.execute(
                        select(Commune.code, Commune.name)
                        .where(auth.in_scope(user, Commune.id))
                        .order_by(Commune.name, Commune.code)
                    )
                ).all()
            ]
        province = user.role == "operator" and bool(user.province_code)
        if form["commune"]:
            if form["commune"] not in {code for code, _name in communes}:
                raise web.HTTPNotFound()  # not theirs, or no such commune: the same answer
            scope, code = "commune", form["commune"]
        elif province:
            scope, code = "province", str(user.province_code)
        else:
            scope, code = "commune", user.commune_code
        with use_language(self.c.language(request)):
            today = to_vn(now).date()
            offered = presets(today)
            if not form["period"]:
                form["period"] = offered[0][0]
            error = ""
            if form["format"]:
                try:
                    if form["format"] not in FORMATS:
                        raise period.PeriodError(_("Hãy chọn cách xem báo cáo."))
                    window = chosen_window(form, offered)
                except period.PeriodError as exc:
                    error = str(exc)
            if not form["format"] or error:
                return self.c.render(
                    request,
                    "report.html",
                    {
                        "form": form,
                        "offered": offered,
                        "communes": communes if province else [],
                        "scope_name": user.commune_name if not province else "",
                        "error": error,
                        "max_days": MAX_DAYS,
                        "year": period.report_year(today),
                        "active": "report",
                    },
                    status=400 if error else 200,
                    user=user,
                )
        return await self._answer(scope, code, window, form["format"], now)

    async def _answer(
        self, scope: str, code: str, window: Window, fmt: str, now: Any
    ) -> web.Response:
        from bot.report import figures

        async with self.c.sm() as s:
            report = await figures.build(s, scope, code, window, now, self.c.settings.communes)
        if not report.communes:  # an inactive commune (the list above holds every one)
            raise web.HTTPNotFound()
        body = await asyncio.to_thread(_render, report, fmt)
        headers = {"Cache-Control": "no-store"}
        if fmt == "html":
            html = body.decode("utf-8")
            headers["Content-Security-Policy"] = page_policy(html)
            headers["X-Frame-Options"] = "DENY"
            return web.Response(text=html, content_type="text/html", headers=headers)
        name = safe_filename(f"bao-cao-{code}-{window.first:%Y%m%d}-{window.last:%Y%m%d}.{fmt}")
        name = name.encode("ascii", "replace").decode().replace("?", "-").replace('"', "-")
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return web.Response(
            body=body,
            content_type=CONTENT_TYPES[fmt],
            charset="utf-8" if fmt == "csv" else None,
            headers=headers,
        )


def setup(app: web.Application) -> None:
    """The report page's route over the console registered at ``CONSOLE``."""
    add_screen(app, ROUTES, lambda app: ReportPage(app[CONSOLE]))
