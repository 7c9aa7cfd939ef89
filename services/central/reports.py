"""Daily and monthly reports per site and for the whole region (按月上报), with rankings, as JSON and CSV; the series of
one site (by hour of a day, by day of a month); a site's attendance of a day (考勤). Sums of the per-day projection
rows, and the window log folded by ``attendance.fold``."""

from __future__ import annotations

import calendar
import csv
import io
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from services.central import attendance as at
from services.central import domain as d
from shared import errors

if TYPE_CHECKING:
    from services.central.app import CentralApp


def parse_month(month: str) -> tuple[date, date]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        first = date(year, mon, 1)
    except ValueError as exc:
        raise errors.BadRequest(f"月份格式应为 YYYY-MM / month must be YYYY-MM, got {month!r}") from exc
    return first, date(year, mon, calendar.monthrange(year, mon)[1])


def _add(into: dict[str, int], row: Any) -> None:
    for c in d.COUNTERS:
        into[c] = into.get(c, 0) + int(row[c] or 0)


async def report(app: CentralApp, start: date, end: date) -> dict[str, Any]:
    """Figures of every site and of the region over start..end, ranked by satisfaction and by wait."""
    async with app.pool.acquire() as conn:
        sites = {r["site"]: r for r in await app.store.sites(conn)}
        rows = {r["site"]: r for r in await app.store.day_rows(conn, start, end)}
        hists = await app.store.hist(conn, start, end)
        service_hists = await app.store.hist(conn, start, end, "s")
        absence = await attendance_totals(app, conn, start, end)
    region: dict[str, int] = {}
    region_hist: dict[int, int] = {}
    region_service: dict[int, int] = {}
    out = []
    for site in sorted(set(sites) | set(rows)):
        counters: dict[str, int] = {}
        if site in rows:
            _add(counters, rows[site])
            _add(region, rows[site])
        for b, n in hists.get(site, {}).items():
            region_hist[b] = region_hist.get(b, 0) + n
        for b, n in service_hists.get(site, {}).items():
            region_service[b] = region_service.get(b, 0) + n
        name = (sites[site]["name"] if site in sites else "") or app.config(site).name or site
        out.append({"site": site, "name": name, **d.figures(counters, hists.get(site), service_hists.get(site)),
                    **absence.get(site, at.totals([]))})
    by_sat = d.rank(out, "satisfaction", descending=True)
    by_wait = d.rank(out, "avg_wait_s", descending=False)
    for r in out:
        r["rank_satisfaction"] = by_sat.index(r["site"]) + 1
        r["rank_wait"] = by_wait.index(r["site"]) + 1
    region_absence = {k: sum(r[k] for r in out) for k in at.totals([])}
    return {"from": start.isoformat(), "to": end.isoformat(), "sites": out,
            "region": {"site": "region", "name": "全区合计", "sites": len(out),
                       **d.figures(region, region_hist, region_service), **region_absence},
            "rankings": {"satisfaction": by_sat, "wait": by_wait}}


def as_csv(rep: dict[str, Any]) -> str:
    """The report as CSV with Chinese headers and a UTF-8 BOM (so Excel shows the Chinese right)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([label for _, label in d.REPORT_COLUMNS])
    for r in [*rep["sites"], rep["region"]]:
        w.writerow(["" if r.get(k) is None else r.get(k) for k, _ in d.REPORT_COLUMNS])
    return "\ufeff" + buf.getvalue()


async def series_day(app: CentralApp, site: str, day: date) -> dict[str, Any]:
    """Waits and satisfaction by hour of ``day`` (hours with nothing are listed with zeros)."""
    async with app.pool.acquire() as conn:
        rows = {r["hour"]: r for r in await app.store.per_hour(conn, site, day)}
    points = []
    for hour in range(24):
        r = rows.get(hour)
        points.append({"hour": hour, "issued": r["issued"] if r else 0, "served": r["served"] if r else 0,
                       "avg_wait_s": d.avg(r["wait_sum"], r["wait_n"]) if r else None,
                       "satisfaction": d.ratio(r["satisfied"], r["judged"]) if r else None})
    return {"site": site, "day": day.isoformat(), "by": "hour", "points": points}


async def series_month(app: CentralApp, site: str, month: str) -> dict[str, Any]:
    """Waits (average and p90), satisfaction and participation by day of ``month``."""
    start, end = parse_month(month)
    async with app.pool.acquire() as conn:
        rows = {r["day"]: r for r in await app.store.per_day(conn, site, start, end)}
        hists = await app.store.hist_by_day(conn, site, start, end)
    points = []
    day = start
    while day <= end:
        r = rows.get(day)
        f = d.figures(dict(r) if r else {}, hists.get(day))
        points.append({"date": day.isoformat(), "issued": f["issued"], "served": f["served"],
                       "avg_wait_s": f["avg_wait_s"], "p90_wait_s": f["p90_wait_s"],
                       "satisfaction": f["satisfaction"], "participation": f["participation"]})
        day = date.fromordinal(day.toordinal() + 1)
    return {"site": site, "month": month, "by": "day", "points": points}


def _day_frame(app: CentralApp, site: str, day: date) -> dict[str, Any]:
    """The fold's frame of one site's day: its office hours (none on a day off), from its start until its end or now."""
    tz = app.tz
    start = datetime.combine(day, time(0), tz)
    sessions = [(datetime.combine(day, a, tz), datetime.combine(day, b, tz)) for a, b in app.config(site).sessions()]
    return {"sessions": sessions if app.calendar.is_workday(day) else [], "start": start,
            "until": max(start, min(start + timedelta(days=1), app.now())), "t": app.thresholds}


def _entries(rows: list[Any]) -> list[at.LogEntry]:
    return [at.LogEntry(r["window_no"], r["at"], r["kind"], r["staff_id"], r["waiting_left"])
            for r in rows]


async def attendance_totals(app: CentralApp, conn: Any, start: date, end: date) -> dict[str, dict[str, int]]:
    """Late starts, early leaves and 空窗 minutes per site over start..end (each day's window log folded)."""
    rows = await app.store.window_log(conn, None, start, end)
    waits = await app.store.waiting_before(conn, None, start)
    by_day: dict[tuple[str, date], list[Any]] = {}
    for r in rows:
        by_day.setdefault((r["site"], r["day"]), []).append(r)
    out: dict[str, dict[str, int]] = {}
    for (site, day), items in sorted(by_day.items()):
        entries = _entries(items)
        before = {n: w for (s, n), w in waits.items() if s == site}
        folded = at.fold(entries, windows=[], waiting_at_start=before, **_day_frame(app, site, day))
        for e in entries:  # what the next day starts with
            if e.kind in ("wait", "nowait"):
                waits[(site, e.window_no)] = e.kind == "wait"
        acc = out.setdefault(site, at.totals([]))
        for k, v in at.totals(folded).items():
            acc[k] += v
    return out


async def site_attendance(app: CentralApp, site: str, day: date) -> dict[str, Any]:
    """One row per window of ``site`` on ``day``: first sign-in, last sign-out, staffed, paused, idle while people
    waited, and the day's flags (late_start, early_leave, empty_window, idle_while_waiting)."""
    async with app.pool.acquire() as conn:
        known = await app.store.site_known(conn, site)
        rows = await app.store.window_log(conn, site, day, day)
        waits = await app.store.waiting_before(conn, site, day)
        windows = [w["window_no"] for w in await app.store.windows(conn, site)]
    if not known:
        raise d.SiteNotFound(site)
    folded = at.fold(_entries(rows), windows=windows, waiting_at_start={n: w for (_, n), w in waits.items()},
                     **_day_frame(app, site, day))
    tz = app.tz
    for r in folded:
        for k in ("first_sign_in", "last_sign_out"):
            r[k] = r[k].astimezone(tz).isoformat(timespec="seconds") if r[k] else None
    return {"site": site, "date": day.isoformat(), "windows": folded, "totals": at.totals(folded),
            "thresholds": {k: getattr(app.thresholds, k) for k in (
                "start_grace_min", "leave_grace_min", "early_leave_lookback_min", "empty_window_min",
                "idle_while_waiting_min")}}
