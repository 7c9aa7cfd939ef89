"""Office hours (办公时间), pure: the working sessions of a day (上午/下午), holidays and make-up working days, and
when tickets may be issued."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from services.queue.domain import IssuingClosed
from shared.workdays import WorkCalendar


@dataclass(frozen=True)
class OfficeHours:
    """Working sessions of a day (上午/下午) and when tickets may be issued."""

    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})  # ISO weekday numbers
    sessions: tuple[tuple[time, time], ...] = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))
    issue_cutoff_min: int = 0  # stop issuing this many minutes before the last session ends
    issue_during_lunch: bool = True
    open_early_min: int = 30  # tickets may be taken this long before the first session
    extra_closed_days: frozenset[date] = field(default_factory=frozenset)  # statutory holidays (法定节假日)
    extra_open_days: frozenset[date] = field(default_factory=frozenset)  # make-up working days (调休上班)

    def __post_init__(self) -> None:
        if not self.sessions:
            raise ValueError("office hours need at least one session")
        for start, end in self.sessions:
            if start >= end:
                raise ValueError(f"session {start}-{end} ends before it starts")
        ends = [s for s, _ in self.sessions[1:]]
        if any(prev_end > nxt for (_, prev_end), nxt in zip(self.sessions, ends, strict=False)):
            raise ValueError("sessions must be in order and must not overlap")

    def closed_reason(self, day: date, calendar: WorkCalendar | None = None) -> str | None:
        """None when the hall is open on ``day``; else why not, Chinese first. The site file's extra days win;
        then the site's calendar (statutory holidays, the arrangement's days off and 调休, the site's overrides);
        then the hall's own weekdays (a hall may open on Saturdays)."""
        if day in self.extra_open_days:
            return None
        if day in self.extra_closed_days:
            return "今日不办公 / the hall is closed today"
        why = calendar.why_closed(day) if calendar is not None else None
        if calendar is not None and why is None and day.weekday() >= 5:
            return None  # a make-up working day (调休上班)
        if why is not None and why != "休息日":
            if why == "节假日":
                return "今天是节假日，大厅不办公 / the hall is closed today (holiday)"
            return f"今天是法定节假日（{why}），大厅不办公 / the hall is closed today (statutory holiday)"
        if day.isoweekday() not in self.weekdays:
            return "今日不办公 / the hall is closed today"
        return None

    def is_open_day(self, day: date, calendar: WorkCalendar | None = None) -> bool:
        return self.closed_reason(day, calendar) is None

    def in_session(self, local: datetime, calendar: WorkCalendar | None = None) -> bool:
        t = local.time()
        return self.is_open_day(local.date(), calendar) and any(s <= t < e for s, e in self.sessions)

    def check_issue(self, local: datetime, calendar: WorkCalendar | None = None) -> None:
        """Raise IssuingClosed with the reason when a ticket may not be issued at ``local`` time."""
        reason = self.closed_reason(local.date(), calendar)
        if reason is not None:
            raise IssuingClosed(reason)
        t = local.time()
        first_start = _shift(self.sessions[0][0], -self.open_early_min)
        last_end = _shift(self.sessions[-1][1], -self.issue_cutoff_min)
        if t < first_start:
            raise IssuingClosed(f"尚未开始取号，{first_start:%H:%M} 开始 / issuing starts at {first_start:%H:%M}")
        if t >= last_end:
            raise IssuingClosed(f"今日取号已结束（{last_end:%H:%M}）/ issuing ended at {last_end:%H:%M}")
        in_break = t >= self.sessions[0][0] and not any(s <= t < e for s, e in self.sessions)
        if not self.issue_during_lunch and in_break:
            raise IssuingClosed("午休时间暂停取号 / no tickets during the lunch break")


def _shift(t: time, minutes: int) -> time:
    dt = datetime.combine(date(2000, 1, 3), t) + timedelta(minutes=minutes)
    return dt.time() if dt.date() == date(2000, 1, 3) else (time(0, 0) if minutes < 0 else time(23, 59, 59))


def office_hours_from_json(raw: dict[str, Any]) -> OfficeHours:
    """Office hours as the site file and ``site_config`` hold them (times as ``"09:00"``, days as ISO dates)."""

    def t(s: str) -> time:
        return time.fromisoformat(s)

    return OfficeHours(
        weekdays=frozenset(raw.get("weekdays", [1, 2, 3, 4, 5])),
        sessions=tuple((t(a), t(b)) for a, b in raw.get("sessions", [("09:00", "12:00"), ("13:30", "17:30")])),
        issue_cutoff_min=int(raw.get("issue_cutoff_min", 0)),
        issue_during_lunch=bool(raw.get("issue_during_lunch", True)),
        open_early_min=int(raw.get("open_early_min", 30)),
        extra_closed_days=frozenset(date.fromisoformat(str(d)) for d in raw.get("extra_closed_days", [])),
        extra_open_days=frozenset(date.fromisoformat(str(d)) for d in raw.get("extra_open_days", [])),
    )
