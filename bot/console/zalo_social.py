"""Zalo's social login as a client: the consent link, the code exchange, who signed in.

OAuth v4 without ``/oa/`` (zalo-oa-api.md §2; docs/console-zalo.md): the person opens
``<oauth>/v4/permission?app_id&redirect_uri&code_challenge&state``, Zalo comes back with
``code`` and ``state``; ``POST <oauth>/v4/access_token`` (form ``code``, ``app_id``,
``grant_type=authorization_code``, ``code_verifier``; the secret in header ``secret_key``) gives a
user access token; ``GET <graph>/v2.0/me?fields=id,name`` (header ``access_token``) says who it
is. Sources disagree on details, so what we send is the better attested form (the header for the
secret and the token, PKCE without ``code_challenge_method``) and what we read accepts both: the
answer at the top level or under ``data``, ``expires_in`` a string or a number, an ``error`` of
0 or none. The ``id`` is scoped to the login app: it is not an OA's follower id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.bodies import read_capped
from bot.config import Settings
from bot.safejson import JsonError, loads

MAX_ANSWER = 64 * 1024
CALLBACK_PATH = "/console/login/zalo/callback"


class SocialError(Exception):
    """Zalo did not say who signed in: ``refused`` (an answer saying no: a bad or used code,
    a token it does not know) or ``unavailable`` (no answer, a broken one, HTTP 5xx)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class Profile:
    id: str
    name: str


class ZaloSocial:
    """One configured login app (``zalo.login``) over the service's HTTP client."""

    def __init__(self, settings: Settings, http: aiohttp.ClientSession) -> None:
        login = settings.zalo.login
        if login is None:
            raise ValueError("zalo.login is not configured")
        self.app_id, self.app_secret = login.app_id, login.app_secret
        self.redirect_uri = login.redirect_uri or settings.public_url + CALLBACK_PATH
        self.oauth_base = settings.zalo.oauth_base.rstrip("/")
        self.graph_base = settings.zalo.graph_base.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=settings.zalo.request_timeout_s)
        self.http = http

    def authorize_url(self, state: str, challenge: str) -> str:
        query = urlencode(
            {
                "app_id": self.app_id,
                "redirect_uri": self.redirect_uri,
                "code_challenge": challenge,
                "state": state,
            }
        )
        return f"{self.oauth_base}/v4/permission?{query}"

    async def exchange(self, code: str, verifier: str) -> str:
        """The user access token for ``code``."""
        body = await self._call(
            "POST",
            f"{self.oauth_base}/v4/access_token",
            data={
                "code": code,
                "app_id": self.app_id,
                "grant_type": "authorization_code",
                "code_verifier": verifier,
            },
            headers={"secret_key": self.app_secret},
        )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SocialError("refused", _why(body) or "no access_token in the answer")
        return token

    async def profile(self, access_token: str) -> Profile:
        body = await self._call(
            "GET",
            f"{self.graph_base}/v2.0/me",
            params={"fields": "id,name"},
            headers={"access_token": access_token},
        )
        raw_id = body.get("id")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            raw_id = str(raw_id)  # ids are strings; a lenient reader takes a number too
        if not isinstance(raw_id, str) or not raw_id.strip() or len(raw_id) > 64:
            raise SocialError("refused", _why(body) or "no id in the answer")
        name = body.get("name")
        return Profile(raw_id.strip(), name.strip()[:200] if isinstance(name, str) else "")

    async def _call(self, method: str, url: str, **kw: Any) -> dict[str, Any]:
        try:
            async with self.http.request(method, url, timeout=self.timeout, **kw) as resp:
                status = resp.status
                raw = await read_capped(resp.content, MAX_ANSWER)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SocialError("unavailable", f"{type(exc).__name__}: {exc}") from None
        if status >= 500 or status == 429:
            raise SocialError("unavailable", f"HTTP {status}")
        if raw is None:
            raise SocialError("unavailable", f"the answer is longer than {MAX_ANSWER} bytes")
        try:
            body = loads(raw, max_bytes=MAX_ANSWER)
        except JsonError as exc:
            raise SocialError("unavailable", str(exc)) from None
        if not isinstance(body, dict):
            raise SocialError("unavailable", "the answer is not a JSON object")
        if _error(body):
            raise SocialError("refused", _why(body) or f"error {body.get('error')}")
        nested = body.get("data")
        return nested if isinstance(nested, dict) else body


def _error(body: dict[str, Any]) -> bool:
    code = body.get("error")
    if code in (None, 0, "0", ""):
        return False
    return True


def _why(body: dict[str, Any]) -> str:
    words = [
        str(body[k])
        for k in ("error", "error_name", "error_reason", "message", "error_description")
        if body.get(k) not in (None, "")
    ]
    return "; ".join(dict.fromkeys(words))
