"""``/_sim/*`` control plane: drive the simulator from another process (not part of Zalo's API).

Control replies are plain JSON; bad requests get HTTP 400 ``{"error": "<reason>"}``.

* ``POST /_sim/setup`` — :mod:`.provision` spec: register apps/OAs/users, mint tokens.
* ``POST /_sim/faults`` — ``{"path" (or "*"), "error"?, "status"?, "delay"?, "times"?: 1}``
  (``times: null`` = until cleared); ``GET`` lists, ``DELETE`` clears.
* ``GET /_sim/messages?oa_id=&user_id=&path=`` — accepted sends;
  ``GET /_sim/broadcasts``, ``/_sim/uploads``, ``/_sim/articles``, ``/_sim/webhooks`` (deliveries).
* ``GET /_sim/stats`` — counters (``rate_limited`` = number of -32 replies, ``errors`` per code).
* ``POST /_sim/reset`` — ``{"full"?: false}``: clear traffic/counters/faults/clock (full: all).
* ``GET/POST /_sim/clock`` — ``{"advance"?: s, "set_offset"?: s, "set_epoch_ms"?,
  "vn_time"?: "HH:MM"}``.
* ``POST /_sim/send`` — ``{"oa_id", "user_id", "event_name"? (user_send_text), <event fields>,
  "wait"?: true, "repeat"?: 1, "retry"?: true}`` emits a signed webhook;
  ``{"oa_id", "raw", "signature"?}`` posts raw bytes with a forged/explicit signature.
* ``POST /_sim/webhook`` — ``{"app_id", "enabled"}``: re-enable/disable an app's webhook.
* ``GET/POST /_sim/settings`` — read / change :attr:`SimState.SETTINGS` (rate limit, echoes,
  broadcast quotas per follower ``broadcast_month_quota``/``broadcast_day_quota`` (null =
  unlimited), ``broadcast_review_s``, ``broadcast_deliver_by_hour``,
  ``broadcast_night_refused``, ``require_cover``, …).
* ``POST /_sim/staff`` — ``{"oa_id", "user_id", "text", "admin_id"?}``: an OA admin types to a
  user in OA Manager (recorded in the conversation, ``oa_send_text`` echo emitted).
* ``POST /_sim/revoke`` — ``{"oa_id"}``: the OA revokes the app's permission: its tokens stop
  working and ``permission_revoked`` is emitted.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .emitter import FORGED_SIGNATURE
from .provision import apply_setup
from .replies import EMITTER, state_of
from .state import FaultKind


def _bad(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error": "invalid JSON"}', content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"error": "expected an object"}', content_type="application/json"
        )
    return body


async def setup(request: web.Request) -> web.Response:
    try:
        return web.json_response(apply_setup(state_of(request), await _body(request)))
    except (KeyError, TypeError, ValueError) as exc:
        return _bad(f"setup failed: {exc!r}")


async def faults_add(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await _body(request)
    path, times = body.get("path"), body.get("times", 1)
    if not isinstance(path, str) or not (times is None or isinstance(times, int)):
        return _bad("need path (str) and times (int or null)")
    kinds: list[FaultKind] = [k for k in ("error", "status", "delay") if k in body]
    if not kinds:
        return _bad("need one of error, status, delay")
    for kind in kinds:
        value = body[kind]
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric or (kind != "delay" and not isinstance(value, int)):
            return _bad(f"{kind} must be {'a number' if kind == 'delay' else 'an integer'}")
    added = [state.add_fault(path, kind, body[kind], times) for kind in kinds]
    return web.json_response(
        {"added": [f.to_dict() for f in added], "faults": [f.to_dict() for f in state.faults]}
    )


async def faults_list(request: web.Request) -> web.Response:
    return web.json_response({"faults": [f.to_dict() for f in state_of(request).faults]})


async def faults_clear(request: web.Request) -> web.Response:
    state_of(request).clear_faults()
    return web.json_response({"faults": []})


async def messages(request: web.Request) -> web.Response:
    q = request.query
    found = state_of(request).find_messages(q.get("oa_id"), q.get("user_id"), q.get("path"))
    return web.json_response({"messages": [m.to_dict() for m in found]})


async def broadcasts(request: web.Request) -> web.Response:
    return web.json_response({"broadcasts": [b.to_dict() for b in state_of(request).broadcasts]})


async def uploads(request: web.Request) -> web.Response:
    return web.json_response({"uploads": [u.to_dict() for u in state_of(request).uploads.values()]})


async def articles(request: web.Request) -> web.Response:
    return web.json_response(
        {"articles": [a.to_dict() for a in state_of(request).articles.values()]}
    )


async def webhooks(request: web.Request) -> web.Response:
    return web.json_response({"deliveries": [d.to_dict() for d in state_of(request).deliveries]})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).stats())


async def reset(request: web.Request) -> web.Response:
    body = await _body(request)
    state_of(request).reset(full=bool(body.get("full")))
    return web.json_response({"reset": True, "full": bool(body.get("full"))})


def _clock(request: web.Request) -> web.Response:
    state = state_of(request)
    return web.json_response(
        {
            "now_ms": state.now_ms(),
            "offset_s": state.offset_ms / 1000,
            "vn_time": state.vn_now().isoformat(),
            "night": state.is_night(),
        }
    )


async def clock_get(request: web.Request) -> web.Response:
    return _clock(request)


async def clock_set(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await _body(request)
    try:
        if "set_offset" in body:
            state.set_offset(float(body["set_offset"]))
        if "set_epoch_ms" in body:
            state.set_now(int(body["set_epoch_ms"]))
        if "vn_time" in body:
            hour, minute = (int(p) for p in str(body["vn_time"]).split(":"))
            state.set_vn_time(hour, minute)
        if "advance" in body:
            state.advance(float(body["advance"]))
    except (TypeError, ValueError) as exc:
        return _bad(f"bad clock request: {exc}")
    return _clock(request)


_SEND_CONTROL_KEYS = ("oa_id", "user_id", "event_name", "wait", "repeat", "retry")


async def send(request: web.Request) -> web.Response:
    state = state_of(request)
    emitter = request.app[EMITTER]
    body = await _body(request)
    oa_id = str(body.get("oa_id", ""))
    if oa_id not in state.oas:
        return _bad("unknown oa_id")
    retry = bool(body.get("retry", "raw" not in body))
    if "raw" in body:
        raw = body["raw"]
        data = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
        result = await emitter.send_raw(
            oa_id, data, signature=body.get("signature", FORGED_SIGNATURE), retry=retry
        )
        return web.json_response(result.to_dict())
    if not body.get("user_id"):
        return _bad("need user_id")
    fields = {k: v for k, v in body.items() if k not in _SEND_CONTROL_KEYS}
    try:
        event = emitter.prepare(
            oa_id, str(body["user_id"]), str(body.get("event_name", "user_send_text")), **fields
        )
    except (TypeError, ValueError) as exc:
        return _bad(str(exc))
    if not body.get("wait", True):
        emitter.spawn(emitter.emit(oa_id, event, retry=retry))
        return web.json_response({"oa_id": oa_id, "event": event, "scheduled": True})
    result = await emitter.emit(oa_id, event, retry=retry)
    results = [result]
    for _ in range(int(body.get("repeat", 1)) - 1):
        results.append(await emitter.resend(result, retry=retry))
    reply = result.to_dict()
    if len(results) > 1:
        reply["repeats"] = [r.to_dict() for r in results[1:]]
    return web.json_response(reply)


async def webhook_toggle(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await _body(request)
    app = state.apps.get(str(body.get("app_id", "")))
    if app is None:
        return _bad("unknown app_id")
    app.webhook_enabled = bool(body.get("enabled", True))
    return web.json_response({"app_id": app.app_id, "webhook_enabled": app.webhook_enabled})


_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "rate_limit": (int, type(None)),
    "legacy_quota": (bool,),
    "article_processing_polls": (int,),
    "strict_attachments": (bool,),
    "emit_echoes": (bool,),
    "broadcast_month_quota": (int, type(None)),
    "broadcast_day_quota": (int, type(None)),
    "broadcast_review_s": (int, float),
    "broadcast_deliver_by_hour": (int,),
    "broadcast_night_refused": (bool,),
    "require_cover": (bool,),
}


async def settings_get(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).settings())


async def settings_set(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await _body(request)
    for name, value in body.items():
        kinds = _SETTING_TYPES.get(name)
        if kinds is None:
            return _bad(f"unknown setting {name!r}; one of {sorted(_SETTING_TYPES)}")
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return _bad(f"{name}: wrong type")
    state.configure(**body)
    return web.json_response(state.settings())


async def staff_types(request: web.Request) -> web.Response:
    state = state_of(request)
    emitter = request.app[EMITTER]
    body = await _body(request)
    oa_id, user_id, text = (str(body.get(k, "")) for k in ("oa_id", "user_id", "text"))
    if oa_id not in state.oas or not user_id or not text:
        return _bad("need a known oa_id, user_id and text")
    result = await emitter.staff_types(oa_id, user_id, text, body.get("admin_id"))
    return web.json_response(result.to_dict())


async def revoke(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await _body(request)
    oa_id = str(body.get("oa_id", ""))
    if oa_id not in state.oas:
        return _bad("unknown oa_id")
    result = await request.app[EMITTER].revoke_permission(oa_id)
    return web.json_response(result.to_dict())


def add_routes(app: web.Application) -> None:
    app.router.add_post("/_sim/setup", setup)
    app.router.add_post("/_sim/faults", faults_add)
    app.router.add_get("/_sim/faults", faults_list)
    app.router.add_delete("/_sim/faults", faults_clear)
    app.router.add_get("/_sim/messages", messages)
    app.router.add_get("/_sim/broadcasts", broadcasts)
    app.router.add_get("/_sim/uploads", uploads)
    app.router.add_get("/_sim/articles", articles)
    app.router.add_get("/_sim/webhooks", webhooks)
    app.router.add_get("/_sim/stats", stats)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_get("/_sim/clock", clock_get)
    app.router.add_post("/_sim/clock", clock_set)
    app.router.add_post("/_sim/send", send)
    app.router.add_post("/_sim/webhook", webhook_toggle)
    app.router.add_get("/_sim/settings", settings_get)
    app.router.add_post("/_sim/settings", settings_set)
    app.router.add_post("/_sim/staff", staff_types)
    app.router.add_post("/_sim/revoke", revoke)
