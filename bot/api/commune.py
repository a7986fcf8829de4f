"""The commune as staff see it (authenticated, per commune):

    GET  /api/v1/communes/{code}/warnings                       whom alerts and relays cannot
                                                                reach (bot/coverage.py)
    POST /api/v1/communes/{code}/residents/{zalo_id}/erase      erase a resident on request
    POST /api/v1/communes/{code}/residents/by-ticket/{PA-…}/erase   … the one who filed a ticket

Any staff role may ask for the warnings: the answer names no one, only the gaps to fill.
Erasing (bot/privacy.py, docs/privacy.md) is the leader's decision (the deployment's
administrator uses `bot resident erase`) and needs ``{"confirm": true}``: it cannot be undone.
"""

from __future__ import annotations

from aiohttp import web

from bot import privacy
from bot.api.auth import error, identify, json_response, read_json
from bot.coverage import warnings

ERASERS = ("leader",)


class CommuneApi:
    def __init__(self, sm) -> None:
        self.sm = sm

    ROUTES = (
        ("GET", r"/api/v1/communes/{code:\d{5}}/warnings", "warnings"),
        ("POST", r"/api/v1/communes/{code:\d{5}}/residents/{zalo_id:\d{1,32}}/erase", "erase"),
        (
            "POST",
            r"/api/v1/communes/{code:\d{5}}/residents/by-ticket/"
            r"{ticket:PA-\d{4}-\d{6}}/erase",
            "erase",
        ),
    )

    async def warnings(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            who = await identify(request, s)
            gaps = await warnings(s, who.commune_id)
        return json_response({"warnings": [g.to_json() for g in gaps]})

    async def erase(self, request: web.Request) -> web.Response:
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            if who.role not in ERASERS:
                raise error(
                    403,
                    "chỉ lãnh đạo xã xóa dữ liệu người dân / only the leader may "
                    "erase a resident's data",
                )
            body = await read_json(request)
            if set(body) - {"confirm"} or body.get("confirm") is not True:
                raise error(
                    400,
                    'cần xác nhận: {"confirm": true} — việc xóa không hoàn tác '
                    'được / confirm with {"confirm": true}: erasure cannot be '
                    "undone",
                )
            done = await privacy.erase_on_request(
                s,
                who.commune_id,
                zalo_id=request.match_info.get("zalo_id"),
                ticket_code=request.match_info.get("ticket"),
                source="api",
                staff_id=who.staff_id,
            )
            if done is None:
                raise error(404, "không tìm thấy / not found")
        return json_response({"erased": True, **done.to_json()})
