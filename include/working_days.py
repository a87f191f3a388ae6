"""Working days as the SRS counts them: Monday to Friday, except England and Wales bank holidays.

The calendar is the UK's (``Europe/London``): a day is a working day by its date in London, so a
sign-off asked for at 23:30 UTC on a Friday in summer (00:30 on Saturday in London) starts its
count on Monday. Bank holidays come from the ``holidays`` package (``GB``, subdivision ``ENG``:
England and Wales share them), which keeps the one-off ones (a coronation, a state funeral) too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


@cache
def _bank_holidays(year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def _next_working_day(day: date) -> date:
    day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def add_working_days(start: datetime, days: int) -> datetime:
    """The moment ``days`` working days after ``start`` (aware, UTC).

    Started on a working day, the count keeps the time of day (Monday 10:00 + 5 is the next
    Monday 10:00, or Tuesday if that Monday is a bank holiday). Started on a weekend or bank
    holiday, it counts from the start of the next working day.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    local = start.astimezone(LONDON)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    if not is_working_day(day):
        day, clock = _next_working_day(day), time(0, 0)
    for _ in range(days):
        day = _next_working_day(day)
    return datetime.combine(day, clock, tzinfo=LONDON).astimezone(UTC)


def working_days_between(start: datetime, end: datetime) -> int:
    """Whole working days elapsed from ``start`` to ``end`` (0 if ``end`` is not later)."""
    count = 0
    while add_working_days(start, count + 1) <= end:
        count += 1
    return count
