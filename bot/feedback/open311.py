"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over the feedback tickets, so
map apps, the provincial portal and other 311 clients can list and file reports without knowing
this service. One endpoint hosts every commune: ``jurisdiction_id`` is the commune's 5-digit
code and is required everywhere.

    GET  /open311/v2/discovery.{json|xml}
    GET  /open311/v2/services.{json|xml}                       the categories
    GET  /open311/v2/services/{service_code}.{json|xml}        no extra attributes
    GET  /open311/v2/requests.{json|xml}[?service_request_id=&service_code=&start_date=
                                         &end_date=&status=open,closed]
    POST /open311/v2/requests.{json|xml}                       an officer's or leader's key
    GET  /open311/v2/requests/{PA-…}.{json|xml}
    GET  /open311/v2/tokens/{token}.{json|xml}

What the public sees (the reporter's identity is confidential in Vietnamese practice; ticket
codes are sequential, so a code must tell an outsider nothing): only public reports — filed
through Open311 itself (the client published them) or published by staff — and never one of a
sensitive category; any other code is answered exactly like one that does not exist. Of a
public report: never the reporter's name, phone or e-mail; phone numbers, e-mail addresses
and ID-card numbers in any text shown masked (``masking.anonymise``, the one masking
function); coordinates rounded to about 100 m (``PUBLIC_DECIMALS``).

Filing needs the key of an officer or a leader of the commune (a propagandist's or an
operator's is refused): in a header (``X-API-Key`` or ``Authorization: Bearer``), or as the
spec's ``api_key`` form field in the body — never in the query string, where proxies and logs
keep it (400).
"""

from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import facts_store, safejson
from bot.api.auth import hash_key
from bot.config import Commune, FeedbackSettings
from bot.coord import Coordinator
from bot.feedback import masking, routing, service, workflow
from bot.feedback.categories import CATEGORIES
from bot.feedback.chat import hotline
from bot.i18n import gettext_for, use_language
from bot.loops import OUTBOUND_TOPIC
from bot.nlu.villages import best_village
from bot.store.models import Staff, StaffKey, Ticket, Village
from bot.tenants import Tenant, Tenants
from bot.text import search_key
from bot.timeutil import from_vn_local, utcnow
from bot.timeutil import vn_iso as iso  # W3C datetime with the offset people there live in

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-22T00:00:00+07:00"  # bump when what this endpoint offers changes
WINDOW = timedelta(days=90)  # the spec's default span, and the longest one may ask for
LIMIT = 1000  # the spec's default query limit
PUBLIC_DECIMALS = 3  # coordinates shown to the public: 0.001° ≈ 110 m
SENSITIVE = tuple(c.code for c in CATEGORIES.values() if c.sensitive)
FILERS = ("officer", "leader")  # whose key may file
FMT = "{format:json|xml}"
#: list element → the element name of its items (the spec's XML, Spark convention in JSON)
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
#: field lengths the tickets table keeps (PostgreSQL refuses longer ones)
MAX = {
    "description": 4000,
    "address_string": 300,
    "address_id": 300,
    "phone": 20,
    "email": 200,
    "first_name": 100,
    "last_name": 100,
    "media_url": 2000,
}
_ = gettext_for("vi")


class Problem(Exception):
    """An Open311 error: its HTTP status and a Vietnamese-first description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status


# -- formats --------------------------------------------------------------------------------
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0


def _fill(node: ET.Element, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _fill(ET.SubElement(node, ITEMS[node.tag]), item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(node, key), item)
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    elif value is not None:  # None stays an empty element, as in the spec's examples
        node.text = _NOT_XML.sub("", str(value))


def to_xml(root: str, value: Any) -> bytes:
    node = ET.Element(root)
    _fill(node, value)
    return ET.tostring(node, encoding="utf-8", xml_declaration=True)


def render(fmt: str, root: str, value: Any, status: int = 200) -> web.Response:
    """``value`` in the format asked for: JSON as is, XML under ``root`` (the spec's names)."""
    if fmt == "json":
        return web.Response(
            text=json.dumps(value, ensure_ascii=False),
            status=status,
            content_type="application/json",
            charset="utf-8",
        )
    return web.Response(
        body=to_xml(root, value), status=status, content_type="text/xml", charset="utf-8"
    )


def _format(request: web.Request) -> str:
    """The format asked for; a path without a known one gets XML, the spec's required format."""
    fmt = request.match_info.get("format")
    return fmt or ("json" if request.path.endswith(".json") else "xml")


def answers_errors(
    method: Callable[[Any, web.Request], Awaitable[web.Response]],
) -> Callable[[Any, web.Request], Awaitable[web.Response]]:
    """Errors in the standard shape (``errors/error/code, description``) of the format asked
    for, so a 311 client can show them; the HTTP status matches the code."""

    @functools.wraps(method)
    async def handler(self: Any, request: web.Request) -> web.Response:
        try:
            return await method(self, request)
        except Problem as exc:
            return render(
                _format(request),
                "errors",
                [{"code": exc.status, "description": str(exc)}],
                exc.status,
            )

    return handler


_LOST_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def parse_when(value: str, name: str) -> datetime:
    """A W3C/ISO 8601 datetime; without an offset it is Vietnamese wall-clock time."""
    # an unencoded "+07:00" in a query string arrives as " 07:00": read it as meant
    value = _LOST_PLUS.sub(r"\1+\2", value.strip())
    try:
        when = from_vn_local(datetime.fromisoformat(value.replace("Z", "+00:00")))
        if not 1900 <= when.year <= 2200:  # a 90-day window around it must exist
            raise ValueError(value)
    except (ValueError, OverflowError):  # not a datetime, or at the calendar's very ends
        raise Problem(
            400,
            f"{name}: thời điểm theo W3C, ví dụ 2026-01-31T00:00:00+07:00 / "
            f"{name} must be a W3C datetime",
        ) from None
    return when


# -- what is shown ----------------------------------------------------------------------------
def service_json(code: str) -> dict[str, Any]:
    category = CATEGORIES[code]
    return {
        "service_code": code,
        "service_name": _(category.name),
        "description": _(category.description),
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(category.keywords),
        "group": category.group,
    }


def is_public(ticket: Ticket) -> bool:
    """Whether the report is shown at all: the Open311 client published it, or staff
    published the ticket — never a sensitive category (land disputes, complaints about staff,
    security). A chat or phone report was told to the commune only, and "the house next to
    mine" says who told it."""
    return (ticket.source == "open311" or ticket.published_at is not None) and not CATEGORIES[
        ticket.category
    ].sensitive


def public_clause():
    """``is_public`` as a SQL condition."""
    return (
        (Ticket.source == "open311") | Ticket.published_at.is_not(None)
    ) & Ticket.category.not_in(SENSITIVE)


def status_notes(ticket: Ticket, duplicate_of: str | None) -> str:
    if ticket.published_at and ticket.public_answer:
        return masking.anonymise(ticket.public_answer, ticket)
    if ticket.status == "transferred" and ticket.transferred_to:
        return _("Đã chuyển: {body}").format(body=masking.anonymise(ticket.transferred_to, ticket))
    if ticket.status == "duplicate":
        return (
            _("Trùng phản ánh {code}").format(code=duplicate_of)
            if duplicate_of
            else _("Trùng phản ánh khác")
        )
    with use_language("vi"):  # the public API is Vietnamese, as ``_`` here
        state = service.status_line(ticket)
    return state[:1].upper() + state[1:]


def notice(ticket: Ticket) -> str | None:
    """When the reporter hears back (open tickets only: a closed one has its notes)."""
    if ticket.status not in workflow.OPEN:
        return None
    with use_language("vi"):  # the public API is Vietnamese, as ``_`` here
        lines = [_("Xã sẽ trả lời {when}.").format(when=service.when_text(ticket))]
        if ticket.emergency:
            lines.append(_("Việc khẩn cấp đã được báo ngay cho lãnh đạo xã."))
            if call := hotline(ticket.category):
                lines.append(call)
    return " ".join(lines)


def address(ticket: Ticket, village: str | None, commune: Commune) -> str:
    """Most specific first, as the spec asks: what was given (masked), the village, the
    commune."""
    given = ticket.address
    parts = [masking.anonymise(given, ticket) if given else None]
    if village and search_key(village) not in search_key(given or ""):
        parts.append(village)
    parts.append(commune.name)
    return ", ".join(p for p in parts if p)


def _coarse(value: float | None) -> float | None:
    """A coordinate as the public sees it: ~100 m, not the reporter's doorstep."""
    return None if value is None else round(value, PUBLIC_DECIMALS)


def request_json(
    ticket: Ticket, commune: Commune, village: str | None, duplicate_of: str | None
) -> dict[str, Any]:
    """One public report (``is_public``: callers show no other)."""
    photo = next((m.get("url") for m in ticket.media or [] if m.get("type") == "image"), None)
    return {
        "service_request_id": ticket.code,
        "status": "open" if ticket.status in workflow.OPEN else "closed",
        "status_notes": status_notes(ticket, duplicate_of),
        "service_name": _(CATEGORIES[ticket.category].name),
        "service_code": ticket.category,
        "description": masking.anonymise(ticket.description, ticket)
        if ticket.description
        else None,
        "agency_responsible": masking.anonymise(ticket.transferred_to, ticket)
        if ticket.status == "transferred" and ticket.transferred_to
        else routing.office_name(commune, ticket.office),
        "service_notice": notice(ticket),
        "requested_datetime": iso(ticket.received_at),
        "updated_datetime": iso(ticket.updated_at or ticket.received_at),
        "expected_datetime": iso(ticket.due_at),
        "address": address(ticket, village, commune),
        "address_id": None,  # no master address repository: villages are named in address
        "zipcode": None,
        "lat": _coarse(ticket.lat),
        "long": _coarse(ticket.long),
        "media_url": photo,
    }


# -- filing -----------------------------------------------------------------------------------
def _header_key(request: web.Request) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer``."""
    if key := request.headers.get("X-API-Key", "").strip():
        return key
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


def _field(form: dict[str, Any], name: str) -> str | None:
    """A submitted value; empty is the same as absent (the spec's "Optional Arguments")."""
    value = form.get(name)
    if value is None or isinstance(value, (dict, list)) or hasattr(value, "file"):
        return None
    text = str(value).strip()
    if len(text) > MAX.get(name, 300):
        raise Problem(
            400, f"{name}: quá dài (tối đa {MAX.get(name, 300)} ký tự) / {name} is too long"
        )
    return text or None


def _coordinate(form: dict[str, Any], name: str, limit: float) -> float | None:
    text = _field(form, name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -limit <= value <= limit:
        raise Problem(
            400,
            f"{name}: số thập phân WGS84 trong [-{limit:g}, {limit:g}] / "
            f"{name} must be a WGS84 number",
        )
    return value


def _media(form: dict[str, Any]) -> list[dict[str, Any]]:
    url = _field(form, "media_url")
    if url is None:
        return []
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Problem(400, "media_url: địa chỉ http(s) của ảnh / media_url must be an http(s) URL")
    return [{"type": "image", "url": url}]


def _words(text: str) -> str:
    """Accent-free words between spaces, so "Bản Phố," matches "ban pho" word for word."""
    return f" {re.sub(r'[^0-9a-z]+', ' ', search_key(text)).strip()} "


async def _village(s: AsyncSession, commune_id: int, text: str | None) -> Village | None:
    """The village an address names ("xóm 3, Bản Phố", "thon nam mon") — read as residents'
    words are (``bot/nlu/villages.py``); the longest name wins, so a village called "Phố" does
    not take Bản Phố's reports."""
    if not text:
        return None
    villages = (
        (await s.execute(select(Village).where(Village.commune_id == commune_id))).scalars().all()
    )
    name = best_village(text, villages)
    return next((v for v in villages if v.name == name), None)


class Open311:
    BASE = "/open311/v2"
    ROUTES = (
        ("GET", BASE + "/discovery." + FMT, "discovery"),
        ("GET", BASE + "/services." + FMT, "services"),
        ("GET", BASE + r"/services/{service_code:[A-Za-z0-9_-]+}." + FMT, "definition"),
        ("GET", BASE + "/requests." + FMT, "requests"),
        ("POST", BASE + "/requests." + FMT, "create"),
        ("GET", BASE + r"/requests/{service_request_id:[A-Za-z0-9-]+}." + FMT, "request"),
        ("GET", BASE + r"/tokens/{token:[A-Za-z0-9_-]+}." + FMT, "token"),
        # last: anything else under the base (an unknown format too) is the spec's 404
        ("GET", BASE + "/{rest:.*}", "unknown"),
        ("POST", BASE + "/{rest:.*}", "unknown"),
    )

    def __init__(
        self,
        sm,
        tenants: Tenants,
        coord: Coordinator,
        settings: FeedbackSettings,
        public_url: str,
    ) -> None:
        self.sm, self.tenants, self.coord, self.settings = sm, tenants, coord, settings
        self.public_url = public_url.rstrip("/")

    def _tenant(self, request: web.Request, form: dict[str, Any] | None = None) -> Tenant:
        """The commune the call is about: one endpoint serves them all, so it is required."""
        code = (form or {}).get("jurisdiction_id") or request.query.get("jurisdiction_id")
        if not code or not str(code).strip():
            raise Problem(
                400,
                "jurisdiction_id: mã xã (5 chữ số) / jurisdiction_id (the "
                "commune's 5-digit code) is required",
            )
        tenant = self.tenants.by_code(str(code).strip())
        if tenant is None:
            raise Problem(404, f"không có xã mã {code} / jurisdiction_id {code} not found")
        return tenant

    async def _page(
        self, s: AsyncSession, tenant: Tenant, tickets: list[Ticket]
    ) -> list[dict[str, Any]]:
        villages: dict[int | None, str] = dict(
            (
                await s.execute(
                    select(Village.id, Village.name).where(Village.commune_id == tenant.id)
                )
            ).all()
        )
        originals = {t.duplicate_of for t in tickets if t.duplicate_of}
        codes: dict[int | None, str] = (
            dict(
                (
                    await s.execute(
                        select(Ticket.id, Ticket.code).where(
                            Ticket.id.in_(originals), public_clause()
                        )
                    )
                ).all()
            )
            if originals
            else {}
        )
        return [
            request_json(t, tenant.config, villages.get(t.village_id), codes.get(t.duplicate_of))
            for t in tickets
        ]

    # -- handlers ---------------------------------------------------------------------------
    @answers_errors
    async def discovery(self, request: web.Request) -> web.Response:
        """The spec's service discovery file: where the endpoint is, which formats it has."""
        return render(
            _format(request),
            "discovery",
            {
                "changeset": CHANGESET,
                "contact": _("Ủy ban nhân dân xã phụ trách (jurisdiction_id: mã xã 5 chữ số)"),
                "key_service": _("Khóa API do xã cấp cho cán bộ hoặc ứng dụng (bot staff add)"),
                "endpoints": [
                    {
                        "specification": SPEC,
                        "url": f"{self.public_url}{self.BASE}",
                        "changeset": CHANGESET,
                        "type": "production",
                        "formats": ["text/xml", "application/json"],
                    }
                ],
            },
        )

    @answers_errors
    async def services(self, request: web.Request) -> web.Response:
        self._tenant(request)
        return render(_format(request), "services", [service_json(c) for c in CATEGORIES])

    @answers_errors
    async def definition(self, request: web.Request) -> web.Response:
        self._tenant(request)
        code = request.match_info["service_code"]
        if code not in CATEGORIES:
            raise Problem(404, f"không có loại phản ánh {code} / service_code {code} not found")
        return render(
            _format(request), "service_definition", {"service_code": code, "attributes": []}
        )

    @answers_errors
    async def requests(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        query = select(Ticket).where(Ticket.commune_id == tenant.id, public_clause())
        ids = [
            i.strip().upper()
            for i in request.query.get("service_request_id", "").split(",")
            if i.strip()
        ]
        if ids:  # the spec: this overrides all other arguments
            query = query.where(Ticket.code.in_(ids[:LIMIT]))
        else:
            query = self._filters(request, query)
        async with self.sm() as s:
            tickets = list(
                (
                    await s.execute(
                        query.order_by(Ticket.received_at.desc(), Ticket.id.desc()).limit(LIMIT)
                    )
                ).scalars()
            )
            return render(
                _format(request), "service_requests", await self._page(s, tenant, tickets)
            )

    def _filters(self, request: web.Request, query):
        q = request.query
        codes = [c.strip() for c in q.get("service_code", "").split(",") if c.strip()]
        if unknown := [c for c in codes if c not in CATEGORIES]:
            raise Problem(
                400,
                f"service_code: không có {', '.join(unknown)} / unknown; one of "
                f"{', '.join(CATEGORIES)}",
            )
        if codes:
            query = query.where(Ticket.category.in_(codes))
        statuses = {v.strip() for v in q.get("status", "").split(",") if v.strip()}
        if not statuses <= {"open", "closed"}:
            raise Problem(400, "status: open | closed")
        if statuses == {"open"}:
            query = query.where(Ticket.status.in_(workflow.OPEN))
        elif statuses == {"closed"}:
            query = query.where(Ticket.status.not_in(workflow.OPEN))
        start, end = self._window(q.get("start_date", "").strip(), q.get("end_date", "").strip())
        return query.where(Ticket.received_at >= start, Ticket.received_at <= end)

    @staticmethod
    def _window(start_text: str, end_text: str) -> tuple[datetime, datetime]:
        """At most 90 days: the last 90 by default, 90 from start_date or up to end_date."""
        start = parse_when(start_text, "start_date") if start_text else None
        end = parse_when(end_text, "end_date") if end_text else None
        if start and end:
            if end < start or end - start > WINDOW:
                raise Problem(
                    400,
                    "start_date, end_date: khoảng tối đa 90 ngày / the range may "
                    "not span more than 90 days",
                )
            return start, end
        if start:
            return start, start + WINDOW
        end = end or utcnow()
        return end - WINDOW, end

    @answers_errors
    async def request(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        async with self.sm() as s:
            ticket = await service.by_code(s, tenant.id, request.match_info["service_request_id"])
            if ticket is None or not is_public(ticket):  # no oracle: the same 404
                raise Problem(404, "không tìm thấy phản ánh / service_request_id not found")
            return render(
                _format(request), "service_requests", await self._page(s, tenant, [ticket])
            )

    @answers_errors
    async def token(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        token = request.match_info["token"]
        async with self.sm() as s:
            code = (
                await s.execute(
                    select(Ticket.code).where(Ticket.commune_id == tenant.id, Ticket.token == token)
                )
            ).scalar_one_or_none()
        if code is None:
            raise Problem(404, "không tìm thấy token / token not found")
        return render(
            _format(request), "service_requests", [{"service_request_id": code, "token": token}]
        )

    @answers_errors
    async def unknown(self, request: web.Request) -> web.Response:
        raise Problem(
            404,
            "không có tài nguyên này (định dạng: .json hoặc .xml) / no such "
            "resource (formats: .json, .xml)",
        )

    @answers_errors
    async def create(self, request: web.Request) -> web.Response:
        """A report from an Open311 client, filed like any other; the key says which client."""
        if "api_key" in request.query:  # proxies and logs keep query strings: never there
            raise Problem(
                400,
                "api_key không được gửi trong địa chỉ (query string): gửi trong "
                "tiêu đề X-API-Key hoặc trong nội dung / api_key must not be in "
                "the query string: send it in the X-API-Key header or the body",
            )
        form = await self._form(request)
        tenant = self._tenant(request, form)
        async with self.sm() as s, s.begin():
            staff = await self._client(s, tenant, _header_key(request) or form.get("api_key"))
            report = await self._report(s, tenant, form)
            report.filed_by = staff.id  # the create event names the key's holder: which client
            commune = await facts_store.effective(s, tenant.id, tenant.config)  # its routing
            ticket = await service.file_ticket(s, tenant.id, commune, self.settings, report)
            told = [_("Xã đã nhận phản ánh {code}.").format(code=ticket.code), notice(ticket)]
            out = [
                {
                    "service_request_id": ticket.code,
                    "token": ticket.token,
                    "service_notice": " ".join(t for t in told if t),
                    "account_id": None,
                }
            ]
        await self.coord.publish(OUTBOUND_TOPIC)  # a new ticket may alert staff on Zalo
        return render(_format(request), "service_requests", out, 201)

    async def _form(self, request: web.Request) -> dict[str, Any]:
        """Form-encoded, as the spec says; a JSON object is taken too."""
        if request.content_type == "application/json":
            try:
                body = safejson.loads(await request.read() or b"{}")
            except safejson.JsonError:
                body = None
            if not isinstance(body, dict):
                raise Problem(
                    400, "nội dung phải là một đối tượng JSON / body must be a JSON object"
                )
            return body
        return dict(await request.post())

    async def _client(self, s: AsyncSession, tenant: Tenant, key: Any) -> Staff:
        """The staff key the client files with: the commune's own, not revoked, staff active."""
        if not key or not str(key).strip():
            raise Problem(403, "thiếu api_key / api_key is required")
        staff = (
            (
                await s.execute(
                    select(Staff)
                    .join(StaffKey, StaffKey.staff_id == Staff.id)
                    .where(
                        StaffKey.key_hash == hash_key(str(key).strip()),
                        StaffKey.revoked_at.is_(None),
                        Staff.active.is_(True),
                    )
                )
            )
            .scalars()
            .first()
        )
        if staff is None or staff.commune_id != tenant.id:
            raise Problem(
                403, "api_key không hợp lệ cho xã này / invalid api_key for this jurisdiction"
            )
        if staff.role not in FILERS:
            raise Problem(
                403,
                "api_key: chỉ khóa của cán bộ hoặc lãnh đạo xã được gửi phản ánh "
                "/ api_key must be an officer's or a leader's",
            )
        return staff

    async def _report(
        self, s: AsyncSession, tenant: Tenant, form: dict[str, Any]
    ) -> service.Report:
        code = _field(form, "service_code")
        if code is None or code not in CATEGORIES:
            raise Problem(
                400,
                f"service_code: một trong {', '.join(CATEGORIES)} / service_code "
                "is required and must be one of GET services",
            )
        lat, long = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
        if (lat is None) != (long is None):
            raise Problem(400, "lat, long: cần cả hai / lat and long go together")
        where, address_id = _field(form, "address_string"), _field(form, "address_id")
        if lat is None and where is None and address_id is None:
            raise Problem(
                400,
                "cần vị trí: lat và long, address_string hoặc address_id / a "
                "location is required: lat & long, address_string or address_id",
            )
        text = where or address_id  # no address repository: an address_id is kept as given
        village = await _village(s, tenant.id, text)
        if village is not None and text and _words(text) == _words(village.name):
            text = None  # the village says it all
        name = (
            " ".join(p for p in (_field(form, "last_name"), _field(form, "first_name")) if p)
            or None
        )  # Vietnamese order: family name first
        phone, email = _field(form, "phone"), _field(form, "email")
        return service.Report(
            category=code,
            description=_field(form, "description") or "",
            source="open311",
            village_id=village.id if village else None,
            media=_media(form),
            lat=lat,
            long=long,
            address=text,
            consent=bool(name or phone or email),
            name=name,
            phone=phone,
            email=email,
        )
