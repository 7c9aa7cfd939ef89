"""SQL of the ratings service, one class. Every method runs on the connection it is given, so the use case
decides the transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

RATING_COLUMNS = ("id", "kind", "invitation_id", "voids", "subject", "subject_id", "window_no", "staff_id",
                  "matter_id", "scale", "level", "indicators", "reasons", "text", "channel", "void_reason",
                  "approved_by", "created_at", "chain_seq", "prev_hash", "chain_hash", "text_sealed")
# a complaint with what the manager reads of its rating (the sealed text is opened by the use case, for managers)
COMPLAINT_SELECT = """SELECT c.*, r.scale, r.subject, r.matter_id, r.channel, r.indicators, r.reasons, r.text,
                             r.text_sealed, r.created_at AS rated_at
                      FROM complaints c JOIN ratings r ON r.id = c.rating_id"""


class RatingsStore:
    # --- what the other services told us -----------------------------------------------------------
    async def remember_case(self, conn: asyncpg.Connection, case_id: uuid.UUID, matter_id: str,
                            window_no: int | None, staff_id: str, kind: str | None, at: datetime) -> None:
        await conn.execute(
            """INSERT INTO case_facts (case_id, matter_id, window_no, staff_id, kind, accepted_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO NOTHING""",
            case_id, matter_id, window_no, staff_id, kind, at)

    async def case_facts(self, conn: asyncpg.Connection, case_id: uuid.UUID) -> asyncpg.Record | None:
        return await conn.fetchrow("SELECT * FROM case_facts WHERE case_id = $1", case_id)

    # --- invitations ---------------------------------------------------------------------------------
    async def open_invitation(self, conn: asyncpg.Connection, inv: dict[str, Any]) -> bool:
        """True when new; False when the subject already has its invitation (一次一评 / 一事一评)."""
        status = await conn.execute(
            """INSERT INTO invitations (id, subject, subject_id, window_no, staff_id, matter_id, scale, channel,
                   completed_at, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (subject, subject_id) DO NOTHING""",
            inv["id"], inv["subject"], inv["subject_id"], inv["window_no"], inv["staff_id"], inv["matter_id"],
            inv["scale"], inv["channel"], inv["completed_at"], inv["expires_at"])
        return bool(status.endswith(" 1"))

    async def invitation(self, conn: asyncpg.Connection, invitation_id: uuid.UUID) -> asyncpg.Record | None:
        """The invitation with ``rated`` and ``rated_kind`` (submitted/defaulted, None when open)."""
        return await conn.fetchrow(
            """SELECT i.*, k.kind IS NOT NULL AS rated, k.kind AS rated_kind
               FROM invitations i
               LEFT JOIN LATERAL (SELECT r.kind FROM ratings r WHERE r.invitation_id = i.id
                                  AND r.kind IN ('submitted', 'defaulted') LIMIT 1) k ON true
               WHERE i.id = $1""", invitation_id)

    async def latest_window_invitation(self, conn: asyncpg.Connection, window_no: int,
                                       since: datetime) -> asyncpg.Record | None:
        """The window's latest completed ticket since ``since`` (rated or not)."""
        return await conn.fetchrow(
            """SELECT i.*, EXISTS (SELECT 1 FROM ratings r WHERE r.invitation_id = i.id
                                   AND r.kind IN ('submitted', 'defaulted')) AS rated
               FROM invitations i
               WHERE i.subject = 'ticket' AND i.window_no = $1 AND i.completed_at >= $2
               ORDER BY i.completed_at DESC, i.id DESC LIMIT 1""", window_no, since)

    async def expired_unrated(self, conn: asyncpg.Connection, now: datetime, limit: int, *, lock: bool = True
                              ) -> list[asyncpg.Record]:
        """Invitations past their time with no rating, locked (others checking at once skip them)."""
        return await conn.fetch(
            """SELECT i.* FROM invitations i
               WHERE i.expires_at <= $1 AND NOT EXISTS (
                   SELECT 1 FROM ratings r WHERE r.invitation_id = i.id AND r.kind IN ('submitted', 'defaulted'))
               ORDER BY i.expires_at LIMIT $2""" + (" FOR UPDATE OF i SKIP LOCKED" if lock else ""), now, limit)

    # --- the chain -----------------------------------------------------------------------------------
    async def lock_head(self, conn: asyncpg.Connection) -> tuple[int, str]:
        row = await conn.fetchrow("SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE")
        return int(row["seq"]), str(row["hash"])

    async def head(self, conn: asyncpg.Connection) -> tuple[int, str]:
        row = await conn.fetchrow("SELECT seq, hash FROM chain_head WHERE id = 1")
        return int(row["seq"]), str(row["hash"])

    async def append(self, conn: asyncpg.Connection, entry: dict[str, Any]) -> asyncpg.Record:
        """Insert one chain entry and move the head to it (the caller holds the head's lock)."""
        cols = ", ".join(RATING_COLUMNS)
        params = ", ".join(f"${i + 1}" for i in range(len(RATING_COLUMNS)))
        row = await conn.fetchrow(f"INSERT INTO ratings ({cols}) VALUES ({params}) RETURNING *",
                                  *[entry.get(c) for c in RATING_COLUMNS])
        await conn.execute("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1",
                           entry["chain_seq"], entry["chain_hash"])
        return row

    async def chain(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM ratings ORDER BY chain_seq")

    async def rating(self, conn: asyncpg.Connection, rating_id: uuid.UUID) -> asyncpg.Record | None:
        return await conn.fetchrow("SELECT * FROM ratings WHERE id = $1", rating_id)

    # --- complaints (差评整改) -------------------------------------------------------------------------
    async def insert_complaint(self, conn: asyncpg.Connection, c: dict[str, Any]) -> asyncpg.Record:
        return await conn.fetchrow(
            """INSERT INTO complaints (id, rating_id, window_no, staff_id, level, status, due_at, opened_at,
                   updated_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $7) RETURNING *""",
            c["id"], c["rating_id"], c["window_no"], c["staff_id"], c["level"], c["due_at"], c["opened_at"])

    async def complaint(self, conn: asyncpg.Connection, complaint_id: uuid.UUID, *, lock: bool = False
                        ) -> asyncpg.Record | None:
        """The complaint with its rating's fields (``lock``: the complaint row, for a step)."""
        return await conn.fetchrow(COMPLAINT_SELECT + " WHERE c.id = $1" + (" FOR UPDATE OF c" if lock else ""),
                                   complaint_id)

    async def complaints(self, conn: asyncpg.Connection, status: str | None, limit: int) -> list[asyncpg.Record]:
        """Complaints in ``status`` (``active``: not closed; None: all), the ones still to handle first, then by
        due date."""
        return await conn.fetch(
            COMPLAINT_SELECT + """ WHERE ($1::text IS NULL OR ($1 = 'active' AND c.status <> 'closed')
                                         OR c.status = $1)
                                   ORDER BY c.status = 'closed', c.due_at, c.id LIMIT $2""", status, limit)

    async def move_complaint(self, conn: asyncpg.Connection, complaint_id: uuid.UUID, *, status: str,
                             outcome: str | None, rectify_by: Any, appealed_by: str | None,
                             appealed_from: str | None, at: datetime) -> None:
        await conn.execute(
            """UPDATE complaints SET status = $2, outcome = coalesce($3, outcome), rectify_by = $4,
                   appealed_by = $5, appealed_from = $6, updated_at = $7
               WHERE id = $1""", complaint_id, status, outcome, rectify_by, appealed_by, appealed_from, at)

    async def log_complaint(self, conn: asyncpg.Connection, complaint_id: uuid.UUID, action: str, staff_id: str,
                            note: str | None, at: datetime) -> None:
        await conn.execute(
            "INSERT INTO complaint_log (complaint_id, action, staff_id, note, at) VALUES ($1, $2, $3, $4, $5)",
            complaint_id, action, staff_id, note, at)

    async def overdue_unflagged(self, conn: asyncpg.Connection, now: datetime, limit: int
                                ) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT c.* FROM complaints c
               WHERE c.status <> 'closed' AND c.due_at < $1
                 AND NOT EXISTS (SELECT 1 FROM complaint_overdue o WHERE o.complaint_id = c.id)
               ORDER BY c.due_at LIMIT $2""", now, limit)

    async def flag_overdue(self, conn: asyncpg.Connection, complaint_id: uuid.UUID, at: datetime) -> bool:
        """The complaint's one overdue mark; False when it already has one (another checker's)."""
        return await conn.fetchval(
            """INSERT INTO complaint_overdue (complaint_id, flagged_at) VALUES ($1, $2)
               ON CONFLICT (complaint_id) DO NOTHING RETURNING true""", complaint_id, at) is not None

    async def complaint_logs(self, conn: asyncpg.Connection, complaint_ids: list[uuid.UUID]
                             ) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM complaint_log WHERE complaint_id = ANY($1::uuid[]) ORDER BY id",
                                complaint_ids)

    # --- statistics ------------------------------------------------------------------------------------
    async def invitation_counts(self, conn: asyncpg.Connection, key_sql: str, tz: str, start: Any, end: Any
                                ) -> list[asyncpg.Record]:
        """Invitations per group, of the services completed on days ``start``..``end`` (site time)."""
        return await conn.fetch(
            f"""SELECT {key_sql} AS key, count(*) AS n FROM invitations i
                WHERE (i.completed_at AT TIME ZONE $1)::date BETWEEN $2 AND $3
                GROUP BY 1 ORDER BY 1""",  # key_sql is one of three constants, stats.GROUPS
            tz, start, end)

    async def rating_counts(self, conn: asyncpg.Connection, key_sql: str, tz: str, start: Any, end: Any
                            ) -> list[asyncpg.Record]:
        """Ratings of those invitations per group, standing (``submitted``/``defaulted``) or ``voided``, scale and
        level: what ``domain.tally`` counts."""
        return await conn.fetch(
            f"""SELECT {key_sql} AS key, CASE WHEN v.id IS NULL THEN r.kind ELSE 'voided' END AS state,
                       r.scale, r.level, count(*) AS n
                FROM invitations i
                JOIN ratings r ON r.invitation_id = i.id AND r.kind IN ('submitted', 'defaulted')
                LEFT JOIN ratings v ON v.voids = r.id AND v.kind = 'voided'
                WHERE (i.completed_at AT TIME ZONE $1)::date BETWEEN $2 AND $3
                GROUP BY 1, 2, 3, 4""",  # key_sql is one of three constants, stats.GROUPS
            tz, start, end)
