"""A commune's staff and their keys, for the people who manage them:

    GET    /api/v1/communes/{code}/staff                    list (no key is ever shown)
    POST   /api/v1/communes/{code}/staff/{id}/rotate-key    a new key, shown once; old ones dead
    DELETE /api/v1/communes/{code}/staff/{id}/key           every key of theirs revoked
    POST   /api/v1/communes/{code}/staff/{id}/deactivate    keys revoked, no alerts, no commands
    POST   /api/v1/communes/{code}/staff/{id}/reactivate    active again, with a new key

Who may (``permit``, the one place): the commune's leaders (its administrators) for its commune
staff (``LEADER_MANAGES``: not operators, not a province department's publishers); a province
operator for every commune of their province; anyone working in a commune may rotate their own
key (a publisher reaches no commune route at all: ``auth.identify`` refuses them). Nobody
revokes or deactivates themselves (they would lock themselves out). Another commune's staff
— or another province's for an operator — are 404, like the rest of the API. The work itself
is in ``bot/staff.py``, shared with `bot staff …`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.api.auth import COMMUNE_ROLES, Identity, error, identify, json_response
from bot.staff import (
    NoSuchStaff,
    StaffError,
    deactivate,
    describe,
    list_staff,
    reactivate,
    revoke_keys,
    rotate_key,
    staff_member,
)
from bot.store.models import Commune, Staff

#: an action → its line in the console's log (bot/audit.py: action)
LOGGED = {
    "rotate-key": "key_rotated",
    "revoke-key": "keys_revoked",
    "deactivate": "staff_deactivated",
    "reactivate": "staff_reactivated",
}
#: whom a commune leader manages (and adds in the console); province staff — operators and
#: department publishers — only a province operator (or `bot staff …`)
LEADER_MANAGES = ("officer", "leader", "propagandist")
BASE = r"/api/v1/communes/{code:\d{5}}/staff"
MEMBER = BASE + r"/{id:\d{1,9}}"


def permit(who: Identity, target: Staff | None, action: str) -> None:
    """403 unless ``who`` may do ``action`` (list | rotate-key | revoke-key | deactivate |
    reactivate | invite) to ``target`` (None for the list and for adding someone); 409 for
    doing it to themselves. The console's staff screen asks here too."""
    if who.role not in COMMUNE_ROLES:  # a department's publisher manages nobody, not even self
        raise error(403, "vai trò này không quản lý cán bộ / role may not manage staff")
    own = target is not None and target.id == who.staff_id
    if own and action in ("revoke-key", "deactivate"):
        raise error(
            409,
            "không tự thu hồi khóa hay tự khóa tài khoản của mình / you cannot "
            "revoke or deactivate yourself",
        )
    if who.role == "operator" or (own and action == "rotate-key"):
        return
    if who.role == "leader" and (target is None or target.role in LEADER_MANAGES):
        return
    raise error(403, "vai trò này không quản lý cán bộ / role may not manage staff")


class StaffApi:
    def __init__(self, sm) -> None:
        self.sm = sm

    ACTIONS = ("rotate-key", "deactivate", "reactivate")  # POST …/staff/{id}/<action>
    ROUTES = (
        ("GET", BASE, "list"),
        ("POST", MEMBER + "/{action:" + "|".join(ACTIONS) + "}", "act"),
        ("DELETE", MEMBER + "/key", "revoke"),
    )

    async def _commune_id(self, s: AsyncSession, who: Identity, code: str) -> int:
        """The commune in the path (identify let the caller in: their own, or one of their
        province's)."""
        if code == who.commune_code:
            return who.commune_id
        return (await s.execute(select(Commune.id).where(Commune.code == code))).scalar_one()

    async def list(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            who = await identify(request, s, province_wide=True)
            permit(who, None, "list")
            people = await list_staff(s, await self._commune_id(s, who, request.match_info["code"]))
        return json_response({"staff": people})

    async def act(self, request: web.Request) -> web.Response:
        return await self._change(request, request.match_info["action"])

    async def revoke(self, request: web.Request) -> web.Response:
        return await self._change(request, "revoke-key")

    async def _change(self, request: web.Request, action: str) -> web.Response:
        out: dict[str, Any] = {}
        async with self.sm() as s, s.begin():
            who = await identify(request, s, province_wide=True)
            commune_id = await self._commune_id(s, who, request.match_info["code"])
            try:
                staff = await staff_member(s, commune_id, int(request.match_info["id"]))
            except NoSuchStaff:
                raise error(404, "không tìm thấy / not found") from None
            permit(who, staff, action)
            try:
                if action == "rotate-key":
                    out["key"] = await rotate_key(s, staff)
                elif action == "revoke-key":
                    out["revoked"] = await revoke_keys(s, staff)
                elif action == "deactivate":
                    out["alerts_cancelled"] = await deactivate(s, staff)
                else:
                    out["key"] = await reactivate(s, staff)
            except StaffError as exc:
                raise error(409, str(exc)) from None
            audit.action(
                s, staff.commune_id, who.staff_id, LOGGED[action], "staff", staff.id, staff.name
            )
            out["staff"] = await describe(s, staff)
        response = json_response(out)
        response.headers["Cache-Control"] = "no-store"  # a key may be in it
        return response
