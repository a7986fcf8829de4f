"""The notices JSON API (staff, authenticated, per commune):

    POST /api/v1/communes/{code}/notices                  draft a notice
    GET  /api/v1/communes/{code}/notices[?status=…]        list
    GET  /api/v1/communes/{code}/notices/{id}              the notice, its delivery figures, audit
    POST /api/v1/communes/{code}/notices/{id}/{action}     submit | approve | return | publish |
                                                           cancel   (body: {"note": "…"})

Bad input answers 400 with what is wrong and changes nothing. Times without a zone are
Vietnamese wall-clock time.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.auth import (
    Identity,
    bad_input,
    error,
    identify,
    iso,
    json_response,
    read_json,
    read_limited,
)
from bot.broadcasts.figures import stats
from bot.broadcasts.plan import cancel_deliveries
from bot.coord import Coordinator
from bot.coverage import notice_gaps
from bot.filenames import safe_filename
from bot.i18n import use_language
from bot.images import ImageError
from bot.loops import NOTICES_TOPIC, OUTBOUND_TOPIC
from bot.notices import cap, service, workflow
from bot.notices.images import MAX_IMAGE_BYTES, check_notice_image
from bot.store.models import Notice, NoticeAudit, Village
from bot.tenants import Tenants
from bot.text import search_key
from bot.timeutil import from_vn_local

NOTICE_STATES = (
    "draft",
    "submitted",
    "returned",
    "scheduled",
    "recurring",
    "sending",
    "sent",
    "cancelled",
    "expired",
)
MAX_FILE_BYTES = 5 * 1024 * 1024  # Zalo's upload limit for files (zalo-oa-api.md §4.5)


class Translation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    headline: str = Field(min_length=1, max_length=150)
    body: str = Field(min_length=1, max_length=2000)


class NoticeFields(BaseModel):
    """What every notice says, wherever it is drafted: a commune's (``NoticeIn``) or a
    province's to many communes (``bot.api.provinces.ProvinceNoticeIn``)."""

    model_config = ConfigDict(extra="forbid")
    category: str
    priority: str = "normal"
    headline: str = Field(min_length=1, max_length=150)
    body: str = Field(min_length=1, max_length=2000)
    translations: dict[str, Translation] = {}
    languages: list[str] = []
    subscribers_only: bool = False  # only residents who subscribed to this category in chat
    effective_at: datetime | None = None
    expires_at: datetime | None = None
    send_at: datetime | None = None
    recurrence: str | None = None  # crontab, Vietnamese time: "0 8 25 * *"
    image_url: str | None = Field(
        default=None, max_length=500, pattern=r"^https?://[^\s]+$"
    )  # sent after the text

    @field_validator("recurrence")
    @classmethod
    def _recurrence(cls, value: str | None) -> str | None:
        if value is not None:
            from bot.notices.schedule import trigger

            trigger(value)  # RecurrenceError is a ValueError: reported as a bad field
            value = " ".join(value.split())
        return value

    @field_validator("category", "priority")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        allowed = workflow.CATEGORIES if info.field_name == "category" else workflow.PRIORITIES
        if value not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}")
        return value


class NoticeIn(NoticeFields):
    """A commune's notice."""

    villages: list[str] = []  # names, accent-insensitive; [] = the whole commune
    updates: int | None = None  # a sent notice this one corrects: it reaches the same people


def checked_times(data: NoticeFields) -> dict[str, datetime | None]:
    """The notice's times in UTC (given without a zone: Vietnamese time), in order (400)."""
    try:
        times = {
            k: from_vn_local(v) if v else None
            for k, v in (
                ("effective_at", data.effective_at),
                ("expires_at", data.expires_at),
                ("send_at", data.send_at),
            )
        }
    except OverflowError:  # year 1 in Vietnamese time is before the first UTC instant
        raise error(400, "thời gian không hợp lệ / time out of range") from None
    if (
        times["expires_at"]
        and times["effective_at"]
        and times["expires_at"] <= times["effective_at"]
    ):
        raise error(
            400,
            "hết hiệu lực phải sau khi có hiệu lực / expires_at must be after effective_at",
        )
    return times


async def _village_names(s: AsyncSession, commune_id: int) -> dict[int, str]:
    rows = await s.execute(select(Village.id, Village.name).where(Village.commune_id == commune_id))
    return dict(rows.all())


async def _gaps(s: AsyncSession, notice: Notice) -> list[dict[str, Any]]:
    """``bot.coverage.notice_gaps`` as the API's JSON."""
    return [g.to_json() for g in await notice_gaps(s, notice)]


def to_json(notice: Notice, villages: dict[int, str]) -> dict[str, Any]:
    urgency, severity, certainty = workflow.PRIORITIES[notice.priority]
    return {
        "id": notice.id,
        "status": notice.status,
        "msg_type": notice.msg_type,
        "category": notice.category,
        "priority": notice.priority,
        "cap": {"urgency": urgency, "severity": severity, "certainty": certainty},
        "headline": notice.headline,
        "body": notice.body,
        "translations": notice.translations,
        "villages": [villages.get(i, str(i)) for i in notice.village_ids],
        "languages": notice.languages,
        "subscribers_only": notice.subscribers_only,
        "effective_at": iso(notice.effective_at),
        "expires_at": iso(notice.expires_at),
        "send_at": iso(notice.send_at),
        "recurrence": notice.recurrence,
        "references": notice.references_id,
        "province_notice": notice.province_notice_id,
        "image_url": notice.image_url,
        "created_by": notice.created_by,
        "approved_by": notice.approved_by,
        "created_at": iso(notice.created_at),
        "sent_at": iso(notice.sent_at),
    }


class NoticesApi:
    def __init__(self, sm, tenants: Tenants, coord: Coordinator) -> None:
        self.sm, self.tenants, self.coord = sm, tenants, coord

    BASE = r"/api/v1/communes/{code:\d{5}}/notices"
    ROUTES = (
        ("POST", BASE, "create"),
        ("GET", BASE, "list"),
        ("POST", BASE + "/cap", "import_cap"),
        ("GET", BASE + r"/{id:\d{1,18}}", "get"),
        ("GET", BASE + r"/{id:\d{1,18}}/cap", "export_cap"),
        ("PUT", BASE + r"/{id:\d{1,18}}/file", "attach_file"),
        ("PUT", BASE + r"/{id:\d{1,18}}/image", "attach_image"),
        ("POST", BASE + r"/{id:\d{1,18}}/{action:[a-z]+}", "act"),
    )

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            if who.role not in ("officer", "leader", "propagandist"):
                raise error(403, "vai trò này không soạn thông báo / role may not draft")
            try:
                data = NoticeIn.model_validate(body)
            except ValidationError as exc:
                raise bad_input(exc) from None
            villages = await _village_names(s, who.commune_id)
            village_ids = self._village_ids(data.villages, villages, who)
            times = checked_times(data)
            original = None
            if data.updates is not None:
                original = (
                    await s.execute(
                        select(Notice).where(
                            Notice.id == data.updates, Notice.commune_id == who.commune_id
                        )
                    )
                ).scalar_one_or_none()
                if original is None:
                    raise error(
                        400,
                        "không có thông báo cần cập nhật / no such notice to update",
                        field="updates",
                    )
                if original.status not in ("sending", "sent"):
                    raise error(
                        400,
                        "chỉ cập nhật thông báo đã gửi / only a sent notice can be updated",
                        field="updates",
                    )
                village_ids = village_ids or list(original.village_ids)
            notice = await service.draft(
                s,
                commune_id=who.commune_id,
                created_by=who.staff_id,
                category=data.category,
                priority=data.priority,
                msg_type="update" if original else "alert",
                references_id=original.id if original else None,
                headline=data.headline.strip(),
                body=data.body.strip(),
                translations={k: v.model_dump() for k, v in data.translations.items()},
                village_ids=village_ids,
                languages=data.languages,
                subscribers_only=data.subscribers_only,
                recurrence=data.recurrence,
                image_url=data.image_url,
                effective_at=times["effective_at"],
                expires_at=times["expires_at"],
                send_at=times["send_at"],
            )
            out = {**to_json(notice, villages), "warnings": await _gaps(s, notice)}
        return json_response(out, status=201)

    @staticmethod
    def _village_ids(names: list[str], villages: dict[int, str], who: Identity) -> list[int]:
        by_key = {search_key(n): i for i, n in villages.items()}
        ids, unknown = [], []
        for name in names:
            village_id = by_key.get(search_key(name))
            (ids.append(village_id) if village_id is not None else unknown.append(name))
        if unknown:
            raise error(
                400,
                "không có thôn này trong xã / unknown village",
                villages=unknown,
                known=sorted(villages.values()),
            )
        if who.role == "propagandist":
            if who.village_id is None:
                raise error(
                    403, "tuyên truyền viên chưa được gán thôn / propagandist has no village"
                )
            if not ids:
                ids = [who.village_id]
            if set(ids) != {who.village_id}:
                raise error(
                    403,
                    "tuyên truyền viên chỉ gửi cho thôn của mình / a propagandist "
                    "may only target their own village",
                )
        return sorted(set(ids))

    async def import_cap(self, request: web.Request) -> web.Response:
        """A CAP 1.2 alert (provincial source system, disaster agency) → a draft to review."""
        document = await request.read()
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            if who.role not in ("officer", "leader"):
                raise error(403, "vai trò này không nhập thông báo / role may not import")
            try:
                alert = cap.parse(document)
            except cap.CapError as exc:
                raise error(
                    400, f"không đọc được bản tin CAP / not a usable CAP 1.2 alert: {exc}"
                ) from None
            if alert.msg_type == "cancel":
                raise error(
                    400,
                    "bản tin CAP loại Cancel: hãy hủy thông báo gốc bằng thao tác "
                    "cancel / a CAP Cancel is not a new notice: POST "
                    "…/notices/{id}/cancel on the original",
                )
            villages = await _village_names(s, who.commune_id)
            by_key = {search_key(n): i for i, n in villages.items()}
            matched = sorted({by_key[search_key(a)] for a in alert.area if search_key(a) in by_key})
            unmatched = [a for a in alert.area if search_key(a) not in by_key]
            references_id = None
            for ref_id in cap.referenced_ids(alert, who.commune_code):
                found = await s.get(Notice, ref_id)
                if found is not None and found.commune_id == who.commune_id:
                    references_id = found.id
            notice = await service.draft(
                s,
                commune_id=who.commune_id,
                created_by=who.staff_id,
                action="import",
                note=f"CAP {alert.identifier}"[:500],
                msg_type=alert.msg_type,
                references_id=references_id,
                category=alert.category,
                priority=alert.priority,
                headline=alert.headline,
                body=alert.body,
                translations=alert.translations,
                village_ids=matched,
                effective_at=alert.effective_at,
                expires_at=alert.expires_at,
                image_url=alert.image_url,
            )
            out = {**to_json(notice, villages), "warnings": await _gaps(s, notice)}
        return json_response(
            {**out, "cap_identifier": alert.identifier, "unmatched_area": unmatched}, status=201
        )

    async def attach_file(self, request: web.Request) -> web.Response:
        """PUT a PDF (≤ 5 MB, Zalo's file limit) onto a draft: residents get it after the
        text. ``?name=lich-tiem-chung.pdf`` names it."""
        content = await read_limited(request, MAX_FILE_BYTES)  # its own limit, not 256 KB
        given = request.query.get("name")
        name = safe_filename(given) if given else "thong-bao.pdf"  # no path, no CR/LF
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            notice = await self._notice(s, who, int(request.match_info["id"]), lock=True)
            self._may_attach(who, notice)
            if content is None:
                raise error(413, "tệp quá 5 MB / file over 5 MB")
            if not name:
                raise error(400, "tên tệp không hợp lệ / invalid file name")
            if not content.startswith(b"%PDF-") or not name.lower().endswith(".pdf"):
                raise error(400, "chỉ nhận tệp PDF (tên .pdf) / only a PDF named .pdf")
            await service.attach_file(s, notice, name, content)
        return json_response({"notice": notice.id, "file": name, "size": len(content)})

    @staticmethod
    def _may_attach(who: Any, notice: Notice) -> None:
        """Who may attach to ``notice`` (a PDF, an image), and only to a draft."""
        if not service.may_act(notice, who.role, who.staff_id):
            raise error(404, "không tìm thấy / not found")
        if who.role not in ("officer", "leader", "propagandist"):
            raise error(403, "vai trò này không sửa thông báo / role may not edit")
        if notice.status not in workflow.EDITABLE:
            raise error(
                409,
                f"chỉ đính kèm khi còn là bản nháp (đang {notice.status}) / attach only to a draft",
            )

    async def attach_image(self, request: web.Request) -> web.Response:
        """PUT a JPEG or PNG (≤ 1 MB, Zalo's image limit; checked by its content, whatever it
        is called) onto a draft: residents get it after the text, in place of ``image_url``.
        A new one replaces the last; a refused one changes nothing."""
        content = await read_limited(request, MAX_IMAGE_BYTES)
        async with self.sm() as s:  # only a caller who may edit it costs a check
            who = await identify(request, s)
            self._may_attach(who, await self._notice(s, who, int(request.match_info["id"])))
        if content is None:
            raise error(413, "ảnh quá 1 MB / image over 1 MB")
        try:  # off the loop and outside any transaction: a PNG's pixels are inflated
            with use_language("vi"):
                image = await asyncio.to_thread(check_notice_image, content)
        except ImageError as exc:
            raise error(400, str(exc)) from None
        async with self.sm() as s, s.begin():  # again, locked: it may have changed meanwhile
            who = await identify(request, s)
            notice = await self._notice(s, who, int(request.match_info["id"]), lock=True)
            self._may_attach(who, notice)
            await service.attach_image(s, notice, image)
        return json_response(
            {
                "notice": notice.id,
                "content_type": image.content_type,
                "width": image.width,
                "height": image.height,
                "size": len(content),
            }
        )

    async def export_cap(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            who = await identify(request, s)
            notice = await self._notice(s, who, int(request.match_info["id"]))
            referenced = await s.get(Notice, notice.references_id) if notice.references_id else None
            body = cap.export(
                notice,
                who.commune_code,
                self.tenants.by_id(who.commune_id).config.name,
                await _village_names(s, who.commune_id),
                referenced,
            )
        return web.Response(body=body, content_type="application/cap+xml", charset="utf-8")

    async def _notice(
        self, s: AsyncSession, who: Identity, notice_id: int, lock: bool = False
    ) -> Notice:
        query = select(Notice).where(Notice.id == notice_id, Notice.commune_id == who.commune_id)
        notice = (await s.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
        if notice is None:
            raise error(404, "không tìm thấy / not found")
        return notice

    async def list(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            who = await identify(request, s)
            query = select(Notice).where(Notice.commune_id == who.commune_id)
            if request.query.get("status"):
                if request.query["status"] not in NOTICE_STATES:
                    raise error(
                        400, "trạng thái không hợp lệ / unknown status", known=list(NOTICE_STATES)
                    )
                query = query.where(Notice.status == request.query["status"])
            notices = (await s.execute(query.order_by(Notice.id.desc()).limit(200))).scalars()
            villages = await _village_names(s, who.commune_id)
            return json_response({"notices": [to_json(n, villages) for n in notices]})

    async def get(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            who = await identify(request, s)
            notice = await self._notice(s, who, int(request.match_info["id"]))
            audit = (
                await s.execute(
                    select(NoticeAudit)
                    .where(NoticeAudit.notice_id == notice.id)
                    .order_by(NoticeAudit.id)
                )
            ).scalars()
            out = to_json(notice, await _village_names(s, who.commune_id))
            out["delivery"] = await stats(s, notice)
            out["warnings"] = await _gaps(s, notice)
            out["audit"] = [
                {
                    "action": a.action,
                    "from": a.from_status,
                    "to": a.to_status,
                    "staff_id": a.staff_id,
                    "note": a.note,
                    "at": iso(a.at),
                }
                for a in audit
            ]
        return json_response(out)

    async def act(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body = await read_json(request)
        note = body.get("note")
        if note is not None and not isinstance(note, str):
            raise error(400, "note phải là chuỗi / note must be a string")
        async with self.sm() as s, s.begin():
            who = await identify(request, s)
            notice = await self._notice(s, who, int(request.match_info["id"]), lock=True)
            if not service.may_act(notice, who.role, who.staff_id):
                raise error(404, "không tìm thấy / not found")
            try:
                workflow.apply(s, notice, action, who.role, who.staff_id, note)
            except workflow.WorkflowError as exc:
                raise error(exc.status, str(exc)) from None
            corrections = 0
            if action == "cancel":
                corrections = await cancel_deliveries(
                    s, notice, self.tenants.by_id(who.commune_id).config.name
                )
            out = {
                **to_json(notice, await _village_names(s, who.commune_id)),
                "warnings": await _gaps(s, notice),
            }
        if action in ("approve", "publish", "cancel"):  # dispatcher and scheduler look again
            await self.coord.publish(NOTICES_TOPIC)
        if corrections:
            await self.coord.publish(OUTBOUND_TOPIC)
        return json_response({**out, "corrections_queued": corrections})
