"""Time, in one place: the store keeps UTC, people see and schedule Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; a naive value is taken to be UTC already (that is how we store it)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_vn(value: datetime) -> datetime:
    return as_utc(value).astimezone(VN_TZ)


def vn_iso(value: datetime | None) -> str | None:
    """A time as the API, Open311, CAP and the feeds show it: Vietnamese wall-clock time with
    its offset, to the second (``2026-12-02T16:30:00+07:00``) — what staff and residents read,
    and still an exact instant for any client."""
    return to_vn(value).isoformat(timespec="seconds") if value else None


def epoch_ms(value: datetime) -> int:
    return int(as_utc(value).timestamp() * 1000)


def from_vn_local(value: datetime) -> datetime:
    """A time people gave us: naive means Vietnamese wall-clock time; aware is kept. → UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=VN_TZ)
    return value.astimezone(UTC)
