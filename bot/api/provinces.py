"""A province's notice to many communes (issue 14), for the province operator or a province
department's publisher:

    POST /api/v1/provinces/{code}/notices        one notice → each named commune's own notice
    GET  /api/v1/provinces/{code}/notices/{id}   the notice and each commune's copy: its state
                                                 and deliveries

Tenancy: staff of a commune of another province (or of a province not served) get 404; staff of
the province other than its operators and department publishers (``publisher``, who may use
nothing but these routes: ``auth.PROVINCE_ONLY``) 403 (``workflow.PROVINCE_ROLES``). The work is
bot/notices/province.py.

``Idempotency-Key`` (optional, ≤ 255 printable ASCII characters, scoped to the caller): the same
key with the same body answers the first request's notice again (201, ``Idempotent-Replayed:
true``) and creates nothing; with another body, 422.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from aiohttp import web
from pydantic import Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.auth import bad_input, error, identify_province, iso, json_response, read_json
from bot.api.notices import NoticeFields, checked_times
from bot.config import ProvinceSettings
from bot.coord import Coordinator
from bot.loops import NOTICES_TOPIC
from bot.notices import province, workflow
from bot.store.models import ProvinceNotice

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
MAX_COMMUNES = 1000  # a province has about a hundred


class ProvinceNoticeIn(NoticeFields):
    """A notice for many communes of the province: each gets it whole (no villages)."""

    communes: list[str] | Literal["all"] = Field(
        description="communes' 5-digit codes, or all the province's communes"
    )

    @classmethod
    def checked(cls, body: dict[str, Any]) -> ProvinceNoticeIn:
        data = cls.model_validate(body)
        if isinstance(data.communes, list):
            bad = [c for c in data.communes if not re.fullmatch(r"\d{5}", c)]
            if bad or not data.communes or len(data.communes) > MAX_COMMUNES:
                raise error(
                    400,
                    'communes: danh sách mã xã (5 chữ số) hoặc "all" / a list of 5-digit '
                    'commune codes, or "all"',
                    field="communes",
                    communes=bad,
                )
        return data


def columns(data: ProvinceNoticeIn) -> dict[str, Any]:
    """The communes' ``Notice`` columns from a checked body, for ``province.send`` — the API's
    and the console's (bot/console/province.py); its times through ``checked_times`` (400)."""
    return {
        "category": data.category,
        "priority": data.priority,
        "headline": data.headline.strip(),
        "body": data.body.strip(),
        "translations": {k: v.model_dump() for k, v in data.translations.items()},
        "languages": data.languages,
        "subscribers_only": data.subscribers_only,
        "recurrence": data.recurrence,
        "image_url": data.image_url,
        **checked_times(data),
    }


def _fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ProvincesApi:
    def __init__(self, sm, coord: Coordinator, provinces: dict[str, ProvinceSettings]) -> None:
        self.sm, self.coord, self.provinces = sm, coord, provinces

    BASE = r"/api/v1/provinces/{code:\d{2}}/notices"
    ROUTES = (
        ("POST", BASE, "create"),
        ("GET", BASE + r"/{id:\d{1,18}}", "get"),
    )

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
            raise error(
                400,
                "Idempotency-Key: 1–255 ký tự ASCII in được / 1–255 printable ASCII characters",
            )
        fingerprint = _fingerprint(body)
        code = request.match_info["code"]
        try:
            async with self.sm() as s, s.begin():
                who = await identify_province(request, s, workflow.PROVINCE_ROLES)
                if key is not None:
                    earlier = await province.replay(s, who.staff_id, key)
                    if earlier is not None:
                        return await self._replayed(s, earlier, fingerprint)
                try:
                    data = ProvinceNoticeIn.checked(body)
                except ValidationError as exc:
                    raise bad_input(exc) from None
                fields = columns(data)
                resolved = await province.resolve(s, code, data.communes)
                if resolved.unknown:
                    raise error(
                        400,
                        "không phải xã của tỉnh / not a commune of this province",
                        field="communes",
                        communes=resolved.unknown,
                    )
                if not resolved.communes:
                    raise error(
                        400, "tỉnh chưa có xã nào / the province has no commune", field="communes"
                    )
                direct = province.skips_approval(
                    data.priority, self.provinces.get(code, ProvinceSettings()).emergency_direct
                )
                parent, _ = await province.send(
                    s,
                    province_code=code,
                    publisher_id=who.staff_id,
                    publisher_commune_id=who.commune_id,
                    communes=resolved.communes,
                    direct=direct,
                    idempotency_key=key,
                    request_hash=fingerprint,
                    **fields,
                )
                out = await self._json(s, parent)
        except IntegrityError:
            if key is None:
                raise
            # the same key sent twice at once: the other request's commit won; answer its notice
            async with self.sm() as s:
                who = await identify_province(request, s, workflow.PROVINCE_ROLES)
                earlier = await province.replay(s, who.staff_id, key)
                if earlier is None:
                    raise
                return await self._replayed(s, earlier, fingerprint)
        if direct:  # the dispatcher looks again
            await self.coord.publish(NOTICES_TOPIC)
        return json_response(out, status=201)

    async def _replayed(
        self, s: AsyncSession, earlier: ProvinceNotice, fingerprint: str
    ) -> web.Response:
        if earlier.request_hash != fingerprint:
            raise error(
                422,
                "Idempotency-Key đã dùng cho yêu cầu khác / this Idempotency-Key was used "
                "with another request",
            )
        response = json_response(await self._json(s, earlier), status=201)
        response.headers["Idempotent-Replayed"] = "true"
        return response

    async def get(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            await identify_province(request, s, workflow.PROVINCE_ROLES)
            parent = (
                await s.execute(
                    select(ProvinceNotice).where(
                        ProvinceNotice.id == int(request.match_info["id"]),
                        ProvinceNotice.province_code == request.match_info["code"],
                    )
                )
            ).scalar_one_or_none()
            if parent is None:
                raise error(404, "không tìm thấy / not found")
            out = await self._json(s, parent)
        return json_response(out)

    @staticmethod
    async def _json(s: AsyncSession, parent: ProvinceNotice) -> dict[str, Any]:
        children = await province.children(s, parent.id)
        states: dict[str, int] = {}
        for child in children:
            child["sent_at"] = iso(child["sent_at"])
            states[child["status"]] = states.get(child["status"], 0) + 1
        return {
            "id": parent.id,
            "province": parent.province_code,
            "category": parent.category,
            "priority": parent.priority,
            "headline": parent.headline,
            "direct": parent.direct,
            "created_by": parent.created_by,
            "created_at": iso(parent.created_at),
            "states": states,
            "delivered": sum(c["delivered"] for c in children),
            "communes": children,
        }
