"""Knowledge files from the second reading (docs/knowledge.md): spreadsheet formulas neutralised
on export and restored on import, Excel's `;` files, the staff's own columns kept, bad cells and
YAML refused naming where, a province entry hidden from one commune, one entry per owner and
question in the store (migration 0016), and the retrieval told of a save only once committed."""

from __future__ import annotations

import asyncio
import csv
import io as stdio
import os
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from bot import cli
from bot.knowledge import io, store
from bot.knowledge.retrieval import index_of
from bot.store.db import create_engine, sessionmaker
from bot.store.migrate import upgrade
from bot.store.models import KnowledgeEntry
from bot.tenants import sync
from tests.helpers import (
    PG_DEFAULT,
    Visitor,
    admin,
    make_settings,
    start_service,
    text,
    unavailable,
)

HEADER = "question,answer,variants,topic,valid_from,valid_until,source"


def bot(config: Path, *args: str) -> int:
    return cli.main(["--config", str(config), "knowledge", *args])


def config_of(tmp_path: Path, settings) -> Path:
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(settings.model_dump(mode="json"), allow_unicode=True), encoding="utf-8"
    )
    return config


def cells(path: Path) -> list[list[str]]:
    return list(csv.reader(stdio.StringIO(path.read_text(encoding="utf-8-sig"))))


# -- formulas, `;`, the staff's own columns: export → import unchanged ------------------------
async def test_export_import_round_trip_neutralises_formulas_and_keeps_own_columns(
    store_url, sim, tmp_path, capsys
):
    config = config_of(tmp_path, make_settings(store_url, sim))
    run = asyncio.to_thread
    kb = tmp_path / "kb.csv"
    # as Excel saves it in a Vietnamese locale: BOM, `;` between cells, CRLF, a line break in
    # a cell; staff's own columns "Ghi chú" and "Người phụ trách" after ours
    kb.write_bytes(
        (
            "\ufeffquestion;answer;variants;Ghi chú;Người phụ trách\r\n"
            "Số điện thoại công an xã?;+84 214 3880 113;sdt cong an;gọi giờ hành chính;Anh Minh\r\n"
            "Cách tính phí?;=1+1 không phải công thức;;;\r\n"
            'Cần mang giấy tờ gì?;"- CCCD\n- Giấy khai sinh";;"=HYPERLINK(""http://x"")";Chị Lan\r\n'
            "Nộp hồ sơ ở đâu?;'=đã có dấu nháy;@bộ phận một cửa|-một cửa;;\r\n"
            "Ai ký giấy?;'Chủ tịch xã;;;\r\n"
        ).encode()
    )
    original = io.read(kb)
    assert original[0].extra == (("Ghi chú", "gọi giờ hành chính"), ("Người phụ trách", "Anh Minh"))
    assert original[2].answer == "- CCCD\n- Giấy khai sinh"
    # a cell already guarded (a former export) loses exactly its guard; other quotes stay
    assert original[3].answer == "=đã có dấu nháy" and original[4].answer == "'Chủ tịch xã"
    assert await run(bot, config, "import", "--commune", "90001", str(kb)) == 0
    assert "5 added" in capsys.readouterr().out

    out = tmp_path / "out.csv"
    assert await run(bot, config, "export", "--commune", "90001", "--out", str(out)) == 0
    header, *rows = cells(out)
    assert header == [*HEADER.split(","), "Ghi chú", "Người phụ trách"]
    assert rows[0][1] == "'+84 214 3880 113" and rows[0][7:] == ["gọi giờ hành chính", "Anh Minh"]
    assert rows[1][1] == "'=1+1 không phải công thức"
    assert rows[2][1] == "'- CCCD\n- Giấy khai sinh" and rows[2][7] == '\'=HYPERLINK("http://x")'
    assert rows[3][1] == "'=đã có dấu nháy" and rows[3][2] == "'@bộ phận một cửa|-một cửa"
    assert rows[4][1] == "'Chủ tịch xã"  # a quote before harmless text is the text's own
    assert io.read(out) == original  # the guards come off; the own columns come back in order
    # an answer that itself starts with a quote before a formula sign keeps it (guard + own)
    quoted = [io.Item("Q?", "'=a"), io.Item("R?", "'")]
    assert io.read_csv(io.write_csv(quoted)) == quoted
    assert [r[1] for r in csv.reader(stdio.StringIO(io.write_csv(quoted)[1:]))][1:] == ["''=a", "'"]

    # imported elsewhere and exported again: the same file, byte for byte
    assert await run(bot, config, "import", "--commune", "90002", str(out)) == 0
    again = tmp_path / "again.csv"
    assert await run(bot, config, "export", "--commune", "90002", "--out", str(again)) == 0
    assert again.read_bytes() == out.read_bytes()
    # and through Rasa YAML (our fields in the response's metadata)
    yml = tmp_path / "kb.yml"
    assert await run(bot, config, "export", "--commune", "90001", "--out", str(yml)) == 0
    assert io.read(yml) == original
    # a tab-separated file ("Unicode text") is read the same way
    tsv = tmp_path / "kb_tab.csv"
    tsv.write_text(
        "question\tanswer\tvariants\nChợ họp ngày nào?\tChủ nhật, sáng\tphiên chợ\n",
        encoding="utf-8",
    )
    assert await run(bot, config, "import", "--commune", "90002", str(tsv)) == 0
    assert "1 added" in capsys.readouterr().out


# -- bad files: exit 2, the row or line named, nothing written --------------------------------
LONG_Q = "Hỏi " + "a" * 497
BAD = [
    # an unclosed quote would swallow the rest of the file into one cell
    (
        "quote.csv",
        f'{HEADER}\nA?,B,,,,,\nC?,"D mở ngoặc,,,,,\nE?,F,,,,,\nG?,H,,,,,\n',
        'row 3 (line 3): a quote (") opened in this row is never closed',
    ),
    ("quote2.csv", f'{HEADER}\nA?,"B" và C,,,,,\n', 'row 2 (line 2): a quote (") ends in'),
    ("long_q.csv", f"{HEADER}\n{LONG_Q},B,,,,,\n", "row 2: the question is 501 characters long"),
    ("long_a.csv", f"{HEADER}\nA?,{'b' * 2001},,,,,\n", "answer is 2001 characters long; at most"),
    (
        "nul.csv",
        f"{HEADER}\nA?,B\x00C,,,,,\n",
        "row 2: the answer holds a control character (U+0000)",
    ),
    (
        "bell.csv",
        f"{HEADER}\nA\x07?,B,,,,,\n",
        "row 2: the question holds a control character (U+0007)",
    ),
    ("tab_q.csv", f'{HEADER}\n"A\tB?",C,,,,,\n', "question holds a control character (U+0009)"),
    (
        "many.csv",
        f"{HEADER}\nA?,B,{'|'.join(f'cách hỏi {n}' for n in range(51))},,,,\n",
        "row 2: 51 paraphrases; at most 50",
    ),
    (
        "noname.csv",
        "question,answer,variants,\nA?,B,,ghi chú\n",
        "row 2: column 4 has a value but no",
    ),
    (
        "twice.csv",
        "question,answer,variants,Ghi chú,ghi chú\nA?,B,,,\n",
        "'ghi chú' is there twice",
    ),
    ("hidden.csv", f"{HEADER},hidden\nA?,,,,,,,có lẽ\n", "row 2: hidden is 'có lẽ'"),
    ("hidden2.csv", f"{HEADER},hidden\nA?,B,,,,,,x\n", "row 2: a hidden row hides the province"),
]
RESPONSE = "nlu:\n- intent: faq/x\n  examples: |\n    - Hỏi gì?\nresponses:\n  utter_faq/x:\n"
BAD_YAML = [
    (RESPONSE + "  - text: 113\n", "line 6: the answer (text) of utter_faq/x is a number (113)"),
    (RESPONSE + "  - text: [a, b]\n", "line 6: the answer (text) of utter_faq/x is a list"),
    (RESPONSE + "  - text: {a: b}\n", "the answer (text) of utter_faq/x is a mapping"),
    (RESPONSE + "  - text:\n", "the answer (text) of utter_faq/x is empty (null)"),
    (RESPONSE + "  - text: a\n  - text: b\n", "utter_faq/x has 2 texts"),
    (RESPONSE + '  - text: "a\\0b"\n', "the answer holds a control character (U+0000)"),
    (
        "nlu:\n- intent: faq/x\n  examples: [a, b]\nresponses:\n  utter_faq/x:\n  - text: a\n",
        "line 2: the examples of faq/x are a list",
    ),
    (
        'nlu:\n- intent: faq/x\n  examples: |\n    - "a"\n    * b\n'
        "responses:\n  utter_faq/x:\n  - text: a\n",
        "line 5: an example must be '- text'",
    ),
    (  # a "billion laughs": refused before anything is expanded
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
        "line 1: YAML anchors and aliases (& and *) are not accepted",
    ),
    (
        "nlu:\n- intent: faq/x\n  examples: |\n    - Hỏi gì?\n- intent: faq/x\n  examples: |\n"
        "    - Hỏi gì nữa?\nresponses:\n  utter_faq/x:\n  - text: a\n",
        "line 5: the intent faq/x is already at line 2",
    ),
    (
        RESPONSE + "  - text: a\n  utter_faq/x:\n  - text: b\n",
        "line 8: 'utter_faq/x' is there twice (line 6 and line 8)",
    ),
    (
        RESPONSE + "  - text: a\n  utter_faq/y:\n  - text: b\n",
        "line 8: the response utter_faq/y has no intent faq/y",
    ),
    (  # a mistyped name: both lines
        RESPONSE.replace("utter_faq/x", "utter_faq/xx") + "  - text: a\n",
        "line 6: the response utter_faq/xx has no intent faq/xx with its examples (and faq/x at"
        " line 2 has no response: a name mistyped?)",
    ),
]


async def test_bad_files_are_refused_naming_where_and_nothing_changes(tmp_path, sim, capsys):
    config = config_of(tmp_path, make_settings(f"sqlite+aiosqlite:///{tmp_path}/bot.db", sim))
    run = asyncio.to_thread
    good = tmp_path / "good.csv"
    # a newline and a tab inside an answer are fine
    good.write_text(f'{HEADER}\nA?,"Dòng 1\nDòng 2\tcột",,,,,\n', encoding="utf-8")
    assert await run(bot, config, "import", "--commune", "90001", str(good)) == 0
    capsys.readouterr()
    cases = BAD + [(f"bad{n}.yml", body, named) for n, (body, named) in enumerate(BAD_YAML)]
    for name, body, named in cases:
        f = tmp_path / name
        f.write_text(body, encoding="utf-8")
        assert await run(bot, config, "import", "--commune", "90001", "--replace", str(f)) == 2
        err = capsys.readouterr().err
        assert named in err and "nothing imported" in err, (name, err)
    assert (
        await run(bot, config, "export", "--commune", "90001", "--out", str(tmp_path / "o.csv"))
        == 0
    )
    assert io.read(tmp_path / "o.csv") == io.read(good)


# -- hiding a province's entry from one commune ----------------------------------------------
async def test_a_commune_hides_a_province_entry_its_residents_then_do_not_get(
    tmp_path, sim, capsys
):
    running = await start_service(
        make_settings(
            f"sqlite+aiosqlite:///{tmp_path}/bot.db", sim, commune_extra={"province_code": "15"}
        ),
        sim,
    )
    config = config_of(tmp_path, running.settings)
    run = asyncio.to_thread
    kb = tmp_path / "kb.csv"
    one, two = Visitor(running.url), Visitor(running.url, code="90002")
    try:
        kb.write_text(
            f"{HEADER}\n"
            "Chợ phiên họp ngày nào?,Chợ tỉnh họp Chủ nhật,,,,,\n"
            "Số điện thoại công an xã là bao nhiêu?,Gọi 113,sdt cong an,,,,\n",
            encoding="utf-8",
        )
        assert await run(bot, config, "import", "--province", "15", str(kb)) == 0
        await one.open()
        await two.open()
        assert "Chợ tỉnh họp Chủ nhật" in await ask(one, "cho phien hop ngay nao")
        # in the commune's own file: the province's question, no answer, hidden marked ẩn
        kb.write_text(
            f"{HEADER},hidden,Ghi chú\nchợ phiên họp ngày nào?,,,,,,,ẩn,xã không có chợ phiên\n",
            encoding="utf-8",
        )
        assert await run(bot, config, "import", "--commune", "90001", str(kb)) == 0
        assert "Chợ tỉnh họp Chủ nhật" not in await ask(one, "cho phien hop ngay nao")
        assert "Chợ tỉnh họp Chủ nhật" in await ask(two, "cho phien hop ngay nao")
        # or from the command line
        assert (
            await run(
                bot, config, "hide", "--commune", "90001", "so dien thoai cong an xa la bao nhieu"
            )
            == 0
        )
        assert "hidden" in capsys.readouterr().out
        assert "Gọi 113" not in await ask(one, "sdt cong an xa")
        assert "Gọi 113" in await ask(two, "sdt cong an xa")
        assert await run(bot, config, "list", "--commune", "90001") == 0
        listed = capsys.readouterr().out
        assert "chợ phiên họp ngày nào? — hidden" in listed and "2 entries." in listed
        # exported with the mark, and read back the same
        out = tmp_path / "out.csv"
        assert await run(bot, config, "export", "--commune", "90001", "--out", str(out)) == 0
        header, first, _ = cells(out)
        assert header[7:] == ["hidden", "Ghi chú"] and first[1] == "" and first[7] == "ẩn"
        assert [i.hidden for i in io.read(out)] == [True, True]
        # shown again
        assert (
            await run(
                bot,
                config,
                "unhide",
                "--commune",
                "90001",
                "Số điện thoại công an xã là bao nhiêu?",
            )
            == 0
        )
        assert "Gọi 113" in await ask(one, "sdt cong an xa")
        # refused: nothing to hide, a province hiding, unhiding what is not hidden
        assert await run(bot, config, "hide", "--commune", "90001", "Giá vàng hôm nay?") == 2
        assert "province 15 has no entry 'Giá vàng hôm nay?'" in capsys.readouterr().err
        assert await run(bot, config, "import", "--province", "15", str(out)) == 2
        assert "a province file has nothing to hide" in capsys.readouterr().err
        assert await run(bot, config, "unhide", "--commune", "90001", "Giá vàng hôm nay?") == 2
        assert "does not hide" in capsys.readouterr().err
    finally:
        await one.close()
        await two.close()
        await running.runner.cleanup()


async def ask(tab: Visitor, words: str) -> str:
    return text(await tab.says(words, settle=0.3))


# -- the store: one entry per owner and question; `changes` after the commit -----------------
async def test_store_one_entry_per_owner_and_question_and_changes_after_commit(store_url, sim):
    settings = make_settings(store_url, sim, commune_extra={"province_code": "15"})
    engine = create_engine(store_url)
    try:
        await upgrade(engine)
        sm = sessionmaker(engine)
        tenants = await sync(settings, sm)
        one, two = tenants.by_code("90001"), tenants.by_code("90002")
        assert one is not None and two is not None
        commune, province = store.Owner(commune_id=one.id), store.Owner(province_code="15")
        item = io.Item("Chợ họp ngày nào?", "Chủ nhật")
        async with sm() as s, s.begin():
            await store.save(s, province, [item])
            await store.save(s, commune, [item])  # a commune may override its province
            await store.save(s, store.Owner(commune_id=two.id), [item])
        for owner in (commune, province):
            with pytest.raises(IntegrityError):
                async with sm() as s, s.begin():
                    s.add(
                        KnowledgeEntry(
                            commune_id=owner.commune_id,
                            province_code=owner.province_code,
                            key=item.key,
                            question=item.question,
                            answer="lần hai",
                            variants=[],
                        )
                    )
        # a reader between the save and its commit must not keep the old index afterwards
        assert len((await fresh_index(sm, two.id)).entries) == 1
        before = store.changes
        async with sm() as s, s.begin():
            await store.save(s, store.Owner(commune_id=two.id), [io.Item("Phí?", "Miễn phí")])
            assert store.changes == before  # not committed: nothing to see yet
            if not store_url.startswith("sqlite"):  # SQLite: one connection, readers wait
                assert len((await fresh_index(sm, two.id, keep=True)).entries) == 1
        assert store.changes == before + 1
        assert len((await fresh_index(sm, two.id, keep=True)).entries) == 2  # at once
        with pytest.raises(RuntimeError):
            async with sm() as s, s.begin():
                await store.save(s, commune, [io.Item("Phí?", "x")])
                raise RuntimeError("rolled back")
        assert store.changes == before + 1
    finally:
        await engine.dispose()


async def fresh_index(sm, commune_id: int, keep: bool = False):
    """The commune's index as a resident's message would get it, in its own session."""
    from bot.knowledge import retrieval

    if not keep:
        retrieval._cache.pop(commune_id, None)
    async with sm() as s:
        return await index_of(s, commune_id, "15")


# -- migration 0016: rows already doubled are removed, the newest kept ------------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_migration_0016_keeps_the_newest_of_doubled_entries(backend, sim, tmp_path):
    name = f"bot_test_kb_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = os.environ.get("BOT_TEST_DATABASE_URL", PG_DEFAULT)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    else:
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        try:
            await admin(base, f'CREATE DATABASE "{name}"')
        except Exception as exc:  # noqa: BLE001
            unavailable("PostgreSQL", exc)
    engine = create_engine(url)
    try:
        await upgrade(engine, "0015")
        # the commune as a 0015 store has it (the service mirrors communes only at the head:
        # ``tenants.sync`` reads tables of later migrations, the console's facts)
        async with engine.begin() as conn:
            one_id = (
                await conn.execute(
                    sql_text(
                        "INSERT INTO communes (code, name, active, created_at, updated_at) VALUES"
                        " ('90001', 'Xã Thử Nghiệm 1', true, '2026-12-01 00:00:00',"
                        " '2026-12-01 00:00:00') RETURNING id"
                    )
                )
            ).scalar_one()
        rows = [  # (commune, province, key, answer): doubled by two imports at once
            (one_id, None, "cho hop", "cũ"),
            (one_id, None, "cho hop", "mới"),
            (None, "15", "cho hop", "tỉnh cũ"),
            (None, "15", "cho hop", "tỉnh mới"),
            (None, "16", "cho hop", "tỉnh khác"),
            (one_id, None, "phi", "một"),
        ]
        async with engine.begin() as conn:
            for commune_id, province, key, answer in rows:
                await conn.execute(
                    sql_text(
                        "INSERT INTO knowledge_entries (commune_id, province_code, key, question,"
                        " answer, variants, created_at, updated_at) VALUES (:c, :p, :k, :q, :a,"
                        " '[]', '2026-12-01 00:00:00', '2026-12-01 00:00:00')"
                    ),
                    {"c": commune_id, "p": province, "k": key, "q": key, "a": answer},
                )
        await upgrade(engine)  # what `bot db upgrade` runs
        async with sessionmaker(engine)() as s:
            kept = (
                await s.execute(select(KnowledgeEntry.answer).order_by(KnowledgeEntry.id))
            ).scalars()
            assert list(kept) == ["mới", "tỉnh mới", "tỉnh khác", "một"]
            entry = (await s.execute(select(KnowledgeEntry))).scalars().first()
            assert entry is not None and entry.hidden is False and entry.extra is None
    finally:
        await engine.dispose()
        if backend == "postgresql":
            await admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the second reader (kio-review) ----------------------------------------------------------
async def test_yaml_own_columns_export_to_a_csv_that_imports_again(tmp_path, sim, capsys):
    """The staff's own columns from a YAML file come back as CSV header cells: a name like one
    of ours, or the same name spelled twice, would make the exported CSV unreadable; a name
    that starts a formula is guarded in the header as in any cell."""
    config = config_of(tmp_path, make_settings(f"sqlite+aiosqlite:///{tmp_path}/bot.db", sim))
    run = asyncio.to_thread
    yml = tmp_path / "kb.yml"
    yml.write_text(
        RESPONSE + '  - text: a\n    metadata: {extra: {"=HYPERLINK(1)": x, ghi chú: y}}\n',
        encoding="utf-8",
    )
    assert await run(bot, config, "import", "--commune", "90001", str(yml)) == 0
    out = tmp_path / "out.csv"
    assert await run(bot, config, "export", "--commune", "90001", "--out", str(out)) == 0
    assert cells(out)[0][7:] == ["'=HYPERLINK(1)", "ghi chú"]  # no formula in the header
    assert io.read(out) == io.read(yml)
    assert await run(bot, config, "import", "--commune", "90002", str(out)) == 0
    again = tmp_path / "again.csv"
    assert await run(bot, config, "export", "--commune", "90002", "--out", str(again)) == 0
    assert again.read_bytes() == out.read_bytes()
    capsys.readouterr()
    two = (
        "nlu:\n- intent: faq/x\n  examples: |\n    - Hỏi gì?\n- intent: faq/y\n  examples: |\n"
        "    - Hỏi nữa?\nresponses:\n  utter_faq/x:\n  - text: a\n"
    )
    for body, named in (
        (RESPONSE + "  - text: a\n    metadata: {extra: {Question: x}}\n", "line 6: the column"),
        (RESPONSE + "  - text: a\n    metadata: {extra: {hidden: x}}\n", "line 6: the column"),
        (RESPONSE + "  - text: a\n    metadata: {extra: {'': x}}\n", "line 6: a column of"),
        (
            RESPONSE
            + "  - text: a\n    metadata: {extra: {"
            + ", ".join(f"c{n}: x" for n in range(21))
            + "}}\n",
            "21 columns of your own; at most 20",
        ),
        (
            two + "    metadata: {extra: {Ghi chú: a}}\n  utter_faq/y:\n  - text: b\n"
            "    metadata: {extra: {ghi chú: b}}\n",
            "line 12: the column 'ghi chú' is written 'Ghi chú' at line 9",
        ),
    ):
        yml.write_text(body, encoding="utf-8")
        assert await run(bot, config, "import", "--commune", "90001", str(yml)) == 2, body
        err = capsys.readouterr().err
        assert named in err and "nothing imported" in err, (body, err)


async def test_csv_mistakes_named_for_what_they_are(tmp_path, sim, capsys):
    """An unclosed quote in a long file, a hidden mark typed with combining accents, YAML
    nested past Python's recursion limit: each refused (or read) for what it is."""
    config = config_of(tmp_path, make_settings(f"sqlite+aiosqlite:///{tmp_path}/bot.db", sim))
    run = asyncio.to_thread
    long = tmp_path / "long.csv"
    rows = "".join(f"Câu {n}?,Trả lời {n} {'x' * 100},,,,,\n" for n in range(2000))
    long.write_text(f'{HEADER}\nA?,B,,,,,\nC?,"D mở ngoặc,,,,,\n{rows}', encoding="utf-8")
    assert await run(bot, config, "import", "--commune", "90001", str(long)) == 2
    err = capsys.readouterr().err
    assert 'row 3 (line 3): a quote (") opened in this row is never closed' in err, err
    # "ẩn" as macOS or Unikey's "Unicode tổ hợp" writes it: a, combining circumflex and hook
    nfd = tmp_path / "nfd.csv"
    nfd.write_text(f"{HEADER},hidden\nChợ họp?,,,,,,,a\u0302\u0309n\n", encoding="utf-8")
    assert [i.hidden for i in io.read(nfd)] == [True]
    # a line separator pasted into a question: one line in CSV, two in an exported YAML block
    sep = tmp_path / "sep.csv"
    sep.write_text(f"{HEADER}\nA?,B,,,,,\nChợ\u2028họp?,C,,,,,\n", encoding="utf-8")
    assert await run(bot, config, "import", "--commune", "90001", str(sep)) == 2
    err = capsys.readouterr().err
    assert "row 3: the question holds a control character (U+2028)" in err, err
    deep = tmp_path / "deep.yml"
    deep.write_text("nlu: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    assert await run(bot, config, "import", "--commune", "90001", str(deep)) == 2
    err = capsys.readouterr().err
    assert "line 1" in err and "nest" in err and "nothing imported" in err, err


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_migration_0016_downgrade_leaves_no_hidden_entry_to_answer(backend, sim, tmp_path):
    """Below 0016 nothing knows `hidden`: a hidden entry left there would be a commune entry
    with an empty answer, overriding its province's and sent to residents as an empty text."""
    from alembic import command

    from bot.store.migrate import alembic_config

    name = f"bot_test_kbd_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = os.environ.get("BOT_TEST_DATABASE_URL", PG_DEFAULT)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/down.db"
    else:
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        try:
            await admin(base, f'CREATE DATABASE "{name}"')
        except Exception as exc:  # noqa: BLE001
            unavailable("PostgreSQL", exc)
    engine = create_engine(url)
    try:
        await upgrade(engine)
        tenants = await sync(
            make_settings(url, sim, commune_extra={"province_code": "15"}), sessionmaker(engine)
        )
        one = tenants.by_code("90001")
        assert one is not None
        async with sessionmaker(engine)() as s, s.begin():
            await store.save(
                s,
                store.Owner(province_code="15"),
                [io.Item("Chợ họp?", "Chủ nhật"), io.Item("Phí?", "Miễn phí")],
            )
            await store.save(
                s,
                store.Owner(commune_id=one.id),
                [io.Item("Chợ họp?", "", hidden=True), io.Item("Giờ?", "7h")],
            )

        def down(connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0015")

        async with engine.begin() as conn:
            await conn.run_sync(down)
            kept = await conn.execute(
                sql_text("SELECT question, answer FROM knowledge_entries ORDER BY id")
            )
            assert [tuple(r) for r in kept] == [
                ("Chợ họp?", "Chủ nhật"),
                ("Phí?", "Miễn phí"),
                ("Giờ?", "7h"),
            ]
        await upgrade(engine)  # and up again
    finally:
        await engine.dispose()
        if backend == "postgresql":
            await admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_changes_move_at_the_outer_commit_not_a_savepoint(store_url, sim):
    """A save inside a savepoint is not committed when the savepoint is released: `changes`
    moves at the outer commit (a reader in between would keep the old rows as current). A
    session closed without commit or rollback leaves nothing behind for its next commit."""
    settings = make_settings(store_url, sim, commune_extra={"province_code": "15"})
    engine = create_engine(store_url)
    try:
        await upgrade(engine)
        sm = sessionmaker(engine)
        tenants = await sync(settings, sm)
        one = tenants.by_code("90001")
        assert one is not None
        owner = store.Owner(commune_id=one.id)
        before = store.changes
        async with sm() as s, s.begin():
            async with s.begin_nested():
                await store.save(s, owner, [io.Item("Phí?", "Miễn phí")])
            assert store.changes == before  # released, but the outer transaction is open
        assert store.changes == before + 1
        s = sm()
        await s.begin()
        await store.save(s, owner, [io.Item("Giờ?", "7h")])
        await s.close()  # neither committed nor rolled back: nothing saved
        assert store.changes == before + 1
        async with s.begin():  # the same session, used again for something else
            await s.execute(select(KnowledgeEntry.id))
        assert store.changes == before + 1
        assert len((await fresh_index(sm, one.id)).entries) == 1
    finally:
        await engine.dispose()


async def test_excel_unicode_text_and_a_legacy_encoding(tmp_path, sim, capsys):
    """Excel's "Unicode Text (*.txt)" is tab-separated UTF-16 with a BOM, saved as .txt: read
    as it is. A file in the old Vietnamese code page ("CSV (Comma delimited)" on Windows) is
    refused with what to do in Excel, not only a byte offset."""
    config = config_of(tmp_path, make_settings(f"sqlite+aiosqlite:///{tmp_path}/bot.db", sim))
    run = asyncio.to_thread
    txt = tmp_path / "kb.txt"
    txt.write_bytes(
        "question\tanswer\tvariants\r\nChợ họp ngày nào?\tChủ nhật\tphiên chợ\r\n".encode("utf-16")
    )
    assert await run(bot, config, "import", "--commune", "90001", str(txt)) == 0
    assert "1 added" in capsys.readouterr().out
    assert io.read(txt) == [io.Item("Chợ họp ngày nào?", "Chủ nhật", ("phiên chợ",))]
    # Excel for Mac's "CSV (Macintosh)": a CR alone ends each line
    mac = tmp_path / "mac.csv"
    mac.write_bytes('question;answer;variants\rPhí?;Miễn phí;\rGiờ?;"7h\r\n17h";\r'.encode())
    assert await run(bot, config, "import", "--commune", "90002", str(mac)) == 0
    assert "2 added" in capsys.readouterr().out
    assert [i.answer for i in io.read(mac)] == ["Miễn phí", "7h\n17h"]
    mac.write_bytes("question;answer;variants\nA?;Giờ 7h; 17h;\n".encode())
    assert await run(bot, config, "import", "--commune", "90002", str(mac)) == 2
    assert "row 2: more cells than columns (a semicolon (;) not quoted?)" in capsys.readouterr().err
    legacy = tmp_path / "kb.csv"
    legacy.write_bytes(f"{HEADER}\nCh\xf5 h\xf4p?,B,,,,,\n".encode("latin-1"))
    assert await run(bot, config, "import", "--commune", "90001", str(legacy)) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "CSV UTF-8" in err and "nothing imported" in err, err
