"""SQL of the notify service, one class. Every method runs on the connection it is given, so the use case
decides the transaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

MESSAGE_COLUMNS = frozenset({"status", "attempts", "next_attempt_at", "deferred_reason", "error_code", "provider",
                             "provider_msg_id", "sent_at", "finished_at"})
SELECT_LIST = """id, template, text, parts, status, phone_masked, ref_type, ref_id, attempts, error_code,
                 created_at, sent_at, next_attempt_at, delivery, delivery_code, delivered_at"""


class NotifyStore:
    # --- contacts -----------------------------------------------------------------------------------
    async def lock_ref(self, conn: asyncpg.Connection, ref_type: str, ref_id: str) -> None:
        """Serialize, until the transaction ends, what one ticket or case does with its contacts: a phone
        registered while an event asks for its SMS either finds the message queued or the SMS held for it."""
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"contact:{ref_type}:{ref_id}")

    async def upsert_contact(self, conn: asyncpg.Connection, c: dict[str, Any]) -> asyncpg.Record:
        """A phone registered again for the same ref keeps its row (and id); its retention restarts."""
        return await conn.fetchrow(
            """INSERT INTO contacts (id, ref_type, ref_id, phone, phone_hash, phone_masked, created_at, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (ref_type, ref_id, phone_hash) DO UPDATE SET expires_at = excluded.expires_at
               RETURNING id, phone_masked""",
            c["id"], c["ref_type"], c["ref_id"], c["phone"], c["phone_hash"], c["phone_masked"], c["created_at"],
            c["expires_at"])

    async def contacts_for(self, conn: asyncpg.Connection, ref_type: str, ref_id: str,
                           at: datetime) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT id, phone, phone_hash, phone_masked FROM contacts
               WHERE ref_type = $1 AND ref_id = $2 AND expires_at > $3 ORDER BY created_at""",
            ref_type, ref_id, at)

    # --- messages -----------------------------------------------------------------------------------
    async def insert_message(self, conn: asyncpg.Connection, m: dict[str, Any]) -> bool:
        """False when this (event, template, phone) already has its message."""
        status = await conn.execute(
            """INSERT INTO messages (id, dedupe_key, event_id, template, ref_type, ref_id, phone, phone_hash,
                   phone_masked, text, parts, status, next_attempt_at, created_at, variables)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12, $12, $13::jsonb)
               ON CONFLICT (dedupe_key) DO NOTHING""",
            m["id"], m["dedupe_key"], m["event_id"], m["template"], m["ref_type"], m["ref_id"], m["phone"],
            m["phone_hash"], m["phone_masked"], m["text"], m["parts"], m["created_at"],
            dict(m.get("variables") or {}))
        return bool(status.endswith(" 1"))

    async def messages_for(self, conn: asyncpg.Connection, ref_id: str | None, limit: int) -> list[asyncpg.Record]:
        """A ref's messages oldest first; without a ref the latest ``limit`` of the site (still oldest first)."""
        if ref_id is not None:
            return await conn.fetch(
                f"SELECT {SELECT_LIST} FROM messages WHERE ref_id = $1 ORDER BY created_at, id LIMIT $2",
                ref_id, limit)
        rows = await conn.fetch(f"SELECT {SELECT_LIST} FROM messages ORDER BY created_at DESC, id DESC LIMIT $1",
                                limit)
        return list(reversed(rows))

    async def record_receipt(self, conn: asyncpg.Connection, provider: str, provider_msg_id: str, delivered: bool,
                             code: str | None, at: datetime) -> bool:
        """Mark a sent message delivered/undelivered by the provider's id; False when no sent message has it.
        A later receipt for the same message replaces an earlier one (a provider may report twice)."""
        status = await conn.execute(
            """UPDATE messages SET delivery = $3, delivery_code = $4, delivered_at = $5
               WHERE provider = $1 AND provider_msg_id = $2 AND status = 'sent'""",
            provider, provider_msg_id, "delivered" if delivered else "undelivered", code, at)
        return not status.endswith(" 0")

    # --- turn approaching ---------------------------------------------------------------------------
    async def watch_ticket(self, conn: asyncpg.Connection, ticket_id: str, number: str | None,
                           issued_ahead: int | None, at: datetime) -> None:
        await conn.execute(
            """INSERT INTO ticket_watch (ticket_id, number, issued_ahead, created_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (ticket_id) DO UPDATE SET number = coalesce(ticket_watch.number, excluded.number),
                   issued_ahead = coalesce(ticket_watch.issued_ahead, excluded.issued_ahead)""",
            ticket_id, number, issued_ahead, at)

    async def tickets_to_watch(self, conn: asyncpg.Connection, at: datetime, limit: int = 200) -> list[asyncpg.Record]:
        """Tickets with a live contact whose turn-approaching SMS is not decided yet (with what was seen issued)."""
        return await conn.fetch(
            """SELECT c.ref_id AS ticket_id, min(w.issued_ahead) AS issued_ahead, min(w.number) AS number,
                      min(c.created_at) AS registered_at
               FROM contacts c LEFT JOIN ticket_watch w ON w.ticket_id = c.ref_id
               WHERE c.ref_type = 'ticket' AND c.expires_at > $1 AND w.decided IS NULL
               GROUP BY c.ref_id LIMIT $2""", at, limit)

    async def lock_watch(self, conn: asyncpg.Connection, ticket_id: str, at: datetime) -> asyncpg.Record | None:
        """The ticket's watch row, locked (created when the issued event has not been seen); None when decided."""
        await conn.execute("INSERT INTO ticket_watch (ticket_id, created_at) VALUES ($1, $2) "
                           "ON CONFLICT (ticket_id) DO NOTHING", ticket_id, at)
        row = await conn.fetchrow("SELECT * FROM ticket_watch WHERE ticket_id = $1 FOR UPDATE", ticket_id)
        return row if row is not None and row["decided"] is None else None

    async def decide_watch(self, conn: asyncpg.Connection, ticket_id: str, decided: str, at: datetime) -> None:
        await conn.execute("UPDATE ticket_watch SET decided = $2, decided_at = $3 WHERE ticket_id = $1",
                           ticket_id, decided, at)

    # --- pickup reminders ---------------------------------------------------------------------------
    async def pickup_ready(self, conn: asyncpg.Connection, case_id: str, ready_at: datetime, remind_at: datetime,
                           event_id: uuid.UUID, at: datetime) -> None:
        """First ready_for_pickup of a case (a picked_up seen before it wins: no reminder)."""
        await conn.execute(
            """INSERT INTO pickups (case_id, ready_at, remind_at, state, event_id, updated_at)
               VALUES ($1, $2, $3, 'waiting', $4, $5) ON CONFLICT (case_id) DO NOTHING""",
            case_id, ready_at, remind_at, event_id, at)

    async def picked_up(self, conn: asyncpg.Connection, case_id: str, event_id: uuid.UUID, at: datetime) -> None:
        await conn.execute(
            """INSERT INTO pickups (case_id, ready_at, remind_at, state, event_id, updated_at)
               VALUES ($1, $2, $2, 'picked_up', $3, $2)
               ON CONFLICT (case_id) DO UPDATE SET state = 'picked_up', updated_at = $2
               WHERE pickups.state = 'waiting'""", case_id, at, event_id)

    async def due_pickups(self, conn: asyncpg.Connection, at: datetime, limit: int = 100) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT * FROM pickups WHERE state = 'waiting' AND remind_at <= $1
               ORDER BY remind_at LIMIT $2 FOR UPDATE SKIP LOCKED""", at, limit)

    async def pickup_reminded(self, conn: asyncpg.Connection, case_id: str, at: datetime) -> None:
        await conn.execute("UPDATE pickups SET state = 'reminded', updated_at = $2 WHERE case_id = $1", case_id, at)

    async def claim_due(self, conn: asyncpg.Connection, at: datetime) -> asyncpg.Record | None:
        """The next pending message that is due, locked for this transaction (others skip it)."""
        return await conn.fetchrow(
            """SELECT * FROM messages WHERE status = 'pending' AND next_attempt_at <= $1
               ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED""", at)

    async def phone_history(self, conn: asyncpg.Connection, phone_hash: bytes, template: str,
                            at: datetime) -> tuple[int, datetime | None]:
        """(messages of ``template`` sent to the phone in the 24 h before ``at``, the phone's last send)."""
        row = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE template = $2 AND sent_at > $3) AS same, max(sent_at) AS last
               FROM messages WHERE phone_hash = $1 AND status = 'sent'""",
            phone_hash, template, at - timedelta(hours=24))
        return int(row["same"]), row["last"]

    async def update_message(self, conn: asyncpg.Connection, message_id: uuid.UUID, **fields: Any) -> None:
        bad = set(fields) - MESSAGE_COLUMNS
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        names = list(fields)
        sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
        await conn.execute(f"UPDATE messages SET {sets} WHERE id = $1", message_id, *[fields[n] for n in names])

    # --- retention ----------------------------------------------------------------------------------
    async def hold_unclaimed(self, conn: asyncpg.Connection, ref_type: str, ref_id: str, template: str,
                             event_id: uuid.UUID, variables: dict[str, Any], at: datetime) -> None:
        await conn.execute(
            """INSERT INTO unclaimed (ref_type, ref_id, template, event_id, variables, created_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
            ref_type, ref_id, template, event_id, variables, at)  # jsonb: the pool's codec encodes the dict

    async def claim_unclaimed(self, conn: asyncpg.Connection, ref_type: str, ref_id: str,
                              since: datetime) -> list[asyncpg.Record]:
        return await conn.fetch(
            """DELETE FROM unclaimed WHERE ref_type = $1 AND ref_id = $2 AND created_at >= $3
               RETURNING template, event_id, variables""", ref_type, ref_id, since)

    async def forget_expired(self, conn: asyncpg.Connection, at: datetime, retention: timedelta) -> tuple[int, int]:
        """Delete expired contacts and drop the sealed phone of finished messages older than the retention."""
        contacts = await conn.execute("DELETE FROM contacts WHERE expires_at <= $1", at)
        await conn.execute("DELETE FROM unclaimed WHERE created_at <= $1", at - timedelta(days=1))
        await conn.execute("DELETE FROM ticket_watch WHERE created_at <= $1", at - retention)
        await conn.execute("DELETE FROM pickups WHERE state <> 'waiting' AND updated_at <= $1", at - retention)
        messages = await conn.execute(
            "UPDATE messages SET phone = NULL WHERE phone IS NOT NULL AND status <> 'pending' AND created_at <= $1",
            at - retention)
        return int(contacts.split()[-1]), int(messages.split()[-1])
