"""Bad-rating follow-up (差评整改): every bad rating opens a complaint due in working days; the hall manager
calls back to verify (回访核实), the clerk rectifies (整改) or explains (说明), the manager closes it. A mistaken
or malicious 差评 can be appealed (申诉复核); a manager who upholds the appeal voids the rating with a new chain
entry (never an edit). Notes typed by staff stay in the site; events carry ids and outcomes."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

import asyncpg

from services.ratings import domain as d
from shared import errors
from shared.auth import ClerkClaims
from shared.clock import iso
from shared.events import ratings as ev
from shared.events.base import EventData
from shared.ids import uuid7
from shared.logging import get_logger
from shared.outbox import add_to_outbox

if TYPE_CHECKING:
    from services.ratings.app import RatingsApp

log = get_logger("ratings")
MANAGER_ACTIONS = frozenset({"verify", "close"})
EVENTS: dict[str, type[ev._ComplaintEvent]] = {
    "verify": ev.ComplaintVerified, "rectify": ev.ComplaintRectified, "explain": ev.ComplaintExplained,
    "appeal": ev.ComplaintAppealed, "close": ev.ComplaintClosed,
}


def complaint_view(row: asyncpg.Record, tz: Any, log_rows: list[asyncpg.Record] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(row["id"]), "rating_id": str(row["rating_id"]), "window_no": row["window_no"],
        "staff_id": row["staff_id"], "level": row["level"], "status": row["status"], "outcome": row["outcome"],
        "due_at": iso(row["due_at"].astimezone(tz)), "opened_at": iso(row["opened_at"].astimezone(tz)),
        "updated_at": iso(row["updated_at"].astimezone(tz))}
    if log_rows is not None:
        out["log"] = [{"action": r["action"], "staff_id": r["staff_id"], "note": r["note"],
                       "at": iso(r["at"].astimezone(tz))} for r in log_rows]
    return out


def due_at(app: RatingsApp, opened: datetime) -> datetime:
    """End of the ``ratings_complaint_due_days``-th working day after ``opened`` (次日起算; China's statutory
    holidays and 调休 from the national calendar, weekends only for a year it does not know)."""
    day = d.complaint_due_day(app.calendar, opened.astimezone(app.tz).date(), app.settings.ratings_complaint_due_days)
    return datetime.combine(day, time(23, 59, 59), tzinfo=app.tz)


async def open_complaint(app: RatingsApp, conn: asyncpg.Connection, rating: asyncpg.Record,
                         now: datetime) -> EventData:
    """In the rating's transaction: the complaint of a bad rating and its ``ratings.complaint.opened``."""
    row = await app.store.insert_complaint(conn, {
        "id": uuid7(), "rating_id": rating["id"], "window_no": rating["window_no"], "staff_id": rating["staff_id"],
        "level": rating["level"], "due_at": due_at(app, now), "opened_at": now})
    log.info("complaint_opened", complaint_id=str(row["id"]), rating_id=str(rating["id"]),
             window_no=rating["window_no"])
    return ev.ComplaintOpened(complaint_id=row["id"], rating_id=rating["id"], due_at=row["due_at"], outcome=None)


async def act(app: RatingsApp, claims: ClerkClaims, complaint_id: uuid.UUID, action: str, *,
              note: str | None = None, outcome: str | None = None) -> dict[str, Any]:
    """One step of the follow-up, its log line and its event in one transaction."""
    if action in MANAGER_ACTIONS and claims.role != "manager":
        raise errors.Forbidden("仅大厅负责人可回访核实或办结 / only a hall manager (值班长) may verify or close")
    now = app.now()
    async with app.pool.acquire() as conn:
        try:
            async with conn.transaction():
                if action == "close":  # a void appends to the chain: take the head's lock first (lock order)
                    await app.store.lock_head(conn)
                row = await app.store.complaint(conn, complaint_id, lock=True)
                if row is None:
                    raise errors.NotFound(f"没有该差评处理 / no complaint {complaint_id}")
                to = d.next_complaint_status(action, row["status"])
                final = d.close_outcome(row["status"], outcome) if action == "close" else None
                if final == "voided":
                    await _void(app, conn, row, claims, note, now)
                row = await app.store.move_complaint(conn, complaint_id, to, final, now)
                await app.store.log_complaint(conn, complaint_id, action, claims.staff_id, note, now)
                await add_to_outbox(conn, app.event(EVENTS[action](
                    complaint_id=row["id"], rating_id=row["rating_id"], due_at=row["due_at"],
                    outcome=final or (to if action != "close" else None)), now))
        except d.RatingsError as exc:
            from services.ratings.app import as_http_error

            raise as_http_error(exc) from exc
    log.info("complaint_" + action, complaint_id=str(complaint_id), staff_id=claims.staff_id, status=to,
             outcome=final)
    return complaint_view(row, app.tz)


async def _void(app: RatingsApp, conn: asyncpg.Connection, complaint: asyncpg.Record, claims: ClerkClaims,
                reason: str | None, now: datetime) -> None:
    """申诉成立: a new chain entry voids the rating; the approver is recorded and may not be the rated clerk."""
    if not reason:
        raise errors.Unprocessable("作废差评须写明理由 / voiding a rating needs a reason (note)")
    if claims.staff_id == complaint["staff_id"]:
        raise errors.Forbidden("不能复核自己的差评 / nobody may approve the appeal of a rating of their own")
    rating = await app.store.rating(conn, complaint["rating_id"])
    assert rating is not None  # a foreign key
    row = await app.append(conn, {
        "id": uuid7(), "kind": "voided", "invitation_id": rating["invitation_id"], "voids": rating["id"],
        "subject": rating["subject"], "subject_id": rating["subject_id"], "window_no": rating["window_no"],
        "staff_id": rating["staff_id"], "matter_id": rating["matter_id"], "scale": rating["scale"], "level": None,
        "indicators": {}, "reasons": [], "text": None, "channel": rating["channel"], "void_reason": reason,
        "approved_by": claims.staff_id, "created_at": now})
    await add_to_outbox(conn, app.event(ev.RatingVoided(rating_id=row["id"], voids=rating["id"],
                                                        **app.chain_fields(row)), now))
    log.info("rating_voided", rating_id=str(rating["id"]), approved_by=claims.staff_id)


async def get(app: RatingsApp, complaint_id: uuid.UUID) -> dict[str, Any]:
    async with app.pool.acquire() as conn:
        row = await app.store.complaint(conn, complaint_id)
        if row is None:
            raise errors.NotFound(f"没有该差评处理 / no complaint {complaint_id}")
        return complaint_view(row, app.tz, await app.store.complaint_log(conn, complaint_id))


async def list_(app: RatingsApp, status: str | None, limit: int) -> list[dict[str, Any]]:
    async with app.pool.acquire() as conn:
        return [complaint_view(r, app.tz) for r in await app.store.complaints(conn, status, limit)]
