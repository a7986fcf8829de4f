"""A notice from the officer's phone to residents' Zalo, in real browsers (Debian's Chromium
through Playwright, tests/browser.py): an officer signs in at 375 px, composes a notice for one
village while the preview of its Zalo message follows her typing (the page's script asks the
server's renderer), saves and submits it; a leader on another phone approves it; the resident
of that village gets it in the Zalo simulator, the village's propagandist gets the package and
answers "đã chuyển" — and the leader's page fills in (sent, the village confirmed) without a
reload. The officer attaches an image: shown under the preview as chosen, on the saved page
through the console's image route, and in the resident's Zalo. No page scrolls sideways; no script error or CSP violation. Screenshots under
test-artefacts/console/notices-*.png. SQLite only: the store's part is
tests/test_console_notices.py's."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bot.console import auth
from bot.staff import add_staff
from bot.store.models import Commune, Resident, Village
from tests.browser import no_sideways_scroll, phone, screenshot, sign_in, watch
from tests.helpers import (
    DATA,
    commune_code,
    make_settings,
    oa_id,
    quiet_around_now,
    resident,
    start_service,
)

CODE, OA = commune_code(1), oa_id(1)
PASSWORD = "Thong-bao-Nam-Mon-2026"
HEADLINE = "Lịch cắt điện thôn Nậm Mòn"
BODY = "Thứ Bảy 8h–11h cắt điện để sửa đường dây. Bà con chủ động trữ nước."


@pytest.fixture
async def running(sim, tmp_path):  # type: ignore[no-untyped-def]
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        sim,
        notices=quiet_around_now(False),
        commune_extra={"languages": ["vi", "hnj"]},
    )
    running = await start_service(settings, sim)
    yield running
    await running.runner.cleanup()


async def staff_login(running, name: str, role: str, login: str, **kw) -> None:  # type: ignore[no-untyped-def]
    async with running.services.sm() as s, s.begin():
        staff, _ = await add_staff(s, CODE, name, role, **kw)
        await auth.set_login(s, staff, login)
        await auth.set_password(s, staff, PASSWORD)


async def test_compose_approve_and_watch_it_reach_zalo(running, browser):  # type: ignore[no-untyped-def]
    sim = running.sim
    await resident(running, "9101")
    async with running.services.sm() as s, s.begin():  # the resident lives in Nậm Mòn
        village = (
            await s.execute(
                select(Village.id)
                .join(Commune, Commune.id == Village.commune_id)
                .where(Village.name == "Nậm Mòn", Commune.code == CODE)
            )
        ).scalar_one()
        await s.execute(
            update(Resident).where(Resident.external_id == "9101").values(village_id=village)
        )
    await staff_login(running, "Hoàng Thị Lan", "officer", "lan.vp")
    await staff_login(running, "Vàng A Hùng", "leader", "hung.ct")
    await staff_login(
        running, "Giàng A Pao", "propagandist", "pao.ttv", village="Nậm Mòn", zalo_user_id="9601"
    )
    await resident(running, "9601")  # the propagandist chats with the OA like anyone

    problems: list[str] = []
    desk, boss = await phone(browser), await phone(browser)
    try:
        officer = await desk.new_page()
        watch(officer, problems)
        await sign_in(officer, running.url, "lan.vp", PASSWORD)
        await officer.click("nav >> text=Thông báo")
        await officer.wait_for_selector("h1:has-text('Thông báo')")
        await officer.click("text=Soạn thông báo mới")
        await officer.wait_for_selector("form.compose")
        await officer.select_option("#category", "services")
        await officer.fill("#headline", HEADLINE)
        # the preview follows the typing (debounced), the server's renderer
        bubble = officer.locator("[data-previews] .zalo-bubble").first
        await officer.wait_for_selector(
            f"[data-previews] .zalo-bubble:text-matches('^THÔNG BÁO: {HEADLINE}')"
        )
        await officer.fill("#body", BODY)
        await officer.select_option("#priority", "priority")
        await officer.wait_for_selector(
            "[data-previews] .zalo-bubble:text-matches('^THÔNG BÁO QUAN TRỌNG: ')"
        )
        assert BODY in await bubble.inner_text()
        assert "— Xã Thử Nghiệm 1" in await bubble.inner_text()
        await officer.fill("#t_hnj_headline", "Txiav hluav taws xob")
        await officer.fill("#t_hnj_body", "Hnub Rau 8 teev txog 11 teev.")
        await officer.wait_for_selector("[data-previews] .preview[data-lang=hnj]")
        # an uploaded image: shown under the preview at once (a data: URL the CSP allows)
        await officer.set_input_files("#image", str(DATA / "photo.png"))
        shown = officer.locator("img[data-image-preview]:not([hidden])")
        await shown.wait_for()
        assert (await shown.get_attribute("src") or "").startswith("data:image/png;base64,")
        await officer.check("label:has-text('Nậm Mòn') input")
        # the chosen time said back dd/mm/yyyy (the field itself may show mm/dd), then cleared
        await officer.fill("#send_at", "2031-02-03T08:05")
        assert await officer.inner_text("#send_at_words") == "03/02/2031 08:05 (giờ Việt Nam)"
        await officer.fill("#send_at", "")
        assert await officer.inner_text("#send_at_words") == ""
        await no_sideways_scroll(officer)
        await screenshot(officer, "notices-compose-375.png")
        await officer.click("text=Lưu bản nháp")
        await officer.wait_for_selector("p.ok")
        # the saved image, through the console's image route, under the text residents get
        saved = officer.locator("img.preview-image").first
        await saved.wait_for()
        assert await saved.evaluate("i => i.decode().then(() => i.naturalWidth)") == 64
        await officer.click("button[data-action=submit]")
        await officer.wait_for_selector("text=Đã gửi lãnh đạo duyệt.")
        notice_url = officer.url.split("?")[0]
        await no_sideways_scroll(officer)

        leader = await boss.new_page()
        watch(leader, problems)
        await sign_in(leader, running.url, "hung.ct", PASSWORD)
        await leader.goto(f"{running.url}/console/notices?status=submitted")
        await no_sideways_scroll(leader)
        await screenshot(leader, "notices-list-375.png")
        await leader.click(f"text={HEADLINE}")
        await leader.wait_for_selector("button[data-action=approve]")
        assert await leader.locator("button[data-action=return]").inner_text() == "Trả lại"
        await leader.click("button[data-action=approve]")
        await leader.wait_for_selector("text=Đã duyệt.")

        # Zalo: the resident gets the notice, the propagandist the package to forward
        got = await sim.wait_for_messages(3, oa_id=OA, user_id="9101")
        assert got[1].body["message"]["text"].startswith(f"THÔNG BÁO QUAN TRỌNG: {HEADLINE}")
        element = got[2].body["message"]["attachment"]["payload"]["elements"][0]
        [upload] = [u for u in sim.state.uploads.values() if u.kind == "image"]
        assert element["attachment_id"] == upload.ref and upload.content_type == "image/png"
        package = await sim.wait_for_messages(3, oa_id=OA, user_id="9601")
        assert package[1].body["message"]["text"].startswith("THÔNG BÁO QUAN TRỌNG")
        # the leader's page fills in by itself: sent, then the village confirmed
        await leader.wait_for_selector("[data-state=sent]", timeout=15000)
        # the village's row (not the header's) waits for the propagandist's word
        waiting = leader.locator("table.relays tbody tr:not(.done)")
        await waiting.first.wait_for()
        assert await waiting.count() == 1
        assert "Nậm Mòn" in await waiting.inner_text() and "Chưa" in await waiting.inner_text()
        assert await leader.locator("[data-settled]").count() == 0  # still watched
        await sim.user_sends_text(OA, "9601", "đã chuyển")
        await leader.wait_for_selector("table.relays tr.done", timeout=15000)
        assert "Giàng A Pao" in await leader.inner_text("table.relays tr.done")
        await no_sideways_scroll(leader)
        await screenshot(leader, "notices-sent-375.png")
        assert leader.url.split("?")[0] == notice_url
        assert problems == []
    finally:
        await desk.close()
        await boss.close()
