"""Use cases of the site's calendar beyond the override table (``MattersApp.change_calendar``): the year as
every service of the site counts it, and installing a year's official arrangement (调休), which moves the due
dates of open cases in the same transaction. Central's publish (issue 14, part 2) calls ``install_arrangement``
with the supervisor's arrangement; until then a hall manager installs it through the API."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from services.matters.app import MattersApp
from shared import errors
from shared.auth import ClerkClaims
from shared.holidays import YearOutOfRange, law_of
from shared.logging import get_logger
from shared.workdays import Arrangement

log = get_logger("matters.calendar")


async def calendar_year(app: MattersApp, year: int) -> dict[str, Any]:
    """``{year, status, source, holidays, workdays}``: holidays are the weekdays off (statutory, arranged and the
    site's own), workdays the weekend days worked (调休 and the site's own)."""
    try:
        law_of(year)
    except YearOutOfRange as exc:
        raise errors.Unprocessable(str(exc)) from exc
    async with app.pool.acquire() as conn:
        cal = await app.calendar(conn)
    return {"year": year, "status": cal.status(year), "source": cal.source_of(year),
            "holidays": [d.isoformat() for d in cal.days_off_on_weekdays(year)],
            "workdays": [d.isoformat() for d in cal.workdays_on_weekends(year)]}


def checked_arrangement(year: int, holidays: list[date], workdays: list[date], source: str) -> Arrangement:
    """The arrangement, or 422 for dates of another year, a day both off and worked, a weekend 'holiday' or a
    weekday 'make-up day' (the notice lists only the days that differ from the week)."""
    try:
        arrangement = Arrangement(year, frozenset(holidays), frozenset(workdays), source)
    except ValueError as exc:
        raise errors.Unprocessable(str(exc)) from exc
    weekend_off = sorted(d for d in holidays if d.weekday() >= 5)
    weekday_worked = sorted(d for d in workdays if d.weekday() < 5)
    if weekend_off or weekday_worked:
        wrong = ", ".join(map(str, weekend_off + weekday_worked))
        raise errors.Unprocessable("放假日须为周一至周五、调休上班日须为周六或周日 / holidays must be weekdays and "
                                   f"make-up days weekends: {wrong}")
    return arrangement


async def install_arrangement(app: MattersApp, by: str, arrangement: Arrangement) -> int:
    """Install (or replace) a year's official arrangement and move the due dates of open cases, in one
    transaction; returns how many moved."""
    async with app.pool.acquire() as conn, conn.transaction():
        moved = await install_arrangement_on(conn, app, by, arrangement)
    app.calendar_changed.set()
    return moved


async def install_arrangement_on(conn: asyncpg.Connection, app: MattersApp, by: str, arrangement: Arrangement,
                                 central_version: int | None = None) -> int:
    """``install_arrangement`` in the caller's transaction (central's downlink: with its inbox claim and its
    event); the caller sets ``app.calendar_changed`` after commit."""
    await app.store.set_calendar_arrangement(conn, arrangement.year, sorted(arrangement.holidays),
                                             sorted(arrangement.workdays), arrangement.source, by, app.now(),
                                             central_version)
    moved = await app.recount_due_dates(conn, await app.calendar(conn, fresh=True))
    log.info("calendar_arrangement_installed", year=arrangement.year, source=arrangement.source, by=by,
             holidays=len(arrangement.holidays), workdays=len(arrangement.workdays), moved=moved)
    return moved


async def install_by_manager(app: MattersApp, claims: ClerkClaims, arrangement: Arrangement) -> int:
    if claims.role != "manager":
        raise errors.Forbidden("仅大厅负责人可安装放假安排 / only a hall manager may install the arrangement")
    return await install_arrangement(app, claims.staff_id, arrangement)
