"""Emergency triage (issue 10): the whole message decides whether it is a danger now, not a
keyword. Unit checks of the assessment on the traps and misses the issue names (with and
without accents), then the real path: a resident's Zalo messages in (simulator → webhook), what
the resident and the leader receive, the tickets the staff API shows; `bot ask --json` and
`bot triage eval` through the real command line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from bot import cli
from bot.config import load_settings
from bot.feedback import triage
from bot.feedback.categories import CATEGORIES, guess
from bot.feedback.sla import WorkingCalendar
from bot.store.models import OutboundMessage
from bot.text import fold
from bot.timeutil import VN_TZ
from tests.helpers import LEADER_ZALO, Visitor, ticket_code
from tests.helpers import text as frames_text

BAC_HA = load_settings("config.yml").communes[0]

#: what today alerts the leaders and sends the resident to 114 — none is a danger now
TRAPS = [
    "Nhà bên đốt rác, khói bay sang nhà tôi",  # smoke from rubbish burning
    "Mấy tuần nay hàng xóm đốt rác, khói bay vào nhà",  # a chronic nuisance
    "Đèn đường trước cổng nhà tôi bị cháy bóng",  # a burnt-out bulb
    "Tháng này cháy túi rồi",  # out of money
    "Gạo hỗ trợ cháy hàng rồi à",  # sold out
    "Dạo này bão giá, cái gì cũng đắt",  # a price storm
    "Năm ngoái nhà tôi bị trộm mất xe máy",  # a theft last year
    "Lũ năm 2023 làm sập chuồng bò nhà tôi, giờ xin hỗ trợ",  # a flood in 2023
]
#: what today is missed or answered as a question — each a danger now, with its kind
MISSES = [
    ("Cây đổ đè lên đường dây điện trước nhà tôi", "live_wire", "114"),
    ("Lợn trong xóm chết nhiều, nghi dịch tả lợn châu Phi", "livestock", None),
    ("Nước đang dâng vào nhà, trong nhà có ông cụ không đi được", "flood", "112"),
    ("Con chó dại đã cắn hai đứa trẻ ở xóm tôi", "dog_bite", "115"),
]

#: found in the web chat, each alerting the leaders and sending the resident to 115/114:
#: damage, or a stranger, with nobody in danger now — routine, or at most the question
FALSE_ALARMS = [
    "đường vào thôn Nậm Mòn bị sụt lún, xe máy không đi được",
    "cây đổ chắn ngang đường thôn",
    "cầu tre qua suối bị gãy một nhịp",
    "có người lạ hay lảng vảng trong xóm",
    "mương thủy lợi bị vỡ, nước chảy vào ruộng",
    "cột điện nghiêng sắp đổ",
]
#: the dangers among the look-alikes, which must stay sure: (message, kind, what the first
#: reply must say — the number, or the advice for that kind)
MUST_CATCH = [
    (
        "Cây đổ đè lên dây điện ở đầu ngõ, dây tóe lửa, mấy đứa nhỏ đang đứng xem",
        "live_wire",
        "114",
    ),
    ("Nước dâng vào nhà tới đầu gối, bà tôi 80 tuổi không đi được", "flood", "112"),
    ("Chó dại cắn hai đứa nhỏ ở xóm tôi, nó vẫn đang chạy", "dog_bite", "vắc xin phòng dại"),
    ("Lợn nhà tôi chết liền 6 con, nghi dịch tả lợn châu Phi", "livestock", "Không bán"),
    ("Nhà hàng xóm đang cháy to, lửa đang lan", "fire", "114"),
    ("Sạt lở vùi nhà ông Sùng ở cuối bản, cả nhà còn ở trong", "landslide", "112"),
    ("Nước lũ cuốn một người xuống suối, đang trôi", "drowning", "115"),
    ("Anh tôi bị điện giật ngã, bất tỉnh rồi", "injury", "115"),
]
NUMBERS = ("112", "113", "114", "115")


@pytest.mark.parametrize("text", TRAPS + [fold(t) for t in TRAPS])
def test_traps_are_routine(text):
    found = triage.assess(text)
    assert found.level == "routine" and not found.emergency, (found, text)
    assert found.kind is None and found.category is None


@pytest.mark.parametrize(
    "text, category",
    [
        ("Tháng này cháy túi rồi", None),
        ("Dạo này bão giá, cái gì cũng đắt", None),
        ("Gạo hỗ trợ cháy hàng rồi à", None),
        ("den duong chay bong roi", "road"),
        ("Đèn đường trước cổng nhà tôi bị cháy bóng", "road"),
        ("Nhà bên đốt rác, khói bay sang nhà tôi", "environment"),
    ],
)
def test_the_category_guess_drops_figures_of_speech(text, category):
    assert guess(text) == category


@pytest.mark.parametrize("text, kind, number", MISSES + [(fold(t), k, n) for t, k, n in MISSES])
def test_dangers_told_plainly_are_emergencies(text, kind, number):
    found = triage.assess(text)
    assert found.level == "emergency" and found.emergency and found.kind == kind, (found, text)
    assert CATEGORIES[found.category].emergency
    advice = triage.advice(kind, BAC_HA).text
    assert (number in advice) if number else (BAC_HA.phone in advice)


@pytest.mark.parametrize("text", FALSE_ALARMS + [fold(t) for t in FALSE_ALARMS])
def test_damage_with_nobody_at_risk_is_never_an_alarm(text):
    found = triage.assess(text)
    assert found.level in ("routine", "unsure") and not found.emergency, (found, text)
    assert triage.at_risk(text) == frozenset()  # no person, home or livestock named
    if found.kind:  # asked: "có" would file it with this kind's advice — never first aid
        assert not set(triage.KINDS[found.kind].needs) & {triage.PERSON}, found
        assert "115" not in triage.advice(found.kind, BAC_HA).text


@pytest.mark.parametrize(
    "text, kind, _said", MUST_CATCH + [(fold(t), k, n) for t, k, n in MUST_CATCH]
)
def test_dangers_among_the_look_alikes_stay_sure(text, kind, _said):
    found = triage.assess(text)
    assert found.level == "emergency" and found.kind == kind, (found, text)
    assert triage.at_risk(text)


def test_a_sure_alarm_needs_someone_at_risk_and_a_kind_that_fits():
    kinds = {"injury": 0.6, "hazard": 0.3, "fire": 0.1}
    nobody, person, home = frozenset(), frozenset({triage.PERSON}), frozenset({triage.HOME})
    # a road that subsided, told urgently: nobody named, so asked — and not as an injury
    assert triage.decide(0.95, kinds, nobody, 0.6) == triage.Assessment("unsure", 0.95, "hazard")
    assert triage.decide(0.95, kinds, person, 0.6) == triage.Assessment("emergency", 0.95, "injury")
    assert triage.decide(0.5, kinds, person, 0.6).level == "unsure"  # not sure enough
    # damage never alerts by itself, even near a home
    assert triage.decide(0.99, {"hazard": 0.9, "storm": 0.1}, home, 0.6).level == "unsure"
    # who is at risk: a stranger is the danger, not in it; unaccented words that mean
    # something else ("tre" bamboo, "ba" three, "chau" in "châu Phi") name nobody
    assert triage.at_risk("có người lạ lảng vảng") == nobody
    assert triage.at_risk("có người lạ cầm dao đuổi đánh người") == person
    assert triage.at_risk("cau tre o nga ba bi gay") == nobody
    assert triage.at_risk("dich ta lon chau Phi") == frozenset({triage.LIVESTOCK})
    assert triage.at_risk("trẻ con đang đứng gần") == person
    assert triage.at_risk("ba toi gia yeu") == person


def test_first_advice_is_specific_to_the_kind():
    assert "15 phút" in triage.advice("dog_bite", BAC_HA).text  # wash the bite
    assert "vắc xin phòng dại" in triage.advice("dog_bite", BAC_HA).text
    assert "không chạm" in triage.advice("live_wire", BAC_HA).text
    assert "Không bán" in triage.advice("livestock", BAC_HA).text
    assert "người già" in triage.advice("flood", BAC_HA).text
    assert "113" in triage.advice("violence", BAC_HA).text
    assert "114" in triage.advice("fire", BAC_HA).text
    hazard = triage.advice("hazard", BAC_HA).text  # a road, a bridge: keep away, no 115
    assert "tránh xa chỗ hư hỏng" in hazard and BAC_HA.phone in hazard
    assert not any(n in hazard for n in NUMBERS)
    # every kind files into an emergency category
    assert all(CATEGORIES[k.category].emergency for k in triage.KINDS.values())


def test_unsure_gets_the_question_not_an_alert():
    found = triage.assess("có cháy ở Bản Phố")
    assert found.level == "unsure" and found.kind == "fire"
    assert triage.UNSURE_AT <= found.probability < triage.EMERGENCY_AT
    for yes in ("có", "Có ạ", "dạ có", "/triage yes", "1", "vâng, đang cháy"):
        assert triage.answer_of(yes) is True, yes
    for no in ("không", "ko", "dạ không", "chưa", "/triage no", "2", "k phải"):
        assert triage.answer_of(no) is False, no
    for other in ("nhà ông Ba ở đầu bản", "", "ờm"):
        assert triage.answer_of(other) is None, other


def test_time_cues_with_and_without_accents():
    assert "cue_past" in triage.cue_tokens("năm ngoái bị trộm")
    assert "cue_past" in triage.cue_tokens("hồi 2023 nhà bị ngập")
    assert "cue_chronic" in triage.cue_tokens("may tuan nay hang xom dot rac")
    assert "cue_now" in triage.cue_tokens("nước đang lên")
    assert "cue_figurative" in triage.cue_tokens("chay tui roi")
    # "gặp" (meet) is not "gấp" (urgent) when the accents are there
    assert "cue_now" not in triage.cue_tokens("cho tôi gặp cán bộ")


def test_fast_path_equals_the_pipeline():
    model = triage.default_triage()
    texts = [t for t in TRAPS] + [t for t, _k, _n in MISSES] + ["", "xin chào"]
    reference = model.decision.predict_proba(texts)[:, list(model.decision.classes_).index(True)]
    fast = np.array([model.probability(t) for t in texts])
    assert np.allclose(reference, fast, atol=1e-9)


def test_the_labelled_set_is_big_enough_and_varied():
    for examples in (triage.load(), triage.load(triage.DATA_DIR / "test", skip=())):
        urgent = [e for e in examples if e.emergency]
        routine = [e for e in examples if not e.emergency]
        assert len(urgent) >= 40 and len(routine) >= 40
        assert sum(fold(e.text) == e.text for e in urgent) >= 5  # typed without accents
        assert sum(fold(e.text) == e.text for e in routine) >= 5
        words = " ".join(e.text.lower() for e in examples)
        assert {"heo", "tui"} <= set(words.split())  # Southern
        assert any(w in words for w in ("mạ", "bọ", "rứa", "nớ", " o "))  # Central
        assert {"lợn", "bố"} & set(words.split())  # Northern


def test_bad_data_is_refused_with_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("emergency:\n  tsunami:\n    - sóng thần\n", encoding="utf-8")
    with pytest.raises(ValueError, match="tsunami"):
        triage.load(bad)
    bad.write_text("urgent:\n  fire:\n    - cháy\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown section"):
        triage.load(bad)
    bad.write_text("emergency:\n  hazard:\n    - đường sụt\n", encoding="utf-8")
    with pytest.raises(ValueError, match="never alerts"):
        triage.load(bad)
    bad.write_text("unsure:\n  pothole:\n    - ổ gà\n", encoding="utf-8")
    with pytest.raises(ValueError, match="pothole"):
        triage.load(bad)
    with pytest.raises(ValueError, match="both"):
        triage.Triage([triage.Example("cháy nhà", True, "fire")])


def test_the_same_day_deadline_follows_the_ticket_not_the_category():
    settings = load_settings("config.yml")
    cal = WorkingCalendar(BAC_HA, settings.feedback)
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
    same_day = cal.deadlines("security", monday)  # staff and Open311: the category's default
    assert same_day == cal.deadlines("security", monday, emergency=True)
    assert same_day[1] - monday <= timedelta(hours=15)
    ordinary = cal.deadlines("security", monday, emergency=False)  # a theft last year
    assert ordinary[1] - monday > timedelta(days=5)
    assert cal.warn_at("security", monday, ordinary[1], emergency=False) > same_day[1]


# -- the real path: Zalo in, what residents and the leader get out ---------------------------
async def _tickets(commune, key: str) -> list[dict]:
    got, body = await commune.call(key, "GET", "/tickets")
    assert got == 200
    return body["tickets"]


async def _alerts_queued(commune) -> int:
    """Ticket alerts queued for the leader (queued with the resident's reply, in the same
    transaction: counted here, nothing is left to arrive later)."""
    async with commune.running.services.sm() as s:
        return (
            await s.execute(
                select(func.count())
                .select_from(OutboundMessage)
                .where(
                    OutboundMessage.recipient == LEADER_ZALO,
                    OutboundMessage.idempotency_key.like("ticket:%"),
                )
            )
        ).scalar_one()


async def test_traps_file_nothing_and_alert_no_one(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    for n, text in enumerate(TRAPS):
        said = await commune.says(f"82{n:02d}", text)
        for alarm in ("114", "113", "112", "khẩn cấp", "PA-", "xử lý ngay"):
            assert alarm not in said, (text, said)
    assert await _tickets(commune, leader) == []
    assert await _alerts_queued(commune) == 0


async def test_a_plain_statement_of_danger_is_filed_and_the_leader_alerted(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    user = "8203"
    said = await commune.says(
        user, "Nước đang dâng vào nhà, bà tôi gần 90 tuổi không tự đi được, ở Nậm Mòn"
    )
    code = ticket_code(said)
    # the number and what to do first come first, then the code and the leader's alert
    assert said.index("112") < said.index(code)
    assert "lên chỗ cao" in said and "báo ngay cho lãnh đạo" in said
    [alert] = await commune.alerts(LEADER_ZALO, 1)
    assert alert.startswith("KHẨN") and code in alert and "Nậm Mòn" in alert
    got, ticket = await commune.call(leader, "GET", f"/tickets/{code}")
    assert got == 200 and ticket["emergency"] is True
    assert ticket["category"]["code"] == "disaster" and ticket["village"] == "Nậm Mòn"
    received = datetime.fromisoformat(ticket["received_at"])
    assert datetime.fromisoformat(ticket["due_at"]) - received <= timedelta(hours=24)

    # more about the same danger a minute later: added to that ticket, not a second alarm
    more = await commune.says(user, "nước lên tới giường rồi, bà tôi không đi được, nhanh lên")
    assert code in more and "ghi thêm" in more and "lên chỗ cao" in more
    assert [t["code"] for t in await _tickets(commune, leader)] == [code]
    _, ticket = await commune.call(leader, "GET", f"/tickets/{code}")
    assert ticket["history"][-1]["action"] == "note"
    assert "nước lên tới giường" in ticket["history"][-1]["note"]
    # the leader hears the news as news of that alarm, not as a second alarm
    alarm, news = await commune.alerts(LEADER_ZALO, 2)
    assert alarm.startswith("KHẨN") and news.startswith(f"KHẨN – tin thêm về phản ánh {code}")
    assert "nước lên tới giường" in news
    assert await _alerts_queued(commune) == 2


async def test_the_rabid_dog_and_the_live_wires(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    dog = await commune.says("8204", "Con chó dại đã cắn hai đứa trẻ ở xóm tôi")
    assert "15 phút" in dog and "vắc xin phòng dại" in dog and ticket_code(dog)
    wires = await commune.says("8205", "cay do len day dien truoc nha van hoa, day sat dat")
    assert "114" in wires and "không chạm" in wires and ticket_code(wires)
    alerts = await commune.alerts(LEADER_ZALO, 2)
    assert all(a.startswith("KHẨN") for a in alerts)
    kinds = {t["category"]["code"] for t in await _tickets(commune, leader)}
    assert kinds == {"epidemic", "disaster"}


async def test_look_alikes_alert_no_one_on_zalo_and_the_web_chat(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    said = {}
    for n, text in enumerate(FALSE_ALARMS + [fold(FALSE_ALARMS[0]), fold(FALSE_ALARMS[5])]):
        said[text] = await commune.says(f"83{n:02d}", text)
    tab = Visitor(commune.running.url)
    try:
        await tab.open()
        for text in FALSE_ALARMS:
            said[f"web: {text}"] = frames_text(await tab.says(text))
    finally:
        await tab.close()
    for text, reply in said.items():
        for alarm in (*NUMBERS, "KHẨN", "PA-", "báo ngay cho lãnh đạo", "Gọi ngay"):
            assert alarm not in reply, (text, reply)
    assert await _tickets(commune, leader) == []
    assert await _alerts_queued(commune) == 0


async def test_a_road_confirmed_urgent_gets_advice_for_a_road(commune):
    """Asked about a road that subsided, the resident says it is urgent: filed and the leader
    told, with the advice for damage — keep people away — not first aid and 115."""
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    user = "8320"
    asked = await commune.says(
        user, "Đường vào bản Nậm Mòn bị sụt một hố sâu, xe máy không qua được"
    )
    assert "cần xử lý ngay không" in asked and "PA-" not in asked
    assert not any(n in asked for n in NUMBERS) and await _alerts_queued(commune) == 0
    done = await commune.says(user, "có")
    code = ticket_code(done)
    assert not any(n in done for n in ("115", "113")) and "tránh xa" in done
    [alert] = await commune.alerts(LEADER_ZALO, 1)
    assert alert.startswith("KHẨN") and code in alert
    _, ticket = await commune.call(leader, "GET", f"/tickets/{code}")
    assert ticket["emergency"] is True and ticket["category"]["code"] == "disaster"


async def test_the_dangers_among_them_alert_with_number_and_advice(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    for n, (text, _kind, says) in enumerate(MUST_CATCH):
        said = await commune.says(f"84{n:02d}", text if n % 2 else fold(text))
        assert says in said and ticket_code(said) and "báo ngay cho lãnh đạo" in said, said
        assert said.index(says) < said.index(ticket_code(said))  # the advice first
    alerts = await commune.alerts(LEADER_ZALO, len(MUST_CATCH))
    assert all(a.startswith("KHẨN") for a in alerts)
    assert len(await _tickets(commune, leader)) == len(MUST_CATCH)
    # and on the web chat
    tab = Visitor(commune.running.url)
    try:
        await tab.open()
        said = frames_text(await tab.says("Nhà hàng xóm đang cháy to, lửa lan sang nhà tôi rồi"))
    finally:
        await tab.close()
    assert "114" in said and "ra khỏi nơi cháy" in said and ticket_code(said)
    assert len(await commune.alerts(LEADER_ZALO, len(MUST_CATCH) + 1)) == len(MUST_CATCH) + 1


async def test_unsure_asks_once_and_yes_files_an_emergency(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    asked = await commune.says("8206", "có cháy ở Bản Phố")
    assert "Việc này đang xảy ra, cần xử lý ngay không ạ?" in asked
    assert "1. Có, cần ngay" in asked and "2. Không" in asked and "PA-" not in asked
    assert await _tickets(commune, leader) == []
    done = await commune.says("8206", "có")
    code = ticket_code(done)
    assert "114" in done and "ra khỏi nơi cháy" in done
    [alert] = await commune.alerts(LEADER_ZALO, 1)
    assert code in alert
    _, ticket = await commune.call(leader, "GET", f"/tickets/{code}")
    assert ticket["emergency"] is True and ticket["category"]["code"] == "fire"
    assert ticket["village"] == "Bản Phố" and ticket["description"] == "có cháy ở Bản Phố"

    # "không": no alarm; the words carry on as an ordinary message
    await commune.says("8207", "có cháy ở Bản Phố")
    calm = await commune.says("8207", "không")
    assert "114" not in calm and "PA-" not in calm
    assert [t["code"] for t in await _tickets(commune, leader)] == [code]


async def test_a_past_theft_is_an_ordinary_ticket(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    user = "8230"
    said = await commune.says(
        user,
        "tôi muốn phản ánh: năm ngoái nhà tôi bị mất trộm xe máy "
        "ở Bản Phố, đến giờ chưa có kết quả",
    )
    assert "gửi một ảnh hoặc vị trí" in said  # the ordinary form, not an alarm
    assert "đồng ý cho xã lưu tên" in await commune.says(user, "bỏ qua")
    done = await commune.says(user, "không")
    assert "113" not in done and "lãnh đạo" not in done
    got, ticket = await commune.call(leader, "GET", f"/tickets/{ticket_code(done)}")
    assert got == 200 and ticket["category"]["code"] == "security"
    assert ticket["emergency"] is False and ticket["office"]["code"] == "congan"
    received = datetime.fromisoformat(ticket["received_at"])
    assert datetime.fromisoformat(ticket["due_at"]) - received > timedelta(days=5)
    assert await _alerts_queued(commune) == 0


async def test_during_a_handoff_only_real_emergencies_get_through(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    user = "8209"
    assert "chuyển cuộc trò chuyện" in await commune.says(user, "cho tôi gặp cán bộ")
    await commune.alerts(LEADER_ZALO, 1)  # the handoff
    await commune.quiet(user, "nhà bên đốt rác khói bay sang nhà tôi")
    assert await _alerts_queued(commune) == 0
    urgent = await commune.says(user, "Chó dại đang cắn người ở đầu xóm, đã cắn 2 cháu")
    assert "vắc xin phòng dại" in urgent and ticket_code(urgent)
    [_handoff, alert] = await commune.alerts(LEADER_ZALO, 2)
    assert alert.startswith("KHẨN") and await _alerts_queued(commune) == 1
    assert [t["category"]["code"] for t in await _tickets(commune, leader)] == ["epidemic"]


# -- the command line ---------------------------------------------------------------------------
def _ask(capsys, text: str) -> dict:
    assert cli.main(["ask", "--commune", BAC_HA.code, "--json", text]) == 0
    return json.loads(capsys.readouterr().out)


def test_bot_ask_json_shows_category_and_emergency(capsys):
    urgent = _ask(capsys, "Nước đang dâng vào nhà, trong nhà có ông cụ không đi được")
    [ticket] = [e for e in urgent["effects"] if e["kind"] == "ticket"]
    assert ticket["category"] == "disaster" and ticket["emergency"] is True
    assert urgent["triage"]["level"] == "emergency" and urgent["triage"]["kind"] == "flood"
    assert "112" in urgent["reply"]

    unsure = _ask(capsys, "có cháy ở Bản Phố")
    assert unsure["intent"] == "emergency_check" and unsure["effects"] == []
    assert unsure["triage"]["level"] == "unsure"
    assert "cần xử lý ngay không" in unsure["reply"]

    trap = _ask(capsys, "Tháng này cháy túi rồi")
    assert trap["triage"]["level"] == "routine"
    assert all(e["kind"] != "ticket" for e in trap["effects"]) and "114" not in trap["reply"]


def test_bot_triage_eval_prints_precision_and_recall(tmp_path, capsys):
    data = tmp_path / "triage"
    (data / "test").mkdir(parents=True)
    fires = [f"nhà số {n} đang cháy, lửa lan sang nhà bên" for n in range(6)]
    calm = [f"đèn đường số {n} cháy bóng mấy hôm nay" for n in range(6)]
    roads = [f"đường số {n} sụt lún một đoạn lớn" for n in range(6)]
    (data / "examples.yml").write_text(
        json.dumps(
            {
                "emergency": {"fire": fires},
                "unsure": {"hazard": roads},
                "routine": {"figurative": calm},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    (data / "test" / "heldout.yml").write_text(
        json.dumps(
            {
                "emergency": {"fire": ["cháy nhà rồi, lửa to lắm"]},
                "unsure": {"hazard": ["đường vào bản sụt lún"]},
                "routine": {"figurative": ["tháng này cháy túi"]},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    (data / "test" / "adversarial.yml").write_text(
        json.dumps({"routine": {"figurative": ["bão giá quá"]}}, ensure_ascii=False),
        encoding="utf-8",
    )
    assert cli.main(["triage", "eval", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "| held-out, as written | 1 / 1 / 2 |" in out and "accents removed" in out
    assert "| held-out adversarial.yml, as written | 0 / 0 / 1 |" in out
    assert "| held-out heldout.yml, accents removed | 1 / 1 / 1 |" in out
    assert "alert precision" in out and "question recall" in out
    assert cli.main(["triage", "eval", "--data", str(tmp_path / "none")]) == 2


# -- the reviewer's misses: a collapse, a gas leak, a dike, a snakebite, a suicide attempt ------
#: (message, kind, number, advice the first reply must give)
REVIEWED = [
    ("ông tôi bị đột quỵ, cần xe cấp cứu", "collapse", "115", "nằm nghiêng"),
    ("Bà tôi tự nhiên ngất, gọi không tỉnh", "collapse", "115", "Không cho ăn, uống"),
    ("Con tôi đang co giật, sùi bọt mép", "collapse", "115", "giờ bắt đầu"),
    ("Bố tôi bị méo miệng, nói không rõ", "collapse", "115", "giờ bắt đầu"),
    ("nhà tôi bị rò rỉ khí gas, sợ nổ", "gas_leak", "114", "không dùng lửa"),
    ("nhà tôi rò rỉ gas", "gas_leak", "114", "công tắc điện"),
    ("bị rắn cắn", "snakebite", "115", "không rạch, không hút"),
    ("Mẹ tôi bị rắn cắn ở chân lúc đi làm cỏ", "snakebite", "115", "bất động chi bị cắn"),
    ("có người tự tử", "suicide", "115", "Ở bên cạnh người đó"),
    ("có người nhảy cầu tự tử", "drowning", "115", "ném phao"),
]


@pytest.mark.parametrize(
    "text, kind, number, said", REVIEWED + [(fold(t), k, n, s) for t, k, n, s in REVIEWED]
)
def test_the_reviewed_misses_are_emergencies_with_the_right_advice(text, kind, number, said):
    found = triage.assess(text)
    assert found.level == "emergency" and found.kind == kind, (found, text)
    assert CATEGORIES[found.category].emergency
    advice = triage.advice(kind, BAC_HA).text
    assert number in advice and said in advice
    assert "113" not in advice and "dại" not in advice  # not violence, not a rabid dog


def test_the_new_kinds_advice_and_numbers():
    def advice(kind: str) -> str:
        return triage.advice(kind, BAC_HA).text

    assert triage.KINDS["gas_leak"].category == "fire" and "114" in advice("gas_leak")
    assert "khóa van bình gas" in advice("gas_leak") and "ra khỏi nhà" in advice("gas_leak")
    assert "không garô chặt" in advice("snakebite") and "cơ sở y tế" in advice("snakebite")
    assert "cất dao" in advice("suicide") and "115" in advice("suicide")
    for kind in ("collapse", "snakebite", "suicide"):
        assert triage.KINDS[kind].category == "accident" and "115" in advice(kind)
        assert not {"113", "114"} & set(advice(kind).split())
        assert triage.KINDS[kind].needs == (triage.PERSON,)


@pytest.mark.parametrize("text", ["đê sắp vỡ", "de sap vo"])
def test_a_dike_about_to_break_is_asked_about(text):
    found = triage.assess(text)
    assert found.level == "unsure" and found.kind == "flood", found


@pytest.mark.parametrize(
    "text",
    [
        "Đê sắp vỡ, nước sắp tràn vào mấy nhà dân dưới chân đê",
        "de sap vo, nuoc sap tran vao may nha dan duoi chan de",
    ],
)
def test_a_dike_about_to_break_with_homes_named_is_an_emergency(text):
    found = triage.assess(text)
    assert found.level == "emergency" and found.kind == "flood", found


CALLS = [
    "cần xe cấp cứu",
    "gọi cấp cứu",
    "cứu với",
    "cứu tôi",
    "gọi 115",
    "gọi 114",
    "gọi 113",
    "cứu với, nhà tôi",
    "gọi giúp cấp cứu ở Bản Phố",
]


@pytest.mark.parametrize("text", CALLS + [fold(t) for t in CALLS])
def test_an_explicit_call_for_help_is_never_routine(text):
    assert triage.calls_for_help(text)
    assert triage.assess(text).level != "routine"
    # even where the classifier alone would call it routine: at least the question
    assert not triage.routine(0.01, triage.UNSURE_AT, triage.calls_for_help(text))


@pytest.mark.parametrize(
    "text",
    [
        "số gọi cấp cứu là số nào",
        "so goi cap cuu la so nao",
        "chỉ giúp với ạ, làm giấy khai sinh",
        "Hàng cứu trợ phát chưa đều",
        "Năm ngoái ông tôi bị đột quỵ, giờ xin hỗ trợ",
        "Giá gas tăng quá",
        "Bình gas nhà tôi để lâu năm rồi, có cần thay không ạ",
        "Xã có kế hoạch gia cố đê trước mùa lũ không",
        "Trạm y tế có huyết thanh kháng nọc rắn không",
    ],
)
def test_the_new_kinds_look_alikes_stay_routine(text):
    found = triage.assess(text)
    assert found.level == "routine", (found, text)
    assert not triage.calls_for_help(text)


async def test_the_reviewed_misses_through_zalo(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    cases = REVIEWED[0::2] + [REVIEWED[5], REVIEWED[8]]  # one or two of each kind
    for n, (text, _kind, number, advice) in enumerate(cases):
        said = await commune.says(f"85{n:02d}", text if n % 2 else fold(text))
        code = ticket_code(said)
        assert number in said and advice in said and "báo ngay cho lãnh đạo" in said, said
        assert said.index(advice) < said.index(code)  # the advice first
        assert "dại" not in said and "113" not in said
    alerts = await commune.alerts(LEADER_ZALO, len(cases))
    assert all(a.startswith("KHẨN") for a in alerts)
    tickets = await _tickets(commune, leader)
    assert len(tickets) == len(cases)
    assert {t["category"]["code"] for t in tickets} == {"accident", "fire"}


async def test_a_call_for_help_and_a_dike_get_at_least_the_question(commune):
    leader = await commune.hire("leader", zalo=LEADER_ZALO)
    asked = await commune.says("8601", "đê sắp vỡ")
    assert "Việc này đang xảy ra, cần xử lý ngay không ạ?" in asked and "PA-" not in asked
    assert await _alerts_queued(commune) == 0
    done = await commune.says("8601", "có")
    assert ticket_code(done) and "lên chỗ cao" in done
    [alert] = await commune.alerts(LEADER_ZALO, 1)
    assert alert.startswith("KHẨN")
    for n, text in enumerate(("goi 114", "cứu với")):
        said = await commune.says(f"861{n}", text)
        assert "cần xử lý ngay không" in said or ticket_code(said), said
    tickets = await _tickets(commune, leader)
    assert tickets and tickets[0]["emergency"] is True
