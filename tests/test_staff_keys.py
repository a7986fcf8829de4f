"""Staff keys and accounts can be listed, rotated, revoked, deactivated and reactivated — by
the commune's leaders, a province operator, or (rotation) the holder — through the JSON API
and the `bot staff …` commands; a deactivated staff member's key is refused at once, they get
no alerts and their Zalo commands are not taken. Through the real path: HTTP in, the Zalo
simulator for residents and staff on Zalo. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.store.models import Commune as CommuneRow
from bot.store.models import OutboundMessage, Staff, StaffKey, TicketEvent
from tests.helpers import (
    KEY,
    Cli,
    Commune,
    commune_code,
    make_settings,
    oa_id,
    start_service,
    ticket_code,
    wait_for,
)

CODE, CODE2, CODE3 = commune_code(1), commune_code(2), commune_code(3)
LANDSLIDE = "sạt lở ở thôn Nậm Mòn, đất đá đổ vào nhà dân, mấy hộ chưa kịp ra"  # someone at risk


@pytest.fixture
async def commune(store_url, sim):
    running = await start_service(make_settings(store_url, sim, communes=3), sim)
    async with running.services.sm() as s, s.begin():  # 1 and 2 in one province, 3 in another
        for code, province in ((CODE, "15"), (CODE2, "15"), (CODE3, "66")):
            await s.execute(
                update(CommuneRow).where(CommuneRow.code == code).values(province_code=province)
            )
    async with aiohttp.ClientSession() as http:
        yield Commune(running, http)
    await running.runner.cleanup()


async def staff_id(commune: Commune, name_part: str, code: str = CODE) -> int:
    async with commune.running.services.sm() as s:
        return (
            await s.execute(
                select(Staff.id)
                .join(CommuneRow, CommuneRow.id == Staff.commune_id)
                .where(CommuneRow.code == code, Staff.name.contains(name_part))
            )
        ).scalar_one()


async def works(commune: Commune, key: str, code: str = CODE) -> int:
    return (await commune.call(key, "GET", "/warnings", code=code))[0]


async def test_leaders_list_rotate_revoke_and_deactivate_with_tenancy(commune):
    leader = await commune.hire("leader", office="lead")
    officer = await commune.hire("officer", office="vanphong")
    propagandist = await commune.hire("propagandist", village="Bản Phố")
    operator = await commune.hire("operator", office="prov")
    other_leader = await commune.hire("leader", code=CODE2)
    far_leader = await commune.hire("leader", code=CODE3)
    ids = {
        name: await staff_id(commune, name)
        for name in ("leader", "officer", "propagandist", "operator")
    }
    ids["other"] = await staff_id(commune, "leader", CODE2)

    # the list: everyone of the commune, each key by its first characters, never a key
    async with commune.http.get(
        f"{commune.running.url}/api/v1/communes/{CODE}/staff",
        headers={"Authorization": f"Bearer {leader}"},
    ) as r:
        assert r.status == 200
        raw = await r.text()
    assert not KEY.search(raw) and leader not in raw
    people = {p["id"]: p for p in (await commune.call(leader, "GET", "/staff"))[1]["staff"]}
    assert set(people) == {ids[n] for n in ("leader", "officer", "propagandist", "operator")}
    officer_row = people[ids["officer"]]
    assert officer_row["role"] == "officer" and officer_row["office"] == "vanphong"
    assert officer_row["active"] is True and officer_row["zalo_user_id"] is None
    [key_info] = officer_row["keys"]
    assert key_info["prefix"] == officer[:8] and key_info["created_at"].endswith("+07:00")
    assert people[ids["propagandist"]]["village"] == "Bản Phố"
    # when each key was last used: the leader's just now (the call above), the officer's never
    assert people[ids["leader"]]["keys"][0]["used_at"].endswith("+07:00")
    assert key_info["used_at"] is None

    # who may: not an officer or a propagandist; another commune's leader sees nothing (404),
    # nor may anyone reach another commune's staff through their own commune's path
    for key in (officer, propagandist):
        assert (await commune.call(key, "GET", "/staff"))[0] == 403
        assert (await commune.call(key, "POST", f"/staff/{ids['leader']}/deactivate"))[0] == 403
    assert (await commune.call(other_leader, "GET", "/staff"))[0] == 404
    assert (await commune.call(other_leader, "POST", f"/staff/{ids['officer']}/rotate-key"))[
        0
    ] == 404
    assert (await commune.call(leader, "POST", f"/staff/{ids['other']}/deactivate"))[0] == 404
    assert (await commune.call(leader, "POST", "/staff/99999/rotate-key"))[0] == 404
    # leaders do not manage the province's operator, and nobody locks themselves out
    assert (await commune.call(leader, "POST", f"/staff/{ids['operator']}/deactivate"))[0] == 403
    assert (await commune.call(leader, "POST", f"/staff/{ids['leader']}/deactivate"))[0] == 409
    assert (await commune.call(leader, "DELETE", f"/staff/{ids['leader']}/key"))[0] == 409

    # anyone rotates their own key: the new one works, the old one is refused at once
    got, body = await commune.call(officer, "POST", f"/staff/{ids['officer']}/rotate-key")
    assert (
        got == 200
        and KEY.fullmatch(body["key"])
        and body["staff"]["keys"][0]["prefix"] == body["key"][:8]
    )
    assert await works(commune, officer) == 401 and await works(commune, body["key"]) == 200
    officer = body["key"]
    # the leader rotates theirs for them
    got, body = await commune.call(leader, "POST", f"/staff/{ids['officer']}/rotate-key")
    assert got == 200 and await works(commune, officer) == 401
    officer = body["key"]

    # revoked: refused at once, the account stays
    got, body = await commune.call(leader, "DELETE", f"/staff/{ids['propagandist']}/key")
    assert got == 200 and body["revoked"] == 1 and body["staff"]["keys"] == []
    assert body["staff"]["active"] is True and await works(commune, propagandist) == 401

    # deactivated: the key is refused at once; reactivated: a new key, the old one stays dead
    got, body = await commune.call(leader, "POST", f"/staff/{ids['officer']}/deactivate")
    assert got == 200 and body["staff"]["active"] is False and body["staff"]["keys"] == []
    assert await works(commune, officer) == 401
    assert (await commune.call(leader, "POST", f"/staff/{ids['officer']}/rotate-key"))[0] == 409
    got, body = await commune.call(leader, "POST", f"/staff/{ids['officer']}/reactivate")
    assert got == 200 and body["staff"]["active"] is True and KEY.fullmatch(body["key"])
    assert await works(commune, officer) == 401 and await works(commune, body["key"]) == 200
    assert (await commune.call(leader, "POST", f"/staff/{ids['officer']}/reactivate"))[0] == 409

    # the province operator manages the communes of their province, not another province's
    got, listed = await commune.call(operator, "GET", "/staff", code=CODE2)
    assert got == 200 and [p["id"] for p in listed["staff"]] == [ids["other"]]
    got, body = await commune.call(
        operator, "POST", f"/staff/{ids['other']}/deactivate", code=CODE2
    )
    assert got == 200 and await works(commune, other_leader, CODE2) == 401
    assert (await commune.call(operator, "GET", "/staff", code=CODE3))[0] == 404
    assert await works(commune, far_leader, CODE3) == 200
    # … and no key reaches another commune's other routes through it
    assert (await commune.call(operator, "GET", "/warnings", code=CODE2))[0] == 404

    # bad input changes nothing
    async with commune.http.post(
        f"{commune.running.url}/api/v1/communes/{CODE}/staff/abc/deactivate",
        headers={"Authorization": f"Bearer {leader}"},
    ) as r:
        assert r.status == 404
    assert (await commune.call(None, "GET", "/staff"))[0] == 401


async def test_a_deactivated_staff_member_gets_no_alerts_and_their_zalo_commands_are_not_taken(
    commune,
):
    leader = await commune.hire("leader", zalo="7311")
    await commune.hire("leader", zalo="7312", office="second")
    await commune.hire("propagandist", village="Nậm Mòn", zalo="7313")
    second, propagandist = (
        await staff_id(commune, "second"),
        await staff_id(commune, "propagandist"),
    )
    # before: both leaders are alerted, the propagandist told of their village's report
    first = ticket_code(await commune.says("8301", LANDSLIDE))
    assert first in (await commune.alerts("7312", 1))[0]
    assert first in (await commune.alerts("7313", 1))[0]

    for who in (second, propagandist):
        got, body = await commune.call(leader, "POST", f"/staff/{who}/deactivate")
        assert got == 200 and body["staff"]["active"] is False
    since = await last_outbound_id(commune)

    # a new emergency: the active leader hears it; nothing is even queued for the others
    code = ticket_code(await commune.says("8302", LANDSLIDE + " ở đầu thôn"))
    assert code != first and code in (await commune.alerts("7311", 2))[1]
    async with commune.running.services.sm() as s:
        queued = (
            (
                await s.execute(
                    select(OutboundMessage.recipient).where(
                        OutboundMessage.id > since, OutboundMessage.resident_id.is_(None)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert "7311" in queued and "7312" not in queued and "7313" not in queued

    # the propagandist's note on a ticket of their village is no longer taken
    said = await commune.says("7313", f"{first}: đã ra xem, sạt khoảng 10 m")
    assert "đã ghi thêm" not in said
    async with commune.running.services.sm() as s:
        notes = (
            (
                await s.execute(
                    select(TicketEvent).where(
                        TicketEvent.action == "note", TicketEvent.staff_id == propagandist
                    )
                )
            )
            .scalars()
            .all()
        )
    assert notes == []


async def last_outbound_id(commune: Commune) -> int:
    async with commune.running.services.sm() as s:
        rows = (await s.execute(select(OutboundMessage.id))).scalars().all()
    return max(rows, default=0)


async def test_the_staff_commands(commune, tmp_path):
    bot = Cli(commune, tmp_path)
    rc, out, err = await bot(
        "add", "--commune", CODE, "--name", "Cán bộ Địa chính", "--role", "officer", "--quiet"
    )
    assert rc == 0, err
    key = out.strip()
    officer = await staff_id(commune, "Địa chính")

    rc, out, err = await bot("list", "--commune", CODE)
    assert rc == 0 and "Cán bộ Địa chính" in out and f"{key[:8]}… issued" in out, err
    assert "used never" in out
    assert not KEY.search(out)
    rc, out, _ = await bot("list", "--commune", CODE, "--json")
    [listed] = [p for p in json.loads(out) if p["id"] == officer]
    assert listed["office"] == "vanphong" and listed["keys"][0]["prefix"] == key[:8]

    rc, out, err = await bot("rotate-key", "--commune", CODE, "--staff-id", str(officer), "--quiet")
    assert rc == 0 and KEY.fullmatch(out.strip()) and out.count("\n") == 1, err
    assert await works(commune, key) == 401 and await works(commune, out.strip()) == 200
    key = out.strip()

    rc, out, err = await bot("revoke-key", "--commune", CODE, "--staff-id", str(officer))
    assert rc == 0 and "1 key(s) revoked" in out and await works(commune, key) == 401

    rc, out, err = await bot("deactivate", "--commune", CODE, "--staff-id", str(officer))
    assert rc == 0 and "deactivated" in out
    rc, out, _ = await bot("list", "--commune", CODE, "--json")
    assert [p["active"] for p in json.loads(out) if p["id"] == officer] == [False]
    rc, out, err = await bot("rotate-key", "--commune", CODE, "--staff-id", str(officer))
    assert rc == 2 and "reactivate" in err

    rc, out, err = await bot("reactivate", "--commune", CODE, "--staff-id", str(officer))
    assert rc == 0 and "shown once" in out
    [new_key] = KEY.findall(out)
    assert await works(commune, new_key) == 200 and await works(commune, key) == 401

    # another commune's staff member is not this commune's: nothing changes
    await commune.hire("leader", code=CODE2)
    other = await staff_id(commune, "leader", CODE2)
    rc, out, err = await bot("deactivate", "--commune", CODE, "--staff-id", str(other))
    assert rc == 2 and f"no staff #{other}" in err
    async with commune.running.services.sm() as s:
        assert (await s.get(Staff, other)).active is True
        stored = (await s.execute(select(StaffKey.key_hash))).scalars().all()
    assert new_key not in stored and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in stored)


async def test_alerts_queued_for_someone_deactivated_before_they_went_are_cancelled(commune):
    leader = await commune.hire("leader", zalo="7321")
    await commune.hire("leader", zalo="7322", office="second")
    second = await staff_id(commune, "second")
    running = commune.running
    sender = running.services.sender
    await sender.stop()  # hold sending: the alerts wait in the queue
    await wait_for(lambda: _sender_done(running))
    await running.sim.user_sends_text(oa_id(1), "8311", LANDSLIDE)

    async def queued_for(zalo: str) -> list[OutboundMessage]:
        async with running.services.sm() as s:
            return list(
                (
                    await s.execute(
                        select(OutboundMessage).where(
                            OutboundMessage.recipient == zalo, OutboundMessage.resident_id.is_(None)
                        )
                    )
                ).scalars()
            )

    [pending] = await wait_for(lambda: queued_for("7322"))
    assert pending.status == "pending"
    got, body = await commune.call(leader, "POST", f"/staff/{second}/deactivate")
    assert got == 200 and body["alerts_cancelled"] == 1
    while await sender.run_once():
        pass
    [alert] = await commune.alerts("7321", 1)
    assert alert.startswith("KHẨN")
    [cancelled] = await queued_for("7322")
    assert cancelled.status == "cancelled"
    assert len(running.sim.messages(oa_id(1), "7322")) == 1  # only the answer to their hello


async def _sender_done(running) -> bool:  # type: ignore[no-untyped-def]
    return all(t.done() for t in running.services.tasks if t.get_name() == "sender")
