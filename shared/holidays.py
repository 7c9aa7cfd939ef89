"""The statutory holidays (法定节假日) of any year, computed by law, pure.

全国年节及纪念日放假办法 in the version in force that year; lunar dates (除夕, 正月初一, 端午 五月初五,
中秋 八月十五) come from ``lunardate`` (tables for lunar years 1900–2099), 清明 is the solar term computed by
``chinese_calendar.get_solar_terms`` (寿星公式), nothing is typed in per year:

| in force | 元旦 | 春节 | 清明 | 劳动节 | 端午 | 中秋 | 国庆 | days |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
| 1950–1999 (1949) | 1 Jan | 初一–初三 | – | 1 May | – | – | 1–2 Oct | 7 |
| 2000–2007 (1999 revision) | 1 Jan | 初一–初三 | – | 1–3 May | – | – | 1–3 Oct | 10 |
| 2008–2013 (2007 revision) | 1 Jan | 除夕, 初一, 初二 | solar term | 1 May | 五月初五 | 八月十五 | 1–3 Oct | 11 |
| 2014–2024 (2013 revision) | 1 Jan | 初一–初三 | solar term | 1 May | 五月初五 | 八月十五 | 1–3 Oct | 11 |
| 2025– (2024 revision) | 1 Jan | 除夕, 初一–初三 | solar term | 1–2 May | 五月初五 | 八月十五 | 1–3 Oct | 13 |

(The 1999 revision took effect in September 1999; its year is counted from 2000, the first whole year.)
Which weekdays are also off and which weekends are worked (调休) is the State Council's yearly arrangement,
official data that is not computed here (``shared/workdays.py`` layers it on top).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from chinese_calendar import get_solar_terms
from lunardate import LunarDate

FIRST_YEAR, LAST_YEAR = 1950, 2099


class YearOutOfRange(ValueError):
    """No law (before 1950) or no lunar table (after 2099) for that year."""


@dataclass(frozen=True)
class Law:
    """One version of 全国年节及纪念日放假办法: which days its holidays take."""

    name: str
    first_year: int
    new_year_eve: bool  # 除夕 is a day off
    spring_days: int  # 正月初一 and the days after it
    qingming_duanwu_zhongqiu: bool
    labour_days: int  # from 1 May
    national_days: int  # from 1 October


LAWS = (  # newest first
    Law("全国年节及纪念日放假办法（2024年修订）", 2025, True, 3, True, 2, 3),
    Law("全国年节及纪念日放假办法（2013年修订）", 2014, False, 3, True, 1, 3),
    Law("全国年节及纪念日放假办法（2007年修订）", 2008, True, 2, True, 1, 3),
    Law("全国年节及纪念日放假办法（1999年修订）", 2000, False, 3, False, 3, 3),
    Law("全国年节及纪念日放假办法（1949年）", FIRST_YEAR, False, 3, False, 1, 2),
)


@dataclass(frozen=True, order=True)
class StatutoryHoliday:
    day: date
    name: str  # 元旦, 春节, 清明节, 劳动节, 端午节, 中秋节, 国庆节
    key: str  # new_year, spring_festival, qingming, labour_day, dragon_boat, mid_autumn, national_day


def law_of(year: int) -> Law:
    """The version of the law in force in ``year``."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise YearOutOfRange(f"{year}年不在可计算范围（{FIRST_YEAR}–{LAST_YEAR}）/ year {year} out of range")
    return next(law for law in LAWS if year >= law.first_year)


def _lunar(year: int, month: int, day: int) -> date:
    return LunarDate(year, month, day).to_solar_date()


def qingming(year: int) -> date:
    """清明: the day of the solar term (寿星公式 of chinese_calendar)."""
    return next(d for d, name in get_solar_terms(date(year, 4, 1), date(year, 4, 30)) if name == "清明")


@cache
def statutory_holidays(year: int) -> tuple[StatutoryHoliday, ...]:
    """Every statutory day off of ``year`` (Gregorian), in date order.

    春节 belongs to the Gregorian year of its 正月初一; 除夕 is the day before (always in the same January or
    February). Lunar festivals never leave their Gregorian year, so each year's list is complete."""
    law = law_of(year)
    out = [StatutoryHoliday(date(year, 1, 1), "元旦", "new_year")]
    first = _lunar(year, 1, 1)
    spring = [first - timedelta(days=1)] if law.new_year_eve else []
    spring += [first + timedelta(days=i) for i in range(law.spring_days)]
    out += [StatutoryHoliday(d, "春节", "spring_festival") for d in spring]
    if law.qingming_duanwu_zhongqiu:
        out += [StatutoryHoliday(qingming(year), "清明节", "qingming"),
                StatutoryHoliday(_lunar(year, 5, 5), "端午节", "dragon_boat"),
                StatutoryHoliday(_lunar(year, 8, 15), "中秋节", "mid_autumn")]
    out += [StatutoryHoliday(date(year, 5, 1 + i), "劳动节", "labour_day") for i in range(law.labour_days)]
    out += [StatutoryHoliday(date(year, 10, 1 + i), "国庆节", "national_day") for i in range(law.national_days)]
    return tuple(sorted(out))


def statutory_days(year: int) -> dict[date, str]:
    """``{day: name}`` of the statutory holidays of ``year``."""
    return {h.day: h.name for h in statutory_holidays(year)}


def statutory_name(day: date) -> str | None:
    """The statutory holiday ``day`` belongs to, or None (also None for a year out of range)."""
    try:
        return statutory_days(day.year).get(day)
    except YearOutOfRange:
        return None
