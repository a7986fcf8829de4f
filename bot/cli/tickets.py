"""`bot tickets list | show | act`: staff work tickets from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot.cli.common import open_store, settings_of


def cmd_tickets(args: argparse.Namespace) -> int:
    """Staff act on feedback tickets from a terminal: the same rules as the JSON API (one
    place: bot/feedback/service.py), as the staff member ``--staff-id``."""
    from sqlalchemy import select

    from bot.api.auth import Identity
    from bot.coord import create_coordinator
    from bot.feedback import access, service, workflow
    from bot.feedback.api import ticket_json
    from bot.loops import OUTBOUND_TOPIC
    from bot.store.models import Staff, Ticket
    from bot.timeutil import to_vn, utcnow

    settings = settings_of(args)
    commune = settings.commune(args.commune)
    if commune is None:
        print(f"commune {args.commune} is not configured", file=sys.stderr)
        return 2

    async def run() -> int:
        coord = create_coordinator(settings.redis_url)
        try:
            async with open_store(settings, sync=True) as store:
                tenant = store.tenant(args.commune)
                async with store.sm() as s, s.begin():
                    staff = await s.get(Staff, args.staff_id)
                    if staff is None or staff.commune_id != tenant.id or not staff.active:
                        print(
                            f"no active staff #{args.staff_id} in {commune.name}", file=sys.stderr
                        )
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
                        except workflow.TicketError as exc:
                            print(str(exc), file=sys.stderr)
                            return 2
                    out = await ticket_json(s, ticket, who, commune, full=True)
                print(json.dumps(out, ensure_ascii=False, indent=2))
                if args.t_command == "act":
                    await coord.publish(OUTBOUND_TOPIC)  # a running service sends at once
                return 0
        finally:
            await coord.close()

    return asyncio.run(run())
