"""OAuth v4 for Official Accounts and the token store (zalo-oa-api.md §2).

* ``authorization_url`` → PKCE pair (verifier kept encrypted in ``oauth_states``), the URL the OA
  admin opens; ``exchange_code`` is what the callback calls.
* Tokens are encrypted at rest, cached in memory, refreshed ``refresh_margin_s`` before expiry.
* The refresh token is single-use and rotates: a refresh runs under a coordinator lock and, on
  PostgreSQL, an advisory lock (``bot.store.db.advisory_lock``: it still holds across processes
  while Redis is unreachable), and re-reads the row first, so two processes never both spend it.
* Only an answer saying the refresh token itself is dead marks the OA for re-consent. Rate
  limits, HTTP 5xx/429, timeouts and other refusals keep the token and are retried with backoff
  (per OA, in this process); meanwhile a still-valid access token keeps being served, and sends
  that need a new one wait (``THROTTLED``) instead of failing.
* Messages held while an OA had no usable token (``Outcome.NO_TOKEN``) are released as soon as
  tokens are stored again (OAuth callback, ``bot zalo set-tokens``) or a refresh succeeds.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from zalo_sdk import BaseClient

from bot.bodies import read_capped
from bot.channels.zalo.errors import (
    TokenUnavailable,
    TransportError,
    ZaloError,
    refresh_token_dead,
)
from bot.config import Settings
from bot.coord import Coordinator, LockTimeout
from bot.crypto import SecretBox
from bot.loops import OUTBOUND_TOPIC, TOKENS_TOPIC, Worker
from bot.safejson import JsonError, loads
from bot.sending import NO_TOKEN_CODE, Outcome
from bot.store.db import advisory_lock
from bot.store.models import Commune, NoticeBroadcast, OAuthState, OutboundMessage, ZaloToken
from bot.store.ops import rowcount
from bot.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)
STATE_TTL = timedelta(minutes=15)
MAX_ANSWER = 64 * 1024  # getoa's answer is a few hundred bytes
REFRESH_BACKOFF_S = (5.0, 600.0)  # first wait after a failed refresh, longest wait
REVOKED = (
    "the OA revoked the app's permission (permission_revoked); reconnect it with "
    "`bot zalo connect --oa {oa}`"
)


#: an OA's connection as the console, the province's health page and the yearly report tell it
#: (``token_state``; the words and what to do: ``bot.health``)
TOKEN_STATES = ("no_oa", "not_connected", "connected", "failing", "expired", "reconsent")


def token_state(
    oa_id: str | None, token: ZaloToken | None, said: str = "", now: datetime | None = None
) -> str:
    """The one rule for an OA's connection, a key of ``TOKEN_STATES``: no OA configured; no
    token stored; re-consent needed (a refused refresh or a revoked permission, stored on the
    row); refresh failing (``said``: ``TokenManager.states()`` in this process, only a running
    service knows); past its expiry and not renewed (only when ``now`` is given: a stopped
    service, or one that has not yet tried); else connected."""
    if not oa_id:
        return "no_oa"
    if token is None:
        return "not_connected"
    if token.broken_reason:
        return "reconsent"
    if said.startswith("refresh failing"):
        return "failing"
    if now is not None and as_utc(token.expires_at) <= now:
        return "expired"
    return "connected"


class CallbackRefused(ValueError):
    """The OAuth callback cannot be used: ``kind`` is ``expired`` (unknown, used or older than
    ``STATE_TTL``), ``wrong_oa`` (consent given for another OA) or ``no_oa``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def pkce_pair() -> tuple[str, str]:
    """verifier = base64url(32 random bytes), challenge = base64url(sha256(verifier)), no padding."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


@dataclass
class _Cached:
    token: str
    expires_at: datetime
    version: int


@dataclass
class _Trouble:
    """Refreshes of one OA that failed in a row (not for a dead refresh token)."""

    failures: int
    retry_at: float  # time.monotonic()
    reason: str


async def release_held(s: AsyncSession, oa_id: str) -> int:
    """Messages and broadcasts of ``oa_id``'s communes held for want of a token go now."""
    communes = select(Commune.id).where(Commune.oa_id == oa_id).scalar_subquery()
    now = utcnow()
    result = await s.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.commune_id.in_(communes),
            OutboundMessage.status == "pending",
            OutboundMessage.error_code == NO_TOKEN_CODE,
        )
        .values(next_attempt_at=now)
    )
    await s.execute(
        update(NoticeBroadcast)
        .where(
            NoticeBroadcast.commune_id.in_(communes),
            NoticeBroadcast.status == "pending",
            NoticeBroadcast.error_reason.like(NO_TOKEN_CODE + ":%"),
        )
        .values(next_attempt_at=now)
    )
    return rowcount(result)


async def mark_broken(s: AsyncSession, oa_id: str, reason: str) -> bool:
    """The OA needs an admin to reconnect it (``bot zalo connect``): no more refreshes, its sends
    wait. Used for a dead refresh token and for Zalo's ``permission_revoked`` event."""
    result = await s.execute(
        update(ZaloToken).where(ZaloToken.oa_id == oa_id).values(broken_reason=reason[:1000])
    )
    return bool(rowcount(result))


class TokenManager:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker,
        box: SecretBox,
        coord: Coordinator,
        http: aiohttp.ClientSession,
    ) -> None:
        self.settings = settings
        self.sm = sessionmaker
        self.box = box
        self.coord = coord
        self.http = http
        self._cache: dict[str, _Cached] = {}
        self._trouble: dict[str, _Trouble] = {}
        self.refresh_count = 0

    # -- seeding and reading --------------------------------------------------------------
    def app_for_oa(self, oa_id: str) -> str:
        for commune in self.settings.communes:
            if commune.zalo and commune.zalo.oa_id == oa_id:
                return commune.zalo.app_id
        raise KeyError(f"OA {oa_id} is not configured for any commune")

    async def store(
        self,
        oa_id: str,
        access_token: str,
        refresh_token: str,
        expires_in: int | str,
        app_id: str | None = None,
    ) -> None:
        app_id = app_id or self.app_for_oa(oa_id)
        expires_at = utcnow() + timedelta(seconds=int(expires_in))
        async with self.sm() as s, s.begin():
            row = await s.get(ZaloToken, oa_id, with_for_update=True)
            if row is None:
                row = ZaloToken(oa_id=oa_id, app_id=app_id, version=0)
                s.add(row)
            row.app_id = app_id
            row.access_token_enc = self.box.seal(access_token)
            row.refresh_token_enc = self.box.seal(refresh_token)
            row.expires_at = expires_at
            row.refreshed_at = utcnow()
            row.version = (row.version or 0) + 1
            row.broken_reason = None
            version = row.version
            held = await release_held(s, oa_id)
        self._cache[oa_id] = _Cached(access_token, expires_at, version)
        self._trouble.pop(oa_id, None)
        await self._released(oa_id, held)

    async def _released(self, oa_id: str, held: int) -> None:
        if held:
            log.info("OA %s has a usable token again: %d held messages released", oa_id, held)
            await self.coord.publish(OUTBOUND_TOPIC)

    async def _load(self, oa_id: str) -> _Cached | None:
        async with self.sm() as s:
            row = await s.get(ZaloToken, oa_id)
            if row is None or row.broken_reason:
                return None
            cached = _Cached(self.box.open(row.access_token_enc), row.expires_at, row.version)
        self._cache[oa_id] = cached
        return cached

    def _fresh(self, cached: _Cached | None) -> bool:
        margin = timedelta(seconds=self.settings.zalo.refresh_margin_s)
        return cached is not None and cached.expires_at - margin > utcnow()

    async def access_token(self, oa_id: str) -> str:
        cached = self._cache.get(oa_id)
        if self._fresh(cached):
            return cached.token  # type: ignore[union-attr]
        cached = await self._load(oa_id)
        if self._fresh(cached):
            return cached.token  # type: ignore[union-attr]
        return await self.refresh(oa_id)

    # -- refresh --------------------------------------------------------------------------
    async def refresh(self, oa_id: str, stale_token: str | None = None) -> str:
        """Refresh once. ``stale_token`` = the token Zalo just refused (-216/-220).

        After a failed refresh the next attempt waits (backoff per OA); until then the stored
        access token is served while it has not expired, else the caller is told to wait
        (``THROTTLED``)."""
        trouble = self._trouble.get(oa_id)
        if trouble is not None and time.monotonic() < trouble.retry_at:
            current = await self._still_valid(oa_id, stale_token)
            if current is not None:
                return current
            raise self._waiting(oa_id, trouble)
        try:
            async with self._refresh_lock(oa_id):
                return await self._refresh_locked(oa_id, stale_token)
        except LockTimeout as exc:
            raise ZaloError(
                0, f"token lock unavailable ({exc})", Outcome.THROTTLED, retry_after=5.0
            ) from None

    @contextlib.asynccontextmanager
    async def _refresh_lock(self, oa_id: str) -> AsyncIterator[None]:
        """The coordinator's lock, and on PostgreSQL an advisory lock as well: the refresh
        token is single-use, and the coordinator's lock reaches every process only while Redis
        answers (when it is down, or goes down mid-refresh, each process falls back to its own
        in-process locks). A refresh happens about once a day per OA: the extra lock is cheap."""
        async with (
            self.coord.lock(f"zalo:token:{oa_id}", ttl=60, timeout=30),
            advisory_lock(self.sm, f"zalo:token:{oa_id}", timeout_s=30),
        ):
            yield

    def _waiting(self, oa_id: str, trouble: _Trouble) -> ZaloError:
        wait = max(1.0, trouble.retry_at - time.monotonic())
        return ZaloError(
            0,
            f"token refresh for OA {oa_id} is failing ({trouble.reason}); next try in {wait:.0f} s",
            Outcome.THROTTLED,
            retry_after=wait,
        )

    async def _still_valid(self, oa_id: str, stale_token: str | None) -> str | None:
        """The stored access token if Zalo has not refused it and it has not expired."""
        cached = self._cache.get(oa_id)
        if cached is None or cached.token == stale_token:  # another process may have rotated it
            cached = await self._load(oa_id)
        if cached is None or cached.token == stale_token or cached.expires_at <= utcnow():
            return None
        return cached.token

    def _failed_refresh(self, oa_id: str, reason: str) -> _Trouble:
        before = self._trouble.get(oa_id)
        failures = (before.failures if before else 0) + 1
        first, longest = REFRESH_BACKOFF_S
        wait = min(longest, first * 2 ** (failures - 1)) * (0.8 + 0.4 * random.random())
        trouble = self._trouble[oa_id] = _Trouble(failures, time.monotonic() + wait, reason)
        log.warning(
            "zalo token refresh for OA %s failed (%s); the token is kept, next try in "
            "%.0f s (failure %d in a row)",
            oa_id,
            reason,
            wait,
            failures,
        )
        return trouble

    async def _refresh_locked(self, oa_id: str, stale_token: str | None) -> str:
        """Runs while holding the OA's token lock. The OAuth call is made outside any database
        transaction, so on SQLite the one connection stays free for webhooks meanwhile."""
        async with self.sm() as s:
            row = await s.get(ZaloToken, oa_id)
            if row is None:
                raise TokenUnavailable(oa_id, "no tokens stored; run `bot zalo connect`")
            if row.broken_reason:
                raise TokenUnavailable(oa_id, row.broken_reason)
            current = _Cached(self.box.open(row.access_token_enc), row.expires_at, row.version)
            app_id, refresh_token = row.app_id, self.box.open(row.refresh_token_enc)
        rotated_elsewhere = stale_token is not None and current.token != stale_token
        if rotated_elsewhere or (stale_token is None and self._fresh(current)):
            self._cache[oa_id] = current
            self._trouble.pop(oa_id, None)
            return current.token
        try:
            answer = await self._token_request(
                app_id,
                {"refresh_token": refresh_token, "app_id": app_id, "grant_type": "refresh_token"},
            )
        except ZaloError as exc:
            if isinstance(exc, TransportError) or not refresh_token_dead(exc.code, exc.reason):
                # a blip, a rate limit, an outage: the refresh token is still good — keep it
                trouble = self._failed_refresh(oa_id, exc.reason)
                await self.coord.publish(TOKENS_TOPIC)  # the refresher plans the next try
                if stale_token is None and current.expires_at > utcnow():
                    self._cache[oa_id] = current  # still valid: serve it meanwhile
                    return current.token
                raise self._waiting(oa_id, trouble) from None
            log.error(
                "zalo token refresh for OA %s: the refresh token is dead (%s); the OA "
                "needs re-consent",
                oa_id,
                exc.reason,
            )
            self._cache.pop(oa_id, None)
            self._trouble.pop(oa_id, None)
            async with self.sm() as s, s.begin():
                await mark_broken(
                    s,
                    oa_id,
                    f"refresh token refused: {exc.reason}; re-run `bot zalo connect --oa {oa_id}`",
                )
            raise TokenUnavailable(oa_id, exc.reason) from None
        async with self.sm() as s, s.begin():
            row = await s.get(ZaloToken, oa_id, with_for_update=True)
            row.access_token_enc = self.box.seal(answer["access_token"])
            row.refresh_token_enc = self.box.seal(answer["refresh_token"])
            row.expires_at = utcnow() + timedelta(seconds=int(answer.get("expires_in") or 90000))
            row.refreshed_at = utcnow()
            row.version += 1
            cached = _Cached(answer["access_token"], row.expires_at, row.version)
            held = await release_held(s, oa_id)
        self.refresh_count += 1
        self._cache[oa_id] = cached
        if self._trouble.pop(oa_id, None) is not None:
            log.warning("zalo token refresh for OA %s works again", oa_id)
        log.info("zalo token refreshed for OA %s (version %s)", oa_id, cached.version)
        await self._released(oa_id, held)
        return cached.token

    def retry_in(self) -> float | None:
        """Seconds until the soonest retry of a failed refresh (None: nothing failing)."""
        if not self._trouble:
            return None
        return max(0.0, min(t.retry_at for t in self._trouble.values()) - time.monotonic())

    async def states(self) -> dict[str, str]:
        """OA id → ``ok`` | ``refresh failing, retrying: …`` | ``needs re-consent: …`` (for
        ``/healthz`` and the logs)."""
        async with self.sm() as s:
            rows = (await s.execute(select(ZaloToken.oa_id, ZaloToken.broken_reason))).all()
        out = {}
        for oa_id, broken in rows:
            trouble = self._trouble.get(oa_id)
            out[oa_id] = (
                f"needs re-consent: {broken}"
                if broken
                else f"refresh failing, retrying: {trouble.reason}"
                if trouble
                else "ok"
            )
        return out

    async def refresh_due(self) -> list[str]:
        """Refresh every token that expires within the margin; returns the OAs refreshed."""
        margin = timedelta(seconds=self.settings.zalo.refresh_margin_s)
        async with self.sm() as s:
            rows = (
                (
                    await s.execute(
                        select(ZaloToken.oa_id).where(
                            ZaloToken.expires_at < utcnow() + margin,
                            ZaloToken.broken_reason.is_(None),
                        )
                    )
                )
                .scalars()
                .all()
            )
        done = []
        for oa_id in rows:
            try:
                await self.refresh(oa_id)
                if oa_id not in self._trouble:  # else the still-valid token was kept
                    done.append(oa_id)
            except ZaloError as exc:
                log.warning("token refresh for OA %s failed: %s", oa_id, exc.reason)
            except Exception:  # noqa: BLE001 - one OA's problem must not stop the others
                log.exception("token refresh for OA %s failed", oa_id)
        return done

    # -- authorisation code flow ----------------------------------------------------------
    def redirect_uri(self) -> str:
        return f"{self.settings.public_url}/zalo/oauth/callback"

    async def authorization_url(self, oa_id: str, return_to: str | None = None) -> str:
        """The link an OA admin opens; ``return_to`` (a console path) is where the callback
        sends them back with the outcome."""
        app_id = self.app_for_oa(oa_id)
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        async with self.sm() as s, s.begin():
            s.add(
                OAuthState(
                    state=state,
                    oa_id=oa_id,
                    app_id=app_id,
                    code_verifier_enc=self.box.seal(verifier),
                    return_to=return_to,
                )
            )
        url = BaseClient(app_id=app_id).request_authoriation_code_url(
            self.redirect_uri(), code_challenge=challenge, state=state
        )
        # zalo-sdk hard-codes the OAuth host; BOT_ZALO_OAUTH_BASE may point elsewhere.
        return url.replace(
            "https://oauth.zaloapp.com", self.settings.zalo.oauth_base.rstrip("/"), 1
        )

    async def return_to(self, state: str) -> str | None:
        """The console page the link of ``state`` was made from (not spent by reading)."""
        async with self.sm() as s:
            row = await s.get(OAuthState, state[:64])
            path = row.return_to if row is not None else None
        return path if path and path.startswith("/console/") else None

    async def exchange_code(self, code: str, state: str, oa_id: str | None) -> str:
        """Store the tokens of the callback's ``code`` for the OA its link was made for.

        The state is spent (committed) before anything is checked, so a refused callback
        cannot be tried again with its query edited. The ``oa_id`` of the query is only a
        hint: which OA consented is asked of Zalo with the new token (``GET /v2.0/oa/getoa``,
        as Chatwoot does) and must be the link's."""
        async with self.sm() as s, s.begin():
            row = await s.get(OAuthState, state[:64], with_for_update=True)
            if row is None or row.used_at is not None:
                raise CallbackRefused("expired", "unknown or used OAuth state")
            row.used_at = utcnow()  # single use, whatever comes next
            fresh = row.created_at + STATE_TTL >= utcnow()
            expected, app_id = row.oa_id, row.app_id
            verifier = self.box.open(row.code_verifier_enc)
        if not fresh:
            raise CallbackRefused("expired", "expired OAuth state")
        if not expected:
            raise CallbackRefused("no_oa", "the link was made for no OA")
        if oa_id and oa_id != expected:
            raise CallbackRefused(
                "wrong_oa", f"callback for OA {oa_id}, but the link was made for {expected}"
            )
        answer = await self._token_request(
            app_id,
            {
                "code": code,
                "app_id": app_id,
                "grant_type": "authorization_code",
                "code_verifier": verifier,
            },
        )
        consented = await self._oa_of(answer["access_token"])
        if consented != expected:
            raise CallbackRefused(
                "wrong_oa", f"Zalo says the token is OA {consented}'s, the link was {expected}'s"
            )
        await self.store(
            expected,
            answer["access_token"],
            answer["refresh_token"],
            answer.get("expires_in") or 90000,
            app_id=app_id,
        )
        return expected

    async def _oa_of(self, access_token: str) -> str:
        """The OA an access token belongs to, as Zalo says (``GET /v2.0/oa/getoa``)."""
        url = f"{self.settings.zalo.api_base.rstrip('/')}/v2.0/oa/getoa"
        try:
            async with self.http.get(
                url,
                headers={"access_token": access_token},
                timeout=aiohttp.ClientTimeout(total=self.settings.zalo.request_timeout_s),
            ) as resp:
                status = resp.status
                raw = await read_capped(resp.content, MAX_ANSWER)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        if status >= 500 or status == 429 or raw is None:
            raise TransportError(f"getoa: HTTP {status}" if raw is not None else "getoa: too long")
        try:
            body = loads(raw, max_bytes=MAX_ANSWER)
        except JsonError:
            raise TransportError("getoa answer was not JSON") from None
        data = body.get("data") if isinstance(body, dict) else None
        found = data.get("oa_id") if isinstance(data, dict) else None
        if isinstance(found, int) and not isinstance(found, bool):
            found = str(found)
        if not isinstance(found, str) or not found:
            code = body.get("error") if isinstance(body, dict) else None
            raise ZaloError(code if isinstance(code, int) else -1, "getoa: no oa_id", outcome=None)
        return found

    async def _token_request(self, app_id: str, form: dict[str, str]) -> dict[str, Any]:
        app = self.settings.app(app_id)
        if app is None:
            raise ZaloError(-14002, f"app {app_id} is not configured under zalo.apps")
        url = f"{self.settings.zalo.oauth_base.rstrip('/')}/v4/oa/access_token"
        try:
            async with self.http.post(
                url,
                data=form,
                headers={"secret_key": app.app_secret},
                timeout=aiohttp.ClientTimeout(total=self.settings.zalo.request_timeout_s),
            ) as resp:
                if resp.status >= 500 or resp.status == 429:
                    raise TransportError(f"HTTP {resp.status} from OAuth")
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        except ValueError:  # HTML error page, truncated answer: not an answer about the token
            raise TransportError("OAuth answer was not JSON") from None
        if not isinstance(body, dict):
            raise TransportError("OAuth answer was not a JSON object")
        # accept both the current top-level shape and the older {"data": {...}} one
        nested = body.get("data")
        data: dict[str, Any] = nested if isinstance(nested, dict) else body
        if "access_token" not in data or "refresh_token" not in data:
            try:
                code = int(body.get("error") or -1)
            except (TypeError, ValueError):
                code = -1
            words = [
                str(body[k])
                for k in ("error_name", "error_reason", "message", "error_description")
                if body.get(k)
            ]
            raise ZaloError(
                code, "; ".join(dict.fromkeys(words)) or "no token in answer", outcome=None
            )
        return data


class TokenRefresher(Worker):
    """Refreshes every token that is close to expiry (run with a 10-minute poll, sooner when a
    failed refresh is due for another try)."""

    topic = TOKENS_TOPIC
    batch = 1_000_000  # never "more to do right now": one pass, then wait

    def __init__(self, tokens: TokenManager) -> None:
        super().__init__(tokens.coord)
        self.tokens = tokens

    async def run_once(self) -> int:
        return len(await self.tokens.refresh_due())

    def wait_s(self, poll_s: float) -> float:
        retry = self.tokens.retry_in()
        return poll_s if retry is None else min(poll_s, retry + 0.1)
