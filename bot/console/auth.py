"""Who is signed in to the console, and what they may load — in one place.

- **Logins** are lower case, unique across communes (the login page asks no commune).
- **Passwords**: argon2id (``bot.console.passwords``); set once from an invitation link or
  from ``bot staff password``; setting one ends the account's sessions.
- **Lock-out**: ``MAX_FAILURES`` wrong passwords in a row lock the login for ``LOCK``; a login
  that does not exist is counted the same way (in the coordinator), and is checked against a
  dummy hash, so neither the answer nor its time tells whether a login exists.
- **Sessions** are rows (``console_sessions``) keyed by the SHA-256 of a random cookie: they end
  at logout, after ``IDLE`` without a request, ``ABSOLUTE`` after login, and all at once when the
  account is deactivated (``bot.staff.deactivate``) or given a new password.
- **Invitations**: a random token shown once, its SHA-256 kept, usable once before ``INVITE_TTL``;
  a newer invitation voids the older ones.
- **Tenancy**: ``owned`` loads an object of a screen only when it belongs to the user's commune
  (a province operator: a commune of their province) — anything else is the 404 of a thing that
  does not exist. ``in_scope`` is the same rule as a SQL condition for lists.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.console import passwords
from bot.coord import Coordinator
from bot.i18n import _
from bot.store.models import Commune, ConsoleSession, Staff, StaffInvitation
from bot.store.ops import forget_zalo_login
from bot.text import nfc
from bot.timeutil import as_utc

MAX_FAILURES = 5
LOCK = timedelta(minutes=15)
IDLE = timedelta(hours=12)
ABSOLUTE = timedelta(days=7)
INVITE_TTL = timedelta(hours=72)
SEEN_EVERY = timedelta(minutes=1)  # how stale ``seen_at`` may be (one write a minute at most)
LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")

T = TypeVar("T")


class AccountError(ValueError):
    """Bad input for an account change; the message is for the person (current language)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normal_login(login: str) -> str:
    return nfc(login).strip().lower()


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in staff member, as every console page sees them."""

    staff_id: int
    session_id: int
    login: str
    name: str
    role: str
    commune_id: int
    commune_code: str
    commune_name: str
    province_code: str | None
    village_id: int | None
    csrf: str
    signed_in_at: datetime


# -- accounts ---------------------------------------------------------------------------------
async def set_login(s: AsyncSession, staff: Staff, login: str) -> str:
    """Give ``staff`` the console login ``login`` (checked: form, not taken)."""
    login = normal_login(login)
    if not LOGIN.fullmatch(login):
        raise AccountError(
            _(
                "Tên đăng nhập gồm 3–64 ký tự: chữ thường không dấu, số, dấu chấm, gạch "
                "dưới hoặc gạch ngang."
            )
        )
    taken = (
        await s.execute(select(Staff.id).where(Staff.login == login, Staff.id != staff.id))
    ).first()
    if taken:
        raise AccountError(_("Tên đăng nhập {login} đã có người dùng.").format(login=login))
    staff.login = login
    await s.flush()
    return login


async def set_password(s: AsyncSession, staff: Staff, password: str) -> None:
    """A new password (checked by ``passwords.problem``): the lock-out is lifted, the account's
    open sessions end, its unused invitations are void and its Zalo sign-in link is cut (a
    reset is how a taken-over account is recovered; the link is a second credential)."""
    why = passwords.problem(password, staff.login)
    if why:
        raise AccountError(why)
    staff.password_hash = await asyncio.to_thread(passwords.hash_password, password)
    staff.failed_logins, staff.locked_until = 0, None
    await end_sessions(s, staff.id)
    await s.execute(
        delete(StaffInvitation).where(
            StaffInvitation.staff_id == staff.id, StaffInvitation.used_at.is_(None)
        )
    )
    await forget_zalo_login(s, staff)


async def end_sessions(s: AsyncSession, staff_id: int) -> None:
    await s.execute(delete(ConsoleSession).where(ConsoleSession.staff_id == staff_id))


async def invite(s: AsyncSession, staff: Staff, now: datetime) -> str:
    """A one-time token to set the password (older unused ones are void); shown once."""
    if not staff.login:
        raise AccountError(_("Tài khoản chưa có tên đăng nhập."))
    await s.execute(
        delete(StaffInvitation).where(
            StaffInvitation.staff_id == staff.id, StaffInvitation.used_at.is_(None)
        )
    )
    token = secrets.token_urlsafe(32)
    s.add(
        StaffInvitation(
            commune_id=staff.commune_id,
            staff_id=staff.id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + INVITE_TTL,
        )
    )
    await s.flush()
    return token


def invitation_link(public_url: str, token: str) -> str:
    """The address a new staff member opens (the console and `bot staff invite` alike)."""
    return f"{public_url}/console/invite/{token}"


async def invitation(
    s: AsyncSession, token: str, now: datetime, *, lock: bool = False
) -> tuple[StaffInvitation, Staff] | None:
    """The live invitation of ``token`` and its (active) staff member, else ``None``: unknown,
    used, expired and deactivated all look alike."""
    query = (
        select(StaffInvitation, Staff)
        .join(Staff, Staff.id == StaffInvitation.staff_id)
        .where(
            StaffInvitation.token_hash == token_hash(token),
            StaffInvitation.used_at.is_(None),
            Staff.active.is_(True),
        )
    )
    row = (await s.execute(query.with_for_update() if lock else query)).first()
    if row is None or as_utc(row[0].expires_at) <= now:
        return None
    return row[0], row[1]


async def accept(s: AsyncSession, token: str, password: str, now: datetime) -> Staff | None:
    """Set the password from an invitation, once; ``None`` when the link is not live."""
    found = await invitation(s, token, now, lock=True)
    if found is None:
        return None
    invite_row, staff = found
    await set_password(s, staff, password)  # AccountError: nothing changed, the link still live
    invite_row.used_at = now
    _logged(s, staff, "password_set", now)
    await s.flush()
    return staff


# -- signing in -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    staff: Staff | None  # signed in as
    error: str | None  # what to tell the person (current language)


def wrong() -> str:
    return _("Tên đăng nhập hoặc mật khẩu không đúng.")


def locked() -> str:
    return _(
        "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút hoặc liên hệ lãnh "
        "đạo xã để đặt lại mật khẩu."
    ).format(minutes=int(LOCK.total_seconds() // 60))


def too_many_here() -> str:
    return _("Có quá nhiều lần đăng nhập từ mạng này. Vui lòng thử lại sau {minutes} phút.").format(
        minutes=int(LOCK.total_seconds() // 60)
    )


async def check_login(sm: Any, coord: Coordinator, login: str, password: str, now: datetime):
    """Check a login and password; count a failure and lock after ``MAX_FAILURES``.

    A try is counted *before* its password is checked (and given back when it was right), so
    guesses sent all at once cannot each pass the lock check before any is counted: at most
    ``MAX_FAILURES`` are checked per lock, and one arriving once the lock is set is refused
    even when right. Every answer spends one argon2 check — locked, unknown or not — so its
    time does not tell whether the login exists."""
    login = normal_login(login)[:64]
    async with sm() as s, s.begin():
        staff = (
            await s.execute(select(Staff).where(Staff.login == login).with_for_update())
        ).scalar_one_or_none()
        refused = staff is not None and _locked(staff, now)
        if staff is not None and not refused:
            staff.failed_logins = (staff.failed_logins or 0) + 1  # in flight until checked
            if staff.failed_logins > MAX_FAILURES:  # more at once than the lock allows
                staff.failed_logins, staff.locked_until = 0, now + LOCK
                refused = True
                _logged(s, staff, "locked_out", now)
        staff_id, stored = (staff.id, staff.password_hash) if staff else (None, None)
    if staff_id is None:
        await asyncio.to_thread(passwords.verify, None, password)  # the same time as a real one
        failures = await coord.window_count(f"console:login:{login}", LOCK.total_seconds())
        return Attempt(None, locked() if failures >= MAX_FAILURES else wrong())
    if refused:
        await asyncio.to_thread(passwords.verify, None, password)  # the same time again
        return Attempt(None, locked())
    good = await asyncio.to_thread(passwords.verify, stored, password)
    async with sm() as s, s.begin():
        row = (
            await s.execute(select(Staff).where(Staff.id == staff_id).with_for_update())
        ).scalar_one()
        if _locked(row, now):  # locked by the tries sent alongside this one
            return Attempt(None, locked())
        if not good:
            _logged(s, row, "sign_in_failed", now)
            if (row.failed_logins or 0) >= MAX_FAILURES:
                row.failed_logins, row.locked_until = 0, now + LOCK
                _logged(s, row, "locked_out", now)
                return Attempt(None, locked())
            return Attempt(None, wrong())
        if not row.active:  # the right password: saying so reveals nothing new
            row.failed_logins = max((row.failed_logins or 1) - 1, 0)
            return Attempt(None, deactivated())
        row.failed_logins, row.locked_until = 0, None
        _logged(s, row, "signed_in", now)
        if row.password_hash and passwords.needs_rehash(row.password_hash):
            row.password_hash = await asyncio.to_thread(passwords.hash_password, password)
        return Attempt(row, None)


def _logged(s: AsyncSession, staff: Staff, action: str, now: datetime) -> None:
    """A sign-in's line in the log, under the account it was for — its login, never what was
    typed as the password. A login that does not exist belongs to no commune: not logged
    (the coordinator counts it)."""
    audit.action(
        s,
        staff.commune_id,
        staff.id,
        action,
        "account",
        staff.id,
        f"{staff.name} ({staff.login})",
        {"login": staff.login},
        at=now,
    )


def _locked(staff: Staff, now: datetime) -> bool:
    return staff.locked_until is not None and as_utc(staff.locked_until) > now


def deactivated() -> str:
    return _("Tài khoản này đã ngừng hoạt động. Vui lòng liên hệ lãnh đạo xã.")


def refusal(staff: Staff, now: datetime) -> str | None:
    """Why ``staff`` may not start a session now — locked out by wrong passwords, or
    deactivated — else ``None``: the rule a sign-in without a password (Zalo,
    ``bot.console.zalo_login``) shares with the password's."""
    if _locked(staff, now):
        return locked()
    if not staff.active:
        return deactivated()
    return None


async def start_session(s: AsyncSession, staff: Staff, now: datetime) -> str:
    """A new session for ``staff``; returns the cookie's token (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    s.add(
        ConsoleSession(
            commune_id=staff.commune_id,
            staff_id=staff.id,
            token_hash=token_hash(token),
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            seen_at=now,
        )
    )
    await s.flush()
    return token


async def end_session(s: AsyncSession, token: str) -> None:
    await s.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token)))


async def current(
    s: AsyncSession, token: str, now: datetime, *, touch: bool = True
) -> ConsoleUser | None:
    """The user of a session cookie, or ``None`` (unknown, expired, deactivated); an expired
    session's row is removed, a live one's ``seen_at`` moved on (at most once a minute).
    ``touch`` false: a page's own background poll, which is nobody at the desk — it must not
    keep an idle session alive past ``IDLE``."""
    row = (
        await s.execute(
            select(ConsoleSession, Staff, Commune)
            .join(Staff, Staff.id == ConsoleSession.staff_id)
            .join(Commune, Commune.id == Staff.commune_id)
            .where(ConsoleSession.token_hash == token_hash(token))
        )
    ).first()
    if row is None:
        return None
    session, staff, commune = row
    seen, created = as_utc(session.seen_at), as_utc(session.created_at)
    if not staff.active or now - seen > IDLE or now - created > ABSOLUTE:
        await s.execute(delete(ConsoleSession).where(ConsoleSession.id == session.id))
        return None
    if touch and now - seen > SEEN_EVERY:
        await s.execute(
            update(ConsoleSession).where(ConsoleSession.id == session.id).values(seen_at=now)
        )
    return ConsoleUser(
        staff.id,
        session.id,
        staff.login or "",
        staff.name,
        staff.role,
        staff.commune_id,
        commune.code,
        commune.name,
        commune.province_code,
        staff.village_id,
        session.csrf,
        created,
    )


# -- tenancy ----------------------------------------------------------------------------------
def in_scope(user: ConsoleUser, commune_id: Any) -> ColumnElement[bool]:
    """SQL: ``commune_id`` (a column) is the user's commune — or, for a province operator, any
    commune of their province."""
    if user.role == "operator" and user.province_code:
        return commune_id.in_(select(Commune.id).where(Commune.province_code == user.province_code))
    return commune_id == user.commune_id


async def owned(s: AsyncSession, user: ConsoleUser, model: type[T], obj_id: Any) -> T:
    """The ``model`` row ``obj_id`` when it belongs to the user's commune (operators: their
    province); otherwise 404 — the same answer as for an id that does not exist, so the
    console never confirms what another commune has. ``model`` has ``id`` and ``commune_id``."""
    try:
        key = int(obj_id)
    except (TypeError, ValueError):
        raise web.HTTPNotFound() from None
    if not 0 < key < 10**18:  # ids are at most 18 digits; larger is nothing, not an overflow
        raise web.HTTPNotFound()
    found = (
        await s.execute(
            select(model).where(
                model.id == key,  # type: ignore[attr-defined]
                in_scope(user, model.commune_id),  # type: ignore[attr-defined]
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise web.HTTPNotFound()
    return found
