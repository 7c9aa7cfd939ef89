"""Working days (工作日) in ``shared/workdays.py``: China's statutory holidays and make-up working
days (调休) from chinesecalendar or an installed arrangement, a site's override table on top, weekends and
the statutory holidays (and a warning) for years without an official arrangement. The class name carries
"Matters" so ``-k matters`` selects these tests."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.workdays import Arrangement, NoWorkingDays, WorkCalendar


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


class TestMattersWorkingDays:
    def test_spring_festival_2026_counts_the_make_up_saturday_and_skips_the_holiday(self) -> None:
        """Accepted Friday 2026-02-13 with 5 working days: Sat 02-14 (调休) counts, 02-15..02-23 do not: due 02-27."""
        cal = WorkCalendar()
        assert cal.is_workday(date(2026, 2, 14))  # a Saturday, made a working day
        assert not any(cal.is_workday(d) for d in _days(date(2026, 2, 15), date(2026, 2, 23)))
        assert cal.add_working_days(date(2026, 2, 13), 5) == date(2026, 2, 27)
        assert [cal.add_working_days(date(2026, 2, 13), n) for n in range(1, 6)] == [
            date(2026, 2, 14), date(2026, 2, 24), date(2026, 2, 25), date(2026, 2, 26), date(2026, 2, 27)]

    def test_spring_festival_second_make_up_saturday_counts(self) -> None:
        """Saturday 2026-02-28 is the festival's second make-up working day: day 6 after 02-13."""
        assert WorkCalendar().add_working_days(date(2026, 2, 13), 6) == date(2026, 2, 28)

    def test_national_day_2026_skips_the_golden_week_and_counts_both_make_up_days(self) -> None:
        """Sun 09-20 and Sat 10-10 are working days; 09-25 (中秋) and 10-01..10-07 are not."""
        cal = WorkCalendar()
        assert cal.add_working_days(date(2026, 9, 18), 1) == date(2026, 9, 20)  # Fri → the make-up Sunday
        assert not cal.is_workday(date(2026, 9, 25))
        assert not any(cal.is_workday(d) for d in _days(date(2026, 10, 1), date(2026, 10, 7)))
        assert [cal.add_working_days(date(2026, 9, 30), n) for n in (1, 2, 3, 4)] == [
            date(2026, 10, 8), date(2026, 10, 9), date(2026, 10, 10), date(2026, 10, 12)]

    def test_into_2027_is_provisional_with_the_statutory_holidays_and_says_so_once(self) -> None:
        """2027 is unknown to chinesecalendar 1.11.0: weekends and the statutory days count, the caller is told once."""
        told: list[int] = []
        cal = WorkCalendar(on_unknown_year=told.append)
        assert cal.knows(2026) and not cal.knows(2027)
        assert cal.status(2026) == "official" and cal.status(2027) == "provisional"
        # Thu 2026-12-31 is day 1; Fri 2027-01-01 (元旦) is off, so Mon 01-04 is day 2
        assert not cal.is_workday(date(2027, 1, 1))
        assert cal.add_working_days(date(2026, 12, 30), 5) == date(2027, 1, 7)
        assert cal.add_working_days(date(2027, 3, 1), 40) == date(2027, 4, 27)  # Mon 04-05 (清明) is off
        assert told == [2027]
        assert cal.unknown_years(date(2026, 12, 30), date(2028, 1, 1)) == [2027, 2028]

    def test_override_table_fills_in_2027(self) -> None:
        """A site marks Sat 2027-01-02 a make-up working day in its override table: the deadline is a day earlier."""
        cal = WorkCalendar({date(2027, 1, 1): False})
        assert cal.add_working_days(date(2026, 12, 30), 5) == date(2027, 1, 7)
        cal = WorkCalendar({date(2027, 1, 1): False, date(2027, 1, 2): True})  # and a make-up Saturday
        assert cal.add_working_days(date(2026, 12, 30), 5) == date(2027, 1, 6)

    def test_override_table_wins_over_the_package(self) -> None:
        """A local holiday added by the site beats chinesecalendar, and so does an extra working day."""
        cal = WorkCalendar({date(2026, 2, 27): False, date(2026, 2, 22): True})
        assert not cal.is_workday(date(2026, 2, 27)) and cal.is_workday(date(2026, 2, 22))
        assert cal.add_working_days(date(2026, 2, 13), 5) == date(2026, 2, 26)

    def test_zero_days_is_the_start_and_negative_days_are_refused(self) -> None:
        """0 working days after a day is that day; a negative count is an error, not a date."""
        cal = WorkCalendar()
        assert cal.add_working_days(date(2026, 2, 15), 0) == date(2026, 2, 15)
        with pytest.raises(ValueError, match="negative"):
            cal.add_working_days(date(2026, 2, 15), -1)

    def test_count_between_is_half_open(self) -> None:
        """Working days in (start, end]: the start day never counts, the end day does."""
        cal = WorkCalendar()
        assert cal.count_between(date(2026, 2, 13), date(2026, 2, 27)) == 5
        assert cal.count_between(date(2026, 2, 27), date(2026, 2, 27)) == 0
        assert cal.count_between(date(2026, 2, 27), date(2026, 2, 13)) == 0

    def test_a_calendar_without_working_days_raises_instead_of_hanging(self) -> None:
        """An override source that declares no working day at all ends in a clear error."""
        cal = WorkCalendar(source=lambda d: False)
        with pytest.raises(NoWorkingDays):
            cal.add_working_days(date(2026, 1, 5), 1)

    @given(start=st.dates(date(2025, 1, 1), date(2027, 12, 31)), n=st.integers(0, 60))
    def test_adding_then_counting_gives_back_n_and_lands_on_a_working_day(self, start: date, n: int) -> None:
        """For any start and N: exactly N working days lie in (start, due], and due is one of them."""
        cal = WorkCalendar()
        due = cal.add_working_days(start, n)
        assert cal.count_between(start, due) == n
        assert n == 0 or cal.is_workday(due)


ARRANGED_2027 = Arrangement(2027, frozenset({date(2027, 2, 9), date(2027, 2, 10), date(2027, 2, 11),
                                             date(2027, 10, 4), date(2027, 10, 5)}),
                            frozenset({date(2027, 2, 20), date(2027, 10, 9)}), "国办发明电〔2026〕X号")
DAYS_2027 = st.dates(date(2027, 1, 1), date(2027, 12, 31))


class TestMattersCalendarLayers:
    def test_an_installed_arrangement_makes_the_year_official(self) -> None:
        """An installed 2027 arrangement: official with its source; its days off and make-up days apply."""
        cal = WorkCalendar(arrangements={2027: ARRANGED_2027})
        assert cal.status(2027) == "official" and cal.source_of(2027) == "国办发明电〔2026〕X号"
        assert not cal.is_workday(date(2027, 2, 9)) and cal.is_workday(date(2027, 2, 20))
        assert not cal.is_workday(date(2027, 2, 8))  # 初三: statutory, off though the arrangement lists it not
        assert cal.days_off_on_weekdays(2027)[:4] == [date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 8),
                                                      date(2027, 2, 9)]
        assert cal.workdays_on_weekends(2027) == [date(2027, 2, 20), date(2027, 10, 9)]

    def test_overrides_win_over_the_arrangement(self) -> None:
        """The site's own override beats the installed arrangement, both ways."""
        cal = WorkCalendar({date(2027, 2, 20): False, date(2027, 2, 9): True}, arrangements={2027: ARRANGED_2027})
        assert cal.is_workday(date(2027, 2, 9)) and not cal.is_workday(date(2027, 2, 20))

    def test_provisional_year_lists_the_statutory_weekdays_and_names_the_law(self) -> None:
        """2027 without arrangement: the weekday statutory holidays are its holidays, no make-up days."""
        cal = WorkCalendar()
        assert cal.days_off_on_weekdays(2027) == [date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 8),
                                                  date(2027, 4, 5), date(2027, 6, 9), date(2027, 9, 15),
                                                  date(2027, 10, 1)]
        assert cal.workdays_on_weekends(2027) == []
        assert "2024年修订" in cal.source_of(2027)
        assert cal.why_closed(date(2027, 10, 1)) == "国庆节" and cal.why_closed(date(2027, 1, 9)) == "休息日"
        assert cal.why_closed(date(2027, 1, 4)) is None

    def test_an_arrangement_with_stray_or_contradicting_days_is_refused(self) -> None:
        """A date of another year, or one both off and worked, is an error, not a silent calendar."""
        with pytest.raises(ValueError, match="outside"):
            Arrangement(2027, frozenset({date(2026, 12, 31)}))
        with pytest.raises(ValueError, match="both"):
            Arrangement(2027, frozenset({date(2027, 2, 9)}), frozenset({date(2027, 2, 9)}))
        assert Arrangement.from_json(ARRANGED_2027.as_json()) == ARRANGED_2027

    @given(start=DAYS_2027, n=st.integers(0, 60), off=st.sets(DAYS_2027, max_size=20),
           arranged=st.sets(DAYS_2027, max_size=20))
    def test_only_adding_days_off_never_makes_a_deadline_earlier(self, start: date, n: int, off: set[date],
                                                                 arranged: set[date]) -> None:
        """Overrides and an arrangement that only add days off give a deadline no earlier than the statutory one."""
        statutory = WorkCalendar().add_working_days(start, n)
        layered = WorkCalendar(dict.fromkeys(off, False),
                               arrangements={2027: Arrangement(2027, frozenset(arranged), source="test")})
        assert layered.add_working_days(start, n) >= statutory
