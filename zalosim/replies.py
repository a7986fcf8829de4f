"""Shared request/response helpers for the simulator's handlers (zalo-oa-api.md §1).

Every OA reply is HTTP 200 with an ``error`` field; success is
``{"data": ..., "error": 0, "message": "Success"}``. Each returned code is counted on the state.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .emitter import WebhookEmitter
from .errors import oa_message, oauth_name
from .state import OA, SimState

STATE: web.AppKey[SimState] = web.AppKey("zalo_sim_state", SimState)
EMITTER: web.AppKey[WebhookEmitter] = web.AppKey("zalo_sim_emitter", WebhookEmitter)


class Reject(Exception):
    """Raised by validators; the handler turns it into an OA error reply."""

    def __init__(self, code: int, field: str | None = None, message: str | None = None) -> None:
        super().__init__(code, field, message)
        self.code, self.field, self.message = code, field, message


def state_of(request: web.Request) -> SimState:
    return request.app[STATE]


def current_oa(request: web.Request) -> OA:
    """The OA owning the request's (already validated) ``access_token`` header."""
    state = state_of(request)
    return state.oas[state.access_tokens[request.headers["access_token"]].oa_id]


def ok(request: web.Request, data: Any) -> web.Response:
    state_of(request).counters.errors[0] += 1
    return web.json_response({"data": data, "error": 0, "message": "Success"})


def fail(
    request: web.Request, code: int, message: str | None = None, *, field: str | None = None
) -> web.Response:
    """OA error envelope; ``field`` renders -201 as ``"<field> is invalid!"``."""
    return fail_state(state_of(request), code, message or oa_message(code, field))


def fail_state(state: SimState, code: int, message: str | None = None) -> web.Response:
    state.counters.errors[code] += 1
    return web.json_response({"error": code, "message": message or oa_message(code)})


def reject(request: web.Request, exc: Reject) -> web.Response:
    return fail(request, exc.code, exc.message, field=exc.field)


def oauth_fail(request: web.Request, code: int, reason: str) -> web.Response:
    """OAuth error envelope (no ``message``; §1, §2)."""
    state_of(request).counters.errors[code] += 1
    return web.json_response(
        {"error": code, "error_name": oauth_name(code), "error_reason": reason}
    )


async def read_json(request: web.Request) -> dict[str, Any] | None:
    """The JSON object body, or None when missing/malformed/not an object."""
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def read_data_param(request: web.Request) -> dict[str, Any] | None:
    """GET endpoints take one ``data`` query param holding URL-encoded JSON (§1)."""
    raw = request.query.get("data")
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def as_id(value: Any) -> str | None:
    """Ids arrive as strings (or, leniently, integers); anything else is invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def as_int(value: Any, default: int | None = None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
