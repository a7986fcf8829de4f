"""OAuth v4 for Official Accounts and the token store (zalo-oa-api.md §2).

* ``authorization_url`` → PKCE pair (verifier kept encrypted in ``oauth_states``), the URL the OA
  admin opens; ``exchange_code`` is what the callback calls.
* Tokens are encrypted at rest, cached in memory, refreshed ``refresh_margin_s`` before expiry.
* The refresh token is single-use and rotates: a refresh runs under a coordinator lock (Redis
  across processes) and re-reads the row first, so two processes never both spend it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from zalo_sdk import BaseClient

from bot.channels.zalo.errors import Outcome, TokenUnavailable, TransportError, ZaloError
from bot.config import Settings
from bot.coord import Coordinator, LockTimeout
from bot.crypto import SecretBox
from bot.loops import Worker
from bot.store.models import OAuthState, ZaloToken
from bot.timeutil import utcnow

log = logging.getLogger(__name__)
STATE_TTL = timedelta(minutes=15)


def pkce_pair() -> tuple[str, str]:
    """verifier = base64url(32 random bytes), challenge = base64url(sha256(verifier)), no padding."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class _Cached:
    token: str
    expires_at: datetime
    version: int


class TokenManager:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker, box: SecretBox,
                 coord: Coordinator, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.sm = sessionmaker
        self.box = box
        self.coord = coord
        self.http = http
        self._cache: dict[str, _Cached] = {}
        self.refresh_count = 0

    # -- seeding and reading --------------------------------------------------------------
    def app_for_oa(self, oa_id: str) -> str:
        for commune in self.settings.communes:
            if commune.zalo and commune.zalo.oa_id == oa_id:
                return commune.zalo.app_id
        raise KeyError(f"OA {oa_id} is not configured for any commune")

    async def store(self, oa_id: str, access_token: str, refresh_token: str,
                    expires_in: int | str, app_id: str | None = None) -> None:
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
        self._cache[oa_id] = _Cached(access_token, expires_at, version)

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
        """Refresh once. ``stale_token`` = the token Zalo just refused (-216/-220)."""
        try:
            async with self.coord.lock(f"zalo:token:{oa_id}", ttl=60, timeout=30):
                return await self._refresh_locked(oa_id, stale_token)
        except LockTimeout as exc:
            raise ZaloError(0, f"token lock unavailable ({exc})", Outcome.THROTTLED,
                            retry_after=5.0) from None

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
            return current.token
        try:
            answer = await self._token_request(app_id, {
                "refresh_token": refresh_token, "app_id": app_id,
                "grant_type": "refresh_token"})
        except TransportError:
            raise
        except ZaloError as exc:
            # a dead refresh token has no distinct code: treat as terminal (§2)
            log.error("zalo token refresh failed for OA %s: %s", oa_id, exc.reason)
            self._cache.pop(oa_id, None)
            async with self.sm() as s, s.begin():
                row = await s.get(ZaloToken, oa_id)
                if row is not None:
                    row.broken_reason = (f"refresh failed: {exc.reason}; "
                                         "re-run `bot zalo connect`")
            raise TokenUnavailable(oa_id, exc.reason) from None
        async with self.sm() as s, s.begin():
            row = await s.get(ZaloToken, oa_id, with_for_update=True)
            row.access_token_enc = self.box.seal(answer["access_token"])
            row.refresh_token_enc = self.box.seal(answer["refresh_token"])
            row.expires_at = utcnow() + timedelta(seconds=int(answer.get("expires_in") or 90000))
            row.refreshed_at = utcnow()
            row.version += 1
            cached = _Cached(answer["access_token"], row.expires_at, row.version)
        self.refresh_count += 1
        self._cache[oa_id] = cached
        log.info("zalo token refreshed for OA %s (version %s)", oa_id, cached.version)
        return cached.token

    async def refresh_due(self) -> list[str]:
        """Refresh every token that expires within the margin; returns the OAs refreshed."""
        margin = timedelta(seconds=self.settings.zalo.refresh_margin_s)
        async with self.sm() as s:
            rows = (await s.execute(select(ZaloToken.oa_id).where(
                ZaloToken.expires_at < utcnow() + margin,
                ZaloToken.broken_reason.is_(None)))).scalars().all()
        done = []
        for oa_id in rows:
            try:
                await self.refresh(oa_id)
                done.append(oa_id)
            except ZaloError as exc:
                log.warning("token refresh for OA %s failed: %s", oa_id, exc.reason)
            except Exception:  # noqa: BLE001 - one OA's problem must not stop the others
                log.exception("token refresh for OA %s failed", oa_id)
        return done

    # -- authorisation code flow ----------------------------------------------------------
    def redirect_uri(self) -> str:
        return f"{self.settings.public_url}/zalo/oauth/callback"

    async def authorization_url(self, oa_id: str) -> str:
        app_id = self.app_for_oa(oa_id)
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        async with self.sm() as s, s.begin():
            s.add(OAuthState(state=state, oa_id=oa_id, app_id=app_id,
                             code_verifier_enc=self.box.seal(verifier)))
        url = BaseClient(app_id=app_id).request_authoriation_code_url(
            self.redirect_uri(), code_challenge=challenge, state=state)
        # zalo-sdk hard-codes the OAuth host; BOT_ZALO_OAUTH_BASE may point elsewhere.
        return url.replace("https://oauth.zaloapp.com", self.settings.zalo.oauth_base.rstrip("/"), 1)

    async def exchange_code(self, code: str, state: str, oa_id: str | None) -> str:
        async with self.sm() as s, s.begin():
            row = await s.get(OAuthState, state, with_for_update=True)
            if row is None or row.used_at is not None or row.created_at + STATE_TTL < utcnow():
                raise ValueError("unknown, used or expired OAuth state")
            if oa_id and row.oa_id and oa_id != row.oa_id:
                raise ValueError(f"callback for OA {oa_id}, but the link was made for {row.oa_id}")
            row.used_at = utcnow()
            target_oa = oa_id or row.oa_id
            app_id = row.app_id
            verifier = self.box.open(row.code_verifier_enc)
        if not target_oa:
            raise ValueError("the callback did not say which OA was authorised")
        answer = await self._token_request(app_id, {
            "code": code, "app_id": app_id, "grant_type": "authorization_code",
            "code_verifier": verifier})
        await self.store(target_oa, answer["access_token"], answer["refresh_token"],
                         answer.get("expires_in") or 90000, app_id=app_id)
        return target_oa

    async def _token_request(self, app_id: str, form: dict[str, str]) -> dict[str, Any]:
        app = self.settings.app(app_id)
        if app is None:
            raise ZaloError(-14002, f"app {app_id} is not configured under zalo.apps")
        url = f"{self.settings.zalo.oauth_base.rstrip('/')}/v4/oa/access_token"
        try:
            async with self.http.post(url, data=form, headers={"secret_key": app.app_secret},
                                      timeout=aiohttp.ClientTimeout(
                                          total=self.settings.zalo.request_timeout_s)) as resp:
                if resp.status >= 500:
                    raise TransportError(f"HTTP {resp.status} from OAuth")
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        # accept both the current top-level shape and the older {"data": {...}} one
        data = body.get("data") if isinstance(body.get("data"), dict) else body
        if "access_token" not in data or "refresh_token" not in data:
            code = int(body.get("error") or -1)
            raise ZaloError(code, str(body.get("error_name") or body.get("message")
                                      or body.get("error_reason") or "no token in answer"),
                            outcome=None)
        return data


class TokenRefresher(Worker):
    """Refreshes every token that is close to expiry (run with a 10-minute poll)."""

    topic = "tokens"
    batch = 1_000_000  # never "more to do right now": one pass, then wait

    def __init__(self, tokens: TokenManager) -> None:
        super().__init__(tokens.coord)
        self.tokens = tokens

    async def run_once(self) -> int:
        return len(await self.tokens.refresh_due())
