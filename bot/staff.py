"""Commune staff and their API keys, in one place for the CLI (`bot staff …`) and the JSON API
(``/api/v1/communes/{code}/staff``): add, list, rotate or revoke a key, deactivate, reactivate.

Only a key's SHA-256 is stored, and its first ``KEY_PREFIX`` characters to tell keys apart; a
new key is returned once, to be shown once. A deactivated staff member has no key left (each is
revoked) and no console session (each is ended), gets no alerts (every query for whom to alert
asks for ``active``), their Zalo commands ("đã chuyển", "PA-…: …") are not taken, and the
alerts queued for them and not yet sent are cancelled. Reactivating issues a new key: an old one never works again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.auth import ROLES, hash_key, iso, new_key
from bot.store.models import (
    Commune,
    ConsoleSession,
    OutboundMessage,
    Staff,
    StaffInvitation,
    StaffKey,
    Village,
)
from bot.store.ops import forget_zalo_login, rowcount, village_by_name
from bot.timeutil import utcnow

KEY_PREFIX = 8  # "cb_" and 5 of the key's 43 random characters


class StaffError(ValueError):
    pass


class NoSuchStaff(StaffError):
    pass


async def _issue_key(s: AsyncSession, staff: Staff) -> str:
    key = new_key()
    s.add(
        StaffKey(
            commune_id=staff.commune_id,
            staff_id=staff.id,
            key_hash=hash_key(key),
            prefix=key[:KEY_PREFIX],
        )
    )
    await s.flush()
    return key


async def add_staff(
    s: AsyncSession,
    commune_code: str,
    name: str,
    role: str,
    village: str | None = None,
    zalo_user_id: str | None = None,
    office: str | None = None,
    offices: list[str] | None = None,
) -> tuple[Staff, str]:
    """Create a staff member with a new API key; returns (staff, key). The key is not stored,
    only its hash: show it once. ``offices`` are the commune's configured desks: an officer
    given none works at the first — the desk every ticket without a routing rule goes to, and
    in a commune with one office the only one — so their ``office=mine``, their alerts and
    their right to act on its tickets work from the start."""
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}")
    commune = (
        await s.execute(select(Commune).where(Commune.code == commune_code))
    ).scalar_one_or_none()
    if commune is None:
        raise StaffError(
            f"commune {commune_code} is not in the store (configure it, then "
            "`bot db upgrade` or start the service once)"
        )
    village_id = None
    if village:
        row = await village_by_name(s, commune.id, village)
        village_id = row.id if row else None
        if village_id is None:
            raise StaffError(f"{village}: no such village in {commune.name}")
    if role == "propagandist" and village_id is None:
        raise StaffError("a propagandist belongs to a village: give --village")
    if role == "publisher" and commune.province_code is None:
        raise StaffError(
            f"a publisher sends to a province's communes, and {commune.name} has no province: "
            "set its province first (bot tenants import, or config.yml)"
        )
    if office is not None and offices is not None and office not in offices:
        raise StaffError(f"{office}: not an office of the commune ({', '.join(offices)})")
    if role == "officer" and office is None and offices:
        office = offices[0]
    if (
        zalo_user_id
        and (
            await s.execute(
                select(Staff.id).where(
                    Staff.commune_id == commune.id, Staff.zalo_user_id == zalo_user_id
                )
            )
        ).first()
    ):
        raise StaffError(
            f"Zalo id {zalo_user_id} already belongs to a staff member of {commune.name}"
        )
    staff = Staff(
        commune_id=commune.id,
        name=name,
        role=role,
        village_id=village_id,
        zalo_user_id=zalo_user_id,
        office=office,
        active=True,
    )
    s.add(staff)
    await s.flush()
    return staff, await _issue_key(s, staff)


async def commune_id_of(s: AsyncSession, commune_code: str) -> int:
    commune_id = (
        await s.execute(select(Commune.id).where(Commune.code == commune_code))
    ).scalar_one_or_none()
    if commune_id is None:
        raise StaffError(
            f"commune {commune_code} is not in the store (configure it, then "
            "`bot db upgrade` or start the service once)"
        )
    return commune_id


async def staff_member(s: AsyncSession, commune_id: int, staff_id: int) -> Staff:
    """One staff member of the commune, locked for the change; ``NoSuchStaff`` for another
    commune's (the same answer as for nobody)."""
    staff = (
        await s.execute(
            select(Staff)
            .where(Staff.id == staff_id, Staff.commune_id == commune_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if staff is None:
        raise NoSuchStaff(f"no staff #{staff_id} in this commune")
    return staff


@dataclass(frozen=True)
class KeyInfo:
    id: int
    prefix: str | None
    created_at: Any
    used_at: Any

    @classmethod
    def of(cls, row: StaffKey) -> KeyInfo:
        return cls(row.id, row.prefix, row.created_at, row.used_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "created_at": iso(self.created_at),
            "used_at": iso(self.used_at) if self.used_at else None,
        }


async def list_staff(s: AsyncSession, commune_id: int) -> list[dict[str, Any]]:
    """The commune's staff with their live keys (id, prefix, when issued) — never a key."""
    people = (
        await s.execute(
            select(Staff, Village.name)
            .outerjoin(Village, Village.id == Staff.village_id)
            .where(Staff.commune_id == commune_id)
            .order_by(Staff.id)
        )
    ).all()
    keys: dict[int, list[KeyInfo]] = {}
    for row in (
        await s.execute(
            select(StaffKey)
            .where(StaffKey.commune_id == commune_id, StaffKey.revoked_at.is_(None))
            .order_by(StaffKey.id)
        )
    ).scalars():
        keys.setdefault(row.staff_id, []).append(KeyInfo.of(row))
    return [to_json(staff, village, keys.get(staff.id, [])) for staff, village in people]


async def describe(s: AsyncSession, staff: Staff) -> dict[str, Any]:
    """One staff member as ``list_staff`` shows them."""
    village = await s.get(Village, staff.village_id) if staff.village_id else None
    keys = [
        KeyInfo.of(k)
        for k in (
            await s.execute(
                select(StaffKey)
                .where(StaffKey.staff_id == staff.id, StaffKey.revoked_at.is_(None))
                .order_by(StaffKey.id)
            )
        ).scalars()
    ]
    return to_json(staff, village.name if village else None, keys)


def to_json(staff: Staff, village: str | None, keys: list[KeyInfo]) -> dict[str, Any]:
    return {
        "id": staff.id,
        "name": staff.name,
        "role": staff.role,
        "office": staff.office,
        "village": village,
        "zalo_user_id": staff.zalo_user_id,
        "active": staff.active,
        "created_at": iso(staff.created_at),
        "keys": [k.to_json() for k in keys],
    }


class KeyUses:
    """When each key was last used, written after the call it authenticated — in a session of
    its own, the call's being closed — and at most every ``every_s`` per key in this process
    (the date is for finding unused keys, not an audit trail)."""

    def __init__(self, every_s: float = 300.0, remembered: int = 10_000) -> None:
        self.every_s, self.remembered = every_s, remembered
        self._written: dict[int, float] = {}

    async def record(self, sm, key_id: int) -> None:
        now = time.monotonic()
        if now - self._written.get(key_id, -self.every_s) < self.every_s:
            return
        if len(self._written) >= self.remembered:  # bounded: forget, write a little more often
            self._written.clear()
        self._written[key_id] = now
        async with sm() as s, s.begin():
            await s.execute(update(StaffKey).where(StaffKey.id == key_id).values(used_at=utcnow()))


async def revoke_keys(s: AsyncSession, staff: Staff) -> int:
    """Every live key of ``staff`` stops working now; how many there were."""
    result = await s.execute(
        update(StaffKey)
        .where(StaffKey.staff_id == staff.id, StaffKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return rowcount(result)


async def rotate_key(s: AsyncSession, staff: Staff) -> str:
    """A new key for an active staff member; their old keys stop working."""
    if not staff.active:
        raise StaffError(
            f"staff #{staff.id} is deactivated: reactivate them (a new key comes with it)"
        )
    await revoke_keys(s, staff)
    return await _issue_key(s, staff)


async def deactivate(s: AsyncSession, staff: Staff) -> int:
    """Keys revoked, console sessions ended, unused invitations void, the Zalo sign-in link cut,
    no more alerts or Zalo commands; returns the queued alerts cancelled."""
    staff.active = False
    await revoke_keys(s, staff)
    await forget_zalo_login(s, staff)
    await s.execute(delete(ConsoleSession).where(ConsoleSession.staff_id == staff.id))
    await s.execute(
        delete(StaffInvitation).where(
            StaffInvitation.staff_id == staff.id, StaffInvitation.used_at.is_(None)
        )
    )
    result = await s.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.commune_id == staff.commune_id,
            OutboundMessage.status == "pending",
            OutboundMessage.idempotency_key.like(f"%:staff:{staff.id}"),
        )
        .values(status="cancelled", error_reason="staff member deactivated")
    )
    return rowcount(result)


async def reactivate(s: AsyncSession, staff: Staff) -> str:
    """Active again, with a new key (returned once)."""
    if staff.active:
        raise StaffError(f"staff #{staff.id} is already active")
    staff.active = True
    return await _issue_key(s, staff)
