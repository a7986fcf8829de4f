"""Public feeds of a commune's notices, for the commune portal and LED boards (no key needed;
only notices that have gone out, from the last 90 days):

    GET /feeds/{code}/notices.rss          RSS 2.0
    GET /feeds/{code}/cap.atom             Atom index of CAP alerts (the usual "CAP feed")
    GET /feeds/{code}/cap/{id}.xml         one CAP 1.2 alert
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from email.utils import format_datetime

from aiohttp import web
from sqlalchemy import select

from bot.api.auth import error
from bot.notices import cap
from bot.store.models import Notice, Village
from bot.tenants import Tenant, Tenants
from bot.timeutil import to_vn, utcnow, vn_iso

PUBLIC = ("sending", "sent")
WINDOW = timedelta(days=90)
ATOM = "http://www.w3.org/2005/Atom"


class Feeds:
    ROUTES = (
        ("GET", r"/feeds/{code:\d{5}}/notices.rss", "rss"),
        ("GET", r"/feeds/{code:\d{5}}/cap.atom", "cap_index"),
        ("GET", r"/feeds/{code:\d{5}}/cap/{id:\d{1,18}}.xml", "cap_alert"),
    )

    def __init__(self, sm, tenants: Tenants, public_url: str) -> None:
        self.sm, self.tenants, self.public_url = sm, tenants, public_url.rstrip("/")

    def _tenant(self, request: web.Request) -> Tenant:
        tenant = self.tenants.by_code(request.match_info["code"])
        if tenant is None:
            raise error(404, "không có xã này / unknown commune")
        return tenant

    async def _notices(self, tenant: Tenant) -> list[Notice]:
        async with self.sm() as s:
            return list(
                (
                    await s.execute(
                        select(Notice)
                        .where(
                            Notice.commune_id == tenant.id,
                            Notice.status.in_(PUBLIC),
                            Notice.updated_at > utcnow() - WINDOW,
                        )
                        .order_by(Notice.id.desc())
                        .limit(100)
                    )
                ).scalars()
            )

    def _alert_url(self, tenant: Tenant, notice: Notice) -> str:
        return f"{self.public_url}/feeds/{tenant.code}/cap/{notice.id}.xml"

    async def rss(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        rss = ET.Element("rss", version="2.0")
        channel = ET.SubElement(rss, "channel")
        for tag, text in (
            ("title", f"Thông báo của {tenant.config.name}"),
            ("link", f"{self.public_url}/feeds/{tenant.code}/notices.rss"),
            ("description", f"Thông tin thiết yếu của {tenant.config.name}"),
            ("language", "vi"),
        ):
            ET.SubElement(channel, tag).text = text
        for notice in await self._notices(tenant):
            item = ET.SubElement(channel, "item")
            ET.SubElement(item, "title").text = notice.headline
            ET.SubElement(item, "description").text = notice.body
            ET.SubElement(item, "category").text = notice.category
            ET.SubElement(item, "link").text = self._alert_url(tenant, notice)
            ET.SubElement(item, "guid", isPermaLink="false").text = cap.identifier(
                tenant.code, notice.id
            )
            ET.SubElement(item, "pubDate").text = format_datetime(
                to_vn(notice.sent_at or notice.updated_at)
            )
        return web.Response(
            body=ET.tostring(rss, encoding="utf-8", xml_declaration=True),
            content_type="application/rss+xml",
            charset="utf-8",
        )

    async def cap_index(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        ET.register_namespace("", ATOM)
        feed = ET.Element(f"{{{ATOM}}}feed")

        def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> None:
            node = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
            node.text = text

        notices = await self._notices(tenant)
        sub(feed, "id", f"{self.public_url}/feeds/{tenant.code}/cap.atom")
        sub(feed, "title", f"CAP: {tenant.config.name}")
        sub(feed, "updated", vn_iso(notices[0].updated_at if notices else utcnow()))
        for notice in notices:
            entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
            sub(entry, "id", cap.identifier(tenant.code, notice.id))
            sub(entry, "title", notice.headline)
            sub(entry, "updated", vn_iso(notice.updated_at))
            sub(
                entry,
                "link",
                rel="alternate",
                type="application/cap+xml",
                href=self._alert_url(tenant, notice),
            )
        return web.Response(
            body=ET.tostring(feed, encoding="utf-8", xml_declaration=True),
            content_type="application/atom+xml",
            charset="utf-8",
        )

    async def cap_alert(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        async with self.sm() as s:
            notice = (
                await s.execute(
                    select(Notice).where(
                        Notice.id == int(request.match_info["id"]),
                        Notice.commune_id == tenant.id,
                        Notice.status.in_(PUBLIC),
                    )
                )
            ).scalar_one_or_none()
            if notice is None:
                raise error(404, "không tìm thấy / not found")
            referenced = await s.get(Notice, notice.references_id) if notice.references_id else None
            villages = dict(
                (
                    await s.execute(
                        select(Village.id, Village.name).where(Village.commune_id == tenant.id)
                    )
                ).all()
            )
        return web.Response(
            body=cap.export(notice, tenant.code, tenant.config.name, villages, referenced),
            content_type="application/cap+xml",
            charset="utf-8",
        )
