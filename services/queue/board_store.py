"""SQL of what the hall display (综合屏) and the periodic snapshot read, of the closing and end-of-day sweeps, and of
the sign-out warning's count, one class."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import asyncpg

from services.queue.domain import TRANSITIONS, Status, TicketAction
from services.queue.store import AT_WINDOW, DONE, OPEN, TICKET_COLUMNS, WAITING, sql_list

_CLOSE_DAY = TRANSITIONS[TicketAction.CLOSE_DAY]
_CLOSE_UNSERVED = TRANSITIONS[TicketAction.CLOSE_UNSERVED]


class BoardStore:
    async def queues(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        """Active queues with their waiting count, oldest waiting ticket and open windows."""
        return await conn.fetch(
            f"""SELECT q.id, q.prefix, q.name, q.hall, q.default_service_s,
                   (SELECT count(*) FROM tickets t WHERE t.queue_id = q.id AND t.status IN {WAITING}) AS waiting,
                   (SELECT min(t.issued_at) FROM tickets t
                     WHERE t.queue_id = q.id AND t.status IN {WAITING}) AS oldest_issued_at,
                   (SELECT count(*) FROM windows w WHERE w.state = {OPEN} AND q.id = ANY(w.queue_ids))
                     AS windows_open
                FROM queues q WHERE q.active ORDER BY q.prefix"""
        )

    async def windows(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        """Every window with its clerk's name and the prefixes of its queues in preference order."""
        return await conn.fetch(
            """SELECT w.*, s.name AS staff_name,
                      (SELECT array_agg(q.prefix ORDER BY array_position(w.queue_ids, q.id)) FROM queues q
                        WHERE q.id = ANY(w.queue_ids)) AS prefixes
               FROM windows w LEFT JOIN staff s ON s.id = w.staff_id ORDER BY w.no"""
        )

    async def at_windows(self, conn: asyncpg.Connection) -> dict[int, asyncpg.Record]:
        """The ticket called or served at each window, by window number."""
        rows = await conn.fetch(
            f"""SELECT t.number, t.window_no, t.status, t.call_no, t.called_at, t.id FROM tickets t
                WHERE t.status IN {AT_WINDOW}""")
        return {r["window_no"]: r for r in rows}

    async def last_done(self, conn: asyncpg.Connection, day: date) -> dict[int, asyncpg.Record]:
        """The service each window finished last on ``day``, by window number."""
        rows = await conn.fetch(
            f"""SELECT DISTINCT ON (t.window_no) t.window_no, t.id, t.number, t.finished_at FROM tickets t
                WHERE t.service_day = $1 AND t.status = {DONE} AND t.window_no IS NOT NULL
                ORDER BY t.window_no, t.finished_at DESC""", day)
        return {r["window_no"]: r for r in rows}

    async def recent_calls(self, conn: asyncpg.Connection, day: date, limit: int = 10) -> list[asyncpg.Record]:
        return await conn.fetch(
            f"""SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.service_day = $1 AND t.called_at IS NOT NULL
                ORDER BY t.called_at DESC LIMIT $2""", day, limit)

    async def today_counts(self, conn: asyncpg.Connection, day: date) -> dict[Status, int]:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM tickets WHERE service_day = $1 GROUP BY status", day
        )
        return {Status(r["status"]): int(r["n"]) for r in rows}

    async def close_past_days(self, conn: asyncpg.Connection, day: date, now: datetime) -> list[uuid.UUID]:
        """Tickets of days before ``day`` still in line or at a window are cancelled (``TicketAction.CLOSE_DAY``)."""
        rows = await conn.fetch(
            f"""UPDATE tickets SET status = '{_CLOSE_DAY.target.value}', finished_at = $2
                WHERE service_day < $1 AND status IN {sql_list(_CLOSE_DAY.sources)}
                RETURNING id""", day, now)
        return [r["id"] for r in rows]

    async def close_unserved(self, conn: asyncpg.Connection, day: date, closing: datetime, now: datetime
                             ) -> list[uuid.UUID]:
        """Tickets of ``day`` issued before ``closing`` and still in line are cancelled (``CLOSE_UNSERVED``)."""
        rows = await conn.fetch(
            f"""UPDATE tickets SET status = '{_CLOSE_UNSERVED.target.value}', finished_at = $3
                WHERE service_day = $1 AND issued_at < $2 AND status IN {sql_list(_CLOSE_UNSERVED.sources)}
                RETURNING id""", day, closing, now)
        return [r["id"] for r in rows]

    async def waiting_for_window(self, conn: asyncpg.Connection, window_no: int, day: date, before: datetime
                                 ) -> int:
        """Tickets of ``day`` issued before ``before`` still in line for the queues window ``window_no`` serves
        (or sent to it), the sign-out warning's count."""
        return int(await conn.fetchval(
            f"""SELECT count(*) FROM tickets t JOIN windows w ON w.no = $1
                WHERE t.service_day = $2 AND t.issued_at < $3 AND t.status IN {WAITING}
                  AND (t.target_window_no = w.no OR (t.target_window_no IS NULL AND t.queue_id = ANY(w.queue_ids)))""",
            window_no, day, before))
