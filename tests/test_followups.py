"""Follow-ups (bot/conversation/follow.py, docs/conversation.md): the topic and its entities
kept in the resident's conversation state, short follow-ups rewritten into the full question
in context — through the real path (web chat in, what the page receives out), `bot ask
--session` through the CLI's main, and the triage question answered with a village."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import select

from bot import cli
from bot.knowledge import io, store
from bot.store.models import (
    Conversation,
    InboundEvent,
    OutboundMessage,
    Resident,
    Ticket,
    Village,
)
from tests.helpers import (
    OFFICES,
    Commune,
    Visitor,
    commune_code,
    make_settings,
    run_in_thread,
    start_service,
    text,
    truncate_all,
)

CODE = commune_code(1)
STATION = {
    "name": "Trạm Y tế xã Thử Nghiệm",
    "address": "Thôn Nậm Mòn, cạnh chợ",
    "phone": "0214 111 115",
    "hours": [
        {"days": "mon-sat", "open": "07:00", "close": "17:00"},
        {"days": "sun", "open": "07:00", "close": "11:00"},
    ],
}
#: the commune's own entries for birth registration, each about one aspect
FEE = "Đăng ký khai sinh đúng hạn được miễn lệ phí."
ONLINE = "Được ạ: nộp trên Cổng Dịch vụ công quốc gia hoặc ứng dụng VNeID."
PAPERS = "Mang giấy chứng sinh và căn cước của người đi đăng ký."
ENTRIES = [
    io.Item("Lệ phí đăng ký khai sinh là bao nhiêu?", FEE),
    io.Item("Đăng ký khai sinh online được không?", ONLINE),
    io.Item("Đăng ký khai sinh cần giấy tờ gì?", PAPERS),
]


@pytest.fixture
async def running(store_url, sim):
    """A commune whose health station's hours are configured (the office works Mon–Fri)."""
    service = await start_service(
        make_settings(store_url, sim, commune_extra={**OFFICES, "health_station": STATION}), sim
    )
    yield service
    await service.runner.cleanup()


async def ask(tab: Visitor, words: str) -> str:
    return text(await tab.says(words, settle=0.3))


async def kept_of(running, session: str) -> dict[str, Any] | None:
    """The topic kept in the stored conversation of the web chat session ``session``."""
    async with running.services.sm() as s:
        state = (
            await s.execute(
                select(Conversation.state)
                .join(Resident, Resident.id == Conversation.resident_id)
                .where(Resident.external_id == session.split(".")[0])
            )
        ).scalar_one()
    return state.get("kept")


async def test_office_hours_follow_ups_by_day_and_office(running):
    """After the hours: "còn thứ 7 thì sao" is Saturday's hours (the office does not work),
    "còn trạm y tế?" the health station's that day, "chu nhat thi sao" its Sunday; the topic
    is in the stored conversation state. A message that is no follow-up is read as before."""
    tab, fresh = Visitor(running.url), Visitor(running.url)
    try:
        await tab.open()
        assert "Thứ Hai đến Thứ Sáu: 7:30–11:30" in await ask(tab, "giờ làm việc")
        kept = await kept_of(running, tab.session or "")
        assert kept is not None and kept["intent"] == "office_hours"
        said = await ask(tab, "còn thứ 7 thì sao")
        assert said == "Thứ Bảy, Xã Thử Nghiệm 1 không làm việc.", said
        said = await ask(tab, "còn trạm y tế?")
        assert said.startswith("Thứ Bảy, Trạm Y tế xã Thử Nghiệm làm việc: 7:00–17:00"), said
        said = await ask(tab, "chu nhat thi sao")
        assert said.startswith("Chủ nhật, Trạm Y tế xã Thử Nghiệm làm việc: 7:00–11:00"), said
        assert "Thôn Nậm Mòn, cạnh chợ" in await ask(tab, "ở đâu")  # the station's address
        # an office the bot has no facts for: never the commune office's hours
        said = await ask(tab, "còn công an xã thì sao")
        assert "chưa có thông tin về công an xã" in said and "7:30" not in said, said
        # not a follow-up: as before
        assert "chưa chắc đã hiểu" in await ask(tab, "con mèo của tôi")

        # without a topic kept, the same words are read as they always were
        await fresh.open()
        alone = await ask(fresh, "chu nhat co lam ko")
        assert "Thứ Hai đến Thứ Sáu: 7:30–11:30" in alone and not alone.startswith("Chủ nhật")
    finally:
        await tab.close()
        await fresh.close()


async def test_a_topic_is_kept_for_a_while(running):
    """A topic older than 15 minutes is gone: the follow-up is read as a message of its own."""
    tab = Visitor(running.url)
    try:
        await tab.open()
        await ask(tab, "giờ làm việc")
        async with running.services.sm() as s, s.begin():
            conv = (
                await s.execute(
                    select(Conversation)
                    .join(Resident, Resident.id == Conversation.resident_id)
                    .where(Resident.external_id == (tab.session or "").split(".")[0])
                )
            ).scalar_one()
            state = dict(conv.state)
            state["kept"] = {**state["kept"], "at": state["kept"]["at"] - 16 * 60}
            conv.state = state
        said = await ask(tab, "chu nhat co lam ko")
        assert "Thứ Hai đến Thứ Sáu" in said and not said.startswith("Chủ nhật"), said
    finally:
        await tab.close()


async def test_knowledge_follow_ups_answer_the_aspect_asked(running):
    """After the commune's answer on birth registration's papers: "thế phí bao nhiêu" and
    "làm online được không" get the commune's entries on those aspects; "mất mấy ngày", which
    no entry answers, is never answered with another aspect's entry."""
    async with running.services.sm() as s, s.begin():
        tenant = running.services.tenants.by_code(CODE)
        await store.save(s, store.Owner(commune_id=tenant.id), ENTRIES)
    tab = Visitor(running.url)
    try:
        await tab.open()
        assert await ask(tab, "đăng ký khai sinh cần giấy tờ gì") == PAPERS
        kept = await kept_of(running, tab.session or "")
        assert kept is not None and kept["entry"] is not None
        assert kept["subject"] == "đăng ký khai sinh"
        assert await ask(tab, "thế phí bao nhiêu") == FEE
        assert await ask(tab, "làm online được không") == ONLINE
        assert await ask(tab, "cần mang gì") == PAPERS
        said = await ask(tab, "mất mấy ngày")
        assert said not in (FEE, ONLINE, PAPERS), said
        # a thing the entry's procedure never speaks of: read as it is, no entry, no office
        assert await ask(tab, "thế phí bao nhiêu") == FEE
        said = await ask(tab, "nộp thuế ở đâu")
        assert said not in (FEE, ONLINE, PAPERS) and "chưa hiểu" in said, said
    finally:
        await tab.close()


async def test_a_village_follow_up_asks_the_same_for_that_village(running):
    tab = Visitor(running.url)
    try:
        await tab.open()
        assert "Nậm Mòn" in await ask(tab, "trưởng thôn Nậm Mòn là ai")
        said = await ask(tab, "thôn Bản Phố thì sao")
        assert "Bản Phố" in said and "Nậm Mòn" not in said, said
    finally:
        await tab.close()


async def test_a_village_said_to_the_triage_question_keeps_the_report(running):
    """The defect: "Việc này đang xảy ra…?" answered with a village dropped the report being
    triaged (the village was taken as where the resident lives). Now the village is taken for
    the report, the question asked again, and a yes files the emergency there."""
    tab, other = Visitor(running.url), Visitor(running.url)
    try:
        await tab.open()
        assert "Việc này đang xảy ra" in await ask(tab, "có cháy")
        said = await ask(tab, "Nậm Mòn")
        assert "Nậm Mòn" in said and "Việc này đang xảy ra" in said, said
        assert "ghi nhận anh/chị ở" not in said  # not where the resident lives
        filed = await ask(tab, "có")
        assert "114" in filed and "PA-" in filed, filed
        async with running.services.sm() as s:
            ticket = (await s.execute(select(Ticket))).scalar_one()
            village = await s.get(Village, ticket.village_id)
        assert ticket.emergency and ticket.description == "có cháy"
        assert village is not None and village.name == "Nậm Mòn"

        # "không": not urgent — the first words go on as a report, in that village
        await other.open()
        assert "Việc này đang xảy ra" in await ask(other, "có cháy")
        assert "Bản Phố" in await ask(other, "ở thôn Bản Phố")
        said = await ask(other, "không")
        assert "PA-" not in said and ("phản ánh" in said.lower() or "mô tả" in said), said
        async with running.services.sm() as s:
            state = (
                await s.execute(
                    select(Conversation.state)
                    .join(Resident, Resident.id == Conversation.resident_id)
                    .where(Resident.external_id == (other.session or "").split(".")[0])
                )
            ).scalar_one()
        assert state["report"]["village"] == "Bản Phố", state
    finally:
        await tab.close()
        await other.close()


# -- bot ask --session --------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def ask_config(request, tmp_path):
    """A configuration file on a fresh store, as `bot ask --config` reads it."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    else:
        url = request.getfixturevalue("pg_database")
        run_in_thread(truncate_all(url))
    sim: Any = SimpleNamespace(base_url="http://127.0.0.1:1")
    settings = make_settings(url, sim, commune_extra={"health_station": STATION})
    path = tmp_path / "config.yml"
    path.write_text(
        yaml.safe_dump(settings.model_dump(mode="json"), allow_unicode=True), encoding="utf-8"
    )
    return path, url


def bot_ask(capsys, config, *args: str) -> tuple[int, dict[str, Any] | str, str]:
    code = cli.main(["--config", str(config), "ask", "--commune", CODE, *args])
    out, err = capsys.readouterr()
    if "--json" in args and code == 0:
        return code, __import__("json").loads(out), err
    return code, out.strip(), err


def test_bot_ask_session_holds_a_three_turn_conversation(ask_config, capsys):
    """`bot ask --session` keeps one conversation across calls, stored like a resident's (a
    resident on the `ask` channel, its state in `conversations`); --json shows the topic kept.
    Another session is another conversation; without --session nothing is stored."""
    config, url = ask_config
    code, first, _err = bot_ask(capsys, config, "--session", "demo-1", "--json", "giờ làm việc")
    assert code == 0 and isinstance(first, dict)
    assert first["intent"] == "office_hours" and first["topic"]["intent"] == "office_hours"
    code, second, _err = bot_ask(
        capsys, config, "--session", "demo-1", "--json", "còn thứ 7 thì sao"
    )
    assert isinstance(second, dict)
    assert second["reply"] == "Thứ Bảy, Xã Thử Nghiệm 1 không làm việc."
    assert second["topic"]["day"] == 5
    code, third, _err = bot_ask(capsys, config, "--session", "demo-1", "còn trạm y tế?")
    assert code == 0 and isinstance(third, str)
    assert third.startswith("Thứ Bảy, Trạm Y tế xã Thử Nghiệm làm việc: 7:00–17:00"), third

    # another session: no topic of its own, the words read as they always were
    code, other, _err = bot_ask(capsys, config, "--session", "demo-2", "còn thứ 7 thì sao")
    assert code == 0 and not str(other).startswith("Thứ Bảy, Xã")
    # without a session: as before, nothing stored
    code, alone, _err = bot_ask(capsys, config, "giờ làm việc")
    assert code == 0 and "Thứ Hai đến Thứ Sáu" in str(alone)
    # a bad session id: a clear error, nothing stored
    code, _out, err = bot_ask(capsys, config, "--session", "not ok!", "giờ làm việc")
    assert code == 2 and "bad --session" in err

    async def stored() -> tuple[list[Any], list[str], int]:
        from bot.store.db import create_engine, sessionmaker

        engine = create_engine(url)
        try:
            async with sessionmaker(engine)() as s:
                residents = (await s.execute(select(Resident.channel, Resident.external_id))).all()
                statuses = list(
                    (await s.execute(select(OutboundMessage.status).distinct())).scalars()
                )
                events = len((await s.execute(select(InboundEvent.id))).all())
            return residents, statuses, events
        finally:
            await engine.dispose()

    residents, statuses, events = run_in_thread(stored())
    assert sorted(residents) == [("ask", "demo-1"), ("ask", "demo-2")]
    assert statuses == ["sent"]  # delivered on the command line, no sender takes them
    assert events == 4


async def test_follow_ups_on_zalo_too(running):
    """The same on Zalo (the simulator): the topic is the conversation's, whatever the channel."""
    async with aiohttp.ClientSession() as http:
        commune = Commune(running, http)
        await commune.says("5101", "giờ làm việc")
        said = await commune.says("5101", "t7 có làm ko")
        assert said == "Thứ Bảy, Xã Thử Nghiệm 1 không làm việc.", said


async def test_what_is_no_follow_up_is_read_as_it_is(running):
    """Review of the follow-ups: a report that mentions a day, an answer to the triage
    question, a question on another matter that names a day, a "trạm" that is no health
    station, a "trăm" (a hundred) — none is rewritten into the topic kept."""
    tab = Visitor(running.url)
    try:
        await tab.open()
        await ask(tab, "giờ làm việc")
        # a report (read so, if not surely) is never taken for Monday's hours
        said = await ask(tab, "đèn đường thôn tôi hỏng từ thứ 2")
        assert "Thứ Hai, Xã" not in said and "thôn/bản nào" in said, said
        await ask(tab, "Nậm Mòn")
        await ask(tab, "hủy")
        await ask(tab, "giờ làm việc")
        # the triage question answered "today": safety first, never today's hours
        assert "Việc này đang xảy ra" in await ask(tab, "có cháy")
        said = await ask(tab, "hôm nay")
        assert "làm việc:" not in said and "Xã Thử Nghiệm 1 không làm việc" not in said, said
        await ask(tab, "giờ làm việc")
        # a day named in another question: not that day's hours
        said = await ask(tab, "thứ 7 này có họp không")
        assert not said.startswith("Thứ Bảy, Xã"), said
        said = await ask(tab, "ngày mai mất điện thôn Nậm Mòn")
        assert "Xã Thử Nghiệm 1 làm việc:" not in said and "không làm việc" not in said, said
        # "trạm biến áp" is no health station, "hai trăm" no station at all
        await ask(tab, "lịch cắt điện")
        assert "Trạm Y tế" not in (said := await ask(tab, "trạm biến áp ở đâu")), said
        await ask(tab, "đăng ký khai sinh")
        assert "Trạm Y tế" not in (said := await ask(tab, "phí hai trăm nghìn à")), said
        # an office named in a complaint: not that office's hours
        said = await ask(tab, "cán bộ ủy ban thái độ không tốt")
        assert "làm việc:" not in said, said
        # a thing the topic never speaks of ("thuế", a tax): no birth registration's office
        # given as the place to pay it, the honest "not understood" and the menu instead
        await ask(tab, "đăng ký khai sinh")
        said = await ask(tab, "nộp thuế ở đâu")
        assert "khai sinh" not in said and "chưa hiểu" in said, said
        # what still is one: as before
        await ask(tab, "giờ làm việc")
        assert await ask(tab, "còn thứ 7 thì sao") == "Thứ Bảy, Xã Thử Nghiệm 1 không làm việc."
        assert (await ask(tab, "còn trạm y tế?")).startswith("Thứ Bảy, Trạm Y tế xã")
    finally:
        await tab.close()


async def test_a_village_said_to_a_dropped_triage_question_is_not_another_reports(running):
    """The village said for a matter being triaged belongs to that matter: when the resident
    then writes something else (the question dropped), a new report is asked where it is."""
    tab = Visitor(running.url)
    try:
        await tab.open()
        assert "Việc này đang xảy ra" in await ask(tab, "có cháy")
        assert "Nậm Mòn" in await ask(tab, "Nậm Mòn")
        said = await ask(tab, "đèn đường hỏng rồi")
        assert "thôn/bản nào" in said, said
    finally:
        await tab.close()


def test_bot_ask_session_says_when_it_alerted_staff(ask_config, capsys):
    """A request for staff held through `bot ask --session` is real (the officer's Zalo alert
    is queued for the service to send): the command says so, and --json counts it."""
    config, _url = ask_config
    code = cli.main(
        ["--config", str(config), "staff", "add", "--commune", CODE, "--name", "Cán bộ A",
         "--role", "officer", "--zalo-user-id", "7001", "--quiet"]
    )  # fmt: skip
    assert code == 0
    capsys.readouterr()
    code, quiet, err = bot_ask(capsys, config, "--session", "t-1", "giờ làm việc")
    assert code == 0 and "staff alert" not in err
    code, said, err = bot_ask(capsys, config, "--session", "t-1", "--json", "cho tôi gặp cán bộ")
    assert code == 0 and isinstance(said, dict)
    assert said["staff_alerts"] >= 1 and "staff alert(s) queued" in err, (said, err)


def test_own_topic_is_the_threshold_the_dev_half_chose():
    """OWN_TOPIC is chosen on held-out data, not by hand (bot/conversation/follow_eval.py,
    `python bench/follow_threshold.py` prints the table): the dev half of
    tests/data/follow_labelled.yml chooses it, the test half reports it. A change of the engine
    or its data that moves the choice fails here until the constant follows."""
    from bot.conversation import follow, follow_eval

    halves = follow_eval.load()
    for half in halves.values():  # both kinds, in both halves, for every kind of message
        kinds = [p.expect for p in half]
        assert kinds.count("follow") >= 25 and kinds.count("own") >= 15, kinds
    said = {p.said for half in halves.values() for p in half}
    for phrase in (
        "trạm biến áp ở đâu",
        "phí hai trăm nghìn à",
        "còn thứ 7 thì sao",
        "làm online được không",
        "thế phí bao nhiêu",
    ):
        assert phrase in said, phrase
    out = follow_eval.measure()
    assert out["chosen"]["own_topic"] == follow.OWN_TOPIC, out["chosen"]
    test = out["at_code"]["test"]
    # measured 2026-12-03: 51 of 54 (the logistic regression at 0.6, the blend at 0.7)
    assert test["right"] / test["of"] >= 0.9, test["wrong"]
