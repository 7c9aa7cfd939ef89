"""Published results (评价结果公开): satisfaction (满意率) and participation (参评率) per window, clerk or day,
as JSON and as CSV for the monthly report (按月整理上报). The store counts rows; ``domain.tally`` decides what they
mean (好评 = 基本满意 and better, defaulted = 基本满意, voided in no figure)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from services.ratings import domain as d
from services.ratings.app import RatingsApp
from shared import errors

GROUPS = {
    "window": "i.window_no::text",
    "staff": "i.staff_id",
    "day": "to_char((i.completed_at AT TIME ZONE $1)::date, 'YYYY-MM-DD')",
}
COLUMNS = ("key", "invitations", "submitted", "defaulted", "voided", "satisfied", "bad", "satisfaction",
           "participation")


async def tallies(app: RatingsApp, group_by: str, start: date, end: date) -> list[dict[str, Any]]:
    if group_by not in GROUPS:
        raise errors.BadRequest(f"group_by 须为 {'/'.join(GROUPS)} / group_by must be one of {', '.join(GROUPS)}")
    if end < start or (end - start).days > 366:
        raise errors.BadRequest("日期范围无效 / from..to must be ordered and at most a year")
    async with app.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        invited = await app.store.invitation_counts(conn, GROUPS[group_by], app.settings.timezone, start, end)
        rated = await app.store.rating_counts(conn, GROUPS[group_by], app.settings.timezone, start, end)
    counted: dict[str, list[d.Counted]] = {}
    for r in rated:
        counted.setdefault(r["key"], []).append(d.Counted(r["state"], r["scale"], r["level"], r["n"]))
    out = []
    for r in invited:
        t = d.tally(r["n"], counted.get(r["key"], []))
        out.append({"key": r["key"], "invitations": t.invitations, "submitted": t.submitted,
                    "defaulted": t.defaulted, "voided": t.voided, "satisfied": t.satisfied, "bad": t.bad,
                    "satisfaction": t.satisfaction, "participation": t.participation})
    return out


def as_csv(group_by: str, rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([group_by if c == "key" else c for c in COLUMNS])
    for r in rows:
        w.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
    return "\ufeff" + buf.getvalue()  # a BOM so that Excel opens the UTF-8 file as such
