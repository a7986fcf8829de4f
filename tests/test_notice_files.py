"""A notice's PDF under hostile names, through the real path: the staff API in (PUT …/file),
the sender and the Zalo simulator out. The stored name goes into the Content-Disposition of
every upload to Zalo: a CR/LF in it used to make each upload of that notice fail."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.store.models import NoticeFile
from tests.helpers import (
    CODE,
    NOTICE,
    OA,
    Desk,
    make_settings,
    quiet_around_now,
    resident,
    start_service,
    wait_status,
)

PDF = b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF"


@pytest.fixture
async def desk(store_url, sim):
    running = await start_service(
        make_settings(store_url, sim, notices=quiet_around_now(False)), sim
    )
    async with aiohttp.ClientSession() as http:
        yield Desk(running, http)
    await running.runner.cleanup()


async def put_file(desk: Desk, key: str, notice_id: int, name: str | None) -> tuple[int, dict]:
    url = f"{desk.running.url}/api/v1/communes/{CODE}/notices/{notice_id}/file"
    if name is not None:
        url += "?name=" + quote(name, safe="")
    async with desk.http.put(url, data=PDF, headers={"Authorization": f"Bearer {key}"}) as r:
        return r.status, await r.json()


async def stored_files(desk: Desk) -> int:
    async with desk.running.services.sm() as s:
        return (await s.execute(select(func.count()).select_from(NoticeFile))).scalar_one()


async def test_a_crlf_name_is_cleaned_and_the_file_reaches_residents(desk):
    sim = desk.running.sim
    await resident(desk.running, "9971")
    officer, leader = await desk.hire("officer"), await desk.hire("leader")
    _, d = await desk.call(officer, "POST", "", NOTICE)
    status, body = await put_file(desk, officer, d["id"], "Lịch tiêm\r\nchủng tháng 12.pdf")
    assert status == 200 and body["file"] == "Lịch tiêm chủng tháng 12.pdf"
    await desk.submit_and_approve(leader, d["id"], submitter=officer)
    await wait_status(desk, leader, d["id"], "sent")
    text, document = (await sim.wait_for_messages(3, oa_id=OA, user_id="9971"))[-2:]
    assert text.body["message"]["text"].startswith("THÔNG BÁO")
    assert document.body["message"]["attachment"]["type"] == "file"
    [upload] = [u for u in sim.state.uploads.values() if u.kind == "file"]
    assert upload.filename == "Lịch tiêm chủng tháng 12.pdf"


async def test_paths_nul_and_empty_names(desk):
    officer = await desk.hire("officer")
    _, d = await desk.call(officer, "POST", "", NOTICE)
    # a path: only its base name is kept — and that is not a PDF's name
    status, body = await put_file(desk, officer, d["id"], "../../etc/passwd")
    assert status == 400 and "PDF" in body["error"]
    assert await stored_files(desk) == 0
    status, body = await put_file(desk, officer, d["id"], "..\\..\\etc\\lịch.pdf")
    assert status == 200 and body["file"] == "lịch.pdf"
    status, body = await put_file(desk, officer, d["id"], "../../etc/passwd.pdf")
    assert status == 200 and body["file"] == "passwd.pdf"
    status, body = await put_file(desk, officer, d["id"], "lịch\x00tiêm.pdf")
    assert status == 200 and body["file"] == "lịch tiêm.pdf"
    # nothing usable left: refused, the file kept before stays
    for name in ("\x00", "../", " .. ", "\r\n"):
        status, body = await put_file(desk, officer, d["id"], name)
        assert status == 400 and "tên tệp" in body["error"], name
    async with desk.running.services.sm() as s:
        assert (await s.execute(select(NoticeFile.filename))).scalar_one() == "lịch tiêm.pdf"
    # no name (or an empty one): the default
    for name in (None, ""):
        status, body = await put_file(desk, officer, d["id"], name)
        assert status == 200 and body["file"] == "thong-bao.pdf"
