"""`bot ask` (one message through the conversation), `bot nlu …` (data, training, evaluation,
Rasa) and `bot triage eval`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import open_store, settings_of


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.conversation import engine

    settings = settings_of(args)
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

    if (
        args.language is not None
        and args.language not in i18n.available()
        and args.language not in commune.languages
    ):
        print(
            f"unknown language {args.language}; the bot answers in {', '.join(i18n.available())}",
            file=sys.stderr,
        )
        return 2
    if getattr(args, "session", None) is not None:  # one conversation across calls, stored
        from bot.cli.ask import ask_in_session, check_session

        if (why := check_session(args.session)) is not None:
            print(why, file=sys.stderr)
            return 2
        return ask_in_session(args, settings, commune)
    args.language = args.language or "vi"
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
    from sqlalchemy import select

    from bot.knowledge.misses import MISSED  # the one condition (grouped: bot knowledge misses)
    from bot.store.models import Commune as CommuneRow
    from bot.store.models import Message

    settings = settings_of(args)

    async def run() -> list[tuple[str, str | None, float | None]]:
        # a look only: no migration
        async with open_store(settings, migrate=False) as store, store.sm() as s:
            commune_id = (
                await s.execute(select(CommuneRow.id).where(CommuneRow.code == args.commune))
            ).scalar_one_or_none()
            if commune_id is None:
                return []
            rows = await s.execute(
                select(Message.text, Message.intent, Message.confidence)
                .where(Message.commune_id == commune_id, MISSED)
                .order_by(Message.id.desc())
                .limit(args.limit)
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]

    misses = asyncio.run(run())
    if args.yaml:
        print('version: "3.1"\nnlu:\n- intent: TODO_label_these\n  examples: |')
        for text, _, _ in misses:
            print(f"    - {text}")
    else:
        for text, intent, confidence in misses:
            print(f"{confidence or 0:.2f}  {intent or '-':<22} {text}")
    return 0


def _staff_examples(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The examples staff taught from misses (``training_examples``), from the store."""
    from bot.knowledge.misses import staff_examples

    async def run() -> list[tuple[str, str]]:
        async with open_store(settings_of(args), migrate=False) as store, store.sm() as s:
            return await staff_examples(s)

    try:
        return asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 - no store yet: data/nlu/ alone, and say so
        print(
            f"staff examples not read from the store ({type(exc).__name__}); "
            "training on data/nlu/ only",
            file=sys.stderr,
        )
        return []


def cmd_nlu_train(args: argparse.Namespace) -> int:
    from bot.nlu.embedded import training as with_staff

    taught = _staff_examples(args)
    training = with_staff(taught)
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
                    "staff_examples": len(taught),
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
                "staff_examples": len(taught),
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
            from bot.nlu import rasa_env, rasa_project
            from bot.nlu.embedded import training

            try:
                rasa_env.require()
                trained = rasa_project.train(
                    training(_staff_examples(args)),
                    args.profile,
                    say=lambda m: print(m, file=sys.stderr),
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
