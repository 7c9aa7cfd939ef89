"""SQL of the matters service, one class. Every method runs on the connection it is given, so the use
case decides the transaction."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

from services.matters.catalog import SiteChange

CASE_COLUMNS = frozenset({
    "status", "result", "steps_done", "due_on", "due_at", "suspended_since", "completed_at",
    "working_days_used", "overdue", "ready_at", "pickup_by", "picked_up_at", "updated_at",
})


class MattersStore:
    # --- the site's changes to the catalog ----------------------------------------------------------
    async def matter_changes(self, conn: asyncpg.Connection) -> dict[str, dict[str, SiteChange]]:
        """Each matter's change layers by source ('site_file', 'manager')."""
        rows = await conn.fetch("SELECT matter_id, source, enabled, queue, promised_days FROM matter_changes")
        out: dict[str, dict[str, SiteChange]] = {}
        for r in rows:
            out.setdefault(r["matter_id"], {})[r["source"]] = SiteChange(
                enabled=r["enabled"], queue=r["queue"], promised_days=r["promised_days"])
        return out

    async def replace_site_file_changes(self, conn: asyncpg.Connection, changes: dict[str, SiteChange]) -> None:
        await conn.execute("DELETE FROM matter_changes WHERE source = 'site_file'")
        await conn.executemany(
            """INSERT INTO matter_changes (matter_id, source, enabled, queue, promised_days, changed_by)
               VALUES ($1, 'site_file', $2, $3, $4, 'site file')""",
            [(mid, c.enabled, c.queue, c.promised_days) for mid, c in changes.items()])

    async def set_manager_change(self, conn: asyncpg.Connection, matter_id: str, change: SiteChange,
                                 staff_id: str, at: datetime) -> None:
        await conn.execute(
            """INSERT INTO matter_changes (matter_id, source, enabled, queue, promised_days, changed_by, changed_at)
               VALUES ($1, 'manager', $2, $3, $4, $5, $6)
               ON CONFLICT (matter_id, source) DO UPDATE SET enabled = excluded.enabled, queue = excluded.queue,
                   promised_days = excluded.promised_days, changed_by = excluded.changed_by,
                   changed_at = excluded.changed_at""",
            matter_id, change.enabled, change.queue, change.promised_days, staff_id, at)

    async def delete_manager_change(self, conn: asyncpg.Connection, matter_id: str) -> bool:
        status = await conn.execute(
            "DELETE FROM matter_changes WHERE matter_id = $1 AND source = 'manager'", matter_id)
        return bool(status.endswith(" 1"))

    # --- calendar overrides -----------------------------------------------------------------------
    async def calendar_overrides(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch(
            "SELECT day, workday, note, changed_by, changed_at FROM calendar_overrides ORDER BY day")

    async def set_calendar_override(self, conn: asyncpg.Connection, day: date, workday: bool, note: str | None,
                                    staff_id: str, at: datetime) -> asyncpg.Record:
        return await conn.fetchrow(
            """INSERT INTO calendar_overrides (day, workday, note, changed_by, changed_at) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (day) DO UPDATE SET workday = excluded.workday, note = excluded.note,
                   changed_by = excluded.changed_by, changed_at = excluded.changed_at
               RETURNING day, workday, note, changed_by, changed_at""",
            day, workday, note, staff_id, at)

    async def delete_calendar_override(self, conn: asyncpg.Connection, day: date) -> bool:
        status = await conn.execute("DELETE FROM calendar_overrides WHERE day = $1", day)
        return bool(status.endswith(" 1"))

    async def calendar_arrangements(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch(
            "SELECT year, holidays, workdays, source, installed_by, installed_at FROM calendar_arrangements")

    async def set_calendar_arrangement(self, conn: asyncpg.Connection, year: int, holidays: list[date],
                                       workdays: list[date], source: str, by: str, at: datetime,
                                       central_version: int | None = None) -> None:
        await conn.execute(
            """INSERT INTO calendar_arrangements (year, holidays, workdays, source, installed_by, installed_at,
                   central_version)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (year) DO UPDATE SET holidays = excluded.holidays, workdays = excluded.workdays,
                   source = excluded.source, installed_by = excluded.installed_by,
                   installed_at = excluded.installed_at, central_version = excluded.central_version""",
            year, holidays, workdays, source, by, at, central_version)

    async def central_calendar_version(self, conn: asyncpg.Connection, year: int) -> int | None:
        """The version of central's arrangement installed for ``year`` (locked until the transaction ends)."""
        return await conn.fetchval(
            "SELECT central_version FROM calendar_arrangements WHERE year = $1 FOR UPDATE", year)

    # --- cases ------------------------------------------------------------------------------------
    async def insert_case(self, conn: asyncpg.Connection, c: dict[str, Any]) -> asyncpg.Record:
        return await conn.fetchrow(
            """INSERT INTO cases (id, matter_id, kind, status, result, ticket_id, window_no, owner_staff_id,
                   applicant_name, applicant_id_no, applicant_phone, provided, applicable, missing, steps,
                   time_limit_days, created_at, accepted_on, due_on, due_at, completed_at, working_days_used,
                   overdue, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                   $21, $22, $23, $17)
               RETURNING *""",
            c["id"], c["matter_id"], c["kind"], c["status"], c.get("result"), c.get("ticket_id"), c.get("window_no"),
            c["owner_staff_id"], c["applicant_name"], c["applicant_id_no"], c.get("applicant_phone"),
            c["provided"], c["applicable"], c["missing"], c["steps"], c["time_limit_days"], c["created_at"],
            c["accepted_on"], c.get("due_on"), c.get("due_at"), c.get("completed_at"), c.get("working_days_used"),
            c.get("overdue"),
        )

    async def case(self, conn: asyncpg.Connection, case_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
        return await conn.fetchrow("SELECT * FROM cases WHERE id = $1" + (" FOR UPDATE" if lock else ""), case_id)

    async def update_case(self, conn: asyncpg.Connection, case_id: uuid.UUID, **fields: Any) -> asyncpg.Record:
        bad = set(fields) - CASE_COLUMNS
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        names = list(fields)
        sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
        return await conn.fetchrow(f"UPDATE cases SET {sets} WHERE id = $1 RETURNING *",
                                   case_id, *[fields[n] for n in names])

    async def cases(self, conn: asyncpg.Connection, *, status: str | None, matter_id: str | None,
                    owner_staff_id: str | None, limit: int, matter_ids: list[str] | None = None
                    ) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT * FROM cases WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR matter_id = $2)
                   AND ($3::text IS NULL OR owner_staff_id = $3) AND ($5::text[] IS NULL OR matter_id = ANY($5))
               ORDER BY created_at DESC, id DESC LIMIT $4""",
            status, matter_id, owner_staff_id, limit, matter_ids)

    async def running_cases(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        """Cases whose clock runs, with the cards they already had."""
        return await conn.fetch(
            """SELECT c.id, c.due_on, c.due_at, c.time_limit_days,
                      coalesce((SELECT array_agg(w.level) FROM case_warnings w WHERE w.case_id = c.id), '{}')
                        AS warned
               FROM cases c WHERE c.status = 'accepted' AND c.due_on IS NOT NULL AND c.kind = 'promised'
               ORDER BY c.due_on""")

    async def open_cases_for_recount(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT id, accepted_on, time_limit_days, due_on FROM cases
               WHERE status IN ('accepted', 'suspended') AND kind = 'promised' FOR UPDATE""")

    # --- suspensions, log, warnings ------------------------------------------------------------------
    async def suspensions(self, conn: asyncpg.Connection, case_id: uuid.UUID) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM case_suspensions WHERE case_id = $1 ORDER BY seq", case_id)

    async def insert_suspension(self, conn: asyncpg.Connection, case_id: uuid.UUID, reason_code: str,
                                note: bytes | None, staff_id: str, at: datetime, on: date) -> None:
        await conn.execute(
            """INSERT INTO case_suspensions (case_id, seq, reason_code, note, staff_id, suspended_at, suspended_on)
               VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM case_suspensions WHERE case_id = $1),
                       $2, $3, $4, $5, $6)""",
            case_id, reason_code, note, staff_id, at, on)

    async def end_suspension(self, conn: asyncpg.Connection, case_id: uuid.UUID, staff_id: str, at: datetime,
                             on: date) -> asyncpg.Record:
        return await conn.fetchrow(
            """UPDATE case_suspensions SET resumed_at = $2, resumed_on = $3, resumed_by = $4
               WHERE case_id = $1 AND resumed_at IS NULL RETURNING *""",
            case_id, at, on, staff_id)

    async def log(self, conn: asyncpg.Connection, case_id: uuid.UUID, action: str, staff_id: str, at: datetime, *,
                  step: str | None = None, department: str | None = None, **detail: Any) -> None:
        await conn.execute(
            """INSERT INTO case_log (case_id, action, step, department, staff_id, at, detail)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            case_id, action, step, department, staff_id, at, detail)

    async def case_log(self, conn: asyncpg.Connection, case_id: uuid.UUID) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM case_log WHERE case_id = $1 ORDER BY id", case_id)

    async def warnings(self, conn: asyncpg.Connection, case_id: uuid.UUID) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM case_warnings WHERE case_id = $1 ORDER BY warned_at", case_id)

    async def insert_warning(self, conn: asyncpg.Connection, case_id: uuid.UUID, level: str, due_at: datetime,
                             at: datetime, event_id: uuid.UUID) -> bool:
        """True when this card is new; False when it was already shown (by us, earlier, or by another process)."""
        status = await conn.execute(
            """INSERT INTO case_warnings (case_id, level, due_at, warned_at, event_id) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (case_id, level) DO NOTHING""",
            case_id, level, due_at, at, event_id)
        return bool(status.endswith(" 1"))

    # --- the worklist --------------------------------------------------------------------------------
    async def open_cases(self, conn: asyncpg.Connection, matter_ids: list[str] | None,
                         limit: int) -> list[asyncpg.Record]:
        """Cases still waiting for someone (running, suspended, approved and not yet collected), of the given
        matters (None: all), those with a running deadline first, soonest due first (so a limit cuts the least
        urgent); whether an approved one waits for pickup is the domain's call (``next_steps``)."""
        return await conn.fetch(
            """SELECT * FROM cases WHERE status IN ('accepted', 'suspended', 'completed', 'ready_for_pickup')
                   AND (status <> 'completed' OR result = 'approved')
                   AND ($1::text[] IS NULL OR matter_id = ANY($1))
               ORDER BY (status IN ('accepted', 'suspended') AND due_on IS NOT NULL) DESC, due_on, created_at, id
               LIMIT $2""",
            matter_ids, limit)

    # --- the phone's way to notify (svc.<site>.notify.contacts) -------------------------------------
    async def add_contact_handover(self, conn: asyncpg.Connection, case_id: uuid.UUID, at: datetime) -> None:
        await conn.execute("INSERT INTO contact_handover (case_id, created_at) VALUES ($1, $2)", case_id, at)

    async def contact_handovers(self, conn: asyncpg.Connection, limit: int = 100) -> list[asyncpg.Record]:
        """Phones notify does not have yet (the sealed phone is the case's), oldest first; refused ones are left."""
        return await conn.fetch(
            """SELECT h.case_id, h.attempts, c.applicant_phone FROM contact_handover h JOIN cases c ON c.id = h.case_id
               WHERE NOT h.refused ORDER BY h.created_at, h.case_id LIMIT $1""", limit)

    async def contact_handed_over(self, conn: asyncpg.Connection, case_id: uuid.UUID) -> None:
        await conn.execute("DELETE FROM contact_handover WHERE case_id = $1", case_id)

    async def contact_handover_failed(self, conn: asyncpg.Connection, case_id: uuid.UUID, error: str,
                                      at: datetime, *, refused: bool) -> None:
        await conn.execute(
            """UPDATE contact_handover SET attempts = attempts + 1, last_error = $2, last_attempt_at = $3,
                   refused = $4 WHERE case_id = $1""", case_id, error, at, refused)
