"""Social login: "Đăng nhập bằng Zalo" for a website (zalo-oa-api.md §2, "Social-login variant").

The same OAuth v4 shape as the OA's, without ``/oa/``:

* ``GET /v4/permission?app_id&redirect_uri&code_challenge&state`` — Zalo's consent page. Here it
  lists the simulated Zalo accounts (``SimState.add_social_user``, ``"social_users"`` in
  ``/_sim/setup``); choosing one POSTs back to ``/v4/permission``, which answers 302 to
  ``redirect_uri?code=<code>&state=<state>``. "Từ chối" goes back with ``error=access_denied``
  and no code [INF].
* A signed-out person (setting ``social_signin_host``, e.g. ``localhost``) is first sent 302 to
  ``GET /account/login?continue=<consent URL>`` on that host — another origin, as
  oauth.zaloapp.com sends people to id.zalo.me — whose "Đăng nhập" button goes back to the
  consent page, now signed in (``signed_in=1``). A browser test covers the second hop.
* ``POST /v4/access_token`` (form: ``code``, ``app_id``, ``grant_type=authorization_code``,
  ``code_verifier``; the app secret in header ``secret_key`` — or, as older integrations send
  it, form field ``app_secret``): PKCE checked when a challenge was given; the code is
  single-use, 10 min, for the app and ``redirect_uri`` it was issued to. ``grant_type=
  refresh_token`` rotates. Answers top level ``{"access_token", "refresh_token",
  "expires_in": "3600"}`` (a string, as the OA endpoint's).
* ``GET /v2.0/me?fields=id,name,picture`` (the graph host; the token in header
  ``access_token`` or, older, query ``access_token``) → ``{"id", "name", "picture": {"data":
  {"url"}}}`` with the fields asked for. ``id`` is the app-scoped id, never an OA follower id.
"""

from __future__ import annotations

import hmac
from html import escape

from aiohttp import web
from yarl import URL

from . import ids
from .errors import (
    OAUTH_INVALID_APP,
    OAUTH_INVALID_CODE,
    OAUTH_INVALID_PARAM,
    OAUTH_INVALID_REDIRECT,
    OAUTH_INVALID_REFRESH,
    OAUTH_INVALID_SECRET,
    OAUTH_INVALID_VERIFIER,
)
from .oauth import pkce_challenge
from .replies import fail, oauth_fail, state_of
from .state import SOCIAL_TOKEN_TTL_S, SocialToken

ME_PATH = "/v2.0/me"
#: request fields carried from the consent page to its form
FLOW = ("app_id", "redirect_uri", "code_challenge", "state")


def _redirect_ok(request: web.Request, app_id: str, redirect_uri: str) -> web.Response | None:
    state = state_of(request)
    app = state.apps.get(app_id)
    if app is None:
        return oauth_fail(request, OAUTH_INVALID_APP, "app_id is invalid")
    if not redirect_uri.startswith(("http://", "https://")):
        return oauth_fail(request, OAUTH_INVALID_REDIRECT, "redirect_uri is invalid")
    return None


async def permission_page(request: web.Request) -> web.StreamResponse:
    """The consent page: one button per simulated account, and a refusal."""
    q = request.query
    refused = _redirect_ok(request, q.get("app_id", ""), q.get("redirect_uri", ""))
    if refused is not None:
        return refused
    host = state_of(request).social_signin_host
    if host and q.get("signed_in") != "1":
        here = request.url
        signin = (
            here.with_host(host).with_path("/account/login").with_query({"continue": str(here)})
        )
        raise web.HTTPFound(str(signin))
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{escape(q[k])}">' for k in FLOW if k in q
    )
    accounts = (
        "".join(
            f'<button type="submit" name="account" value="{escape(u.account)}">'
            f"Đăng nhập là {escape(u.name)}</button>"
            for u in state_of(request).social_users.values()
        )
        or "<p>Chưa có tài khoản Zalo mô phỏng nào.</p>"
    )
    page = (
        "<!doctype html><html lang=vi><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        "<title>Zalo — Cấp quyền</title>"
        "<h1>Zalo (mô phỏng)</h1>"
        f"<p>Ứng dụng <b>{escape(q.get('app_id', ''))}</b> muốn biết tên và ảnh đại diện Zalo "
        "của bạn.</p>"
        f'<form method="post" action="/v4/permission">{hidden}{accounts}'
        '<button type="submit" name="deny" value="1">Từ chối</button></form>'
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def signin_page(request: web.Request) -> web.StreamResponse:
    """Zalo's sign-in page (another origin): "Đăng nhập" returns to the consent page."""
    back = URL(request.query.get("continue", ""))
    if back.path != "/v4/permission" or back.port != request.url.port:
        return oauth_fail(request, OAUTH_INVALID_PARAM, "continue is invalid")
    back = back.update_query(signed_in="1")
    page = (
        "<!doctype html><html lang=vi><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        "<title>Zalo — Đăng nhập</title><h1>Đăng nhập Zalo (mô phỏng)</h1>"
        f'<p><a id="zalo-signin" href="{escape(str(back))}">Đăng nhập</a></p>'
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def permission_consent(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    app_id, redirect_uri = str(form.get("app_id", "")), str(form.get("redirect_uri", ""))
    refused = _redirect_ok(request, app_id, redirect_uri)
    if refused is not None:
        return refused
    params: dict[str, str] = {}
    if form.get("deny"):
        params["error"] = "access_denied"
    else:
        account = str(form.get("account", ""))
        if account not in state_of(request).social_users:
            return oauth_fail(request, OAUTH_INVALID_PARAM, "no such Zalo account")
        params["code"] = state_of(request).issue_social_code(
            account, app_id, redirect_uri, str(form.get("code_challenge", "")) or None
        )
    if form.get("state"):
        params["state"] = str(form["state"])
    raise web.HTTPFound(str(URL(redirect_uri).update_query(params)))


async def access_token(request: web.Request) -> web.Response:
    state = state_of(request)
    form = await request.post()
    app = state.apps.get(str(form.get("app_id", "")))
    if app is None:
        return oauth_fail(request, OAUTH_INVALID_APP, "app_id is invalid")
    secret = request.headers.get("secret_key") or str(form.get("app_secret", ""))
    if not hmac.compare_digest(secret.encode(), app.app_secret.encode()):
        return oauth_fail(request, OAUTH_INVALID_SECRET, "secret_key is invalid")
    now = state.now_ms()
    grant = form.get("grant_type")
    if grant == "authorization_code":
        code = state.social_codes.get(str(form.get("code", "")))
        if code is None or code.used or code.expires_at_ms < now or code.app_id != app.app_id:
            return oauth_fail(request, OAUTH_INVALID_CODE, "code is invalid or expired")
        if code.code_challenge is not None:
            verifier = str(form.get("code_verifier", ""))
            if not verifier or not hmac.compare_digest(
                pkce_challenge(verifier), code.code_challenge
            ):
                return oauth_fail(request, OAUTH_INVALID_VERIFIER, "code_verifier is invalid")
        code.used = True
        account = code.account
    elif grant == "refresh_token":
        held = state.social_refresh.pop(str(form.get("refresh_token", "")), None)
        if held is None or held.app_id != app.app_id or held.expires_at_ms < now:
            return oauth_fail(request, OAUTH_INVALID_REFRESH, "refresh_token is invalid")
        account = held.account
    else:
        return oauth_fail(request, OAUTH_INVALID_PARAM, "grant_type is invalid")
    access = state.mint_social_token(account, app.app_id)
    refresh = ids.token()
    state.social_refresh[refresh] = SocialToken(account, app.app_id, now + 90 * 86_400_000)
    state.counters.errors[0] += 1
    return web.json_response(
        {"access_token": access, "refresh_token": refresh, "expires_in": str(SOCIAL_TOKEN_TTL_S)}
    )


async def me(request: web.Request) -> web.Response:
    state = state_of(request)
    token = request.headers.get("access_token") or request.query.get("access_token", "")
    held = state.social_tokens.get(token)
    if held is None or held.account not in state.social_users:
        return fail(request, -216)
    if held.expires_at_ms <= state.now_ms():
        return fail(request, -220)
    user = state.social_users[held.account]
    wanted = {f.strip() for f in request.query.get("fields", "id,name").split(",")} | {"id"}
    full = {
        "id": user.id_for(held.app_id),
        "name": user.name,
        "picture": {
            "data": {"url": user.picture or f"https://s120-ava-talk.zadn.vn/sim/{user.account}.jpg"}
        },
    }
    state.counters.errors[0] += 1
    return web.json_response({k: v for k, v in full.items() if k in wanted})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v4/permission", permission_page)
    app.router.add_get("/account/login", signin_page)
    app.router.add_post("/v4/permission", permission_consent)
    app.router.add_post("/v4/access_token", access_token)
    app.router.add_get(ME_PATH, me)
