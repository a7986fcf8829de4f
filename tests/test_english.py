"""English (issue 10): a resident who writes English — on Zalo, on the web chat, or through
`bot ask --language en` — reads English throughout: answers, menus, quick replies, the report
form, the ticket's code and its updates, an emergency's advice. A clear Vietnamese message
switches back. The language is stored with the resident. Through the real path: the Zalo
simulator and the web chat's websocket in, what the simulator or the page receives out."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest
from sqlalchemy import select

from bot import cli
from bot.store.models import Resident
from tests.helpers import (
    Commune,
    Visitor,
    _text,
    commune_code,
    make_settings,
    oa_id,
    start_service,
    text,
    ticket_code,
    wait_for,
)

OA, CODE = oa_id(1), commune_code(1)
#: proper names an English reply may carry as they are (the commune's facts from its
#: configuration: its name, address, villages, offices)
NAMES = (
    "Xã Thử Nghiệm 1",
    "UBND xã Thử Nghiệm 1",
    "Nậm Mòn",
    "Bản Phố",
    "Tết",
    "Văn phòng HĐND và UBND",
)
VIETNAMESE_LETTERS = re.compile(
    r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợ"
    r"ùúủũụừứửữựỳýỷỹỵ]",
    re.I,
)


def english(said: str) -> str:
    """``said``, checked to be English: no Vietnamese letter outside the proper names."""
    rest = said
    for name in NAMES:
        rest = rest.replace(name, "")
    assert said.strip() and not VIETNAMESE_LETTERS.search(rest), said
    return said


def vietnamese(said: str) -> str:
    assert VIETNAMESE_LETTERS.search(said.replace("Xã Thử Nghiệm 1", "")), said
    return said


@pytest.fixture
async def commune(store_url, sim):
    running = await start_service(make_settings(store_url, sim), sim)
    async with aiohttp.ClientSession() as http:
        yield Commune(running, http)
    await running.runner.cleanup()


async def says(commune: Commune, user: str, message: str, parts: int = 1) -> str:
    """Send on Zalo and wait for ``parts`` messages back (every part of the reply)."""
    sim = commune.running.sim
    before = len(sim.messages(OA, user))
    await sim.user_sends_text(OA, user, message)
    sent = await sim.wait_for_messages(before + parts, oa_id=OA, user_id=user)
    return "\n".join(_text(m) for m in sent[before:])


async def language_of(commune: Commune, user: str) -> str:
    async with commune.running.services.sm() as s:
        return (
            await s.execute(select(Resident.language).where(Resident.external_id == user))
        ).scalar_one()


async def test_zalo_resident_writing_english_reads_english_throughout(commune):
    user = "8101"
    leader = await commune.hire("leader")
    hours = english(await says(commune, user, "Hello, what are the office hours?"))
    assert "Monday to Friday" in hours and "7:30" in hours
    assert await language_of(commune, user) == "en"  # stored with the resident
    # short or ambiguous messages keep the language: a greeting, a number, "ok"
    assert "Hello" in english(await says(commune, user, "hi"))
    english(await says(commune, user, "ok"))
    # a question the bot does not cover: the menu and its quick replies are English
    menu = english(await says(commune, user, "blue cheese and tomatoes"))
    assert "Office hours" in menu and "Talk to an officer" in menu
    # procedures and contacts
    assert "birth certificate" in english(
        await says(commune, user, "how do I register a birth for my baby")
    )
    assert "death" in english(
        await says(commune, user, "my father passed away, what do I need to do")
    )
    assert "0214 000 001" in english(
        await says(commune, user, "what is the phone number of the commune")
    )
    # the report form, step by step, and the ticket it files
    sim = commune.running.sim
    form = english(
        await says(
            commune,
            user,
            "I want to report a problem: the street light in front of my house is broken",
        )
    )
    assert "What kind of problem" in form and "1. Roads, bridges, culverts" in form
    assert "Which village" in english(await says(commune, user, "1"))
    assert "Skip" in english(await says(commune, user, "Nậm Mòn"))
    assert "Send anonymously" in english(await says(commune, user, "skip"))
    before = len(sim.messages(OA, user))
    await sim.user_sends_text(OA, user, "send anonymously")
    said = english(await wait_for(lambda: _with_code(sim, user, before)))
    code = ticket_code(said)
    assert "Report code" in said
    status = english(await says(commune, user, f"{code} status"))
    assert code in status
    # a staff update reaches the resident in English
    before = len(sim.messages(OA, user))
    got, _ = await commune.call(leader, "POST", f"/tickets/{code}/accept")
    assert got == 200
    [update] = (await sim.wait_for_messages(before + 1, oa_id=OA, user_id=user))[before:]
    assert code in english(_text(update)) and "working on it" in _text(update)
    before = len(sim.messages(OA, user))
    got, _ = await commune.call(
        leader, "POST", f"/tickets/{code}/answer", {"note": "The light was replaced on Monday."}
    )
    assert got == 200
    answered = await wait_for(lambda: _parts_after(sim, user, before, 2))
    assert "satisfied" in english(answered)
    # typed English answers work too: reopening the ticket
    before = len(sim.messages(OA, user))
    await sim.user_sends_text(OA, user, f"reopen {code}")
    reopened = english(await wait_for(lambda: _parts_after(sim, user, before, 1)))
    assert "reopened" in reopened and code in reopened


async def _with_code(sim, user: str, before: int) -> str | None:  # type: ignore[no-untyped-def]
    said = "\n".join(_text(m) for m in sim.messages(OA, user)[before:])
    return said if re.search(r"PA-\d{4}-\d{6}", said) else None


async def _parts_after(
    sim,
    user: str,
    before: int,  # type: ignore[no-untyped-def]
    n: int,
) -> str | None:
    sent = sim.messages(OA, user)[before:]
    return "\n".join(_text(m) for m in sent) if len(sent) >= n else None


async def test_english_emergency_gets_english_advice_and_is_filed(commune):
    user = "8102"
    said = english(await says(commune, user, "help, someone is drowning in the river", parts=2))
    assert "114" in said and "swim" in said  # the number and the first advice
    assert re.search(r"PA-\d{4}-\d{6}", said)
    # an alarm word alone is asked about, in English; "yes" files it
    other = "8105"
    asked = english(await says(commune, other, "Fire! Fire!"))
    assert "happening now" in asked and "Yes, right away" in asked
    said = english(await says(commune, other, "yes", parts=2))
    assert "114" in said and re.search(r"PA-\d{4}-\d{6}", said)


async def test_english_handoff_to_staff(commune):
    user = "8104"
    await commune.hire("leader")
    said = english(await says(commune, user, "I want to talk to a person"))
    assert "passed the conversation" in said
    # while staff have it, the bot still answers what it is sure of — in English
    assert "Monday to Friday" in english(await says(commune, user, "what are the office hours"))


async def test_switching_back_to_vietnamese_and_unaccented_vietnamese_stays(commune):
    user = "8103"
    english(await says(commune, user, "what time does the office open on saturday"))
    assert await language_of(commune, user) == "en"
    vietnamese(await says(commune, user, "cho tôi hỏi số điện thoại của xã"))
    assert await language_of(commune, user) == "vi"
    vietnamese(await says(commune, user, "ok"))  # kept
    english(await says(commune, user, "English please"))  # chosen by asking
    assert await language_of(commune, user) == "en"
    # unaccented Vietnamese is Vietnamese, never English
    vietnamese(await says(commune, user, "uy ban xa lam viec may gio vay ad"))
    assert await language_of(commune, user) == "vi"


async def test_web_chat_in_english_detected_and_chosen(store_url, sim):
    running = await start_service(make_settings(store_url, sim), sim)
    tab, chosen = Visitor(running.url), Visitor(running.url)
    try:
        history = await tab.open()
        vietnamese(history["messages"][0]["text"])  # the page's default
        said = await tab.says("Hello, where is the commune office?")
        assert "UBND xã Thử Nghiệm 1" in english(text(said))
        said = await tab.says("purple elephants dance on tuesdays")
        assert said[0]["kind"] == "choices"
        english(said[0]["text"])
        for option in said[0]["options"]:
            english(option["title"])
        said = await tab.says("Office hours", payload="/office_hours")  # a quick reply
        english(text(said))

        # the page opened with ?lang=en: the welcome and short messages are English
        chosen.session = await chosen.new_session()
        chosen.ws = await chosen.http.ws_connect(
            f"{running.url}/chat/{CODE}/ws", origin=running.url
        )
        await chosen.ws.send_json({"type": "hello", "session": chosen.session, "language": "en"})
        history = await chosen.ws.receive_json(timeout=5)
        [welcome] = history["messages"]
        english(welcome["text"])
        assert [o["title"] for o in welcome["options"]][0] == "Office hours"
        await chosen.ws.send_json({"id": "m1", "text": "ok", "language": "en"})
        english(text([await chosen.ws.receive_json(timeout=10)]))
        await chosen.ws.send_json({"id": "m2", "text": "ok", "language": "xx"})
        refused = await chosen.ws.receive_json(timeout=5)
        assert refused["type"] == "error"  # a language the bot does not answer in
    finally:
        await tab.close()
        await chosen.close()
        await running.runner.cleanup()


def test_bot_ask_language_en(capsys):
    def ask(*args: str) -> dict:
        assert cli.main(["ask", "--commune", "02839", "--json", *args]) == 0
        return json.loads(capsys.readouterr().out)

    said = ask("--language", "en", "what are the office hours")
    assert said["language"] == "en" and "office hours" in said["reply"]
    names = ("Xã Bắc Hà", "Tết", "Trung tâm Phục vụ hành chính công xã Bắc Hà, tỉnh Lào Cai")
    for message in (
        "ok",
        "I want to report a problem",
        "how do I register a marriage",
        "I want to talk to a person",
        "delete my data",
        "blue cheese and tomatoes",
    ):
        reply = ask("--language", "en", message)["reply"]
        for name in names:
            reply = reply.replace(name, "")
        assert reply and not VIETNAMESE_LETTERS.search(reply), (message, reply)
    emergency = ask("--language", "en", "my house is on fire")
    assert emergency["triage"]["level"] == "emergency" and "114" in emergency["reply"]
    assert ask("--language", "en", "cho tôi hỏi giờ làm việc")["language"] == "vi"
    assert ask("what are the office hours")["language"] == "en"  # detected
    assert cli.main(["ask", "--commune", "02839", "--language", "xx", "hello"]) == 2
    assert "unknown language" in capsys.readouterr().err
