"""The NLU backend seam: Rasa's answers mapped to the contract intents, and the service staying
right when Rasa is down, slow or wrong — the embedded engine answers, logged and counted.

The real Rasa server is exercised in tests/test_rasa.py; here a stand-in HTTP server plays a
*misbehaving* Rasa, which a real one cannot be made to do on demand.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web

from bot.config import NluSettings
from bot.nlu import data as nlu_data
from bot.nlu.backends import RasaBackend, RasaUnavailable, ranking_from_rasa
from bot.nlu.rasa_project import FAQ_INTENTS, domain_yaml, nlu_yaml, normalised_pattern
from bot.nlu.text import normalise
from tests.helpers import make_settings, oa_id, start_service

FAQ_ANSWER = {  # the shape Rasa 3.6 answers /model/parse with for a retrieval intent
    "text": "uy ban lam viec may gio",
    "intent": {"name": "faq", "confidence": 0.9},
    "entities": [],
    "intent_ranking": [
        {"name": "faq", "confidence": 0.9},
        {"name": "greet", "confidence": 0.06},
        {"name": "nlu_fallback", "confidence": 0.4},
    ],
    "response_selector": {
        "all_retrieval_intents": ["faq"],
        "faq": {
            "response": {
                "intent_response_key": "faq/office_hours",
                "confidence": 0.8,
                "responses": [{"text": "Giờ làm việc"}],
                "utter_action": "utter_faq",
            },
            "ranking": [
                {"intent_response_key": "faq/office_hours", "confidence": 0.8},
                {"intent_response_key": "faq/office_contact", "confidence": 0.2},
            ],
        },
    },
}


def test_retrieval_intent_becomes_the_contract_intent():
    ranked = ranking_from_rasa(FAQ_ANSWER)
    assert [r.intent for r in ranked] == ["office_hours", "office_contact", "greet"]
    assert ranked[0].confidence == pytest.approx(0.72)  # P(faq) × P(office_hours | faq)
    assert "nlu_fallback" not in {r.intent for r in ranked}
    plain = ranking_from_rasa(
        {
            "intent": {"name": "talk_to_staff", "confidence": 0.7},
            "intent_ranking": [
                {"name": "nlu_fallback", "confidence": 0.4},
                {"name": "talk_to_staff", "confidence": 0.3},
            ],
        }
    )
    assert plain[0].intent == "talk_to_staff" and plain[0].confidence == 0.3
    with pytest.raises(RasaUnavailable):
        ranking_from_rasa({"intent_ranking": []})


def test_export_is_valid_rasa_data_for_every_intent():
    import yaml

    data = nlu_data.load()
    exported = yaml.safe_load(nlu_yaml(data))
    intents = {item["intent"] for item in exported["nlu"] if "intent" in item}
    assert {f"faq/{i}" for i in FAQ_INTENTS} <= intents
    assert {i.split("/")[-1] for i in intents} == set(data.intents)
    # the same normalisation as the embedded engine: folded, lower case, teencode expanded
    # (compared with the source: normalise reads marks, capitals and punctuation that its
    # output no longer has, so it is not applied twice)
    texts = [
        t
        for item in exported["nlu"]
        if "intent" in item
        for t in re.findall(r"^- (.*)$", item["examples"], flags=re.M)
    ]
    assert texts and set(texts) <= {normalise(t) for t, _ in data.examples}
    domain = domain_yaml(data, {})
    assert "faq" in domain["intents"] and "utter_faq/office_hours" in domain["responses"]
    # the ticket-code regex still finds codes in normalised text
    pattern = normalised_pattern(data.regexes["ticket_code"][0])
    assert re.search(pattern, normalise("PA-2026-000123 sao rồi"))


class StandIn:
    """An HTTP server on /model/parse whose behaviour each test sets."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0

    async def parse(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        body = await request.json()
        if self.mode == "error":
            return web.Response(status=500, text="boom")
        if self.mode == "slow":
            await asyncio.sleep(2)
        if self.mode == "garbage":
            return web.Response(text="<html>not json</html>")
        # answers "goodbye" for anything: a reply only Rasa's reading explains
        return web.json_response(
            {
                "text": body["text"],
                "intent": {"name": "goodbye", "confidence": 0.95},
                "intent_ranking": [{"name": "goodbye", "confidence": 0.95}],
            }
        )


@pytest.fixture
async def stand_in():
    fake = StandIn()
    app = web.Application()
    app.router.add_post("/model/parse", fake.parse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    await runner.cleanup()


@pytest.mark.parametrize("mode", ["error", "slow", "garbage", "down"])
async def test_backend_falls_back_to_embedded_and_counts(stand_in, mode):
    url = "http://127.0.0.1:9" if mode == "down" else stand_in.url
    stand_in.mode = mode
    settings = NluSettings(backend="rasa", rasa_url=url, timeout_s=0.3, retry_after_s=60)
    async with aiohttp.ClientSession() as http:
        backend = RasaBackend(http, settings)
        first = await backend.understand("uy ban lam viec may gio")
        calls = stand_in.calls
        second = await backend.understand("so dien thoai cua xa")
    assert first.backend == second.backend == "embedded (fallback)"
    assert (first.parse.intent, second.parse.intent) == ("office_hours", "office_contact")
    status = backend.status()
    assert status["fallbacks"] == 2 and status["parses"] == 0 and status["answering"] == "embedded"
    assert sum(status["fallback_reasons"].values()) == 1  # the second did not wait on Rasa again
    assert stand_in.calls == calls


async def test_service_with_rasa_backend_answers_and_survives_an_outage(stand_in, sim, tmp_path):
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        sim,
        communes=1,
        nlu={"backend": "rasa", "rasa_url": stand_in.url, "timeout_s": 0.5, "retry_after_s": 0},
    )
    running = await start_service(settings, sim)
    try:
        oa = oa_id(1)
        # Rasa's reading is used: the stand-in says goodbye whatever is asked
        await sim.user_sends_text(oa, "8101", "uy ban lam viec may gio")
        [reply] = await sim.wait_for_messages(1, oa_id=oa, user_id="8101")
        assert reply.body["message"]["text"].startswith("Chào anh/chị, chúc")
        # Rasa fails: the resident still gets the right answer, from the embedded engine
        stand_in.mode = "error"
        await sim.user_sends_text(oa, "8101", "uy ban lam viec may gio")
        replies = await sim.wait_for_messages(2, oa_id=oa, user_id="8101")
        assert "7:30–11:30, 13:30–17:00" in replies[1].body["message"]["text"]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.url}/healthz") as r:
                health = await r.json()
        assert r.status == 200
        assert health["nlu"]["backend"] == "rasa"
        assert health["nlu"]["parses"] == 1 and health["nlu"]["fallbacks"] == 1
        assert health["nlu"]["fallback_reasons"] == {"HTTP 500": 1}
    finally:
        await running.runner.cleanup()


def test_convert_public_seq_label_set(tmp_path):
    from bot.cli import main
    from bot.nlu import data as nlu_data

    for split, lines in {
        "train": [
            ("giá vé từ hà_nội đi đà_nẵng", "atis_airfare"),
            ("các chuyến bay sáng mai", "atis_flight"),
            ("chuyến bay và giá vé", "atis_flight#atis_airfare"),
        ],
        "test": [("giá vé đi huế", "atis_airfare")],
    }.items():
        (tmp_path / "src" / split).mkdir(parents=True)
        (tmp_path / "src" / split / "seq.in").write_text("\n".join(t for t, _ in lines) + "\n")
        (tmp_path / "src" / split / "label").write_text("\n".join(i for _, i in lines) + "\n")
    assert main(["nlu", "convert", str(tmp_path / "src"), str(tmp_path / "out")]) == 0
    train = nlu_data.load(tmp_path / "out" / "train", skip=())
    assert ("giá vé từ hà nội đi đà nẵng", "atis_airfare") in train.examples
    assert set(train.intents) == {"atis_airfare", "atis_flight", "atis_flight+atis_airfare"}
    # mismatched files are refused with the reason, nothing written
    (tmp_path / "src" / "test" / "label").write_text("a\nb\n")
    assert main(["nlu", "convert", str(tmp_path / "src"), str(tmp_path / "out2")]) == 2
    assert not (tmp_path / "out2").exists()


def test_bot_ask_with_rasa_down_answers_from_the_embedded_engine():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "ask",
            "--commune",
            "02839",
            "--backend",
            "rasa",
            "--json",
            "uy ban lam viec may gio",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BOT_RASA_URL": "http://127.0.0.1:9"},
    )
    assert result.returncode == 0
    answer = json.loads(result.stdout)
    assert answer["intent"] == "office_hours" and answer["backend"] == "embedded (fallback)"
    assert "did not answer" in result.stderr
