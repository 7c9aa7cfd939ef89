"""Events of the matters service (事项/办件)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from shared.events.base import EventData


class CaseAccepted(EventData):
    TYPE = "matters.case.accepted"
    case_id: uuid.UUID
    matter_id: str
    kind: Literal["instant", "promised"]
    window_no: int | None
    staff_id: str
    ticket_id: uuid.UUID | None = None
    time_limit_days: int
    due_at: datetime | None
    department: str | None = None  # additive: the matter's department (科室), whose back office handles the case


class CaseMaterialsMissing(EventData):
    TYPE = "matters.case.materials_missing"
    case_id: uuid.UUID
    matter_id: str
    missing: list[str]


class CaseStepCompleted(EventData):
    TYPE = "matters.case.step_completed"
    case_id: uuid.UUID
    step: str
    department: str
    staff_id: str


class CaseSuspended(EventData):
    TYPE = "matters.case.suspended"
    case_id: uuid.UUID
    reason_code: str


class CaseResumed(EventData):
    TYPE = "matters.case.resumed"
    case_id: uuid.UUID
    reason_code: str


class CaseWarned(EventData):
    TYPE = "matters.case.warned"
    case_id: uuid.UUID
    level: Literal["yellow", "red"]
    due_at: datetime
    department: str | None = None  # additive: the department responsible (责任追究)
    kind: Literal["instant", "promised"] | None = None  # additive


class CaseCompleted(EventData):
    TYPE = "matters.case.completed"
    case_id: uuid.UUID
    result: Literal["approved", "rejected"]
    working_days_used: int
    overdue: bool
    department: str | None = None  # additive: the matter's department
    kind: Literal["instant", "promised"] | None = None  # additive: a promised case (承诺件) gets 一事一评


class CaseReadyForPickup(EventData):
    TYPE = "matters.case.ready_for_pickup"
    case_id: uuid.UUID
    matter_id: str
    pickup_by: date | datetime | None
    item: str | None = None  # additive: what to collect (the catalog's pickup.item, e.g. 社会保障卡)
    place: str | None = None  # additive: where (the site file's pickup_place, else the site's name)


class CasePickedUp(EventData):
    TYPE = "matters.case.picked_up"
    case_id: uuid.UUID


class CalendarDayOverride(EventData):
    """One of the site's own calendar days (the hall manager's table), as central sees it."""

    day: date
    workday: bool


class CalendarInstalled(EventData):
    """The site installed central's arrangement of ``year`` (version ``version``); ``cases_moved`` open cases got
    a new due date in the same transaction. ``overrides``: the site's own days of that year, which still win."""

    TYPE = "matters.calendar.installed"
    year: int
    version: int
    source: str
    cases_moved: int
    overrides: list[CalendarDayOverride] = []
