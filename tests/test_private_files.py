"""var/ and what the service keeps there are readable by its own user only: the directory 0700,
the SQLite database (with its WAL and shared-memory files) and the secret key 0600 — created so
by a real `bot serve` under an ordinary umask, and tightened when an older install left them
open."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from bot.crypto import load_or_create_secret
from bot.private_files import private_dir
from bot.store.db import create_engine
from bot.store.migrate import upgrade
from tests.helpers import free_port, wait_healthy

COMMUNE = {
    "code": "02839",
    "name": "Xã Bắc Hà",
    "address": "UBND xã Bắc Hà",
    "phone": "0214 3880 123",
    "office_hours": [{"days": "mon-fri", "open": "07:30", "close": "11:30"}],
}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_bot_serve_creates_var_for_its_owner_only(tmp_path):
    port = free_port()
    (tmp_path / "config.yml").write_text(
        yaml.safe_dump(
            {"service": {"host": "127.0.0.1", "port": port}, "communes": [COMMUNE]},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    umask = os.umask(0o022)  # inherited: left to itself, every file would be 0644
    try:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, then polled over HTTP
            [sys.executable, "-m", "bot.cli", "--config", "config.yml", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.umask(umask)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=90)
        var = tmp_path / "var"
        assert mode(var) == 0o700
        files = {p.name: mode(p) for p in var.iterdir()}
        assert {"secret.key", "bot.db", "bot.db-wal", "bot.db-shm"} <= set(files), files
        assert set(files.values()) == {0o600}, files
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_an_older_install_is_tightened(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    for name in ("bot.db", "bot.db-wal", "secret.key"):
        (var / name).write_bytes(b"" if name.startswith("bot") else b"old-secret")
        (var / name).chmod(0o644)
    assert load_or_create_secret(None, var) == "old-secret"
    engine = create_engine(f"sqlite+aiosqlite:///{var / 'bot.db'}")
    try:
        await upgrade(engine)  # the database open: its WAL and shared memory exist
        private_dir(var)  # what start-up does for var/
        assert mode(var) == 0o700
        assert {p.name: mode(p) for p in var.iterdir()} == {
            n: 0o600 for n in ("bot.db", "bot.db-wal", "bot.db-shm", "secret.key")
        }
    finally:
        await engine.dispose()
