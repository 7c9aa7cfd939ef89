"""Working days (工作日) of mainland China, pure: the national calendar (infrastructure used by the matters
and ratings services; each passes its own override table, if any).

A day is a working day when the site's override table says so; otherwise as the ``chinesecalendar``
package says (statutory holidays and make-up working days, 调休). For a year the package does not
know (it raises ``NotImplementedError``; with 1.11.0 that is 2027 and later) Monday to Friday are
working days, and ``on_unknown_year`` is told once per year so that the caller can warn: the site
then keeps its override table up to date by hand until the package is upgraded.

Counting follows 次日起算: the day of acceptance does not count, so "N working days after ``start``"
is the N-th working day strictly after it. A deadline that falls on a day ends with that day: ``end_of_day``
(23:59:59 local time). Both rules live here only; the services call them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

ONE_DAY = timedelta(days=1)
MAX_SCAN_DAYS = 20 * 366  # a calendar whose override table removed every working day must not hang us
LAST_SECOND = time(23, 59, 59)


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """A deadline on ``day`` is the end of that day in the site's time zone (23:59:59 local)."""
    return datetime.combine(day, LAST_SECOND, tzinfo=tz)


def _package_is_workday(day: date) -> bool:
    return bool(chinese_calendar.is_workday(day))


class NoWorkingDays(ValueError):
    """The calendar has no working day within the scanned span (an override table gone wrong)."""


class WorkCalendar:
    """Which days are working days at one site."""

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        *,
        on_unknown_year: Callable[[int], None] | None = None,
        source: Callable[[date], bool] = _package_is_workday,
    ) -> None:
        self.overrides: dict[date, bool] = dict(overrides or {})
        self._source = source
        self._on_unknown_year = on_unknown_year
        self._cache: dict[date, bool] = {}
        self._known: dict[int, bool] = {}

    def knows(self, year: int) -> bool:
        """Whether the holiday package has the official holidays of ``year``."""
        known = self._known.get(year)
        if known is None:
            try:
                self._source(date(year, 6, 1))
                known = True
            except NotImplementedError:
                known = False
            self._known[year] = known
            if not known and self._on_unknown_year is not None:
                self._on_unknown_year(year)
        return known

    def unknown_years(self, start: date, end: date) -> list[int]:
        """The years between ``start`` and ``end`` (inclusive) counted with weekends only."""
        lo, hi = sorted((start.year, end.year))
        return [y for y in range(lo, hi + 1) if not self.knows(y)]

    def is_workday(self, day: date) -> bool:
        override = self.overrides.get(day)
        if override is not None:
            return override
        hit = self._cache.get(day)
        if hit is None:
            hit = self._source(day) if self.knows(day.year) else day.weekday() < 5
            self._cache[day] = hit
        return hit

    def add_working_days(self, start: date, days: int, *, stopped: Callable[[date], bool] | None = None) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself when ``days`` is 0), leaving out
        ``stopped`` days (a case's suspensions: the clock does not run on them)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day, counted = start, 0
        for _ in range(MAX_SCAN_DAYS):
            if counted == days:
                return day
            day += ONE_DAY
            if not (stopped and stopped(day)) and self.is_workday(day):
                counted += 1
        raise NoWorkingDays(f"no {days} working days within {MAX_SCAN_DAYS} days after {start}")

    def count_between(self, start: date, end: date, *, stopped: Callable[[date], bool] | None = None) -> int:
        """Working days in ``(start, end]`` (0 when ``end <= start``), leaving out ``stopped`` days."""
        n, day = 0, start
        while day < end:
            day += ONE_DAY
            if self.is_workday(day) and not (stopped and stopped(day)):
                n += 1
        return n
