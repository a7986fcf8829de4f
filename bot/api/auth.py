"""Staff authentication and tenancy for the JSON API, in one place.

A staff member calls with ``Authorization: Bearer <key>``; only the key's SHA-256 is stored
(``staff_keys``). A commune's routes are under ``/api/v1/communes/{code}/…`` (``identify``): a
key of commune A asking for anything of commune B gets 404, the same answer as for something
that does not exist, so the API does not confirm what other communes have; a department
publisher gets 403 on every one of them. A province's routes are under
``/api/v1/provinces/{code}/…`` (``identify_province``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import safejson
from bot.bodies import read_capped
from bot.store.models import Commune, Staff, StaffKey
from bot.timeutil import vn_iso as iso  # noqa: F401 - the API's times, one place

ROLES = ("officer", "leader", "propagandist", "operator", "publisher")
#: roles that act for the province only (``/api/v1/provinces/…``), never inside a commune: a
#: province department's publisher (``workflow.PROVINCE_ROLES``) — every commune route is 403
PROVINCE_ONLY = frozenset({"publisher"})
#: roles that work inside a commune (its notices, tickets, knowledge, staff…): every other one
COMMUNE_ROLES = ("officer", "leader", "propagandist", "operator")
#: the request's key (``staff_keys.id``), set by identify
KEY_USED: web.RequestKey[int] = web.RequestKey("staff_key_id", int)


@dataclass(frozen=True)
class Identity:
    staff_id: int
    commune_id: int
    commune_code: str
    role: str
    village_id: int | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "cb_" + secrets.token_urlsafe(32)


class _TooLarge(web.HTTPClientError):
    status_code = 413  # aiohttp's own class insists on sizes; the message says it instead


def error(status: int, message: str, **extra: object) -> web.HTTPException:
    """A JSON error with a Vietnamese-first message."""
    cls = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        413: _TooLarge,
        415: web.HTTPUnsupportedMediaType,
        422: web.HTTPUnprocessableEntity,
    }[status]
    return cls(
        text=json.dumps({"error": message, **extra}, ensure_ascii=False),
        content_type="application/json",
    )


async def identify(
    request: web.Request, s: AsyncSession, *, province_wide: bool = False
) -> Identity:
    """The caller, checked against the commune in the path (404 for another commune's).
    ``province_wide``: a province operator may also act on the other communes of their
    province (the Identity stays theirs: its ``commune_id`` is their own commune's)."""
    staff, code, province = await _caller(request, s)
    if staff.role in PROVINCE_ONLY:  # a department's publisher: province notices only
        raise error(403, f"vai trò {staff.role} không được làm việc này / role may not do this")
    wanted = request.match_info.get("code")
    if wanted != code and not (
        province_wide
        and staff.role == "operator"
        and province is not None
        and (
            await s.execute(select(Commune.province_code).where(Commune.code == wanted))
        ).scalar_one_or_none()
        == province
    ):
        raise error(404, "không tìm thấy / not found")
    return Identity(staff.id, staff.commune_id, code, staff.role, staff.village_id)


async def identify_province(
    request: web.Request, s: AsyncSession, roles: frozenset[str]
) -> Identity:
    """The caller of a ``/api/v1/provinces/{code}/…`` route: staff of a commune of that
    province (404 for anyone else, as for a province that is not served), in one of ``roles``
    (403)."""
    staff, code, province = await _caller(request, s)
    if province is None or request.match_info.get("code") != province:
        raise error(404, "không tìm thấy / not found")
    if staff.role not in roles:
        raise error(403, f"vai trò {staff.role} không được làm việc này / role may not do this")
    return Identity(staff.id, staff.commune_id, code, staff.role, staff.village_id)


async def _caller(request: web.Request, s: AsyncSession) -> tuple[Staff, str, str | None]:
    """The key's staff member, their commune's code and its province's (401 without one)."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise error(401, "cần khóa API: Authorization: Bearer <khóa> / API key required")
    row = (
        await s.execute(
            select(Staff, Commune.code, Commune.province_code, StaffKey.id)
            .join(StaffKey, StaffKey.staff_id == Staff.id)
            .join(Commune, Commune.id == Staff.commune_id)
            .where(
                StaffKey.key_hash == hash_key(key.strip()),
                StaffKey.revoked_at.is_(None),
                Staff.active.is_(True),
            )
        )
    ).first()
    if row is None:
        raise error(401, "khóa API không hợp lệ / invalid API key")
    staff, code, province, key_id = row
    request[KEY_USED] = key_id  # recorded once the request is answered (bot/app.py)
    return staff, code, province


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer with Vietnamese letters as they are (UTF-8), like the errors above: what
    staff read in a terminal or a log is the text itself, not ``\\u1ea1`` escapes."""
    return web.json_response(
        data, status=status, dumps=lambda value: json.dumps(value, ensure_ascii=False)
    )


def bad_input(exc: ValidationError) -> web.HTTPException:
    details = [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "(body)",
            "problem": e["msg"].removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]
    return error(400, "dữ liệu không hợp lệ / invalid input", details=details)


async def read_json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = safejson.loads(await request.read())
    except safejson.JsonError:
        raise error(400, "nội dung phải là JSON / body must be JSON") from None
    if not isinstance(body, dict):
        raise error(400, "nội dung phải là một đối tượng JSON / body must be a JSON object")
    return body


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it passes ``limit`` bytes."""
    return await read_capped(request.content, limit)
