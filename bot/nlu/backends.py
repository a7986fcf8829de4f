"""The NLU backends behind one interface: ``await backend.understand(text, villages)``.

* :class:`EmbeddedBackend` — the in-process engine (``bot/nlu/embedded.py``), the default.
* :class:`RasaBackend` — a Rasa 3.6 server's ``/model/parse`` through the service's one shared
  aiohttp session, with a timeout. When Rasa does not answer (down, slow, an error status, a body
  it should not send) the embedded engine answers instead; each such fallback is logged and
  counted, and for ``retry_after_s`` afterwards the bot does not wait on Rasa again.

Both see the same normalised text (``bot/nlu/text.normalise``) and give the same entities
(``bot/nlu/entities.py``); Rasa decides the intent only. FAQ-style intents are one Rasa retrieval
intent (``faq/office_hours`` …, see ``bot/nlu/rasa_project.py``); what the bot reports is always
the contract name (``office_hours``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from bot.config import NluSettings
from bot.envelope import Parse
from bot.nlu.embedded import EmbeddedNLU, Ranked, default_engine
from bot.nlu.text import normalise
from bot.nlu.villages import VillageLike

#: a village as the entity extractor takes it: its name, or a config/row with name and kind
VillageRef = str | VillageLike

log = logging.getLogger(__name__)
RETRIEVAL_INTENT = "faq"


@dataclass(frozen=True)
class Understanding:
    parse: Parse
    ranked: list[Ranked]
    backend: str  # who answered: "embedded", "rasa", or "embedded (fallback)"


class Backend(Protocol):
    name: str
    remote: bool  # True: parse before the store transaction (it waits on the network)

    async def understand(self, text: str, villages: Iterable[VillageRef] = ()) -> Understanding: ...

    def status(self) -> dict[str, Any]: ...


def understand_embedded(
    text: str,
    villages: Iterable[VillageRef] = (),
    engine: EmbeddedNLU | None = None,
    backend: str = "embedded",
) -> Understanding:
    nlu = engine or default_engine()
    parse, ranked = nlu.parse(text, list(villages))
    return Understanding(parse, ranked, backend)


class EmbeddedBackend:
    name = "embedded"
    remote = False

    def __init__(self, engine: EmbeddedNLU | None = None) -> None:
        self.engine = engine

    async def understand(self, text: str, villages: Iterable[VillageRef] = ()) -> Understanding:
        return understand_embedded(text, villages, self.engine)

    def status(self) -> dict[str, Any]:
        return {"backend": self.name}


class RasaUnavailable(Exception):
    """Rasa did not give a usable answer (the reason is the message)."""


def ranking_from_rasa(body: dict[str, Any]) -> list[Ranked]:
    """A ``/model/parse`` answer → the contract intents, best first.

    ``nlu_fallback`` (Rasa's FallbackClassifier) is dropped: the bot applies its own threshold to
    the ranking, the same for both backends. A retrieval intent ``faq`` is replaced by its
    sub-intents with confidence = P(faq) × P(sub-intent | faq) from the ResponseSelector.
    """
    ranking = body.get("intent_ranking") or ([body["intent"]] if body.get("intent") else [])
    if not isinstance(ranking, list):
        raise RasaUnavailable("intent_ranking is not a list")
    out: list[Ranked] = []
    for item in ranking:
        name, confidence = str(item.get("name")), float(item.get("confidence") or 0.0)
        if name == "nlu_fallback":
            continue
        if name != RETRIEVAL_INTENT:
            out.append(Ranked(name, confidence))
            continue
        selector = (body.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
        subs = selector.get("ranking") or (
            [selector["response"]] if selector.get("response") else []
        )
        for sub in subs:
            key = str(sub.get("intent_response_key") or "")
            if key.startswith(RETRIEVAL_INTENT + "/"):
                out.append(
                    Ranked(key.split("/", 1)[1], confidence * float(sub.get("confidence") or 0.0))
                )
    if not out:
        raise RasaUnavailable("no intent in the answer")
    out.sort(key=lambda r: r.confidence, reverse=True)
    return out


@dataclass
class RasaStats:
    parses: int = 0
    fallbacks: int = 0
    last_error: str | None = None
    by_reason: dict[str, int] = field(default_factory=dict)


class RasaBackend:
    name = "rasa"
    remote = True

    def __init__(
        self,
        http: aiohttp.ClientSession,
        settings: NluSettings,
        fallback: EmbeddedBackend | None = None,
    ) -> None:
        self.http = http
        self.url = settings.rasa_url.rstrip("/") + "/model/parse"
        self.timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self.retry_after_s = settings.retry_after_s
        self.fallback = fallback or EmbeddedBackend()
        self.stats = RasaStats()
        self._skip_until = 0.0
        self._gate = asyncio.Semaphore(settings.concurrency)

    async def parse_remote(self, text: str) -> list[Ranked]:
        """Rasa's ranking for ``text`` (normalised here), or :class:`RasaUnavailable`."""
        try:
            async with (
                self._gate,
                self.http.post(
                    self.url, json={"text": normalise(text)}, timeout=self.timeout
                ) as response,
            ):
                if response.status != 200:
                    raise RasaUnavailable(f"HTTP {response.status}")
                body = await response.json(content_type=None)
        except TimeoutError:
            raise RasaUnavailable("timeout") from None
        except aiohttp.ClientError as exc:
            raise RasaUnavailable(type(exc).__name__) from None
        except ValueError:
            raise RasaUnavailable("answer is not JSON") from None
        if not isinstance(body, dict):
            raise RasaUnavailable("answer is not a JSON object")
        return ranking_from_rasa(body)

    async def understand(self, text: str, villages: Iterable[VillageRef] = ()) -> Understanding:
        villages = list(villages)
        if time.monotonic() < self._skip_until:
            return self._fall_back(text, villages, None)
        try:
            ranked = await self.parse_remote(text)
        except RasaUnavailable as exc:
            return self._fall_back(text, villages, str(exc))
        self.stats.parses += 1
        engine = self.fallback.engine or default_engine()
        best = ranked[0]
        parse = Parse(best.intent, round(best.confidence, 3), engine.entities(text, villages))
        return Understanding(parse, ranked[:3], self.name)

    def _fall_back(
        self, text: str, villages: list[VillageRef], reason: str | None
    ) -> Understanding:
        self.stats.fallbacks += 1
        if reason is not None:  # a fresh failure, not a message during the back-off
            self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
            self.stats.last_error = reason
            self._skip_until = time.monotonic() + self.retry_after_s
            log.warning(
                "Rasa at %s did not answer (%s): the embedded engine answers for the "
                "next %.0f s (fallbacks so far: %d)",
                self.url,
                reason,
                self.retry_after_s,
                self.stats.fallbacks,
            )
        result = understand_embedded(text, villages, self.fallback.engine)
        return Understanding(result.parse, result.ranked, "embedded (fallback)")

    def status(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "url": self.url,
            "parses": self.stats.parses,
            "fallbacks": self.stats.fallbacks,
            "fallback_reasons": self.stats.by_reason,
            "last_error": self.stats.last_error,
            "answering": "embedded" if time.monotonic() < self._skip_until else "rasa",
        }


def create_backend(
    settings: NluSettings, http: aiohttp.ClientSession | None, override: str | None = None
) -> Backend:
    choice = override or settings.backend
    if choice == "rasa":
        if http is None:
            raise ValueError("the Rasa backend needs an aiohttp session")
        return RasaBackend(http, settings)
    return EmbeddedBackend()
