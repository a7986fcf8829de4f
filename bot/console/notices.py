"""The console's "Thông báo" screens (issue 13, docs/console-notices.md): notices listed by
state, composed with a live preview of what residents get in Zalo, followed through approval
and delivery village by village.

Nothing here re-implements a rule. The fields' rules are the JSON API's ``NoticeIn`` (lengths,
category, priority, the repetition as a crontab, the image's address); who may take which step
from which state is ``bot.notices.workflow`` (``check`` to show a button, ``apply`` to take it);
cancelling stops and corrects deliveries through ``bot.broadcasts.plan.cancel_deliveries``; the
PDF follows the API's file rules (``MAX_FILE_BYTES``, a ``%PDF-`` file named ``.pdf``, the name
through ``safe_filename``); the uploaded image is checked by ``bot.notices.images.check_notice_image``
(JPEG/PNG by content, ≤ 1 MB) and served back only through ``picture``, after the same
tenancy check as the page; the preview is ``bot.broadcasts.message.render``, the very text the
sender puts in Zalo; the figures are ``bot.broadcasts.figures.stats``.

Who sees what: officers and leaders compose and act (the workflow decides which buttons);
propagandists read the notices for their own village and the whole commune's (a notice they
wrote themselves they may act on, as through the API); a province operator reads their
province's. Any other notice by URL is the 404 of one that does not exist.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.notices import MAX_FILE_BYTES, NOTICE_STATES, NoticeIn
from bot.broadcasts.figures import stats
from bot.broadcasts.message import render
from bot.broadcasts.plan import cancel_deliveries
from bot.console import auth
from bot.console.questions import _raised
from bot.console.web import ROLE_NAMES, add_screen, page_number, vn_date
from bot.conversation.answers import LANGUAGE_NAMES
from bot.coverage import notice_gaps
from bot.filenames import safe_filename
from bot.i18n import N_, _, use_language
from bot.images import CheckedImage, ImageError
from bot.loops import NOTICES_TOPIC, OUTBOUND_TOPIC
from bot.notices import service, workflow
from bot.notices.images import MAX_IMAGE_BYTES, check_notice_image
from bot.store.models import Commune, Notice, NoticeAudit, NoticeFile, NoticeImage, Staff, Village
from bot.text import nfc, number
from bot.timeutil import from_vn_local, to_vn

ID = r"{id:[0-9]{1,30}}"
ROUTES = (
    ("GET", "/console/notices", "index"),
    ("GET", "/console/notices/new", "compose"),
    ("POST", "/console/notices/new", "create"),
    ("POST", "/console/notices/preview", "preview"),
    ("GET", "/console/notices/" + ID, "page"),
    ("GET", "/console/notices/" + ID + "/live", "live"),
    ("POST", "/console/notices/" + ID + "/file", "attach"),
    ("POST", "/console/notices/" + ID + "/image", "attach_image"),
    ("GET", "/console/notices/" + ID + "/image", "picture"),
    ("POST", "/console/notices/" + ID + "/{action:[a-z]{1,16}}", "act"),
)
READ = ("officer", "leader", "propagandist", "operator")
COMPOSE = ("officer", "leader")


def may_read_notices(role: str) -> bool:
    return role in READ


#: the console's buttons, in the order shown (the workflow says which apply)
BUTTONS = ("submit", "approve", "publish", "return", "cancel")
STATE_NAMES = {
    "draft": N_("Bản nháp"),
    "submitted": N_("Chờ duyệt"),
    "returned": N_("Bị trả lại"),
    "scheduled": N_("Đã duyệt, chờ gửi"),
    "recurring": N_("Gửi lặp lại"),
    "sending": N_("Đang gửi"),
    "sent": N_("Đã gửi"),
    "cancelled": N_("Đã hủy"),
    "expired": N_("Hết hiệu lực"),
}
ACTION_NAMES = {
    "create": N_("Soạn"),
    "import": N_("Nhập từ bản tin CAP"),
    "submit": N_("Gửi duyệt"),
    "approve": N_("Duyệt"),
    "return": N_("Trả lại"),
    "publish": N_("Phát ngay"),
    "cancel": N_("Hủy"),
    "dispatch": N_("Bắt đầu gửi"),
    "finish": N_("Gửi xong"),
    "recur": N_("Gửi lần lặp"),
    "expire": N_("Hết hiệu lực"),
}
PRIORITY_NAMES = {
    "normal": N_("Thông thường"),
    "priority": N_("Ưu tiên"),
    "emergency": N_("Khẩn cấp"),
}
REPEATS = {
    "": N_("Không lặp lại"),
    "daily": N_("Hằng ngày"),
    "weekly": N_("Hằng tuần"),
    "monthly": N_("Hằng tháng"),
}
ROUTE_NAMES = {
    "consultation": N_("Tin nhắn trực tiếp"),
    "broadcast": N_("Bài viết gửi người quan tâm"),
    "relay": N_("Qua tuyên truyền viên"),
    "skipped": N_("Không gửi"),
}
DONE = {
    "created": N_("Đã lưu bản nháp. Khi sẵn sàng, bấm “Gửi duyệt”."),
    "submit": N_("Đã gửi lãnh đạo duyệt."),
    "approve": N_("Đã duyệt. Thông báo sẽ được gửi đúng giờ đã chọn."),
    "approve_now": N_("Đã duyệt. Thông báo sẽ được gửi ngay."),
    "publish": N_("Đã phát ngay thông báo khẩn."),
    "return": N_("Đã trả lại cho người soạn."),
    "cancel": N_("Đã hủy thông báo."),
    "file": N_("Đã đính kèm tệp PDF."),
    "image": N_("Đã đính kèm ảnh. Người dân nhận ảnh này sau nội dung thông báo."),
}


#: the article broadcast's states (bot/broadcasts/article.py), as the page says them
BROADCAST_NAMES = {
    "pending": N_("Đang chờ lượt gửi"),
    "working": N_("Đang gửi"),
    "sent": N_("Đã đăng"),
    "no_quota": N_("Hết lượt gửi bài viết hôm nay"),
    "failed": N_("Không đăng được"),
    "cancelled": N_("Đã hủy"),
}
#: a village whose propagandist cannot relay (bot/coverage.py's ``reason``)
GAP_NAMES = {
    "none": N_("{village}: chưa có tuyên truyền viên, tin chỉ đến người dân Zalo cho nhắn."),
    "no_zalo": N_("{village}: tuyên truyền viên chưa có Zalo, không chuyển tin vào nhóm thôn."),
    "window": N_(
        "{village}: tuyên truyền viên chưa nhắn cho trang Zalo của xã trong 7 ngày qua, "
        "nên chưa nhận được tin nhờ chuyển."
    ),
}
#: the text fields' longest values (``NoticeIn``): what an error page echoes back at most
MAX_LENGTHS = {"headline": 150, "body": 2000, "image_url": 500, "send_at": 32, "category": 40}
#: how far a sending time may be: a little in the past (the form took a while), a year ahead
PAST_GRACE = timedelta(minutes=5)
AHEAD = timedelta(days=366)
#: how long a compose form's one-time key is remembered (a form left open for a day)
ONCE_TTL = 24 * 3600
#: steps asked again on a page of their own before they are taken
CONFIRM = ("publish", "cancel")
#: notices on one page of the list
PAGE = 50


def crontab(repeat: str, at: datetime) -> str | None:
    """The workflow's repetition (a crontab in Vietnamese time) from the form's choice and its
    first sending time."""
    if repeat == "daily":
        return f"{at.minute} {at.hour} * * *"
    if repeat == "weekly":  # crontab's days: 0 = Sunday; Python's: 0 = Monday
        return f"{at.minute} {at.hour} * * {(at.weekday() + 1) % 7}"
    if repeat == "monthly":
        return f"{at.minute} {at.hour} {at.day} * *"
    return None


WEEKDAYS = (
    N_("Chủ nhật"),
    N_("Thứ Hai"),
    N_("Thứ Ba"),
    N_("Thứ Tư"),
    N_("Thứ Năm"),
    N_("Thứ Sáu"),
    N_("Thứ Bảy"),
)


def repeat_text(recurrence: str | None) -> str:
    """The repetition in words when it is one the form makes (else the crontab itself, as one
    made through the API may be anything)."""
    if not recurrence:
        return ""
    parts = recurrence.split()
    minute, hour = (number(p, 2) for p in parts[:2]) if len(parts) == 5 else (None, None)
    if minute is None or hour is None or parts[3] != "*":
        return recurrence
    at = f"{hour:02d}:{minute:02d}"
    day, weekday = number(parts[2], 2), number(parts[4], 1)
    if parts[2] == "*" and parts[4] == "*":
        return _("Hằng ngày lúc {at}").format(at=at)
    if parts[2] == "*" and weekday is not None and weekday < 7:
        return _("Hằng tuần, {day} lúc {at}").format(day=_(WEEKDAYS[weekday]), at=at)
    if day is not None and parts[4] == "*":
        return _("Ngày {day} hằng tháng lúc {at}").format(day=day, at=at)
    return recurrence


def form_text(data: dict[str, Any], name: str) -> str:
    """A form's field as stored: a textarea's CRLF counted as one character (as the browser's
    ``maxlength`` counts it) and NFC (decomposed Vietnamese from some keyboards and PDFs
    would otherwise count double and not match in search)."""
    value = data.get(name)
    if not isinstance(value, str):
        return ""
    return nfc(value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def field_problem(exc: ValidationError) -> str:
    """The first problem of a notice's fields (``NoticeFields``) in words, for a form (the
    compose form here, the province's in bot/console/province.py)."""
    labels = {
        "category": _("Lĩnh vực"),
        "priority": _("Mức độ"),
        "headline": _("Tiêu đề"),
        "body": _("Nội dung"),
        "recurrence": _("Lặp lại"),
        "image_url": _("Địa chỉ ảnh"),
        "translations": _("Bản dịch"),
    }
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    if field == "translations":
        return _("Bản dịch cần có cả tiêu đề và nội dung (tiêu đề tối đa 150 ký tự).")
    if field == "image_url":
        return _("Địa chỉ ảnh phải bắt đầu bằng http:// hoặc https://.")
    if field in ("category", "priority"):
        return _("Vui lòng chọn {field} trong danh sách.").format(field=labels[field].lower())
    if field in ("headline", "body"):
        return _("{field}: bắt buộc, tối đa {n} ký tự.").format(
            field=labels[field], n=150 if field == "headline" else 2000
        )
    return _("{field} chưa đúng.").format(field=labels.get(field, field))


async def first_sending(coord: Any, form: str, staff_id: int, once: str, made: int) -> int | None:
    """What an earlier sending of this very form made (the id), or None when this is the first
    (the form's one-time key claimed for ``made``, inside its transaction: a double click's
    second POST waits on nothing and rolls back). A Redis SET NX rather than a unique column:
    the key only matters for the minutes a double click or a browser's resend takes, and
    needs no migration; a form without a key (an old tab) is simply not deduplicated.
    ``form`` names the form ("notice-form", "province-form")."""
    if not once:
        return None
    held = await coord.claim(f"{form}:{staff_id}:{once}", str(made), ONCE_TTL)
    return number(held)


class FormError(ValueError):
    """A problem with the compose form, said to the person (current language)."""


class _Again(Exception):
    """The compose form was sent before: roll this sending back, go to ``notice_id``."""

    def __init__(self, notice_id: int) -> None:
        super().__init__(notice_id)
        self.notice_id = notice_id


def _when_words(raw: str) -> str:
    """The datetime-local field's value in words, dd/mm/yyyy HH:MM (giờ Việt Nam): some
    browsers show that field as mm/dd, so the page says the chosen time back."""
    try:
        at = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return ""
    if at is None or at.tzinfo is not None:
        return ""
    return _("{when} (giờ Việt Nam)").format(when=at.strftime("%d/%m/%Y %H:%M"))


class Notices:
    """The screens' handlers, over the console's plumbing (``bot.console.web.Console``)."""

    def __init__(self, console: Any) -> None:
        self.c = console
        self.sm = console.sm

    # -- plumbing ---------------------------------------------------------------------------
    async def _user(self, request: web.Request, roles: tuple[str, ...]) -> auth.ConsoleUser:
        user = await self.c.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if user.role not in roles:
            with use_language(self.c.language(request)):
                response = self.c.render(
                    request,
                    "message.html",
                    {
                        "title": _("Không có quyền"),
                        "text": _("Việc này dành cho cán bộ, công chức và lãnh đạo xã."),
                    },
                    status=403,
                    user=user,
                )
            raise _raised(response, web.HTTPForbidden)
        return user

    async def _form(
        self, request: web.Request, user: auth.ConsoleUser, upload: str = ""
    ) -> dict[str, Any]:
        """The POSTed form (files included) when its CSRF token is the session's. ``upload``:
        a form that may carry the PDF and image ("compose"), the PDF ("file") or the image
        ("image"), read up to their limits plus the form's text (the service's other bodies stay at ``service.max_body_bytes``). A body
        too big or in a charset nobody knows is said in words (413 / 400), never a 500."""
        if not self.c.same_origin(request):
            raise _raised(self.c.refused_form(request), web.HTTPForbidden)
        if upload:
            limit = self.c.settings.service.max_body_bytes + {
                "compose": MAX_FILE_BYTES + MAX_IMAGE_BYTES,
                "file": MAX_FILE_BYTES,
                "image": MAX_IMAGE_BYTES,
            }.get(upload, MAX_FILE_BYTES)
            request = request.clone(client_max_size=limit)
        try:
            data = await request.post()
        except (LookupError, UnicodeDecodeError):
            with use_language(self.c.language(request)):
                response = self.c.message(
                    request,
                    400,
                    _("Không đọc được biểu mẫu."),
                    _("Trình duyệt gửi chữ theo bảng mã lạ. Vui lòng tải lại trang rồi thử lại."),
                )
            raise _raised(response, web.HTTPBadRequest) from None
        except web.HTTPRequestEntityTooLarge:
            mb = MAX_FILE_BYTES // (1024 * 1024)
            with use_language(self.c.language(request)):
                if upload == "file":
                    title = _("Tệp quá {n} MB.").format(n=mb)
                    text = _("Vui lòng chọn tệp nhỏ hơn rồi thử lại.")
                elif upload == "image":
                    title = _("Ảnh quá 1 MB (giới hạn của Zalo). Vui lòng chọn ảnh nhỏ hơn.")
                    text = _("Vui lòng chọn tệp nhỏ hơn rồi thử lại.")
                elif upload == "compose":
                    title = _("Thông báo gửi lên quá lớn.")
                    text = _(
                        "Tệp PDF đính kèm tối đa {n} MB, ảnh tối đa 1 MB; vui lòng chọn tệp "
                        "nhỏ hơn."
                    ).format(n=mb)
                else:
                    title = _("Nội dung gửi lên quá dài.")
                    text = _("Vui lòng viết ngắn hơn rồi thử lại.")
                response = self.c.message(request, 413, title, text)
            too_big = web.HTTPRequestEntityTooLarge(
                MAX_FILE_BYTES, text=response.text, content_type="text/html"
            )
            for name in ("Content-Security-Policy", "Cache-Control", "X-Frame-Options"):
                too_big.headers[name] = response.headers[name]
            raise too_big from None
        sent = data.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, user.csrf):
            raise _raised(self.c.refused_form(request), web.HTTPForbidden)
        return {
            k: (data.getall(k) if k == "villages" else v) for k, v in data.items()
        }  # the villages' checkboxes: every value

    async def _notice(
        self, s: AsyncSession, user: auth.ConsoleUser, raw: str, lock: bool = False
    ) -> Notice:
        """The notice when the user may see it; any other is the 404 of one that does not
        exist (a propagandist: their village's and the whole commune's)."""
        notice = await auth.owned(s, user, Notice, raw)
        if user.role == "propagandist" and not self._for_village(notice, user):
            raise web.HTTPNotFound()
        if lock:
            await s.refresh(notice, with_for_update=True)
        return notice

    @staticmethod
    def _for_village(notice: Notice, user: auth.ConsoleUser) -> bool:
        ids = list(notice.village_ids or ())
        return not ids or user.village_id in ids or notice.created_by == user.staff_id

    async def _villages(self, s: AsyncSession, commune_id: int) -> list[tuple[int, str]]:
        rows = await s.execute(
            select(Village.id, Village.name)
            .where(Village.commune_id == commune_id)
            .order_by(Village.name)
        )
        return [(i, n) for i, n in rows.all()]

    def _languages(self, commune_code: str) -> list[tuple[str, str]]:
        """The commune's languages other than Vietnamese: a translation field each."""
        for commune in self.c.settings.communes:
            if commune.code == commune_code:
                return [(code, _language_name(code)) for code in commune.languages if code != "vi"]
        return []

    # -- the list ---------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, READ)
        status = request.query.get("status", "")
        if status not in NOTICE_STATES:
            status = ""
        page = page_number(request.query.get("page", "1"))
        async with self.sm() as s:
            query = select(Notice, Commune.name).join(Commune, Commune.id == Notice.commune_id)
            query = query.where(auth.in_scope(user, Notice.commune_id))
            if status:
                query = query.where(Notice.status == status)
            if user.role == "propagandist":  # in SQL, before the page's limit
                query = query.where(_for_village_sql(user))
            total = (
                await s.execute(select(func.count()).select_from(query.subquery()))
            ).scalar_one()
            pages = max(1, -(-total // PAGE))
            page = min(page, pages)
            found = (
                await s.execute(
                    query.order_by(Notice.id.desc()).offset((page - 1) * PAGE).limit(PAGE)
                )
            ).all()
            notices = [(n, commune) for n, commune in found]
            names = dict(
                (
                    await s.execute(
                        select(Village.id, Village.name).where(
                            auth.in_scope(user, Village.commune_id)
                        )
                    )
                ).all()
            )
        with use_language(self.c.language(request)):
            rows = [
                {
                    "id": n.id,
                    "headline": n.headline,
                    "status": n.status,
                    "state": _(STATE_NAMES[n.status]),
                    "priority": n.priority,
                    "priority_name": _(PRIORITY_NAMES[n.priority]),
                    "villages": ", ".join(names.get(i, str(i)) for i in n.village_ids)
                    or _("Toàn xã"),
                    "when": vn_date(n.sent_at or n.send_at or n.created_at),
                    "commune": commune,
                }
                for n, commune in notices
            ]
            states = [(k, _(v)) for k, v in STATE_NAMES.items()]
        return self.c.render(
            request,
            "notices.html",
            {
                "notices": rows,
                "states": states,
                "status": status,
                "composer": user.role in COMPOSE,
                "operator": user.role == "operator",
                "page": page,
                "pages": pages,
                "prev_url": _list_url(status, page - 1) if page > 1 else "",
                "next_url": _list_url(status, page + 1) if page < pages else "",
                "active": "notices",
            },
            user=user,
        )

    # -- composing --------------------------------------------------------------------------
    def _blank(self) -> dict[str, Any]:
        return {
            "category": "",
            "priority": "normal",
            "headline": "",
            "body": "",
            "villages": [],
            "send_at": "",
            "repeat": "",
            "image_url": "",
            "translations": {},
            "once": "",
        }

    _text = staticmethod(form_text)

    @staticmethod
    def _echo(values: dict[str, Any]) -> dict[str, Any]:
        """The form's values as an error page shows them again: cut to their longest allowed
        length (a 4-MB headline is not sent back)."""
        out = {
            k: (v[: MAX_LENGTHS[k]] if k in MAX_LENGTHS and isinstance(v, str) else v)
            for k, v in values.items()
        }
        out["translations"] = {
            code: {"headline": t["headline"][:150], "body": t["body"][:2000]}
            for code, t in values.get("translations", {}).items()
        }
        out["villages"] = list(values.get("villages", []))[:200]
        return out

    def _values(self, data: dict[str, Any], languages: list[tuple[str, str]]) -> dict[str, Any]:
        """What the form said, to show again (an error, the no-script preview)."""
        chosen = data.get("villages") or []
        return {
            "category": self._text(data, "category"),
            "priority": self._text(data, "priority") or "normal",
            "headline": self._text(data, "headline"),
            "body": self._text(data, "body"),
            "villages": [v for v in chosen if isinstance(v, str)],
            "send_at": self._text(data, "send_at"),
            "repeat": self._text(data, "repeat"),
            "image_url": self._text(data, "image_url"),
            "once": self._text(data, "once")[:64],
            "translations": {
                code: {
                    "headline": self._text(data, f"t_{code}_headline"),
                    "body": self._text(data, f"t_{code}_body"),
                }
                for code, _name in languages
            },
        }

    def _draft(
        self, values: dict[str, Any], villages: list[tuple[int, str]], now: datetime
    ) -> tuple[NoticeIn, list[int], datetime | None]:
        """The form checked by the API's own model: (the fields, village ids, first sending
        time as Vietnamese wall-clock time)."""
        known = {str(i): i for i, _name in villages}
        ids = []
        for raw in values["villages"]:
            if raw not in known:
                raise FormError(_("Vui lòng chọn thôn trong danh sách."))
            ids.append(known[raw])
        at = None
        if values["send_at"]:
            try:
                at = datetime.fromisoformat(values["send_at"])
            except ValueError:
                raise FormError(_("Ngày giờ gửi không đúng.")) from None
            if at.tzinfo is not None:
                raise FormError(_("Ngày giờ gửi không đúng."))
            try:
                when = from_vn_local(at)
            except OverflowError:  # year 1: Vietnamese time is before the first UTC instant
                raise FormError(_("Ngày giờ gửi không đúng.")) from None
            if when < now - PAST_GRACE:
                raise FormError(_("Ngày giờ gửi đã qua; vui lòng chọn một thời điểm sắp tới."))
            if when > now + AHEAD:
                raise FormError(_("Chỉ hẹn gửi trong vòng một năm tới."))
        if values["repeat"] not in REPEATS:
            raise FormError(_("Vui lòng chọn cách lặp lại trong danh sách."))
        if values["repeat"] and at is None:
            raise FormError(_("Vui lòng chọn ngày giờ gửi lần đầu để lặp lại."))
        if values["repeat"] == "monthly" and at is not None and at.day > 28:
            raise FormError(
                _(
                    "Gửi hằng tháng chỉ chọn được ngày 1 đến 28: tháng nào không có ngày "
                    "{day} sẽ bị bỏ qua. Vui lòng chọn ngày khác."
                ).format(day=at.day)
            )
        fields = {
            "category": values["category"],
            "priority": values["priority"],
            "headline": values["headline"],
            "body": values["body"],
            "translations": {
                code: t for code, t in values["translations"].items() if t["headline"] or t["body"]
            },
            "recurrence": crontab(values["repeat"], at) if at else None,
            "image_url": values["image_url"] or None,
        }
        try:
            data = NoticeIn.model_validate(fields)
        except ValidationError as exc:
            raise FormError(self._problem(exc)) from None
        return data, sorted(set(ids)), at

    _problem = staticmethod(field_problem)

    def _previews(self, values: dict[str, Any], user: auth.ConsoleUser) -> list[dict[str, str]]:
        """What residents will read in Zalo, per language: the sender's own renderer."""
        languages = self._languages(user.commune_code)
        shown = Notice(
            priority=values["priority"] if values["priority"] in workflow.PRIORITIES else "normal",
            msg_type="alert",
            headline=values["headline"] or "…",
            body=values["body"] or "…",
            translations={
                code: t for code, t in values["translations"].items() if t["headline"] or t["body"]
            },
        )
        out = [
            {
                "lang": "vi",
                "name": _language_name("vi"),
                "text": render(shown, user.commune_name, "vi"),
            }
        ]
        for code, name in languages:
            if code in shown.translations:
                out.append(
                    {"lang": code, "name": name, "text": render(shown, user.commune_name, code)}
                )
        return out

    async def compose(
        self,
        request: web.Request,
        *,
        user: auth.ConsoleUser | None = None,
        values: dict[str, Any] | None = None,
        error: str | None = None,
        previews: list[dict[str, str]] | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        user = user or await self._user(request, COMPOSE)
        async with self.sm() as s:
            villages = await self._villages(s, user.commune_id)
        with use_language(self.c.language(request)):
            values = self._echo(values or self._blank())
            # the form's one-time key: the same form sent twice makes one notice (``create``)
            values["once"] = values.get("once") or secrets.token_urlsafe(16)
            return self.c.render(
                request,
                "notice_compose.html",
                {
                    "values": values,
                    "send_at_words": _when_words(values["send_at"]),
                    "villages": villages,
                    "languages": self._languages(user.commune_code),
                    "categories": [(k, _(v)) for k, v in workflow.CATEGORIES.items()],
                    "priorities": [(k, _(v)) for k, v in PRIORITY_NAMES.items()],
                    "repeats": [(k, _(v)) for k, v in REPEATS.items()],
                    "previews": previews or self._previews(values, user),
                    "max_mb": MAX_FILE_BYTES // (1024 * 1024),
                    "image_mb": MAX_IMAGE_BYTES // (1024 * 1024),
                    "error": error,
                    "active": "notices",
                },
                status=status,
                user=user,
            )

    async def preview(self, request: web.Request) -> web.StreamResponse:
        """The live preview for the page's script: JSON, the texts only (shown as text)."""
        user = await self._user(request, COMPOSE)
        data = await self._form(request, user)
        with use_language(self.c.language(request)):
            values = self._values(data, self._languages(user.commune_code))
            previews = self._previews(values, user)
        return web.json_response(
            {"previews": previews},
            headers={"Cache-Control": "no-store"},
            dumps=lambda o: json.dumps(o, ensure_ascii=False),
        )

    async def create(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, COMPOSE)
        data = await self._form(request, user, upload="compose")
        with use_language(self.c.language(request)):
            values = self._values(data, self._languages(user.commune_code))
            if "preview" in data:  # the no-script "Xem trước": the same form, with its preview
                return await self.compose(request, user=user, values=values)
            upload, picture = data.get("file"), data.get("image")
            try:
                document = self._pdf(upload) if getattr(upload, "filename", "") else None
                image = await self._image(picture) if getattr(picture, "filename", "") else None
                async with self.sm() as s, s.begin():
                    villages = await self._villages(s, user.commune_id)
                    fields, village_ids, at = self._draft(values, villages, self.c.clock())
                    notice = await service.draft(
                        s,
                        commune_id=user.commune_id,
                        created_by=user.staff_id,
                        category=fields.category,
                        priority=fields.priority,
                        headline=fields.headline.strip(),
                        body=fields.body.strip(),
                        translations={k: v.model_dump() for k, v in fields.translations.items()},
                        village_ids=village_ids,
                        subscribers_only=False,
                        recurrence=fields.recurrence,
                        image_url=fields.image_url,
                        # one-off: sent then; repeated: its crontab's times from then on
                        send_at=from_vn_local(at) if at else None,
                    )
                    if document is not None:
                        await service.attach_file(s, notice, *document)
                    if image is not None:  # in place of an address given too
                        await service.attach_image(s, notice, image)
                    first = await self._first(user, values["once"], notice.id)
                    if first is not None:  # the same form again: undo this one, show the first
                        raise _Again(first)
            except FormError as exc:
                return await self.compose(
                    request, user=user, values=values, error=str(exc), status=400
                )
            except _Again as again:
                raise web.HTTPSeeOther(f"/console/notices/{again.notice_id}?done=created") from None
        raise web.HTTPSeeOther(f"/console/notices/{notice.id}?done=created")

    async def _first(self, user: auth.ConsoleUser, once: str, notice_id: int) -> int | None:
        """The notice an earlier sending of this very form made (``first_sending``)."""
        return await first_sending(self.c.coord, "notice-form", user.staff_id, once, notice_id)

    def _pdf(self, upload: Any) -> tuple[str, bytes]:
        """The API's file rules: at most ``MAX_FILE_BYTES``, a PDF named ``.pdf``."""
        content = upload.file.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            raise FormError(_("Tệp quá {n} MB.").format(n=MAX_FILE_BYTES // (1024 * 1024)))
        name = safe_filename(upload.filename or "") or ""
        if not name or not content.startswith(b"%PDF-") or not name.lower().endswith(".pdf"):
            raise FormError(_("Chỉ nhận tệp PDF (tên kết thúc bằng .pdf)."))
        return name, content

    @staticmethod
    async def _image(upload: Any) -> CheckedImage:
        """The API's image rules (``check_notice_image``, off the loop): JPEG or PNG by content,
        ≤ 1 MB."""
        try:
            return await asyncio.to_thread(
                check_notice_image, upload.file.read(MAX_IMAGE_BYTES + 1)
            )
        except ImageError as exc:
            raise FormError(str(exc)) from None

    async def attach_image(self, request: web.Request) -> web.StreamResponse:
        """Attach (or replace) the uploaded image of a draft, as ``attach`` the PDF: who may is
        decided before the body is read and again under the row lock; a refused image changes
        nothing (the page says why, 400)."""
        user = await self._user(request, READ)
        with use_language(self.c.language(request)):
            async with self.sm() as s:
                notice = await self._notice(s, user, request.match_info["id"])
                if not self._may_edit(notice, user):
                    raise _raised(self._cannot(request, user), web.HTTPForbidden)
        data = await self._form(request, user, upload="image")
        with use_language(self.c.language(request)):
            upload = data.get("image")
            try:  # checked outside any transaction: no row lock held while pixels inflate
                if not getattr(upload, "filename", ""):
                    raise FormError(_("Vui lòng chọn ảnh JPEG hoặc PNG."))
                image = await self._image(upload)
            except FormError as exc:
                return await self.page(request, user=user, error=str(exc), status=400)
            async with self.sm() as s, s.begin():
                notice = await self._notice(s, user, request.match_info["id"], lock=True)
                if not self._may_edit(notice, user):
                    raise _raised(self._cannot(request, user), web.HTTPForbidden)
                await service.attach_image(s, notice, image)
        raise web.HTTPSeeOther(f"/console/notices/{notice.id}?done=image")

    async def picture(self, request: web.Request) -> web.StreamResponse:
        """The notice's uploaded image, for whoever may read the notice (else 404): its checked
        type, never sniffed, sandboxed if opened on its own."""
        user = await self._user(request, READ)
        async with self.sm() as s:
            notice = await self._notice(s, user, request.match_info["id"])
            stored = (
                await s.execute(
                    select(NoticeImage.content, NoticeImage.content_type).where(
                        NoticeImage.notice_id == notice.id,
                        NoticeImage.commune_id == notice.commune_id,
                    )
                )
            ).first()
        if stored is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=stored[0],
            content_type=stored[1],
            headers={
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def attach(self, request: web.Request) -> web.StreamResponse:
        """Attach (or replace) the PDF of a draft. Who may is decided before the 5-MB body is
        read (an operator's or another's upload is refused without reading it), and again under
        the row lock once it is."""
        user = await self._user(request, READ)
        with use_language(self.c.language(request)):
            async with self.sm() as s:
                notice = await self._notice(s, user, request.match_info["id"])
                if not self._may_edit(notice, user):
                    raise _raised(self._cannot(request, user), web.HTTPForbidden)
        data = await self._form(request, user, upload="file")
        with use_language(self.c.language(request)):
            async with self.sm() as s, s.begin():
                notice = await self._notice(s, user, request.match_info["id"], lock=True)
                if not self._may_edit(notice, user):
                    raise _raised(self._cannot(request, user), web.HTTPForbidden)
                upload = data.get("file")
                problem: str | None = None
                try:
                    if not getattr(upload, "filename", ""):
                        raise FormError(_("Vui lòng chọn tệp PDF."))
                    name, content = self._pdf(upload)
                except FormError as exc:
                    problem = str(exc)
                else:
                    await service.attach_file(s, notice, name, content)
            if problem:  # the page read after the transaction (SQLite has one connection)
                return await self.page(request, user=user, error=problem, status=400)
        raise web.HTTPSeeOther(f"/console/notices/{notice.id}?done=file")

    @staticmethod
    def _may_edit(notice: Notice, user: auth.ConsoleUser) -> bool:
        """As the API's file upload: a draft or returned notice, by a drafting role (a
        propagandist only their own)."""
        if (
            notice.status not in workflow.EDITABLE
            or user.role not in workflow.ACTIONS["submit"].roles
        ):
            return False
        return service.may_act(notice, user.role, user.staff_id)

    def _cannot(self, request: web.Request, user: auth.ConsoleUser) -> web.Response:
        return self.c.render(
            request,
            "message.html",
            {
                "title": _("Không làm được việc này"),
                "text": _(
                    "Thông báo này không còn sửa được, hoặc việc này không dành cho anh/chị."
                ),
            },
            status=403,
            user=user,
        )

    # -- one notice -------------------------------------------------------------------------
    def _buttons(self, notice: Notice, user: auth.ConsoleUser) -> list[str]:
        """The steps the workflow allows this user now (a propagandist: their own notice)."""
        if not service.may_act(notice, user.role, user.staff_id):
            return []
        allowed = []
        for action in BUTTONS:
            try:
                workflow.check(notice, action, user.role, user.staff_id)
            except workflow.WorkflowError:
                continue
            allowed.append(action)
        return allowed

    async def _details(self, s: AsyncSession, notice: Notice) -> dict[str, Any]:
        """The page's facts, the figures and the audit trail (everything the poll refreshes)."""
        figures = await stats(s, notice)
        trail = (
            await s.execute(
                select(NoticeAudit, Staff.name, Staff.role)
                .outerjoin(Staff, Staff.id == NoticeAudit.staff_id)
                .where(NoticeAudit.notice_id == notice.id)
                .order_by(NoticeAudit.id)
            )
        ).all()
        sends = figures["sends"]
        relays = figures["relays"]
        return {
            "state": _(STATE_NAMES.get(notice.status, notice.status)),
            "status": notice.status,
            "planned": figures["planned"],
            "routes": [
                (_(ROUTE_NAMES.get(route, route)), n) for route, n in figures["routes"].items()
            ],
            "sent": sends.get("sent", 0),
            "waiting": sends.get("pending", 0) + sends.get("sending", 0),
            "failed": sum(figures["failed"].values()),
            "seen": figures["seen"],
            "broadcast": _(BROADCAST_NAMES.get(figures["broadcast"]["status"], "…"))
            if figures["broadcast"]
            else "",
            "relays": [
                {
                    "village": r["village"],
                    "propagandist": r["propagandist"],
                    "confirmed": _short(r["confirmed_at"]),
                    "problem": r["problem"],
                    "package": r["package"],
                }
                for r in relays
            ],
            "confirmed": sum(1 for r in relays if r["confirmed_at"]),
            # nothing more will change: the page's script stops asking
            "settled": notice.status in ("cancelled", "expired")
            or (
                notice.status == "sent"
                and not sends.get("pending", 0) + sends.get("sending", 0)
                and all(r["confirmed_at"] or r["problem"] for r in relays)
            ),
            "trail": [
                {
                    "action": _(ACTION_NAMES.get(a.action, a.action)),
                    "to": _(STATE_NAMES.get(a.to_status, a.to_status)),
                    "who": name or _("Hệ thống"),
                    "role": _(ROLE_NAMES[role]) if role in ROLE_NAMES else "",
                    # the workers' notes are counts for developers; staff wrote the others
                    "note": (a.note or "") if a.staff_id is not None else "",
                    "at": vn_date(a.at),
                }
                for a, name, role in trail
            ],
        }

    async def page(
        self,
        request: web.Request,
        *,
        user: auth.ConsoleUser | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        user = user or await self._user(request, READ)
        with use_language(self.c.language(request)):
            async with self.sm() as s:
                notice = await self._notice(s, user, request.match_info["id"])
                names = dict(await self._villages(s, notice.commune_id))
                commune_name = (
                    await s.execute(select(Commune.name).where(Commune.id == notice.commune_id))
                ).scalar_one()
                document = (
                    await s.execute(
                        select(NoticeFile.filename, NoticeFile.size).where(
                            NoticeFile.notice_id == notice.id
                        )
                    )
                ).first()
                picture = (
                    await s.execute(
                        select(
                            NoticeImage.content_type,
                            NoticeImage.size,
                            NoticeImage.width,
                            NoticeImage.height,
                        ).where(NoticeImage.notice_id == notice.id)
                    )
                ).first()
                details = await self._details(s, notice)
                gaps = (
                    [
                        _(GAP_NAMES[g.reason]).format(village=g.village)
                        for g in await notice_gaps(s, notice)
                        if g.reason in GAP_NAMES and g.village
                    ]
                    if notice.status in workflow.EDITABLE | {"submitted"}
                    else []
                )
            done_key = request.query.get("done", "")
            if done_key == "approve" and notice.send_at is None and not notice.recurrence:
                done_key = "approve_now"
            done = DONE.get(done_key)
            return self.c.render(
                request,
                "notice.html",
                {
                    "n": {
                        "id": notice.id,
                        "headline": notice.headline,
                        "category": _(workflow.CATEGORIES.get(notice.category, notice.category)),
                        "priority": notice.priority,
                        "priority_name": _(PRIORITY_NAMES.get(notice.priority, notice.priority)),
                        "villages": [names.get(i, str(i)) for i in notice.village_ids],
                        "send_at": vn_date(notice.send_at),
                        "sent_at": vn_date(notice.sent_at) if notice.sent_at else "",
                        "recurrence": repeat_text(notice.recurrence),
                        "image_url": notice.image_url or "",
                        "file": document,
                        "image": (
                            {
                                "src": f"/console/notices/{notice.id}/image",
                                "kind": "PNG" if picture[0] == "image/png" else "JPEG",
                                "kb": max(1, round(picture[1] / 1024)),
                                "width": picture[2],
                                "height": picture[3],
                            }
                            if picture
                            else None
                        ),
                        "created_at": vn_date(notice.created_at),
                        "translations": sorted(notice.translations),
                    },
                    "previews": [
                        {
                            "lang": code,
                            "name": _language_name(code),
                            "text": render(notice, commune_name, code),
                        }
                        for code in ["vi", *sorted(notice.translations)]
                    ],
                    "d": details,
                    "buttons": [(a, _(ACTION_NAMES[a])) for a in self._buttons(notice, user)],
                    "editable": self._may_edit(notice, user),
                    "live": not details["settled"],
                    "gaps": gaps,
                    "done": _(done) if done else None,
                    "error": error,
                    "active": "notices",
                },
                status=status,
                user=user,
            )

    async def live(self, request: web.Request) -> web.StreamResponse:
        """The page's changing part (state, figures, villages, trail) as an HTML fragment the
        script swaps in every few seconds — rendered from the same template block."""
        user = await self._user(request, READ)
        with use_language(self.c.language(request)):
            async with self.sm() as s:
                notice = await self._notice(s, user, request.match_info["id"])
                details = await self._details(s, notice)
            return self.c.render(request, "notice_live.html", {"d": details}, user=user)

    @staticmethod
    def _ask_first(notice: Notice, action: str) -> bool:
        """Steps that cannot be taken back ask again on a page of their own (no script's
        confirm()): "Phát ngay", and cancelling what residents already received."""
        return action == "publish" or (action == "cancel" and notice.status in workflow.OUT)

    @staticmethod
    async def _already(
        s: AsyncSession, notice: Notice, action: str, user: auth.ConsoleUser
    ) -> bool:
        """Whether the last step a person took on the notice is this very one, by this user
        (so a refusal is only the second of two sendings); the workers' own steps after it
        (dispatch, finish) do not count."""
        last = (
            await s.execute(
                select(NoticeAudit.action, NoticeAudit.staff_id)
                .where(NoticeAudit.notice_id == notice.id, NoticeAudit.staff_id.is_not(None))
                .order_by(NoticeAudit.id.desc())
                .limit(1)
            )
        ).first()
        return last is not None and tuple(last) == (action, user.staff_id)

    def _confirm(
        self,
        request: web.Request,
        user: auth.ConsoleUser,
        notice: Notice,
        action: str,
        note: str | None,
    ) -> web.Response:
        if action == "publish":
            title = _("Phát ngay thông báo khẩn?")
            text = _(
                "Thông báo sẽ được gửi ngay tới người dân, không chờ giờ hẹn. "
                "Việc này không rút lại được."
            )
        else:
            title = _("Hủy thông báo đã gửi?")
            text = _(
                "Người dân đã nhận thông báo này sẽ nhận thêm tin báo hủy. "
                "Việc này không rút lại được."
            )
        return self.c.render(
            request,
            "notice_confirm.html",
            {
                "title": title,
                "text": text,
                "id": notice.id,
                "headline": notice.headline,
                "action": action,
                "button": _(ACTION_NAMES[action]),
                "note": note or "",
                "active": "notices",
            },
            user=user,
        )

    async def act(self, request: web.Request) -> web.StreamResponse:
        """A workflow step (submit, approve, return, publish, cancel), as the API takes it."""
        user = await self._user(request, READ)
        data = await self._form(request, user)
        action = request.match_info["action"]
        note = self._text(data, "note")[:500] or None
        corrections = 0
        with use_language(self.c.language(request)):
            async with self.sm() as s, s.begin():
                notice = await self._notice(s, user, request.match_info["id"], lock=True)
                if action not in BUTTONS:
                    raise web.HTTPNotFound()
                if not service.may_act(notice, user.role, user.staff_id):
                    raise _raised(self._cannot(request, user), web.HTTPForbidden)
                refused = again = False
                try:
                    workflow.check(notice, action, user.role, user.staff_id)
                    if self._ask_first(notice, action) and data.get("confirmed") != "1":
                        confirm = self._confirm(request, user, notice, action, note)
                        raise _raised(confirm, web.HTTPOk)
                    workflow.apply(s, notice, action, user.role, user.staff_id, note)
                except workflow.WorkflowError as exc:
                    if exc.status == 403:
                        raise _raised(self._cannot(request, user), web.HTTPForbidden) from None
                    refused = True  # changed meanwhile: nothing written
                    again = await self._already(s, notice, action, user)
                if action == "cancel" and not refused:
                    name = (
                        await s.execute(select(Commune.name).where(Commune.id == notice.commune_id))
                    ).scalar_one()
                    corrections = await cancel_deliveries(s, notice, name)
                notice_id = notice.id
            if again:  # the same step sent twice (a double click, a resend): it is done
                raise web.HTTPSeeOther(f"/console/notices/{notice_id}?done={action}")
            if refused:
                return await self.page(
                    request,
                    user=user,
                    error=_("Thông báo đang ở trạng thái khác; vui lòng xem lại rồi làm lại."),
                    status=409,
                )
        if action in ("approve", "publish", "cancel"):  # dispatcher and scheduler look again
            await self.c.coord.publish(NOTICES_TOPIC)
        if corrections:
            await self.c.coord.publish(OUTBOUND_TOPIC)
        raise web.HTTPSeeOther(f"/console/notices/{notice_id}?done={action}")


def _for_village_sql(user: auth.ConsoleUser) -> Any:
    """SQL for ``Notices._for_village``: the whole commune's notices, their village's, their
    own. ``village_ids`` is a JSON list of integers, written "[1, 5]" by SQLite's JSON and
    PostgreSQL's JSONB alike: the id is matched whole, between "[", ", " and "]"."""
    text = cast(Notice.village_ids, String)
    v = str(int(user.village_id or 0))
    return or_(
        Notice.created_by == user.staff_id,
        text.in_(("[]", "null")),
        text == f"[{v}]",
        text.like(f"[{v},%"),
        text.like(f"% {v},%"),
        text.like(f"% {v}]"),
    )


def _list_url(status: str, page: int) -> str:
    query = {**({"status": status} if status else {}), **({"page": str(page)} if page > 1 else {})}
    return "/console/notices" + (f"?{urlencode(query)}" if query else "")


def _language_name(code: str) -> str:
    """A language as a label ("Tiếng Việt", "Tiếng H'Mông"): the same words on every screen."""
    name = _(LANGUAGE_NAMES[code]) if code in LANGUAGE_NAMES else code
    return name[:1].upper() + name[1:]


def _short(iso: str | None) -> str:
    """A figure's ISO time (Vietnamese, with offset) as dd/mm/yyyy HH:MM."""
    if not iso:
        return ""
    return to_vn(datetime.fromisoformat(iso)).strftime("%d/%m/%Y %H:%M")


def setup(app: web.Application, console_key: web.AppKey[Any]) -> None:
    """The screens' routes on the service's app, over the console registered at ``console_key``."""
    add_screen(app, ROUTES, lambda app: Notices(app[console_key]))
    # the navigation shows "Thông báo" only to those who may read a commune's notices
    aiohttp_jinja2.get_env(app).globals["may_read_notices"] = may_read_notices
