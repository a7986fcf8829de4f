"""The simulator's aiohttp application (zalo-oa-api.md §1, §2, §4, §5, §7, §11).

Hosts are collapsed onto one server: OAuth (``/v4/...``), OA API (``/v2.0/...``, ``/v3.0/...``),
the social API's ``/v2.0/me`` (social.py: not an OA call, it takes a signed-in user's token) and
the ``/_sim/...`` control plane. For every OA API call the middleware, in order:

1. applies injected faults for the path: delay, then HTTP status (returned as-is);
2. authenticates header ``access_token`` (unknown → -216, expired → -220, §2);
3. counts the call for the OA's app in the current sim-clock minute and answers -32 beyond
   ``state.rate_limit`` (§1); responses carry ``X-RateLimit-Limit``/``X-RateLimit-Remain``
   (omitted when the limit is None);
4. answers an injected error code instead of calling the handler, if one is pending.

OAuth paths get faults too (an injected error uses the OAuth error shape).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from . import content, control, messaging, oauth, social, users
from .emitter import WebhookEmitter
from .errors import oauth_name
from .replies import EMITTER, STATE, fail_state
from .state import SimState

OA_API_PREFIXES = ("/v2.0/", "/v3.0/")
OAUTH_PREFIX = "/v4/"
CLIENT_MAX_SIZE = 16 * 1024 * 1024  # above the 5 MB upload limit so -210 can be answered


@web.middleware
async def zalo_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sim/"):
        return await handler(request)
    state = request.app[STATE]
    faults = state.take_faults(request.path)
    if "delay" in faults:
        await asyncio.sleep(float(faults["delay"].value))
    if "status" in faults:
        status = int(faults["status"].value)
        state.counters.http_statuses[status] += 1
        return web.Response(status=status, text=f"simulated HTTP {status}")
    injected = int(faults["error"].value) if "error" in faults else None
    if request.path.startswith(OA_API_PREFIXES) and request.path != social.ME_PATH:
        return await _guarded(request, handler, state, injected)
    if injected is not None and request.path.startswith(OAUTH_PREFIX):
        state.counters.errors[injected] += 1
        return web.json_response(
            {
                "error": injected,
                "error_name": oauth_name(injected),
                "error_reason": "simulated failure",
            }
        )
    return await handler(request)


async def _guarded(
    request: web.Request, handler: Handler, state: SimState, injected: int | None
) -> web.StreamResponse:
    state.counters.total_calls += 1
    limit = state.rate_limit
    remain = limit
    token = request.headers.get("access_token")
    record = state.access_tokens.get(token) if token else None
    if record is None or record.oa_id not in state.oas:
        response: web.StreamResponse = fail_state(state, -216)
    elif record.expires_at_ms <= state.now_ms():
        response = fail_state(state, -220)
    else:
        count = state.count_call(state.oas[record.oa_id].app_id)
        if limit is not None:
            remain = max(0, limit - count)
        if limit is not None and count > limit:
            response = fail_state(state, -32)
        elif injected is not None:
            response = fail_state(state, injected)
        else:
            response = await handler(request)
    if limit is not None:
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remain"] = str(remain)
    return response


def make_app(
    state: SimState | None = None, *, emitter: WebhookEmitter | None = None
) -> web.Application:
    """Build the simulator app around ``state``.

    Without ``emitter`` one is created (default ladder, real time) and closed on app cleanup;
    a caller-supplied emitter is left for the caller to close.
    """
    state = state if state is not None else SimState()
    app = web.Application(middlewares=[zalo_middleware], client_max_size=CLIENT_MAX_SIZE)
    app[STATE] = state
    if emitter is None:
        emitter = WebhookEmitter(state)

        async def _close_emitter(_: web.Application) -> None:
            await emitter.close()

        app.on_cleanup.append(_close_emitter)
    app[EMITTER] = emitter

    r = app.router
    r.add_get("/v4/oa/permission", oauth.permission)
    r.add_post("/v4/oa/access_token", oauth.access_token)
    r.add_post("/v3.0/oa/message/cs", messaging.send_cs)
    r.add_post("/v3.0/oa/message/transaction", messaging.send_transaction)
    r.add_post("/v3.0/oa/message/promotion", messaging.send_promotion)
    r.add_post("/v3.0/oa/message/template", messaging.send_template)
    r.add_post("/v2.0/oa/message", messaging.send_v2)
    social.add_routes(app)  # "Đăng nhập bằng Zalo": /v4/permission, /v4/access_token, /v2.0/me
    r.add_get("/v3.0/oa/user/detail", users.detail)
    r.add_get("/v3.0/oa/user/getlist", users.getlist)
    r.add_get("/v2.0/oa/conversation", users.conversation)
    r.add_post("/v3.0/oa/quota/message", users.quota)
    r.add_post("/v2.0/oa/upload/image", content.upload_image)
    r.add_post("/v2.0/oa/upload/gif", content.upload_gif)
    r.add_post("/v2.0/oa/upload/file", content.upload_file)
    r.add_post("/v2.0/article/create", content.article_create)
    r.add_post("/v2.0/article/verify", content.article_verify)
    r.add_get("/v2.0/oa/getoa", content.getoa)
    control.add_routes(app)
    return app
