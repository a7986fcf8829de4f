"""In-memory state of the Zalo simulator; nothing global, everything hangs off :class:`SimState`.

Lifetimes follow zalo-oa-api.md §2 (access token 25 h, refresh token 3 months single-use, auth code
10 min single-use), §4.2 (7-day interaction window, promotion blocked 22:00–06:00 Vietnam time),
§4.5 (uploads expire after ~7 days), §1 (4,000 calls/minute per app) and §7.1 (article
broadcasts: per-follower quotas, ~30 min review, held after 20:00 until the morning, refused at
night).
"""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Literal

from . import ids

try:
    from zoneinfo import ZoneInfo

    VN_TZ: tzinfo = ZoneInfo("Asia/Ho_Chi_Minh")
except Exception:  # pragma: no cover - no tzdata on the host
    VN_TZ = timezone(timedelta(hours=7), "ICT")

ACCESS_TOKEN_TTL_S = 90_000  # 25 h (§2)
REFRESH_TOKEN_TTL_S = 90 * 86_400  # ~3 months (§2)
AUTH_CODE_TTL_S = 600  # 10 min (§2)
SOCIAL_TOKEN_TTL_S = 3600  # a signed-in user's access token: 1 h [INF: older OAuth pages]
INTERACTION_WINDOW_S = 7 * 86_400  # §4.2
UPLOAD_TTL_S = 7 * 86_400  # §4.5
DEFAULT_RATE_LIMIT = 4_000  # calls/minute/app (§1)
MAX_TEXT_CHARS = 2_000  # §4.1, counted after NFC (§11.4)
NIGHT_START_HOUR, NIGHT_END_HOUR = 22, 6  # §4.2
BROADCASTS_PER_MONTH, BROADCASTS_PER_DAY = 4, 1  # per follower (§7.1; Basic package: 1/month)
BROADCAST_REVIEW_S = 1800  # §7.1
BROADCAST_DELIVER_BY_HOUR = 20  # out of review later than this: the next morning (§7.1)

FaultKind = Literal["error", "status", "delay"]
UploadKind = Literal["image", "gif", "file"]


@dataclass
class App:
    app_id: str
    app_secret: str
    #: Optional "Official Account Callback Url"; when set, /v4/oa/permission enforces it (§2).
    callback_url: str | None = None
    #: Cleared when a webhook exhausts the retry ladder (§3.2); an admin must re-enable it.
    webhook_enabled: bool = True


@dataclass
class OA:
    oa_id: str
    app_id: str
    oa_secret_key: str
    webhook_url: str | None
    name: str = ""


@dataclass
class User:
    user_id: str
    user_id_by_app: str
    display_name: str
    follower: bool = True
    last_interaction_ms: int | None = None
    avatar: str = ""
    shared_info: dict[str, Any] | None = None
    tag_names: list[str] = field(default_factory=list)


@dataclass
class AccessToken:
    oa_id: str
    expires_at_ms: int


@dataclass
class RefreshToken:
    oa_id: str
    expires_at_ms: int
    used: bool = False


@dataclass
class AuthCode:
    oa_id: str
    app_id: str
    code_challenge: str | None
    expires_at_ms: int
    used: bool = False


@dataclass
class SocialUser:
    """A Zalo account that can sign in to an app ("Đăng nhập bằng Zalo", social login). Its id
    is app-scoped: the same person has another id in each app, and neither is an OA's
    follower id (``User.user_id``)."""

    account: str  # the simulator's own key for the person
    name: str
    picture: str = ""

    def id_for(self, app_id: str) -> str:
        return ids.stable_numeric_id("social", app_id, self.account)


@dataclass
class SocialCode:
    account: str
    app_id: str
    redirect_uri: str
    code_challenge: str | None
    expires_at_ms: int
    used: bool = False


@dataclass
class SocialToken:
    account: str
    app_id: str
    expires_at_ms: int


@dataclass
class SentMessage:
    """One message the OA API accepted."""

    oa_id: str
    user_id: str
    path: str
    body: dict[str, Any]
    message_id: str
    time_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Upload:
    kind: UploadKind
    oa_id: str
    ref: str  # attachment_id (image/gif) or token (file)
    filename: str
    content_type: str
    size: int
    created_ms: int
    #: the uploaded bytes' SHA-256 (hex): tests check the very image or file staff attached
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Article:
    token: str
    oa_id: str
    article_id: str
    body: dict[str, Any]
    created_ms: int
    verify_calls: int = 0
    ready: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Broadcast:
    oa_id: str
    message_id: str
    target: dict[str, Any]
    article_ids: list[str]
    body: dict[str, Any]
    time_ms: int
    #: when followers get it: after Zalo's review, and not after 20:00 (then the next morning)
    deliver_at_ms: int = 0
    #: the followers it reaches (those with quota left that day and month) and those it skips
    recipients: list[str] = field(default_factory=list)
    over_quota: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Fault:
    """Injected misbehaviour for the next ``remaining`` calls to ``path`` (``"*"`` = any path)."""

    path: str
    kind: FaultKind
    value: float
    remaining: int | None = 1  # None = until cleared

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WebhookDelivery:
    """One POST attempt of the webhook emitter."""

    oa_id: str
    app_id: str
    event_name: str
    num_retry: int
    status: int | None
    error: str | None
    time_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Counters:
    total_calls: int = 0
    #: app_id -> minute index (sim-clock epoch minutes) -> calls
    calls: dict[str, dict[int, int]] = field(default_factory=dict)
    #: error code returned (0 included) -> count
    errors: Counter[int] = field(default_factory=Counter)
    #: injected HTTP statuses returned -> count
    http_statuses: Counter[int] = field(default_factory=Counter)

    @property
    def rate_limited(self) -> int:
        return self.errors[-32]


def nfc_len(text: str) -> int:
    """Length of ``text`` after NFC normalisation (§11.4)."""
    return len(unicodedata.normalize("NFC", text))


class SimState:
    """Everything the simulator knows. Mutate it directly from tests or via ``/_sim/*``."""

    def __init__(
        self,
        *,
        rate_limit: int | None = DEFAULT_RATE_LIMIT,
        legacy_quota: bool = False,
        article_processing_polls: int = 1,
        strict_attachments: bool = True,
        emit_echoes: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        #: Real time in epoch seconds; the sim clock is this plus :attr:`offset_ms` (tests may
        #: pass a manual clock so that minutes turn when they say).
        self.clock = clock
        #: Calls per app per minute; None = unlimited (§1).
        self.rate_limit = rate_limit
        #: Add ``data.quota`` to send replies (pre-2026-03 behaviour, §4.2).
        self.legacy_quota = legacy_quota
        #: How many ``/v2.0/article/verify`` calls answer -214 before the id is ready (§7).
        self.article_processing_polls = article_processing_polls
        #: Reject image/gif/file references that were not uploaded here (or expired: -100).
        self.strict_attachments = strict_attachments
        #: Emit ``oa_send_*`` webhook echoes for accepted sends (§3.4, §11.6).
        self.emit_echoes = emit_echoes
        #: Article broadcasts (§7.1): per-follower quotas (None = unlimited), the review delay,
        #: the hour after which delivery waits for the morning, the 22:00–06:00 refusal (-234),
        #: and articles created without a cover refused (-201 cover).
        self.broadcast_month_quota: int | None = BROADCASTS_PER_MONTH
        self.broadcast_day_quota: int | None = BROADCASTS_PER_DAY
        self.broadcast_review_s: float = BROADCAST_REVIEW_S
        self.broadcast_deliver_by_hour: int = BROADCAST_DELIVER_BY_HOUR
        self.broadcast_night_refused = True
        self.require_cover = True
        #: "Đăng nhập bằng Zalo" for a signed-out person: the consent page first redirects to a
        #: sign-in page on this host (another origin, as oauth.zaloapp.com → id.zalo.me);
        #: "" = consent at once (zalosim/social.py)
        self.social_signin_host = ""
        #: Template ids that cannot be sent by UID (-249, §4.3).
        self.uid_disabled_templates: set[str] = set()
        self.offset_ms = 0
        self.apps: dict[str, App] = {}
        self.oas: dict[str, OA] = {}
        self.users: dict[str, dict[str, User]] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        #: social login (zalosim/social.py): accounts offered on the consent page, by key
        self.social_users: dict[str, SocialUser] = {}
        self.social_codes: dict[str, SocialCode] = {}
        self.social_tokens: dict[str, SocialToken] = {}
        self.social_refresh: dict[str, SocialToken] = {}
        self._clear_runtime()

    def _clear_runtime(self) -> None:
        self.messages: list[SentMessage] = []
        self.uploads: dict[str, Upload] = {}
        self.articles: dict[str, Article] = {}  # by create token
        self.broadcasts: list[Broadcast] = []
        self.faults: list[Fault] = []
        self.deliveries: list[WebhookDelivery] = []
        self.counters = Counters()

    def reset(self, *, full: bool = False) -> None:
        """Clear recorded traffic, counters, faults and the clock offset; re-enable webhooks.

        ``full=True`` also forgets apps, OAs, users and tokens.
        """
        self._clear_runtime()
        self.offset_ms = 0
        for app in self.apps.values():
            app.webhook_enabled = True
        if full:
            self.apps.clear()
            self.oas.clear()
            self.users.clear()
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            self.auth_codes.clear()
            self.social_users.clear()
            self.social_codes.clear()
            self.social_tokens.clear()
            self.social_refresh.clear()
            self.uid_disabled_templates.clear()

    # ----- clock -----------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Real time (:attr:`clock`) plus the test-controlled offset, in epoch milliseconds."""
        return int(self.clock() * 1000) + self.offset_ms

    def advance(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)

    def set_offset(self, seconds: float) -> None:
        self.offset_ms = int(seconds * 1000)

    def set_now(self, when: datetime | int) -> None:
        """Make ``now_ms()`` equal ``when`` (aware datetime, or epoch ms)."""
        target = when if isinstance(when, int) else int(when.timestamp() * 1000)
        self.offset_ms = target - int(self.clock() * 1000)

    def set_vn_time(self, hour: int, minute: int = 0) -> None:
        """Move the clock forward to the next ``hour:minute`` Vietnam time (today or tomorrow)."""
        now = self.vn_now()
        target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if target <= now:
            target += timedelta(days=1)
        self.set_now(target)

    def vn_now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, VN_TZ)

    def is_night(self) -> bool:
        """True in the promotion blackout 22:00–06:00 Asia/Ho_Chi_Minh (§4.2)."""
        hour = self.vn_now().hour
        return hour >= NIGHT_START_HOUR or hour < NIGHT_END_HOUR

    # ----- broadcasts (§7.1) ------------------------------------------------------------------

    def broadcast_delivery_ms(self, sent_ms: int) -> int:
        """After the review; if that is after the deliver-by hour (or before 06:00), the next
        06:00 Vietnam time."""
        ready = sent_ms + int(self.broadcast_review_s * 1000)
        local = datetime.fromtimestamp(ready / 1000, VN_TZ)
        if local.hour >= self.broadcast_deliver_by_hour or local.hour < NIGHT_END_HOUR:
            morning = local.replace(hour=NIGHT_END_HOUR, minute=0, second=0, microsecond=0)
            if local.hour >= NIGHT_END_HOUR:
                morning += timedelta(days=1)
            return int(morning.timestamp() * 1000)
        return ready

    def broadcast_room(self, oa_id: str, user_id: str, at_ms: int) -> bool:
        """Has this follower quota left for a broadcast delivered at ``at_ms``?"""
        day = datetime.fromtimestamp(at_ms / 1000, VN_TZ).date()
        month = day_n = 0
        for b in self.broadcasts:
            if b.oa_id != oa_id or user_id not in b.recipients:
                continue
            other = datetime.fromtimestamp(b.deliver_at_ms / 1000, VN_TZ).date()
            month += (other.year, other.month) == (day.year, day.month)
            day_n += other == day
        return (self.broadcast_month_quota is None or month < self.broadcast_month_quota) and (
            self.broadcast_day_quota is None or day_n < self.broadcast_day_quota
        )

    # ----- registry --------------------------------------------------------------------------

    def add_app(self, app_id: str, app_secret: str, *, callback_url: str | None = None) -> App:
        app = self.apps.get(app_id)
        if app is None:
            app = self.apps[app_id] = App(app_id, app_secret, callback_url)
        else:
            app.app_secret = app_secret
            app.callback_url = callback_url or app.callback_url
        return app

    def add_oa(
        self,
        oa_id: str,
        app_id: str,
        oa_secret_key: str,
        webhook_url: str | None = None,
        *,
        name: str = "",
    ) -> OA:
        if app_id not in self.apps:
            raise KeyError(f"unknown app {app_id!r}; add_app first")
        oa = self.oas[oa_id] = OA(oa_id, app_id, oa_secret_key, webhook_url, name or f"OA {oa_id}")
        self.users.setdefault(oa_id, {})
        return oa

    def app_of(self, oa_id: str) -> App:
        return self.apps[self.oas[oa_id].app_id]

    def add_user(
        self,
        oa_id: str,
        user_id: str | None = None,
        *,
        follower: bool = True,
        interacted_ago_s: float | None = 0,
        display_name: str | None = None,
        user_id_by_app: str | None = None,
        avatar: str | None = None,
    ) -> User:
        """Register (or overwrite) a user of ``oa_id``; ``interacted_ago_s=None`` = never."""
        oa = self.oas[oa_id]
        uid = user_id or ids.numeric_id()
        last = None if interacted_ago_s is None else self.now_ms() - int(interacted_ago_s * 1000)
        user = User(
            user_id=uid,
            user_id_by_app=user_id_by_app or ids.stable_numeric_id(oa.app_id, oa_id, uid),
            display_name=display_name if display_name is not None else f"User {uid[-4:]}",
            follower=follower,
            last_interaction_ms=last,
            avatar=avatar if avatar is not None else f"https://s120-ava-talk.zadn.vn/sim/{uid}.jpg",
        )
        self.users.setdefault(oa_id, {})[uid] = user
        return user

    def get_user(self, oa_id: str, user_id: str) -> User | None:
        return self.users.get(oa_id, {}).get(user_id)

    def touch_user(
        self, oa_id: str, user_id: str, *, follower: bool | None = None, at_ms: int | None = None
    ) -> User:
        """Record an interaction (now, or at ``at_ms``), creating the user (as a follower) if
        unknown (§4.2)."""
        user = self.get_user(oa_id, user_id)
        if user is None:
            user = self.add_user(oa_id, user_id, follower=True if follower is None else follower)
        user.last_interaction_ms = self.now_ms() if at_ms is None else at_ms
        if follower is not None:
            user.follower = follower
        return user

    def within_window(self, user: User) -> bool:
        last = user.last_interaction_ms
        return last is not None and self.now_ms() - last <= INTERACTION_WINDOW_S * 1000

    # ----- tokens ----------------------------------------------------------------------------

    def mint_tokens(
        self, oa_id: str, access_token: str | None = None, refresh_token: str | None = None
    ) -> tuple[str, str]:
        """Issue an access/refresh pair for ``oa_id`` (explicit strings allowed for fixtures)."""
        if oa_id not in self.oas:
            raise KeyError(f"unknown OA {oa_id!r}")
        now = self.now_ms()
        access = access_token or ids.token()
        refresh = refresh_token or ids.token()
        self.access_tokens[access] = AccessToken(oa_id, now + ACCESS_TOKEN_TTL_S * 1000)
        self.refresh_tokens[refresh] = RefreshToken(oa_id, now + REFRESH_TOKEN_TTL_S * 1000)
        return access, refresh

    def issue_code(self, oa_id: str, app_id: str, code_challenge: str | None) -> str:
        code = ids.token(32)
        self.auth_codes[code] = AuthCode(
            oa_id, app_id, code_challenge or None, self.now_ms() + AUTH_CODE_TTL_S * 1000
        )
        return code

    def add_social_user(self, account: str, name: str, *, picture: str = "") -> SocialUser:
        """A Zalo account the social-login consent page offers (``id_for(app)``: its id)."""
        user = self.social_users[account] = SocialUser(account, name, picture)
        return user

    def issue_social_code(
        self, account: str, app_id: str, redirect_uri: str, code_challenge: str | None
    ) -> str:
        code = ids.token(32)
        self.social_codes[code] = SocialCode(
            account,
            app_id,
            redirect_uri,
            code_challenge or None,
            self.now_ms() + AUTH_CODE_TTL_S * 1000,
        )
        return code

    def mint_social_token(self, account: str, app_id: str) -> str:
        token = ids.token()
        self.social_tokens[token] = SocialToken(
            account, app_id, self.now_ms() + SOCIAL_TOKEN_TTL_S * 1000
        )
        return token

    # ----- traffic ---------------------------------------------------------------------------

    def record_message(
        self, oa_id: str, user_id: str, path: str, body: dict[str, Any]
    ) -> SentMessage:
        msg = SentMessage(oa_id, user_id, path, body, ids.message_id(), self.now_ms())
        self.messages.append(msg)
        return msg

    def find_messages(
        self, oa_id: str | None = None, user_id: str | None = None, path: str | None = None
    ) -> list[SentMessage]:
        return [
            m
            for m in self.messages
            if (oa_id is None or m.oa_id == oa_id)
            and (user_id is None or m.user_id == user_id)
            and (path is None or m.path == path)
        ]

    def count_call(self, app_id: str) -> int:
        """Count one API call for ``app_id`` in the current sim-clock minute; return the count."""
        minute = self.now_ms() // 60_000
        per_app = self.calls_for(app_id)
        per_app[minute] = per_app.get(minute, 0) + 1
        return per_app[minute]

    def calls_for(self, app_id: str) -> dict[int, int]:
        return self.counters.calls.setdefault(app_id, {})

    # ----- faults ----------------------------------------------------------------------------

    def add_fault(self, path: str, kind: FaultKind, value: float, times: int | None = 1) -> Fault:
        if kind not in ("error", "status", "delay"):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(path, kind, value, times)
        self.faults.append(fault)
        return fault

    def take_faults(self, path: str) -> dict[str, Fault]:
        """Consume at most one pending fault of each kind matching ``path``."""
        taken: dict[str, Fault] = {}
        for fault in list(self.faults):
            if fault.kind in taken or fault.path not in (path, "*"):
                continue
            taken[fault.kind] = fault
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
        return taken

    def clear_faults(self) -> None:
        self.faults.clear()

    # ----- settings / stats ------------------------------------------------------------------

    SETTINGS = (
        "rate_limit",
        "legacy_quota",
        "article_processing_polls",
        "strict_attachments",
        "emit_echoes",
        "broadcast_month_quota",
        "broadcast_day_quota",
        "broadcast_review_s",
        "broadcast_deliver_by_hour",
        "broadcast_night_refused",
        "require_cover",
        "social_signin_host",
    )

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.SETTINGS}

    def configure(self, **settings: Any) -> None:
        """Set any of :attr:`SETTINGS` (unknown names raise ``KeyError``)."""
        for name, value in settings.items():
            if name not in self.SETTINGS:
                raise KeyError(f"unknown setting {name!r}")
            setattr(self, name, value)

    def stats(self) -> dict[str, Any]:
        c = self.counters
        return {
            "now_ms": self.now_ms(),
            "offset_ms": self.offset_ms,
            "total_calls": c.total_calls,
            "calls_per_app_minute": {
                app: {str(m): n for m, n in per.items()} for app, per in c.calls.items()
            },
            "rate_limited": c.rate_limited,
            "errors": {str(code): n for code, n in sorted(c.errors.items())},
            "http_statuses": {str(code): n for code, n in sorted(c.http_statuses.items())},
            "messages": len(self.messages),
            "broadcasts": len(self.broadcasts),
            "uploads": len(self.uploads),
            "articles": len(self.articles),
            "webhook_deliveries": len(self.deliveries),
            "webhook_disabled_apps": sorted(
                a.app_id for a in self.apps.values() if not a.webhook_enabled
            ),
            "rate_limit": self.rate_limit,
        }
