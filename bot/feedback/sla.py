"""The working-day clock, in one place: deadlines, progress times and office hours for
feedback tickets.

A working day is Monday–Friday that is not a Vietnamese public holiday (the ``holidays``
package knows Tết, Giỗ Tổ, 30/4, 1/5, 2/9 and their observed days) nor one of the settings'
``extra_holidays``; a Saturday decreed as a working day in exchange is added through
``extra_working_days``. The day a ticket arrives does not count ("trong N ngày làm việc kể từ
ngày nhận"); a ticket that arrives after the office closed, or on a day off, is taken as
received on the next working day. A deadline is the close of the office on its last day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays as holidays_pkg

from bot.config import Commune, FeedbackSettings
from bot.timeutil import VN_TZ, as_utc, to_vn

DEFAULT_HOURS = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0)))


@lru_cache(maxsize=64)
def _public_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays_pkg.country_holidays("VN", years=year))


class WorkingCalendar:
    def __init__(self, commune: Commune, settings: FeedbackSettings) -> None:
        self.settings = settings
        self._hours: dict[int, list[tuple[time, time]]] = {}
        for block in commune.office_hours:
            for weekday in block.weekdays:
                self._hours.setdefault(weekday, []).append((block.open, block.close))
        for periods in self._hours.values():
            periods.sort()
        self._extra_off = set(settings.extra_holidays)
        self._extra_on = set(settings.extra_working_days)

    # -- days ---------------------------------------------------------------------------
    def is_working_day(self, day: date) -> bool:
        if day in self._extra_on:
            return True
        return (
            day.weekday() < 5
            and day not in _public_holidays(day.year)
            and day not in self._extra_off
        )

    def periods(self, day: date) -> list[tuple[time, time]]:
        """The office's open periods on a working day (a decreed working Saturday keeps
        Monday's hours); none on a day off."""
        if not self.is_working_day(day):
            return []
        weekday = 0 if day in self._extra_on and day.weekday() >= 5 else day.weekday()
        return self._hours.get(weekday) or self._hours.get(0) or list(DEFAULT_HOURS)

    def open_periods(self, day: date) -> list[tuple[time, time]]:
        """When staff are at the office: its hours on that weekday (a Saturday morning
        counts here though it is not a working day for deadlines), none on a holiday."""
        if day in self._extra_on:
            return self.periods(day)
        if day in _public_holidays(day.year) or day in self._extra_off:
            return []
        return self._hours.get(day.weekday(), [])

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def _at(self, day: date, t: time) -> datetime:
        return as_utc(datetime.combine(day, t, tzinfo=VN_TZ))

    def close_of(self, day: date) -> datetime:
        return self._at(day, self.periods(day)[-1][1])

    def opening_of(self, day: date) -> datetime:
        return self._at(day, self.periods(day)[0][0])

    # -- instants -------------------------------------------------------------------------
    def in_office(self, when: datetime) -> bool:
        local = to_vn(when)
        return any(start <= local.time() < end for start, end in self.open_periods(local.date()))

    def next_open(self, when: datetime) -> datetime:
        """``when`` itself if the office is open, else the next opening."""
        local = to_vn(when)
        day = local.date()
        for _ in range(60):
            for start, end in self.open_periods(day):
                if day > local.date() or local.time() < end:
                    return (
                        as_utc(when)
                        if day == local.date() and local.time() >= start
                        else self._at(day, start)
                    )
            day += timedelta(days=1)
        return self.opening_of(self.next_working_day(local.date()))

    def add_office_minutes(self, start: datetime, minutes: float) -> datetime:
        """``minutes`` of the office being open, counted from ``start`` (a handoff at 16:50
        with 30 minutes to wait runs on to 7:50 the next working morning; one on Saturday
        night counts from Monday's opening)."""
        left = timedelta(minutes=minutes)
        local = to_vn(start)
        day = local.date()
        for _ in range(60):
            for open_, close in self.open_periods(day):
                begin = max(self._at(day, open_), as_utc(start))
                end = self._at(day, close)
                if begin >= end:
                    continue
                if begin + left <= end:
                    return begin + left
                left -= end - begin
            day += timedelta(days=1)
        return as_utc(start) + left

    def receipt_day(self, received: datetime) -> date:
        """The working day a ticket counts as received on."""
        local = to_vn(received)
        day = local.date()
        if self.is_working_day(day) and local.time() < self.periods(day)[-1][1]:
            return day
        return self.next_working_day(day)

    def add_working_days(self, received: datetime, days: int) -> datetime:
        """The close of the office on the ``days``-th working day after the receipt day."""
        day = self.receipt_day(received)
        for _ in range(days):
            day = self.next_working_day(day)
        return self.close_of(day)

    def morning_after(self, start: datetime, days: int) -> datetime:
        """An hour after opening on the ``days``-th working day after ``start``'s day: when a
        progress message goes out."""
        day = self.receipt_day(start)
        for _ in range(days):
            day = self.next_working_day(day)
        return self.opening_of(day) + timedelta(hours=1)

    def working_days_before(self, deadline: datetime, days: int) -> datetime:
        """The close of the office ``days`` working days before ``deadline``'s day."""
        day = to_vn(deadline).date()
        for _ in range(days):
            day -= timedelta(days=1)
            while not self.is_working_day(day):
                day -= timedelta(days=1)
        return self.close_of(day) if days else as_utc(deadline)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Whole working days from ``start``'s day to ``end``'s day (0 on the same day)."""
        a, b = to_vn(start).date(), to_vn(end).date()
        sign = 1 if b >= a else -1
        a, b = min(a, b), max(a, b)
        count, day = 0, a
        while day < b:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return sign * count

    # -- the deadlines of a ticket ----------------------------------------------------------
    def emergency_deadline(self, received: datetime) -> datetime:
        """Same day: the end of the Vietnamese day of the report, and at least
        ``emergency_min_hours`` after it (a report at 22:00 still leaves time to act)."""
        local = to_vn(received)
        end_of_day = as_utc(datetime.combine(local.date(), time(23, 59), tzinfo=VN_TZ))
        return max(
            end_of_day, as_utc(received) + timedelta(hours=self.settings.emergency_min_hours)
        )

    def answer_days(self, category: str) -> int:
        from bot.feedback.categories import CATEGORIES

        if category in self.settings.category_days:
            return self.settings.category_days[category]
        return 3 if CATEGORIES[category].on_site else self.settings.answer_days

    def deadlines(
        self, category: str, received: datetime, emergency: bool | None = None
    ) -> tuple[datetime, datetime]:
        """(acknowledge by, answer by) for a ticket received at ``received``; the same day for
        an emergency (``emergency``: the ticket's own flag — None: the category's default)."""
        if _emergency(category, emergency):
            due = self.emergency_deadline(received)
            return due, due
        due = self.add_working_days(received, self.answer_days(category))
        ack = self.add_working_days(received, self.settings.ack_days)
        return min(ack, due), due

    def warn_at(
        self, category: str, received: datetime, due: datetime, emergency: bool | None = None
    ) -> datetime:
        """When the leader and the office hear that a deadline is near."""
        if _emergency(category, emergency):
            return max(as_utc(received), as_utc(due) - timedelta(hours=1))
        return max(as_utc(received), self.working_days_before(due, self.settings.warn_before_days))


def _emergency(category: str, emergency: bool | None) -> bool:
    """A ticket's own flag (the chat's triage decides it), else its category's default (staff
    and Open311 filings)."""
    if emergency is not None:
        return emergency
    from bot.feedback.categories import CATEGORIES

    return CATEGORIES[category].emergency


_CALENDARS: dict[str, tuple[Commune, FeedbackSettings, WorkingCalendar]] = {}


def calendar(commune: Commune, settings: FeedbackSettings) -> WorkingCalendar:
    """The commune's calendar, built once per configuration."""
    cached = _CALENDARS.get(commune.code)
    if cached is None or cached[0] is not commune or cached[1] is not settings:
        cached = _CALENDARS[commune.code] = (commune, settings, WorkingCalendar(commune, settings))
    return cached[2]
