"""Typed settings: ``config.yml`` (or the file named by ``BOT_CONFIG``) plus environment.

Secret values may be written inline or as ``${ENV_VAR}`` references. Anything invalid stops
start-up with a :class:`ConfigError` naming the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import re
from datetime import date, time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.networks import IPvAnyNetwork

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config.yml"
PROCEDURES = ROOT / "data" / "procedures"  # one YAML per procedure (bot/procedures.py)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(Exception):
    """Configuration that cannot be used; the message names file, key and problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OfficeHours(_Model):
    """One opening period, e.g. ``{days: mon-fri, open: "07:30", close: "11:30"}``."""

    days: str
    open: time
    close: time

    @field_validator("open", "close", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 13:30 as the base-60 integer 810
        if isinstance(value, int):
            raise ValueError(
                'write times in quotes, e.g. "13:30" (unquoted YAML reads 13:30 as a number)'
            )
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        expand_days(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> OfficeHours:
        if self.close <= self.open:
            raise ValueError("close must be after open")
        return self

    @property
    def weekdays(self) -> list[int]:
        return expand_days(self.days)


def expand_days(spec: str) -> list[int]:
    """``mon-fri`` / ``sat`` / ``mon,wed`` → weekday numbers (Monday = 0)."""
    result: list[int] = []
    for part in spec.lower().replace(" ", "").split(","):
        if "-" in part:
            start, _, end = part.partition("-")
            if start not in _DAYS or end not in _DAYS:
                raise ValueError(f"unknown day range {part!r}; use mon..sun")
            a, b = _DAYS.index(start), _DAYS.index(end)
            if b < a:
                raise ValueError(f"day range {part!r} runs backwards")
            result.extend(range(a, b + 1))
        elif part in _DAYS:
            result.append(_DAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r}; use mon, tue, wed, thu, fri, sat, sun")
    return result


_HTTP_URL = r"^https?://\S+$"


class ZaloConnection(_Model):
    oa_id: str = Field(min_length=1)
    app_id: str = Field(min_length=1)
    oa_secret_key: str = Field(min_length=1)
    #: the cover photo of the commune's articles when a notice has no image (Zalo's clients
    #: always send one, zalo-oa-api.md §7.1); default: zalo.article_cover_url
    article_cover_url: str | None = Field(default=None, pattern=_HTTP_URL)
    #: article broadcasts each follower may receive a month with this OA's package (Basic: 1);
    #: default: zalo.broadcasts.per_follower_month
    broadcasts_per_month: int | None = Field(default=None, ge=0)

    @field_validator("oa_id", "app_id", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # YAML reads unquoted 19-digit ids as int; Zalo ids are strings.
        return str(value) if isinstance(value, int) else value


class PublicContact(_Model):
    """A person residents may call, as the commune publishes them (a village head, a
    propagandist): the name and phone the person agreed to have given out."""

    name: str = Field(min_length=1)
    phone: str | None = None
    #: what else they are, said after the name (e.g. "Bí thư chi bộ")
    title: str | None = None


class Village(_Model):
    name: str = Field(min_length=1)
    kind: Literal["thôn", "bản", "buôn", "ấp", "tổ dân phố", "khu phố", "làng", "xóm", "tổ"] = (
        "thôn"
    )
    #: the language its Zalo group reads (e.g. hnj): the propagandist's package uses the
    #: notice's translation into it when there is one
    language: str | None = None
    #: the village head (trưởng thôn / tổ trưởng), for "trưởng thôn X là ai"
    head: PublicContact | None = None
    #: the village's propagandists (tuyên truyền viên cơ sở) with their public contacts
    propagandists: list[PublicContact] = []
    #: households (hộ gia đình) in the village, where known: the yearly report's "residents
    #: reached ÷ households" (bot/report/; `bot tenants import` sets it from the province's file)
    households: int | None = Field(default=None, ge=0)


#: what an office is to residents (bot/conversation/facts.py names each and finds it in words)
OfficeKind = Literal[
    "one_stop", "office", "police", "health", "land", "culture", "justice", "military", "other"
]


class Office(_Model):
    """A desk or office of the commune: one that answers residents' feedback (routing), and a
    place residents ask about ("số điện thoại công an xã"). ``kind`` says which (without it,
    read from the code and name: ``congan`` / "Công an xã" is the police); ``address``,
    ``phone`` and ``hours`` are answered as given — what is missing, the bot says it does not
    know."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str = Field(min_length=1)
    kind: OfficeKind | None = None
    address: str | None = None
    phone: str | None = None
    hours: list[OfficeHours] = []

    @property
    def what(self) -> str:
        """The office's kind: as configured, else read from its code and name."""
        if self.kind:
            return self.kind
        from bot.text import search_key

        name = search_key(self.name)
        for kind, pattern in _KIND_IN_NAME:
            if re.search(pattern, self.code) or re.search(pattern, name):
                return kind
        return "other"


#: an office's kind read from its code and name when config does not give it (folded text)
_KIND_IN_NAME = (
    ("one_stop", r"mot cua|hanh chinh cong|tiep nhan"),
    ("police", r"cong an|^congan|^ca\b"),
    ("health", r"y te|^tramyte|^yte"),
    ("land", r"dia chinh|dat dai|^diachinh"),
    ("culture", r"van hoa|^vanhoa"),
    ("justice", r"tu phap|ho tich|^tuphap"),
    ("military", r"quan su|^quansu"),
    ("office", r"van phong|^vanphong"),
)


class HealthStation(_Model):
    """The commune's health station (trạm y tế), for "trạm y tế ở đâu, mấy giờ mở cửa": what
    is not given here the bot says it does not know (it never answers with the office's
    hours)."""

    name: str = Field(default="Trạm Y tế xã", min_length=1)
    address: str | None = None
    phone: str | None = None
    hours: list[OfficeHours] = []


class LocalProcedure(_Model):
    """What the commune sets itself for one procedure of data/procedures/ (docs/procedures.md):
    its own fee or time limit replaces the national text; ``note`` is added to every answer."""

    fee: str | None = Field(default=None, min_length=1)
    time_limit: str | None = Field(default=None, min_length=1)
    note: str | None = Field(default=None, min_length=1)


class RoutingRule(_Model):
    """Feedback of ``category`` (``*``: any) from ``villages`` ([]: any) goes to ``office``.
    The first matching rule wins; without one, the commune's first office."""

    category: str = "*"
    villages: list[str] = []
    office: str


#: the desk every commune has unless it lists its own
DEFAULT_OFFICES = [{"code": "vanphong", "name": "Văn phòng HĐND và UBND"}]


class Commune(_Model):
    code: str = Field(pattern=r"^\d{5}$", description="national administrative-unit code")
    name: str = Field(min_length=1)
    province_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    office_hours: list[OfficeHours] = Field(min_length=1)
    address: str = Field(min_length=1)
    phone: str = Field(min_length=1)
    email: str | None = None
    languages: list[str] = ["vi"]
    villages: list[Village] = []
    offices: list[Office] = Field(
        default_factory=lambda: [Office.model_validate(o) for o in DEFAULT_OFFICES], min_length=1
    )
    routing: list[RoutingRule] = []
    #: who reads sensitive tickets (bot/feedback/access.py): the officers of the ticket's office
    #: (and leaders), or every officer where one officer covers everything
    sensitive_tickets: Literal["office", "all_officers"] = "office"
    zalo: ZaloConnection | None = None
    health_station: HealthStation | None = None
    #: the province's public-service portal (e.g. https://dichvucong.laocai.gov.vn), given
    #: beside https://dichvucong.gov.vn when a procedure can be done online
    public_service_portal: str | None = Field(default=None, pattern=_HTTP_URL)
    #: the commune's own fees and time limits, by procedure (data/procedures/<key>.yml)
    procedures: dict[str, LocalProcedure] = {}

    @model_validator(mode="after")
    def _facts_known(self) -> Commune:
        known = {p.stem for p in PROCEDURES.glob("*.yml")}  # read by bot/procedures.py
        unknown = sorted(set(self.procedures) - known)
        if unknown:
            raise ValueError(
                f"procedures: {', '.join(unknown)}: not a procedure of data/procedures "
                f"({', '.join(sorted(known))})"
            )
        if self.health_station and any(o.kind == "health" for o in self.offices):
            raise ValueError(
                "health_station: the health station is also an office of kind health; give it once"
            )
        return self

    def office_of(self, kind: str) -> Office | None:
        """The commune's office of ``kind`` (its own ``kind``, else read from its code and
        name); the health station also from ``health_station``."""
        found = next((o for o in self.offices if o.what == kind), None)
        if found is None and kind == "health" and self.health_station is not None:
            station = self.health_station
            found = Office(
                code="tramyte",
                name=station.name,
                kind="health",
                address=station.address,
                phone=station.phone,
                hours=station.hours,
            )
        return found

    @model_validator(mode="after")
    def _routes_known(self) -> Commune:
        from bot.categories import CATEGORIES
        from bot.text import search_key

        offices = {o.code for o in self.offices}
        villages = {search_key(v.name) for v in self.villages}
        for i, rule in enumerate(self.routing):
            if rule.office not in offices:
                raise ValueError(
                    f"routing.{i}.office: {rule.office} is not one of the "
                    f"commune's offices ({', '.join(sorted(offices))})"
                )
            if rule.category != "*" and rule.category not in CATEGORIES:
                raise ValueError(f"routing.{i}.category: one of *, {', '.join(CATEGORIES)}")
            unknown = [v for v in rule.villages if search_key(v) not in villages]
            if unknown:
                raise ValueError(
                    f"routing.{i}.villages: not villages of the commune: {', '.join(unknown)}"
                )
        return self

    @field_validator("code", mode="before")
    @classmethod
    def _code_as_text(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 00010 as octal 8: never guess, ask for quotes
        if isinstance(value, int):
            raise ValueError('write the unit code in quotes, e.g. "02839"')
        return value

    @field_validator("villages", mode="before")
    @classmethod
    def _village_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value


class ZaloApp(_Model):
    app_id: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)

    @field_validator("app_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class ZaloLoginApp(_Model):
    """The Zalo app staff sign in to the console with ("Đăng nhập bằng Zalo", social login:
    ``/v4/permission``, docs/console-zalo.md). It may be one of ``zalo.apps`` or an app of its
    own; its "Callback URL" in Zalo's app console must be ``redirect_uri``."""

    app_id: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    #: default: <service.public_url>/console/login/zalo/callback
    redirect_uri: str | None = Field(default=None, pattern=_HTTP_URL)

    @field_validator("app_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class BroadcastRules(_Model):
    """Zalo's rules for article broadcasts (zalo-oa-api.md §7, §7.1; DESIGN.md principle 4:
    the newer figures are the defaults, the older ones are configuration)."""

    #: broadcasts a follower may receive per calendar month (Vietnamese time) and per day;
    #: Basic package: 1 a month (set communes[].zalo.broadcasts_per_month)
    per_follower_month: int = Field(default=4, ge=0)
    per_follower_day: int = Field(default=1, ge=0)
    #: Zalo reviews a broadcast (~30 min) before it goes out
    review_s: float = Field(default=1800, ge=0)
    #: broadcasts are sent from this time (Zalo refuses 22:00–06:00) …
    send_from: time = time(6, 0)
    #: … and must be out of review by this time, else Zalo holds them until the next morning:
    #: later ones are sent at ``send_from`` the next day instead
    deliver_by: time = time(20, 0)

    @field_validator("send_from", "deliver_by", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        return OfficeHours._quoted_time(value)


class ZaloSettings(_Model):
    api_base: str = "https://openapi.zalo.me"
    oauth_base: str = "https://oauth.zaloapp.com"
    #: the social API's host (a signed-in Zalo user's ``/v2.0/me``)
    graph_base: str = "https://graph.zalo.me"
    apps: list[ZaloApp] = []
    #: "Đăng nhập bằng Zalo" on the console's sign-in page; null: not offered
    login: ZaloLoginApp | None = None
    request_timeout_s: float = Field(default=10.0, gt=0)
    #: Zalo's v3 CS endpoint does not reliably show button templates (zalo-oa-api.md §4.1,
    #: DISPUTED), so quick choices go as a numbered text menu unless this is switched on.
    buttons: bool = False
    max_send_attempts: int = Field(default=8, ge=1)
    #: Zalo answers -32 past 4,000 calls a minute per app (zalo-oa-api.md §1); we stay under it
    #: ourselves. null = no local limit (only for a simulator with its limit lifted).
    app_calls_per_minute: int | None = Field(default=4000, ge=1)
    #: the share of that budget routine notices may use; the rest waits for replies and
    #: emergencies, so a broadcast never makes a resident's answer wait for the next minute
    bulk_share: float = Field(default=0.95, gt=0, le=1)
    #: a budget per OA as well (e.g. an OA's share of a shared app); null = only the app's
    oa_calls_per_minute: int | None = Field(default=None, ge=1)
    refresh_margin_s: int = Field(default=3600, ge=60)
    #: staff typing to a resident in Zalo's OA Manager (an oa_send_* echo) keeps the bot quiet
    #: for that resident this long (0: never pause); their messages are logged meanwhile
    staff_echo_pause_s: float = Field(default=1800, ge=0)
    #: uploaded file tokens expire after about 7 days (zalo-oa-api.md §4.5): older ones are
    #: uploaded again
    upload_max_age_s: float = Field(default=6 * 86400, gt=0)
    #: a signed webhook event dated older than this is refused (Zalo's retries end about 2 h
    #: after the first try, zalo-oa-api.md §3.2): a replay of a captured event, not news
    event_max_age_s: float = Field(default=86400, gt=0)
    #: … and so is one dated further than this ahead of our clock
    event_future_skew_s: float = Field(default=300, ge=0)
    #: article cover when a notice has no image and the commune sets none
    article_cover_url: str | None = Field(default=None, pattern=_HTTP_URL)
    broadcasts: BroadcastRules = BroadcastRules()


class NluSettings(_Model):
    """Which engine understands residents (docs/nlu.md). ``rasa`` needs a running
    `bot nlu rasa-serve`; while it does not answer, the embedded engine does (logged, counted)."""

    backend: Literal["embedded", "rasa"] = "embedded"
    rasa_url: str = "http://127.0.0.1:5005"
    timeout_s: float = Field(default=2.0, gt=0)
    #: after Rasa failed to answer, go straight to the embedded engine for this long
    retry_after_s: float = Field(default=10.0, ge=0)
    #: parses in flight to Rasa at once (its server works one request at a time per core)
    concurrency: int = Field(default=4, ge=1)


class NoticeSettings(_Model):
    """Residents' protection from notices (emergencies ignore both): no sends in the quiet
    hours (Vietnamese time; Zalo itself blocks promotional sends 22:00–06:00), and at most
    ``daily_cap`` notices per resident per day."""

    quiet_start: time = time(22, 0)
    quiet_end: time = time(6, 0)
    daily_cap: int = Field(default=3, ge=1)
    #: a propagandist who has not replied "đã chuyển" is reminded once after this long
    relay_reminder_after_s: float = Field(default=3 * 3600, gt=0)
    #: a recurring notice whose time passed while the service was down is still sent if the
    #: service is back within this long (once); later than that, that occurrence is skipped
    misfire_grace_s: float = Field(default=3600, gt=0)

    @field_validator("quiet_start", "quiet_end", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        return OfficeHours._quoted_time(value)


class ProvinceSettings(_Model):
    """What a province decides for its communes (``provinces: {"10": {...}}``, by the
    province's 2-digit code). ``emergency_direct``: an emergency notice a province operator
    sends to many communes (bot/notices/province.py) goes out at once, without each commune
    leader's approval. Off by default: the commune's OA speaks for its UBND, whose leader
    approves what it sends (domain-vn.md §8.5, soạn → duyệt → phát); Thông tư 39/2020's
    "khẩn cấp: phát ngay" is for bulletins the province's own editorial board has appraised
    (§1.6, §3.3), a step the bot does not have — a province that has it turns this on."""

    emergency_direct: bool = False


class WebReportCaps(_Model):
    """New reports (tickets) the public web chat may file in any hour: per anonymous session
    and per network address (all its sessions together). Emergencies have their own, slightly
    higher cap; past it the resident is still given the national numbers and the commune's
    phone. Zalo residents are not capped (Zalo knows who they are)."""

    session: int = Field(default=3, ge=1)
    session_emergency: int = Field(default=5, ge=1)
    address: int = Field(default=10, ge=1)
    address_emergency: int = Field(default=15, ge=1)


class FeedbackSettings(_Model):
    """Residents' feedback (phản ánh, kiến nghị): the working-day clock and its defaults
    (sources in docs/feedback.md). Days are working days: Monday–Friday without Vietnamese
    public holidays (the ``holidays`` package, Tết included) and ``extra_holidays``."""

    #: tell the resident whether the matter is accepted, transferred or refused
    #: (Luật Tiếp công dân 2013, Điều 28: 10 working days)
    ack_days: int = Field(default=10, ge=1)
    #: answer deadline per category, working days (categories not listed: ``answer_days``)
    answer_days: int = Field(default=15, ge=1)
    category_days: dict[str, int] = {}
    #: while a ticket stays open, the resident hears how it goes (QĐ 852/QĐ-BNV: 7 working days)
    progress_every_days: int = Field(default=7, ge=1)
    #: the leader and the office are alerted this many working days before a deadline
    warn_before_days: int = Field(default=1, ge=0)
    #: emergencies (disaster, fire, epidemic, security): by the end of the same day, and never
    #: less than this many hours after the report
    emergency_min_hours: float = Field(default=4, gt=0)
    extra_holidays: list[date] = []  # decreed days off the package does not know (bridges)
    extra_working_days: list[date] = []  # Saturdays decreed as working days in exchange
    #: a conversation goes to staff after this many misunderstood messages in a row
    handoff_after_misses: int = Field(default=2, ge=1)
    #: reports from the public web chat, capped per hour (anonymous sessions, addresses)
    web_reports: WebReportCaps = WebReportCaps()
    #: a conversation handed to staff goes back to the bot, with a message telling the
    #: resident what to do, when nobody has taken or answered it within this many minutes of
    #: office hours (a handoff at night counts from the next opening); 0: wait for staff always
    handoff_timeout_minutes: int = Field(default=120, ge=0)

    @field_validator("category_days")
    @classmethod
    def _categories(cls, value: dict[str, int]) -> dict[str, int]:
        from bot.categories import CATEGORIES

        unknown = [k for k in value if k not in CATEGORIES]
        if unknown:
            raise ValueError(
                f"unknown categories {', '.join(unknown)}; one of {', '.join(CATEGORIES)}"
            )
        if any(v < 1 for v in value.values()):
            raise ValueError("days must be at least 1")
        return value


class WebChatSettings(_Model):
    """The public web chat (docs/webchat.md). It assumes a hostile client: sessions are issued
    and signed by the service, and every budget below is also counted per network address."""

    #: reverse proxies (CIDR networks) whose ``X-Forwarded-For`` is believed; from any other
    #: peer the header is ignored and the peer's own address counts
    trusted_proxies: list[IPvAnyNetwork] = []
    #: portals (``https://xa.example.gov.vn``) that may embed the chat page in a frame and open
    #: its websocket; the service's own origin is always allowed
    portal_origins: list[str] = []
    messages_per_minute: int = Field(default=20, ge=1)  # one session
    address_messages_per_minute: int = Field(default=60, ge=1)  # one address, all sessions
    sessions_per_hour: int = Field(default=30, ge=1)  # new sessions one address may get
    uploads_per_hour: int = Field(default=10, ge=1)  # photos one session may send
    address_uploads_per_hour: int = Field(default=30, ge=1)
    #: a JPEG or PNG photo; at most 10 MB (each is read whole and checked, bot/images.py)
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, gt=0, le=10 * 1024 * 1024)

    @field_validator("portal_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        out = []
        for origin in value:
            origin = origin.strip().rstrip("/")
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", origin):
                raise ValueError(
                    f"{origin!r}: an origin is scheme://host[:port], e.g. "
                    "https://xa.example.gov.vn (no path)"
                )
            out.append(origin.lower())
        return out


class ServiceSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    secret_key: str | None = None
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    log_level: str = "INFO"


class Settings(_Model):
    service: ServiceSettings = ServiceSettings()
    database_url: str = "sqlite+aiosqlite:///var/bot.db"
    redis_url: str | None = None
    zalo: ZaloSettings = ZaloSettings()
    nlu: NluSettings = NluSettings()
    notices: NoticeSettings = NoticeSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    webchat: WebChatSettings = WebChatSettings()
    #: per province (2-digit code): see ProvinceSettings
    provinces: dict[str, ProvinceSettings] = {}
    communes: list[Commune] = Field(min_length=1)
    source: str = "<memory>"

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        if self.database_url.startswith("postgresql") and not self.service.secret_key:
            raise ValueError(
                "service.secret_key: required with PostgreSQL (or BOT_SECRET_KEY): "
                "every process must decrypt the same stored tokens"
            )
        for code in self.provinces:
            if not re.fullmatch(r"\d{2}", code):
                raise ValueError(f'provinces.{code}: a province\'s 2-digit code, quoted ("10")')
        seen_codes: set[str] = set()
        seen_oas: set[str] = set()
        apps = {a.app_id for a in self.zalo.apps}
        for i, commune in enumerate(self.communes):
            if commune.code in seen_codes:
                raise ValueError(f"communes.{i}.code: {commune.code} appears twice")
            seen_codes.add(commune.code)
            if commune.zalo:
                if commune.zalo.oa_id in seen_oas:
                    raise ValueError(f"communes.{i}.zalo.oa_id: {commune.zalo.oa_id} appears twice")
                seen_oas.add(commune.zalo.oa_id)
                if commune.zalo.app_id not in apps:
                    raise ValueError(
                        f"communes.{i}.zalo.app_id: app {commune.zalo.app_id} is not listed "
                        "under zalo.apps"
                    )
        return self

    def commune(self, code: str) -> Commune | None:
        return next((c for c in self.communes if c.code == code), None)

    def province(self, code: str) -> ProvinceSettings:
        return self.provinces.get(code) or ProvinceSettings()

    def app(self, app_id: str) -> ZaloApp | None:
        return next((a for a in self.zalo.apps if a.app_id == app_id), None)

    @property
    def public_url(self) -> str:
        return (
            self.service.public_url or f"http://{self.service.host}:{self.service.port}"
        ).rstrip("/")


_ENV_OVERRIDES = {
    "BOT_DATABASE_URL": ("database_url",),
    "BOT_REDIS_URL": ("redis_url",),
    "BOT_HOST": ("service", "host"),
    "BOT_PORT": ("service", "port"),
    "BOT_PUBLIC_URL": ("service", "public_url"),
    "BOT_SECRET_KEY": ("service", "secret_key"),
    "BOT_ZALO_API_BASE": ("zalo", "api_base"),
    "BOT_ZALO_OAUTH_BASE": ("zalo", "oauth_base"),
    "BOT_ZALO_GRAPH_BASE": ("zalo", "graph_base"),
    "BOT_NLU_BACKEND": ("nlu", "backend"),
    "BOT_RASA_URL": ("nlu", "rasa_url"),
}


def _substitute(value: Any, path: str, env: dict[str, str], where: str) -> Any:
    if isinstance(value, dict):
        return {
            k: _substitute(v, f"{path}.{k}" if path else str(k), env, where)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute(v, f"{path}.{i}", env, where) for i, v in enumerate(value)]
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(f"{where}: {path}: environment variable {name} is not set")
            return env[name]

        return _ENV_REF.sub(repl, value)
    return value


def config_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    return Path(env.get("BOT_CONFIG") or DEFAULT_CONFIG)


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    file = Path(path) if path else config_path(env)
    where = str(file)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found (set BOT_CONFIG or create it)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of keys")
    return settings_from_dict(raw, env=env, where=where)


def settings_from_dict(
    raw: dict[str, Any], env: dict[str, str] | None = None, where: str = "<memory>"
) -> Settings:
    env = dict(os.environ) if env is None else env
    data = _substitute(raw, "", env, where)
    # flat aliases in the file: database: {url}, redis: {url}
    if isinstance(data.get("database"), dict):
        data["database_url"] = data.pop("database").get(
            "url", Settings.model_fields["database_url"].default
        )
    if isinstance(data.get("redis"), dict):
        data["redis_url"] = data.pop("redis").get("url")
    for var, keys in _ENV_OVERRIDES.items():
        if env.get(var):
            target = data
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = env[var]
    data["source"] = where
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {key}: {msg}")
        raise ConfigError("\n".join(problems)) from None
