"""Zalo sign-in on the console's staff screen and in its log (issue 13), through the real HTTP
service and the Zalo simulator: an officer links her Zalo account on her profile page and
unlinks it (each a line of the log, "Nhật ký"); linked again, a leader removes it with the
staff screen's "Gỡ liên kết Zalo" button (what `bot staff unlink-zalo` does): CSRF, roles
(an officer may not), tenancy (another commune's leader gets a 404), the log line names who
did it. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.models import AuditEvent, Staff
from tests.test_console_zalo import CODE2, office, person, zalo_round_trip  # noqa: F401


async def _events(running, action: str) -> list[AuditEvent]:  # noqa: F811
    async with running.services.sm() as s:
        return list(
            (
                await s.execute(
                    select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
                )
            ).scalars()
        )


async def _linked(running, staff_id: int) -> str | None:  # noqa: F811
    async with running.services.sm() as s:
        staff = await s.get(Staff, staff_id)
        assert staff is not None
        return staff.zalo_login_id


async def test_link_unlink_and_a_leader_removes_a_zalo_sign_in(office):  # noqa: F811
    running, sim = office, office.sim
    sim.add_social_user("lan", "Nguyễn Thị Lan")
    officer_id = await person(running, "lan.vp", "officer", office="vanphong")
    leader_id = await person(running, "chu.tich", "leader")
    await person(running, "ct.xa2", "leader", code=CODE2)

    officer = running.browser()
    await officer.login("lan.vp")
    _, _, where, _ = await zalo_round_trip(
        running, officer, "/console/profile/zalo", "/console/profile/zalo", "lan"
    )
    assert where.endswith("zalo=linked") and await _linked(running, officer_id)
    [linked] = await _events(running, "zalo_linked")
    assert (linked.staff_id, linked.object_kind, linked.object_id) == (
        officer_id,
        "account",
        str(officer_id),
    )
    # she unlinks it herself: a line too
    token = await officer.csrf("/console/profile/zalo")
    status, _, where = await officer.post("/console/profile/zalo/unlink", {"csrf": token})
    assert where.endswith("zalo=unlinked") and await _linked(running, officer_id) is None
    [unlinked] = await _events(running, "zalo_unlinked")
    assert unlinked.staff_id == officer_id and unlinked.object_kind == "account"
    # unlinking again (nothing linked): no line
    await officer.post("/console/profile/zalo/unlink", {"csrf": token})
    assert len(await _events(running, "zalo_unlinked")) == 1
    # linked again
    _, _, where, _ = await zalo_round_trip(
        running, officer, "/console/profile/zalo", "/console/profile/zalo", "lan"
    )
    assert where.endswith("zalo=linked") and len(await _events(running, "zalo_linked")) == 2

    path = f"/console/staff/{officer_id}/unlink-zalo"
    # an officer may not use the staff screen's button
    assert (await officer.post(path, {"csrf": token}))[0] == 403
    # another commune's leader: the 404 of a staff member that does not exist
    other = running.browser()
    await other.login("ct.xa2")
    assert (await other.post(path, {"csrf": await other.csrf("/console/staff")}))[0] == 404
    assert await _linked(running, officer_id)

    leader = running.browser()
    await leader.login("chu.tich")
    status, html, _ = await leader.get("/console/staff")
    assert status == 200 and f'action="{path}"' in html and "Gỡ liên kết Zalo" in html
    assert "Nguyễn Thị Lan" in html  # the linked account's name, beside the login
    assert f'action="/console/staff/{leader_id}/unlink-zalo"' not in html  # nothing linked
    # no CSRF token: refused, still linked
    assert (await leader.post(path, {}))[0] == 403
    assert (await leader.post(path, {"csrf": "x" * 43}))[0] == 403
    assert await _linked(running, officer_id)
    token = await leader.csrf("/console/staff")
    status, _, where = await leader.post(path, {"csrf": token})
    assert status == 303 and where.endswith("done=zalo_unlinked")
    assert await _linked(running, officer_id) is None
    status, html, _ = await leader.get(where)
    assert "Đã gỡ liên kết Zalo" in html and f'action="{path}"' not in html
    # her open sessions ended with the sign-in the leader did not trust
    status, _, where = await officer.get("/console/")
    assert status == 303 and where.endswith("/console/login"), (status, where)
    by_leader = (await _events(running, "zalo_unlinked"))[-1]
    assert (by_leader.staff_id, by_leader.object_kind, by_leader.object_id) == (
        leader_id,
        "staff",
        str(officer_id),
    )
    # Zalo no longer signs her in
    status, html, where, _ = await zalo_round_trip(
        running, running.browser(), "/console/login/zalo", "/console/login", "lan"
    )
    assert status == 401 and "chưa được liên kết" in html
    # the log page says both
    status, html, _ = await leader.get("/console/audit")
    assert status == 200
    assert "Liên kết đăng nhập Zalo" in html and "Bỏ liên kết Zalo" in html
