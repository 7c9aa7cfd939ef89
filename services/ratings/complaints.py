"""Bad-rating follow-up (差评整改), the use cases: every bad rating opens a complaint due in working days (in
the rating's transaction, ``RatingsApp.rate``); each step (回访核实, 整改, 解释说明, 申诉, 复核, 办结) is decided by
the pure state machine in ``complaint_rules.py`` and saved with its log line and its event in one transaction. An appeal
upheld by a second manager voids the rating with a new chain entry (never an edit).

What a manager reads: the citizen's level, indicators, reason tags and words (opened from their sealed form for a
duty manager only), the due day in working days, and the steps this person may take next (``next_actions``).
Notes typed by staff and the citizen's words stay in the site; events carry ids and outcomes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from services.ratings import complaint_rules as rules
from services.ratings import domain as d
from services.ratings.app import RatingsApp
from shared import errors
from shared.auth import ClerkClaims
from shared.clock import iso
from shared.events import ratings as ev
from shared.events.base import EventData
from shared.ids import uuid7
from shared.logging import get_logger
from shared.outbox import add_to_outbox

log = get_logger("ratings")
LIST_STATUSES = ("active", *rules.STATUS_LABELS)


def _actor(claims: ClerkClaims) -> rules.Actor:
    return rules.Actor(staff_id=claims.staff_id, is_manager=claims.role == "manager")


def _facts(app: RatingsApp, row: asyncpg.Record) -> rules.ComplaintFacts:
    return rules.ComplaintFacts(status=row["status"], rated_staff_id=row["staff_id"],
                                appealed_by=row["appealed_by"], appealed_from=row["appealed_from"],
                                due_day=row["due_at"].astimezone(app.tz).date())


def _rating_view(app: RatingsApp, row: asyncpg.Record, *, with_text: bool) -> dict[str, Any]:
    """What the citizen said, with labels; the words only for a duty manager (``with_text``)."""
    scale = d.scale_of(row["scale"])
    inds = row["indicators"] or {}
    return {
        "scale": scale.name, "level": row["level"], "level_label": scale.labels.get(row["level"], ""),
        "indicators": [{"key": k, "label": label, "level": inds[k], "level_label": scale.labels.get(inds[k], "")}
                       for k, label in d.INDICATORS.items() if k in inds],
        "reasons": [{"key": r, "label": d.REASONS.get(r, r)} for r in row["reasons"] or []],
        "text": app.citizen_text(row) if with_text else None,
        "subject": row["subject"], "matter_id": row["matter_id"], "channel": row["channel"],
        "rated_at": iso(row["rated_at"].astimezone(app.tz))}


def complaint_view(app: RatingsApp, row: asyncpg.Record, claims: ClerkClaims, log_rows: Sequence[asyncpg.Record],
                   today: date) -> dict[str, Any]:
    facts = _facts(app, row)
    allowed, blocked = rules.next_actions(facts, _actor(claims))
    assert facts.due_day is not None  # always set from due_at
    left = rules.working_days_left(app.calendar, today, facts.due_day)
    return {
        "id": str(row["id"]), "rating_id": str(row["rating_id"]), "window_no": row["window_no"],
        "staff_id": row["staff_id"], "level": row["level"], "status": row["status"],
        "status_label": rules.STATUS_LABELS[row["status"]], "status_label_en": rules.STATUS_LABELS_EN[row["status"]],
        "outcome": row["outcome"], "due_at": iso(row["due_at"].astimezone(app.tz)),
        "due_day": facts.due_day.isoformat(), "working_days_left": left,
        "overdue": row["status"] != "closed" and left < 0,
        "rectify_by": row["rectify_by"].isoformat() if row["rectify_by"] else None,
        "appealed_by": row["appealed_by"],
        "opened_at": iso(row["opened_at"].astimezone(app.tz)), "updated_at": iso(row["updated_at"].astimezone(app.tz)),
        "rating": _rating_view(app, row, with_text=claims.role == "manager"),
        "next_actions": allowed,
        "blocked_actions": [{"action": a, "message": m} for a, m in blocked],
        "log": [{"action": r["action"], "staff_id": r["staff_id"], "note": r["note"],
                 "at": iso(r["at"].astimezone(app.tz))} for r in log_rows]}


def _event(step: rules.Step, row: asyncpg.Record) -> EventData:
    ids = {"complaint_id": row["id"], "rating_id": row["rating_id"], "due_at": row["due_at"]}
    if step.action == "rectify":
        return ev.ComplaintRectified(**ids, outcome=step.to, rectify_by=step.rectify_by)
    if step.action == "reject":
        return ev.ComplaintAppealRejected(**ids, outcome="rejected")
    if step.outcome is not None:  # close, approve
        return ev.ComplaintClosed(**ids, outcome=step.outcome)
    kinds: dict[str, type[ev._ComplaintEvent]] = {
        "verify": ev.ComplaintVerified, "explain": ev.ComplaintExplained, "appeal": ev.ComplaintAppealed}
    return kinds[step.action](**ids, outcome=step.to)


async def act(app: RatingsApp, claims: ClerkClaims, complaint_id: uuid.UUID, action: str, *,
              note: str | None = None, rectify_by: date | None = None, outcome: str | None = None
              ) -> dict[str, Any]:
    """One step of the follow-up, its log line and its event in one transaction; the complaint as it is now."""
    now = app.now()
    note = (note or "").strip() or None
    async with app.pool.acquire() as conn:
        async with conn.transaction():
            if action == "approve":  # a void appends to the chain: take the head's lock first (lock order)
                await app.store.lock_head(conn)
            row = await app.store.complaint(conn, complaint_id, lock=True)
            if row is None:
                raise errors.NotFound(f"没有该差评处理 / no complaint {complaint_id}")
            step = rules.decide(_facts(app, row), _actor(claims), action, note=note, rectify_by=rectify_by,
                                outcome=outcome, today=now.date())
            if step.voids_rating:
                await _void(app, conn, row, claims, note or "", now)
            appealed = (claims.staff_id, row["status"]) if action == "appeal" else (
                row["appealed_by"], row["appealed_from"])
            await app.store.move_complaint(conn, complaint_id, status=step.to, outcome=step.outcome,
                                           rectify_by=step.rectify_by or row["rectify_by"], appealed_by=appealed[0],
                                           appealed_from=appealed[1], at=now)
            await app.store.log_complaint(conn, complaint_id, action, claims.staff_id, note, now)
            await add_to_outbox(conn, app.event(_event(step, row), now))
        row = await app.store.complaint(conn, complaint_id)
        logs = await app.store.complaint_logs(conn, [complaint_id])
    assert row is not None  # complaints are never deleted
    log.info("complaint_" + action, complaint_id=str(complaint_id), staff_id=claims.staff_id, status=step.to,
             outcome=step.outcome)
    return complaint_view(app, row, claims, logs, now.date())


async def _void(app: RatingsApp, conn: asyncpg.Connection, complaint: asyncpg.Record, claims: ClerkClaims,
                reason: str, now: datetime) -> None:
    """申诉成立: a new chain entry voids the rating, with the reason and the second manager as approver."""
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
    log.info("rating_voided", rating_id=str(rating["id"]), approved_by=claims.staff_id,
             appealed_by=complaint["appealed_by"])


async def get(app: RatingsApp, claims: ClerkClaims, complaint_id: uuid.UUID) -> dict[str, Any]:
    async with app.pool.acquire() as conn:
        row = await app.store.complaint(conn, complaint_id)
        if row is None:
            raise errors.NotFound(f"没有该差评处理 / no complaint {complaint_id}")
        logs = await app.store.complaint_logs(conn, [complaint_id])
    return complaint_view(app, row, claims, logs, app.now().date())


async def list_(app: RatingsApp, claims: ClerkClaims, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Complaints, those still to handle first (earliest due first), then closed ones."""
    if status is not None and status not in LIST_STATUSES:
        raise errors.BadRequest(f"状态无效 / status must be one of {', '.join(LIST_STATUSES)}", field="status")
    async with app.pool.acquire() as conn:
        rows = await app.store.complaints(conn, status, limit)
        logs = await app.store.complaint_logs(conn, [r["id"] for r in rows])
    by_id: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for r in logs:
        by_id.setdefault(r["complaint_id"], []).append(r)
    today = app.now().date()
    return [complaint_view(app, r, claims, by_id.get(r["id"], []), today) for r in rows]
