"""`bot serve` (the web server and, unless --web-only, the worker loops) and `bot worker`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli.common import settings_of, setup_logging
from bot.config import Settings


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS: libuv's loop measured faster in
    docs/benchmarks.md), the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import create_app

    settings = settings_of(args)
    setup_logging(settings.service.log_level)
    if args.web_only and not _split_ok(settings):
        return 2
    host = args.host or settings.service.host
    port = args.port if args.port is not None else settings.service.port
    # the address links are built from (feeds, OAuth callback) follows --host/--port
    settings = settings.model_copy(
        update={"service": settings.service.model_copy(update={"host": host, "port": port})}
    )
    print(f"Trợ lý xã đang chạy: http://{host}:{port}/  (Ctrl+C để dừng)", flush=True)
    if getattr(args, "demo_login", False):
        demo_logins(settings, f"http://{host}:{port}/console/")
    web.run_app(
        create_app(settings, background=not args.web_only),
        host=host,
        port=port,
        print=None,
        access_log=None,
        shutdown_timeout=5,
        loop=new_event_loop(),
    )
    return 0


DEMO_NAME = "Cán bộ thử nghiệm"


def demo_logins(settings: Settings, console_url: str) -> None:
    """The demo's console logins: a leader ``demo-<code>`` per configured commune, given a new
    random password at every start (printed once here). Never a fixed password, and only on the
    embedded SQLite store of a service that listens on this machine alone and has no public
    address — a demo, not a way to make accounts in production."""
    if not settings.database_url.startswith("sqlite"):
        print("--demo-login: only with the embedded SQLite store; skipped", file=sys.stderr)
        return
    if not _this_machine_only(settings):  # a real deployment on the embedded store
        print(
            "--demo-login: only for a demo on this machine (host 127.0.0.1, no public "
            "address); skipped",
            file=sys.stderr,
        )
        return
    import secrets

    from sqlalchemy import select

    from bot.cli.common import open_store
    from bot.console import passwords
    from bot.console.auth import set_login, set_password
    from bot.staff import add_staff, reactivate
    from bot.store.models import Staff

    password = secrets.token_urlsafe(12)
    while passwords.problem(password, "demo"):
        password = secrets.token_urlsafe(12)

    async def run() -> list[str]:
        logins = []
        async with open_store(settings, sync=True) as store, store.sm() as s, s.begin():
            for commune in settings.communes:
                login = f"demo-{commune.code}"
                staff = (
                    await s.execute(select(Staff).where(Staff.login == login))
                ).scalar_one_or_none()
                if staff is None:
                    staff, _key = await add_staff(s, commune.code, DEMO_NAME, "leader")
                    await set_login(s, staff, login)
                elif not staff.active:
                    await reactivate(s, staff)
                await set_password(s, staff, password)  # ends the previous run's sessions
                logins.append(login)
                await _demo_knowledge(s, staff.commune_id, commune.code)
        return logins

    logins = asyncio.run(run())
    print(
        f"Trang cán bộ: {console_url}\n"
        f"  đăng nhập thử: {', '.join(logins)}\n"
        f"  mật khẩu (mới mỗi lần chạy): {password}",
        flush=True,
    )


def _this_machine_only(settings: Settings) -> bool:
    """The service listens on the loopback only and names no public address of its own."""
    import ipaddress
    from urllib.parse import urlsplit

    def loopback(host: str | None) -> bool:
        if not host or host == "localhost":
            return host == "localhost"
        try:
            return ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            return False

    public = settings.service.public_url
    return loopback(settings.service.host) and (
        public is None or loopback(urlsplit(public).hostname)
    )


async def _demo_knowledge(s, commune_id: int, code: str) -> None:
    """The demo commune's illustrative questions and answers (``data/knowledge/<code>.csv``),
    loaded once: only while the commune has no entries, so staff's own edits are kept."""
    from bot.config import ROOT
    from bot.knowledge import io, store

    path = ROOT / "data" / "knowledge" / f"{code}.csv"
    owner = store.Owner(commune_id=commune_id)
    if path.exists() and not await store.entries(s, owner):
        saved = await store.save(s, owner, io.read(path))
        print(f"Xã {code}: {saved.added} câu hỏi mẫu ({path.relative_to(ROOT)})", flush=True)


def _split_ok(settings: Settings) -> bool:
    """Web and worker processes meet only through the store and Redis (wake-ups, web chat
    replies): both are required when the work is split."""
    if settings.redis_url and not settings.database_url.startswith("sqlite"):
        return True
    print(
        "`serve --web-only` and `worker` need PostgreSQL (BOT_DATABASE_URL) and Redis "
        "(BOT_REDIS_URL); run plain `bot serve` otherwise",
        file=sys.stderr,
    )
    return False


def cmd_worker(args: argparse.Namespace) -> int:
    """The processor, sender and token refresher without the web server: run beside
    `bot serve --web-only` (PostgreSQL + Redis) so webhooks and processing get a core each."""
    import signal

    from bot.app import build_services

    settings = settings_of(args)
    setup_logging(settings.service.log_level)
    if not _split_ok(settings):
        return 2

    async def run() -> None:
        services = await build_services(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print("worker running (Ctrl+C to stop)", flush=True)
        try:
            await stop.wait()
        finally:
            await services.close()

    loop = new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    return 0
