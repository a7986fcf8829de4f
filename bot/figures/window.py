"""Vietnamese days, in one place for every figure: the window a dashboard or report covers and
the SQL expression that buckets a UTC timestamp into its Vietnamese calendar day.

The store keeps UTC (bot/store/types.py: ``timestamptz`` on PostgreSQL, naive UTC text on
SQLite), residents and staff live in Asia/Ho_Chi_Minh: a message at 23:30 there is that day's,
one at 00:30 the next day's, though both are the same UTC date. The two databases need
different SQL for that, so the bucketing is one SQLAlchemy construct (``vn_day``) compiled per
dialect: PostgreSQL converts with the zone's name (``timezone('Asia/Ho_Chi_Minh', t)::date``),
SQLite adds the offset to its text (``date(t, '+7 hours')``) — Viet Nam has kept UTC+7 without
daylight saving since 1975, so the two agree for every date the store can hold. Windows are
filtered on the raw column (``start <= t < end``, UTC instants of the window's midnights) so
an index on it is usable; only the grouping uses the expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from bot.text import number
from bot.timeutil import VN_TZ, as_utc, to_vn, utcnow

#: the windows staff choose from (days); the first is not the default
CHOICES = (7, 30, 90)
DEFAULT = 30
VN_OFFSET_HOURS = 7  # SQLite's bucketing; PostgreSQL uses the zone's name


class vn_day(FunctionElement[date]):  # noqa: N801 (a SQL function's name)
    """The Vietnamese calendar day of a UTC timestamp column."""

    type = Date()
    inherit_cache = True
    name = "vn_day"


@compiles(vn_day, "postgresql")
def _vn_day_pg(element: vn_day, compiler: Any, **kw: Any) -> str:
    return f"CAST(timezone('{VN_TZ.key}', {compiler.process(element.clauses, **kw)}) AS DATE)"


@compiles(vn_day, "sqlite")
def _vn_day_sqlite(element: vn_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '+{VN_OFFSET_HOURS} hours')"


def as_day(value: Any) -> date:
    """A ``vn_day`` as Python reads it back: PostgreSQL gives a date, SQLite its text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _midnight(day: date) -> datetime:
    return as_utc(datetime.combine(day, time(0), tzinfo=VN_TZ))


@dataclass(frozen=True)
class Window:
    """Vietnamese days ``first`` … ``last`` (both included)."""

    first: date
    last: date

    @classmethod
    def last_days(cls, days: int, now: datetime | None = None) -> Window:
        """The ``days`` days up to and including today (Vietnamese time)."""
        today = to_vn(now or utcnow()).date()
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def chosen(cls, wanted: str | None, now: datetime | None = None) -> Window:
        """A window from a request's ``?days=`` (anything not offered is the default)."""
        days = asked if (asked := number(wanted, 4)) in CHOICES else DEFAULT
        return cls.last_days(days, now)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        """The first day's midnight in Vietnam, as a UTC instant."""
        return _midnight(self.first)

    @property
    def end(self) -> datetime:
        """The midnight after the last day (excluded), as a UTC instant."""
        return _midnight(self.last + timedelta(days=1))

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]

    def holds(self, column: Any) -> ColumnElement[bool]:
        """SQL: the UTC timestamp ``column`` falls in the window (the raw column: indexable)."""
        return (column >= self.start) & (column < self.end)
