"""OAuth v4 for OA (zalo-oa-api.md §2).

* ``GET /v4/oa/permission?app_id&redirect_uri&code_challenge&state[&oa_id]`` — the simulator skips
  the consent screen: it issues a code at once and answers 302 to
  ``redirect_uri?code=<code>&oa_id=<oa>&state=<state>``.
* ``POST /v4/oa/access_token`` (form-encoded, header ``secret_key``): grants
  ``authorization_code`` (code single-use, 10 min, PKCE ``base64url-no-pad(sha256(verifier))``
  checked when a challenge was given) and ``refresh_token`` (single-use, rotated). Success is
  top-level ``{"access_token", "refresh_token", "expires_in": "90000"}`` (string).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiohttp import web
from yarl import URL

from .errors import (
    OAUTH_INVALID_APP,
    OAUTH_INVALID_CODE,
    OAUTH_INVALID_PARAM,
    OAUTH_INVALID_REDIRECT,
    OAUTH_INVALID_REFRESH,
    OAUTH_INVALID_SECRET,
    OAUTH_INVALID_VERIFIER,
)
from .replies import oauth_fail, state_of
from .state import ACCESS_TOKEN_TTL_S


def pkce_challenge(verifier: str) -> str:
    """``code_challenge`` for a ``code_verifier``: base64url-no-pad(SHA-256(verifier)) (§2)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def permission(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    q = request.query
    app = state.apps.get(q.get("app_id", ""))
    if app is None:
        return oauth_fail(request, OAUTH_INVALID_APP, "app_id is invalid")
    redirect_uri = q.get("redirect_uri", "")
    if not redirect_uri or (app.callback_url and redirect_uri != app.callback_url):
        return oauth_fail(request, OAUTH_INVALID_REDIRECT, "redirect_uri is invalid")
    oa_id = q.get("oa_id") or next(
        (oa.oa_id for oa in state.oas.values() if oa.app_id == app.app_id), None
    )
    if oa_id is None or oa_id not in state.oas or state.oas[oa_id].app_id != app.app_id:
        return oauth_fail(request, OAUTH_INVALID_PARAM, "no OA linked to this app")
    code = state.issue_code(oa_id, app.app_id, q.get("code_challenge"))
    params = {"code": code, "oa_id": oa_id}
    if "state" in q:
        params["state"] = q["state"]
    raise web.HTTPFound(str(URL(redirect_uri).update_query(params)))


async def access_token(request: web.Request) -> web.Response:
    state = state_of(request)
    form = await request.post()
    app = state.apps.get(str(form.get("app_id", "")))
    if app is None:
        return oauth_fail(request, OAUTH_INVALID_APP, "app_id is invalid")
    secret = request.headers.get("secret_key", "")
    if not hmac.compare_digest(secret.encode(), app.app_secret.encode()):
        return oauth_fail(request, OAUTH_INVALID_SECRET, "secret_key is invalid")
    now = state.now_ms()
    grant = form.get("grant_type")
    if grant == "authorization_code":
        code = state.auth_codes.get(str(form.get("code", "")))
        if code is None or code.used or code.expires_at_ms < now or code.app_id != app.app_id:
            return oauth_fail(request, OAUTH_INVALID_CODE, "code is invalid or expired")
        if code.code_challenge is not None:
            verifier = str(form.get("code_verifier", ""))
            if not verifier or not hmac.compare_digest(
                pkce_challenge(verifier), code.code_challenge
            ):
                return oauth_fail(request, OAUTH_INVALID_VERIFIER, "code_verifier is invalid")
        code.used = True
        oa_id = code.oa_id
    elif grant == "refresh_token":
        refresh = state.refresh_tokens.get(str(form.get("refresh_token", "")))
        if (
            refresh is None
            or refresh.used
            or refresh.expires_at_ms < now
            or state.oas[refresh.oa_id].app_id != app.app_id
        ):
            return oauth_fail(request, OAUTH_INVALID_REFRESH, "refresh_token is invalid")
        refresh.used = True
        oa_id = refresh.oa_id
    else:
        return oauth_fail(request, OAUTH_INVALID_PARAM, "grant_type is invalid")
    access, new_refresh = state.mint_tokens(oa_id)
    state.counters.errors[0] += 1
    return web.json_response(
        {
            "access_token": access,
            "refresh_token": new_refresh,
            "expires_in": str(ACCESS_TOKEN_TTL_S),
        }
    )
