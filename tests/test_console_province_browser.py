"""A province notice from the operator's phone, in a real browser (Chromium through Playwright,
tests/browser.py): the province operator opens "Thông báo toàn tỉnh" from the menu at 375 px,
composes a notice for two communes, lands on its detail page (one row per commune, waiting
for each leader); a commune leader on another phone returns their copy with a long note, and
the operator's page shows it. No page scrolls sideways; no script error or CSP violation.
Screenshots under test-artefacts/console/province-*.png. SQLite only: the store's part is
tests/test_console_province.py's. A province that sends emergencies directly: the
confirmation page on the phone first."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from bot.config import ProvinceSettings
from bot.console import auth
from bot.staff import add_staff
from bot.store.models import Commune, ProvinceNotice
from tests.browser import (
    go_to,
    no_sideways_scroll,
    open_menu,
    phone,
    screenshot,
    sign_in,
    watch,
)
from tests.helpers import commune_code, make_settings, quiet_around_now, start_service

CODE, CODE2 = commune_code(1), commune_code(2)
PASSWORD = "Thong-bao-toan-tinh-2026"
HEADLINE = "Phòng chống rét đậm, rét hại cho gia súc trên địa bàn tỉnh"
NOTE = (
    "Xã đã thông báo nội dung này qua hệ thống loa truyền thanh của các thôn trong tuần "
    "trước, đề nghị tỉnh không gửi lại để tránh trùng lặp"
)


@pytest.fixture
def emergency_direct() -> bool:
    return False


@pytest.fixture
async def running(sim, tmp_path, emergency_direct):  # type: ignore[no-untyped-def]
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/bot.db", sim, communes=2, notices=quiet_around_now(False)
    )
    if emergency_direct:
        settings = settings.model_copy(
            update={"provinces": {"15": ProvinceSettings(emergency_direct=True)}}
        )
    running = await start_service(settings, sim)
    async with running.services.sm() as s, s.begin():
        await s.execute(update(Commune).values(province_code="15"))
    yield running
    await running.runner.cleanup()


async def staff_login(running, code: str, name: str, role: str, login: str) -> None:  # type: ignore[no-untyped-def]
    async with running.services.sm() as s, s.begin():
        staff, _ = await add_staff(s, code, name, role)
        await auth.set_login(s, staff, login)
        await auth.set_password(s, staff, PASSWORD)


async def test_compose_for_two_communes_and_follow_the_copies(running, browser):  # type: ignore[no-untyped-def]
    await staff_login(running, CODE, "Sở Thông tin và Truyền thông", "operator", "tinh.qt")
    await staff_login(running, CODE2, "Hà Thị Hoa", "leader", "hoa.ct2")
    problems: list[str] = []
    desk, commune = await phone(browser), await phone(browser)
    try:
        operator = await desk.new_page()
        watch(operator, problems)
        await sign_in(operator, running.url, "tinh.qt", PASSWORD)
        await go_to(operator, "Thông báo toàn tỉnh")
        await operator.wait_for_selector("h1:has-text('Thông báo toàn tỉnh')")
        await no_sideways_scroll(operator)
        await operator.click("text=Soạn thông báo toàn tỉnh")
        await operator.wait_for_selector("form.compose")
        await operator.select_option("#category", "safety")
        await operator.select_option("#priority", "priority")
        await operator.fill("#headline", HEADLINE)
        await operator.fill(
            "#body", "Sở Nông nghiệp khuyến cáo che chắn chuồng trại, dự trữ thức ăn cho trâu bò."
        )
        await operator.check("label:has-text('Xã Thử Nghiệm 1') input")
        await operator.check("label:has-text('Xã Thử Nghiệm 2') input")
        await no_sideways_scroll(operator)
        await screenshot(operator, "province-compose-375.png")
        await operator.click("text=Gửi tới các xã")
        await operator.wait_for_selector("p.ok")
        assert await operator.locator("li.copy[data-status=submitted]").count() == 2
        detail = operator.url.split("?")[0]
        await no_sideways_scroll(operator)

        # commune 2's leader returns their copy, with a reason, from their own phone
        leader = await commune.new_page()
        watch(leader, problems)
        await sign_in(leader, running.url, "hoa.ct2", PASSWORD)
        await leader.goto(f"{running.url}/console/notices?status=submitted")
        await leader.click(f"text={HEADLINE}")
        await leader.fill("#note-return", NOTE)
        await leader.click("button[data-action=return]")
        await leader.wait_for_selector("text=Đã trả lại cho người soạn.")

        await operator.goto(detail)
        await operator.wait_for_selector("li.copy[data-status=returned]")
        assert NOTE in await operator.inner_text("li.copy[data-status=returned]")
        await no_sideways_scroll(operator)
        await screenshot(operator, "province-detail-375.png")
        await operator.goto(f"{running.url}/console/province-notices")
        await operator.wait_for_selector(f"text={HEADLINE}")
        await no_sideways_scroll(operator)
        await screenshot(operator, "province-list-375.png")
    finally:
        await desk.close()
        await commune.close()
    assert problems == []


@pytest.mark.parametrize("emergency_direct", [True])
async def test_a_direct_emergency_is_asked_first(running, browser):  # type: ignore[no-untyped-def]
    """The province sends emergencies without the leaders' approval: the operator's phone shows
    a confirmation page of its own first (nothing sent yet), then "Phát ngay" sends."""
    await staff_login(running, CODE, "Sở Thông tin và Truyền thông", "operator", "tinh.qt")
    problems: list[str] = []
    desk = await phone(browser)
    try:
        operator = await desk.new_page()
        watch(operator, problems)
        await sign_in(operator, running.url, "tinh.qt", PASSWORD)
        await operator.goto(f"{running.url}/console/province-notices/new")
        await operator.wait_for_selector("form.compose")
        await operator.select_option("#category", "safety")
        await operator.select_option("#priority", "emergency")
        await operator.fill("#headline", "Lũ quét tại các xã vùng cao, người dân không qua suối")
        await operator.fill("#body", "Mưa lớn kéo dài, nguy cơ lũ quét và sạt lở đất.")
        await operator.check("input[name=to][value=all]")
        await operator.click("text=Gửi tới các xã")
        await operator.wait_for_selector("h1:has-text('Phát ngay thông báo khẩn tới các xã?')")
        assert "người dân của 2 xã" in await operator.inner_text("main")
        await no_sideways_scroll(operator)
        await screenshot(operator, "province-confirm-375.png")
        async with running.services.sm() as s:
            assert await s.scalar(select(func.count()).select_from(ProvinceNotice)) == 0
        await operator.click("button:has-text('Phát ngay')")
        await operator.wait_for_selector("p.ok:has-text('Đã phát thông báo khẩn tới các xã')")
        assert await operator.locator("li.copy").count() == 2
    finally:
        await desk.close()
    assert problems == []


@pytest.mark.parametrize("emergency_direct", [True])
async def test_a_department_publisher_and_back_from_the_confirmation(running, browser):  # type: ignore[no-untyped-def]
    """A province department's publisher signs in on their phone and lands on "Thông báo toàn
    tỉnh", the menu's one page; an emergency's confirmation "Quay lại, không làm" gives the form
    back as typed; sent after all."""
    await staff_login(running, CODE, "Sở Văn hoá, Thể thao và Du lịch", "publisher", "so.vh")
    problems: list[str] = []
    desk = await phone(browser)
    headline = "Lũ quét tại các xã vùng cao, người dân không qua suối"
    try:
        publisher = await desk.new_page()
        watch(publisher, problems)
        await sign_in(publisher, running.url, "so.vh", PASSWORD)
        assert publisher.url.endswith("/console/province-notices")
        await publisher.wait_for_selector("h1:has-text('Thông báo toàn tỉnh')")
        await go_to(publisher, "Thông báo toàn tỉnh")  # the menu has it …
        links = await publisher.locator("nav a").all_text_contents()
        assert [t.strip() for t in links] == ["Thông báo toàn tỉnh"]  # … and nothing else
        await open_menu(publisher)
        await no_sideways_scroll(publisher)
        await screenshot(publisher, "province-publisher-375.png")

        await publisher.click("text=Soạn thông báo toàn tỉnh")
        await publisher.wait_for_selector("form.compose")
        await publisher.select_option("#category", "safety")
        await publisher.select_option("#priority", "emergency")
        await publisher.fill("#headline", headline)
        await publisher.fill("#body", "Mưa lớn kéo dài, nguy cơ lũ quét và sạt lở đất.")
        await publisher.check("label:has-text('Xã Thử Nghiệm 2') input")
        await publisher.click("text=Gửi tới các xã")
        await publisher.wait_for_selector("h1:has-text('Phát ngay thông báo khẩn tới các xã?')")
        assert "người dân của 1 xã" in await publisher.inner_text("main")
        await publisher.click("button:has-text('Quay lại, không làm')")
        await publisher.wait_for_selector("form.compose")
        assert await publisher.input_value("#headline") == headline
        assert await publisher.input_value("#priority") == "emergency"
        assert await publisher.input_value("#category") == "safety"
        assert "sạt lở đất" in await publisher.input_value("#body")
        assert await publisher.is_checked("label:has-text('Xã Thử Nghiệm 2') input")
        assert not await publisher.is_checked("label:has-text('Xã Thử Nghiệm 1') input")
        await no_sideways_scroll(publisher)
        await screenshot(publisher, "province-back-375.png")
        async with running.services.sm() as s:
            assert await s.scalar(select(func.count()).select_from(ProvinceNotice)) == 0

        await publisher.click("text=Gửi tới các xã")
        await publisher.wait_for_selector("h1:has-text('Phát ngay thông báo khẩn tới các xã?')")
        await publisher.click("button:has-text('Phát ngay')")
        await publisher.wait_for_selector("p.ok:has-text('Đã phát thông báo khẩn tới các xã')")
        assert await publisher.locator("li.copy").count() == 1
    finally:
        await desk.close()
    assert problems == []
