"""The statutory engine (``shared/holidays.py``): every year's statutory holidays computed by the law of that
year, checked against chinesecalendar's official data (2004–2026) and the 2027 dates of DOMAIN.md."""

from __future__ import annotations

from datetime import date

import chinese_calendar
import pytest

from shared.holidays import YearOutOfRange, law_of, statutory_days, statutory_holidays, statutory_name

KNOWN_YEARS = range(2004, 2027)  # the years chinesecalendar 1.11.0 has official data for


@pytest.mark.parametrize("year", KNOWN_YEARS)
def test_every_statutory_holiday_is_off_in_the_official_data(year: int) -> None:
    """Each day the law of that year makes a holiday is a day off in chinesecalendar's official arrangement."""
    worked = [h for h in statutory_holidays(year) if chinese_calendar.is_workday(h.day)]
    assert worked == []


@pytest.mark.parametrize(("year", "count"), [(1990, 7), (2004, 10), (2007, 10), (2008, 11), (2013, 11),
                                             (2014, 11), (2024, 11), (2025, 13), (2026, 13), (2090, 13)])
def test_each_version_of_the_law_has_its_number_of_days(year: int, count: int) -> None:
    """1949: 7 days; 1999 revision: 10; 2007 and 2013 revisions: 11; 2024 revision (from 2025): 13."""
    assert len(statutory_holidays(year)) == count


def test_2027_statutory_days_are_those_of_domain_md() -> None:
    """2027 as DOMAIN.md has it: 元旦 1/1, 春节 2/5–2/8, 清明 4/5, 劳动节 5/1–2, 端午 6/9, 中秋 9/15, 国庆 10/1–3."""
    assert statutory_days(2027) == {
        date(2027, 1, 1): "元旦",
        date(2027, 2, 5): "春节", date(2027, 2, 6): "春节", date(2027, 2, 7): "春节", date(2027, 2, 8): "春节",
        date(2027, 4, 5): "清明节",
        date(2027, 5, 1): "劳动节", date(2027, 5, 2): "劳动节",
        date(2027, 6, 9): "端午节",
        date(2027, 9, 15): "中秋节",
        date(2027, 10, 1): "国庆节", date(2027, 10, 2): "国庆节", date(2027, 10, 3): "国庆节",
    }
    assert [d.weekday() for d in (date(2027, 1, 1), date(2027, 2, 5), date(2027, 4, 5))] == [4, 4, 0]


def test_spring_festival_changes_with_the_revisions() -> None:
    """2013: 除夕, 初一, 初二; 2014: 初一–初三 without 除夕; 2025: 除夕 and 初一–初三."""
    spring = {y: [h.day for h in statutory_holidays(y) if h.key == "spring_festival"] for y in (2013, 2014, 2025)}
    assert spring[2013] == [date(2013, 2, 9), date(2013, 2, 10), date(2013, 2, 11)]
    assert spring[2014] == [date(2014, 1, 31), date(2014, 2, 1), date(2014, 2, 2)]
    assert spring[2025] == [date(2025, 1, 28), date(2025, 1, 29), date(2025, 1, 30), date(2025, 1, 31)]


def test_names_and_years_out_of_range() -> None:
    """A day's statutory name or None; a year without a law or lunar table is refused, never guessed."""
    assert statutory_name(date(2027, 10, 2)) == "国庆节"
    assert statutory_name(date(2027, 10, 4)) is None
    assert statutory_name(date(1900, 1, 1)) is None
    assert law_of(2025).name.endswith("（2024年修订）")
    with pytest.raises(YearOutOfRange):
        statutory_holidays(2100)
