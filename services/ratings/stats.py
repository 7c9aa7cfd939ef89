"""Published results (评价结果公开): satisfaction (满意率) and participation (参评率) per window, clerk or day,
as JSON and as CSV for the monthly report (按月整理上报)."""

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
COLUMNS = ("key", "invitations", "submitted", "defaulted", "voided", "satisfied", "satisfaction", "participation")


async def tallies(app: RatingsApp, group_by: str, start: date, end: date) -> list[dict[str, Any]]:
    if group_by not in GROUPS:
        raise errors.BadRequest(f"group_by 须为 {'/'.join(GROUPS)} / group_by must be one of {', '.join(GROUPS)}")
    if end < start or (end - start).days > 366:
        raise errors.BadRequest("日期范围无效 / from..to must be ordered and at most a year")
    names = list(d.SCALES)
    async with app.pool.acquire() as conn:
        rows = await app.store.tallies(conn, GROUPS[group_by], app.settings.timezone, start, end, names,
                                       [d.SCALES[n].satisfied_min for n in names])
    out = []
    for r in rows:
        t = d.Tally(r["invitations"], r["submitted"], r["defaulted"], r["voided"], r["satisfied"])
        out.append({"key": r["key"], "invitations": t.invitations, "submitted": t.submitted,
                    "defaulted": t.defaulted, "voided": t.voided, "satisfied": t.satisfied,
                    "satisfaction": t.satisfaction, "participation": t.participation})
    return out


def as_csv(group_by: str, rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([group_by if c == "key" else c for c in COLUMNS])
    for r in rows:
        w.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
    return "\ufeff" + buf.getvalue()  # a BOM so that Excel opens the UTF-8 file as such
