"""`bot knowledge import | export | list | hide | unhide`: a commune's (or a province's) own
knowledge as CSV or Rasa 3 retrieval-intent YAML; a province's entry a commune does not want
hidden from it (bot/knowledge/, docs/knowledge.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.cli.common import open_store, settings_of


def _owner_of(args: argparse.Namespace):
    """The owner named by --commune or --province, checked against the store."""
    from sqlalchemy import select

    from bot.knowledge.store import Owner
    from bot.staff import commune_id_of
    from bot.store.models import Commune

    async def owner(s) -> Owner:
        if getattr(args, "province", None):
            known = (
                await s.execute(select(Commune.id).where(Commune.province_code == args.province))
            ).first()
            if known is None:
                raise LookupError(f"no configured commune is in province {args.province}")
            return Owner(province_code=args.province)
        return Owner(commune_id=await commune_id_of(s, args.commune))

    return owner


def _run(args: argparse.Namespace, work):
    owner_of = _owner_of(args)

    async def run():
        async with open_store(settings_of(args), sync=True) as store, store.sm() as s, s.begin():
            return await work(s, await owner_of(s))

    return asyncio.run(run())


def cmd_knowledge_import(args: argparse.Namespace) -> int:
    """Every row checked first; any bad row → nothing written, the row named, exit 2."""
    from bot.knowledge import io, store
    from bot.staff import StaffError

    path = Path(args.file)
    try:
        items = io.read(path)
    except (OSError, io.KnowledgeFileError) as exc:
        print(f"{path}: {exc}" if isinstance(exc, io.KnowledgeFileError) else exc, file=sys.stderr)
        print("nothing imported.", file=sys.stderr)
        return 2

    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from bot.store.models import Commune

    if args.province and any(i.hidden for i in items):
        hidden = next(i for i in items if i.hidden)
        print(
            f"{path}: {hidden.question!r} is marked hidden: a hidden row hides a province's "
            "entry from one commune (import it with --commune); a province file has nothing "
            "to hide — delete the row instead.",
            file=sys.stderr,
        )
        print("nothing imported.", file=sys.stderr)
        return 2

    async def work(s, owner):
        saved = await store.save(s, owner, items, replace=args.replace)
        if owner.commune_id is not None and any(i.hidden for i in items):
            province = (
                await s.execute(select(Commune.province_code).where(Commune.id == owner.commune_id))
            ).scalar_one()
            theirs = (
                {e.key for e in await store.entries(s, store.Owner(province_code=province))}
                if province
                else set()
            )
            for i in items:
                if i.hidden and i.key not in theirs:
                    print(
                        f"note: {i.question!r} is marked hidden, but province "
                        f"{province or '(none)'} has no such question: it hides nothing "
                        "(copy the question from the province's export).",
                        file=sys.stderr,
                    )
        return saved

    try:
        saved = _run(args, work)
    except (StaffError, LookupError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except IntegrityError:  # the unique (owner, question): another import wrote the same ones
        print(
            "another change to these entries was saved at the same moment; nothing imported — "
            "run the import again.",
            file=sys.stderr,
        )
        return 2
    whose = f"province {args.province}" if args.province else f"commune {args.commune}"
    print(
        f"{whose}: {saved.added} added, {saved.updated} updated"
        + (f", {saved.deleted} replaced" if args.replace else "")
        + f" ({len(items)} in {path.name})."
    )
    return 0


def _items(args: argparse.Namespace):
    from bot.knowledge import store

    async def work(s, owner):
        return [store.item_of(e) for e in await store.entries(s, owner)]

    return _run(args, work)


def cmd_knowledge_export(args: argparse.Namespace) -> int:
    from bot.knowledge import io
    from bot.staff import StaffError

    try:
        items = _items(args)
    except (StaffError, LookupError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    fmt = args.format or (
        "yaml" if args.out and Path(args.out).suffix.lower() in (".yml", ".yaml") else "csv"
    )
    text = io.write_yaml(items) if fmt == "yaml" else io.write_csv(items)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8", newline="")
    else:
        sys.stdout.write(text.lstrip("\ufeff"))
    return 0


def cmd_knowledge_list(args: argparse.Namespace) -> int:
    from bot.staff import StaffError

    try:
        items = _items(args)
    except (StaffError, LookupError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    for n, i in enumerate(items, 1):
        valid = (
            f" [{i.valid_from or '…'} → {i.valid_until or '…'}]"
            if i.valid_from or i.valid_until
            else ""
        )
        topic = f" ({i.topic})" if i.topic else ""
        if i.hidden:
            print(f"{n:>3}. {i.question} — hidden (the province's answer is not given)")
            continue
        print(f"{n:>3}. {i.question}{topic}{valid} — {len(i.variants)} variant(s)")
    print(f"{len(items)} entr{'y' if len(items) == 1 else 'ies'}.")
    return 0


def _commune(args: argparse.Namespace, work):
    """``work(session, commune_row)`` in one transaction on the commune of ``--commune``."""
    from sqlalchemy import select

    from bot.store.models import Commune

    async def run():
        async with open_store(settings_of(args), sync=True) as store, store.sm() as s, s.begin():
            row = (
                await s.execute(select(Commune).where(Commune.code == args.commune))
            ).scalar_one_or_none()
            if row is None:
                raise LookupError(f"commune {args.commune} is not configured")
            return await work(s, row)

    return asyncio.run(run())


def cmd_knowledge_misses(args: argparse.Namespace) -> int:
    """The groups, biggest first: id, count, last seen, the typical text and examples."""
    import json

    from bot.knowledge import misses

    async def work(s, commune):
        return await misses.groups(s, commune.id, commune.province_code, args.days)

    try:
        found = _commune(args, work)
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {"days": args.days, "groups": [misses.as_json(g) for g in found]},
                ensure_ascii=False,
            )
        )
        return 0
    for g in found:
        seen = misses.as_json(g)["last_seen"] or "-"
        hint = f"  (NLU: {g.intent})" if g.intent else ""
        print(f"{g.id}  {g.count:>4}×  last {str(seen)[:16]}  {g.question}{hint}")
        for t in g.texts[1 : misses.EXAMPLES]:
            print(f"{'':>16}{t.count:>4}×  {t.text}")
    print(
        f"{len(found)} group(s) in the last {args.days} days; "
        "`bot knowledge promote --commune C --group ID --answer …` or `--intent …`."
    )
    return 0


def _hiding(args: argparse.Namespace, hide: bool) -> int:
    """Hide the province's entry for a question from one commune (a hidden entry of the
    commune's own), or show it again (that hidden entry removed)."""
    from sqlalchemy import select

    from bot.knowledge import store
    from bot.knowledge.io import Item, KnowledgeFileError, make_item
    from bot.staff import StaffError
    from bot.store.models import Commune, KnowledgeEntry
    from bot.text import words_key

    try:
        item: Item = make_item("the question", args.question, "", hidden=True)
    except KnowledgeFileError as exc:
        print(str(exc), file=sys.stderr)
        return 2

    async def work(s, owner) -> str | None:
        nonlocal item
        province = (
            await s.execute(select(Commune.province_code).where(Commune.id == owner.commune_id))
        ).scalar_one()
        theirs = await store.entries(s, store.Owner(province_code=province)) if province else []
        # the province's question as it wrote it, or with other punctuation
        match = next((e for e in theirs if e.key == item.key), None) or next(
            (e for e in theirs if words_key(e.question) == words_key(item.question)), None
        )
        if match is not None:
            item = make_item("the question", match.question, "", hidden=True)
        own = (
            await s.execute(
                select(KnowledgeEntry).where(owner.where(), KnowledgeEntry.key == item.key)
            )
        ).scalar_one_or_none()
        if not hide:
            if own is None or not own.hidden:
                return f"commune {args.commune} does not hide {args.question!r}"
            await store.remove(s, owner, item.key, hidden_only=True)
            return None
        if own is not None and not own.hidden:
            return (
                f"commune {args.commune} answers {item.question!r} with its own entry; "
                "hide hides the province's entry (change or remove your own in your file)"
            )
        if match is None:
            return (
                f"province {province or '(none)'} has no entry {args.question!r} "
                f"(`bot knowledge list --province {province or 'CODE'}` shows its questions)"
            )
        await store.save(s, owner, [item])
        return None

    try:
        refused = _run(args, work)
    except (StaffError, LookupError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if refused:
        print(refused, file=sys.stderr)
        return 2
    print(
        f"commune {args.commune}: {item.question!r} "
        + ("hidden: residents no longer get the province's answer." if hide else "shown again.")
    )
    return 0


def cmd_knowledge_promote(args: argparse.Namespace) -> int:
    """One group → an entry (``--answer``) or an intent's training examples (``--intent``)."""
    from bot.knowledge import misses

    async def work(s, commune):
        group = await misses.find(s, commune.id, commune.province_code, args.group, args.days)
        if group is None:
            raise LookupError(
                f"no group {args.group} among the misses of the last {args.days} days "
                "(the list changed? run `bot knowledge misses` again)"
            )
        if args.intent:
            n = await misses.to_intent(s, commune.id, group, args.intent)
            return (
                f"{n} text(s) taught as {args.intent}; the service learns them at its next "
                "start (Rasa: `bot nlu train --backend rasa`)."
            )
        item, created = await misses.to_entry(s, commune.id, group, args.answer, args.question)
        return (
            f"{'added' if created else 'updated'} the entry {item.question!r} "
            f"with {len(item.variants)} variant(s); answered from at once."
        )

    try:
        print(_commune(args, work))
    except (LookupError, misses.PromoteError) as exc:
        print(str(exc), file=sys.stderr)
        print("nothing changed.", file=sys.stderr)
        return 2
    return 0


def cmd_knowledge_hide(args: argparse.Namespace) -> int:
    return _hiding(args, True)


def cmd_knowledge_unhide(args: argparse.Namespace) -> int:
    return _hiding(args, False)


def add_parser(sub) -> None:
    k = sub.add_parser(
        "knowledge", help="the commune's own questions and answers (docs/knowledge.md)"
    ).add_subparsers(dest="k_command", required=True)

    def whose(p: argparse.ArgumentParser, province: bool) -> None:
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--commune", help="commune code, e.g. 02839")
        g.add_argument(
            "--province",
            help="province code: entries every commune of the province inherits"
            if province
            else "province code: the province-wide entries",
        )

    ki = k.add_parser("import", help="merge (or --replace) entries from a .csv or .yml file")
    whose(ki, True)
    ki.add_argument("file")
    ki.add_argument("--replace", action="store_true", help="delete the entries there first")
    ki.set_defaults(func=cmd_knowledge_import)
    ke = k.add_parser("export", help="the entries as CSV (default) or Rasa YAML")
    whose(ke, False)
    ke.add_argument("--format", choices=["csv", "yaml"])
    ke.add_argument("--out", help="file to write (default: standard output)")
    ke.set_defaults(func=cmd_knowledge_export)
    kl = k.add_parser("list", help="the entries, one a line")
    whose(kl, False)
    kl.set_defaults(func=cmd_knowledge_list)
    km = k.add_parser("misses", help="what residents asked that the bot missed, grouped")
    km.add_argument("--commune", required=True, help="commune code, e.g. 02839")
    km.add_argument("--days", type=int, default=30, help="how far back (default 30)")
    km.add_argument("--json", action="store_true", help="the groups as JSON")
    km.set_defaults(func=cmd_knowledge_misses)
    kp = k.add_parser("promote", help="a group of misses → an entry or an intent's examples")
    kp.add_argument("--commune", required=True, help="commune code, e.g. 02839")
    kp.add_argument("--group", required=True, help="the group's id from `bot knowledge misses`")
    kp.add_argument("--days", type=int, default=30, help="the window the group was listed in")
    what = kp.add_mutually_exclusive_group(required=True)
    what.add_argument("--answer", help="the commune's answer: the group becomes an entry")
    what.add_argument("--intent", help="an intent: the group's texts become its examples")
    kp.add_argument("--question", help="the entry's question (default: the group's typical text)")
    kp.set_defaults(func=cmd_knowledge_promote)
    for name, does, func in (
        ("hide", "hide the province's entry for QUESTION from one commune", cmd_knowledge_hide),
        ("unhide", "show the province's entry for QUESTION again", cmd_knowledge_unhide),
    ):
        kh = k.add_parser(name, help=does)
        kh.add_argument("--commune", required=True, help="commune code, e.g. 02839")
        kh.add_argument("question", help="the province entry's question (any accents, case)")
        kh.set_defaults(func=func)
