"""Working days (工作日) of mainland China, pure: one calendar per site, in layers (infrastructure used by the
matters, ratings, notify and queue services; ``shared/calendar_sync.py`` keeps a site's layers current).

Which layer decides whether a day is a working day, highest first:

1. the site's own overrides (``overrides``: ``{day: workday}``, the hall manager's table);
2. the official yearly arrangement (国务院办公厅 节假日安排, 调休): an installed one (``arrangements``:
   ``{year: Arrangement}``, the province's published data) or else the ``chinesecalendar`` package for the
   years it knows (it raises ``NotImplementedError`` for the others; with 1.11.0 that is 2027 and later);
3. the law: the statutory holidays of any year (``shared/holidays.py``) and weekends.

A year without an official arrangement is ``provisional`` (only layer 3, under the overrides), and
``on_unknown_year`` is told once per year so that the caller can warn.

Counting follows 次日起算: the day of acceptance does not count, so "N working days after ``start``"
is the N-th working day strictly after it. A deadline that falls on a day ends with that day: ``end_of_day``
(23:59:59 local time). Both rules live here only; the services call them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib.metadata import version
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar

from shared.holidays import law_of, statutory_name

ONE_DAY = timedelta(days=1)
MAX_SCAN_DAYS = 20 * 366  # a calendar whose override table removed every working day must not hang us
LAST_SECOND = time(23, 59, 59)
PACKAGE_SOURCE = f"chinesecalendar {version('chinesecalendar')}"
Status = Literal["official", "provisional"]


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """A deadline on ``day`` is the end of that day in the site's time zone (23:59:59 local)."""
    return datetime.combine(day, LAST_SECOND, tzinfo=tz)


def _package_is_workday(day: date) -> bool:
    return bool(chinese_calendar.is_workday(day))


class NoWorkingDays(ValueError):
    """The calendar has no working day within the scanned span (an override table gone wrong)."""


@dataclass(frozen=True)
class Arrangement:
    """One year's official arrangement: weekdays that are off (statutory ones included or not: they are off
    anyway) and weekend days that are worked (调休), with where it comes from (the notice's number)."""

    year: int
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    source: str = ""

    def __post_init__(self) -> None:
        stray = sorted(d for d in self.holidays | self.workdays if d.year != self.year)
        both = sorted(self.holidays & self.workdays)
        if stray:
            raise ValueError(f"不属于{self.year}年的日期 / dates outside {self.year}: {', '.join(map(str, stray))}")
        if both:
            raise ValueError(f"既是放假又是调休上班 / both off and worked: {', '.join(map(str, both))}")

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5 and statutory_name(day) is None

    def as_json(self) -> dict[str, object]:
        return {"year": self.year, "holidays": sorted(d.isoformat() for d in self.holidays),
                "workdays": sorted(d.isoformat() for d in self.workdays), "source": self.source}

    @classmethod
    def from_json(cls, body: Mapping[str, object]) -> Arrangement:
        def days(key: str) -> frozenset[date]:
            raw = body.get(key) or []
            if not isinstance(raw, list):
                raise ValueError(f"{key} must be a list of dates")
            return frozenset(date.fromisoformat(str(d)) for d in raw)
        return cls(int(str(body["year"])), days("holidays"), days("workdays"), str(body.get("source") or ""))


def statutory_is_workday(day: date) -> bool:
    """The law alone: Monday to Friday except the statutory holidays."""
    return day.weekday() < 5 and statutory_name(day) is None


class WorkCalendar:
    """Which days are working days at one site."""

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        *,
        arrangements: Mapping[int, Arrangement] | None = None,
        on_unknown_year: Callable[[int], None] | None = None,
        source: Callable[[date], bool] = _package_is_workday,
    ) -> None:
        self.overrides: dict[date, bool] = dict(overrides or {})
        self.arrangements: dict[int, Arrangement] = dict(arrangements or {})
        self._source = source
        self._on_unknown_year = on_unknown_year
        self._cache: dict[date, bool] = {}
        self._package_knows: dict[int, bool] = {}
        self._told: set[int] = set()

    def _package(self, year: int) -> bool:
        known = self._package_knows.get(year)
        if known is None:
            try:
                self._source(date(year, 6, 1))
                known = True
            except NotImplementedError:
                known = False
            self._package_knows[year] = known
        return known

    def knows(self, year: int) -> bool:
        """Whether ``year`` has an official arrangement (installed, or in the holiday package)."""
        known = year in self.arrangements or self._package(year)
        if not known and self._on_unknown_year is not None and year not in self._told:
            self._told.add(year)
            self._on_unknown_year(year)
        return known

    def status(self, year: int) -> Status:
        return "official" if year in self.arrangements or self._package(year) else "provisional"

    def source_of(self, year: int) -> str:
        """Where the year's arrangement comes from (the notice, the package), or the law for a provisional year."""
        if year in self.arrangements:
            return self.arrangements[year].source
        if self._package(year):
            return PACKAGE_SOURCE
        return f"{law_of(year).name}（临时：仅法定节假日 / provisional: statutory holidays only）"

    def unknown_years(self, start: date, end: date) -> list[int]:
        """The years between ``start`` and ``end`` (inclusive) counted provisionally (statutory days only)."""
        lo, hi = sorted((start.year, end.year))
        return [y for y in range(lo, hi + 1) if not self.knows(y)]

    def install(self, arrangement: Arrangement) -> None:
        """Take ``arrangement`` as its year's official one (a newer version replaces the older)."""
        self.arrangements[arrangement.year] = arrangement
        for day in [d for d in self._cache if d.year == arrangement.year]:
            del self._cache[day]

    def is_workday(self, day: date) -> bool:
        override = self.overrides.get(day)
        if override is not None:
            return override
        hit = self._cache.get(day)
        if hit is None:
            arrangement = self.arrangements.get(day.year)
            if arrangement is not None:
                hit = arrangement.is_workday(day)
            elif self.knows(day.year):
                hit = self._source(day)
            else:
                hit = statutory_is_workday(day)
            self._cache[day] = hit
        return hit

    def why_closed(self, day: date) -> str | None:
        """None on a working day; else what the day is: the statutory holiday's name, 节假日 or 休息日."""
        if self.is_workday(day):
            return None
        name = statutory_name(day)
        if name is not None:
            return name
        return "休息日" if day.weekday() >= 5 and day not in self.overrides else "节假日"

    def days_off_on_weekdays(self, year: int) -> list[date]:
        """Monday–Friday days of ``year`` that are not working days (statutory, arranged or site holidays)."""
        return [d for d in _days_of(year) if d.weekday() < 5 and not self.is_workday(d)]

    def workdays_on_weekends(self, year: int) -> list[date]:
        """Saturdays and Sundays of ``year`` that are working days (调休, or the site's own)."""
        return [d for d in _days_of(year) if d.weekday() >= 5 and self.is_workday(d)]

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


def _days_of(year: int) -> Iterable[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += ONE_DAY
