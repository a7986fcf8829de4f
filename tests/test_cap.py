"""CAP 1.2 import/export and the public feeds, through HTTP: a provincial alert becomes a
draft; a sent notice exports and re-imports to the same content; hostile XML changes nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.store.models import Notice
from tests.helpers import (
    NOTICE,
    Desk,
    commune_code,
    make_settings,
    quiet_around_now,
    resident,
    start_service,
    wait_status,
)

CODE = commune_code(1)
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
STORM = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP_NS}">
  <identifier>VN-KTTV-2026-11-22-0915</identifier>
  <sender>kttv@nchmf.gov.vn</sender>
  <sent>2026-11-22T09:15:00+07:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>vi-VN</language>
    <category>Met</category>
    <event>Bão</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <expires>2026-11-25T18:00:00+07:00</expires>
    <headline>Bão số 9 đổ bộ</headline>
    <description>Gió mạnh cấp 10, mưa rất to.</description>
    <instruction>Sơ tán khỏi vùng trũng trước 18 giờ.</instruction>
    <area><areaDesc>Nậm Mòn; Thôn Không Có</areaDesc></area>
  </info>
  <info>
    <language>hnj</language>
    <category>Met</category>
    <event>Cua</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Cua loj</headline>
    <area><areaDesc>Nậm Mòn</areaDesc></area>
  </info>
</alert>""".encode()

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""


@pytest.fixture
async def desk(store_url, sim):
    running = await start_service(
        make_settings(store_url, sim, notices=quiet_around_now(False)), sim
    )
    async with aiohttp.ClientSession() as http:
        yield Desk(running, http)
    await running.runner.cleanup()


async def post_cap(desk: Desk, key: str, document: bytes):
    url = f"{desk.running.url}/api/v1/communes/{CODE}/notices/cap"
    async with desk.http.post(
        url,
        data=document,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cap+xml"},
    ) as r:
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, {"error": await r.text()}


async def count_notices(desk: Desk) -> int:
    async with desk.running.services.sm() as s:
        return (await s.execute(select(func.count()).select_from(Notice))).scalar()


async def test_a_provincial_alert_becomes_a_draft(desk):
    officer = await desk.hire("officer")
    status, draft = await post_cap(desk, officer, STORM)
    assert status == 201, draft
    assert draft["status"] == "draft" and draft["priority"] == "emergency"
    assert draft["category"] == "safety" and draft["headline"] == "Bão số 9 đổ bộ"
    assert draft["body"] == "Gió mạnh cấp 10, mưa rất to.\nSơ tán khỏi vùng trũng trước 18 giờ."
    assert draft["villages"] == ["Nậm Mòn"] and draft["unmatched_area"] == ["Thôn Không Có"]
    assert draft["translations"]["hnj"]["headline"] == "Cua loj"
    assert draft["expires_at"] == "2026-11-25T18:00:00+07:00"  # as the alert gave it
    assert draft["cap_identifier"] == "VN-KTTV-2026-11-22-0915"


@pytest.mark.parametrize(
    "document, reason",
    [
        (BILLION_LAUGHS, "DTDs and entities are not allowed"),
        (EXTERNAL, "DTDs and entities are not allowed"),
        (b"<alert><unclosed>", "not well-formed"),
        (b"<rss version='2.0'/>", "root element"),
        (STORM.replace(b"<status>Actual</status>", b"<status>Exercise</status>"), "Actual"),
        (STORM.replace(b"+07:00</expires>", b"</expires>"), "time zone"),
    ],
)
async def test_malformed_or_hostile_xml_is_refused_and_changes_nothing(desk, document, reason):
    officer = await desk.hire("officer")
    before = await count_notices(desk)
    status, body = await post_cap(desk, officer, document)
    assert status == 400 and reason in body["error"]
    assert await count_notices(desk) == before


async def test_a_huge_document_is_refused(desk):
    officer = await desk.hire("officer")
    status, _ = await post_cap(desk, officer, STORM + b" " * (300 * 1024))
    assert status == 413 and await count_notices(desk) == 0


async def test_export_import_round_trip_and_public_feeds(desk):
    await resident(desk.running, "9701")
    leader = await desk.hire("leader")
    original = dict(
        NOTICE,
        villages=["Bản Phố"],
        priority="priority",
        image_url="https://xa.example.gov.vn/a.jpg",
        expires_at="2026-12-31T17:00:00",
        translations={"hnj": {"headline": "Txhaj tshuaj", "body": "Hnub 25"}},
    )
    _, d = await desk.call(leader, "POST", "", original)
    await desk.submit_and_approve(leader, d["id"])
    await wait_status(desk, leader, d["id"], "sent")
    base = f"{desk.running.url}/api/v1/communes/{CODE}/notices"
    async with desk.http.get(
        f"{base}/{d['id']}/cap", headers={"Authorization": f"Bearer {leader}"}
    ) as r:
        assert r.status == 200 and r.content_type == "application/cap+xml"
        exported = await r.read()
    root = ET.fromstring(exported)
    assert root.find(f"{{{CAP_NS}}}msgType").text == "Alert"
    assert [i.find(f"{{{CAP_NS}}}language").text for i in root.findall(f"{{{CAP_NS}}}info")] == [
        "vi-VN",
        "hnj",
    ]
    status, again = await post_cap(desk, leader, exported)
    assert status == 201
    for field in (
        "category",
        "priority",
        "headline",
        "body",
        "villages",
        "expires_at",
        "translations",
        "image_url",
    ):
        assert again[field] == d[field], field
    # public feeds: no key, only what has gone out
    async with desk.http.get(f"{desk.running.url}/feeds/{CODE}/notices.rss") as r:
        rss = ET.fromstring(await r.read())
    assert [i.find("title").text for i in rss.iter("item")] == [NOTICE["headline"]]
    async with desk.http.get(f"{desk.running.url}/feeds/{CODE}/cap.atom") as r:
        atom = ET.fromstring(await r.read())
    [link] = [e.get("href") for e in atom.iter("{http://www.w3.org/2005/Atom}link")]
    async with desk.http.get(link.replace(desk.running.settings.public_url, desk.running.url)) as r:
        assert r.status == 200 and ET.fromstring(await r.read()).tag == f"{{{CAP_NS}}}alert"
    async with desk.http.get(f"{desk.running.url}/feeds/{CODE}/cap/{again['id']}.xml") as r:
        assert r.status == 404  # a draft is not public
    async with desk.http.get(f"{desk.running.url}/feeds/99999/notices.rss") as r:
        assert r.status == 404
    # an id no database column can hold is simply not there (not a 500), public or with a key
    huge = "9" * 25
    async with desk.http.get(f"{desk.running.url}/feeds/{CODE}/cap/{huge}.xml") as r:
        assert r.status == 404
    for path in (f"/notices/{huge}", f"/handoffs/{huge}"):
        async with desk.http.get(
            f"{desk.running.url}/api/v1/communes/{CODE}{path}",
            headers={"Authorization": f"Bearer {leader}"},
        ) as r:
            assert r.status == 404, path


async def test_a_cap_cancel_is_not_a_new_notice(desk):
    officer = await desk.hire("officer")
    cancel = STORM.replace(b"<msgType>Alert</msgType>", b"<msgType>Cancel</msgType>")
    status, body = await post_cap(desk, officer, cancel)
    assert status == 400 and "cancel" in body["error"] and await count_notices(desk) == 0
