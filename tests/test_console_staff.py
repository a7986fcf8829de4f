"""The console's staff screen ("Cán bộ", issue 13) through the real HTTP service: a leader adds an
officer (the invitation link shown once, only its hash kept), re-issues it, revokes keys,
deactivates (the account's sessions end, its keys stop) and reactivates; CSRF on every form;
roles (officers and propagandists refused, nobody deactivates themself, a leader cannot touch
the province operator); another commune's staff is 404 for the page and every action; a name
holding ``<script>`` is text. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re

import aiohttp
from sqlalchemy import func, select

from bot.store.models import AuditEvent, ConsoleSession, Staff, StaffInvitation, StaffKey
from tests.test_console import (  # noqa: F401
    CODE,
    CODE2,
    CODE3,
    CSRF,
    PASSWORD,
    Browser,
    account,
    running,
)

LINK = re.compile(r'value="(http://[^"]+/console/invite/([A-Za-z0-9_-]+))"')
ACTIONS = ("invite", "deactivate", "reactivate", "revoke-keys")


async def signed_in(running, login: str, **kw) -> Browser:  # noqa: F811
    await account(running, login, **kw)
    b = Browser(running)
    assert (await b.login(login))[0] == 303
    return b


async def staff_id(running, login: str) -> int:  # noqa: F811
    async with running.services.sm() as s:
        return (await s.execute(select(Staff.id).where(Staff.login == login))).scalar_one()


async def logged(running, action: str) -> int:  # noqa: F811
    async with running.services.sm() as s:
        return (
            await s.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
            )
        ).scalar_one()


async def test_a_leader_adds_an_officer_and_manages_the_account(running):  # noqa: F811
    leader = await signed_in(running, "chu.tich", role="leader", name="Chủ tịch Hà")
    try:
        status, html, _ = await leader.get("/console/staff")
        assert status == 200, html
        assert 'href="/console/staff"' in html and 'href="/console/audit"' in html
        assert "Chủ tịch Hà" in html and "chu.tich" in html and "đã đặt mật khẩu" in html
        assert "Lần đăng nhập gần nhất" in html and re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", html)
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        # no token: refused, nobody added
        form = {"name": "Nguyễn Văn Nam", "role": "officer", "login": "nam.vp"}
        assert (await leader.post("/console/staff", form))[0] == 403
        assert (await leader.post("/console/staff", {**form, "csrf": "x" * 43}))[0] == 403
        # a bad login: the message, nobody added, no audit row
        status, html, _ = await leader.post(
            "/console/staff", {**form, "csrf": token, "login": "Nam VP!"}
        )
        assert status == 400 and "Tên đăng nhập gồm" in html and "Nguyễn Văn Nam" in html
        async with running.services.sm() as s:
            assert (
                await s.execute(select(func.count()).where(Staff.name == "Nguyễn Văn Nam"))
            ).scalar_one() == 0
        assert await logged(running, "staff_added") == 0
        # a propagandist needs a village
        status, html, _ = await leader.post(
            "/console/staff",
            {"csrf": token, "name": "Pao", "role": "propagandist", "login": "pao.ttv"},
        )
        assert status == 400 and "Tuyên truyền viên cần có thôn" in html

        status, html, r = await leader.post("/console/staff", {**form, "csrf": token})
        assert status == 200, html
        assert r.headers["Cache-Control"] == "no-store"
        link, invite = LINK.search(html).groups()  # type: ignore[union-attr]
        assert "chỉ hiện một lần" in html and "nam.vp" in html
        async with running.services.sm() as s:
            kept = (await s.execute(select(StaffInvitation.token_hash))).scalars().all()
            nam = (await s.execute(select(Staff).where(Staff.login == "nam.vp"))).scalar_one()
            live_keys = (
                await s.execute(
                    select(func.count()).where(
                        StaffKey.staff_id == nam.id, StaffKey.revoked_at.is_(None)
                    )
                )
            ).scalar_one()
        assert hashlib.sha256(invite.encode()).hexdigest() in kept and invite not in kept
        assert nam.office is not None and nam.password_hash is None and live_keys == 0
        # the list never shows the link again
        status, html, _ = await leader.get("/console/staff")
        assert invite not in html and "nam.vp" in html and "chưa đặt mật khẩu" in html

        # the officer sets a password from the link and signs in
        officer = Browser(running)
        try:
            form_token = await officer.csrf(f"/console/invite/{invite}")
            status, _, _ = await officer.post(
                f"/console/invite/{invite}",
                {"csrf": form_token, "password": PASSWORD, "password2": PASSWORD},
            )
            assert status == 303
            assert (await officer.login("nam.vp"))[0] == 303
            # an officer sees neither screen nor its link
            status, html, _ = await officer.get("/console/")
            assert 'href="/console/staff"' not in html and 'href="/console/audit"' not in html
            status, html, _ = await officer.get("/console/staff")
            assert status == 403 and "Nguyễn Văn Nam" not in html.split("<main")[1]
            otoken = CSRF.search(html).group(1)  # type: ignore[union-attr]
            for action in ACTIONS:
                leader_id = await staff_id(running, "chu.tich")
                status, _, _ = await officer.post(
                    f"/console/staff/{leader_id}/{action}", {"csrf": otoken}
                )
                assert status == 403, action
            assert (await officer.post("/console/staff", {**form, "csrf": otoken}))[0] == 403

            # re-issuing voids the older link (and shows the new one once)
            status, html, _ = await leader.post(f"/console/staff/{nam.id}/invite", {"csrf": token})
            assert status == 200
            newer = LINK.search(html).group(2)  # type: ignore[union-attr]
            assert newer != invite
            assert (await officer.get(f"/console/invite/{newer}"))[0] == 200

            # nobody deactivates themself
            leader_id = await staff_id(running, "chu.tich")
            status, html, _ = await leader.post(
                f"/console/staff/{leader_id}/deactivate", {"csrf": token}
            )
            assert status == 409 and "không thể tự khóa" in html
            status, html, _ = await leader.get("/console/staff")
            assert f'action="/console/staff/{leader_id}/deactivate"' not in html
            assert f'action="/console/staff/{nam.id}/deactivate"' in html

            # an API key, revoked from the console
            async with running.services.sm() as s, s.begin():
                from bot.staff import rotate_key, staff_member

                key = await rotate_key(s, await staff_member(s, nam.commune_id, nam.id))
            async with aiohttp.ClientSession() as http:
                api = f"{running.url}/api/v1/communes/{CODE}/staff"
                async with http.get(api, headers={"Authorization": f"Bearer {key}"}) as r2:
                    assert r2.status == 403  # an officer: known, not allowed — the key works
            status, html, _ = await leader.get("/console/staff")
            assert key[:8] + "…" in html and "chưa dùng" in html
            status, _, r = await leader.post(
                f"/console/staff/{nam.id}/revoke-keys", {"csrf": token}
            )
            assert status == 303 and "done=revoked" in r.headers["Location"]
            async with aiohttp.ClientSession() as http:
                async with http.get(api, headers={"Authorization": f"Bearer {key}"}) as r2:
                    assert r2.status == 401

            # deactivating ends the officer's sessions; reactivating lets them sign in again
            status, _, r = await leader.post(f"/console/staff/{nam.id}/deactivate", {"csrf": token})
            assert status == 303 and "done=deactivated" in r.headers["Location"]
            assert (await officer.get("/console/"))[0] == 303
            async with running.services.sm() as s:
                sessions = (
                    await s.execute(select(func.count()).where(ConsoleSession.staff_id == nam.id))
                ).scalar_one()
            assert sessions == 0
            status, html, _ = await leader.get("/console/staff?done=deactivated")
            assert "Đã khóa tài khoản" in html and "Mở lại tài khoản" in html
            status, _, _ = await leader.post(f"/console/staff/{nam.id}/reactivate", {"csrf": token})
            assert status == 303
            assert (await officer.login("nam.vp"))[0] == 303
        finally:
            await officer.close()
        for action in (
            "staff_added",
            "invitation_issued",
            "password_set",
            "keys_revoked",
            "staff_deactivated",
            "staff_reactivated",
        ):
            assert await logged(running, action) >= 1, action
    finally:
        await leader.close()


async def test_other_communes_staff_are_not_found(running):  # noqa: F811
    leader = await signed_in(running, "ct.xa1", role="leader")
    other_id, _ = await account(running, "vt.xa2", code=CODE2, name="Người xã hai")
    far_id, _ = await account(running, "vt.xa3", code=CODE3, name="Người tỉnh khác")
    operator = await signed_in(running, "qt.tinh", role="operator")
    try:
        token = await leader.csrf("/console/staff")
        status, html, _ = await leader.get(f"/console/staff?commune={CODE2}")
        assert status == 404 and "Người xã hai" not in html
        for action in ACTIONS:
            status, html, _ = await leader.post(
                f"/console/staff/{other_id}/{action}", {"csrf": token, "login": "x.y.z"}
            )
            assert status == 404 and "Người xã hai" not in html, action
        # a form naming another commune adds nobody there
        status, _, _ = await leader.post(
            "/console/staff",
            {"csrf": token, "commune": CODE2, "name": "Lạ", "role": "officer", "login": "la.xa2"},
        )
        assert status == 404
        for bad in ("abc", "0", "9" * 19):
            assert (await leader.post(f"/console/staff/{bad}/deactivate", {"csrf": token}))[
                0
            ] == 404
        # the province operator: every commune of the province, no other province
        status, html, _ = await operator.get(f"/console/staff?commune={CODE2}")
        assert status == 200 and "Người xã hai" in html
        assert (await operator.get(f"/console/staff?commune={CODE3}"))[0] == 404
        otoken = CSRF.search(html).group(1)  # type: ignore[union-attr]
        status, _, r = await operator.post(
            f"/console/staff/{other_id}/deactivate", {"csrf": otoken}
        )
        assert status == 303 and f"commune={CODE2}" in r.headers["Location"]
        assert (await operator.post(f"/console/staff/{far_id}/deactivate", {"csrf": otoken}))[
            0
        ] == 404
        # a leader cannot touch the province operator (403), who is listed in their commune
        operator_id = await staff_id(running, "qt.tinh")
        status, _, _ = await leader.post(
            f"/console/staff/{operator_id}/deactivate", {"csrf": token}
        )
        assert status == 403
        async with running.services.sm() as s:
            assert (await s.get(Staff, operator_id)).active  # type: ignore[union-attr]
            assert not (await s.get(Staff, other_id)).active  # type: ignore[union-attr]
            assert (await s.get(Staff, far_id)).active  # type: ignore[union-attr]
    finally:
        await leader.close()
        await operator.close()


async def test_a_propagandist_sees_nothing_and_names_are_text(running):  # noqa: F811
    await account(running, "xss.vp", name='<script>alert(1)</script> Bà <img src=x onerror="a()">')
    propagandist = await signed_in(running, "pao.ttv", role="propagandist", village="Nậm Mòn")
    leader = await signed_in(running, "ct.xss", role="leader")
    try:
        status, html, _ = await propagandist.get("/console/staff")
        assert status == 403 and "xss.vp" not in html
        assert (await propagandist.get("/console/audit"))[0] == 403
        status, html, _ = await leader.get("/console/staff")
        assert status == 200
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        # a propagandist added with their village, shown on the list
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        status, html, _ = await leader.post(
            "/console/staff",
            {
                "csrf": token,
                "name": "<b>Vàng A Pó</b>",
                "role": "propagandist",
                "village": "Nậm Mòn",
                "login": "po.ttv",
            },
        )
        assert status == 200 and "&lt;b&gt;Vàng A Pó&lt;/b&gt;" in html
        status, html, _ = await leader.get("/console/staff")
        row = html[html.index("&lt;b&gt;Vàng A Pó") :][:800]
        assert "Nậm Mòn" in row and "Tuyên truyền viên" in row
    finally:
        await propagandist.close()
        await leader.close()
