"""A province department's publisher (role ``publisher``, issue 14: "a notice to many communes
at once from a province or department publisher") through the real service: over the province
API and the console's "Thông báo toàn tỉnh" they have exactly the province operator's rights —
copies waiting for each commune's leader, or an emergency sent directly where the province says
so — and nothing else: every commune route of the API and every other console page refused,
another province's notices 404, the console's nav showing the one screen they land on. Only a
province operator adds or manages a publisher, never a commune leader (API and console). The
emergency confirmation's "Quay lại" gives the compose form back as it was typed. SQLite and
PostgreSQL."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import select, update

from bot.config import ProvinceSettings
from bot.store.models import Commune as CommuneRow
from bot.store.models import Notice, ProvinceNotice, Staff
from tests.helpers import make_settings, oa_id, quiet_around_now, start_service, wait_idle
from tests.test_console import CSRF, signed_in
from tests.test_console_province import (  # noqa: F401 - the fixture
    CODE,
    CODE2,
    CODE3,
    CODE4,
    HEADLINE,
    NEW,
    chatting_resident,
    copies,
    count,
    form,
    post,
    running,
)
from tests.test_province_notices import (  # noqa: F401 - the fixtures
    C1,
    C2,
    C3,
    C4,
    NOTICE,
    desk,
    direct_desk,
)

NAV = re.compile(r"<nav[^>]*>(.*?)</nav>", re.S)


def nav_links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', NAV.search(html).group(1))  # type: ignore[union-attr]


# -- the API ----------------------------------------------------------------------------------
async def api(d, key: str, method: str, path: str, json=None) -> int:  # type: ignore[no-untyped-def]
    async with d.http.request(
        method,
        d.running.url + path,
        json=json,
        headers={"Authorization": f"Bearer {key}"},
    ) as r:
        return r.status


async def test_a_publisher_sends_over_the_api_and_may_do_nothing_else(desk):  # noqa: F811
    users = {n: await desk.resident(n) for n in (1, 2)}
    publisher = await desk.hire("publisher", code=C1)
    leader2 = await desk.hire("leader", code=C2)

    status, sent, _ = await desk.send(publisher, {**NOTICE, "communes": [C1, C2, C3]})
    assert status == 201, sent
    assert sent["direct"] is False and sent["states"] == {"submitted": 3}
    children = {c["commune"]: c for c in sent["communes"]}
    # each commune's copy waits for its leader, as an operator's does
    status, copy = await desk.call(leader2, "GET", f"/{children[C2]['notice']}", code=C2)
    assert status == 200 and copy["status"] == "submitted"
    assert [(a["action"], a["staff_id"]) for a in copy["audit"]] == [
        ("create", sent["created_by"]),
        ("submit", sent["created_by"]),
    ]
    status, approved = await desk.call(
        leader2, "POST", f"/{children[C2]['notice']}/approve", code=C2
    )
    assert status == 200 and approved["status"] == "scheduled"
    await desk.running.sim.wait_for_messages(2, oa_id=oa_id(2), user_id=users[2])
    await wait_idle(desk.running)
    assert (
        NOTICE["headline"]
        in desk.running.sim.messages(oa_id(2), users[2])[1].body["message"]["text"]
    )
    assert desk.received(1, users[1]) == 1  # commune 1's leader has not approved

    # the notice: theirs to read (the API has no list; the console has)
    read = await desk.settled(publisher, sent["id"], {"submitted": 2, "sent": 1})
    assert read["delivered"] == 1
    # another province's: 404, as for its operator
    assert (await desk.send(publisher, {**NOTICE, "communes": [C4]}, code="20"))[0] == 404
    other = await desk.hire("operator", code=C4)
    status, theirs, _ = await desk.send(other, {**NOTICE, "communes": [C4]}, code="20")
    assert status == 201
    assert (await desk.province(publisher, "GET", f"/{theirs['id']}"))[0] == 404
    assert (await desk.province(publisher, "GET", f"/{theirs['id']}", code="20"))[0] == 404

    # every commune route: refused, their own commune's as much as another's
    me = (await _staff(desk, "publisher"))[0]
    copy1 = children[C1]["notice"]
    for code in (C1, C2):
        base = f"/api/v1/communes/{code}"
        for method, path, body in (
            ("GET", "/notices", None),
            ("POST", "/notices", NOTICE),
            ("GET", f"/notices/{copy1}", None),
            ("POST", f"/notices/{copy1}/approve", None),
            ("GET", "/tickets", None),
            ("GET", "/tickets/summary", None),
            ("POST", "/tickets", {"category": "other", "description": "x"}),
            ("GET", "/handoffs", None),
            ("GET", "/knowledge", None),
            ("POST", "/knowledge", {"question": "Giờ làm việc?", "answer": "7h30"}),
            ("GET", "/misses", None),
            ("GET", "/knowledge/export", None),
            ("GET", "/staff", None),
            ("POST", f"/staff/{me}/rotate-key", None),
            ("POST", f"/staff/{me}/deactivate", None),
            ("GET", "/warnings", None),
            ("POST", "/residents/123456/erase", None),
        ):
            got = await api(desk, publisher, method, base + path, body)
            assert got in (403, 404) and (code != C1 or got == 403), (method, code, path, got)
    # nothing of the above changed anything: still the same copy, still submitted
    async with desk.running.services.sm() as s:
        assert (await s.get_one(Notice, copy1)).status == "submitted"
    assert await desk.count(ProvinceNotice) == 2


async def _staff(d, role: str) -> list[int]:  # type: ignore[no-untyped-def]
    async with d.running.services.sm() as s:
        return list((await s.execute(select(Staff.id).where(Staff.role == role))).scalars())


async def test_a_publisher_sends_an_emergency_directly_where_the_province_says_so(direct_desk):  # noqa: F811
    d = direct_desk
    users = {n: await d.resident(n) for n in (1, 2)}
    publisher = await d.hire("publisher", code=C3)
    emergency = {**NOTICE, "priority": "emergency", "headline": "Lũ quét: sơ tán ngay"}
    status, sent, _ = await d.send(publisher, {**emergency, "communes": [C1, C2]})
    assert status == 201 and sent["direct"] is True, sent
    for n in (1, 2):
        await d.running.sim.wait_for_messages(2, oa_id=oa_id(n), user_id=users[n])
        text = d.running.sim.messages(oa_id(n), users[n])[1].body["message"]["text"]
        assert "Lũ quét: sơ tán ngay" in text
    await d.settled(publisher, sent["id"], {"sent": 2})


async def test_only_a_province_operator_manages_a_publisher_over_the_api(desk):  # noqa: F811
    publisher_key = await desk.hire("publisher", code=C1)
    leader = await desk.hire("leader", code=C1)
    operator = await desk.hire("operator", code=C2)
    (publisher,) = await _staff(desk, "publisher")
    base = f"/api/v1/communes/{C1}/staff/{publisher}"
    for action in ("rotate-key", "deactivate"):
        assert await api(desk, leader, "POST", f"{base}/{action}") == 403, action
    assert await api(desk, leader, "DELETE", f"{base}/key") == 403
    assert (await desk.send(publisher_key, {**NOTICE, "communes": [C2]}))[0] == 201  # still works
    # the province operator may
    assert await api(desk, operator, "POST", f"{base}/deactivate") == 200
    assert (await desk.send(publisher_key, {**NOTICE, "communes": [C2]}))[0] == 401


# -- the console ------------------------------------------------------------------------------
CONSOLE_PAGES = (
    "/console/inbox",
    "/console/inbox/count",
    "/console/notices",
    "/console/notices/new",
    "/console/questions",
    "/console/knowledge",
    "/console/knowledge/export",
    "/console/facts",
    f"/console/facts/{CODE}",
    "/console/dashboard",
    "/console/report",
    "/console/health",
    f"/console/health/{CODE}",
    "/console/staff",
    "/console/audit",
    "/console/zalo",
    f"/console/zalo/{CODE}",
)


async def test_a_publisher_in_the_console(running):  # noqa: F811
    user2 = await chatting_resident(running, 2)
    publisher = await signed_in(running, "so.vh", role="publisher", name="Sở Văn hoá tỉnh")
    leader2 = await signed_in(running, "hoa.ct2", role="leader", code=CODE2, name="Hà Thị Hoa")
    far = await signed_in(running, "tinh.66", role="operator", code=CODE4)
    try:
        # signed in, they land on the province notices; the nav has that page and sign-out only
        status, _html, r = await publisher.get("/console/")
        assert status == 303 and r.headers["Location"] == "/console/province-notices"
        status, html, _ = await publisher.get("/console/province-notices")
        assert status == 200, html
        assert nav_links(html) == ["/console/province-notices"]
        assert 'action="/console/logout"' in NAV.search(html).group(1)  # type: ignore[union-attr]

        # they compose and send, as an operator does; each commune's copy waits for its leader
        status, html, _ = await publisher.get(NEW)
        assert status == 200 and set(re.findall(r'name="communes" value="(\d+)"', html)) == {
            CODE,
            CODE2,
            CODE3,
        }
        assert nav_links(html) == ["/console/province-notices"]
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        status, _, r = await post(publisher, NEW, form(token, "p" * 22))
        assert status == 303 and r.headers["Location"].endswith("?done=created"), _
        pid = int(r.headers["Location"].split("/")[-1].split("?")[0])
        found = await copies(running, pid)
        assert set(found) == {CODE, CODE2} and {n.status for n in found.values()} == {"submitted"}
        # the detail page: every copy's state, but no link into a commune's notice pages
        status, html, _ = await publisher.get(f"/console/province-notices/{pid}")
        assert status == 200 and "Chờ duyệt: 2" in html and "Sở Văn hoá tỉnh" in html
        assert "/console/notices/" not in html
        status, html, _ = await publisher.get("/console/province-notices")
        assert HEADLINE in html and "2 xã" in html

        # commune 2's leader approves their copy: their residents get it
        ltoken = await leader2.csrf(f"/console/notices/{found[CODE2].id}")
        status, _, _ = await leader2.post(
            f"/console/notices/{found[CODE2].id}/approve", {"csrf": ltoken}
        )
        assert status == 303
        await running.sim.wait_for_messages(2, oa_id=oa_id(2), user_id=user2)
        assert HEADLINE in running.sim.messages(oa_id(2), user2)[1].body["message"]["text"]

        # every other page: refused (the 403 page, or the 404 of the pages that answer so)
        for path in (
            *CONSOLE_PAGES,
            f"/console/notices/{found[CODE].id}",
            f"/console/notices/{found[CODE2].id}",
        ):
            status, html, _ = await publisher.get(path)
            assert status in (403, 404), (path, status)
            assert HEADLINE not in html.split("<main")[-1], path
        status, html, _ = await publisher.get("/console/dashboard")
        assert status == 403 and nav_links(html) == [
            "/console/province-notices"
        ]  # the nav on a refusal too
        for path, data in (
            (f"/console/notices/{found[CODE].id}/approve", {}),
            ("/console/notices/new", {"headline": "x"}),
            ("/console/staff", {"name": "X", "role": "officer", "login": "x.y"}),
            (f"/console/facts/{CODE}", {}),
        ):
            status, _, _ = await publisher.post(path, {"csrf": token, **data})
            assert status in (403, 404), (path, status)
        assert {n.status for n in (await copies(running, pid)).values()} <= {
            "submitted",
            "scheduled",
            "sending",
            "sent",
        }
        assert (await copies(running, pid))[CODE].status == "submitted"

        # another province's notice: 404; its list shows none of theirs
        ftoken = await far.csrf("/console/province-notices/new")
        status, _, r = await post(
            far, NEW, form(ftoken, "f" * 22, communes=[CODE4], headline="Tin tỉnh khác")
        )
        assert status == 303
        fid = int(r.headers["Location"].split("/")[-1].split("?")[0])
        status, html, _ = await publisher.get(f"/console/province-notices/{fid}")
        assert status == 404 and "Tin tỉnh khác" not in html
        status, html, _ = await publisher.get("/console/province-notices")
        assert "Tin tỉnh khác" not in html
    finally:
        for b in (publisher, leader2, far):
            await b.close()


async def test_only_an_operator_adds_a_publisher_in_the_console(running):  # noqa: F811
    leader = await signed_in(running, "ct.xa", role="leader")
    operator = await signed_in(running, "tinh.qt", role="operator", code=CODE2)
    try:
        # a leader: no such choice, and a form naming it anyway adds nobody
        status, html, _ = await leader.get("/console/staff")
        assert status == 200 and 'value="publisher"' not in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        status, html, _ = await leader.post(
            "/console/staff",
            {"csrf": token, "name": "Phạm Thu Hà", "role": "publisher", "login": "ha.pt"},
        )
        assert status == 400 and "Vui lòng chọn vai trò." in html
        async with running.services.sm() as s:
            assert (await s.execute(select(Staff).where(Staff.role == "publisher"))).first() is None

        # the province operator adds one in commune 1: the invitation link, then the role shown
        status, html, _ = await operator.get(f"/console/staff?commune={CODE}")
        assert status == 200 and 'value="publisher"' in html
        assert "Cán bộ sở, ngành (đăng thông báo toàn tỉnh)" in html
        otoken = CSRF.search(html).group(1)  # type: ignore[union-attr]
        status, html, _ = await operator.post(
            "/console/staff",
            {
                "csrf": otoken,
                "commune": CODE,
                "name": "Phạm Thu Hà",
                "role": "publisher",
                "login": "ha.pt",
            },
        )
        assert status == 200 and "/console/invite/" in html, html
        async with running.services.sm() as s:
            added = (await s.execute(select(Staff).where(Staff.login == "ha.pt"))).scalar_one()
        assert added.role == "publisher" and added.office is None

        # commune 1's leader sees them on the list but may not touch them; the operator may
        status, html, _ = await leader.get("/console/staff")
        assert "Phạm Thu Hà" in html
        assert f'action="/console/staff/{added.id}/deactivate"' not in html
        for action in ("invite", "deactivate", "revoke-keys"):
            status, _, _ = await leader.post(f"/console/staff/{added.id}/{action}", {"csrf": token})
            assert status == 403, action
        status, html, _ = await operator.get(f"/console/staff?commune={CODE}")
        assert f'action="/console/staff/{added.id}/deactivate"' in html
    finally:
        for b in (leader, operator):
            await b.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_an_emergency_directly_and_back_to_the_form_as_typed(store_url, sim):
    settings = make_settings(store_url, sim, communes=3, notices=quiet_around_now(False))
    settings = settings.model_copy(
        update={"provinces": {"15": ProvinceSettings(emergency_direct=True)}}
    )
    running = await start_service(settings, sim)  # noqa: F811
    async with running.services.sm() as s, s.begin():
        await s.execute(update(CommuneRow).values(province_code="15"))
    user1 = await chatting_resident(running, 1)
    publisher = await signed_in(running, "so.yt", role="publisher", code=CODE3)
    try:
        status, html, _ = await publisher.get(NEW)
        assert "không chờ lãnh đạo xã duyệt" in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        typed = form(
            token,
            "b" * 22,
            priority="emergency",
            category="security",
            headline='Lũ <quét> "khẩn"',
            body="Sơ tán ngay khỏi ven suối.\nMang theo giấy tờ & thuốc.",
            communes=[CODE, CODE3],
        )
        status, html, _ = await post(publisher, NEW, typed)
        assert status == 200 and "Phát ngay thông báo khẩn tới các xã?" in html
        assert "người dân của 2 xã" in html
        assert await count(running, ProvinceNotice) == 0

        # "Quay lại": the compose form, filled with what was typed; nothing written
        back_form = html.split('name="back" value="1">')[1].split("</form>")[0]
        fields = [
            (k, html_lib.unescape(v))
            for k, v in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', back_form)
        ]
        assert ("communes", CODE) in fields and ("communes", CODE3) in fields
        status, html, _ = await post(
            publisher,
            NEW,
            {
                "back": "1",
                **{k: v for k, v in fields if k != "communes"},
                "communes": [CODE, CODE3],
            },
        )
        assert status == 200 and "Soạn thông báo toàn tỉnh" in html, html
        assert await count(running, ProvinceNotice) == 0
        assert 'value="Lũ &lt;quét&gt; &#34;khẩn&#34;"' in html or (
            'value="Lũ &lt;quét&gt; &quot;khẩn&quot;"' in html
        )
        assert "Sơ tán ngay khỏi ven suối.\nMang theo giấy tờ &amp; thuốc.</textarea>" in html
        assert re.search(r'value="security"\s+selected', html), html
        assert re.search(r'value="emergency"[^>]*(checked|selected)', html), html
        checked = set(re.findall(r'name="communes" value="(\d+)" checked', html))
        assert checked == {CODE, CODE3}
        assert re.search(r'name="to" value="chosen" checked', html)
        # a one-time key of its own: what is sent after going back is a sending of its own
        [again] = re.findall(r'name="once" value="([^"]*)"', html)
        assert again and again != "b" * 22

        # sent after all, confirmed: it goes out at once
        status, html, _ = await post(publisher, NEW, typed)
        send_form = html.split('name="confirmed" value="1">')[1].split("</form>")[0]
        fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', send_form)
        confirmed: dict[str, object] = {
            "confirmed": "1",
            **{k: html_lib.unescape(v) for k, v in fields if k != "communes"},
            "communes": [CODE, CODE3],
        }
        status, _, r = await post(publisher, NEW, confirmed)
        assert status == 303 and r.headers["Location"].endswith("?done=direct"), _
        await running.sim.wait_for_messages(2, oa_id=oa_id(1), user_id=user1)
        assert "Lũ <quét>" in running.sim.messages(oa_id(1), user1)[1].body["message"]["text"]
    finally:
        await publisher.close()
        await running.runner.cleanup()


async def test_back_keeps_every_commune_when_all_was_chosen(running):  # noqa: F811
    """The operator's "Quay lại" after choosing the whole province: "all" is chosen again (the
    province in the test says nothing of emergencies, so this is the back post as such)."""
    operator = await signed_in(running, "tinh.qt", role="operator")
    try:
        token = await operator.csrf(NEW)
        status, html, _ = await post(
            operator,
            NEW,
            {**form(token, "a" * 22, to="all", communes=[CODE2]), "back": "1"},
        )
        assert status == 200 and "Soạn thông báo toàn tỉnh" in html
        assert re.search(r'name="to" value="all" checked', html)
        assert set(re.findall(r'name="communes" value="(\d+)" checked', html)) == {CODE2}
        assert f'value="{HEADLINE}"' in html
        assert await count(running, ProvinceNotice) == 0 and await count(running, Notice) == 0
    finally:
        await operator.close()
