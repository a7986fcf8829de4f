"""Each commune's own knowledge (issue 12, docs/knowledge.md): files read and written, the
decision rule measured on a labelled set, and the real path — `bot knowledge import` into the
store, then a web chat resident asking."""

from __future__ import annotations

import asyncio
import csv
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot import cli
from bot.config import ROOT, load_settings
from bot.conversation.engine import TurnInput, prepare
from bot.conversation.steps.reading import reading
from bot.knowledge import decide as rule
from bot.knowledge import io, store
from bot.knowledge.retrieval import Entry, Index
from tests.helpers import Visitor, commune_code, make_settings, start_service, text

DEMO = ROOT / "data" / "knowledge" / "02839.csv"
LABELLED = Path(__file__).parent / "data" / "knowledge_labelled.csv"
HEADER = "question,answer,variants,topic,valid_from,valid_until,source\n"


# -- files -----------------------------------------------------------------------------------
def test_csv_as_excel_writes_it_and_bad_rows_named(tmp_path):
    f = tmp_path / "kb.csv"
    f.write_bytes(
        (
            "\ufeffQuestion,Answer,Variants,valid_until\r\n"
            'Chợ họp ngày nào?,"Chủ nhật, sáng",chợ phiên|phiên chợ,31/12/2026\r\n'
            ",,,\r\n"
        ).encode()
    )
    [item] = io.read(f)
    assert item.question == "Chợ họp ngày nào?" and item.answer == "Chủ nhật, sáng"
    assert item.variants == ("chợ phiên", "phiên chợ") and item.valid_until == date(2026, 12, 31)
    for body, named in (
        ("question,answer\nA,B\n", "row 1 (header): missing column(s) variants"),
        ("question,answer,variants\nA,B,\n,C,\n", "row 3: the question is empty"),
        ("question,answer,variants,valid_from\nA,B,,32/01/2026\n", "row 2: date '32/01/2026'"),
        ("question,answer,variants\nChợ họp?,B,\ncho hop?,C,\n", "row 3: the question"),
    ):
        f.write_text(body, encoding="utf-8")
        with pytest.raises(
            io.KnowledgeFileError, match=named.replace("(", r"\(").replace(")", r"\)")
        ):
            io.read(f)


def test_yaml_and_csv_round_trip(tmp_path):
    items = io.read(DEMO)
    assert len(items) >= 20
    again = io.read_yaml(io.write_yaml(items))
    assert again == items
    doc = yaml.safe_load(io.write_yaml(items[:1]))
    assert doc["nlu"][0]["intent"].startswith("faq/")
    assert doc["nlu"][0]["examples"].startswith("- Trạm y tế")
    assert list(doc["responses"])[0].startswith("utter_faq/")
    assert io.read_csv(io.write_csv(items)) == items
    bad = "nlu:\n- intent: faq/cho\n  examples: |\n    - chợ họp ngày nào\nresponses: {}\n"
    with pytest.raises(io.KnowledgeFileError, match="line 2: faq/cho has no response"):
        io.read_yaml(bad)


# -- the decision rule -------------------------------------------------------------------------
def measured() -> tuple[float, float, list[str]]:
    """Precision and recall of ``decide`` on the labelled set against the demo commune's
    entries (an offer counts as right when it holds the expected entry)."""
    items = io.read(DEMO)
    index = Index([Entry(n, i.question, i.answer, i.variants) for n, i in enumerate(items)])
    commune = load_settings(ROOT / "config.yml").commune("02839")
    assert commune is not None
    right = wrong = positives = 0
    misses = []
    with LABELLED.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            r = reading(prepare(TurnInput(commune, row["text"])))
            d = rule.decide(
                index.lookup(row["text"]),
                r.intent,
                r.intent != "nlu_fallback",
                r.code,
                r.parse.confidence,
                rule.live_data(r.intent, commune),
                row["text"],
                ruled=r.rule is not None,
            )
            positives += bool(row["expected"])
            if d.kind == "pass":
                misses += [row["text"]] if row["expected"] else []
            elif row["expected"] in [e.question for e in d.entries]:
                right += 1
            else:
                wrong += 1
                misses.append(row["text"])
    return right / max(right + wrong, 1), right / positives, misses


def test_thresholds_on_the_labelled_set():
    precision, recall, misses = measured()
    print(f"knowledge: precision {precision:.3f}, recall {recall:.3f}")
    # recall is traded for safety: sure reports, requests for a person and the commune's own
    # data (hours, contact, notices, the health station) keep their intents (bot/knowledge/decide.py)
    assert precision >= 0.95 and recall >= 0.9, misses


def test_sure_intents_that_need_the_communes_data_are_kept():
    a, b = Entry(1, "Giờ làm việc?", "x"), Entry(2, "Khác", "y")
    assert rule.decide([(a, 0.6), (b, 0.1)], "office_hours", True).kind == "pass"
    assert rule.decide([(a, 0.8), (b, 0.1)], "office_hours", True, None, 0.6).kind == "answer"
    assert rule.decide([(a, 0.86), (b, 0.1)], "office_contact", True, None, 0.94).kind == "pass"
    assert rule.decide([(a, 0.97), (b, 0.1)], "office_contact", True, None, 0.94).kind == "answer"
    # a report or a request for a person: only the entry's own words
    assert rule.decide([(a, 0.86), (b, 0.1)], "report_issue", True).kind == "pass"
    assert rule.decide([(a, 0.97), (b, 0.1)], "report_issue", True).kind == "answer"
    assert rule.decide([(a, 0.86), (b, 0.1)], "talk_to_staff", True).kind == "pass"
    # no sure intent is overridden by an offer of two entries
    assert rule.decide([(a, 0.44), (b, 0.4)], "procedure_land", True).kind == "pass"
    assert rule.decide([(a, 0.6), (b, 0.1)], "procedure_birth", True).kind == "answer"
    assert rule.decide([(a, 0.99)], "ticket_status", True, code="BH-2026-0001").kind == "pass"
    assert rule.decide([(a, 0.9)], "greet", True).kind == "pass"
    assert rule.decide([(a, 0.5), (b, 0.45)], "nlu_fallback", False).kind == "offer"
    assert rule.decide([(a, 0.5), (b, 0.45)], "out_of_scope", True).kind == "pass"
    assert rule.decide([(a, 0.3), (b, 0.2)], "nlu_fallback", False).kind == "pass"


def test_a_reading_under_the_rules_own_sure_keeps_nothing_from_the_entries(monkeypatch):
    """The mechanism of ``T_SURE`` (off in service: docs/knowledge.md), at the 0.45 measured."""
    monkeypatch.setattr(rule, "T_SURE", 0.45)
    a, b = Entry(1, "Thu gom rác vào ngày nào?", "x"), Entry(2, "Khác", "y")
    under = rule.T_SURE - 0.01
    # "lịch thu gom rác": unsure, but taken for a report by its words — the schedule answers
    assert rule.decide([(a, 0.6), (b, 0.1)], "report_issue", True, None, under).kind == "answer"
    # a decision rule's reading ("nhà tôi mất điện từ sáng") is sure whatever the confidence
    kept = rule.decide([(a, 0.6), (b, 0.1)], "report_issue", True, None, under, ruled=True)
    assert kept.kind == "pass"
    assert rule.decide([(a, 0.6), (b, 0.1)], "report_issue", True, None, rule.T_SURE).kind == "pass"


def test_an_entry_sharing_only_the_asking_is_left_out():
    """``decide.uncovered``: an entry with none of the words naming what is asked about needs
    ``T_UNCOVERED``; the words that ask, those said with every topic and numbers are not
    counted, and an answer's words count as the entry's own."""
    power = Entry(1, "Tiền điện nộp ở đâu?", "Nộp qua ứng dụng EVNNPC CSKH.", ("đóng tiền điện",))
    assert rule.covered("nộp thuế ở đâu", power) == 0.0
    assert rule.covered("tien dien nop o dau vay", power) == 1.0
    assert rule.covered("nộp ở đâu", power) == 1.0  # names nothing: nothing to miss
    assert rule.covered("nộp qua ứng dụng được không", power) == 1.0  # the answer's words
    assert rule.uncovered("nộp thuế ở đâu", power, 0.58)
    assert not rule.uncovered("nộp thuế ở đâu", power, rule.T_UNCOVERED)
    assert rule.decide([(power, 0.58)], "nlu_fallback", False, asked="nop thue o dau") == rule.PASS
    assert rule.decide([(power, 0.58)], "nlu_fallback", False).kind == "answer"  # no words given
    # a dropped entry still stands as the rival: the weaker one behind it does not answer
    # in its place ("đăng ký xe máy ở đâu" is not the bus timetable), nor does dropping a
    # close second turn an offer into an answer
    marriage = Entry(2, "Đăng ký kết hôn ở đâu?", "Tại bộ phận một cửa của xã.")
    bus = Entry(3, "Xe khách đi Lào Cai chạy lúc mấy giờ?", "Xe chạy lúc 5 giờ sáng.")
    asked = "dang ky xe may o dau"
    assert rule.uncovered(asked, marriage, 0.573) and not rule.uncovered(asked, bus, 0.549)
    assert rule.decide([(marriage, 0.573), (bus, 0.549)], "nlu_fallback", False, asked=asked) in (
        rule.PASS,
        rule.Decision("offer", (bus,)),
    )
    assert (
        rule.decide([(marriage, 0.573), (bus, 0.549)], "nlu_fallback", False, asked=asked).kind
        != "answer"
    )
    assert (
        rule.decide([(bus, 0.58), (power, 0.55)], "x", False, asked="xe khach di lao cai").kind
        != "answer"
    )


# -- the real path ---------------------------------------------------------------------------
async def test_a_question_sharing_only_the_asking_is_not_answered_with_an_entry(service):
    """The demo commune's entries in the store; through the web chat, "nop thue o dau" (where to
    pay a tax) is not answered with "Tiền điện nộp ở đâu?" (0.58: "nộp … ở đâu" alone), while
    the electricity bill asked in other words still is."""
    async with service.services.sm() as s, s.begin():
        tenant = service.services.tenants.by_code(commune_code(1))
        assert tenant is not None
        await store.save(s, store.Owner(commune_id=tenant.id), io.read(DEMO))
    # each in a chat of its own (no topic kept from the one before, no handover to staff
    # after two questions not understood)
    for words in ("nop thue o dau", "nộp thuế ở đâu vậy"):
        said = await says_alone(service.url, words)
        assert "EVNNPC" not in said and "hiểu" in said, (words, said)  # not understood
    for words in ("đóng tiền điện chỗ nào", "nộp tiền điện tháng này ở đâu"):
        said = await says_alone(service.url, words)
        assert "EVNNPC CSKH" in said, (words, said)


async def says_alone(url: str, words: str) -> str:
    tab = Visitor(url)
    try:
        await tab.open()
        return await ask(tab, words)
    finally:
        await tab.close()


def bot(config: Path, *args: str) -> int:
    return cli.main(["--config", str(config), "knowledge", *args])


async def test_imported_knowledge_answers_residents(tmp_path, sim, capsys):
    running = await start_service(
        make_settings(
            f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            sim,
            commune_extra={"province_code": "15"},
        ),
        sim,
    )
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(running.settings.model_dump(mode="json"), allow_unicode=True),
        encoding="utf-8",
    )
    kb = tmp_path / "kb.csv"
    tab = Visitor(running.url)
    run = asyncio.to_thread
    try:
        kb.write_bytes(DEMO.read_bytes())
        assert await run(bot, config, "import", "--commune", "90001", str(kb)) == 0
        assert "22 added, 0 updated" in capsys.readouterr().out
        await tab.open()
        said = await ask(tab, "tram y te mo cua may gio")
        assert "Trạm Y tế xã Bắc Hà khám bệnh từ 7:00" in said
        said = await ask(tab, "cho e xin sdt cong an xa")
        assert "0214 3880 113" in said
        # the commune's hours are still the commune's (a sure intent that needs its data)
        assert "Xã Thử Nghiệm 1 làm việc" in await ask(tab, "uy ban xa lam viec may gio")
        # a report stays a report, whether the NLU is sure of it or it is only guessed from
        # the words (0.40: decide.T_SURE is off) — not the schedule entry that shares its
        # words (each a resident's first message)
        for report in ("xe rác không đến lấy rác 3 ngày rồi", "rác không thu"):
            said = await first_says(running.url, report)
            assert "Xe thu gom rác đi qua" not in said, (report, said)
        # two close entries: both offered; the number typed picks one
        [offer] = await tab.says("phi")
        assert offer["kind"] == "choices", offer
        titles = [o["title"] for o in offer["options"]]
        assert "Lệ phí đăng ký khai sinh là bao nhiêu?" in titles
        picked = text(
            await tab.says(str(titles.index("Lệ phí đăng ký khai sinh là bao nhiêu?") + 1))
        )
        assert "miễn lệ phí" in picked
        # a bad file changes nothing, names the row, and exits non-zero
        kb.write_text(HEADER + "Chợ họp ngày nào?,Thứ Hai,,,,,\nA,,,,,,\n", encoding="utf-8")
        assert await run(bot, config, "import", "--commune", "90001", "--replace", str(kb)) == 2
        assert "row 3: the answer is empty" in capsys.readouterr().err
        assert "0214 3880 113" in await ask(tab, "sdt cong an xa")
        # a change is answered from at once (merge: one updated, the rest kept)
        kb.write_text(
            HEADER + "Số điện thoại công an xã là bao nhiêu?,Công an xã: 0999 000 113,,,,,\n",
            encoding="utf-8",
        )
        assert await run(bot, config, "import", "--commune", "90001", str(kb)) == 0
        assert "0 added, 1 updated" in capsys.readouterr().out
        assert "0999 000 113" in await ask(tab, "sdt cong an xa")
        assert "Trạm Y tế xã Bắc Hà" in await ask(tab, "tram y te mo cua may gio")
        # replace: only the file's entries remain; an entry past valid_until is not used
        kb.write_text(
            HEADER
            + "Số điện thoại công an xã là bao nhiêu?,Công an: 0888 000 113,,,,,\n"
            + "Lịch tiêm chủng cho trẻ?,Ngày 25 hằng tháng,,,,01/01/2020,\n",
            encoding="utf-8",
        )
        assert await run(bot, config, "import", "--commune", "90001", "--replace", str(kb)) == 0
        assert "22 replaced" in capsys.readouterr().out
        assert "Trạm Y tế xã Bắc Hà" not in await ask(tab, "tram y te mo cua may gio")
        assert "Ngày 25 hằng tháng" not in await ask(tab, "lich tiem chung cho tre")
        assert await run(bot, config, "list", "--commune", "90001") == 0
        assert "2 entries." in capsys.readouterr().out
        # a province's entry: inherited by every commune of the province, overridden by one
        kb.write_text(
            HEADER
            + "Số điện thoại công an xã là bao nhiêu?,Gọi 113,,,,,\n"
            + "Chợ phiên họp ngày nào?,Chợ tỉnh họp Chủ nhật,,,,,\n",
            encoding="utf-8",
        )
        assert await run(bot, config, "import", "--province", "15", str(kb)) == 0
        assert "Chợ tỉnh họp Chủ nhật" in await ask(tab, "cho phien hop ngay nao")
        assert "0888 000 113" in await ask(tab, "sdt cong an xa")
        other = Visitor(running.url, code="90002")
        try:
            await other.open()
            assert "Gọi 113" in await ask(other, "sdt cong an xa")
        finally:
            await other.close()
        # export as YAML, import it back elsewhere: the same entries
        out = tmp_path / "kb.yml"
        assert await run(bot, config, "export", "--commune", "90001", "--out", str(out)) == 0
        assert await run(bot, config, "import", "--commune", "90002", str(out)) == 0
        assert "2 added" in capsys.readouterr().out
        assert "0888 000 113" in await other_says(running.url, "sdt cong an xa")
    finally:
        await tab.close()
        await running.runner.cleanup()


async def ask(tab: Visitor, words: str) -> str:
    """What the bot answered (one message: the knowledge's answers come in one frame)."""
    return text(await tab.says(words, settle=0.3))


async def other_says(url: str, words: str) -> str:
    return await first_says(url, words, "90002")


async def first_says(url: str, words: str, code: str = "90001") -> str:
    """What a new resident of ``code`` is answered first."""
    tab = Visitor(url, code=code)
    try:
        await tab.open()
        return await ask(tab, words)
    finally:
        await tab.close()


async def test_knowledge_on_postgresql(pg_url, sim, tmp_path):
    """The store's queries on PostgreSQL: save, merge, visible with a province, the version."""
    from bot.knowledge import store
    from bot.knowledge.retrieval import index_of
    from bot.store.db import create_engine, sessionmaker
    from bot.tenants import sync

    settings = make_settings(pg_url, sim, commune_extra={"province_code": "15"})
    engine = create_engine(pg_url)
    try:
        sm = sessionmaker(engine)
        tenants = await sync(settings, sm)
        one = tenants.by_code("90001")
        assert one is not None
        items = io.read(DEMO)
        async with sm() as s, s.begin():
            await store.save(s, store.Owner(province_code="15"), items[:3])
            saved = await store.save(s, store.Owner(commune_id=one.id), items[:2], replace=True)
            assert (saved.added, saved.deleted) == (2, 0)
        async with sm() as s, s.begin():
            index = await index_of(s, one.id, "15")
            assert len(index.entries) == 3
            assert {e.commune_id for e in index.entries} == {one.id, None}
            assert index.lookup("sdt cong an xa")[0][0].commune_id == one.id
    finally:
        await engine.dispose()
