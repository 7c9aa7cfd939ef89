"""HTTP routes of the central service (thin): the wall's views, alerts, thresholds, reports and the server-sent
event stream (``/health`` and ``/dead-letters`` come with every service: ``shared.runtime.service_app``). Reading
needs no token (the wall runs on a screen in the supervision room); acting on alerts and changing thresholds needs
a supervisor's token (``POST /sign-in``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field, create_model
from pydantic.fields import FieldInfo

from services.central import domain as d
from services.central import downlink, reports
from services.central.app import PREFIX, CentralApp
from shared import errors
from shared.http import RowId, SaneDate, StrictIn, Year, state_dependency

router = APIRouter(prefix=PREFIX)
App = Annotated[CentralApp, Depends(state_dependency("central"))]


async def supervisor(request: Request, app: App) -> str:
    return app.supervisor(request.headers.get("authorization"))


Supervisor = Annotated[str, Depends(supervisor)]


class SignIn(StrictIn):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class NoteIn(StrictIn):
    note: str | None = Field(None, max_length=1000)


class ArrangementIn(StrictIn):
    """国务院办公厅 节假日安排 of one year: weekdays off, weekend make-up days (调休), the notice's number."""

    holidays: list[SaneDate] = Field(max_length=60)
    workdays: list[SaneDate] = Field(default_factory=list, max_length=20)
    source: str = Field(min_length=4, max_length=60)


def _optional(f: FieldInfo) -> tuple[Any, FieldInfo]:
    """The field as optional (default None) with its bounds kept."""
    annotation: Any = f.annotation
    bounded: Any = Annotated[(annotation | None, *f.metadata)]
    return annotation | None, FieldInfo.from_annotated_attribute(bounded, None)


# Any subset of the thresholds, each with the bounds of ``Thresholds`` (so the OpenAPI shows them and a value
# out of range is refused at the edge); the others keep their values.
_THRESHOLD_FIELDS: dict[str, Any] = {name: _optional(f) for name, f in d.Thresholds.model_fields.items()}
ThresholdsIn: Any = create_model("ThresholdsIn", __base__=StrictIn, **_THRESHOLD_FIELDS)


def _site_id(site: str) -> str:
    if not (2 <= len(site) <= 32) or not site[0].isalpha():
        raise errors.BadRequest(f"大厅编号无效 / bad site id {site!r}")
    return site


@router.post("/sign-in")
async def sign_in(body: SignIn, app: App) -> dict[str, Any]:
    """A supervisor (监管/督导) signs in: {token} for ``Authorization: Bearer``."""
    return app.sign_in(body.username, body.password)


@router.get("/sites")
async def sites(app: App) -> list[dict[str, Any]]:
    """Every site at a glance: ``status`` green / yellow / red with ``reasons``, queues, windows, today's figures."""
    return await app.summaries()


@router.get("/sites/{site}")
async def site_detail(site: str, app: App) -> dict[str, Any]:
    """One site: its summary, every queue and window, and its unresolved alerts."""
    return await app.site_detail(_site_id(site))


@router.get("/sites/{site}/ratings-chain/verify")
async def verify_rating_chain(site: str, app: App) -> dict[str, Any]:
    """The site's rating chain (好差评) verified from its events alone: {ok, checked, broken_at, conflicts, reason}."""
    return await app.verify_rating_chain(_site_id(site))


@router.get("/sites/{site}/series")
async def site_series(site: str, app: App, day: SaneDate | None = None,
                      month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None) -> dict[str, Any]:
    """Waits and satisfaction of one site by hour of ``day`` (default today) or by day of ``month``."""
    _site_id(site)
    if day is not None and month is not None:
        raise errors.BadRequest("day 与 month 只能给一个 / give day or month, not both")
    if month is not None:
        return await reports.series_month(app, site, month)
    return await reports.series_day(app, site, day or app.today())


@router.get("/sites/{site}/attendance")
async def site_attendance(site: str, app: App, date: SaneDate | None = None) -> dict[str, Any]:
    """考勤: one row per window on ``date`` (default today): ``window_no, staff_id, first_sign_in, last_sign_out,
    staffed_s, paused_s, idle_while_waiting_s, flags`` (late_start, early_leave, empty_window, idle_while_waiting),
    plus ``empty_s`` (空窗 seconds in office hours while people waited) and ``waiting_left`` (people still waiting
    at the last sign-out)."""
    return await reports.site_attendance(app, _site_id(site), date or app.today())


@router.put("/calendar/{year}")
async def put_calendar(year: Year, body: ArrangementIn, request: Request, app: App, who: Supervisor
                       ) -> dict[str, Any]:
    """发布放假安排: a new version of the year's arrangement, sent down to every site (applied within 60 s by a site
    online, on reconnect by one offline); 422 for dates of another year, a day both off and worked, a weekend
    holiday, a weekday make-up day or a source that is not a notice's number."""
    arrangement = downlink.checked(year, body.holidays, body.workdays, body.source)
    return await downlink.publish(app, request.app.state.runtime.bus, arrangement, who)


@router.get("/calendar/{year}")
async def get_calendar(year: Year, app: App, _: Supervisor) -> dict[str, Any]:
    """The arrangement of the year in force at central (``status`` published / none) and, per site, the version it
    applied, when, how many open cases moved, and its own days of that year (which still win there)."""
    return await downlink.view(app, year)


@router.get("/alerts")
async def alerts(app: App, state: Literal["open", "acknowledged", "resolved"] | None = None,
                 site: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """Alerts, the newest first (``state=open`` for those nobody has acknowledged yet)."""
    return await app.list_alerts(state, site, limit)


@router.post("/alerts/{alert_id}/ack")
async def ack_alert(alert_id: RowId, app: App, who: Supervisor, body: NoteIn | None = None) -> dict[str, Any]:
    """确认: a supervisor acknowledges an open alert (409 when it is not open)."""
    return await app.act(alert_id, "ack", who, body.note if body else None)


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(alert_id: RowId, app: App, who: Supervisor, body: NoteIn | None = None) -> dict[str, Any]:
    """解除: a supervisor resolves an open or acknowledged alert (409 when already resolved)."""
    return await app.act(alert_id, "resolve", who, body.note if body else None)


@router.get("/thresholds")
async def get_thresholds(app: App) -> dict[str, Any]:
    return app.thresholds_view()


@router.put("/thresholds")
async def put_thresholds(body: ThresholdsIn, app: App, who: Supervisor) -> dict[str, Any]:
    """Change some thresholds (a supervisor); 422 for a value out of range."""
    result = await app.set_thresholds(body.model_dump(exclude_none=True), who)
    await app.evaluate()
    return result


def _csv(text: str, name: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/reports/daily")
async def daily_report(app: App, day: Annotated[SaneDate, Query(alias="date")],
                       format: Literal["json", "csv"] = "json") -> Any:
    """Tickets, served, no-shows, waits (average, p90), service time, satisfaction, participation, overdue rate,
    complaints per site and for the region, with rankings; ``format=csv`` for Excel."""
    rep = {"period": "day", "date": day.isoformat(), **await reports.report(app, day, day)}
    if format == "csv":
        return _csv(reports.as_csv(rep), f"central-daily-{day.isoformat()}.csv")
    return rep


@router.get("/reports/monthly")
async def monthly_report(app: App, month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
                         format: Literal["json", "csv"] = "json") -> Any:
    """The monthly report (按月上报): the same figures summed over the month."""
    start, end = reports.parse_month(month)
    rep = {"period": "month", "month": month, **await reports.report(app, start, end)}
    if format == "csv":
        return _csv(reports.as_csv(rep), f"central-monthly-{month}.csv")
    return rep


@router.get("/stream")
async def stream(request: Request) -> StreamingResponse:
    """Server-sent events for the wall: ``sites`` on connect, then ``site`` and ``alert`` as they change."""
    return StreamingResponse(request.app.state.wall.stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
