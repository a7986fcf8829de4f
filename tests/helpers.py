"""What the tests share: settings and the running service wired to the simulator, the staff
and resident sides of a commune (Zalo and the web chat), and waits. Fixtures stay in
conftest.py; test modules import from here, never from each other."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from sqlalchemy import and_, func, or_, select
from sqlalchemy import text as sql_text

from bot.app import SERVICES, Services, create_app
from bot.config import Settings, settings_from_dict
from bot.staff import add_staff
from bot.store.db import create_engine
from bot.store.models import Base, InboundEvent, OutboundMessage, Resident
from bot.timeutil import to_vn, utcnow
from zalosim.driver import ZaloSimulator

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


REDIS_DEFAULT = "redis://127.0.0.1:6379/15"


IN_CI = os.environ.get("CI", "").lower() == "true"


APP_ID, APP_SECRET = "3608465249409039670", "sim-app-secret"


def run_in_thread(coro) -> Any:  # type: ignore[no-untyped-def]
    """Run a coroutine to completion on its own loop (session fixtures may be set up while a
    test's loop is running)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} unavailable: {type(exc).__name__}: {exc}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


async def admin(url: str, sql: str) -> None:
    """Run ``sql`` outside a transaction (CREATE/DROP DATABASE cannot run in one)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sql_text(sql))
    finally:
        await engine.dispose()


async def truncate_all(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(sql_text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


#: Zalo's broadcast hours and quotas lifted (tests run at any hour, several broadcasts a day)
ANY_HOUR_BROADCASTS = {
    "per_follower_month": 1000,
    "per_follower_day": 1000,
    "review_s": 0,
    "send_from": "00:00",
    "deliver_by": "23:59:59",
}


def oa_id(n: int) -> str:
    return f"{4000000000000000000 + n}"


def commune_code(n: int) -> str:
    return f"{90000 + n:05d}"


def make_settings(
    store: str,
    sim: ZaloSimulator,
    communes: int = 2,
    redis: str | None = None,
    nlu: dict[str, Any] | None = None,
    notices: dict[str, Any] | None = None,
    feedback: dict[str, Any] | None = None,
    commune_extra: dict[str, Any] | None = None,
    **zalo: Any,
) -> Settings:
    raw = {
        "service": {"secret_key": "test-secret-key", "public_url": "http://127.0.0.1:1"},
        "database_url": store,
        "redis_url": redis,
        "nlu": nlu or {},
        "notices": notices or {},
        "feedback": feedback or {},
        "zalo": {
            "api_base": sim.base_url,
            "oauth_base": sim.base_url,
            "graph_base": sim.base_url,
            "apps": [{"app_id": APP_ID, "app_secret": APP_SECRET}],
            "article_cover_url": "https://xa.example.gov.vn/anh-bia.jpg",
            "broadcasts": ANY_HOUR_BROADCASTS,
            # tests move the simulator's clock (days ahead, to 10:00 tomorrow), not ours:
            # its events' dates are taken as they come. tests/test_webhook_limits.py checks
            # the window with its defaults.
            "event_max_age_s": 400 * 86400,
            "event_future_skew_s": 400 * 86400,
            **zalo,
        },
        "communes": [
            {
                "code": commune_code(n),
                "name": f"Xã Thử Nghiệm {n}",
                "office_hours": [
                    {"days": "mon-fri", "open": "07:30", "close": "11:30"},
                    {"days": "mon-fri", "open": "13:30", "close": "17:00"},
                ],
                "address": f"UBND xã Thử Nghiệm {n}",
                "phone": f"0214 000 {n:03d}",
                "villages": ["Nậm Mòn", "Bản Phố"],
                "zalo": {"oa_id": oa_id(n), "app_id": APP_ID, "oa_secret_key": f"oa-secret-{n}"},
                **(commune_extra or {}),
            }
            for n in range(1, communes + 1)
        ],
    }
    return settings_from_dict(raw, env={})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Poll ``/healthz`` of a service started as a process until it answers 200."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"service exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("service did not become healthy")


@dataclass
class Running:
    url: str
    settings: Settings
    services: Services
    sim: ZaloSimulator
    runner: web.AppRunner

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/zalo"


async def start_service(settings: Settings, sim: ZaloSimulator) -> Running:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    running = Running(f"http://127.0.0.1:{port}", settings, app[SERVICES], sim, runner)
    for commune in settings.communes:
        z = commune.zalo
        if z.oa_id not in sim.state.oas:
            sim.add_oa(z.oa_id, z.app_id, z.oa_secret_key, webhook_url=running.webhook)
            access, refresh = sim.mint_tokens(z.oa_id)
            await running.services.tokens.store(z.oa_id, access, refresh, 90000)
        else:
            sim.state.oas[z.oa_id].webhook_url = running.webhook
    return running


CS = "/v3.0/oa/message/cs"


class ManualClock:
    """A clock for ``Coordinator(clock=…)`` and ``SimState(clock=…)``: epoch seconds that move
    only when the test says, so a rate window turns when the test advances it (not when the
    wall-clock minute does). Starts at the beginning of the current real minute."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time()) // 60 * 60 if now is None else now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def store_idle(services: Services) -> bool:
    """No inbound event waiting or being processed, no outbound row due or being sent."""
    async with services.sm() as s:
        events = await s.scalar(
            select(func.count())
            .select_from(InboundEvent)
            .where(InboundEvent.status.in_(("received", "processing")))
        )
        sends = await s.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                or_(
                    OutboundMessage.status == "sending",
                    and_(
                        OutboundMessage.status == "pending",
                        OutboundMessage.next_attempt_at <= utcnow(),
                    ),
                )
            )
        )
    return not events and not sends


async def wait_idle(running: Running, timeout: float = 10.0) -> None:
    """Until the service has nothing left to do — what a "nothing more happened" check waits
    for instead of a fixed sleep: the store idle (above), the simulator's background webhooks
    (echoes) delivered, then every worker loop through one more pass that found no work
    (woken at once by a publish on its topic), and the store still idle after that."""
    services = running.services
    workers = (services.processor, services.sender, services.notices, services.broadcasts)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await running.sim.emitter.drain()
        if await store_idle(services):
            seen = [w.idle_passes for w in workers]
            for worker in workers:
                await services.coord.publish(worker.topic)

            async def passed(seen: list[int] = seen) -> bool:
                return all(w.idle_passes > n for w, n in zip(workers, seen))

            await wait_until(passed, timeout=max(0.1, deadline - loop.time()))
            if await store_idle(services):
                return
        if loop.time() > deadline:
            raise TimeoutError("the service did not become idle")
        await asyncio.sleep(0.02)


async def wait_until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


async def rows(service) -> list[OutboundMessage]:
    async with service.services.sm() as s:
        return list(
            (await s.execute(select(OutboundMessage).order_by(OutboundMessage.id))).scalars()
        )


async def row_reaches(service, status: str) -> OutboundMessage:
    return await row_where(service, lambda r: r.status == status)


async def row_where(service, test) -> OutboundMessage:  # type: ignore[no-untyped-def]
    """The first outbound row that passes ``test``, once there is one."""

    async def done() -> bool:
        return any(test(r) for r in await rows(service))

    await wait_until(done, timeout=15)
    return next(r for r in await rows(service) if test(r))


OA, OA2 = oa_id(1), oa_id(2)


CODE, CODE2 = commune_code(1), commune_code(2)


OFFICES = {
    "offices": [
        {"code": "vanphong", "name": "Văn phòng UBND"},
        {"code": "diachinh", "name": "Địa chính - Xây dựng"},
        {"code": "congan", "name": "Công an xã"},
    ],
    "routing": [
        {"category": "road", "villages": ["Bản Phố"], "office": "diachinh"},
        {"category": "land", "office": "diachinh"},
        {"category": "security", "office": "congan"},
    ],
}


LEADER_ZALO, PROPAGANDIST_ZALO = "7001", "7002"


class Commune:
    """The staff side of a commune: keys per person and the calls they make."""

    def __init__(self, running, http: aiohttp.ClientSession) -> None:
        self.running, self.http = running, http

    async def hire(
        self,
        role: str,
        *,
        village: str | None = None,
        office: str | None = None,
        zalo: str | None = None,
        code: str = CODE,
    ) -> str:
        """A staff member; with ``zalo``, one who follows the OA and wrote to it this week (so
        Zalo lets it message them)."""
        async with self.running.services.sm() as s, s.begin():
            _, key = await add_staff(
                s, code, f"{role} {office or village or ''}", role, village, zalo, office
            )
        if zalo:
            await self.says(zalo, "xin chào", oa_id(int(code[-1])))
        return key

    async def call(
        self, key: str | None, method: str, path: str, json=None, code: str = CODE
    ) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = f"{self.running.url}/api/v1/communes/{code}{path}"
        async with self.http.request(method, url, json=json, headers=headers) as r:
            return r.status, await r.json()

    # the resident's side
    async def says(self, user: str, text: str, oa: str = OA) -> str:
        """Send a message; the bot's reply (all parts of it, joined)."""
        sim = self.running.sim
        before = len(sim.messages(oa, user))
        await sim.user_sends_text(oa, user, text)
        return await self.replies_after(user, before, oa)

    async def replies_after(self, user: str, before: int, oa: str = OA) -> str:
        sim = self.running.sim
        await sim.wait_for_messages(before + 1, oa_id=oa, user_id=user)
        await wait_idle(self.running)  # a reply may have several parts: all of them
        return "\n".join(_text(m) for m in sim.messages(oa, user)[before:])

    async def report(self, user: str, text: str, *answers: str) -> str:
        """A report through the chat; ``answers`` to the form's questions (default: skip the
        photo, stay anonymous). Returns the ticket's code."""
        said = await self.says(user, text)
        for answer in answers or ("bỏ qua", "không"):
            said = await self.says(user, answer)
        return ticket_code(said)

    async def shared_info(self, user: str, name: str, phone: str) -> None:
        await self.running.sim.user_sends(
            OA, user, "user_submit_info", info={"name": name, "phone": phone}
        )
        await self.running.sim.wait_for_messages(1, oa_id=OA, user_id=user)

    async def alerts(self, zalo: str, n: int) -> list[str]:
        """The first ``n`` messages a staff member got after the greeting to their hello."""
        sent = await self.running.sim.wait_for_messages(n + 1, oa_id=OA, user_id=zalo)
        return [_text(m) for m in sent[1:]]

    async def quiet(self, user: str, text: str, oa: str = OA) -> None:
        """Send a message that must get no reply."""
        sim = self.running.sim
        before = len(sim.messages(oa, user))
        await sim.user_sends_text(oa, user, text)
        await wait_idle(self.running)
        assert len(sim.messages(oa, user)) == before, _text(sim.messages(oa, user)[-1])


def _text(message) -> str:  # type: ignore[no-untyped-def]
    msg = message.body.get("message", {})
    text = msg.get("text") or ""
    buttons = (msg.get("attachment") or {}).get("payload", {}).get("buttons") or []
    return text + "".join(f"\n[{b.get('title')}]" for b in buttons)


def ticket_code(text: str) -> str:
    return re.search(r"PA-\d{4}-\d{6}", text).group(0)


async def wait_for(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.05)):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def quiet_around_now(covering: bool) -> dict[str, str]:
    """Quiet hours that contain the present moment (or are far from it)."""
    now = to_vn(utcnow())
    if covering:
        start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    else:
        start, end = now + timedelta(hours=3), now + timedelta(hours=4)
    return {"quiet_start": start.strftime("%H:%M"), "quiet_end": end.strftime("%H:%M")}


class Desk:
    """The staff side: API keys for each role, and the calls they make."""

    def __init__(self, running, http: aiohttp.ClientSession) -> None:
        self.running, self.http, self.keys = running, http, {}

    async def hire(self, role: str, village: str | None = None, code: str = CODE) -> str:
        async with self.running.services.sm() as s, s.begin():
            _, key = await add_staff(s, code, f"{role} {village or ''}", role, village)
        self.keys[(role, code, village)] = key
        return key

    async def submit_and_approve(
        self, leader: str, notice_id: int, submitter: str | None = None
    ) -> None:
        for key, action in ((submitter or leader, "submit"), (leader, "approve")):
            status, body = await self.call(key, "POST", f"/{notice_id}/{action}")
            assert status == 200, body

    async def call(self, key: str | None, method: str, path: str, json=None, code: str = CODE):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = f"{self.running.url}/api/v1/communes/{code}/notices{path}"
        async with self.http.request(method, url, json=json, headers=headers) as r:
            return r.status, await r.json()


NOTICE = {
    "category": "safety",
    "priority": "normal",
    "headline": "Lịch tiêm chủng tháng 12",
    "body": "Trạm y tế xã tiêm chủng mở rộng ngày 25/12, mang sổ tiêm của trẻ.",
}


async def resident(running, user_id: str, *, days_since_contact: float | None = None) -> int:
    """A follower who chatted (a reply comes back); optionally their last contact moved back."""
    sim = running.sim
    before = len(sim.messages(OA, user_id))
    await sim.user_sends_text(OA, user_id, "xin chao")
    await sim.wait_for_messages(before + 1, oa_id=OA, user_id=user_id)
    async with running.services.sm() as s, s.begin():
        row = (
            await s.execute(select(Resident).where(Resident.external_id == user_id))
        ).scalar_one()
        row.is_follower = True
        if days_since_contact is not None:
            row.last_interaction_at = utcnow() - timedelta(days=days_since_contact)
        return row.id


async def wait_status(desk: Desk, key: str, notice_id: int, status: str) -> dict:
    for _ in range(200):
        code, body = await desk.call(key, "GET", f"/{notice_id}")
        if body.get("status") == status:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"notice {notice_id} stayed {body.get('status')}")


DATA = Path(__file__).resolve().parent / "data"


JPEG, PNG = (DATA / "photo.jpg").read_bytes(), (DATA / "photo.png").read_bytes()


OWN = object()  # the tab's own session


class Visitor:
    """One browser tab on the web chat: a session the service issued, then its websocket."""

    def __init__(
        self,
        url: str,
        code: str = CODE,
        headers: dict[str, str] | None = None,
        origin: str | None = None,
    ) -> None:
        self.url, self.code, self.headers = url, code, headers or {}
        self.origin = origin or url
        self.http = aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.session: str | None = None
        self.last_id = ""

    async def new_session(self) -> str:
        async with self.http.post(
            f"{self.url}/chat/{self.code}/session", headers={"Origin": self.origin, **self.headers}
        ) as r:
            assert r.status == 200, await r.text()
            assert r.headers["Cache-Control"] == "no-store"
            self.session = (await r.json())["session"]
        return self.session

    async def open(self, session: object = OWN) -> dict[str, Any]:
        """Connect and say hello (with this tab's session, or ``session`` as given); the first
        frame (the history)."""
        if session is OWN:
            session = self.session or await self.new_session()
        self.ws = await self.http.ws_connect(
            f"{self.url}/chat/{self.code}/ws", origin=self.origin, headers=self.headers
        )
        await self.ws.send_json({"type": "hello", "session": session})
        return await self.ws.receive_json(timeout=5)

    async def send(
        self,
        text: str = "",
        payload: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        self.last_id = uuid.uuid4().hex  # the page's ids are unique per message too
        msg: dict[str, Any] = {"id": self.last_id, "text": text}
        if payload:
            msg["payload"] = payload
        if attachments is not None:
            msg["attachments"] = attachments
        await self.ws.send_json(msg)

    async def says(
        self,
        text: str = "",
        payload: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        settle: float = 1.0,
    ) -> list[dict[str, Any]]:
        """Send a message; every frame that came back (a reply may have several parts)."""
        await self.send(text, payload, attachments)
        frames = [await self.ws.receive_json(timeout=10)]
        while True:
            try:
                frames.append(await self.ws.receive_json(timeout=settle))
            except TimeoutError:
                return frames

    async def photo(
        self,
        data: bytes,
        content_type: str = "image/jpeg",
        session: str | None = None,
        chunked: bool = False,
    ) -> tuple[int, dict]:
        body: Any = data
        if chunked:

            async def stream():  # type: ignore[no-untyped-def]
                for i in range(0, len(data), 16384):
                    yield data[i : i + 16384]

            body = stream()
        async with self.http.post(
            f"{self.url}/chat/{self.code}/photo",
            data=body,
            headers={
                "Origin": self.origin,
                "Content-Type": content_type,
                "X-Chat-Session": session or self.session or "",
                **self.headers,
            },
        ) as r:
            return r.status, await r.json()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()


def text(frames: list[dict[str, Any]]) -> str:
    return "\n".join(f.get("text") or f.get("error") or "" for f in frames)


async def count(running, model) -> int:  # type: ignore[no-untyped-def]
    async with running.services.sm() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


KEY = re.compile(r"cb_[A-Za-z0-9_-]{43}")


class Cli:
    """`bot …` as a separate process on the running service's configuration and store."""

    def __init__(self, commune: Commune, tmp_path) -> None:  # type: ignore[no-untyped-def]
        self.config = tmp_path / "config.yml"
        self.config.write_text(
            yaml.safe_dump(commune.running.settings.model_dump(mode="json"), allow_unicode=True),
            encoding="utf-8",
        )

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "--config",
            str(self.config),
            "staff",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode, out.decode(), err.decode()
