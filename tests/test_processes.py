"""Real processes: the `bot` command, and a service killed right after it acknowledged an event."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import yaml
from sqlalchemy import select, text

from bot.store.db import create_engine, sessionmaker
from bot.store.models import Commune, InboundEvent
from tests.helpers import APP_ID, APP_SECRET, free_port, oa_id, wait_healthy

ROOT = Path(__file__).resolve().parent.parent


def bot(
    *args: str, env: dict[str, str] | None = None, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd or ROOT,
        check=check,
        timeout=60,
    )


def quiet_hours_away_from_now() -> dict[str, str]:
    from datetime import timedelta

    from bot.timeutil import to_vn, utcnow

    now = to_vn(utcnow())
    return {
        "quiet_start": (now + timedelta(hours=3)).strftime("%H:%M"),
        "quiet_end": (now + timedelta(hours=4)).strftime("%H:%M"),
    }


def write_config(path: Path, store_url: str, sim_url: str, port: int) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "service": {"host": "127.0.0.1", "port": port, "secret_key": "crash-test-secret"},
                "database": {"url": store_url},
                "zalo": {
                    "api_base": sim_url,
                    "oauth_base": sim_url,
                    "apps": [{"app_id": APP_ID, "app_secret": APP_SECRET}],
                },
                # the quiet hours (22:00–06:00 by default) far from now: a test run late in the
                # evening would otherwise hold its notice until the morning
                "notices": quiet_hours_away_from_now(),
                "communes": [
                    {
                        "code": "02839",
                        "name": "Xã Bắc Hà",
                        "address": "UBND xã Bắc Hà",
                        "phone": "0214 3880 123",
                        "office_hours": [{"days": "mon-fri", "open": "07:30", "close": "11:30"}],
                        "zalo": {
                            "oa_id": oa_id(1),
                            "app_id": APP_ID,
                            "oa_secret_key": "${CRASH_OA_SECRET}",
                        },
                    }
                ],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return path


CRASH_ENV = {"CRASH_OA_SECRET": "oa-secret-crash"}


def service_process(
    store_url: str,
    sim,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    stderr: int = subprocess.PIPE,
):
    """A configuration for Xã Bắc Hà on the simulator's OA (tokens stored), and a function
    that starts `bot serve` on it as a process: returns (config path, url, serve). A long run
    passes ``stderr=subprocess.DEVNULL`` (nobody drains the pipe while it runs)."""
    port = free_port()
    cfg = write_config(tmp_path / "config.yml", store_url, sim.base_url, port)
    sim.add_oa(
        oa_id(1),
        APP_ID,
        CRASH_ENV["CRASH_OA_SECRET"],
        webhook_url=f"http://127.0.0.1:{port}/webhooks/zalo",
    )
    access, refresh = sim.mint_tokens(oa_id(1))
    bot(
        "--config",
        str(cfg),
        "zalo",
        "set-tokens",
        "--oa",
        oa_id(1),
        f"--access-token={access}",
        f"--refresh-token={refresh}",
        "--expires-in",
        "90000",
        env=CRASH_ENV,
        cwd=tmp_path,
    )

    def serve(**extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(cfg), "serve"],
            env={**os.environ, **CRASH_ENV, **extra},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )

    return cfg, f"http://127.0.0.1:{port}", serve


async def test_killed_after_ack_then_restarted_replies_once(store_url, sim, tmp_path):
    cfg, url, serve = service_process(store_url, sim, tmp_path)
    proc = serve(BOT_FAULT_EXIT_AFTER_ACK="1")
    try:
        await wait_healthy(url, proc)
        first = await sim.user_sends_text(oa_id(1), "7301", "uy ban xa lam viec may gio")
        assert first.status == 200  # acknowledged …
        assert await asyncio.to_thread(proc.wait, 15) == 137  # … and then killed
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sim.messages() == []
    engine = create_engine(store_url)
    async with sessionmaker(engine)() as s:
        event = (await s.execute(select(InboundEvent))).scalar_one()
    await engine.dispose()
    assert event.status == "received"  # stored before the 200, not yet processed

    proc = serve()
    try:
        await wait_healthy(url, proc)
        [reply] = await sim.wait_for_messages(1, oa_id=oa_id(1), user_id="7301", timeout=20)
        assert "Xã Bắc Hà làm việc" in reply.body["message"]["text"]
        again = await sim.send_duplicate(first)  # Zalo's retry of the same event
        assert again.status == 200
        await asyncio.sleep(1.0)  # the service is another process: wait_idle cannot watch it
        assert len(sim.messages()) == 1
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 15)


def test_ask_json():
    out = bot("ask", "--commune", "02839", "--json", "uy ban xa lam viec may gio")
    answer = json.loads(out.stdout)
    assert set(answer) >= {"intent", "confidence", "entities", "reply"}
    assert answer["intent"] == "office_hours" and "7:30–11:30" in answer["reply"]
    plain = bot("ask", "--commune", "02839", "dia chi xa o dau").stdout
    assert "Địa chỉ:" in plain
    missing = bot("ask", "--commune", "99999", "chao", check=False)
    assert missing.returncode == 2 and "unknown commune" in missing.stderr


def test_tenants_add_from_national_list(tmp_path):
    cfg = tmp_path / "config.yml"
    shutil.copy(ROOT / "config.yml", cfg)
    env = {"BOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/t.db"}
    out = bot(
        "--config",
        str(cfg),
        "tenants",
        "add",
        "--unit-code",
        "2761",
        "--phone",
        "0214 3881 000",
        "--villages",
        "Pha Long, Mường Khương",
        env=env,
    )
    assert "Xã Mường Khương" in out.stdout
    text = cfg.read_text(encoding="utf-8")
    assert "# Commune information bot" in text  # comments kept
    listing = bot("--config", str(cfg), "tenants", "list", env=env).stdout
    assert "02761" in listing and "Xã Mường Khương" in listing
    again = bot(
        "--config",
        str(cfg),
        "tenants",
        "add",
        "--unit-code",
        "02761",
        "--phone",
        "1",
        env=env,
        check=False,
    )
    assert again.returncode == 2 and "already" in again.stderr
    unknown = bot(
        "--config",
        str(cfg),
        "tenants",
        "add",
        "--unit-code",
        "99998",
        "--phone",
        "1",
        env=env,
        check=False,
    )
    assert unknown.returncode == 2 and "99998" in unknown.stderr

    async def stored() -> list[str]:
        engine = create_engine(env["BOT_DATABASE_URL"])
        async with sessionmaker(engine)() as s:
            names = (await s.execute(select(Commune.name))).scalars().all()
        await engine.dispose()
        return names

    assert "Xã Mường Khương" in asyncio.run(stored())


def test_db_upgrade_and_config_errors(tmp_path):
    env = {"BOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/u.db"}
    from alembic.script import ScriptDirectory

    from bot.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"revision {head}" in bot("db", "upgrade", env=env).stdout
    bad = tmp_path / "bad.yml"
    bad.write_text("communes:\n  - code: '123'\n", encoding="utf-8")
    result = bot("--config", str(bad), "serve", check=False)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "communes.0.code" in result.stderr


async def test_simulator_command_with_demo_setup():
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "simulator",
            "--port",
            str(port),
            "--setup",
            "demo/simulator-setup.json",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        started = json.loads(await asyncio.to_thread(proc.stdout.readline))
        assert started["base_url"] == f"http://127.0.0.1:{port}"
        assert started["tokens"][0]["access_token"] == "demo-access-token-bacha"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{started['base_url']}/_sim/stats") as r:
                assert (await r.json())["rate_limit"] == 4000
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


def test_demo_simulator_config_is_valid():
    from bot.config import load_settings

    settings = load_settings(ROOT / "demo" / "config.simulator.yml", env={})
    assert settings.communes[0].zalo.oa_id == "4000000000000002839"


async def test_processes_starting_together_share_the_store(pg_url, redis_url, sim):
    """`bot serve --web-only` and `bot worker` started at the same moment on an empty
    PostgreSQL database: migrations and the commune mirror run once, both come up, and a
    webhook taken by the web process is answered by the worker."""
    engine = create_engine(pg_url)
    async with engine.begin() as conn:  # an empty database, as on first deployment
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    port = free_port()
    tmp = Path(tempfile.mkdtemp())
    cfg = write_config(tmp / "config.yml", pg_url, sim.base_url, port)
    env = {**os.environ, "CRASH_OA_SECRET": "oa-secret-crash", "BOT_REDIS_URL": redis_url}
    sim.add_oa(
        oa_id(1), APP_ID, "oa-secret-crash", webhook_url=f"http://127.0.0.1:{port}/webhooks/zalo"
    )
    base = [sys.executable, "-m", "bot.cli", "--config", str(cfg)]
    procs = [
        subprocess.Popen(
            base + ["serve", "--web-only"], env=env, cwd=tmp, stderr=subprocess.PIPE, text=True
        ),
        subprocess.Popen(
            base + ["worker"],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", procs[0])
        access, refresh = sim.mint_tokens(oa_id(1))
        bot(
            "--config",
            str(cfg),
            "zalo",
            "set-tokens",
            "--oa",
            oa_id(1),
            f"--access-token={access}",
            f"--refresh-token={refresh}",
            env=env,
            cwd=tmp,
        )
        assert procs[1].poll() is None, procs[1].stderr.read()
        await sim.user_sends_text(oa_id(1), "7501", "gio lam viec")
        [reply] = await sim.wait_for_messages(1, oa_id=oa_id(1), user_id="7501", timeout=20)
        assert "Xã Bắc Hà làm việc" in reply.body["message"]["text"]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            await asyncio.to_thread(p.wait, 15)


def test_tenants_add_twice_to_an_empty_list(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text("communes: []\n", encoding="utf-8")
    for code in ("02761", "02839"):
        bot("--config", str(cfg), "tenants", "add", "--unit-code", code, "--phone", "1", "--no-db")
    listing = bot("--config", str(cfg), "tenants", "list").stdout
    assert "02761" in listing and "02839" in listing


def test_split_mode_needs_postgresql_and_redis(tmp_path):
    result = bot("worker", check=False)
    assert result.returncode == 2 and "need PostgreSQL" in result.stderr


def test_set_tokens_from_environment(tmp_path):
    cfg = write_config(
        tmp_path / "config.yml",
        f"sqlite+aiosqlite:///{tmp_path}/t.db",
        "http://127.0.0.1:9",
        free_port(),
    )
    env = {"CRASH_OA_SECRET": "x", "ZALO_ACCESS_TOKEN": "a" * 40, "ZALO_REFRESH_TOKEN": "r" * 40}
    out = bot("--config", str(cfg), "zalo", "set-tokens", "--oa", oa_id(1), env=env, cwd=tmp_path)
    assert "tokens stored (encrypted)" in out.stdout
    assert ("a" * 40).encode() not in (tmp_path / "t.db").read_bytes()
    missing = bot(
        "--config",
        str(cfg),
        "zalo",
        "set-tokens",
        "--oa",
        oa_id(1),
        env={"CRASH_OA_SECRET": "x", "ZALO_ACCESS_TOKEN": "", "ZALO_REFRESH_TOKEN": ""},
        check=False,
        cwd=tmp_path,
    )
    assert missing.returncode == 2


def test_nlu_eval_and_ask_json_with_backend(tmp_path):
    out = bot("nlu", "eval", "--backend", "embedded", "--report", str(tmp_path / "eval.md"))
    scores = json.loads(out.stdout.splitlines()[0])["embedded"]
    assert scores["accented"]["accuracy"] >= 0.95 and scores["unaccented"]["accuracy"] >= 0.95
    report = (tmp_path / "eval.md").read_text(encoding="utf-8")
    assert "| procedure_birth |" in report and "unaccented" in report
    answer = json.loads(
        bot(
            "ask",
            "--commune",
            "02839",
            "--json",
            "--backend",
            "embedded",
            "lam the bhyt cho con o dau",
        ).stdout
    )
    assert answer["intent"] == "health_insurance" and answer["backend"] == "embedded"


def test_staff_add_prints_a_key_once_and_checks_the_village(tmp_path):
    cfg = write_config(
        tmp_path / "config.yml",
        f"sqlite+aiosqlite:///{tmp_path}/t.db",
        "http://127.0.0.1:9",
        free_port(),
    )
    env = {"CRASH_OA_SECRET": "x"}
    out = bot(
        "--config",
        str(cfg),
        "staff",
        "add",
        "--commune",
        "02839",
        "--name",
        "A",
        "--role",
        "leader",
        env=env,
        cwd=tmp_path,
    )
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("cb_") and key.encode() not in (tmp_path / "t.db").read_bytes()
    refused = bot(
        "--config",
        str(cfg),
        "staff",
        "add",
        "--commune",
        "02839",
        "--name",
        "B",
        "--role",
        "propagandist",
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert refused.returncode == 2 and "--village" in refused.stderr


async def test_notice_send_killed_midway_reaches_everyone_exactly_once(pg_url, sim, tmp_path):
    """`kill -9` of the service in the middle of a notice's send, then a restart: every
    resident gets the notice exactly once (the rows the dead process held wait for their
    lease, then are checked against the conversation before being sent)."""
    from sqlalchemy import insert

    from bot.config import load_settings
    from bot.staff import add_staff
    from bot.store.migrate import upgrade
    from bot.store.models import Resident
    from bot.tenants import sync
    from bot.timeutil import utcnow

    cfg, url, serve = service_process(pg_url, sim, tmp_path, stderr=subprocess.DEVNULL)
    users = [f"{8_800_000 + i}" for i in range(300)]
    engine = create_engine(pg_url)
    await upgrade(engine)
    tenants = await sync(load_settings(cfg, env={**os.environ, **CRASH_ENV}), sessionmaker(engine))
    commune = tenants.by_code("02839")
    async with sessionmaker(engine)() as s, s.begin():
        await s.execute(
            insert(Resident.__table__),
            [
                dict(
                    commune_id=commune.id,
                    channel="zalo",
                    external_id=u,
                    language="vi",
                    is_follower=True,
                    last_interaction_at=utcnow(),
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                for u in users
            ],
        )
        _, key = await add_staff(s, "02839", "Chủ tịch", "leader")
    await engine.dispose()
    for u in users:
        sim.add_user(oa_id(1), u, follower=True, interacted_ago_s=60)
    sim.inject_delay("/v3.0/oa/message/cs", 0.05, times=None)  # a slow Zalo: time to kill
    headline = "Họp dân thôn tối thứ Sáu"
    proc = serve()
    try:
        await wait_healthy(url, proc)
        base = f"{url}/api/v1/communes/02839/notices"
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(
                base,
                json={
                    "category": "policy",
                    "headline": headline,
                    "body": "19 giờ tại nhà văn hóa.",
                },
                headers=headers,
            ) as r:
                notice = await r.json()
            for action in ("submit", "approve"):
                async with http.post(f"{base}/{notice['id']}/{action}", headers=headers) as r:
                    assert r.status == 200

        def reached() -> dict[str, int]:
            counts: dict[str, int] = {}
            for m in sim.messages(oa_id(1)):
                if headline in (m.body.get("message") or {}).get("text", ""):
                    counts[m.user_id] = counts.get(m.user_id, 0) + 1
            return counts

        started = asyncio.get_running_loop().time()
        while len(reached()) < 60:  # bounded: a notice held back must fail, not hang
            assert asyncio.get_running_loop().time() - started < 120, reached()
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # mid-send
        await asyncio.to_thread(proc.wait, 15)
        assert len(reached()) < len(users)
        proc = serve()
        await wait_healthy(url, proc)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 150  # the dead process's claims wait out their 60 s lease
        while len(reached()) < len(users) and loop.time() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        counts = reached()
        assert len(counts) == len(users)  # nobody lost
        assert max(counts.values()) == 1  # nobody twice
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 15)
