"""SQL of the site's configuration, one class: staff and AB roles (AB角), sessions bound to no window (duty managers'
and back-office clerks'), the queues a window serves, matter routes (事项 → 队列) and the site file's upserts."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.queue.store import BOARD_CHANNEL


class SiteStore:
    # --- matters and their routes ---------------------------------------------------------------
    async def matters(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT m.matter_id, m.name, m.queue_id, q.prefix, q.name AS queue_name FROM matter_routes m
               JOIN queues q ON q.id = m.queue_id WHERE m.enabled ORDER BY m.matter_id"""
        )

    async def disable_route(self, conn: asyncpg.Connection, matter_id: str) -> bool:
        """Switch a matter off; False when it has no route."""
        status = await conn.execute("UPDATE matter_routes SET enabled = false WHERE matter_id = $1", matter_id)
        return str(status).endswith(" 1")

    async def queue_active(self, conn: asyncpg.Connection, queue_id: uuid.UUID) -> bool:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM queues WHERE id = $1 AND active)", queue_id))

    async def put_route(self, conn: asyncpg.Connection, matter_id: str, name: str, queue_id: uuid.UUID,
                        enabled: bool) -> None:
        await conn.execute(
            """INSERT INTO matter_routes (matter_id, name, queue_id, enabled) VALUES ($1, $2, $3, $4)
               ON CONFLICT (matter_id) DO UPDATE SET name = excluded.name, queue_id = excluded.queue_id,
                   enabled = excluded.enabled""",
            matter_id, name, queue_id, enabled,
        )

    # --- sessions bound to no window: duty managers' (值班长) and back-office clerks' (后台) -------------
    async def staff_session_live(self, conn: asyncpg.Connection, session_id: uuid.UUID, staff_id: str,
                                 role: str) -> bool:
        """A live session of ``role`` (``manager``: also a manager signed in at a window, its window session) whose
        staff member is still active and still has that role (a manager; a department of the back office)."""
        return bool(await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM staff_sessions m JOIN staff s ON s.id = m.staff_id
                              WHERE m.session_id = $1 AND m.staff_id = $2 AND m.role = $3 AND m.ended_at IS NULL
                                AND s.active AND CASE $3 WHEN 'manager' THEN s.is_manager
                                                         ELSE s.backoffice IS NOT DISTINCT FROM m.department END)
                   OR ($3 = 'manager' AND EXISTS (SELECT 1 FROM windows w
                                                  WHERE w.session_id = $1 AND w.staff_id = $2))""",
            session_id, staff_id, role))

    async def start_staff_session(self, conn: asyncpg.Connection, session_id: uuid.UUID, staff_id: str,
                                  role: str, expires_at: int, department: str | None = None) -> None:
        await conn.execute(
            """INSERT INTO staff_sessions (session_id, staff_id, role, department, expires_at)
               VALUES ($1, $2, $3, $4, to_timestamp($5))""",
            session_id, staff_id, role, department, expires_at)

    async def end_staff_sessions(self, conn: asyncpg.Connection, staff_id: str, reason: str, *,
                                 session_id: uuid.UUID | None = None, role: str | None = None
                                 ) -> list[tuple[uuid.UUID, str]]:
        """End a staff member's live sessions (one, those of one role, or all); (session id, role) of those ended."""
        rows = await conn.fetch(
            """UPDATE staff_sessions SET ended_at = now(), end_reason = $3
               WHERE staff_id = $1 AND ended_at IS NULL AND ($2::uuid IS NULL OR session_id = $2)
                 AND ($4::text IS NULL OR role = $4)
               RETURNING session_id, role""", staff_id, session_id, reason, role)
        return [(r["session_id"], r["role"]) for r in rows]

    # --- staff and roles ------------------------------------------------------------------------
    async def staff_with_roles(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT s.id, s.name, s.is_manager, s.backoffice, s.active,
                      coalesce(json_agg(json_build_array(r.window_no, r.role) ORDER BY r.window_no)
                               FILTER (WHERE r.window_no IS NOT NULL), '[]') AS roles
               FROM staff s LEFT JOIN window_roles r ON r.staff_id = s.id GROUP BY s.id ORDER BY s.id""")

    async def add_staff(self, conn: asyncpg.Connection, staff_id: str, name: str, password_hash: str,
                        manager: bool, backoffice: str | None = None) -> bool:
        """False when the staff id is taken."""
        status = await conn.execute(
            """INSERT INTO staff (id, name, password_hash, is_manager, backoffice) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (id) DO NOTHING""", staff_id, name, password_hash, manager, backoffice)
        return str(status).endswith(" 1")

    async def change_staff(self, conn: asyncpg.Connection, staff_id: str, *, name: str | None,
                           password_hash: str | None, active: bool | None, backoffice: str | None,
                           set_backoffice: bool = False) -> tuple[asyncpg.Record, str | None] | None:
        """Change what is given (None: keep; the department only with ``set_backoffice``, where None removes it);
        the row after and the department before, or None when there is no such staff."""
        row = await conn.fetchrow(
            """WITH before AS (SELECT backoffice FROM staff WHERE id = $1 FOR UPDATE)
               UPDATE staff SET name = coalesce($2, name), password_hash = coalesce($3, password_hash),
                   active = coalesce($4, active), backoffice = CASE WHEN $6 THEN $5 ELSE staff.backoffice END
               FROM before WHERE id = $1
               RETURNING id, name, is_manager, staff.backoffice, active, before.backoffice AS backoffice_before""",
            staff_id, name, password_hash, active, backoffice, set_backoffice)
        return (row, row["backoffice_before"]) if row is not None else None

    async def active_staff(self, conn: asyncpg.Connection, staff_ids: list[str]) -> set[str]:
        return {r["id"] for r in await conn.fetch("SELECT id FROM staff WHERE id = ANY($1) AND active", staff_ids)}

    async def replace_roles(self, conn: asyncpg.Connection, window_no: int, roles: list[tuple[str, str]]) -> None:
        """The window's AB roles become ``roles`` ((staff_id, 'A' or 'B'))."""
        await conn.execute("DELETE FROM window_roles WHERE window_no = $1", window_no)
        await conn.executemany("INSERT INTO window_roles (window_no, staff_id, role) VALUES ($1, $2, $3)",
                               [(window_no, staff_id, role) for staff_id, role in roles])

    # --- windows --------------------------------------------------------------------------------
    async def queue_ids(self, conn: asyncpg.Connection, prefixes: list[str]) -> dict[str, uuid.UUID]:
        """The active queues of ``prefixes``, by prefix."""
        rows = await conn.fetch("SELECT id, prefix FROM queues WHERE prefix = ANY($1) AND active", prefixes)
        return {r["prefix"]: r["id"] for r in rows}

    async def change_window(self, conn: asyncpg.Connection, no: int, *, name: str | None,
                            queue_ids: list[uuid.UUID] | None) -> asyncpg.Record:
        """Rename a window or change the queues it serves (None: keep), and tell the board."""
        row = await conn.fetchrow(
            """UPDATE windows SET name = coalesce($2, name), queue_ids = coalesce($3, queue_ids) WHERE no = $1
               RETURNING no, name, state""", no, name, queue_ids)
        await conn.execute(f"SELECT pg_notify('{BOARD_CHANNEL}', '')")
        assert row is not None
        return row

    # --- the site file (seed.py) ----------------------------------------------------------------
    async def put_config(self, conn: asyncpg.Connection, office_hours: dict[str, Any], policy: dict[str, int]
                         ) -> None:
        await conn.execute(
            """INSERT INTO site_config (key, value) VALUES ('office_hours', $1), ('policy', $2)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            office_hours, policy,
        )

    async def put_queues(self, conn: asyncpg.Connection, rows: list[tuple[uuid.UUID, str, str, str | None, int]]
                         ) -> None:
        """(id, prefix, name, hall, default_service_s) rows; a queue named again is active again."""
        await conn.executemany(
            """INSERT INTO queues (id, prefix, name, hall, default_service_s) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (prefix) DO UPDATE SET name = excluded.name, hall = excluded.hall,
                   default_service_s = excluded.default_service_s, active = true""", rows)

    async def put_routes(self, conn: asyncpg.Connection, rows: list[tuple[str, str, uuid.UUID, int | None]]) -> None:
        """(matter_id, name, queue_id, service_s) rows."""
        await conn.executemany(
            """INSERT INTO matter_routes (matter_id, name, queue_id, service_s) VALUES ($1, $2, $3, $4)
               ON CONFLICT (matter_id) DO UPDATE SET name = excluded.name, queue_id = excluded.queue_id,
                   service_s = excluded.service_s""", rows)

    async def put_windows(self, conn: asyncpg.Connection, rows: list[tuple[int, str, str | None, list[uuid.UUID]]]
                          ) -> None:
        """(no, name, hall, queue_ids) rows; a window's state and session are left as they are."""
        await conn.executemany(
            """INSERT INTO windows (no, name, hall, queue_ids) VALUES ($1, $2, $3, $4)
               ON CONFLICT (no) DO UPDATE SET name = excluded.name, hall = excluded.hall,
                   queue_ids = excluded.queue_ids""", rows)

    async def staff_ids(self, conn: asyncpg.Connection) -> set[str]:
        return {r["id"] for r in await conn.fetch("SELECT id FROM staff")}

    async def update_seeded_staff(self, conn: asyncpg.Connection, staff_id: str, name: str, manager: bool,
                                  backoffice: str | None) -> str | None:
        """The site file's name, manager flag and department of a known staff member (never the password); the
        department before."""
        return await conn.fetchval(
            """WITH before AS (SELECT backoffice FROM staff WHERE id = $1 FOR UPDATE)
               UPDATE staff SET name = $2, is_manager = $3, backoffice = $4 FROM before WHERE id = $1
               RETURNING before.backoffice""", staff_id, name, manager, backoffice)

    async def replace_staff_roles(self, conn: asyncpg.Connection, staff_id: str, roles: list[tuple[int, str]]
                                  ) -> None:
        """The staff member's AB roles become ``roles`` ((window_no, 'A' or 'B'))."""
        await conn.execute("DELETE FROM window_roles WHERE staff_id = $1", staff_id)
        await conn.executemany("INSERT INTO window_roles (window_no, staff_id, role) VALUES ($1, $2, $3)",
                               [(no, staff_id, role) for no, role in roles])
