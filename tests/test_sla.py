"""The working-day clock: deadlines across weekends, Tết and other public holidays, office
hours, emergencies, decreed extra days off and working Saturdays."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bot.config import Commune, FeedbackSettings
from bot.feedback.sla import WorkingCalendar
from bot.timeutil import from_vn_local, to_vn

COMMUNE = Commune(
    code="02839",
    name="Xã Bắc Hà",
    address="UBND",
    phone="0214 3880 123",
    office_hours=[
        {"days": "mon-fri", "open": "07:30", "close": "11:30"},
        {"days": "mon-fri", "open": "13:30", "close": "17:00"},
        {"days": "sat", "open": "07:30", "close": "11:30"},
    ],
)


def vn(*args: int) -> datetime:
    return from_vn_local(datetime(*args))


def local(value: datetime) -> tuple[int, ...]:
    v = to_vn(value)
    return (v.year, v.month, v.day, v.hour, v.minute)


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar(COMMUNE, FeedbackSettings())


def test_the_day_of_receipt_does_not_count_and_weekends_are_skipped(cal):
    # Thursday 2026-10-15 10:00 + 3 working days: Fri, Mon, Tue → Tuesday's close
    assert local(cal.add_working_days(vn(2026, 10, 15, 10), 3)) == (2026, 10, 20, 17, 0)
    # Friday after the office closed counts as received Monday: Tue, Wed, Thu
    assert local(cal.add_working_days(vn(2026, 10, 16, 17, 30), 3)) == (2026, 10, 22, 17, 0)
    # Saturday (the office opens in the morning, but it is no working day for deadlines)
    assert local(cal.add_working_days(vn(2026, 10, 17, 9), 1)) == (2026, 10, 20, 17, 0)


def test_the_package_knows_new_holidays(cal):
    # Ngày Văn hóa Việt Nam, 24 November, a day off from 2026
    assert not cal.is_working_day(date(2026, 11, 24))
    assert local(cal.add_working_days(vn(2026, 11, 23, 10), 1)) == (2026, 11, 25, 17, 0)


def test_tet_2027_is_not_counted(cal):
    # Tết Đinh Mùi: the package knows 4–10 Feb 2027 (29 Tết to the 5th day)
    assert not any(cal.is_working_day(date(2027, 2, d)) for d in range(4, 11))
    # a road report on Wednesday 3 Feb, 10:00: 3 working days → Thu 11, Fri 12, Mon 15
    due = cal.deadlines("road", vn(2027, 2, 3, 10))[1]
    assert local(due) == (2027, 2, 15, 17, 0)
    # ten working days to tell the resident: Feb 11, 12, 15–19, 22–24
    ack = cal.add_working_days(vn(2027, 2, 3, 10), 10)
    assert local(ack) == (2027, 2, 24, 17, 0)
    # a warning one working day before the deadline: Friday 12 Feb at the close
    assert local(cal.warn_at("road", vn(2027, 2, 3, 10), due)) == (2027, 2, 12, 17, 0)
    assert cal.working_days_between(vn(2027, 2, 3, 10), due) == 3


def test_observed_days_and_the_national_day(cal):
    # 2026: 2 September is a Wednesday; 31 Aug (a substitute day) and 1–2 Sep are off
    assert local(cal.add_working_days(vn(2026, 8, 28, 9), 1)) == (2026, 9, 3, 17, 0)


def test_emergencies_are_due_the_same_day(cal):
    assert local(cal.deadlines("fire", vn(2026, 11, 21, 9))[1]) == (2026, 11, 21, 23, 59)
    # reported at 22:00 on a Sunday: the same day's end is too close, at least 4 hours
    assert local(cal.deadlines("disaster", vn(2026, 11, 22, 22))[1]) == (2026, 11, 23, 2, 0)
    ack, due = cal.deadlines("security", vn(2027, 2, 6, 8))  # even on Tết
    assert ack == due and local(due) == (2027, 2, 6, 23, 59)


def test_category_defaults_and_overrides():
    settings = FeedbackSettings(category_days={"land": 30}, answer_days=12)
    cal = WorkingCalendar(COMMUNE, settings)
    assert cal.answer_days("road") == 3  # on-site checkable
    assert cal.answer_days("social") == 12
    assert cal.answer_days("land") == 30
    with pytest.raises(ValueError, match="unknown categories"):
        FeedbackSettings(category_days={"weather": 2})


def test_decreed_days_off_and_working_saturdays():
    settings = FeedbackSettings(
        extra_holidays=[date(2026, 12, 31)], extra_working_days=[date(2027, 1, 9)]
    )
    cal = WorkingCalendar(COMMUNE, settings)
    # Wed 30 Dec + 2: 31 Dec is a decreed day off, 1 Jan a holiday → Mon 4 Jan, Tue 5 Jan
    assert local(cal.add_working_days(vn(2026, 12, 30, 9), 2)) == (2027, 1, 5, 17, 0)
    # Saturday 9 Jan 2027 is decreed a working day: Friday 8 + 1 → Saturday, Monday's hours
    assert local(cal.add_working_days(vn(2027, 1, 8, 9), 1)) == (2027, 1, 9, 17, 0)


def test_office_hours_for_people_waiting_on_staff(cal):
    assert cal.in_office(vn(2026, 11, 23, 8))
    assert not cal.in_office(vn(2026, 11, 23, 12))
    assert cal.in_office(vn(2026, 11, 21, 8))  # Saturday morning: the office is open
    assert local(cal.next_open(vn(2026, 11, 23, 12))) == (2026, 11, 23, 13, 30)
    assert local(cal.next_open(vn(2026, 11, 21, 12))) == (2026, 11, 23, 7, 30)
    assert local(cal.next_open(vn(2027, 2, 3, 18))) == (2027, 2, 11, 7, 30)  # after Tết


def test_progress_every_seven_working_days(cal):
    # filed Monday 23 Nov 2026: 7 working days later (24 Nov is off) is Thursday 3 Dec,
    # an hour after opening
    assert local(cal.morning_after(vn(2026, 11, 23, 10), 7)) == (2026, 12, 3, 8, 30)


@pytest.mark.parametrize(
    "now, due, said",
    [
        (vn(2026, 12, 2, 9, 0), vn(2026, 12, 2, 13, 0), "trong ngày hôm nay (trước 13:00)"),
        (vn(2026, 12, 2, 21, 30), vn(2026, 12, 3, 1, 30), "trước 01:30 ngày mai (03/12/2026)"),
        (vn(2026, 12, 2, 9, 0), vn(2026, 12, 7, 17, 0), "trước 17:00 ngày 07/12/2026"),
        (vn(2026, 12, 8, 9, 0), vn(2026, 12, 7, 17, 0), "sớm nhất có thể (đã quá hạn 07/12/2026"),
    ],
)
def test_the_resident_is_told_when_in_words_for_the_moment(now, due, said):
    """An emergency's deadline filed late in the evening falls tomorrow: said as such."""
    from types import SimpleNamespace

    from bot.feedback.service import when_text

    assert when_text(SimpleNamespace(due_at=due), now).startswith(said)
