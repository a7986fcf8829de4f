"""The README's staff path, through the real pieces: `bot staff add` / `bot staff check` as
processes, residents and staff writing through the Zalo simulator, the staff API over HTTP.

An officer added without an office works at the commune's first one (so ``office=mine`` finds
the residents' reports); the commands and the API warn while no leader, or no propagandist of a
village, can be reached on Zalo; the key alone can be captured; API times are Vietnamese time
with their offset. SQLite and PostgreSQL."""

from __future__ import annotations

import re

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.staff import StaffError, add_staff
from bot.store.models import Staff
from tests.helpers import (
    KEY,
    Cli,
    Commune,
    commune_code,
    make_settings,
    oa_id,
    start_service,
    ticket_code,
)

OA, CODE = oa_id(1), commune_code(1)
VN_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00")


@pytest.fixture
async def commune(store_url, sim):
    running = await start_service(make_settings(store_url, sim, communes=1), sim)
    async with aiohttp.ClientSession() as http:
        yield Commune(running, http)
    await running.runner.cleanup()


def codes(body: dict) -> list[tuple[str, str, str | None]]:
    return [(w["code"], w["reason"], w.get("village")) for w in body["warnings"]]


async def test_the_readme_staff_path_warns_until_alerts_reach_someone(commune, tmp_path):
    bot = Cli(commune, tmp_path)

    # the officer's key alone on stdout, so OFFICER_KEY=$(bot staff add … --quiet) keeps it;
    # the warnings on stderr: no leader at all, no propagandist in either village
    rc, out, err = await bot(
        "add", "--commune", CODE, "--name", "Cán bộ Văn phòng", "--role", "officer", "--quiet"
    )
    assert rc == 0, err
    assert KEY.fullmatch(out.strip()) and out.count("\n") == 1, out
    officer = out.strip()
    assert "no leader: emergency and overdue alerts reach no one" in err
    assert [line.split(":")[1].strip() for line in err.splitlines()[1:]] == ["Nậm Mòn", "Bản Phố"]

    # without --office the officer works at the commune's first office, where reports go
    code = await commune.report("8101", "đèn đường ở thôn Nậm Mòn bị hỏng")
    status, mine = await commune.call(officer, "GET", "/tickets?office=mine")
    assert status == 200 and [t["code"] for t in mine["tickets"]] == [code]
    assert mine["tickets"][0]["office"]["code"] == "vanphong"

    # a leader with a Zalo id who never wrote to the OA: Zalo would refuse the alert
    rc, out, err = await bot(
        "add",
        "--commune",
        CODE,
        "--name",
        "Chủ tịch UBND",
        "--role",
        "leader",
        "--zalo-user-id",
        "7101",
    )
    assert rc == 0 and "office" not in out.splitlines()[0] and KEY.search(out), (out, err)
    leader = KEY.search(out).group(0)
    assert "no leader wrote to the OA in 7 days" in err
    rc, out, err = await bot("check", "--commune", CODE)
    assert rc == 1 and "no leader wrote to the OA in 7 days" in err and "Bản Phố" in err
    status, body = await commune.call(leader, "GET", "/warnings")
    assert status == 200 and codes(body) == [
        ("no_leader_on_zalo", "window", None),
        ("village_without_propagandist", "none", "Nậm Mòn"),
        ("village_without_propagandist", "none", "Bản Phố"),
    ]

    # once the leader writes to the OA, the README's emergency reaches them
    await commune.says("7101", "xin chào")
    said = await commune.says("8102", "cháy nhà ở thôn Bản Phố, có người còn kẹt trong nhà")
    alert = (await commune.alerts("7101", 1))[0]
    assert alert.startswith("KHẨN") and ticket_code(said) in alert

    # propagandists: one without a Zalo id cannot relay; with one who wrote, nothing is left
    async with commune.running.services.sm() as s, s.begin():
        await add_staff(s, CODE, "TTV Nậm Mòn", "propagandist", "Nậm Mòn")
    _, body = await commune.call(officer, "GET", "/warnings")
    assert codes(body) == [
        ("village_without_propagandist", "no_zalo", "Nậm Mòn"),
        ("village_without_propagandist", "none", "Bản Phố"),
    ]
    await commune.hire("propagandist", village="Nậm Mòn", zalo="7102")
    await commune.hire("propagandist", village="Bản Phố", zalo="7103")
    rc, out, err = await bot("check", "--commune", CODE)
    assert rc == 0 and not err and "can be reached on Zalo" in out, (out, err)
    assert (await commune.call(officer, "GET", "/warnings"))[1] == {"warnings": []}


async def test_bad_staff_input_changes_nothing(commune):
    offices = [o.code for o in commune.running.settings.communes[0].offices]
    async with commune.running.services.sm() as s, s.begin():
        await add_staff(s, CODE, "Chủ tịch", "leader", zalo_user_id="7401")
    for args, problem in (
        ((CODE, "X", "officer", None, None, "diachinh"), "not an office"),
        ((CODE, "X", "leader", None, "7401"), "already belongs"),
        ((CODE, "X", "propagandist"), "give --village"),
        ((CODE, "X", "publisher"), "has no province"),  # this commune has none set
    ):
        with pytest.raises(StaffError, match=problem):
            async with commune.running.services.sm() as s, s.begin():
                await add_staff(s, *args, offices=offices)
    async with commune.running.services.sm() as s:
        assert (await s.execute(select(func.count()).select_from(Staff))).scalar() == 1


async def test_notices_and_the_summary_say_whom_they_cannot_reach(commune):
    officer = await commune.hire("officer")
    leader = await commune.hire("leader")  # no Zalo id
    notice = {"category": "safety", "headline": "Lịch tiêm chủng", "body": "Ngày 25/12."}

    status, draft = await commune.call(
        officer, "POST", "/notices", {**notice, "villages": ["nam mon"]}
    )
    assert status == 201 and codes(draft) == [("village_without_propagandist", "none", "Nậm Mòn")]
    status, whole = await commune.call(officer, "POST", "/notices", notice)
    assert [v for _, _, v in codes(whole)] == ["Nậm Mòn", "Bản Phố"]  # every village's relay
    _, summary = await commune.call(leader, "GET", "/tickets/summary")
    assert codes(summary) == [("no_leader_on_zalo", "no_zalo", None)]  # overdue alerts

    await commune.hire("propagandist", village="Nậm Mòn", zalo="7201")
    status, submitted = await commune.call(officer, "POST", f"/notices/{draft['id']}/submit")
    assert status == 200 and submitted["warnings"] == []
    _, shown = await commune.call(leader, "GET", f"/notices/{whole['id']}")
    assert codes(shown) == [("village_without_propagandist", "none", "Bản Phố")]
    _, listed = await commune.call(leader, "GET", "/notices")
    assert all("warnings" not in n for n in listed["notices"])  # lists stay light


async def test_api_times_are_vietnamese_time_with_their_offset(commune):
    officer = await commune.hire("officer")
    status, draft = await commune.call(
        officer,
        "POST",
        "/notices",
        {
            "category": "services",
            "headline": "Cắt điện",
            "body": "Cắt điện thôn Nậm Mòn.",
            "effective_at": "2026-06-15T07:30:00",  # no offset: Vietnamese time
            "expires_at": "2026-06-15T09:30:00+00:00",
        },
    )  # any offset is understood
    assert status == 201, draft
    assert draft["effective_at"] == "2026-06-15T07:30:00+07:00"
    assert draft["expires_at"] == "2026-06-15T16:30:00+07:00"
    assert VN_TIME.fullmatch(draft["created_at"])  # to the second, with the offset
    _, shown = await commune.call(officer, "GET", f"/notices/{draft['id']}")
    assert all(VN_TIME.fullmatch(a["at"]) for a in shown["audit"])

    code = await commune.report("8301", "đèn đường ở thôn Nậm Mòn bị hỏng")
    _, ticket = await commune.call(officer, "GET", f"/tickets/{code}")
    for field in ("received_at", "ack_due_at", "due_at"):
        assert VN_TIME.fullmatch(ticket[field]), (field, ticket[field])
    assert VN_TIME.fullmatch(ticket["chat"]["open_until"])
    assert all(VN_TIME.fullmatch(h["at"]) for h in ticket["history"])

    # the answers are UTF-8 JSON: Vietnamese letters as they are, not \\u escapes
    url = f"{commune.running.url}/api/v1/communes/{CODE}/tickets/{code}"
    async with commune.http.get(url, headers={"Authorization": f"Bearer {officer}"}) as r:
        raw = await r.text()
    assert "Nậm Mòn" in raw and "\\u" not in raw

    # Open311 shows a chat report once staff publish it (until then it is the commune's only)
    assert (
        await commune.call(
            officer, "POST", f"/tickets/{code}/answer", {"note": "Xã đã thay bóng đèn."}
        )
    )[0] == 200
    assert (await commune.call(officer, "POST", f"/tickets/{code}/publish"))[0] == 200
    async with commune.http.get(
        f"{commune.running.url}/open311/v2/requests/{code}.json", params={"jurisdiction_id": CODE}
    ) as r:
        [public] = await r.json()
    assert VN_TIME.fullmatch(public["requested_datetime"])
