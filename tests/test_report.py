"""The yearly report (bot/report/, docs/report.md) over a seeded data set (tests/report_data.py)
whose numbers are worked out by hand below, on SQLite and PostgreSQL: the figures, the
province's targets, the periods; then `bot report` run for real (a separate process) writing
XLSX (read back with openpyxl), CSV and HTML."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from datetime import date

import pytest
import yaml
from sqlalchemy import select

from bot import facts_store
from bot.cli.common import open_store
from bot.report import figures, period, tables
from bot.report.figures import Feedback
from bot.report.targets import targets
from bot.store.models import Commune
from tests.report_data import NOW, A, B, config, seed, settings

YEAR = period.year(2026)


@pytest.fixture
async def seeded(store_url):
    s = settings(store_url)
    async with open_store(s, sync=True) as store:
        async with store.sm() as session, session.begin():
            await seed(session)
        yield store, s


async def _report(seeded, scope: str = "province", code: str = "15") -> figures.Report:
    store, s = seeded
    async with store.sm() as session:
        return await figures.build(session, scope, code, YEAR, NOW, s.communes)


def test_the_periods():
    # the plan's data window: 15/12 of the year before to 14/12 of the report year
    assert (YEAR.first, YEAR.last) == (date(2025, 12, 15), date(2026, 12, 14))
    one, two = period.half("2026-1"), period.half("2026-2")
    assert (one.first, one.last) == (date(2025, 12, 15), date(2026, 6, 14))
    assert (two.first, two.last) == (date(2026, 6, 15), date(2026, 12, 14))
    assert one.days + two.days == YEAR.days == 365  # the halves cover the year exactly
    assert period.parse_date("15/12/2025") == period.parse_date("2025-12-15")
    assert period.parse_date("1/2/2026") == date(2026, 2, 1)
    for bad in ("31/02/2026", "2026/12/01", "hôm qua"):
        with pytest.raises(period.PeriodError):
            period.parse_date(bad)
    with pytest.raises(period.PeriodError):
        period.between("14/12/2026", "15/12/2025")
    with pytest.raises(period.PeriodError):
        period.half("2026-3")


async def test_the_figures_by_hand(seeded):
    report = await _report(seeded)
    # province 15 is A and B; C (province 16) never appears
    assert [c.code for c in report.communes] == [A, B]
    a, b = report.communes

    # notices sent in the window: A's of 10/01 and 20/11; not the one of 14/12/2025 23:30
    # (Vietnamese time: the day before the window), nor the draft
    assert a.notices == 2 and b.notices == 1
    assert a.categories == {"safety": 1, "policy": 1} and b.categories == {"services": 1}
    assert a.priorities == {"emergency": 1, "normal": 1} and b.priorities == {"priority": 1}
    # imported from CAP (the source system): the one of 10/01 (the CAP one of 2025 is out)
    assert (a.source_notices, b.source_notices) == (1, 0)
    # the ledger's rows: notice 1 has 2 consultations, a broadcast, a skip; notice 2 a
    # consultation and a relay → 3 + 1 + 1 + 1
    assert a.routes == {"consultation": 3, "broadcast": 1, "relay": 1, "skipped": 1}
    assert b.routes == {"consultation": 1}

    # reached directly: r0 (consultation sent, twice: one resident), r2 (the broadcast went
    # out); r1's send failed, r3 skipped, r4 by relay only → 2 residents
    # followers: 5 (the erased one and the one who does not follow are not) → 2 / 5
    assert (a.reached, a.followers, a.reach_of_followers) == (2, 5, 0.4)
    # households 120 + 80 (config) → 2 / 200
    assert (a.households, a.reach_of_households) == (200, 0.01)
    # B: 1 / 2 followers; Bản Mới's households not known → no ratio, never a guess
    assert (b.reached, b.followers, b.reach_of_followers) == (1, 2, 0.5)
    assert b.households is None and b.reach_of_households is None

    # residents' messages: 01/03, 02/03 (missed), 14/12 23:30 (the last day); not 15/12
    # 00:10, not 14/12/2025 23:59, not the bot's own → 3, of which 1 missed
    assert (a.traffic.messages, a.traffic.missed, a.traffic.answered) == (3, 1, 2)
    assert (b.traffic.messages, b.traffic.missed) == (2, 0)

    # villages: Thôn 1 has an active propagandist; Thôn 2's is inactive (an officer there
    # does not count) → 1 of 2; relays of notices sent in the window: Thôn 1 2 (both
    # confirmed), Thôn 2 1 (not; its 2025 one is out) → 2 / 3
    t1, t2 = a.villages
    assert (t1.name, t1.households, t1.propagandists, t1.relays, t1.confirmed) == (
        "Thôn 1",
        120,
        1,
        2,
        2,
    )
    assert (t2.name, t2.propagandists, t2.relays, t2.confirmed) == ("Thôn 2", 0, 1, 0)
    assert t1.confirm_rate == 1.0 and t2.confirm_rate == 0.0
    assert (a.villages_covered, a.relays, a.relays_confirmed) == (1, 3, 2)
    assert b.villages_covered == 1 and b.villages[0].confirm_rate is None

    # feedback, road: received 2 (zalo, web: both mobile), both answered; judged: answered
    # 05/03 for 10/03 (on time), 12/03 for 10/03 (late), and the one received 10/12/2025
    # but due 20/12/2025 and answered 18/12 (on time); ratings 5 and 3 → mean 4
    assert a.feedback["road"] == Feedback(
        received=2, answered=2, mobile=2, on_time=2, late=1, overdue=0, rated=2, rating_sum=8
    )
    assert a.feedback["road"].mean_rating == 4.0
    # environment: Open311 (open, due 01/04: overdue), staff's (due 20/12: after the window)
    assert a.feedback["environment"] == Feedback(received=2, overdue=1)
    total = a.tickets
    assert (total.received, total.answered, total.mobile) == (4, 2, 2)
    assert (total.on_time, total.late, total.overdue) == (2, 1, 1)
    assert b.feedback == {
        "other": Feedback(received=1, answered=1, mobile=1, on_time=1, rated=1, rating_sum=4)
    }

    # OA: A's token stored and valid; B's refused at refresh → re-consent, not healthy
    assert (a.oa_state, a.oa_healthy) == ("connected", True)
    assert (b.oa_state, b.oa_healthy) == ("reconsent", False)


async def test_households_follow_a_village_renamed_in_the_console(seeded):
    """Households come from config.yml by village name; a village staff renamed in the console
    keeps its households under its new name (its commune's reach was "không có dữ liệu"
    before), and one they added has none: the commune's total is then unknown, never guessed."""
    store, s = seeded

    async def edit(changes: dict, name: str, was: str | None = None) -> figures.CommuneReport:
        async with store.sm() as session, session.begin():
            cid = (await session.execute(select(Commune.id).where(Commune.code == A))).scalar_one()
            await facts_store.save(session, cid, changes, None, "test")
            await facts_store.place_village(session, cid, name, "thôn", was=was)
        facts_store.forget(cid)
        return (await _report(seeded)).communes[0]

    a = await edit({"villages.renamed": {"Thôn 1": "Thôn Một"}}, "Thôn Một", was="Thôn 1")
    assert [(v.name, v.households) for v in a.villages] == [("Thôn Một", 120), ("Thôn 2", 80)]
    assert (a.households, a.reach_of_households) == (200, 0.01)

    a = await edit({"villages.added": [{"name": "Thôn Mới", "kind": "thôn"}]}, "Thôn Mới")
    assert [(v.name, v.households) for v in a.villages][2] == ("Thôn Mới", None)
    assert a.households is None and a.reach_of_households is None


async def test_the_targets_by_hand(seeded):
    found = {t.key: t for t in targets(await _report(seeded))}
    # villages with an active propagandist: Thôn 1, Bản Mới of 3 → 2/3, not met
    assert (found["propagandists"].done, found["propagandists"].of) == (2, 3)
    assert found["propagandists"].met is False
    # every commune has an OA in its configuration → 2/2, met
    assert (found["zalo_oa"].done, found["zalo_oa"].of, found["zalo_oa"].met) == (2, 2, True)
    # feedback on mobile: A's zalo + web, B's zalo = 3 of 5 → 60 %, not met
    assert found["mobile_feedback"].value == pytest.approx(0.6)
    assert found["mobile_feedback"].met is False
    # communes with a notice from the source system: A only → 1/2
    assert (found["source_system"].done, found["source_system"].of) == (1, 2)
    assert found["source_system"].met is False
    # no data in the service: unknown, never a number
    for key in ("tts", "led"):
        assert (found[key].value, found[key].met) == (None, None)


async def test_a_commune_alone_and_the_tables(seeded):
    report = await _report(seeded, "commune", A)
    assert [c.code for c in report.communes] == [A]
    shown = {t.key: t for t in tables.tables(report)}
    assert list(shown) == [
        "chi-tieu", "tong-hop", "tb-linh-vuc", "tb-muc-do", "tb-hinh-thuc", "chuyen-tiep",
        "phan-anh",
    ]  # fmt: skip
    assert not shown["tong-hop"].total  # a commune's report has no province row
    # numbers in Vietnamese form
    assert tables.show(1234567, tables.INT) == "1.234.567"
    assert tables.show(2 / 3, tables.PCT) == "66,7 %"
    assert tables.show(None, tables.PCT) == "không có dữ liệu"


async def _main(config_path, *args: str) -> int:
    """`bot report …` through the command's main function (in a thread: it runs its own
    event loop)."""
    from bot import cli

    return await asyncio.to_thread(cli.main, ["--config", str(config_path), "report", *args])


async def _run(config_path, *args: str) -> tuple[int, bytes, bytes]:
    """`bot report …` as a separate process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--config", str(config_path), "report", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out, err


async def test_the_command_writes_xlsx_csv_and_html(seeded, store_url, tmp_path, capsys):
    cfg = tmp_path / "config.yml"
    cfg.write_text(yaml.safe_dump(config(store_url), allow_unicode=True), encoding="utf-8")

    xlsx = tmp_path / "tinh-15.xlsx"
    assert await _main(cfg, "--province", "15", "--year", "2026", "--out", str(xlsx)) == 0
    from openpyxl import load_workbook

    book = load_workbook(xlsx)
    assert book.sheetnames == [
        "chi-tieu", "tong-hop", "tb-linh-vuc", "tb-muc-do", "tb-hinh-thuc", "chuyen-tiep",
        "phan-anh",
    ]  # fmt: skip
    summary = book["tong-hop"]
    rows = [[c.value for c in row] for row in summary.iter_rows()]
    assert rows[0][0] == "Tổng hợp theo xã"
    assert "Kỳ báo cáo: từ 15/12/2025 đến 14/12/2026" in [r[0] for r in rows[:5]]
    header = next(r for r in rows if r[0] == "Mã xã")
    by_code = {r[0]: dict(zip(header, r, strict=True)) for r in rows if r[0] in (A, B)}
    total = next(dict(zip(header, r, strict=True)) for r in rows if r[1] == "Toàn tỉnh")
    assert by_code[A]["Thông báo đã gửi"] == 2 and by_code[B]["Thông báo đã gửi"] == 1
    assert by_code[A]["Người dân được tiếp cận"] == 2 and by_code[A]["Người quan tâm OA"] == 5
    assert by_code[A]["Tiếp cận / người quan tâm"] == pytest.approx(0.4)
    assert by_code[A]["Tiếp cận / số hộ"] == pytest.approx(0.01)
    assert by_code[B]["Số hộ"] == "không có dữ liệu"
    assert by_code[A]["Câu hỏi bỏ lỡ"] == 1 and by_code[A]["Câu hỏi được trả lời"] == 2
    assert by_code[A]["Quá hạn (chưa xử lý)"] == 1
    assert by_code[A]["Điểm đánh giá trung bình"] == pytest.approx(4.0)
    assert by_code[A]["Tỷ lệ xác nhận"] == pytest.approx(2 / 3)
    assert by_code[A]["Trạng thái kết nối"] == "Đã kết nối"
    assert by_code[B]["Trạng thái kết nối"] == "Cần kết nối lại"
    assert by_code[B]["OA hoạt động tốt"] == "Chưa đạt"
    # the province's row: 2 + 1 notices, 3 of 7 followers, 5 messages
    assert total["Thông báo đã gửi"] == 3 and total["Người quan tâm OA"] == 7
    assert total["Câu hỏi của người dân"] == 5 and total["Phản ánh nhận"] == 5
    assert len(summary._charts) == 2  # answered / missed questions, deadlines
    goals = {r[0].value: [c.value for c in r] for r in book["chi-tieu"].iter_rows() if r[0].value}
    tts = next(v for k, v in goals.items() if k.startswith("85 %"))
    assert tts[-1] == "không có dữ liệu" and tts[4] == "không có dữ liệu"
    mobile = next(v for k, v in goals.items() if k.startswith("100 % phản ánh"))
    assert mobile[2:5] == [3, 5, pytest.approx(0.6)] and mobile[-1] == "Chưa đạt"
    oa = next(v for k, v in goals.items() if k.startswith("100 % xã có Zalo"))
    assert oa[-1] == "Đạt"
    relays = [[c.value for c in r] for r in book["chuyen-tiep"].iter_rows()]
    assert [A, "Xã Hồng <Hà>", "Thôn 2", 80, 0, 1, 0, 0] in relays

    # a commune, dates as staff write them, CSV
    out = tmp_path / "xa.csv"
    assert await _main(
        cfg, "--commune", A, "--from", "15/12/2025", "--to", "2026-12-14",
        "--format", "csv", "--out", str(out),
    ) == 0  # fmt: skip
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert ["# Tổng hợp theo xã"] in lines
    header = lines[lines.index(["# Tổng hợp theo xã"]) + 1]
    row = dict(zip(header, lines[lines.index(["# Tổng hợp theo xã"]) + 2], strict=True))
    assert row["Mã xã"] == A and row["Tiếp cận / người quan tâm"] == "40,0 %"
    assert row["Tỷ lệ xác nhận"] == "66,7 %" and row["Điểm đánh giá trung bình"] == "4,0"
    assert not any(r[:2] == ["", "Toàn tỉnh"] for r in lines)

    # HTML to standard output, the command as its own process
    code, html, err = await _run(cfg, "--province", "15", "--half", "2026-1", "--format",
                                 "html", "--out", "-")  # fmt: skip
    assert code == 0, err
    page = html.decode()
    assert "Xã Hồng &lt;Hà&gt;" in page and "Xã Hồng <Hà>" not in page
    assert "từ 15/12/2025 đến 14/06/2026" in page
    assert page.count("<svg") == page.count("data:image/png;base64,") >= 4
    assert "<script" not in page

    # wrong input: a clear message, exit 2
    capsys.readouterr()
    assert await _main(cfg, "--province", "15", "--year", "2026", "--half", "2026-1") == 2
    assert "--year" in capsys.readouterr().err
    assert await _main(cfg, "--commune", "12345", "--year", "2026") == 2
    assert "12345" in capsys.readouterr().err
    assert await _main(cfg, "--commune", A, "--from", "31/02/2026", "--to", "1/3/2026") == 2
    assert "31/02/2026" in capsys.readouterr().err
