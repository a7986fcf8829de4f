"""The ``bot`` command: serve, db, tenants, ask, staff, tickets, zalo, simulator."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.config import ConfigError, Settings, config_path, load_settings, settings_from_dict


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config) if getattr(args, "config", None) else load_settings()


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


# -- serve ----------------------------------------------------------------------------------
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

    settings = _settings(args)
    _logging(settings.service.log_level)
    if args.web_only and not _split_ok(settings):
        return 2
    host = args.host or settings.service.host
    port = args.port if args.port is not None else settings.service.port
    # the address links are built from (feeds, OAuth callback) follows --host/--port
    settings = settings.model_copy(
        update={"service": settings.service.model_copy(update={"host": host, "port": port})}
    )
    print(f"Trợ lý xã đang chạy: http://{host}:{port}/  (Ctrl+C để dừng)", flush=True)
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

    settings = _settings(args)
    _logging(settings.service.log_level)
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


# -- db -------------------------------------------------------------------------------------
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.store.db import create_engine
    from bot.store.migrate import current_revision, upgrade

    settings = _settings(args)

    async def run() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    print(f"database at revision {asyncio.run(run())}")
    return 0


# -- ask ------------------------------------------------------------------------------------
def cmd_ask(args: argparse.Namespace) -> int:
    from bot.conversation import engine

    settings = _settings(args)
    commune = settings.commune(args.commune)
    if commune is None:
        print(
            f"unknown commune code {args.commune}; configured: "
            f"{', '.join(c.code for c in settings.communes)}",
            file=sys.stderr,
        )
        return 2

    async def understand() -> Any:
        import aiohttp

        from bot.nlu.backends import create_backend

        if not engine.needs_nlu(args.text, None):
            return None
        async with aiohttp.ClientSession() as http:
            backend = create_backend(settings.nlu, http, override=args.backend)
            return await backend.understand(args.text, commune.villages)

    from bot import i18n
    from bot.nlu.language import choose

    if args.language not in i18n.available() and args.language not in commune.languages:
        print(
            f"unknown language {args.language}; the bot answers in {', '.join(i18n.available())}",
            file=sys.stderr,
        )
        return 2
    understood = asyncio.run(understand())
    if understood is not None and understood.backend != (args.backend or settings.nlu.backend):
        print(
            f"Rasa at {settings.nlu.rasa_url} did not answer; the embedded engine answered "
            "(start it with `bot nlu rasa-serve`)",
            file=sys.stderr,
        )
    language = choose(args.language, args.text)  # as the service decides it (chosen, detected)
    result = engine.respond(commune, args.text, language=language, understood=understood)
    for effect in result.effects:
        if effect["kind"] == "language":  # "English please": the next answers' language
            language = effect["language"]
    reply = result.reply_text
    if not reply and result.parse.intent in engine.INTENTS:
        # a handoff or a ticket lookup needs the store: say what the service would do
        with i18n.use_language(language):
            reply = "\n\n".join(
                engine.text_of(r) for r in engine.answer(commune, result.parse.intent, result.parse)
            )
    if args.json:
        print(
            json.dumps(
                {
                    "intent": result.parse.intent,
                    "confidence": result.parse.confidence,
                    "language": language,
                    "entities": result.parse.entities,
                    "reply": reply,
                    "effects": result.effects,
                    "backend": result.backend,
                    # emergency triage: level (emergency | unsure → the question was
                    # asked | routine), probability, kind, category
                    "triage": result.triage.as_dict() if result.triage else None,
                },
                ensure_ascii=False,
            )
        )
    else:
        print(reply)
    return 0


# -- nlu ------------------------------------------------------------------------------------
def cmd_nlu_eval(args: argparse.Namespace) -> int:
    from bot.conversation.engine import CONFIDENCE_THRESHOLD
    from bot.nlu import data as nlu_data
    from bot.nlu.evaluate import embedded_run, rasa_run, report

    train = Path(args.train) if args.train else nlu_data.NLU_DIR
    test = Path(args.test) if args.test else nlu_data.NLU_DIR / "test"
    for path in (train, test):
        if not path.exists():
            print(f"{path}: no such file or folder", file=sys.stderr)
            return 2
    training = nlu_data.load(train)
    if not training.examples or not nlu_data.load(test, skip=()).examples:
        print(
            "no intent examples found in the training or test data (Rasa 3.x YAML, "
            "`nlu:` items with `intent:` and `examples:`)",
            file=sys.stderr,
        )
        return 2
    runs = []
    if args.backend in ("both", "embedded"):
        runs.append(embedded_run(train, test, CONFIDENCE_THRESHOLD))
    if args.backend in ("both", "rasa"):
        runs.append(
            rasa_run(
                train,
                test,
                CONFIDENCE_THRESHOLD,
                args.profile,
                say=lambda m: print(m, file=sys.stderr),
            )
        )
    text = report(runs, training, train, test, CONFIDENCE_THRESHOLD)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(text, encoding="utf-8")
    print(
        json.dumps(
            {
                run.backend: {
                    r.name: {"accuracy": round(r.accuracy, 4), "macro_f1": round(r.macro_f1, 4)}
                    for r in run.results
                }
                for run in runs
            }
        )
    )
    print(f"report written to {args.report}")
    return 0


def cmd_triage_eval(args: argparse.Namespace) -> int:
    from bot.feedback.triage_eval import report

    try:
        print(report(args.data, args.test, sweep=args.sweep))
    except (OSError, ValueError) as exc:
        print(f"triage eval: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_nlu_misses(args: argparse.Namespace) -> int:
    from sqlalchemy import or_, select

    from bot.conversation.engine import CONFIDENCE_THRESHOLD
    from bot.store.db import create_engine, sessionmaker
    from bot.store.models import Commune as CommuneRow
    from bot.store.models import Message

    settings = _settings(args)

    async def run() -> list[tuple[str, str | None, float | None]]:
        engine = create_engine(settings.database_url)
        try:
            async with sessionmaker(engine)() as s:
                commune_id = (
                    await s.execute(select(CommuneRow.id).where(CommuneRow.code == args.commune))
                ).scalar_one_or_none()
                if commune_id is None:
                    return []
                rows = await s.execute(
                    select(Message.text, Message.intent, Message.confidence)
                    .where(
                        Message.commune_id == commune_id,
                        Message.direction == "in",
                        Message.text.is_not(None),
                        or_(
                            Message.intent == "nlu_fallback",
                            Message.confidence < CONFIDENCE_THRESHOLD + 0.2,
                        ),
                    )
                    .order_by(Message.id.desc())
                    .limit(args.limit)
                )
                return [tuple(r) for r in rows]  # type: ignore[misc]
        finally:
            await engine.dispose()

    misses = asyncio.run(run())
    if args.yaml:
        print('version: "3.1"\nnlu:\n- intent: TODO_label_these\n  examples: |')
        for text, _, _ in misses:
            print(f"    - {text}")
    else:
        for text, intent, confidence in misses:
            print(f"{confidence or 0:.2f}  {intent or '-':<22} {text}")
    return 0


def cmd_nlu_train(args: argparse.Namespace) -> int:
    from bot.nlu import data as nlu_data

    training = nlu_data.load()
    if args.backend == "rasa":
        from bot.nlu import rasa_env, rasa_project

        try:
            rasa_env.require()
            trained = rasa_project.train(
                training, args.profile, force=args.force, say=lambda m: print(m, file=sys.stderr)
            )
        except (rasa_env.RasaSetupError, RuntimeError) as exc:
            print(str(exc), file=sys.stderr)
            return 2
        print(
            json.dumps(
                {
                    "backend": "rasa",
                    "profile": args.profile,
                    "model": str(trained.model),
                    "cached": trained.cached,
                    "train_s": round(trained.train_s, 1),
                    "examples": len(training.examples),
                    "project": str(trained.project.path),
                }
            )
        )
        return 0
    from bot.nlu.embedded import EmbeddedNLU

    engine = EmbeddedNLU(training)
    print(
        json.dumps(
            {
                "backend": "embedded",
                "examples": len(engine.training.examples),
                "intents": len(engine.classes),
                "train_s": round(engine.train_seconds, 3),
                "data_fingerprint": engine.fingerprint,
            }
        )
    )
    return 0


def cmd_nlu_convert(args: argparse.Namespace) -> int:
    from bot.nlu.convert import ConvertError, convert

    try:
        counts = convert(Path(args.src), Path(args.out))
    except ConvertError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps({"out": args.out, "examples": counts}))
    return 0


def cmd_nlu_rasa_setup(args: argparse.Namespace) -> int:
    from bot.nlu import rasa_env

    try:
        exe = rasa_env.setup(force=args.force)
    except rasa_env.RasaSetupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"Rasa {rasa_env.RASA_VERSION}: {exe}")
    return 0


def cmd_nlu_rasa_serve(args: argparse.Namespace) -> int:
    """Train if the data changed (else reuse the cached model), then run `rasa run` as a
    supervised child: SIGTERM/SIGINT stop it and everything it started (rasa_project)."""
    from bot import faults
    from bot.nlu import supervise

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("rasa-serve listens on loopback only: the service is its one client", file=sys.stderr)
        return 2
    stand_in = faults.rasa_serve_stand_in()
    try:
        with supervise.stop_on_signals():
            if stand_in is not None:
                return supervise.run_supervised(stand_in, None, dict(os.environ))
            from bot.nlu import data as nlu_data
            from bot.nlu import rasa_env, rasa_project

            try:
                rasa_env.require()
                trained = rasa_project.train(
                    nlu_data.load(), args.profile, say=lambda m: print(m, file=sys.stderr)
                )
            except (rasa_env.RasaSetupError, RuntimeError) as exc:
                print(str(exc), file=sys.stderr)
                return 2
            cmd = rasa_project.serve_command(trained.model, args.host, args.port)
            print(
                f"Rasa NLU on http://{args.host}:{args.port} (model {trained.model.name}); "
                f"set nlu.backend: rasa and nlu.rasa_url accordingly",
                file=sys.stderr,
                flush=True,
            )
            return supervise.run_supervised(cmd, trained.model.parent, rasa_env.child_env())
    except supervise.Stopped as stop:  # during training: its child was killed on the way
        return 128 + stop.signum


# -- tenants --------------------------------------------------------------------------------
def cmd_tenants_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    for c in settings.communes:
        oa = c.zalo.oa_id if c.zalo else "-"
        print(f"{c.code}  {c.name:<30} OA {oa:<20} {len(c.villages)} thôn/tổ")
    return 0


DEFAULT_HOURS = [
    {"days": "mon-fri", "open": "07:30", "close": "11:30"},
    {"days": "mon-fri", "open": "13:30", "close": "17:00"},
]


def cmd_tenants_add(args: argparse.Namespace) -> int:
    from bot import admin_units

    path = Path(args.config) if args.config else config_path()
    try:
        unit = admin_units.require_unit(args.unit_code)
    except admin_units.UnknownUnitError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if any(str(c.get("code")) == unit.code for c in raw.get("communes") or []):
        print(f"{unit.code} {unit.name} is already in {path}", file=sys.stderr)
        return 2
    entry: dict[str, Any] = {
        "code": unit.code,
        "name": unit.name,
        "province_code": unit.province_code,
        "office_hours": DEFAULT_HOURS,
        "address": args.address or f"UBND {unit.name}, {unit.province_name}",
        "phone": args.phone,
        "villages": [v.strip() for v in args.villages.split(",") if v.strip()]
        if args.villages
        else [],
    }
    if args.email:
        entry["email"] = args.email
    if args.oa_id:
        entry["zalo"] = {
            "oa_id": args.oa_id,
            "app_id": args.app_id,
            "oa_secret_key": args.oa_secret_key,
        }
    candidate = dict(raw)
    candidate["communes"] = list(raw.get("communes") or []) + [entry]
    try:
        settings_from_dict(candidate, where=str(path))  # validate before writing anything
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    text = path.read_text(encoding="utf-8")
    new_text = yaml.safe_dump(candidate, allow_unicode=True, sort_keys=False)
    top_keys = re.findall(r"^([A-Za-z_]+):", text, flags=re.M)
    items = re.findall(r"^( *)- ", text.split("\ncommunes:", 1)[-1], flags=re.M)
    if top_keys and top_keys[-1] == "communes" and raw.get("communes") and items:
        # append under the existing list, at its indentation, keeping the file's comments
        block = yaml.safe_dump(
            [entry], allow_unicode=True, sort_keys=False, default_flow_style=None
        )
        indented = "\n".join((items[0] + line) if line else line for line in block.splitlines())
        appended = text.rstrip("\n") + "\n\n" + indented + "\n"
        if (yaml.safe_load(appended) or {}).get("communes") == candidate["communes"]:
            new_text = appended
    settings_from_dict(yaml.safe_load(new_text), where=str(path))  # what we write must load
    path.write_text(new_text, encoding="utf-8")
    print(f"added {unit.code} {unit.name} ({unit.province_name}) to {path}")
    if not args.no_db:
        from bot.store.db import create_engine, sessionmaker
        from bot.store.migrate import upgrade
        from bot.tenants import sync

        settings = load_settings(path)

        async def run() -> None:
            engine = create_engine(settings.database_url)
            try:
                await upgrade(engine)
                await sync(settings, sessionmaker(engine))
            finally:
                await engine.dispose()

        asyncio.run(run())
        print("store updated; restart `bot serve` to route its OA")
    return 0


# -- staff ----------------------------------------------------------------------------------
def cmd_staff_add(args: argparse.Namespace) -> int:
    from bot.coverage import warnings
    from bot.staff import StaffError, add_staff

    commune = _settings(args).commune(args.commune)

    async def run(s, commune_id: int) -> tuple[int, str | None, str, list]:  # type: ignore[no-untyped-def]
        staff, key = await add_staff(
            s,
            args.commune,
            args.name,
            args.role,
            args.village,
            args.zalo_user_id,
            args.office,
            [o.code for o in commune.offices] if commune else None,
        )
        return staff.id, staff.office, key, await warnings(s, commune_id)

    try:
        staff_id, office, key, gaps = _in_store(args, run)
    except StaffError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not args.quiet:
        desk = f", office {office}" if office else ""
        print(f"staff #{staff_id} {args.name} ({args.role}{desk}) added to {args.commune}.")
        print("API key (shown once; keep it secret, send as 'Authorization: Bearer <key>'):")
    print(key)  # --quiet: the key alone, so KEY=$(bot staff add … --quiet) keeps it
    _print_gaps(gaps)
    return 0


def _in_store(args: argparse.Namespace, work):  # type: ignore[no-untyped-def]
    """Run ``work(session, commune_id)`` in one transaction on the commune of ``--commune``."""
    from bot.staff import commune_id_of
    from bot.store.db import create_engine, sessionmaker
    from bot.store.migrate import upgrade
    from bot.tenants import sync

    settings = _settings(args)

    async def run():  # type: ignore[no-untyped-def]
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
            sm = sessionmaker(engine)
            await sync(settings, sm)
            async with sm() as s, s.begin():
                return await work(s, await commune_id_of(s, args.commune))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_staff_list(args: argparse.Namespace) -> int:
    """The commune's staff and their live keys (id, first characters, when issued and last
    used): never a key itself."""
    from bot.staff import StaffError, list_staff

    try:
        people = _in_store(args, lambda s, commune_id: list_staff(s, commune_id))
    except StaffError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(people, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{'id':>4}  {'name':<24} {'role':<12} {'office/village':<18} {'zalo id':<20} "
        f"{'active':<6}  keys"
    )
    for p in people:
        keys = (
            ", ".join(
                f"#{k['id']} {k['prefix'] or '?'}… issued {k['created_at'][:10]}, "
                f"used {(k['used_at'] or 'never')[:10]}"
                for k in p["keys"]
            )
            or "-"
        )
        where = p["office"] or p["village"] or "-"
        print(
            f"{p['id']:>4}  {p['name'][:24]:<24} {p['role']:<12} {where[:18]:<18} "
            f"{p['zalo_user_id'] or '-':<20} {'yes' if p['active'] else 'no':<6}  {keys}"
        )
    return 0


def cmd_staff_change(args: argparse.Namespace) -> int:
    """revoke-key | rotate-key | deactivate | reactivate one staff member (bot/staff.py)."""
    from bot import staff as staffing

    async def work(s, commune_id):  # type: ignore[no-untyped-def]
        member = await staffing.staff_member(s, commune_id, args.staff_id)
        if args.st_command == "revoke-key":
            return member.name, await staffing.revoke_keys(s, member)
        if args.st_command == "rotate-key":
            return member.name, await staffing.rotate_key(s, member)
        if args.st_command == "deactivate":
            return member.name, await staffing.deactivate(s, member)
        return member.name, await staffing.reactivate(s, member)

    try:
        name, result = _in_store(args, work)
    except staffing.StaffError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    who = f"staff #{args.staff_id} {name}"
    if args.st_command == "revoke-key":
        print(f"{who}: {result} key(s) revoked; they are refused from now on.")
    elif args.st_command == "deactivate":
        print(
            f"{who} deactivated: keys revoked, no more alerts or Zalo commands "
            f"({result} queued alert(s) cancelled)."
        )
    else:
        if not args.quiet:
            done = "new key" if args.st_command == "rotate-key" else "reactivated, new key"
            print(f"{who}: {done} (shown once; the old keys no longer work):")
        print(result)  # --quiet: the key alone
    return 0


def _print_gaps(gaps: list) -> None:  # type: ignore[type-arg]
    """Coverage warnings on stderr: seen in a terminal, kept out of a captured key."""
    for gap in gaps:
        print(f"warning: {gap.message}", file=sys.stderr)


def cmd_staff_check(args: argparse.Namespace) -> int:
    """Whether emergency alerts and village relays can reach someone (bot/coverage.py);
    exit status 1 when they cannot, for scripts."""
    from bot.coverage import warnings
    from bot.store.db import create_engine, sessionmaker
    from bot.store.migrate import upgrade
    from bot.tenants import sync

    settings = _settings(args)

    async def run() -> list | None:  # type: ignore[type-arg]
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
            sm = sessionmaker(engine)
            tenant = (await sync(settings, sm)).by_code(args.commune)
            if tenant is None:
                return None
            async with sm() as s:
                return await warnings(s, tenant.id)
        finally:
            await engine.dispose()

    gaps = asyncio.run(run())
    if gaps is None:
        print(f"commune {args.commune} is not configured", file=sys.stderr)
        return 2
    _print_gaps(gaps)
    if not gaps:
        print(f"{args.commune}: leaders and every village's propagandist can be reached on Zalo")
    return 1 if gaps else 0


# -- tickets --------------------------------------------------------------------------------
def cmd_tickets(args: argparse.Namespace) -> int:
    """Staff act on feedback tickets from a terminal: the same rules as the JSON API (one
    place: bot/feedback/service.py), as the staff member ``--staff-id``."""
    from sqlalchemy import select

    from bot.api.auth import Identity
    from bot.coord import create_coordinator
    from bot.feedback import access, service
    from bot.feedback.api import ticket_json
    from bot.inbound import OUTBOUND_TOPIC
    from bot.store.db import create_engine, sessionmaker
    from bot.store.migrate import upgrade
    from bot.store.models import Staff, Ticket
    from bot.tenants import sync
    from bot.timeutil import to_vn, utcnow

    settings = _settings(args)
    commune = settings.commune(args.commune)
    if commune is None:
        print(f"commune {args.commune} is not configured", file=sys.stderr)
        return 2

    async def run() -> int:
        engine = create_engine(settings.database_url)
        coord = create_coordinator(settings.redis_url)
        try:
            await upgrade(engine)
            sm = sessionmaker(engine)
            tenant = (await sync(settings, sm)).by_code(args.commune)
            async with sm() as s, s.begin():
                staff = await s.get(Staff, args.staff_id)
                if staff is None or staff.commune_id != tenant.id or not staff.active:
                    print(f"no active staff #{args.staff_id} in {commune.name}", file=sys.stderr)
                    return 2
                if staff.role not in ("officer", "leader"):
                    print(
                        "only officers and the leader work tickets here (a propagandist "
                        "notes through the API or the chat)",
                        file=sys.stderr,
                    )
                    return 2
                who = Identity(staff.id, tenant.id, commune.code, staff.role, staff.village_id)
                if args.t_command == "list":
                    query = select(Ticket).where(
                        Ticket.commune_id == tenant.id, access.readable(staff, commune)
                    )
                    if args.status:
                        query = query.where(Ticket.status == args.status)
                    if args.overdue:
                        query = query.where(service.overdue_clause(utcnow()))
                    for t in (await s.execute(query.order_by(Ticket.due_at))).scalars():
                        late = "  QUÁ HẠN" if service.is_overdue(t, utcnow()) else ""
                        print(
                            f"{t.code}  {t.status:<11} {t.category:<11} hạn "
                            f"{to_vn(t.due_at):%d/%m/%Y %H:%M}{late}  {t.description[:60]}"
                        )
                    return 0
                ticket = await service.by_code(
                    s, tenant.id, args.code, lock=args.t_command == "act"
                )
                if ticket is None or not access.may_read(staff, ticket, commune):
                    print(f"{args.code}: not found in {commune.name}", file=sys.stderr)
                    return 2
                if args.t_command == "act":
                    assignee = await s.get(Staff, args.assignee) if args.assignee else None
                    original = await service.by_code(s, tenant.id, args.of) if args.of else None
                    if original is not None and not access.may_read(staff, original, commune):
                        original = None
                    try:
                        await service.change(
                            s,
                            ticket,
                            commune,
                            settings.feedback,
                            args.action,
                            staff=staff,
                            note=args.note,
                            assignee=assignee,
                            office=args.office,
                            body=args.body,
                            duplicate_of=original,
                            public_text=args.text,
                        )
                    except service.TicketError as exc:
                        print(str(exc), file=sys.stderr)
                        return 2
                out = await ticket_json(s, ticket, who, commune, full=True)
            print(json.dumps(out, ensure_ascii=False, indent=2))
            if args.t_command == "act":
                await coord.publish(OUTBOUND_TOPIC)  # a running service sends at once
            return 0
        finally:
            await coord.close()
            await engine.dispose()

    return asyncio.run(run())


# -- residents ------------------------------------------------------------------------------
def cmd_resident_erase(args: argparse.Namespace) -> int:
    """Erase a resident who asked (by phone, at the office): bot/privacy.py, the same as the
    chat's "xóa thông tin của tôi" and the API. Nothing happens without ``--yes``."""
    from bot import privacy
    from bot.store.db import create_engine, sessionmaker
    from bot.store.migrate import upgrade
    from bot.store.models import Staff
    from bot.tenants import sync

    settings = _settings(args)
    if settings.commune(args.commune) is None:
        print(f"commune {args.commune} is not configured", file=sys.stderr)
        return 2
    who = f"Zalo user {args.zalo_id}" if args.zalo_id else f"the reporter of {args.ticket}"
    if not args.yes:
        print(
            f"this erases {who} in {args.commune} for good (name, phone, messages, their "
            "tickets' text, photos and place); run again with --yes",
            file=sys.stderr,
        )
        return 2

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
            sm = sessionmaker(engine)
            tenant = (await sync(settings, sm)).by_code(args.commune)
            async with sm() as s, s.begin():
                if args.staff_id is not None:
                    staff = await s.get(Staff, args.staff_id)
                    if (
                        staff is None
                        or staff.commune_id != tenant.id
                        or not staff.active
                        or staff.role != "leader"
                    ):
                        print(
                            f"no active leader #{args.staff_id} in {args.commune}", file=sys.stderr
                        )
                        return 2
                done = await privacy.erase_on_request(
                    s,
                    tenant.id,
                    zalo_id=args.zalo_id,
                    ticket_code=args.ticket,
                    source="cli",
                    staff_id=args.staff_id,
                )
            if done is None:
                print(f"{who}: not found in {args.commune}", file=sys.stderr)
                return 2
            print(json.dumps({"erased": True, **done.to_json()}, ensure_ascii=False, indent=2))
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(run())


# -- zalo -----------------------------------------------------------------------------------
async def _with_tokens(settings: Settings, fn):  # type: ignore[no-untyped-def]
    import aiohttp

    from bot.app import VAR_DIR
    from bot.channels.zalo.oauth import TokenManager
    from bot.coord import create_coordinator
    from bot.crypto import SecretBox, load_or_create_secret
    from bot.store.db import create_engine, sessionmaker
    from bot.store.migrate import upgrade

    engine = create_engine(settings.database_url)
    coord = create_coordinator(settings.redis_url)
    await coord.start()
    try:
        await upgrade(engine)
        async with aiohttp.ClientSession() as http:
            box = SecretBox(load_or_create_secret(settings.service.secret_key, VAR_DIR))
            return await fn(TokenManager(settings, sessionmaker(engine), box, coord, http))
    finally:
        await coord.close()
        await engine.dispose()


def _check_oa(settings: Settings, oa_id: str) -> bool:
    if any(c.zalo and c.zalo.oa_id == oa_id for c in settings.communes):
        return True
    print(f"OA {oa_id} is not configured for any commune in {settings.source}", file=sys.stderr)
    return False


def cmd_zalo_connect(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not _check_oa(settings, args.oa):
        return 2
    url = asyncio.run(_with_tokens(settings, lambda tm: tm.authorization_url(args.oa)))
    print("Mở đường dẫn sau bằng tài khoản quản trị OA để cấp quyền / open as the OA admin:")
    print(url)
    print(f"Zalo sẽ chuyển về {settings.public_url}/zalo/oauth/callback (service must be running).")
    return 0


def cmd_zalo_set_tokens(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not _check_oa(settings, args.oa):
        return 2
    # from the environment by preference: command-line values show up in `ps` and history
    access = args.access_token or os.environ.get("ZALO_ACCESS_TOKEN")
    refresh = args.refresh_token or os.environ.get("ZALO_REFRESH_TOKEN")
    if not access or not refresh:
        print(
            "give the tokens in ZALO_ACCESS_TOKEN / ZALO_REFRESH_TOKEN (or --access-token / "
            "--refresh-token)",
            file=sys.stderr,
        )
        return 2
    asyncio.run(
        _with_tokens(settings, lambda tm: tm.store(args.oa, access, refresh, args.expires_in))
    )
    print(f"tokens stored (encrypted) for OA {args.oa}; expires in {args.expires_in} s")
    return 0


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bot", description="Commune information bot")
    p.add_argument("--config", help="configuration file (default: $BOT_CONFIG or config.yml)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the service")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument(
        "--web-only",
        action="store_true",
        help="only answer HTTP; `bot worker` processes (PostgreSQL + Redis) do the rest",
    )
    s.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="process events and send, without the web server").set_defaults(
        func=cmd_worker
    )

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    a = sub.add_parser("ask", help="run one message through the conversation, no channel")
    a.add_argument("--commune", required=True, help="commune code, e.g. 02839")
    a.add_argument("--json", action="store_true")
    a.add_argument(
        "--language",
        default="vi",
        help="the resident's language (vi, en; a clear message in the other one "
        "switches, as in the service)",
    )
    a.add_argument(
        "--backend",
        choices=["embedded", "rasa"],
        default=None,
        help="default: nlu.backend in the configuration",
    )
    a.add_argument("text")
    a.set_defaults(func=cmd_ask)

    n = sub.add_parser("nlu", help="NLU data, training, evaluation").add_subparsers(
        dest="n_command", required=True
    )
    ne = n.add_parser("eval", help="held-out evaluation, accented and unaccented")
    ne.add_argument("--train", default=None, help="Rasa YAML folder/file (default data/nlu)")
    ne.add_argument("--test", default=None, help="held-out Rasa YAML (default data/nlu/test)")
    ne.add_argument("--report", default="docs/nlu-eval.md")
    ne.add_argument(
        "--backend",
        choices=["both", "embedded", "rasa"],
        default="both",
        help="both (default) sets Rasa up first if it is not",
    )
    ne.add_argument(
        "--profile",
        choices=["full", "ci"],
        default="full",
        help="Rasa training profile (ci: fewer epochs)",
    )
    ne.set_defaults(func=cmd_nlu_eval)
    nt = n.add_parser("train", help="train a backend on data/nlu and report")
    nt.add_argument("--backend", choices=["embedded", "rasa"], default="embedded")
    nt.add_argument("--profile", choices=["full", "ci"], default="full")
    nt.add_argument("--force", action="store_true", help="retrain even if a cached model fits")
    nt.set_defaults(func=cmd_nlu_train)
    nc = n.add_parser("convert", help="a public seq.in/label data set → Rasa YAML for eval")
    nc.add_argument("src", help="folder with <split>/seq.in and <split>/label")
    nc.add_argument("out", help="writes <out>/<split>/nlu.yml")
    nc.set_defaults(func=cmd_nlu_convert)
    nr = n.add_parser("rasa-setup", help="build Rasa 3.6.21's own Python 3.10 environment")
    nr.add_argument("--force", action="store_true", help="rebuild it from scratch")
    nr.set_defaults(func=cmd_nlu_rasa_setup)
    nv = n.add_parser("rasa-serve", help="train if needed, then run the Rasa NLU server")
    nv.add_argument("--host", default="127.0.0.1")
    nv.add_argument("--port", type=int, default=5005)
    nv.add_argument("--profile", choices=["full", "ci"], default="full")
    nv.set_defaults(func=cmd_nlu_rasa_serve)
    nm = n.add_parser("misses", help="questions the bot missed or was unsure of, per commune")
    nm.add_argument("--commune", required=True)
    nm.add_argument("--limit", type=int, default=50)
    nm.add_argument(
        "--yaml",
        action="store_true",
        help="print as a Rasa YAML stub to label and add to data/nlu/",
    )
    nm.set_defaults(func=cmd_nlu_misses)

    tr = sub.add_parser("triage", help="emergency triage (docs/triage.md)").add_subparsers(
        dest="tr_command", required=True
    )
    te = tr.add_parser(
        "eval",
        help="precision and recall on the held-out set, with and "
        "without accents, and cross-validated",
    )
    te.add_argument("--data", default="data/triage", help="training examples (folder or file)")
    te.add_argument("--test", default=None, help="held-out examples (default <data>/test)")
    te.add_argument("--sweep", action="store_true", help="also figures for other thresholds")
    te.set_defaults(func=cmd_triage_eval)

    t = sub.add_parser("tenants", help="communes").add_subparsers(dest="t_command", required=True)
    t.add_parser("list").set_defaults(func=cmd_tenants_list)
    ta = t.add_parser("add", help="onboard a commune from the national unit list")
    ta.add_argument("--unit-code", required=True)
    ta.add_argument("--phone", required=True, help="the commune office's phone number")
    ta.add_argument("--address")
    ta.add_argument("--email")
    ta.add_argument("--villages", help="comma-separated thôn / tổ dân phố names")
    ta.add_argument("--oa-id")
    ta.add_argument("--app-id")
    ta.add_argument("--oa-secret-key", help="inline or ${ENV_VAR}")
    ta.add_argument("--no-db", action="store_true", help="only edit the configuration file")
    ta.set_defaults(func=cmd_tenants_add)

    st = sub.add_parser("staff", help="commune staff and API keys").add_subparsers(
        dest="st_command", required=True
    )
    sa = st.add_parser("add", help="add a staff member and print their API key once")
    sa.add_argument("--commune", required=True)
    sa.add_argument("--name", required=True)
    sa.add_argument(
        "--role", required=True, choices=["officer", "leader", "propagandist", "operator"]
    )
    sa.add_argument("--village", help="the propagandist's village")
    sa.add_argument("--zalo-user-id", help="their Zalo user id as a follower of the OA")
    sa.add_argument(
        "--office",
        help="the feedback desk they work at (communes[].offices); "
        "an officer's default: the commune's first office",
    )
    sa.add_argument(
        "--quiet",
        action="store_true",
        help="print only the key: OFFICER_KEY=$(bot staff add … --quiet)",
    )
    sa.set_defaults(func=cmd_staff_add)
    sc = st.add_parser(
        "check", help="warn when no leader or a village's propagandist can be reached on Zalo"
    )
    sc.add_argument("--commune", required=True)
    sc.set_defaults(func=cmd_staff_check)
    sl = st.add_parser("list", help="the commune's staff and their keys (never a key itself)")
    sl.add_argument("--commune", required=True)
    sl.add_argument("--json", action="store_true", help="as JSON")
    sl.set_defaults(func=cmd_staff_list)
    for name, text in (
        ("revoke-key", "revoke every key of a staff member"),
        ("rotate-key", "a new key for a staff member, printed once; the old ones stop working"),
        ("deactivate", "keys revoked, no alerts, no Zalo commands"),
        ("reactivate", "active again, with a new key printed once"),
    ):
        sp = st.add_parser(name, help=text)
        sp.add_argument("--commune", required=True)
        sp.add_argument("--staff-id", type=int, required=True, help="see `bot staff list`")
        if name in ("rotate-key", "reactivate"):
            sp.add_argument(
                "--quiet",
                action="store_true",
                help="print only the key: KEY=$(bot staff rotate-key … --quiet)",
            )
        sp.set_defaults(func=cmd_staff_change)

    tk = sub.add_parser(
        "tickets", help="residents' feedback tickets (as a staff member)"
    ).add_subparsers(dest="t_command", required=True)
    for name, text in (
        ("list", "tickets of the commune"),
        ("show", "one ticket, its history"),
        (
            "act",
            "accept | assign | transfer | return | reject | duplicate | "
            "answer | close | publish | note",
        ),
    ):
        tp = tk.add_parser(name, help=text)
        tp.add_argument("--commune", required=True)
        tp.add_argument("--staff-id", type=int, required=True, help="who acts (bot staff add)")
        if name == "list":
            tp.add_argument("--status")
            tp.add_argument("--overdue", action="store_true")
        else:
            tp.add_argument("code", help="PA-2026-000123")
        if name == "act":
            tp.add_argument("action")
            tp.add_argument("--note", help="the answer, the reason, the note")
            tp.add_argument("--assignee", type=int, help="assign: staff id")
            tp.add_argument("--office", help="transfer: an office of the commune")
            tp.add_argument("--body", help="transfer: an outside body")
            tp.add_argument("--of", help="duplicate: the original ticket's code")
            tp.add_argument("--text", help="publish: the public text (default: the answer)")
        tp.set_defaults(func=cmd_tickets)

    rs = sub.add_parser(
        "resident", help="residents' personal data (docs/privacy.md)"
    ).add_subparsers(dest="r_command", required=True)
    re_ = rs.add_parser("erase", help="erase a resident on request (cannot be undone)")
    re_.add_argument("--commune", required=True)
    whom = re_.add_mutually_exclusive_group(required=True)
    whom.add_argument("--zalo-id", help="their Zalo user id as a follower of the commune's OA")
    whom.add_argument("--ticket", help="a ticket they filed (PA-2026-000123), on any channel")
    re_.add_argument("--staff-id", type=int, help="the leader who decided it (kept in the audit)")
    re_.add_argument("--yes", action="store_true", help="really erase")
    re_.set_defaults(func=cmd_resident_erase)

    z = sub.add_parser("zalo", help="Zalo OA connection").add_subparsers(
        dest="z_command", required=True
    )
    zc = z.add_parser("connect", help="print the OAuth v4 authorisation URL (PKCE)")
    zc.add_argument("--oa", required=True)
    zc.set_defaults(func=cmd_zalo_connect)
    zs = z.add_parser("set-tokens", help="store an access/refresh pair by hand")
    zs.add_argument("--oa", required=True)
    zs.add_argument(
        "--access-token",
        help="default $ZALO_ACCESS_TOKEN; write --access-token=VALUE when the value "
        "starts with '-'",
    )
    zs.add_argument(
        "--refresh-token",
        help="default $ZALO_REFRESH_TOKEN; write --refresh-token=VALUE when the "
        "value starts with '-'",
    )
    zs.add_argument("--expires-in", type=int, default=90000)
    zs.set_defaults(func=cmd_zalo_set_tokens)

    # `bot simulator …` is dispatched in main() to the simulator's own parser
    sub.add_parser("simulator", help="run the Zalo simulator: bot simulator --help")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:  # its options belong to the simulator's own parser
        from zalosim.__main__ import main as sim_main

        return sim_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
