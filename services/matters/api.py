"""HTTP routes of the matters service (thin: parse, call the use case, shape the answer).

Reading the catalog and working days is open; cases need a staff token (issued by the queue service at
window sign-in, back-office sign-in or manager sign-in, verified here with the site's shared secret): a window
clerk accepts cases; back-office staff (后台) see and handle their department's cases only and have the
worklist; changing the catalog or the calendar needs a hall manager's token. The 一次性告知单 page is open: it
shows masked data only, and the citizen reprints it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import Field

from services.matters import actions, calendar, worklist
from services.matters import domain as d
from services.matters.app import MattersApp
from services.matters.catalog import QUEUE_PATTERN, SiteChange
from services.matters.deadlines import check_deadlines
from services.matters.views import PREFIX, matter_view, notice_html
from shared import errors
from shared.auth import ClerkClaims
from shared.http import SaneDate, StrictIn, Year, clerk_claims, state_dependency
from shared.workdays import NoWorkingDays

router = APIRouter(prefix=PREFIX)


class ApplicantIn(StrictIn):
    name: str = Field(min_length=1, max_length=40)
    id_no: str = Field(min_length=1, max_length=32)
    phone: str | None = Field(None, max_length=20)


class CaseIn(StrictIn):
    matter_id: str = Field(min_length=1, max_length=64)
    ticket_id: uuid.UUID | None = None
    applicant: ApplicantIn
    provided: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=50)
    # conditional materials whose condition applies to this applicant (e.g. 委托他人代办的)
    applicable: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=50)


class StepIn(StrictIn):
    step: str = Field(min_length=1, max_length=24)


class SuspendIn(StrictIn):
    reason_code: Literal[tuple(d.SUSPEND_REASONS)]  # type: ignore[valid-type]  # the domain's reason codes
    note: str | None = Field(None, max_length=200)


class CompleteIn(StrictIn):
    result: Literal["approved", "rejected"]


class MatterChangeIn(StrictIn):
    enabled: bool | None = None
    queue: str | None = Field(None, pattern=QUEUE_PATTERN)
    promised_days: int | None = Field(None, ge=0, le=365)


class CalendarDayIn(StrictIn):
    workday: bool
    note: str | None = Field(None, max_length=100)


class ArrangementIn(StrictIn):
    """A year's official arrangement (国务院办公厅关于××年部分节假日安排的通知)."""

    holidays: list[SaneDate] = Field(max_length=60)  # weekdays off (statutory ones may be listed or not)
    workdays: list[SaneDate] = Field(max_length=30)  # weekend days worked (调休)
    source: str = Field(min_length=2, max_length=100)  # the notice's number


App = Annotated[MattersApp, Depends(state_dependency("matters"))]
Clerk = Annotated[ClerkClaims, Depends(clerk_claims)]


# --- catalog ------------------------------------------------------------------------------------------
@router.get("/matters")
async def list_matters(app: App, include_disabled: Annotated[bool, Query(alias="all")] = False
                       ) -> list[dict[str, Any]]:
    """The matters this site serves (``all=true``: the whole catalog, with what the site disabled)."""
    async with app.pool.acquire() as conn:
        matters = await app.matters(conn)
    return [matter_view(app.site, m) for m in matters.values() if include_disabled or m.enabled]


@router.get("/matters/{matter_id}")
async def get_matter(matter_id: str, app: App) -> dict[str, Any]:
    async with app.pool.acquire() as conn:
        m = (await app.matters(conn)).get(matter_id)
    if m is None:
        raise errors.NotFound(f"事项目录中没有 / no matter {matter_id} in the catalog")
    return matter_view(app.site, m)


@router.put("/matters/{matter_id}/site-change")
async def change_matter(matter_id: str, body: MatterChangeIn, app: App, claims: Clerk) -> dict[str, Any]:
    """A hall manager enables, disables, re-routes or shortens the promised limit of a matter at this site."""
    change = SiteChange(**body.model_dump())
    return matter_view(app.site, await app.change_matter(claims, matter_id, change))


@router.delete("/matters/{matter_id}/site-change")
async def reset_matter(matter_id: str, app: App, claims: Clerk) -> dict[str, Any]:
    """Drop the manager's change: the matter is as the catalog and the site file have it."""
    return matter_view(app.site, await app.change_matter(claims, matter_id, None))


# --- working days -------------------------------------------------------------------------------------
@router.get("/working-days")
async def working_days(app: App, start: SaneDate, days: Annotated[int, Query(ge=0, le=365)]) -> dict[str, Any]:
    """The ``days``-th working day after ``start`` (次日起算), with warnings for years counted by weekends."""
    try:
        return await app.working_days(start, days)
    except NoWorkingDays as exc:
        raise errors.Unprocessable(f"日历中没有足够的工作日 / {exc}") from exc


@router.get("/calendar/overrides")
async def calendar_overrides(app: App, year: Year | None = None) -> list[dict[str, Any]]:
    return await app.calendar_overrides(year)


@router.put("/calendar/overrides/{day}")
async def set_calendar_override(day: SaneDate, body: CalendarDayIn, app: App, claims: Clerk) -> dict[str, Any]:
    """Mark a day a working day or a holiday at this site; due dates of open cases move with it."""
    moved = await app.change_calendar(claims, day, body.workday, body.note)
    return {"day": day.isoformat(), "workday": body.workday, "note": body.note, "cases_moved": moved}


@router.delete("/calendar/overrides/{day}")
async def delete_calendar_override(day: SaneDate, app: App, claims: Clerk) -> dict[str, Any]:
    moved = await app.change_calendar(claims, day, None, None)
    return {"day": day.isoformat(), "deleted": True, "cases_moved": moved}


# after /calendar/overrides: a path parameter would otherwise catch 'overrides' (and answer 422)
@router.get("/calendar/{year}")
async def calendar_year(year: Year, app: App) -> dict[str, Any]:
    """The year as this site counts it: ``official`` with the arrangement's source, or ``provisional``
    (statutory holidays only); ``holidays`` = weekdays off, ``workdays`` = weekend days worked."""
    return await calendar.calendar_year(app, year)


@router.put("/calendar/{year}/arrangement")
async def install_arrangement(year: Year, body: ArrangementIn, app: App, claims: Clerk) -> dict[str, Any]:
    """Install (replace) the year's official arrangement (manager; central's publish uses the same use case);
    due dates of open cases move in the same transaction."""
    arrangement = calendar.checked_arrangement(year, body.holidays, body.workdays, body.source)
    moved = await calendar.install_by_manager(app, claims, arrangement)
    return {**await calendar.calendar_year(app, year), "cases_moved": moved}


# --- cases --------------------------------------------------------------------------------------------
@router.post("/cases", status_code=201, responses={
    201: {"description": "accepted (受理): {id, status: 'accepted', due_at, case}"},
    422: {"description": "materials missing: {status: 'materials_missing', missing, notice_url, notice}, "
                         "or invalid input: {error, message}"}})
async def accept_case(body: CaseIn, app: App, claims: Clerk) -> JSONResponse:
    """受理 at a window: every missing material at once (一次性告知), or a case owned by this clerk (首问负责).
    A 即办件 is completed in the same step."""
    status, answer = await app.accept(
        claims, matter_id=body.matter_id, ticket_id=body.ticket_id, name=body.applicant.name,
        id_no=body.applicant.id_no, phone=body.applicant.phone, provided=body.provided, applicable=body.applicable)
    return JSONResponse(answer, status_code=status)


@router.get("/cases")
async def list_cases(app: App, claims: Clerk, status: d.Status | None = None, matter_id: str | None = None,
                     mine: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """Cases newest first, masked, each with ``remaining_working_days`` and ``card`` (``mine=true``: the ones this
    clerk accepted); back-office staff get their department's only."""
    return await worklist.list_cases(app, claims, status=status.value if status else None, matter_id=matter_id,
                                     mine=mine, limit=limit)


@router.get("/worklist")
async def get_worklist(app: App, claims: Clerk, department: Annotated[str | None, Query(max_length=30)] = None,
                       limit: Annotated[int, Query(ge=1, le=2000)] = 500) -> list[dict[str, Any]]:
    """后台工作台: open cases, most urgent first (overdue first; suspended ones, with no due date, last):
    ``[{id, matter_id, matter_name, department, status, accepted_at, due_at, remaining_working_days, card,
    applicant (masked), window_no, staff_id, next_steps}]``. Back-office token: its department; manager token:
    every department, or ``department``."""
    return await worklist.worklist(app, claims, department=department, limit=limit)


@router.get("/cases/{case_id}")
async def get_case(case_id: uuid.UUID, app: App, claims: Clerk) -> dict[str, Any]:
    return await app.get_case(claims, case_id)


@router.get("/cases/{case_id}/notice", response_class=HTMLResponse)
async def notice_page(case_id: uuid.UUID, app: App) -> str:
    """The printable 一次性告知单."""
    return notice_html(await app.notice(case_id))


@router.get("/cases/{case_id}/notice.json")
async def notice_json(case_id: uuid.UUID, app: App) -> dict[str, Any]:
    """The 一次性告知单 as data, with the SMS (template, parameters, text) made from it."""
    return await app.notice(case_id)


@router.post("/cases/{case_id}/steps")
async def complete_step(case_id: uuid.UUID, body: StepIn, app: App, claims: Clerk) -> dict[str, Any]:
    return await actions.complete_step(app, claims, case_id, body.step)


@router.post("/cases/{case_id}/suspend")
async def suspend(case_id: uuid.UUID, body: SuspendIn, app: App, claims: Clerk) -> dict[str, Any]:
    return await actions.suspend(app, claims, case_id, body.reason_code, body.note)


@router.post("/cases/{case_id}/resume")
async def resume(case_id: uuid.UUID, app: App, claims: Clerk) -> dict[str, Any]:
    return await actions.resume(app, claims, case_id)


@router.post("/cases/{case_id}/complete")
async def complete(case_id: uuid.UUID, body: CompleteIn, app: App, claims: Clerk) -> dict[str, Any]:
    return await actions.complete(app, claims, case_id, body.result)


@router.post("/cases/{case_id}/ready-for-pickup")
async def ready_for_pickup(case_id: uuid.UUID, app: App, claims: Clerk) -> dict[str, Any]:
    return await actions.ready_for_pickup(app, claims, case_id)


@router.post("/cases/{case_id}/picked-up")
async def picked_up(case_id: uuid.UUID, app: App, claims: Clerk) -> dict[str, Any]:
    return await actions.picked_up(app, claims, case_id)


@router.post("/deadlines/check")
async def run_deadline_check(app: App, claims: Clerk) -> dict[str, Any]:
    """Run the yellow/red card check now (it also runs every ``matters_check_interval_s``)."""
    if claims.role != "manager":
        raise errors.Forbidden("仅大厅负责人可触发检查 / only a hall manager may run the check")
    shown = await check_deadlines(app)
    return {"shown": [{"case_id": str(c), "level": lv.value} for c, lv in shown]}
