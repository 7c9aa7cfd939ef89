"""Events of central (监管中心) for the sites: they travel down (shared/downlink.py) as ``hall.central.<type>``."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from shared.events.base import EventData


class CalendarPublished(EventData):
    """The province's arrangement of a year (国务院办公厅 节假日安排: weekdays off, weekend make-up days, 调休),
    for every site. ``version`` counts the publications of that year at central: a higher one supersedes."""

    TYPE = "central.calendar.published"
    year: int = Field(ge=2000, le=2200)
    version: int = Field(ge=1)
    holidays: list[date]
    workdays: list[date]
    source: str = Field(min_length=1, max_length=100)  # the notice's number, e.g. 国办发明电〔2026〕X号
    published_by: str
    published_at: datetime
