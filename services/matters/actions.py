"""What happens to a case after 受理: steps to departments (后台审核, 复核 …), suspension (挂起) and resumption,
completion (办结), ready for pickup (待领取) and pickup (领取). Each is one transaction: lock the case, check who
acts (back-office staff only on their department's cases), let the domain decide, save, and put the contract
event in the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.matters import domain as d
from services.matters.app import MattersApp
from services.matters.catalog import MatterSpec
from shared import errors
from shared.auth import ClerkClaims
from shared.events import matters as ev
from shared.events.base import EventData
from shared.logging import get_logger
from shared.outbox import add_to_outbox

log = get_logger("matters")

Action = Callable[[asyncpg.Connection, asyncpg.Record, MatterSpec, datetime], Awaitable[list[EventData]]]


async def _act(app: MattersApp, claims: ClerkClaims, case_id: uuid.UUID, name: str, action: Action
               ) -> dict[str, Any]:
    now = app.now()
    async with app.pool.acquire() as conn:
        async with conn.transaction():
            row, spec = await app.case_for_update(conn, case_id)
            d.check_case_access(claims.role, claims.department, spec.department)
            events = await action(conn, row, spec, now)
            await add_to_outbox(conn, *(app.event(x, now) for x in events))
        log.info(f"case_{name}", case_id=str(case_id), matter_id=row["matter_id"])
        return await app.present(conn, case_id)


async def _due(app: MattersApp, conn: asyncpg.Connection, row: asyncpg.Record) -> dict[str, Any]:
    """due_on/due_at after the case's suspensions (None while one is open, unless already overdue)."""
    due_on, due_at = d.deadline(await app.calendar(conn), row["accepted_on"], row["time_limit_days"], app.tz,
                                await app.suspensions_of(conn, row["id"]))
    return {"due_on": due_on, "due_at": due_at}


async def complete_step(app: MattersApp, claims: ClerkClaims, case_id: uuid.UUID, step: str) -> dict[str, Any]:
    async def action(conn: asyncpg.Connection, row: asyncpg.Record, spec: MatterSpec, now: datetime
                     ) -> list[EventData]:
        d.check_step(d.Status(row["status"]), row["steps"], row["steps_done"], step)
        done_by = {r["step"]: r["staff_id"] for r in await app.store.case_log(conn, row["id"])
                   if r["action"] == "step" and r["step"]}
        d.check_step_person(step, row["steps"], done_by, claims.staff_id)
        dept = next(s.department for s in spec.back_office_steps if s.code == step) or spec.department
        await app.store.update_case(conn, row["id"], steps_done=[*row["steps_done"], step], updated_at=now)
        await app.store.log(conn, row["id"], "step", claims.staff_id, now, step=step, department=dept)
        return [ev.CaseStepCompleted(case_id=row["id"], step=step, department=dept, staff_id=claims.staff_id)]

    return await _act(app, claims, case_id, "step_completed", action)


async def suspend(app: MattersApp, claims: ClerkClaims, case_id: uuid.UUID, reason_code: str,
                  note: str | None) -> dict[str, Any]:
    """挂起: the clock stops (from the day after today) until resumed. The note is sealed: it is free text."""
    async def action(conn: asyncpg.Connection, row: asyncpg.Record, spec: MatterSpec, now: datetime
                     ) -> list[EventData]:
        d.next_status(d.Status(row["status"]), "suspend")
        sealed = app.box.seal(note, f"case:{row['id']}:suspension") if note else None
        await app.store.insert_suspension(conn, row["id"], reason_code, sealed, claims.staff_id, now, now.date())
        await app.store.update_case(conn, row["id"], status=d.Status.SUSPENDED, suspended_since=now,
                                    **await _due(app, conn, row), updated_at=now)
        await app.store.log(conn, row["id"], "suspend", claims.staff_id, now, reason_code=reason_code)
        return [ev.CaseSuspended(case_id=row["id"], reason_code=reason_code)]

    if reason_code not in d.SUSPEND_REASONS:
        raise errors.Unprocessable(f"挂起原因应为 {', '.join(d.SUSPEND_REASONS)} 之一 / unknown reason_code")
    return await _act(app, claims, case_id, "suspended", action)


async def resume(app: MattersApp, claims: ClerkClaims, case_id: uuid.UUID) -> dict[str, Any]:
    async def action(conn: asyncpg.Connection, row: asyncpg.Record, spec: MatterSpec, now: datetime
                     ) -> list[EventData]:
        d.next_status(d.Status(row["status"]), "resume")
        ended = await app.store.end_suspension(conn, row["id"], claims.staff_id, now, now.date())
        await app.store.update_case(conn, row["id"], status=d.Status.ACCEPTED, suspended_since=None,
                                    **await _due(app, conn, row), updated_at=now)
        await app.store.log(conn, row["id"], "resume", claims.staff_id, now, reason_code=ended["reason_code"])
        return [ev.CaseResumed(case_id=row["id"], reason_code=ended["reason_code"])]

    return await _act(app, claims, case_id, "resumed", action)


async def complete(app: MattersApp, claims: ClerkClaims, case_id: uuid.UUID, result: str) -> dict[str, Any]:
    """办结: approved (every step done) or rejected; working days used and whether it was late."""
    async def action(conn: asyncpg.Connection, row: asyncpg.Record, spec: MatterSpec, now: datetime
                     ) -> list[EventData]:
        res = d.Result(result)
        d.check_complete(d.Status(row["status"]), row["steps"], row["steps_done"], res)
        used = d.working_days_used(await app.calendar(conn), row["accepted_on"], now.date(),
                                   await app.suspensions_of(conn, row["id"]))
        overdue = row["due_at"] is not None and now > row["due_at"]
        await app.store.update_case(conn, row["id"], status=d.Status.COMPLETED, result=res.value,
                                    completed_at=now, working_days_used=used, overdue=overdue, updated_at=now)
        await app.store.log(conn, row["id"], "complete", claims.staff_id, now, step="complete",
                            department=spec.department, result=res.value)
        return [ev.CaseCompleted(case_id=row["id"], result=res.value, working_days_used=used, overdue=overdue,
                                 department=spec.department, kind=row["kind"])]

    return await _act(app, claims, case_id, "completed", action)


async def ready_for_pickup(app: MattersApp, claims: ClerkClaims, case_id: uuid.UUID) -> dict[str, Any]:
    """待领取: the card or certificate is ready; it is held ``pickup.hold_days`` days (``pickup_by``). The event names
    what (the catalog's item) and where (the site's pickup place) for the SMS that says 领取."""
    async def action(conn: asyncpg.Connection, row: asyncpg.Record, spec: MatterSpec, now: datetime
                     ) -> list[EventData]:
        d.check_ready_for_pickup(d.Status(row["status"]), d.Result(row["result"]) if row["result"] else None,
                                 spec.pickup.item if spec.pickup else None)
        assert spec.pickup is not None  # checked just above
        pickup_by = now.date() + timedelta(days=spec.pickup.hold_days)
        await app.store.update_case(conn, row["id"], status=d.Status.READY_FOR_PICKUP, ready_at=now,
                                    pickup_by=pickup_by, updated_at=now)
        await app.store.log(conn, row["id"], "ready_for_pickup", claims.staff_id, now)
        return [ev.CaseReadyForPickup(case_id=row["id"], matter_id=row["matter_id"], pickup_by=pickup_by,
                                      item=spec.pickup.item, place=app.pickup_place)]

    return await _act(app, claims, case_id, "ready_for_pickup", action)


async def picked_up(app: MattersApp, claims: ClerkClaims, case_id: uuid.UUID) -> dict[str, Any]:
    async def action(conn: asyncpg.Connection, row: asyncpg.Record, spec: MatterSpec, now: datetime
                     ) -> list[EventData]:
        d.next_status(d.Status(row["status"]), "picked_up")
        await app.store.update_case(conn, row["id"], status=d.Status.PICKED_UP, picked_up_at=now, updated_at=now)
        await app.store.log(conn, row["id"], "picked_up", claims.staff_id, now)
        return [ev.CasePickedUp(case_id=row["id"])]

    return await _act(app, claims, case_id, "picked_up", action)
