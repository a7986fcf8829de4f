"""The console's "What residents ask" and "Knowledge" screens (issue 13) through the real path:
residents ask on the web chat, staff work through HTTP with a cookie jar like a browser's.
Groups turned into an entry (answered at once) or an intent's examples; entries edited, deleted,
a province's hidden; the CSV imported (a bad row: its message, nothing written) and exported.
Roles as the JSON API's; another commune's entry or group is 404; residents' text is escaped.
SQLite and PostgreSQL."""

from __future__ import annotations

import re

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.knowledge import io, store
from bot.store.models import Commune as CommuneRow
from bot.store.models import KnowledgeEntry, TrainingExample
from tests.helpers import Visitor, text
from tests.test_console import CODE, CODE2, CODE3, CSRF, Browser, account, running, signed_in  # noqa: F401

PARKING = "Xe máy gửi ở sân sau UBND xã, miễn phí."
GROUP = re.compile(r'action="/console/questions/([0-9a-f]{12})/entry"')
NASTY = "<script>alert(1)</script> nộp thuế đất ở đâu <img src=x onerror=alert(2)>"


@pytest.fixture(autouse=True)
def fresh_indexes():
    """Retrieval indexes are kept per process by commune id; each test has its own database."""
    from bot.knowledge import retrieval

    retrieval._cache.clear()


async def ask(url: str, words: str, code: str = CODE) -> str:
    tab = Visitor(url, code=code)
    try:
        await tab.open()
        return text(await tab.says(words, settle=0.3))
    finally:
        await tab.close()


async def entry_count(running) -> int:  # noqa: F811
    async with running.services.sm() as s:
        return (await s.execute(select(func.count()).select_from(KnowledgeEntry))).scalar_one()


async def commune_id(running, code: str = CODE) -> int:  # noqa: F811
    async with running.services.sm() as s:
        return (await s.execute(select(CommuneRow.id).where(CommuneRow.code == code))).scalar_one()


async def test_questions_become_answers(running):  # noqa: F811
    url = running.url
    for words in ("bãi đỗ xe ở đâu", "bãi đỗ xe ở đâu", "bai do xe o dau a", NASTY):
        assert PARKING not in await ask(url, words)
    assert "trợ cấp xã hội" not in (await ask(url, "phat gao cuu doi khi nao")).lower()
    officer = await signed_in(running, "lan.vp")
    propagandist = await signed_in(running, "pao.ttv", role="propagandist", village="Nậm Mòn")
    neighbour = await signed_in(running, "hoa.xa2", code=CODE2)  # same province, other commune
    try:
        status, html, _ = await officer.get("/console/questions")
        assert status == 200, html
        ids = GROUP.findall(html)
        assert len(ids) == 3, html
        parking = ids[0]  # biggest first
        first = html.index(f"g-{parking}")
        assert html.index("bãi đỗ xe ở đâu", first) < html.index(f"g-{ids[1]}")
        assert "3 lần hỏi" in html and "bai do xe o dau a" in html
        assert re.search(r"lần cuối \d\d/\d\d/\d{4} \d\d:\d\d", html)
        assert '<option value="social_allowance"' in html and "Trợ cấp xã hội" in html
        assert 'href="/console/questions"' in html and 'href="/console/knowledge"' in html
        # residents' words are shown as text
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=alert(2)&gt;" in html

        # a propagandist: no misses, no link to them; entries read-only
        status, html, _ = await propagandist.get("/console/questions")
        assert status == 403 and "bãi đỗ xe" not in html
        status, html, _ = await propagandist.get("/console/")
        assert 'href="/console/questions"' not in html and 'href="/console/knowledge"' in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        path = f"/console/questions/{parking}/entry"
        assert (await propagandist.post(path, {"csrf": token, "answer": PARKING}))[0] == 403
        # another commune has no such group: its 404, nothing written
        token = await neighbour.csrf("/console/questions")
        status, html, _ = await neighbour.post(path, {"csrf": token, "answer": PARKING})
        assert status == 404 and "bãi đỗ xe" not in html
        # no token, a wrong token, an empty answer: refused, nothing written
        token = await officer.csrf("/console/questions")
        assert (await officer.post(path, {"answer": PARKING}))[0] == 403
        assert (await officer.post(path, {"csrf": "x" * 43, "answer": PARKING}))[0] == 403
        status, html, _ = await officer.post(path, {"csrf": token, "answer": "  "})
        assert status == 400 and "Vui lòng nhập câu trả lời." in html
        assert await entry_count(running) == 0

        # a group → an intent's examples
        status, html, _ = await officer.get("/console/questions")
        rice = next(
            g
            for g in GROUP.findall(html)
            if "phat gao cuu doi khi nao" in html[html.index(f"g-{g}") :][:400]
        )
        status, _, _ = await officer.post(
            f"/console/questions/{rice}/intent", {"csrf": token, "intent": "no_such"}
        )
        assert status == 400
        status, _, r = await officer.post(
            f"/console/questions/{rice}/intent", {"csrf": token, "intent": "social_allowance"}
        )
        assert status == 303
        async with running.services.sm() as s:
            taught = (await s.execute(select(TrainingExample.text, TrainingExample.intent))).all()
        assert taught == [("phat gao cuu doi khi nao", "social_allowance")]
        assert "trợ cấp xã hội" in (await ask(url, "phat gao cuu doi khi nao")).lower()
        # one step: the group is an entry, answered at once in another wording; it disappears
        status, _, r = await officer.post(
            path, {"csrf": token, "question": "Bãi đỗ xe ở đâu?", "answer": PARKING}
        )
        assert status == 303 and r.headers["Location"] == "/console/questions?done=entry"
        assert PARKING in await ask(url, "bai do xe o dau vay")
        status, html, _ = await officer.get("/console/questions?done=entry")
        assert "Đã thêm câu trả lời" in html and parking not in GROUP.findall(html)
        cid = await commune_id(running)
        async with running.services.sm() as s:
            [entry] = await store.entries(s, store.Owner(commune_id=cid))
        assert entry.question == "Bãi đỗ xe ở đâu?"
        assert entry.variants == ["bãi đỗ xe ở đâu", "bai do xe o dau a"]

        status, html, _ = await officer.get("/console/questions")
        assert GROUP.findall(html) == [g for g in ids if g not in (parking, rice)]
    finally:
        for b in (officer, propagandist, neighbour):
            await b.close()


async def test_knowledge_entries_files_and_tenancy(running):  # noqa: F811
    cid = await commune_id(running)
    async with running.services.sm() as s, s.begin():
        await store.save(
            s,
            store.Owner(commune_id=cid),
            [io.Item("Chợ họp ngày nào?", "Chợ họp <b>sáng</b> Chủ nhật.", ("chợ phiên",))],
        )
        await store.save(
            s,
            store.Owner(province_code="15"),
            [io.Item("Số điện thoại đường dây nóng tỉnh?", "Gọi 0214 3840 000.")],
        )
        own = (await store.entries(s, store.Owner(commune_id=cid)))[0].id
        province = (await store.entries(s, store.Owner(province_code="15")))[0].id
    officer = await signed_in(running, "lan.vp")
    propagandist = await signed_in(running, "pao.ttv", role="propagandist", village="Nậm Mòn")
    neighbour = await signed_in(running, "hoa.xa2", code=CODE2)  # same province
    far = await signed_in(running, "minh.xa3", code=CODE3)  # another province
    try:
        status, html, _ = await officer.get("/console/knowledge")
        assert status == 200
        assert "Chợ họp ngày nào?" in html and "Chợ họp &lt;b&gt;sáng&lt;/b&gt;" in html
        assert "Số điện thoại đường dây nóng tỉnh?" in html and "Của tỉnh" in html
        assert 'action="/console/knowledge/import"' in html

        # read-only for a propagandist: no forms, writes refused
        status, html, _ = await propagandist.get("/console/knowledge")
        assert status == 200 and "Chợ họp ngày nào?" in html and "/import" not in html
        status, html, _ = await propagandist.get(f"/console/knowledge/{own}")
        assert status == 200 and 'name="answer"' not in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        status, _, _ = await propagandist.post(f"/console/knowledge/{own}/delete", {"csrf": token})
        assert status == 403 and await entry_count(running) == 2

        # another commune's entry by URL: 404, for every page and action
        token2 = await neighbour.csrf("/console/knowledge")
        for path in (
            f"/console/knowledge/{own}",
            "/console/knowledge/999999",
            "/console/knowledge/x",
        ):
            assert (await neighbour.get(path))[0] == 404
        for action in ("", "/delete", "/hide"):
            data = {"csrf": token2, "question": "a", "answer": "b"}
            assert (await neighbour.post(f"/console/knowledge/{own}{action}", data))[0] == 404
        token3 = await far.csrf("/console/knowledge")
        assert (await far.get(f"/console/knowledge/{province}"))[0] == 404
        assert (await far.post(f"/console/knowledge/{province}/hide", {"csrf": token3}))[0] == 404
        assert (await neighbour.get(f"/console/knowledge/{province}"))[0] == 200  # inherited

        # edit: a bad date order names the problem and changes nothing; then a good edit
        token = await officer.csrf(f"/console/knowledge/{own}")
        form = {
            "csrf": token,
            "question": "Chợ phiên họp ngày nào?",
            "answer": "Chợ họp sáng Chủ nhật và thứ Năm.",
            "variants": "chợ phiên\nhôm nào có chợ",
            "valid_from": "10/12/2026",
            "valid_until": "01/12/2026",
        }
        status, html, _ = await officer.post(f"/console/knowledge/{own}", form)
        assert status == 400 and "valid_until is before valid_from" in html
        assert "không có gì thay đổi" in html and "Chợ họp sáng Chủ nhật và thứ Năm." in html
        status, _, _ = await officer.post(f"/console/knowledge/{own}", form | {"valid_until": ""})
        assert status == 303
        async with running.services.sm() as s:
            entry = await s.get(KnowledgeEntry, own)
            assert entry is not None and entry.question == "Chợ phiên họp ngày nào?"
            assert entry.variants == ["chợ phiên", "hôm nào có chợ"]
            assert entry.valid_from is not None and entry.valid_from.isoformat() == "2026-12-10"
        status, html, _ = await officer.get(f"/console/knowledge/{own}")
        assert 'value="10/12/2026"' in html

        # hide the province's entry for this commune (as `bot knowledge hide`), and back
        status, _, _ = await officer.post(f"/console/knowledge/{province}/hide", {"csrf": token})
        assert status == 303
        status, html, _ = await officer.get("/console/knowledge")
        assert "Xã đã ẩn" in html
        async with running.services.sm() as s:
            visible = await store.visible(s, cid, "15")
            assert [e.id for e in visible] == [own]
        status, _, _ = await officer.post(
            f"/console/knowledge/{province}/hide", {"csrf": token, "show": "1"}
        )
        assert status == 303
        async with running.services.sm() as s:
            assert len(await store.visible(s, cid, "15")) == 2

        # import: a bad row is named, nothing written; a good file added; export downloads
        async def upload(body: str, name: str = "kien-thuc.csv") -> tuple[int, str]:
            form = aiohttp.FormData()
            form.add_field("csrf", token)
            form.add_field("file", body.encode(), filename=name, content_type="text/csv")
            async with officer.http.post(
                officer.base + "/console/knowledge/import", data=form, allow_redirects=False
            ) as r:
                return r.status, await r.text()

        header = "question,answer,variants\n"
        before = await entry_count(running)
        status, html = await upload(header + "Giờ mở cửa bưu điện?,Từ 7 giờ.,\nHỏi gì đó?,,\n")
        assert status == 400 and "Không nhập được tệp, không có gì thay đổi" in html
        assert "row 3" in html, html
        assert await entry_count(running) == before
        status, html = await upload("hello", name="x.exe")
        assert status == 400 and await entry_count(running) == before
        status, _ = await upload(header + "Giờ mở cửa bưu điện?,Từ 7 giờ sáng.,buu dien mo cua\n")
        assert status == 303 and await entry_count(running) == before + 1
        # a commune's whole file is bigger than the service's other bodies (256 KB): 1,000
        # entries with long answers go in; beyond the file limit is said in words
        rows = "".join(
            f"Câu hỏi số {n} về thủ tục của xã?,{'Trả lời đầy đủ cho người dân. ' * 12}{n},\n"
            for n in range(1000)
        )
        assert len((header + rows).encode()) > running.settings.service.max_body_bytes
        status, html = await upload(header + rows)
        assert status == 303, html
        assert await entry_count(running) == before + 1001
        status, html = await upload(header + "x" * 6_000_000)
        assert status == 413 and "Tệp quá 5 MB" in html
        assert await entry_count(running) == before + 1001
        async with officer.http.get(officer.base + "/console/knowledge/export") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            assert r.headers["Content-Disposition"] == f'attachment; filename="{CODE}.csv"'
            csv = await r.text()
        assert "Giờ mở cửa bưu điện?" in csv and "Chợ phiên họp ngày nào?" in csv
        assert "Câu hỏi số 999 về thủ tục của xã?" in csv

        # delete the own entry
        status, _, _ = await officer.post(f"/console/knowledge/{own}/delete", {"csrf": token})
        assert status == 303
        async with running.services.sm() as s:
            assert await s.get(KnowledgeEntry, own) is None
    finally:
        for b in (officer, propagandist, neighbour, far):
            await b.close()
