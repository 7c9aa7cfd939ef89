"""SQL of the queue's tickets and windows, one class. Every method runs on the connection it is given, so the
use case decides the transaction. State names come from ``domain`` (``sql_list``), never typed here.

The site's configuration (staff, roles, manager sessions, routes, the site file) is ``site_store.py``; what the
hall display and the snapshot read is ``board_store.py``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg

from services.queue.calling_order import priority_bonus_s
from services.queue.domain import (
    AT_WINDOW_STATES,
    TRANSITIONS,
    WAITING_STATES,
    Candidate,
    Policy,
    Priority,
    Status,
    TicketAction,
    WindowState,
)
from services.queue.hours import OfficeHours, office_hours_from_json
from shared.outbox import NOTIFY_CHANNEL, outbox_args, outbox_cte

BOARD_CHANNEL = "hallnet_queue_board"


def sql_list(values: Iterable[StrEnum]) -> str:
    """``('waiting', 'transferred')``: domain constants as a SQL list, in their order of definition. A literal list
    (not a parameter) lets the planner use the partial indexes on ``status IN ('waiting', 'transferred')``."""
    ordered = sorted(values, key=lambda v: list(type(v).__members__).index(v.name))
    return "(" + ", ".join(f"'{v.value}'" for v in ordered) + ")"


WAITING = sql_list(WAITING_STATES)
AT_WINDOW = sql_list(AT_WINDOW_STATES)
OPEN = f"'{WindowState.OPEN.value}'"
DONE = f"'{Status.DONE.value}'"
NO_SHOW = f"'{Status.NO_SHOW.value}'"
_CALLED = f"'{TRANSITIONS[TicketAction.CALL].target.value}'"
_NORMAL, _GREEN, _APPOINTMENT = (f"'{p.value}'" for p in (Priority.NORMAL, Priority.GREEN, Priority.APPOINTMENT))

# Windows calling together (calling.CallBatcher), one round trip before the decision: the windows, locked in
# number order, with session and state; the ticket at each window if any; and, for the windows that may
# call (open, the requesting session, nobody at the window), the first ``$5`` waiting tickets of every
# calling group of their queues and the first of every group sent to each of them, all locked with SKIP
# LOCKED so that another process calling at the same instant never sees the same ticket. Within a group
# the calling order is sort_ts order (calling_order.choose_for_windows). Rows: kind 'w' per window, 'h' per ticket.
_GROUPS = "(VALUES ('normal'), ('green'), ('appt_due'), ('appt_later')) AS g(name)"
_IN_GROUP = f"""t.status IN {WAITING}
      AND t.priority = CASE g.name WHEN 'normal' THEN {_NORMAL} WHEN 'green' THEN {_GREEN} ELSE {_APPOINTMENT} END
      AND (g.name IN ('normal', 'green') OR coalesce(t.appointment_at <= $4, false) = (g.name = 'appt_due'))
    ORDER BY t.sort_ts, t.seq"""
_HEAD_COLUMNS = """t.id, t.queue_id, t.seq, t.sort_ts, t.priority, t.appointment_at, t.target_window_no, t.number,
    t.issued_at"""
_CALL_BATCH_SQL = f"""
WITH w AS (SELECT no, state, session_id, staff_id, queue_ids FROM windows WHERE no = ANY($1::int[])
           ORDER BY no FOR UPDATE),
cur AS (SELECT DISTINCT ON (t.window_no) t.window_no, t.number FROM tickets t
        WHERE t.window_no = ANY($1::int[]) AND t.status IN {AT_WINDOW}
        ORDER BY t.window_no, t.called_at DESC),
ok AS (SELECT w.no, w.queue_ids FROM w
       WHERE w.state = {OPEN} AND NOT EXISTS (SELECT 1 FROM cur WHERE cur.window_no = w.no)
         AND EXISTS (SELECT 1 FROM unnest($1::int[], $2::uuid[], $3::text[]) AS r(no, session_id, staff_id)
                     WHERE r.no = w.no AND r.session_id = w.session_id AND r.staff_id = w.staff_id)),
h AS (
    SELECT g.name AS grp, x.* FROM (SELECT DISTINCT unnest(queue_ids) AS id FROM ok) AS q CROSS JOIN {_GROUPS}
    CROSS JOIN LATERAL (
        SELECT {_HEAD_COLUMNS} FROM tickets t WHERE t.queue_id = q.id AND t.target_window_no IS NULL AND {_IN_GROUP}
        LIMIT $5 FOR UPDATE SKIP LOCKED) AS x
    UNION ALL
    SELECT g.name, x.* FROM ok CROSS JOIN {_GROUPS}
    CROSS JOIN LATERAL (
        SELECT {_HEAD_COLUMNS} FROM tickets t WHERE t.target_window_no = ok.no AND {_IN_GROUP}
        LIMIT 1 FOR UPDATE SKIP LOCKED) AS x
)
SELECT 'w' AS kind, w.no, w.state, w.session_id, w.staff_id, w.queue_ids, cur.number AS current_number,
       NULL AS grp, NULL::uuid AS id, NULL::uuid AS queue_id, NULL::int AS seq, NULL::timestamptz AS sort_ts,
       NULL AS priority, NULL::timestamptz AS appointment_at, NULL::int AS target_window_no, NULL AS number,
       NULL::timestamptz AS issued_at
FROM w LEFT JOIN cur ON cur.window_no = w.no
UNION ALL
SELECT 'h', NULL, NULL, NULL, NULL, NULL, NULL, h.grp, h.id, h.queue_id, h.seq, h.sort_ts, h.priority,
       h.appointment_at, h.target_window_no, h.number, h.issued_at
FROM h
"""

# the calling bonus of calling_order.priority_bonus_s, for ``ahead``: $3 green, $4 a due appointment (slot <= $5)
_BONUS = f"""CASE WHEN x.priority = {_GREEN} THEN $3
                  WHEN x.priority = {_APPOINTMENT} AND x.appointment_at <= $5 THEN $4 ELSE 0 END"""

TICKET_COLUMNS = """t.id, t.number, t.seq, t.queue_id, t.matter_id, t.priority, t.channel, t.status, t.issued_at,
    t.sort_ts, t.appointment_at, t.target_window_no, t.window_no, t.staff_id, t.call_no, t.first_called_at,
    t.called_at, t.started_at, t.finished_at, t.service_day"""


class QueueStore:
    # --- configuration ------------------------------------------------------------------------
    async def load_policy(self, conn: asyncpg.Connection) -> Policy:
        raw = await conn.fetchval("SELECT value FROM site_config WHERE key = 'policy'")
        return Policy(**raw) if raw else Policy()

    async def load_office_hours(self, conn: asyncpg.Connection) -> OfficeHours:
        raw = await conn.fetchval("SELECT value FROM site_config WHERE key = 'office_hours'")
        return office_hours_from_json(raw) if raw else OfficeHours()

    async def queue(self, conn: asyncpg.Connection, queue_id: uuid.UUID) -> asyncpg.Record | None:
        return await conn.fetchrow("SELECT * FROM queues WHERE id = $1 AND active", queue_id)

    async def route(self, conn: asyncpg.Connection, matter_id: str) -> asyncpg.Record | None:
        return await conn.fetchrow(
            "SELECT matter_id, name, queue_id, service_s FROM matter_routes WHERE matter_id = $1 AND enabled",
            matter_id,
        )

    # --- tickets ------------------------------------------------------------------------------
    async def next_seq(self, conn: asyncpg.Connection, queue_id: uuid.UUID, day: date) -> int:
        """Atomic per (queue, day): concurrent issuing never repeats a number."""
        return int(await conn.fetchval(
            """INSERT INTO ticket_counters (queue_id, service_day, last_seq) VALUES ($1, $2, 1)
               ON CONFLICT (queue_id, service_day) DO UPDATE SET last_seq = ticket_counters.last_seq + 1
               RETURNING last_seq""",
            queue_id, day,
        ))

    async def insert_ticket(self, conn: asyncpg.Connection, t: dict[str, Any]) -> asyncpg.Record:
        """A new ticket, waiting (its place in line: when it was issued)."""
        return await conn.fetchrow(
            f"""INSERT INTO tickets (id, service_day, queue_id, seq, number, matter_id, priority, channel, status,
                                    issued_at, sort_ts, appointment_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '{Status.WAITING.value}', $9, $9, $10) RETURNING *""",
            t["id"], t["service_day"], t["queue_id"], t["seq"], t["number"], t["matter_id"], t["priority"],
            t["channel"], t["issued_at"], t["appointment_at"],
        )

    async def ticket(self, conn: asyncpg.Connection, ticket_id: uuid.UUID, *, lock: bool = False
                     ) -> asyncpg.Record | None:
        sql = f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1" + (" FOR UPDATE" if lock else "")
        return await conn.fetchrow(sql, ticket_id)

    async def ahead(self, conn: asyncpg.Connection, t: asyncpg.Record, now: datetime, policy: Policy) -> int:
        """Waiting tickets of the same line that a window serving it first would call before ``t``."""
        due_limit = now + timedelta(seconds=policy.appointment_early_s)
        if t["target_window_no"] is not None:
            where = "x.target_window_no = $6"
            key = t["target_window_no"]
        else:
            where = "x.queue_id = $6 AND x.target_window_no IS NULL"
            key = t["queue_id"]
        c = candidate(t)
        effective = c.sort_ts - timedelta(seconds=priority_bonus_s(c, now, policy))
        # ties on the effective time fall back to the place in line, then the number (as choose_next does)
        return int(await conn.fetchval(
            f"""WITH me AS (SELECT $1::timestamptz AS eff, $2::uuid AS id, $7::timestamptz AS sort_ts, $8::int AS seq)
                SELECT count(*) FROM tickets x, me
                WHERE {where} AND x.status IN {WAITING} AND x.id <> me.id
                  AND (x.sort_ts - make_interval(secs => {_BONUS}), x.sort_ts, x.seq) < (me.eff, me.sort_ts, me.seq)""",
            effective, t["id"], policy.green_bonus_s, policy.appointment_bonus_s, due_limit, key, c.sort_ts, c.seq,
        ))

    async def windows_open_for(self, conn: asyncpg.Connection, queue_id: uuid.UUID) -> int:
        return int(await conn.fetchval(
            f"SELECT count(*) FROM windows WHERE state = {OPEN} AND $1 = ANY(queue_ids)", queue_id
        ))

    async def recent_service_s(self, conn: asyncpg.Connection, queue_id: uuid.UUID, limit: int = 20
                               ) -> list[float]:
        rows = await conn.fetch(
            f"""SELECT extract(epoch FROM finished_at - coalesce(started_at, called_at))::float8 AS s
               FROM tickets WHERE queue_id = $1 AND status = {DONE} AND finished_at > now() - interval '1 day'
               ORDER BY finished_at DESC LIMIT $2""",
            queue_id, limit,
        )
        return [r["s"] for r in rows if r["s"] is not None and r["s"] >= 0]

    async def call_batch_context(self, conn: asyncpg.Connection, requests: list[tuple[int, uuid.UUID, str]],
                                 now: datetime, policy: Policy) -> tuple[
            dict[int, asyncpg.Record], list[list[Candidate]], dict[uuid.UUID, asyncpg.Record]]:
        """For (window_no, session_id, staff_id) requests: the locked windows by number, the calling groups (each
        in calling order) and the head rows by ticket id. One round trip (``_CALL_BATCH_SQL``)."""
        due_limit = now + timedelta(seconds=policy.appointment_early_s)
        rows = await conn.fetch(_CALL_BATCH_SQL, [r[0] for r in requests], [r[1] for r in requests],
                                [r[2] for r in requests], due_limit, len(requests))
        windows = {r["no"]: r for r in rows if r["kind"] == "w"}
        heads = {r["id"]: r for r in rows if r["kind"] == "h"}
        lines: dict[tuple[Any, ...], list[Candidate]] = {}
        for r in heads.values():
            key = (r["target_window_no"], r["queue_id"] if r["target_window_no"] is None else None, r["grp"])
            lines.setdefault(key, []).append(candidate(r))
        return windows, [sorted(g, key=lambda c: (c.sort_ts, c.seq)) for g in lines.values()], heads

    async def mark_called(self, conn: asyncpg.Connection, calls: list[tuple[uuid.UUID, int, str]], *, now: datetime,
                          events: list[Any], board_payloads: list[str]) -> list[asyncpg.Record]:
        """First calls of waiting tickets ((ticket_id, window_no, staff_id)), their events in the outbox and a
        board ``call`` notice each, in one round trip."""
        return await conn.fetch(
            f"""WITH u AS (
                    UPDATE tickets t SET status = {_CALLED}, window_no = x.no, staff_id = x.staff_id, call_no = 1,
                                         called_at = $4, first_called_at = $4, target_window_no = NULL
                    FROM unnest($1::uuid[], $2::int[], $3::text[]) AS x(id, no, staff_id)
                    WHERE t.id = x.id RETURNING {TICKET_COLUMNS}),
                {outbox_cte(5)},
                board AS (SELECT count(pg_notify('{BOARD_CHANNEL}', p)) AS n FROM unnest($10::text[]) AS p)
                SELECT u.*, (SELECT count(*) FROM ins) AS events, (SELECT n FROM board) AS notices,
                       pg_notify('{NOTIFY_CHANNEL}', '') FROM u""",
            [c[0] for c in calls], [c[1] for c in calls], [c[2] for c in calls], now,
            *outbox_args(events), board_payloads)

    async def waiting_sort_ts(self, conn: asyncpg.Connection, queue_id: uuid.UUID, limit: int) -> list[datetime]:
        return [r["sort_ts"] for r in await conn.fetch(
            f"""SELECT sort_ts FROM tickets WHERE queue_id = $1 AND status IN {WAITING} AND target_window_no IS NULL
                ORDER BY sort_ts, seq LIMIT $2""", queue_id, limit)]

    async def update_ticket(self, conn: asyncpg.Connection, ticket_id: uuid.UUID, **fields: Any) -> asyncpg.Record:
        cols = list(fields)
        sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
        row = await conn.fetchrow(
            f"UPDATE tickets t SET {sets} WHERE t.id = $1 RETURNING {TICKET_COLUMNS}", ticket_id,
            *[fields[c] for c in cols],
        )
        assert row is not None
        return row

    async def back_in_line(self, conn: asyncpg.Connection, ticket_id: uuid.UUID, status: Status, *,
                           queue_id: uuid.UUID | None = None, target_window_no: int | None = None) -> asyncpg.Record:
        """A ticket leaves its window for the line again (transfer, forced sign-out), into ``queue_id`` (None: its
        own) or sent to ``target_window_no``. Its sort_ts, i.e. the citizen's place, is kept."""
        return await self.update_ticket(conn, ticket_id, status=status.value, window_no=None, staff_id=None,
                                        call_no=0, called_at=None, started_at=None,
                                        **({"queue_id": queue_id} if queue_id is not None else {}),
                                        target_window_no=target_window_no)

    async def current_at_window(self, conn: asyncpg.Connection, window_no: int) -> asyncpg.Record | None:
        return await conn.fetchrow(
            f"""SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.window_no = $1 AND t.status IN {AT_WINDOW}
                ORDER BY t.called_at DESC LIMIT 1""", window_no)

    # --- windows ------------------------------------------------------------------------------
    async def window(self, conn: asyncpg.Connection, no: int, *, lock: bool = False) -> asyncpg.Record | None:
        return await conn.fetchrow("SELECT * FROM windows WHERE no = $1" + (" FOR UPDATE" if lock else ""), no)

    async def window_of(self, conn: asyncpg.Connection, staff_id: str, *, besides: int = 0) -> int | None:
        """The window ``staff_id`` is signed in at (other than ``besides``), if any."""
        return await conn.fetchval("SELECT no FROM windows WHERE staff_id = $1 AND no <> $2", staff_id, besides)

    async def staff(self, conn: asyncpg.Connection, staff_id: str) -> asyncpg.Record | None:
        return await conn.fetchrow("SELECT * FROM staff WHERE id = $1 AND active", staff_id)

    async def role(self, conn: asyncpg.Connection, window_no: int, staff_id: str) -> str | None:
        return await conn.fetchval(
            "SELECT role FROM window_roles WHERE window_no = $1 AND staff_id = $2", window_no, staff_id
        )

    async def set_window(self, conn: asyncpg.Connection, no: int, *, state: WindowState, staff_id: str | None,
                         session_id: uuid.UUID | None, reason: str | None, now: datetime) -> asyncpg.Record:
        row = await conn.fetchrow(
            """UPDATE windows SET state = $2, staff_id = $3, session_id = $4, reason = $5, state_since = $6
               WHERE no = $1 RETURNING *""", no, state.value, staff_id, session_id, reason, now)
        assert row is not None
        return row

    async def note_left_waiting(self, conn: asyncpg.Connection, no: int, waiting: int, staff_id: str,
                                now: datetime) -> None:
        """Remember that the window's clerk signed out while ``waiting`` people still waited (0: nobody did)."""
        await conn.execute("UPDATE windows SET left_waiting = $2, left_by = $3, left_at = $4 WHERE no = $1",
                           no, waiting or None, staff_id if waiting else None, now if waiting else None)

    async def clerk_today(self, conn: asyncpg.Connection, day: date, staff_id: str) -> asyncpg.Record:
        """One clerk's tickets of a service day (the clerk who last handled each ticket)."""
        return await conn.fetchrow(
            f"""SELECT count(*) FILTER (WHERE first_called_at IS NOT NULL) AS called,
                      count(*) FILTER (WHERE status = {DONE}) AS served,
                      count(*) FILTER (WHERE status = {NO_SHOW}) AS no_shows,
                      avg(extract(epoch FROM first_called_at - issued_at))
                          FILTER (WHERE first_called_at IS NOT NULL)::float8 AS avg_wait_s,
                      avg(extract(epoch FROM finished_at - started_at))
                          FILTER (WHERE status = {DONE} AND started_at IS NOT NULL)::float8 AS avg_service_s
               FROM tickets WHERE service_day = $1 AND staff_id = $2""", day, staff_id)


def candidate(r: asyncpg.Record) -> Candidate:
    return Candidate(
        id=r["id"], queue_id=r["queue_id"], seq=r["seq"], sort_ts=r["sort_ts"],
        priority=Priority(r["priority"]), appointment_at=r["appointment_at"],
        target_window_no=r["target_window_no"],
    )
