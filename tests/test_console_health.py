"""The province operator's view (issue 14) through the real path: `bot tenants health` and
`bot staff propagandists` as processes, the console's "Tình trạng" pages over HTTP, on the data
set of tests/health_data.py (its expected problems and registry worked out there). Tenancy: a
commune's officer sees only their commune (another's page is 404, like a code that does not
exist), an operator only their province, a propagandist is refused. The number of statements
does not grow with the number of communes. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest
import yaml
from sqlalchemy import event

from bot.console.web import CONSOLE
from bot.health import health, scope_ids
from bot.registry import registry
from bot.timeutil import utcnow
from tests.health_data import C1, C2, C3, C4, MAI_PHONE, ORDER, PROBLEMS, PROVINCES, seed
from tests.helpers import make_settings, start_service
from tests.test_console import Browser, Clock, signed_in


@pytest.fixture
async def running(store_url, sim):
    settings = make_settings(store_url, sim, communes=4)
    settings = settings.model_copy(  # the provinces come from config (mirrored at each start)
        update={
            "communes": [
                c.model_copy(update={"province_code": PROVINCES[c.code]}) for c in settings.communes
            ]
        }
    )
    running = await start_service(settings, sim)
    now = utcnow()
    async with running.services.sm() as s, s.begin():
        running.ago = await seed(s, now)
    running.clock = Clock()
    running.clock.now = now
    running.runner.app[CONSOLE].clock = running.clock
    yield running
    await running.runner.cleanup()


async def bot(running, tmp_path, *args: str) -> tuple[int, str, str]:
    config = tmp_path / "config.yml"
    if not config.exists():
        config.write_text(
            yaml.safe_dump(running.settings.model_dump(mode="json"), allow_unicode=True),
            encoding="utf-8",
        )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def vn(value) -> str:
    from bot.health import vn_date

    return vn_date(value)


async def test_the_cli(running, tmp_path):
    rc, out, err = await bot(running, tmp_path, "tenants", "health", "--json")
    assert rc == 1, err  # some commune has a problem
    found = json.loads(out)
    rows = found["communes"]
    assert [r["code"] for r in rows] == ORDER
    assert {r["code"]: [p["key"] for p in r["problems"]] for r in rows} == PROBLEMS
    assert found["with_problems"] == 3
    by = {r["code"]: r for r in rows}
    one = by[C1]
    assert one["oa_connected"] is True and one["token_state"] == "connected"
    assert one["last_webhook_at"] == vn(running.ago["c1_event"])
    assert one["last_notice_at"] == vn(running.ago["c1_notice"])
    assert one["overdue_tickets"] == 2 and one["villages"] == 2
    assert one["villages_without_propagandist"] == ["Bản Phố"]
    assert [p["severity"] for p in one["problems"]] == ["critical", "warning"]
    assert "2 phản ánh của người dân đã quá hạn" in one["problems"][0]["text"]
    assert "1/2 thôn chưa có tuyên truyền viên" in one["problems"][1]["text"]
    assert by[C2]["token_state"] == "reconsent" and by[C2]["last_webhook_at"] is None
    assert by[C2]["oa_connected"] is True  # a token row is kept, but refused
    assert by[C3]["token_state"] == "expired" and by[C3]["overdue_tickets"] == 0
    assert by[C3]["villages_without_propagandist"] == ["Nậm Mòn", "Bản Phố"]
    assert by[C4]["problems"] == [] and by[C4]["token_state"] == "connected"

    # one province: only its communes; a healthy province exits 0 (for cron)
    rc, out, _ = await bot(running, tmp_path, "tenants", "health", "--province", "15")
    assert rc == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"!! {C2} ") and f"{C3} " not in out
    assert "OA của xã đã gỡ quyền" in out and "2/2 xã, phường có vấn đề." in out
    rc, out, _ = await bot(running, tmp_path, "tenants", "health", "--province", "77")
    assert rc == 0 and out.splitlines()[0].startswith(f"ok {C4} ") and "0/1 xã" in out

    # the registry, per commune and per province
    rc, out, err = await bot(running, tmp_path, "staff", "propagandists", "--commune", C1, "--json")
    assert rc == 0, err
    reg = json.loads(out)
    assert reg["coverage"] == {"covered": 1, "villages": 2, "rate": 0.5}
    [c1] = reg["communes"]
    villages = {v["village"]: v for v in c1["villages"]}
    assert list(villages) == ["Nậm Mòn", "Bản Phố"]
    assert villages["Bản Phố"] == {
        "village": "Bản Phố",
        "kind": "thôn",
        "covered": False,
        "propagandists": [],  # Giàng A Sử is deactivated
    }
    pao, mai = villages["Nậm Mòn"]["propagandists"]
    assert pao["name"] == "Lò Văn Pao" and pao["zalo_linked"] is True
    assert pao["since"] == vn(running.ago["pao_since"])[:10]  # reactivated: since then
    assert pao["last_relay_confirmed_at"] == vn(running.ago["pao_confirmed"])
    assert pao["phone"] is None
    assert mai["name"] == "Vàng Thị Mai" and mai["zalo_linked"] is False
    assert mai["phone"] == MAI_PHONE  # the village's public contact (console-edited facts)
    assert mai["since"] == vn(running.ago["mai_since"])[:10]
    assert mai["last_relay_confirmed_at"] is None
    rc, out, _ = await bot(running, tmp_path, "staff", "propagandists", "--province", "15")
    assert rc == 0
    assert "1/2 thôn có tuyên truyền viên (50%)" in out
    assert "2/2 thôn có tuyên truyền viên (100%)" in out
    assert "Toàn tỉnh 15: 3/4 thôn có tuyên truyền viên (75%)" in out
    assert "Bản Phố: chưa có tuyên truyền viên" in out and C3 not in out
    rc, _, err = await bot(running, tmp_path, "staff", "propagandists", "--commune", "00000")
    assert rc == 2 and "not configured" in err


async def test_bounded_statements(running):
    """The health and the registry of four communes take as many statements as of one."""
    counted: list[str] = []

    def count(conn, cursor, statement, *args):  # noqa: ANN001
        counted.append(statement)

    engine = running.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        sizes = []
        for codes in ([C1], [C1, C2, C3, C4]):
            counted.clear()
            async with running.services.sm() as s:
                ids = await scope_ids(s, codes=codes)
                counted.clear()
                await health(s, ids, utcnow())
                await registry(s, ids, {c.code: c for c in running.settings.communes})
            sizes.append(len(counted))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sizes[0] == sizes[1] <= 8, sizes


def cards(html: str) -> list[tuple[str, list[str]]]:
    """(code, problem keys) of each commune card on the province page, in order."""
    out = []
    for code, body in re.findall(
        r'data-code="(\d{5})">(.*?)</li>\s*(?=<li class="card|</ol>)', html, re.S
    ):
        out.append((code, re.findall(r'data-problem="([a-z_]+)"', body)))
    return out


async def test_the_console(running):
    operator = await signed_in(running, "tinh.qt", role="operator", name="Quản trị tỉnh")
    officer = await signed_in(running, "lan.vp", code=C1)
    leader = await signed_in(running, "hung.ld", role="leader", code=C2)
    propagandist = await signed_in(running, "pao.ttv", role="propagandist", village="Nậm Mòn")
    try:
        # the province (15): its communes worst first, the others not shown
        status, html, r = await operator.get("/console/health")
        assert status == 200, html
        assert "Content-Security-Policy" in r.headers
        assert 'href="/console/health" aria-current="page"' in html
        assert cards(html) == [(C2, PROBLEMS[C2]), (C1, PROBLEMS[C1])]
        assert 'id="province-coverage">3/4 (75%)<' in html
        # a token Zalo refuses (C2: revoked) is not shown as "connected" beside its state
        c2 = html.split(f'data-code="{C2}"')[1].split("</li>")[0]
        assert "<dt>OA Zalo</dt><dd>Mất kết nối</dd>" in c2 and "Đã kết nối" not in c2, c2
        c1 = html.split(f'data-code="{C1}"')[1].split("</li>")[0]
        assert "<dt>OA Zalo</dt><dd>Đã kết nối</dd>" in c1
        assert "OA của xã đã gỡ quyền của trợ lý" in html
        assert "Bản Phố" in html and "<script" not in html.split("</header>")[1]
        assert vn(running.ago["c1_event"]) in html
        # one commune of theirs: its health and registry; another province's: 404
        status, html, _ = await operator.get(f"/console/health/{C1}")
        assert status == 200 and 'href="/console/health"' in html
        assert re.findall(r'data-problem="([a-z_]+)"', html) == PROBLEMS[C1]
        assert "Lò Văn Pao" in html and MAI_PHONE in html and 'href="tel:0912345678"' in html
        assert vn(running.ago["pao_confirmed"]) in html
        assert vn(running.ago["pao_since"])[:10] in html
        assert "Giàng A Sử" not in html  # deactivated
        assert "1/2 thôn có tuyên truyền viên đang hoạt động (50%)." in html
        for code in (C3, C4, "00000"):
            status, html, _ = await operator.get(f"/console/health/{code}")
            assert status == 404 and "Lò Văn" not in html, code

        # an officer: their commune's page; the index takes them there; another's is 404
        status, _, r = await officer.get("/console/health")
        assert status == 303 and r.headers["Location"] == f"/console/health/{C1}"
        status, html, _ = await officer.get(f"/console/health/{C1}")
        assert status == 200 and "Vàng Thị Mai" in html
        assert 'href="/console/health"' in html  # the nav
        assert "← " not in html  # no way up to the province
        for code in (C2, C3, "00000"):
            status, html, _ = await officer.get(f"/console/health/{code}")
            assert status == 404 and "Hà Văn Tủa" not in html, code
        status, html, _ = await leader.get(f"/console/health/{C2}")
        assert status == 200 and "Hà Văn Tủa" in html and "Lò Thị Ơn" in html
        assert re.findall(r'data-problem="([a-z_]+)"', html) == PROBLEMS[C2]
        assert (await leader.get(f"/console/health/{C1}"))[0] == 404

        # a propagandist: refused, and no link
        for path in ("/console/health", f"/console/health/{C1}"):
            status, html, _ = await propagandist.get(path)
            assert status == 403 and "Vàng Thị Mai" not in html
        assert 'href="/console/health"' not in (await propagandist.get("/console/"))[1]

        # English
        status, html, _ = await operator.get("/console/health?lang=en")
        assert status == 200
    finally:
        for b in (operator, officer, leader, propagandist):
            await b.close()
    anonymous = Browser(running)
    try:
        status, _, r = await anonymous.get("/console/health")
        assert status == 303 and r.headers["Location"] == "/console/login"
    finally:
        await anonymous.close()


async def test_a_commune_taken_out_of_the_configuration_is_not_watched(running, tmp_path):
    """A commune removed from config.yml (a merge) is kept in the store as inactive: it is no
    longer served, so the health views do not list it — `bot tenants health` run from cron
    would otherwise exit 1 for ever on its 'no OA', and the operator's page list it. The
    yearly report already leaves inactive communes out."""
    kept = running.settings.model_copy(
        update={"communes": [c for c in running.settings.communes if c.code != C2]}
    )
    (tmp_path / "config.yml").write_text(
        yaml.safe_dump(kept.model_dump(mode="json"), allow_unicode=True), encoding="utf-8"
    )
    rc, out, err = await bot(running, tmp_path, "tenants", "health", "--province", "15", "--json")
    assert rc == 1, err
    assert [r["code"] for r in json.loads(out)["communes"]] == [C1]  # C2 made inactive
    rc, out, err = await bot(running, tmp_path, "staff", "propagandists", "--province", "15")
    assert rc == 0 and C2 not in out and "Toàn tỉnh 15: 1/2 thôn" in out, out
    rc, _, err = await bot(running, tmp_path, "staff", "propagandists", "--commune", C2)
    assert rc == 2 and "not configured" in err
    operator = await signed_in(running, "tinh.qt", role="operator", name="Quản trị tỉnh")
    try:
        status, html, _ = await operator.get("/console/health")
        assert status == 200 and cards(html) == [(C1, PROBLEMS[C1])], html
        assert 'id="province-coverage">1/2 (50%)<' in html
        status, _, _ = await operator.get(f"/console/health/{C2}")
        assert status == 404
    finally:
        await operator.close()
