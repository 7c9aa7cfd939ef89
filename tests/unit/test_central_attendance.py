"""The attendance fold (考勤) as pure rules: time staffed and paused, idle while people wait, 空窗 in office hours
only, and each flag at its threshold."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from services.central.attendance import LogEntry, fold, totals
from services.central.domain import Thresholds

TZ = ZoneInfo("Asia/Shanghai")


def hm(h: int, m: int) -> datetime:
    return datetime(2026, 11, 23, h, m, tzinfo=TZ)


SESSIONS = [(hm(9, 0), hm(12, 0)), (hm(13, 30), hm(17, 0))]


def one(entries: list[LogEntry], until: datetime, **t: int) -> dict:
    return fold(entries, windows=[1], sessions=SESSIONS, start=hm(0, 0), until=until, t=Thresholds(**t))[0]


def test_a_paused_lunch_taken_at_noon_is_no_early_leave() -> None:
    """Paused 12:00–13:30: paused time counted, staffed throughout, no flag; nobody waiting means no idle time."""
    row = one([LogEntry(1, hm(9, 0), "in", "s001"), LogEntry(1, hm(12, 0), "pause"),
               LogEntry(1, hm(13, 30), "resume"), LogEntry(1, hm(17, 0), "out")], hm(18, 0))
    assert (row["staffed_s"], row["paused_s"], row["idle_while_waiting_s"], row["flags"]) == (8 * 3600, 5400, 0, [])


def test_a_pause_at_1140_is_an_early_leave_unless_taken_back() -> None:
    """11:40 for 12:00 (the seeds' example) is 早退; resuming at 11:45 takes it back."""
    base = [LogEntry(1, hm(9, 0), "in", "s001"), LogEntry(1, hm(11, 40), "pause")]
    assert one(base, hm(12, 30))["flags"] == ["early_leave"]
    assert one([*base, LogEntry(1, hm(11, 45), "resume")], hm(12, 30))["flags"] == []


def test_idle_and_empty_window_follow_the_waiting_and_their_thresholds() -> None:
    """People wait from 09:00: a window signed in at 09:20 is late and empty for 20 min (> 15); idle from 09:20 to a
    call at 09:31 is 11 min, flagged at 10 but not at 15; the lunch break is no 空窗."""
    entries = [LogEntry(1, hm(9, 0), "wait"), LogEntry(1, hm(9, 20), "in", "s001"), LogEntry(1, hm(9, 31), "call"),
               LogEntry(1, hm(11, 59), "free"), LogEntry(1, hm(11, 59), "out")]
    row = one(entries, hm(13, 30))
    assert row["flags"] == ["late_start", "empty_window", "idle_while_waiting"]
    assert row["empty_s"] == 20 * 60 + 60 and row["idle_while_waiting_s"] == 11 * 60
    assert one(entries, hm(13, 30), idle_while_waiting_min=15)["flags"] == ["late_start", "empty_window"]
    assert totals([row]) == {"late_starts": 1, "early_leaves": 0, "empty_window_min": 21}
