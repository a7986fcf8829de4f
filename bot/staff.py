"""Commune staff and their API keys: `bot staff add` and the tests use this one function."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.auth import ROLES, hash_key, new_key
from bot.store.models import Commune, Staff, StaffKey
from bot.store.ops import village_by_name


class StaffError(ValueError):
    pass


async def add_staff(s: AsyncSession, commune_code: str, name: str, role: str,
                    village: str | None = None, zalo_user_id: str | None = None,
                    office: str | None = None, offices: list[str] | None = None
                    ) -> tuple[Staff, str]:
    """Create a staff member with a new API key; returns (staff, key). The key is not stored,
    only its hash: show it once. ``offices`` are the commune's configured desks: an officer
    given none works at the first — the desk every ticket without a routing rule goes to, and
    in a commune with one office the only one — so their ``office=mine``, their alerts and
    their right to act on its tickets work from the start."""
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}")
    commune = (await s.execute(select(Commune).where(Commune.code == commune_code))
               ).scalar_one_or_none()
    if commune is None:
        raise StaffError(f"commune {commune_code} is not in the store (configure it, then "
                         "`bot db upgrade` or start the service once)")
    village_id = None
    if village:
        row = await village_by_name(s, commune.id, village)
        village_id = row.id if row else None
        if village_id is None:
            raise StaffError(f"{village}: no such village in {commune.name}")
    if role == "propagandist" and village_id is None:
        raise StaffError("a propagandist belongs to a village: give --village")
    if office is not None and offices is not None and office not in offices:
        raise StaffError(f"{office}: not an office of the commune ({', '.join(offices)})")
    if role == "officer" and office is None and offices:
        office = offices[0]
    if zalo_user_id and (await s.execute(select(Staff.id).where(
            Staff.commune_id == commune.id, Staff.zalo_user_id == zalo_user_id))).first():
        raise StaffError(f"Zalo id {zalo_user_id} already belongs to a staff member of "
                         f"{commune.name}")
    staff = Staff(commune_id=commune.id, name=name, role=role, village_id=village_id,
                  zalo_user_id=zalo_user_id, office=office, active=True)
    s.add(staff)
    await s.flush()
    key = new_key()
    s.add(StaffKey(commune_id=commune.id, staff_id=staff.id, key_hash=hash_key(key)))
    await s.flush()
    return staff, key
