"""Working days (工作日): the national calendar now lives in ``shared/workdays.py`` (the ratings service needs it
too); re-exported here so that the matters service's imports stay as they were."""

from __future__ import annotations

from shared.workdays import MAX_SCAN_DAYS, ONE_DAY, NoWorkingDays, WorkCalendar

__all__ = ["MAX_SCAN_DAYS", "ONE_DAY", "NoWorkingDays", "WorkCalendar"]
