"""`bot staff add | list | check | revoke-key | rotate-key | deactivate | reactivate |
password | invite`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TextIO

from bot.cli.common import in_store, open_store, settings_of
from bot.config import Settings

#: `bot staff <command>` → its line in the console's log
CHANGE_ACTIONS = {
    "revoke-key": "keys_revoked",
    "rotate-key": "key_rotated",
    "deactivate": "staff_deactivated",
    "reactivate": "staff_reactivated",
    "unlink-zalo": "zalo_unlinked",
}


def cmd_staff_add(args: argparse.Namespace) -> int:
    from bot.console.auth import AccountError, invite, set_login, set_password
    from bot.coverage import warnings
    from bot.staff import StaffError, add_staff
    from bot.timeutil import utcnow

    settings = settings_of(args)
    commune = settings.commune(args.commune)
    if args.password_stdin and not args.login:
        print("--password-stdin needs --login", file=sys.stderr)
        return 2
    password = read_password(confirm=True) if args.password_stdin else None
    if args.password_stdin and password is None:
        return 2

    async def run(s, commune_id: int) -> tuple[int, str | None, str, str | None, list]:
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
        link = None
        if args.login:  # a bad login or password: the whole addition is rolled back
            await set_login(s, staff, args.login)
        logged(s, staff, "staff_added", {"role": staff.role, "login": staff.login})
        if args.login:
            if password is not None:
                await set_password(s, staff, password)
                logged(s, staff, "password_set")
            else:
                link = invitation_link(settings, await invite(s, staff, utcnow()))
                logged(s, staff, "invitation_issued")
        return staff.id, staff.office, key, link, await warnings(s, commune_id)

    try:
        staff_id, office, key, link, gaps = in_store(args, run)
    except (StaffError, AccountError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not args.quiet:
        desk = f", office {office}" if office else ""
        print(f"staff #{staff_id} {args.name} ({args.role}{desk}) added to {args.commune}.")
        print("API key (shown once; keep it secret, send as 'Authorization: Bearer <key>'):")
    print(key)  # --quiet: the key alone, so KEY=$(bot staff add … --quiet) keeps it
    if link:
        print_invitation(link, to=sys.stderr if args.quiet else sys.stdout)
    elif args.login and not args.quiet:
        print(f"console login {args.login.strip().lower()}: password set.")
    print_gaps(gaps)
    return 0


def logged(s, staff, action: str, detail: dict | None = None) -> None:
    """The console's log ("Nhật ký") says the CLI did it, in the change's transaction."""
    from bot import audit

    audit.action(
        s, staff.commune_id, None, action, "staff", staff.id, staff.name, detail, actor=audit.CLI
    )


def invitation_link(settings: Settings, token: str) -> str:
    from bot.console.auth import invitation_link as link

    return link(settings.public_url, token)


def print_invitation(link: str, to: TextIO = sys.stdout) -> None:
    from bot.console.auth import INVITE_TTL
    from bot.i18n import _

    hours = int(INVITE_TTL.total_seconds() // 3600)
    said = _(
        "Liên kết đặt mật khẩu trang cán bộ (dùng một lần, hết hạn sau {hours} giờ; chỉ gửi "
        "cho đúng người):"
    ).format(hours=hours)
    print(f"{said}\n{link}", file=to)


def read_password(confirm: bool) -> str | None:
    """A password from standard input: asked without echo (twice) at a terminal, else the
    first line; ``None`` (said on stderr) when nothing usable came."""
    import getpass

    from bot.i18n import _

    if sys.stdin.isatty():
        first = getpass.getpass(_("Mật khẩu mới: "))
        if confirm and getpass.getpass(_("Nhập lại mật khẩu: ")) != first:
            print(_("Hai lần nhập mật khẩu không giống nhau."), file=sys.stderr)
            return None
        return first
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print(_("Không đọc được mật khẩu từ đầu vào chuẩn (stdin)."), file=sys.stderr)
        return None
    return password


def cmd_staff_password(args: argparse.Namespace) -> int:
    """`bot staff password LOGIN`: a new console password from standard input; the account's
    sessions end. `bot staff invite LOGIN`: a new one-time link instead (older links void)."""
    from sqlalchemy import select

    from bot.console.auth import AccountError, invite, normal_login, set_password
    from bot.i18n import _
    from bot.store.models import Staff
    from bot.timeutil import utcnow

    settings = settings_of(args)
    password = read_password(confirm=True) if args.st_command == "password" else None
    if args.st_command == "password" and password is None:
        return 2
    login = normal_login(args.login)

    async def run() -> str | None:
        async with open_store(settings) as store, store.sm() as s, s.begin():
            staff = (
                await s.execute(select(Staff).where(Staff.login == login).with_for_update())
            ).scalar_one_or_none()
            if staff is None:
                raise AccountError(
                    _("Không có tài khoản nào có tên đăng nhập {login}.").format(login=login)
                )
            if not staff.active:
                raise AccountError(
                    _("Tài khoản {login} đã ngừng hoạt động (bot staff reactivate trước).").format(
                        login=login
                    )
                )
            if password is not None:
                await set_password(s, staff, password)
                logged(s, staff, "password_set")
                return None
            link = invitation_link(settings, await invite(s, staff, utcnow()))
            logged(s, staff, "invitation_issued")
            return link

    try:
        link = asyncio.run(run())
    except AccountError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if link:
        print_invitation(link)
    else:
        print(
            _("Đã đặt mật khẩu mới cho {login}; các phiên đăng nhập cũ đã kết thúc.").format(
                login=login
            )
        )
    return 0


def cmd_staff_list(args: argparse.Namespace) -> int:
    """The commune's staff and their live keys (id, first characters, when issued and last
    used): never a key itself."""
    from bot.staff import StaffError, list_staff

    try:
        people = in_store(args, lambda s, commune_id: list_staff(s, commune_id))
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
    """revoke-key | rotate-key | deactivate | reactivate | unlink-zalo one staff member
    (bot/staff.py; unlink-zalo: a leader removes a Zalo sign-in they do not trust)."""
    from bot import staff as staffing
    from bot.store.ops import forget_zalo_login

    async def work(s, commune_id):
        member = await staffing.staff_member(s, commune_id, args.staff_id)
        result: int | str
        if args.st_command == "revoke-key":
            result = await staffing.revoke_keys(s, member)
        elif args.st_command == "rotate-key":
            result = await staffing.rotate_key(s, member)
        elif args.st_command == "deactivate":
            result = await staffing.deactivate(s, member)
        elif args.st_command == "unlink-zalo":
            result = int(await forget_zalo_login(s, member, sign_out=True))
        else:
            result = await staffing.reactivate(s, member)
        logged(s, member, CHANGE_ACTIONS[args.st_command])
        return member.name, result

    try:
        name, result = in_store(args, work)
    except staffing.StaffError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    who = f"staff #{args.staff_id} {name}"
    if args.st_command == "revoke-key":
        print(f"{who}: {result} key(s) revoked; they are refused from now on.")
    elif args.st_command == "unlink-zalo":
        print(
            f"{who}: Zalo sign-in unlinked; they sign in with their password."
            if result
            else f"{who}: no Zalo account was linked."
        )
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


def print_gaps(gaps: list) -> None:
    """Coverage warnings on stderr: seen in a terminal, kept out of a captured key."""
    for gap in gaps:
        print(f"warning: {gap.message}", file=sys.stderr)


def cmd_staff_check(args: argparse.Namespace) -> int:
    """Whether emergency alerts and village relays can reach someone (bot/coverage.py);
    exit status 1 when they cannot, for scripts."""
    from bot.coverage import warnings

    settings = settings_of(args)

    async def run() -> list | None:
        async with open_store(settings, sync=True) as store:
            tenant = store.tenants.by_code(args.commune)  # type: ignore[union-attr]
            if tenant is None:
                return None
            async with store.sm() as s:
                return await warnings(s, tenant.id)

    gaps = asyncio.run(run())
    if gaps is None:
        print(f"commune {args.commune} is not configured", file=sys.stderr)
        return 2
    print_gaps(gaps)
    if not gaps:
        print(f"{args.commune}: leaders and every village's propagandist can be reached on Zalo")
    return 1 if gaps else 0
