"""The report's period: dates as staff write them, and the presets the provincial plans set.

- the year ``Y`` (``--year Y``): 15/12 of ``Y-1`` to 14/12 of ``Y`` — the data window one plan
  fixes, so the report can be sent before the 15/12 deadline;
- the half ``Y-1`` (``--half Y-1``): 15/12 of ``Y-1`` to 14/06 of ``Y`` (the year's first six
  months, the same start); ``Y-2``: 15/06 to 14/12 of ``Y`` (the rest). The two halves
  exactly cover the year.
"""

from __future__ import annotations

import re
from datetime import date

from bot.figures.window import Window


class PeriodError(ValueError):
    pass


def parse_date(text: str) -> date:
    """dd/mm/yyyy (also d/m/yyyy, with - or .) or ISO yyyy-mm-dd."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        found = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
        if found:
            day, month, year = (int(g) for g in found.groups())
            return date(year, month, day)
    except ValueError:
        pass
    raise PeriodError(f"ngày không hợp lệ / not a date (dd/mm/yyyy or yyyy-mm-dd): {text!r}")


def year(y: int) -> Window:
    return Window(date(y - 1, 12, 15), date(y, 12, 14))


def half(spec: str) -> Window:
    found = re.fullmatch(r"(\d{4})-([12])", spec.strip())
    if not found:
        raise PeriodError(f"nửa năm là YYYY-1 hoặc YYYY-2 / a half is YYYY-1 or YYYY-2: {spec!r}")
    y, h = int(found.group(1)), found.group(2)
    if h == "1":
        return Window(date(y - 1, 12, 15), date(y, 6, 14))
    return Window(date(y, 6, 15), date(y, 12, 14))


def between(first: str, last: str) -> Window:
    w = Window(parse_date(first), parse_date(last))
    if w.last < w.first:
        raise PeriodError("ngày kết thúc trước ngày bắt đầu / --to is before --from")
    return w


def report_year(today: date) -> int:
    """The report year ``today`` (a Vietnamese day) falls in: from 15/12 on it is the next
    year's (the window ``year(Y)`` starts on 15/12 of ``Y-1``)."""
    return today.year + 1 if (today.month, today.day) >= (12, 15) else today.year


#: presets a form offers: ``year-Y`` and ``half-Y-1`` / ``half-Y-2`` (``year`` and ``half``)
PRESET = re.compile(r"(year|half)-(\d{4}(?:-[12])?)")


def preset(spec: str) -> Window:
    """``year-2026`` → ``year(2026)``; ``half-2026-1`` → ``half("2026-1")``."""
    found = PRESET.fullmatch(spec.strip())
    if not found or (found.group(1) == "year") != (len(found.group(2)) == 4):
        raise PeriodError(f"kỳ không hợp lệ / not a period: {spec!r}")
    if found.group(1) == "year":
        return year(int(found.group(2)))
    return half(found.group(2))
