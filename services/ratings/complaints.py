"""Bad-rating follow-up (差评整改): every bad rating opens a complaint due in working days (in the rating's
transaction, ``RatingsApp.rate``); the hall manager calls back to verify (回访核实), the clerk rectifies (整改) or
explains (说明), the manager closes it. A mistaken or malicious 差评 can be appealed (申诉复核); a manager who
upholds the appeal voids the rating with a new chain entry (never an edit). Notes typed by staff stay in the
site; events carry ids and outcomes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.ratings import domain as d
from services.ratings.app import RatingsApp
from shared import errors
from shared.auth import ClerkClaims
from shared.clock import iso
from shared.events import ratings as ev
from shared.ids import uuid7
from shared.logging import get_logger
from shared.outbox import add_to_outbox

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


async def act(app: RatingsApp, claims: ClerkClaims, complaint_id: uuid.UUID, action: str, *,
              note: str | None = None, outcome: str | None = None) -> dict[str, Any]:
    """One step of the follow-up, its log line and its event in one transaction."""
    if action in MANAGER_ACTIONS and claims.role != "manager":
        raise errors.Forbidden("仅大厅负责人可回访核实或办结 / only a hall manager (值班长) may verify or close")
    now = app.now()
    async with app.pool.acquire() as conn, conn.transaction():
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
