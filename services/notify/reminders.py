"""Messages no event asks for: turn approaching (快到您了, the queue service asked about each watched ticket) and
the not-yet-collected reminder (领取提醒, a sweep over the cases ready for pickup)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import asyncpg

from services.notify import domain as d
from services.notify.app import NotifyApp
from shared.logging import get_logger

log = get_logger("notify")
ISSUED_GRACE = timedelta(minutes=2)  # after this, a ticket whose issued event was never seen is judged without it


# --- turn approaching (快到您了) ---------------------------------------------------------------------
async def check_approaching(app: NotifyApp) -> int:
    """Ask the queue service about every ticket with a contact whose turn-approaching SMS is undecided; queue
    the SMS once (unique key per ticket) when at most N are ahead. Returns the messages queued."""
    if app.queue is None:
        return 0
    async with app.pool.acquire() as conn:
        watched = await app.store.tickets_to_watch(conn, app.now())
    queued = 0
    for w in watched:
        ticket_id = w["ticket_id"]
        ticket = await app.queue.ticket(ticket_id)
        if ticket is None:  # the queue service cannot answer now: look again at the next wake-up
            break
        threshold = app.settings.notify_approach_ahead
        ahead = int(ticket.get("ahead") or 0)
        # the ticket's issued event (with its people ahead then) may still be on its way to this consumer
        overdue = app.now() - w["registered_at"] > ISSUED_GRACE
        decision = d.approach_decision(str(ticket.get("status")), ahead, w["issued_ahead"], threshold,
                                       issued_overdue=overdue)
        if decision == "wait":
            continue
        now = app.now()
        async with app.pool.acquire() as conn, conn.transaction():
            row = await app.store.lock_watch(conn, ticket_id, now)
            if row is None:  # decided meanwhile (another sender of this site)
                continue
            # again under the lock: the issued event may have been applied since the first read
            decision = d.approach_decision(str(ticket.get("status")), ahead, row["issued_ahead"], threshold,
                                           issued_overdue=overdue)
            number = str(ticket.get("number") or row["number"] or "")
            if decision == "wait":
                continue
            if decision == "skip" or not number:
                await app.store.decide_watch(conn, ticket_id, "skipped", now)
                continue
            created = await app.queue_messages(
                conn, "ticket", ticket_id, "turn_approaching", {"number": number, "ahead": ahead},
                f"approach:{ticket_id}", uuid.uuid5(uuid.NAMESPACE_URL, f"hallnet:approach:{ticket_id}"), now)
            await app.store.decide_watch(conn, ticket_id, "sent", now)
        queued += created
        log.info("sms_queued", event_type="turn_approaching", template="turn_approaching", ref_id=ticket_id,
                 messages=created, ahead=ahead)
    return queued


async def approach_loop(app: NotifyApp) -> None:
    while True:
        app.approach_wake.clear()
        try:
            await check_approaching(app)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("approach_check_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(app.settings.notify_approach_poll_s):
                await app.approach_wake.wait()
        await asyncio.sleep(0.2)  # several events in a burst: one look


# --- not-yet-collected reminder (领取提醒) ---------------------------------------------------------
async def remind_pickups(app: NotifyApp) -> int:
    """Cases ready N working days ago and not picked up: one reminder each (quiet hours apply when sending)."""
    now = app.now()
    queued = 0
    async with app.pool.acquire() as conn, conn.transaction():
        for p in await app.store.due_pickups(conn, now):
            queued += await app.queue_messages(
                conn, "case", p["case_id"], "pickup_reminder",
                {"days": app.settings.notify_pickup_reminder_days}, f"pickup:{p['case_id']}", p["event_id"], now)
            await app.store.pickup_reminded(conn, p["case_id"], now)
    if queued:
        log.info("pickup_reminders_queued", messages=queued)
    return queued


async def reminder_loop(app: NotifyApp) -> None:
    while True:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await remind_pickups(app)
        await asyncio.sleep(app.settings.notify_reminder_sweep_s)
