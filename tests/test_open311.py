"""Open311 GeoReport v2 over real HTTP (JSON and XML), on SQLite and PostgreSQL: the service
list, filing with a staff key, tracking, filters, the standard error shapes, and what the public
never sees (a chat reporter's words and identity)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, update
from yarl import URL

from bot.feedback.categories import CATEGORIES
from bot.staff import add_staff
from bot.store.models import Staff, StaffKey, Ticket
from bot.timeutil import to_vn, utcnow
from tests.helpers import Commune, commune_code, make_settings, oa_id, start_service

CODE, CODE2 = commune_code(1), commune_code(2)
OA = oa_id(1)
OFFICES = {
    "offices": [
        {"code": "vanphong", "name": "Văn phòng UBND"},
        {"code": "diachinh", "name": "Địa chính - Xây dựng"},
        {"code": "congan", "name": "Công an xã"},
    ],
    "routing": [
        {"category": "road", "office": "diachinh"},
        {"category": "security", "office": "congan"},
    ],
}
#: the spec's field lists (wiki.open311.org/GeoReport_v2), in its order
SERVICE_FIELDS = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
CREATED_FIELDS = ["service_request_id", "token", "service_notice", "account_id"]
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


class Client:
    """An Open311 client of the running service, plus the staff side it needs."""

    def __init__(self, running, http: aiohttp.ClientSession) -> None:
        self.running, self.http = running, http

    async def call(
        self,
        method: str,
        path: str,
        fmt: str = "json",
        *,
        data: dict[str, Any] | None = None,
        json_body: Any = None,
        **params: Any,
    ) -> tuple[int, Any]:
        """(status, parsed body): JSON as Python values, XML as the root element."""
        params.setdefault("jurisdiction_id", CODE)
        params = {k: v for k, v in params.items() if v is not None}
        url = f"{self.running.url}/open311/v2/{path}.{fmt}"
        async with self.http.request(method, url, params=params, data=data, json=json_body) as r:
            body = await r.read()
            kind = r.headers["Content-Type"]
        if fmt == "json":
            assert kind == "application/json; charset=utf-8", kind
            return r.status, json.loads(body)
        assert kind == "text/xml; charset=utf-8", kind
        assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
        return r.status, ET.fromstring(body)

    async def file(self, key: str | None, fmt: str = "json", **fields: Any) -> tuple[int, Any]:
        form = {"jurisdiction_id": CODE, "api_key": key, **fields}
        return await self.call(
            "POST",
            "requests",
            fmt,
            jurisdiction_id=None,
            data={k: str(v) for k, v in form.items() if v is not None},
        )

    async def hire(self, role: str = "leader", code: str = CODE) -> str:
        async with self.running.services.sm() as s, s.begin():
            _, key = await add_staff(s, code, f"{role} {code}", role)
        return key

    async def staff(self, key: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"{self.running.url}/api/v1/communes/{CODE}{path}"
        async with self.http.request(
            method, url, json=body, headers={"Authorization": f"Bearer {key}"}
        ) as r:
            return r.status, await r.json()

    async def tickets(self) -> int:
        async with self.running.services.sm() as s:
            return (await s.execute(select(func.count()).select_from(Ticket))).scalar_one()

    async def says(self, user: str, text: str) -> str:
        """A resident's chat message through the Zalo simulator; the bot's whole reply."""
        return await Commune(self.running, self.http).says(user, text)


@pytest.fixture
async def o311(store_url, sim):
    running = await start_service(make_settings(store_url, sim, commune_extra=OFFICES), sim)
    async with aiohttp.ClientSession() as http:
        yield Client(running, http)
    await running.runner.cleanup()


def tags(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def xml_errors(root: ET.Element) -> list[tuple[str, str]]:
    """The spec's error shape: <errors><error><code/><description/></error></errors>."""
    assert root.tag == "errors" and tags(root) == ["error"]
    assert tags(root[0]) == ["code", "description"]
    return [(e.findtext("code"), e.findtext("description")) for e in root]


async def test_services_and_definitions_in_json_and_xml(o311):
    got, services = await o311.call("GET", "services")
    assert got == 200 and [s["service_code"] for s in services] == list(CATEGORIES)
    road = services[0]
    assert list(road) == SERVICE_FIELDS
    assert road["service_name"] == "Đường sá, cầu cống" and road["metadata"] is False
    assert road["type"] == "realtime" and road["group"] == "ha-tang"
    assert "ổ gà" in road["keywords"].split(", ")

    got, root = await o311.call("GET", "services", "xml")
    assert got == 200 and root.tag == "services" and set(tags(root)) == {"service"}
    assert len(root) == len(CATEGORIES)
    for node in root:
        assert tags(node) == SERVICE_FIELDS
    assert root[0].findtext("metadata") == "false"
    assert root[0].findtext("service_name") == "Đường sá, cầu cống"

    got, definition = await o311.call("GET", "services/fire")
    assert got == 200 and definition == {"service_code": "fire", "attributes": []}
    got, root = await o311.call("GET", "services/fire", "xml")
    assert root.tag == "service_definition" and tags(root) == ["service_code", "attributes"]
    assert root.findtext("service_code") == "fire" and len(root.find("attributes")) == 0

    got, errors = await o311.call("GET", "services/weather")
    assert got == 404 and errors[0]["code"] == 404 and "weather" in errors[0]["description"]
    got, root = await o311.call("GET", "services/weather", "xml")
    assert got == 404 and xml_errors(root)[0][0] == "404"
    # one endpoint, many communes: which one is asked
    got, errors = await o311.call("GET", "services", jurisdiction_id=None)
    assert got == 400 and "jurisdiction_id" in errors[0]["description"]
    got, root = await o311.call("GET", "services", "xml", jurisdiction_id="99999")
    assert got == 404 and "99999" in xml_errors(root)[0][1]
    # an unknown format is a resource that does not exist
    async with o311.http.get(
        f"{o311.running.url}/open311/v2/services.yaml", params={"jurisdiction_id": CODE}
    ) as r:
        assert r.status == 404 and xml_errors(ET.fromstring(await r.read()))[0][0] == "404"

    got, discovery = await o311.call("GET", "discovery", jurisdiction_id=None)
    assert got == 200 and discovery["endpoints"][0]["url"].endswith("/open311/v2")
    got, root = await o311.call("GET", "discovery", "xml", jurisdiction_id=None)
    assert tags(root) == ["changeset", "contact", "key_service", "endpoints"]
    assert [f.text for f in root.find("endpoints/endpoint/formats")] == [
        "text/xml",
        "application/json",
    ]


async def test_a_filed_request_reaches_staff_and_can_be_tracked(o311):
    leader = await o311.hire("leader")
    got, created = await o311.file(
        leader,
        service_code="road",
        address_string="Xóm 3, Bản Phố",
        description="Ổ gà sâu trước nhà văn hóa, gọi tôi 0912 345 678 nếu cần",
        first_name="Văn An",
        last_name="Nguyễn",
        phone="0912345678",
        email="an@example.org",
        media_url="https://example.org/o-ga.jpg",
        device_id="d-1",
        account_id="a-1",
        **{"attribute[WHISPAWN]": "1"},
    )
    assert got == 201 and len(created) == 1 and list(created[0]) == CREATED_FIELDS
    code, token = created[0]["service_request_id"], created[0]["token"]
    assert re.fullmatch(r"PA-20\d\d-000001", code) and created[0]["account_id"] is None
    assert "Xã sẽ trả lời trước" in created[0]["service_notice"]

    # staff see it as any other report, with the reporter (who gave their identity)
    got, ticket = await o311.staff(leader, "GET", f"/tickets/{code}")
    assert got == 200 and ticket["source"] == "open311" and ticket["village"] == "Bản Phố"
    assert ticket["office"]["code"] == "diachinh" and ticket["address"] == "Xóm 3, Bản Phố"
    assert ticket["reporter"]["name"] == "Nguyễn Văn An"
    assert ticket["reporter"]["phone"] == "0912345678"
    assert ticket["media"] == [{"type": "image", "url": "https://example.org/o-ga.jpg"}]
    assert ticket["history"][0]["actor"] == "open311" and ticket["history"][0]["staff"]

    # the public: the report's words (its client published them), never who sent it
    got, [request] = await o311.call("GET", f"requests/{code}")
    assert got == 200 and request["service_request_id"] == code and request["status"] == "open"
    assert request["description"].startswith("Ổ gà sâu") and "0912" not in request["description"]
    assert request["agency_responsible"] == "Địa chính - Xây dựng"
    assert request["address"] == "Xóm 3, Bản Phố, Xã Thử Nghiệm 1"
    assert request["media_url"] == "https://example.org/o-ga.jpg"
    assert request["status_notes"].startswith("Đã tiếp nhận")
    assert "Nguyễn" not in json.dumps(request, ensure_ascii=False)
    got, root = await o311.call("GET", f"requests/{code.lower()}", "xml")
    assert got == 200 and root.tag == "service_requests" and tags(root) == ["request"]
    assert root[0].findtext("service_request_id") == code

    got, tokens = await o311.call("GET", f"tokens/{token}")
    assert got == 200 and tokens == [{"service_request_id": code, "token": token}]
    got, root = await o311.call("GET", f"tokens/{token}", "xml")
    assert tags(root[0]) == ["service_request_id", "token"]
    assert (await o311.call("GET", "tokens/nope"))[0] == 404
    assert (await o311.call("GET", "requests/PA-2020-999999", "xml"))[0] == 404
    # another commune does not have it
    assert (await o311.call("GET", f"requests/{code}", jurisdiction_id=CODE2))[0] == 404
    assert (await o311.call("GET", f"tokens/{token}", jurisdiction_id=CODE2))[0] == 404

    # XML, a JSON body, coordinates only, nobody named: anonymous
    got, root = await o311.call(
        "POST",
        "requests",
        "xml",
        jurisdiction_id=None,
        json_body={
            "jurisdiction_id": CODE,
            "api_key": leader,
            "service_code": "environment",
            "lat": 21.5,
            "long": 103.1,
            "description": "Rác đổ ra suối",
        },
    )
    assert got == 201 and root.tag == "service_requests" and tags(root[0]) == CREATED_FIELDS
    assert root[0].findtext("account_id") == "" and root[0].findtext("token")
    got, ticket = await o311.staff(
        leader, "GET", f"/tickets/{root[0].findtext('service_request_id')}"
    )
    assert ticket["reporter"] == {"anonymous": True} and ticket["lat"] == 21.5
    assert ticket["village"] is None and ticket["address"] is None


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_requests_are_refused_in_the_standard_shape_and_store_nothing(o311, fmt):
    leader, theirs = await o311.hire("leader"), await o311.hire("leader", CODE2)
    gone = await o311.hire("officer")
    async with o311.running.services.sm() as s, s.begin():
        await s.execute(
            update(StaffKey)
            .where(
                StaffKey.staff_id
                == select(Staff.id).where(Staff.name == f"officer {CODE}").scalar_subquery()
            )
            .values(revoked_at=utcnow())
        )
    where = {"address_string": "Nậm Mòn"}
    cases = [
        (403, "api_key", dict(service_code="road", **where)),
        (403, "api_key", dict(api_key="cb_not-a-key", service_code="road", **where)),
        (403, "api_key", dict(api_key=theirs, service_code="road", **where)),
        (403, "api_key", dict(api_key=gone, service_code="road", **where)),
        (400, "service_code", dict(api_key=leader, service_code="weather", **where)),
        (400, "service_code", dict(api_key=leader, **where)),
        (400, "location", dict(api_key=leader, service_code="road", description="ổ gà")),
        (400, "lat", dict(api_key=leader, service_code="road", lat="21.5")),
        (400, "lat", dict(api_key=leader, service_code="road", lat="north", long="103")),
        (
            400,
            "media_url",
            dict(api_key=leader, service_code="road", media_url="javascript:x", **where),
        ),
        (400, "phone", dict(api_key=leader, service_code="road", phone="0" * 30, **where)),
    ]
    for status, word, form in cases:
        got, body = await o311.file(None, fmt, **form)
        if fmt == "json":
            [(code, description)] = [(str(e["code"]), e["description"]) for e in body]
        else:
            [(code, description)] = xml_errors(body)
        assert (got, code) == (status, str(status)), (form, body)
        assert word in description, description
    got, body = await o311.call(
        "POST",
        "requests",
        fmt,
        jurisdiction_id=None,
        data={"api_key": leader, "service_code": "road", **where},
    )
    assert got == 400
    assert "jurisdiction_id" in (
        body[0]["description"] if fmt == "json" else xml_errors(body)[0][1]
    )
    assert (
        await o311.call(
            "POST",
            "requests",
            fmt,
            jurisdiction_id=None,
            data={"jurisdiction_id": "99999", "api_key": leader, "service_code": "road", **where},
        )
    )[0] == 404
    assert await o311.tickets() == 0


async def test_requests_filter_by_status_service_and_date(o311):
    leader = await o311.hire("leader")
    codes = {}
    for service_code in ("road", "environment", "fire", "social"):
        _, [created] = await o311.file(
            leader, service_code=service_code, address_string="Nậm Mòn", description=service_code
        )
        codes[service_code] = created["service_request_id"]
    got, _ = await o311.staff(
        leader,
        "POST",
        f"/tickets/{codes['environment']}/reject",
        {"note": "Không thuộc thẩm quyền của xã"},
    )
    assert got == 200
    async with o311.running.services.sm() as s, s.begin():  # filed long ago
        await s.execute(
            update(Ticket)
            .where(Ticket.code == codes["social"])
            .values(received_at=utcnow() - timedelta(days=100))
        )

    async def listed(fmt: str = "json", **params: Any) -> list[str]:
        got, body = await o311.call("GET", "requests", fmt, **params)
        assert got == 200, body
        if fmt == "xml":
            return [r.findtext("service_request_id") for r in body]
        return [r["service_request_id"] for r in body]

    # the last 90 days by default, newest first
    assert await listed() == [codes["fire"], codes["environment"], codes["road"]]
    assert await listed("xml", status="open") == [codes["fire"], codes["road"]]
    assert await listed(status="closed") == [codes["environment"]]
    assert await listed(status="open,closed", service_code="road,social") == [codes["road"]]
    got, [rejected] = await o311.call("GET", "requests", service_code="environment")
    assert rejected["status"] == "closed" and rejected["service_notice"] is None
    assert rejected["status_notes"].startswith("Không được thụ lý")

    old = to_vn(utcnow() - timedelta(days=100))
    start, end = (old - timedelta(days=1)).isoformat(), (old + timedelta(days=1)).isoformat()
    assert await listed(start_date=start, end_date=end) == [codes["social"]]
    assert await listed("xml", start_date=start) == [codes["social"]]  # 90 days from the start
    assert await listed(end_date=end) == [codes["social"]]  # 90 days up to the end
    recent = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(await listed(start_date=recent)) == 3
    # a client that did not encode the "+" of "+07:00" (it arrives as a space) is understood
    local = to_vn(utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+07:00")
    async with o311.http.get(
        URL(
            f"{o311.running.url}/open311/v2/requests.json?"
            f"jurisdiction_id={CODE}&start_date={local}",
            encoded=True,
        )
    ) as r:
        assert r.status == 200 and len(await r.json()) == 3
    # the id list overrides every other argument
    assert await listed(
        service_request_id=f"{codes['social']},{codes['road'].lower()}", status="closed"
    ) == [codes["road"], codes["social"]]

    for bad in (
        {"status": "pending"},
        {"service_code": "weather"},
        {"start_date": "yesterday"},
        {"start_date": "0001-01-01T00:00:00+07:00"},
        {"start_date": "9999-12-31T00:00:00"},
        {"end_date": "0001-01-02T00:00:00Z"},
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
    ):
        got, errors = await o311.call("GET", "requests", **bad)
        assert got == 400 and errors[0]["code"] == 400, bad

    # handed to an outside body, or a duplicate: closed for the commune, and the notes say why
    await o311.staff(leader, "POST", f"/tickets/{codes['fire']}/duplicate", {"of": codes["road"]})
    await o311.staff(
        leader,
        "POST",
        f"/tickets/{codes['road']}/transfer",
        {"body": "Hạt giao thông huyện, ĐT 0214 3800 800"},
    )
    _, [fire, road] = await o311.call("GET", "requests", service_code="road,fire")
    assert road["status"] == "closed" and road["status_notes"].startswith("Đã chuyển: Hạt")
    assert road["agency_responsible"] == "Hạt giao thông huyện, ĐT ***"
    assert fire["status"] == "closed" and fire["status_notes"] == f"Trùng phản ánh {codes['road']}"


async def test_a_chat_report_is_not_public_until_published_and_a_sensitive_one_never(o311):
    leader = await o311.hire("leader")
    sim, user = o311.running.sim, "8101"
    await sim.user_sends(
        OA, user, "user_submit_info", info={"name": "Lò Văn A", "phone": "0912345678"}
    )
    await sim.wait_for_messages(1, oa_id=OA, user_id=user)
    # a burglary under way: filed at once (a theft last night is no emergency: issue 10)
    await o311.says(user, "có trộm đang cạy cửa nhà ở Bản Phố")
    burglary = re.search(r"PA-\d{4}-\d{6}", await o311.says(user, "đồng ý")).group(0)
    _, ticket = await o311.staff(leader, "GET", f"/tickets/{burglary}")
    assert ticket["source"] == "zalo" and ticket["reporter"]["phone"] == "0912345678"
    # a report taken by phone: told to the commune only
    _, taken = await o311.staff(
        leader,
        "POST",
        "/tickets",
        {
            "category": "road",
            "description": "Cống vỡ, gọi tôi an@example.org, CCCD 001234567890",
            "village": "Nậm Mòn",
            "address": "trước nhà bà Lù Thị B",
            "lat": 22.543219,
            "long": 104.287654,
        },
    )
    road = taken["code"]

    # ticket codes are sequential: a code that is not public is answered as one that is not
    # there, in the list, by id and by id list alike
    missing = await o311.call("GET", "requests/PA-2020-999999")
    for code in (burglary, road):
        assert await o311.call("GET", f"requests/{code}") == missing
        assert await o311.call("GET", "requests", service_request_id=code) == (200, [])
    for fmt in ("json", "xml"):
        async with o311.http.get(
            f"{o311.running.url}/open311/v2/requests.{fmt}", params={"jurisdiction_id": CODE}
        ) as r:
            raw = await r.text()
        for secret in (burglary, road, "Lò Văn A", "0912345678", "cạy cửa", "Cống vỡ"):
            assert secret not in raw, (fmt, secret)

    # once staff publish it, the public reads the report and the answer — masked: phones,
    # e-mail addresses, ID-card numbers; coordinates to ~100 m
    await o311.staff(
        leader,
        "POST",
        f"/tickets/{road}/answer",
        {"note": "Đã sửa; cần gì gọi 0987 654 321 hoặc xa@bacha.gov.vn."},
    )
    got, _ = await o311.staff(leader, "POST", f"/tickets/{road}/publish")
    assert got == 200
    _, [request] = await o311.call("GET", f"requests/{road}")
    assert request["status"] == "closed" and request["description"].startswith("Cống vỡ")
    assert request["address"] == "trước nhà bà Lù Thị B, Nậm Mòn, Xã Thử Nghiệm 1"
    assert (request["lat"], request["long"]) == (22.543, 104.288)
    shown = json.dumps(request, ensure_ascii=False)
    for secret in ("an@example.org", "001234567890", "0987", "xa@bacha.gov.vn"):
        assert secret not in shown, secret
    assert "Đã sửa" in request["status_notes"] and request["service_notice"] is None

    # a sensitive category (security, land, complaints about staff) is never public
    await o311.staff(
        leader, "POST", f"/tickets/{burglary}/answer", {"note": "Công an xã đã xác minh."}
    )
    got, body = await o311.staff(leader, "POST", f"/tickets/{burglary}/publish")
    assert got == 409 and "nhạy cảm" in body["error"]
    assert await o311.call("GET", f"requests/{burglary}") == missing


async def test_every_item_has_the_specs_fields(o311):
    leader = await o311.hire("leader")
    await o311.file(
        leader,
        service_code="utilities",
        lat="21.4",
        long="103.0",
        description="Mất nước\x07 cả xóm",
    )  # a control character: XML still parses
    await o311.file(leader, service_code="disaster", address_id="KV-12")
    await o311.says("8102", "đèn đường hỏng ở Nậm Mòn")
    await o311.says("8102", "bỏ qua")
    await o311.says("8102", "không")
    assert await o311.tickets() == 3

    got, requests = await o311.call("GET", "requests")
    assert got == 200 and len(requests) == 2  # the chat report is not public
    for request in requests:
        assert list(request) == REQUEST_FIELDS, request
        assert request["status"] in ("open", "closed")
        for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
            assert W3C.match(request[field]), request[field]
        assert request["address_id"] is None and request["zipcode"] is None
    assert [r["address"] for r in requests][0] == "KV-12, Xã Thử Nghiệm 1"
    got, root = await o311.call("GET", "requests", "xml")
    assert root.tag == "service_requests" and len(root) == 2
    for node in root:
        assert node.tag == "request" and tags(node) == REQUEST_FIELDS
        assert node.find("zipcode").text is None  # empty, not left out

    _, services = await o311.call("GET", "services")
    assert all(list(s) == SERVICE_FIELDS for s in services)
    assert all(s["service_name"] and s["description"] for s in services)
