"""Reading a village from a resident's words (bot/nlu/villages.py): one rule per test, and the
conversation's use of it (bot/conversation/village.py). The real path — follow, notices,
submit_info — is in tests/test_resident_village.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import Village, load_settings
from bot.conversation import engine
from bot.conversation import village as village_chat
from bot.nlu.villages import best_village, distance, find_villages, place_named

BAC_HA = ["Na Hối Tày", "Na Hối Nùng", "Nậm Mòn", "Bản Phố", "Lùng Phình"]
BUON_DON = [
    Village(name="Buôn Trí", kind="buôn"),
    Village(name="Buôn Đôn", kind="buôn"),
    Village(name="Thôn 1", kind="thôn"),
]


def named(text: str, villages=BAC_HA) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.village for m in find_villages(text, villages)]


@pytest.mark.parametrize(
    "text",
    [
        "tôi ở thôn Nậm Mòn",
        "toi o thon nam mon",
        "TÔI Ở THÔN NẬM MÒN",
        "nhà tôi ở Nậm Mòn",
        "nha toi o nam mon",
        "tôi ở nậm mon",  # some marks typed, some not
        "Tôi ở thôn Na\u0323\u0302m Mo\u0300n",  # decomposed Unicode
    ],
)
def test_accents_are_optional(text):
    assert named(text) == ["Nậm Mòn"]


def test_a_mark_the_writer_typed_must_agree():
    assert named("bán phở ngoài chợ") == []  # bán phở is not Bản Phố
    assert named("năm môn học") == []  # năm môn is not Nậm Mòn
    assert named("ban pho") == named("bản pho") == ["Bản Phố"]


@pytest.mark.parametrize(
    "text, village",
    [
        ("tôi ở thôn Lùng Phình", "Lùng Phình"),
        ("tôi ở bản Lùng Phình", "Lùng Phình"),
        ("tôi ở Lùng Phình", "Lùng Phình"),
        ("xóm Na Hối Nùng", "Na Hối Nùng"),
        ("nhà e ở bản phố", "Bản Phố"),
        ("thôn Bản Phố", "Bản Phố"),
    ],
)
def test_with_or_without_the_kind_word(text, village):
    assert named(text) == [village]


def test_short_or_generic_names_need_their_kind_word():
    assert named("sống ở thành phố") == []  # "phố" alone is not Bản Phố
    assert named("xóm phố") == []  # nor after another kind of village
    assert named("thôn 1", BUON_DON) == named("thon1", BUON_DON) == ["Thôn 1"]
    assert named("thôn số 01", BUON_DON) == named("thon so 1", BUON_DON) == ["Thôn 1"]
    assert named("tôi có 1 con", BUON_DON) == []  # a bare number is not Thôn 1
    assert named("tổ 1", BUON_DON) == named("thôn 11", BUON_DON) == []  # numbers are exact
    assert named("buôn trí", BUON_DON) == ["Buôn Trí"]
    assert named("trí nhớ kém", BUON_DON) == []


def test_the_configured_kind_counts_as_the_villages_own():
    sites = [Village(name="Trí", kind="buôn"), Village(name="5", kind="tổ dân phố")]
    assert named("nhà tôi ở buôn Trí", sites) == ["Trí"]
    assert named("tôi ở tổ 5", sites) == named("tdp 5", sites) == ["5"]
    assert named("tôi ở thôn 5", sites) == []


def test_an_administrative_unit_of_the_same_name_is_not_the_village():
    assert named("UBND xã Buôn Đôn", BUON_DON) == []
    assert named("tôi ở buôn Đôn, xã Buôn Đôn", BUON_DON) == ["Buôn Đôn"]


@pytest.mark.parametrize(
    "text, village, edits",
    [
        ("thon nam mong", "Nậm Mòn", 1),  # one edit after a kind word, on a 6-letter name
        ("tôi ở lung phin", "Lùng Phình", 1),  # one edit without it, on a 9-letter name
        ("thôn lugn phình", "Lùng Phình", 1),  # two letters swapped
        ("thôn na hoj tay", "Na Hối Tày", 1),
        ("thon lun phin", "Lùng Phình", 2),
    ],
)
def test_small_typos_scaled_to_the_names_length(text, village, edits):
    [mention] = find_villages(text, BAC_HA)
    assert (mention.village, mention.edits) == (village, edits)


def test_typos_are_bounded():
    assert named("chúc mừng năm mới") == named("chuc mung nam moi") == []  # not Nậm Mòn
    assert named("nam mong") == []  # a typo on a short name needs the kind word
    assert named("thôn nậm mới") == []  # two edits, counting the mark typed
    assert named("thôn lu phi") == []  # three edits


def test_longest_name_wins_when_names_nest():
    villages = ["Na Hối", *BAC_HA]
    assert named("tôi ở Na Hối Tày", villages) == ["Na Hối Tày"]
    assert named("tôi ở na hoi tai", villages) == ["Na Hối Tày"]
    assert named("tôi ở Na Hối", villages) == ["Na Hối"]
    assert best_village("Xóm 3, Bản Phố", BAC_HA) == "Bản Phố"


def test_several_villages_in_text_order_once_each():
    assert named("từ Lùng Phình sang Nậm Mòn, rồi về lại Lùng Phình") == ["Lùng Phình", "Nậm Mòn"]
    text = "đường từ thôn Nậm Mòn đi Bản Phố"
    [first, second] = find_villages(text, BAC_HA)
    assert text[first.start : first.end] == "thôn Nậm Mòn" and text[second.start :] == "Bản Phố"


def test_distance_counts_swaps_and_stops_at_the_limit():
    assert distance("nammon", "nammon", 0) == 0
    assert distance("namnom", "nammon", 2) == 2
    assert distance("anmmon", "nammon", 1) == 1
    assert distance("xyzxyz", "nammon", 2) == 3  # above the limit: limit + 1


def test_a_place_that_is_not_a_village_is_named_back():
    assert place_named("tôi mới chuyển sang thôn Khe Lếch") == "thôn Khe Lếch"
    assert place_named("tôi ở tổ 7 nhé") == "tổ 7"
    assert place_named("đổi thôn giúp tôi") is None
    assert place_named("cho to doi thon") is None  # "to" is tớ here, not tổ


def test_the_nlu_entity_is_the_same_reading():
    from bot.nlu.embedded import default_engine

    entities = default_engine().entities("e ở thon nam mong, đi qua ban pho", BAC_HA)
    assert [e["value"] for e in entities if e["entity"] == "village"] == ["Nậm Mòn", "Bản Phố"]


# -- the conversation ------------------------------------------------------------------------
COMMUNE = load_settings().communes[0]  # Xã Bắc Hà, the README's demo commune


def said(text: str, state: dict | None = None):  # type: ignore[no-untyped-def]
    return engine.respond(COMMUNE, text, state=state or {})


@pytest.mark.parametrize(
    "text, village",
    [
        ("tôi ở thôn Nậm Mòn", "Nậm Mòn"),
        ("nhà e ở bản phố", "Bản Phố"),
        ("mình ở na hoi tay", "Na Hối Tày"),
        ("tôi mới chuyển sang thôn Lùng Phình", "Lùng Phình"),
        ("tôi chuyển từ Nậm Mòn sang Lùng Phình rồi", "Lùng Phình"),
    ],
)
def test_saying_where_one_lives_sets_it_and_says_how_to_change_it(text, village):
    result = said(text)
    assert result.parse.intent == "set_village"
    assert result.effects == [{"kind": "village", "village": village}]
    assert village in result.reply_text and "để đổi" in result.reply_text


def test_a_village_the_commune_does_not_have_is_said_and_the_list_offered():
    result = said("tôi mới chuyển sang thôn Khe Lếch")
    assert result.effects == [] and "thôn Khe Lếch" in result.reply_text
    assert "không có trong danh sách" in result.reply_text
    assert result.state["choices"][:5] == [f"/village {v}" for v in BAC_HA]
    asked = said("đổi thôn giúp tôi")
    assert asked.effects == [] and asked.reply_text.startswith("Dạ, anh/chị ở thôn nào ạ?")
    # a number typed after the list picks from it
    picked = said("3", asked.state)
    assert picked.effects == [{"kind": "village", "village": "Nậm Mòn"}]


def test_a_village_statement_that_carries_another_matter_is_that_matter():
    # (a landslide here would be the triage's question first: it may be a danger now)
    report = said("tôi ở thôn Nậm Mòn, đường vào thôn bị hỏng nhiều ổ gà")
    assert report.parse.intent == "report_issue" and not any(
        e["kind"] == "village" for e in report.effects
    )
    hours = said("tôi ở thôn Nậm Mòn, muốn hỏi giờ làm việc của xã")
    assert hours.parse.intent == "office_hours"


def test_taps_on_village_choices():
    assert said("/village Nậm Mòn").effects == [{"kind": "village", "village": "Nậm Mòn"}]
    other = said("/village -")
    assert other.effects == [{"kind": "village", "village": None}]
    assert "thông báo chung" in other.reply_text
    forged = said("/village Thôn Ma")  # a payload we never offered changes nothing
    assert forged.effects == [] and "không có trong danh sách" in forged.reply_text
    # a tap on an old village question does not end a report being filled in
    state = {"report": {"asking": "description", "started": 1e12}, "choices": []}
    tapped = said("/village Bản Phố", state)
    assert tapped.effects == [{"kind": "village", "village": "Bản Phố"}]
    assert tapped.state["report"] == state["report"]


def test_an_address_suggests_a_village_to_confirm():
    choices, name = village_chat.suggestion(
        COMMUNE, {"street": "Thôn Nậm Mòn", "ward": "Xã Bắc Hà"}, None
    )
    assert name == "Nậm Mòn" and choices.text == "Anh/chị ở thôn Nậm Mòn phải không ạ?"
    assert [c.title for c in choices.options] == ["Có", "Không"]
    assert village_chat.suggestion(COMMUNE, {"street": "Thôn Nậm Mòn"}, "Nậm Mòn") is None
    assert village_chat.suggestion(COMMUNE, {"street": "Số 5 Hùng Vương"}, None) is None
    assert village_chat.suggestion(COMMUNE, {"ward": "Nậm Mòn"}, None) is None
    state = village_chat.pending({}, choices, village_suggested=name)
    assert said("có", state).effects == [{"kind": "village", "village": "Nậm Mòn"}]
    no = said("không", state)
    assert no.effects == [] and no.reply_text.startswith("Dạ, anh/chị ở thôn nào ạ?")
    assert said("2", state).effects == []  # "Không" by its number: the list again


def test_the_question_names_the_communes_kind_of_village():
    buon_don = load_settings().communes[1]
    question = village_chat.question(buon_don, "welcome")
    assert question.text.startswith("Anh/chị ở buôn/thôn nào ạ?")
    long_hoa = load_settings().communes[2]
    assert village_chat.question(long_hoa, "ask").text.startswith("Dạ, anh/chị ở ấp nào ạ?")
    many = COMMUNE.model_copy(
        update={"villages": [Village(name=f"Thôn {n}") for n in range(1, 30)]}
    )
    text = engine.text_of(village_chat.question(many, "welcome"))
    assert 'ví dụ: "tôi ở Thôn 1"' in text and "29." not in text  # no list of 29


# -- the labelled list (tests/data/villages_labelled.yml) ------------------------------------
LABELLED = yaml.safe_load(
    (Path(__file__).parent / "data" / "villages_labelled.yml").read_text(encoding="utf-8")
)
SETS = {
    key: [Village(name=name, kind=kind) for name, kind in villages]
    for key, villages in LABELLED["sets"].items()
}


@pytest.mark.parametrize("villages, text, expected", LABELLED["cases"])
def test_the_labelled_list(villages, text, expected):
    assert named(text, SETS[villages]) == expected


def test_everyday_phrases_that_are_village_names():
    sites = SETS["ordinary"]
    assert named("bà con đoàn kết chống lũ", sites) == []  # an everyday phrase
    assert named("tôi ở Đoàn Kết", sites) == ["Đoàn Kết"]  # written as a name
    assert named("toi o tan lap", sites) == ["Tân Lập"]  # after "ở"
    assert named("thon doan ket", sites) == ["Đoàn Kết"]  # after a kind word
    assert named("tan lap mat dien", sites) == []
