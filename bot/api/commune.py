"""The commune as staff see it (authenticated, per commune):

    GET /api/v1/communes/{code}/warnings    whom alerts and relays cannot reach (bot/coverage.py)

Any staff role may ask: the answer names no one, only the gaps to fill.
"""

from __future__ import annotations

from aiohttp import web

from bot.api.auth import identify, json_response
from bot.coverage import warnings


class CommuneApi:
    def __init__(self, sm) -> None:  # type: ignore[no-untyped-def]
        self.sm = sm

    ROUTES = (("GET", r"/api/v1/communes/{code:\d{5}}/warnings", "warnings"),)

    async def warnings(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            who = await identify(request, s)
            gaps = await warnings(s, who.commune_id)
        return json_response({"warnings": [g.to_json() for g in gaps]})
