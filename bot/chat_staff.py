"""Which chat messages come from a staff member — decided here, and only here.

A staff row carries the Zalo id it was registered with (``bot staff add --zalo``). A message is
that staff member's (a propagandist's "đã chuyển", a note "PA-…: …", a status question staff
may ask about any ticket they can read) only when it arrives on channel ``zalo``, from exactly
that id, for the staff member's own commune, and the member is active and holds one of the
roles the command needs. Anything else — a web chat session whatever its id, another channel,
another commune's OA — is a resident, and the command is an ordinary message.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Staff

CHANNEL = "zalo"  # the only channel staff are registered on


async def sender(
    s: AsyncSession, commune_id: int, channel: str, user_id: str | None, roles: Iterable[str]
) -> Staff | None:
    """The active staff member of ``commune_id`` with one of ``roles`` who wrote this message,
    or None when it is not from the channel and identity they were registered on."""
    if channel != CHANNEL or not user_id:
        return None
    return (
        (
            await s.execute(
                select(Staff)
                .where(
                    Staff.commune_id == commune_id,
                    Staff.zalo_user_id == user_id,
                    Staff.role.in_(list(roles)),
                    Staff.active.is_(True),
                )
                .order_by(Staff.id)
                .limit(1)
            )
        )
        .scalars()
        .first()
    )
